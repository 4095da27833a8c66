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
}

/// The response so far: its text with holes where values go.
pub(super) struct Held {
    pub(super) text: Vec<u8>,
    pub(super) holes: Vec<(usize, Hole)>,
    skip_space: bool,
    limit: usize,
}

impl Held {
    /// An empty response of at most `limit` bytes around its values.
    pub(super) fn new(limit: usize) -> Held {
        Held {
            text: Vec::new(),
            holes: Vec::new(),
            skip_space: false,
            limit,
        }
    }

    /// A response the proxy writes itself, with no holes.
    pub(super) fn own(text: Vec<u8>) -> Held {
        Held {
            text,
            holes: Vec::new(),
            skip_space: false,
            limit: usize::MAX,
        }
    }

    pub(super) fn put(&mut self, b: &[u8]) -> Result<(), ProxyError> {
        let b = match std::mem::take(&mut self.skip_space) {
            true => b.strip_prefix(b" ").unwrap_or(b),
            false => b,
        };
        if self.text.len() + b.len() > self.limit {
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
