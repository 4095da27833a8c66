//! The text of a held FETCH response, with holes where the proxy fills in values.
use super::items::Item;
use crate::error::{ProxyError, Side};

/// A value of the held response the proxy fills in.
#[derive(Debug)]
pub(super) enum Hole {
    /// The whole message; `ours`: asked for by the proxy only, so left out.
    Whole { ours: bool },
    /// Served from the safe version.
    Section(Item),
    /// A value the proxy cannot name: `NIL`.
    Nil,
    /// A header-only value as the server sent it (a quoted string, or a literal with its
    /// announce): passed, or `NIL` when the message turns out to be replaced.
    Header(Vec<u8>),
}

/// The response so far: its text with holes where values go.
pub(super) struct Held {
    pub(super) text: Vec<u8>,
    pub(super) holes: Vec<(usize, Hole)>,
    skip_space: bool,
    limit: usize,
    /// Bytes of header-only values held in holes, counted against `limit`.
    held_values: usize,
}

impl Held {
    /// An empty response of at most `limit` bytes around its values.
    pub(super) fn new(limit: usize) -> Held {
        Held {
            text: Vec::new(),
            holes: Vec::new(),
            skip_space: false,
            limit,
            held_values: 0,
        }
    }

    /// A response the proxy writes itself, with no holes.
    pub(super) fn own(text: Vec<u8>) -> Held {
        Held {
            text,
            holes: Vec::new(),
            skip_space: false,
            limit: usize::MAX,
            held_values: 0,
        }
    }

    pub(super) fn put(&mut self, b: &[u8]) -> Result<(), ProxyError> {
        let b = match std::mem::take(&mut self.skip_space) {
            true => b.strip_prefix(b" ").unwrap_or(b),
            false => b,
        };
        if self.text.len() + self.held_values + b.len() > self.limit {
            return Err(ProxyError::protocol(
                Side::Server,
                "a FETCH response is larger than imap.max_held_response_bytes around its content",
            ));
        }
        self.text.extend_from_slice(b);
        Ok(())
    }

    pub(super) fn hole(&mut self, h: Hole) {
        self.holes.push((self.text.len(), h));
    }

    /// Holds a header-only value (or the start of one: its literal announce).
    pub(super) fn header(&mut self, value: &[u8]) -> Result<(), ProxyError> {
        self.room(value.len())?;
        self.holes
            .push((self.text.len(), Hole::Header(value.to_vec())));
        Ok(())
    }

    /// More of the header-only value held last (its literal's bytes).
    pub(super) fn header_more(&mut self, b: &[u8]) -> Result<(), ProxyError> {
        self.room(b.len())?;
        if let Some((_, Hole::Header(v))) = self.holes.last_mut() {
            v.extend_from_slice(b);
        }
        Ok(())
    }

    fn room(&mut self, n: usize) -> Result<(), ProxyError> {
        self.held_values += n;
        if self.text.len() + self.held_values > self.limit {
            return Err(ProxyError::protocol(
                Side::Server,
                "a FETCH response is larger than imap.max_held_response_bytes around its content",
            ));
        }
        Ok(())
    }

    /// Whether header-only values wait for `settle_headers`.
    pub(super) fn has_headers(&self) -> bool {
        self.holes.iter().any(|(_, h)| matches!(h, Hole::Header(_)))
    }

    /// Puts the held header-only values in place (`pass`), or `NIL` for each.
    pub(super) fn settle_headers(&mut self, pass: bool) {
        if !self.has_headers() {
            return;
        }
        let (mut text, mut holes, mut at) = (Vec::new(), Vec::new(), 0);
        for (pos, h) in std::mem::take(&mut self.holes) {
            text.extend_from_slice(&self.text[at..pos]);
            at = pos;
            match h {
                Hole::Header(v) if pass => text.extend_from_slice(&v),
                Hole::Header(_) => holes.push((text.len(), Hole::Nil)),
                other => holes.push((text.len(), other)),
            }
        }
        text.extend_from_slice(&self.text[at..]);
        self.text = text;
        self.holes = holes;
        self.held_values = 0;
    }

    /// Removes the `BODY[] ` the proxy asked for, before its value.
    pub(super) fn drop_our_name(&mut self) {
        self.drop_name(b"BODY[] ");
    }

    /// Removes an item name (with its space) the proxy asked for, before its value.
    pub(super) fn drop_name(&mut self, name: &[u8]) {
        let (n, k) = (self.text.len(), name.len());
        if n >= k && self.text[n - k..].eq_ignore_ascii_case(name) {
            self.text.truncate(n - k);
            if self.text.last() == Some(&b' ') {
                self.text.pop();
            } else {
                self.skip_space = true;
            }
        }
    }
}
