//! Serving a held FETCH response: its text as the server sent it, with the holes filled
//! from the safe version of the message (the whole message, sections and ranges), and
//! the items the proxy served itself added before its closing parenthesis.
use super::driver::Imap;
use super::held::{Held, Hole};
use super::items::Item;
use super::plan::{Plan, response_name};
use super::safe::Safe;
use super::section;
use crate::error::{ProxyError, Side};
use crate::message::spool::Spool;
use crate::session::Conn;
use crate::session::deliver::CHUNK;

impl Imap {
    /// Sends the held response with its holes filled from the safe version.
    pub(super) async fn render(
        &mut self,
        held: &Held,
        safe: Option<(&mut Spool, &mut Safe)>,
        plan: &Plan,
    ) -> Result<(), ProxyError> {
        let max_parts = self.core.ctx.app.cfg.scan.builtin.max_parts;
        let mut w = Writer {
            conn: &mut self.core.client,
            out: Vec::with_capacity(held.text.len() + 256),
        };
        let (orig_view, tagged_view);
        let (whole, base): ([&[u8]; 2], Option<&[u8]>) = match safe {
            None => ([&[], &[]], None),
            Some((spool, Safe::Original { head, body_offset })) => {
                orig_view = spool.to_bytes().map_err(ProxyError::io(Side::Local))?;
                let v: &[u8] = &orig_view;
                let from = usize::try_from(*body_offset)
                    .unwrap_or(usize::MAX)
                    .min(v.len());
                ([head.as_slice(), &v[from..]], Some(v))
            }
            // The tagged version is served whole; its sections and ranges come from the
            // original bytes, as the server counts them: a client that reads a message in
            // ranges up to the RFC822.SIZE it was told would otherwise lose the tail the
            // added headers pushed past that size.
            Some((spool, Safe::Tagged(s))) => {
                let wants_whole = held
                    .holes
                    .iter()
                    .any(|(_, h)| matches!(h, Hole::Whole { ours: false }));
                tagged_view = match wants_whole {
                    true => Some(s.to_bytes().map_err(ProxyError::io(Side::Local))?),
                    false => None,
                };
                orig_view = spool.to_bytes().map_err(ProxyError::io(Side::Local))?;
                let t: &[u8] = tagged_view.as_deref().unwrap_or_default();
                ([&[], t], Some(&orig_view[..]))
            }
            Some((_, Safe::Notice(n))) => ([&[], n.as_slice()], Some(n.as_slice())),
            Some((_, Safe::Refused(_))) => return Ok(()),
        };
        let text = &held.text;
        let mut at = 0;
        for (pos, hole) in &held.holes {
            w.put(&text[at..*pos]).await?;
            at = *pos;
            match (hole, base) {
                (Hole::Whole { ours: true }, _) => {}
                (Hole::Whole { ours: false }, Some(_)) => w.literal(&whole).await?,
                (Hole::Section(item), Some(b)) => w.section(b, item, max_parts).await?,
                _ => w.put(b"NIL").await?,
            }
        }
        let close = text.iter().rposition(|&b| b == b')').filter(|&c| c >= at);
        match (close, base) {
            (Some(c), Some(b)) if !plan.served.is_empty() => {
                w.put(&text[at..c]).await?;
                for item in &plan.served {
                    w.put(format!(" {} ", response_name(item)).as_bytes())
                        .await?;
                    w.section(b, item, max_parts).await?;
                }
                w.put(&text[c..]).await?;
            }
            _ => w.put(&text[at..]).await?,
        }
        w.flush().await
    }
}

/// Writes a response in pieces of about `CHUNK`, large values straight from where they are.
struct Writer<'c> {
    conn: &'c mut Conn,
    out: Vec<u8>,
}

impl Writer<'_> {
    async fn put(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        if data.len() >= CHUNK {
            self.flush().await?;
            return self.conn.send(data).await;
        }
        self.out.extend_from_slice(data);
        if self.out.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn literal(&mut self, pieces: &[&[u8]]) -> Result<(), ProxyError> {
        let n: usize = pieces.iter().map(|p| p.len()).sum();
        self.put(format!("{{{n}}}\r\n").as_bytes()).await?;
        for p in pieces {
            self.put(p).await?;
        }
        Ok(())
    }

    /// A section or range of `base`; `NIL` for a part the message does not have.
    async fn section(
        &mut self,
        base: &[u8],
        item: &Item,
        max_parts: usize,
    ) -> Result<(), ProxyError> {
        match section::serve(base, item, max_parts) {
            Ok(b) => self.literal(&[&b]).await,
            Err(_) => self.put(b"NIL").await,
        }
    }

    async fn flush(&mut self) -> Result<(), ProxyError> {
        if !self.out.is_empty() {
            self.conn.send(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }
}
