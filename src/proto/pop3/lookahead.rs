//! Fetching the next messages ahead while a client downloads sequentially, so its next
//! RETR is answered at once instead of after a round trip to the server.
//!
//! It engages only when all of these hold: `pop3.lookahead` is on; the server listed
//! PIPELINING and TOP in an answer to the client's CAPA; the client made a LIST, so the
//! sizes of the next messages are known; and the client just retrieved message n with
//! RETR. Then portcullis sends `TOP m 2147483647` for the following messages (up to
//! `pop3.lookahead_depth`, each at most `pop3.lookahead_max_message_bytes`, all together at
//! most `pop3.lookahead_max_bytes`) in one write. TOP changes nothing on the server (RETR
//! sets `\Seen` on servers such as dovecot; TOP does not). Their answers are read while
//! the client is busy. A looked-ahead message is used only if its size is exactly the LIST
//! size (the whole message). When the client then sends `RETR m`, the RETR still goes to
//! the server for its own effect, and its answer is read and dropped later; the client is
//! answered from the fetched copy, scanned and handled exactly like any other download.
//! A RETR or TOP of any other message, RSET or QUIT drops what was fetched ahead.
use std::collections::{BTreeMap, VecDeque};

use crate::error::{ProxyError, Side};
use crate::proto::lines::trim_eol;

use super::codec::{self, ResponseDecoder, Status};

/// An answer the server owes for a command the client does not wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owed {
    /// `TOP n <all>` sent ahead for a message LIST said is `size` bytes; `keep` turns
    /// false when the client went elsewhere.
    Top { n: u32, size: u64, keep: bool },
    /// The client's RETR of a message it was served from the fetched copy; the answer is
    /// read and dropped. `expect` is the size served.
    Retr { n: u32, expect: u64 },
}

/// The answer being read.
#[derive(Debug, Default)]
struct Partial {
    /// False for a drained answer, or once over budget: the rest is read and dropped.
    keep: bool,
    data: Vec<u8>,
    /// Bytes read and dropped.
    dropped: u64,
}

/// What the server listed in its CAPA answer that look-ahead needs.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServerCaps {
    pub pipelining: bool,
    pub top: bool,
}

/// Limits of one session's look-ahead.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub depth: usize,
    pub max_bytes: u64,
    pub max_message_bytes: u64,
}

/// The look-ahead state of one session.
#[derive(Debug, Default)]
pub struct LookAhead {
    owed: VecDeque<Owed>,
    current: Option<Partial>,
    ready: BTreeMap<u32, Vec<u8>>,
    /// Bytes held in `ready` and `current`.
    held: u64,
    sink: Vec<u8>,
    pub caps: ServerCaps,
    /// Messages served from a fetched copy, for the end line.
    pub served: u64,
}

impl LookAhead {
    /// Notes a CAPA line the server sent.
    pub fn note_capability(&mut self, line: &[u8]) {
        let word = trim_eol(line).split(|&b| b == b' ').next().unwrap_or(b"");
        if word.eq_ignore_ascii_case(b"PIPELINING") {
            self.caps.pipelining = true;
        } else if word.eq_ignore_ascii_case(b"TOP") {
            self.caps.top = true;
        }
    }

    /// Whether no answer is owed for commands the client does not wait for.
    pub fn settled(&self) -> bool {
        self.owed.is_empty()
    }

    /// Whether message `n` is fetched or on its way.
    pub fn has(&self, n: u32) -> bool {
        self.ready.contains_key(&n) || self.in_flight(n)
    }

    /// Whether message `n` is still on its way (waiting for it beats a new round trip).
    pub fn in_flight(&self, n: u32) -> bool {
        self.owed
            .iter()
            .any(|o| matches!(o, Owed::Top { n: m, keep: true, .. } if *m == n))
    }

    /// Bytes fetched or promised by LIST sizes of what is on its way.
    fn committed(&self) -> u64 {
        let promised: u64 = self
            .owed
            .iter()
            .map(|o| match o {
                Owed::Top {
                    size, keep: true, ..
                } => *size,
                _ => 0,
            })
            .sum();
        self.held.saturating_add(promised)
    }

    /// The `TOP` commands to send after the client retrieved `n`, given the LIST sizes;
    /// they are recorded as owed.
    pub fn plan(&mut self, n: u32, size_of: impl Fn(u32) -> Option<u64>, b: Budget) -> Vec<u8> {
        let mut out = Vec::new();
        let mut m = n;
        for _ in 0..b.depth {
            let Some(next) = m.checked_add(1) else { break };
            m = next;
            if self.has(m) {
                continue;
            }
            let Some(size) = size_of(m) else { break };
            if size > b.max_message_bytes || self.committed().saturating_add(size) > b.max_bytes {
                break;
            }
            self.owed.push_back(Owed::Top {
                n: m,
                size,
                keep: true,
            });
            out.extend_from_slice(format!("TOP {m} 2147483647\r\n").as_bytes());
        }
        out
    }

    /// The fetched copy of message `n`, if it is complete and exactly `listed` bytes. The
    /// caller then sends the client's RETR and calls [`LookAhead::served_from_copy`].
    pub fn take(&mut self, n: u32, listed: Option<u64>) -> Option<Vec<u8>> {
        let data = self.ready.remove(&n)?;
        self.held -= data.len() as u64;
        (Some(data.len() as u64) == listed).then_some(data)
    }

    /// The client's RETR of `n` went upstream; its answer will be dropped.
    pub fn served_from_copy(&mut self, n: u32, expect: u64) {
        self.owed.push_back(Owed::Retr { n, expect });
        self.served += 1;
    }

    /// The client went elsewhere: drop what was fetched; answers still owed are read and
    /// dropped as they come.
    pub fn forget(&mut self) {
        self.ready.clear();
        for o in self.owed.iter_mut() {
            if let Owed::Top { keep, .. } = o {
                *keep = false;
            }
        }
        if let Some(p) = self.current.as_mut() {
            p.keep = false;
            p.data = Vec::new();
        }
        self.held = 0;
    }

    /// Takes whatever the decoder holds toward the owed answers; `notes` gets log lines.
    pub fn advance(
        &mut self,
        sdec: &mut ResponseDecoder,
        b: Budget,
        notes: &mut Vec<String>,
    ) -> Result<(), ProxyError> {
        while let Some(&front) = self.owed.front() {
            if self.current.is_none() {
                let Some(line) = sdec.line().map_err(|e| ProxyError::LineTooLong {
                    side: Side::Server,
                    limit: e.limit,
                })?
                else {
                    return Ok(());
                };
                match codec::parse_status(line) {
                    Some(Status::Ok) => {
                        let keep = matches!(front, Owed::Top { keep: true, .. });
                        self.current = Some(Partial {
                            keep,
                            ..Partial::default()
                        });
                    }
                    Some(Status::Err) => {
                        let text = String::from_utf8_lossy(trim_eol(line)).into_owned();
                        notes.push(format!("lookahead: {front:?} answered {text:?}"));
                        self.owed.pop_front();
                    }
                    _ => {
                        return Err(ProxyError::protocol(
                            Side::Server,
                            format!("not a POP3 status line for {front:?}"),
                        ));
                    }
                }
                continue;
            }
            if !self.read_block(sdec, b) {
                return Ok(());
            }
            let p = self.current.take().unwrap_or_default();
            self.owed.pop_front();
            match front {
                Owed::Top { n, .. } if p.keep => {
                    self.ready.insert(n, p.data);
                }
                Owed::Retr { n, expect } if p.dropped != expect => notes.push(format!(
                    "lookahead: the server's RETR {n} answer had {} bytes, the copy served {expect}",
                    p.dropped
                )),
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads the current block's bytes; true once it ended.
    fn read_block(&mut self, sdec: &mut ResponseDecoder, b: Budget) -> bool {
        let Some(p) = self.current.as_mut() else {
            return true;
        };
        if !p.keep {
            self.sink.clear();
            let ended = sdec.block(&mut self.sink);
            p.dropped += self.sink.len() as u64;
            return ended;
        }
        let before = p.data.len();
        let ended = sdec.block(&mut p.data);
        self.held += (p.data.len() - before) as u64;
        if p.data.len() as u64 > b.max_message_bytes || self.held > b.max_bytes {
            self.held -= p.data.len() as u64;
            p.dropped = p.data.len() as u64;
            p.keep = false;
            p.data = Vec::new();
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Budget = Budget {
        depth: 3,
        max_bytes: 1000,
        max_message_bytes: 400,
    };

    fn sizes(n: u32) -> Option<u64> {
        (n <= 10).then_some(if n == 5 { 500 } else { 10 })
    }

    #[test]
    fn plans_the_next_messages_within_depth_and_budget() {
        let mut la = LookAhead::default();
        let cmds = la.plan(1, sizes, B);
        assert_eq!(
            cmds,
            b"TOP 2 2147483647\r\nTOP 3 2147483647\r\nTOP 4 2147483647\r\n"
        );
        assert!(la.has(2) && la.in_flight(4) && !la.has(5));
        // Message 5 is too big to fetch ahead: the plan stops there.
        let mut la = LookAhead::default();
        assert_eq!(la.plan(3, sizes, B), b"TOP 4 2147483647\r\n");
        // No sizes known: nothing.
        assert!(LookAhead::default().plan(20, sizes, B).is_empty());
    }

    fn feed(la: &mut LookAhead, dec: &mut ResponseDecoder, wire: &[u8]) -> Vec<String> {
        let mut notes = Vec::new();
        // Byte by byte: answers split anywhere come out whole.
        for b in wire {
            dec.push(&[*b]);
            la.advance(dec, B, &mut notes).unwrap();
        }
        notes
    }

    #[test]
    fn answers_are_taken_in_order_and_a_copy_is_used_only_at_its_listed_size() {
        let mut la = LookAhead::default();
        let mut dec = ResponseDecoder::new(100);
        la.plan(1, sizes, Budget { depth: 2, ..B });
        let wire = b"+OK\r\n..dot\r\n.\r\n-ERR no such message\r\n+OK next\r\n";
        let notes = feed(&mut la, &mut dec, wire);
        assert!(la.settled());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(
            dec.line().unwrap().unwrap(),
            b"+OK next\r\n",
            "the next answer stays"
        );
        assert_eq!(la.take(2, Some(6)), Some(b".dot\r\n".to_vec()));
        assert_eq!(la.take(3, Some(6)), None);
        la.plan(5, |_| Some(3), Budget { depth: 1, ..B });
        feed(&mut la, &mut dec, b"+OK\r\nab\r\n.\r\n");
        assert_eq!(
            la.take(6, Some(3)),
            None,
            "4 bytes arrived where LIST said 3"
        );
    }

    #[test]
    fn a_drained_retr_is_checked_and_forgotten_answers_are_still_read() {
        let mut la = LookAhead::default();
        let mut dec = ResponseDecoder::new(100);
        la.plan(1, sizes, Budget { depth: 1, ..B });
        la.forget();
        la.served_from_copy(9, 3);
        let notes = feed(&mut la, &mut dec, b"+OK\r\nxyz\r\n.\r\n+OK\r\nab\r\n.\r\n");
        assert!(la.settled());
        assert_eq!(la.take(2, Some(5)), None, "forgotten");
        assert_eq!(
            notes.len(),
            1,
            "4 bytes drained where 3 were served: {notes:?}"
        );
        assert_eq!(la.served, 1);
    }
}
