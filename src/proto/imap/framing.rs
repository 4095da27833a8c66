//! IMAP framing in both directions: bytes in, line and literal events out.
//!
//! The boundaries come from imap-codec's `Fragmentizer` (lines, `{n}`, `{n+}`, `~{n}`
//! literals, before any grammar). It is fed in bounded steps only when it asks for more,
//! and it keeps no message bytes of its own (its message size limit is 0): the bytes of
//! every fragment are kept here, so nothing it would refuse to decode is lost, and a
//! literal larger than `inline_literal` streams out as chunks instead of being held.
//! What the Fragmentizer cannot see is checked here: an announce above 4 GiB (it reads it
//! as plain text, which would let literal bytes be taken for commands), lines longer than
//! the limit, client literals over the limit, and synchronising literals the real server
//! has not accepted yet.
use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};

pub use super::frame::{Announce, Event, FrameError, FrameLimits, Refusal, Sender};
use super::frame::{announce_of, parse_tag};

/// Bytes handed to the Fragmentizer at once.
const FEED_STEP: usize = 16 * 1024;
/// The end of an overlong line kept until the line ends (a literal announce is shorter).
const KEEP_TAIL: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Line,
    /// Literal bytes the Fragmentizer counts; `stream`: delivered in chunks.
    Literal {
        stream: bool,
    },
    /// A client synchronising literal waits for the driver's decision.
    Paused {
        stream: bool,
    },
    /// Discarding a refused literal the Fragmentizer cannot count (above 4 GiB).
    Skip {
        left: u64,
    },
}

/// What an internal step produced; the bytes are in `Framer::out`.
#[derive(Debug, Clone, Copy)]
enum Out {
    Line {
        first: bool,
        whole: bool,
        announce: Option<Announce>,
    },
    LinePart {
        first: bool,
    },
    Literal,
    Chunk {
        last: bool,
    },
    Refused(Refusal),
}

/// One direction of one session. Push received bytes, then take events with
/// [`Framer::next_event`] until it returns `None`, then push more.
#[derive(Debug)]
pub struct Framer {
    frag: Fragmentizer,
    sender: Sender,
    limits: FrameLimits,
    /// Pushed and not yet fed.
    input: Vec<u8>,
    at: usize,
    /// Fed and not yet delivered: the current fragment's bytes, then what is queued after.
    fed: Vec<u8>,
    /// Bytes of the current fragment already delivered or dropped.
    done: usize,
    phase: Phase,
    /// The next line starts a message.
    first: bool,
    /// The current client command is being dropped for this reason.
    refusing: Option<Refusal>,
    tag: Option<String>,
    out: Vec<u8>,
}

impl Framer {
    pub fn new(sender: Sender, limits: FrameLimits) -> Self {
        Framer {
            frag: Fragmentizer::new(0),
            sender,
            limits,
            input: Vec::new(),
            at: 0,
            fed: Vec::new(),
            done: 0,
            phase: Phase::Line,
            first: true,
            refusing: None,
            tag: None,
            out: Vec::new(),
        }
    }

    /// Adds received bytes. Push after `next_event` returned `None` so the framer holds at
    /// most one read's worth of unparsed input.
    pub fn push(&mut self, data: &[u8]) {
        if self.at == self.input.len() {
            self.input.clear();
            self.at = 0;
        }
        self.input.extend_from_slice(data);
    }

    /// Bytes the framer's own buffers have room for.
    pub fn capacity(&self) -> usize {
        self.input.capacity() + self.fed.capacity() + self.out.capacity()
    }

    /// Gives back the buffers' memory when nothing is held in them, for a session about
    /// to wait: after a large response they would otherwise keep its size for as long as
    /// the session lives.
    ///
    /// Between two messages with nothing fed, the Fragmentizer holds no bytes either and a
    /// fresh one reads on the same (its queue keeps the capacity of the largest step).
    pub fn release(&mut self) {
        let drained = self.at == self.input.len();
        if drained {
            self.input = Vec::new();
            self.at = 0;
        }
        if self.fed.is_empty() {
            self.fed = Vec::new();
            if drained && self.first && matches!(self.phase, Phase::Line) {
                self.frag = Fragmentizer::new(0);
            }
        }
        self.out = Vec::new();
    }

    /// Whether the framer waits for the driver to accept or refuse a synchronising literal.
    pub fn awaiting_continuation(&self) -> bool {
        matches!(self.phase, Phase::Paused { .. })
    }

    /// The synchronising literal may come (the server, or the proxy, sent `+`).
    pub fn continue_literal(&mut self) -> bool {
        match self.phase {
            Phase::Paused { stream } => {
                self.phase = Phase::Literal { stream };
                true
            }
            _ => false,
        }
    }

    /// The synchronising literal was refused (tagged NO/BAD instead of `+`): what follows
    /// is a new command, exactly as the server reads it.
    pub fn refuse_literal(&mut self) -> bool {
        if !self.awaiting_continuation() {
            return false;
        }
        self.frag.skip_message();
        self.phase = Phase::Line;
        self.first = true;
        true
    }

    /// Drops everything received and not delivered (after STARTTLS: plaintext sent before
    /// the handshake must not be read as commands). Returns how many bytes were dropped.
    pub fn reset(&mut self) -> usize {
        let dropped = self.input.len() - self.at + self.fed.len();
        *self = Framer::new(self.sender, self.limits);
        dropped
    }

    /// Bytes held: unparsed input plus the current line or inline literal.
    pub fn buffered(&self) -> usize {
        self.input.len() - self.at + self.fed.len()
    }

    /// The next event, or `None` when more input is needed (or a continuation decision).
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, FrameError> {
        let out = loop {
            match self.phase {
                Phase::Paused { .. } => return Ok(None),
                Phase::Skip { left } => {
                    let n = left.min((self.input.len() - self.at) as u64);
                    self.at += n as usize;
                    if n == left {
                        self.phase = Phase::Line;
                        continue;
                    }
                    self.phase = Phase::Skip { left: left - n };
                    return Ok(None);
                }
                _ => {}
            }
            match self.frag.progress() {
                Some(info) => {
                    if let Some(out) = self.on_fragment(info)? {
                        break out;
                    }
                }
                None => {
                    if let Some(out) = self.on_starved() {
                        break out;
                    }
                    if !self.feed() {
                        return Ok(None);
                    }
                }
            }
        };
        Ok(Some(self.event(out)))
    }

    fn event(&self, out: Out) -> Event<'_> {
        let bytes = &self.out[..];
        match out {
            Out::Line {
                first,
                whole,
                announce,
            } => Event::Line {
                bytes,
                first,
                whole,
                announce,
            },
            Out::LinePart { first } => Event::LinePart { bytes, first },
            Out::Literal => Event::Literal { bytes },
            Out::Chunk { last } => Event::LiteralChunk { bytes, last },
            Out::Refused(reason) => Event::Refused {
                tag: self.tag.clone(),
                reason,
            },
        }
    }

    fn feed(&mut self) -> bool {
        let n = FEED_STEP.min(self.input.len() - self.at);
        if n == 0 {
            return false;
        }
        let step = &self.input[self.at..self.at + n];
        self.frag.enqueue_bytes(step);
        self.fed.extend_from_slice(step);
        self.at += n;
        true
    }

    /// The Fragmentizer used every fed byte for the current fragment without ending it.
    fn on_starved(&mut self) -> Option<Out> {
        if self.fed.is_empty() {
            return None;
        }
        match self.phase {
            Phase::Literal { stream: true } => {
                self.take_fed(self.fed.len());
                (self.refusing.is_none()).then_some(Out::Chunk { last: false })
            }
            Phase::Line if self.done + self.fed.len() > self.limits.max_line => {
                let first = self.first && self.done == 0;
                // The end stays until the line ends, so its announce is read whole.
                let n = self.fed.len().saturating_sub(KEEP_TAIL);
                if n == 0 {
                    return None;
                }
                match self.sender {
                    Sender::Server => {
                        self.take_fed(n);
                        Some(Out::LinePart { first })
                    }
                    Sender::Client => {
                        if first {
                            self.tag = parse_tag(&self.fed);
                        }
                        self.refusing.get_or_insert(Refusal::LineTooLong {
                            limit: self.limits.max_line,
                        });
                        self.take_fed(n);
                        None
                    }
                }
            }
            _ => None,
        }
    }

    /// Moves `n` fed bytes of the current fragment to `out`.
    fn take_fed(&mut self, n: usize) {
        self.out.clear();
        self.out.extend(self.fed.drain(..n));
        self.done += n;
    }

    fn on_fragment(&mut self, info: FragmentInfo) -> Result<Option<Out>, FrameError> {
        let len = info.range().len();
        let had = self.done;
        self.take_fed(len - had);
        self.done = 0;
        match info {
            FragmentInfo::Line { announcement, .. } => self.on_line(announcement, len, had),
            FragmentInfo::Literal { .. } => {
                let stream = matches!(self.phase, Phase::Literal { stream: true });
                self.phase = Phase::Line;
                Ok(match (self.refusing, stream) {
                    (Some(_), _) => None,
                    (None, true) => Some(Out::Chunk { last: true }),
                    (None, false) => Some(Out::Literal),
                })
            }
        }
    }

    fn on_line(
        &mut self,
        seen: Option<LiteralAnnouncement>,
        len: usize,
        had: usize,
    ) -> Result<Option<Out>, FrameError> {
        let first = std::mem::replace(&mut self.first, false);
        let announce = announce_of(&self.out, seen);
        // An announce the Fragmentizer did not count (above u32) ended its message.
        let uncounted = announce.is_some() && seen.is_none();
        if self.sender == Sender::Server {
            if let (true, Some(a)) = (uncounted, announce) {
                return Err(FrameError::ServerLiteralTooLarge { size: a.size });
            }
            self.first = announce.is_none();
            if let Some(a) = announce {
                self.phase = Phase::Literal {
                    stream: a.size > self.limits.inline_literal as u64,
                };
            }
            return Ok(Some(Out::Line {
                first: first && had == 0,
                whole: len <= self.limits.max_line,
                announce,
            }));
        }
        if first && had == 0 {
            self.tag = parse_tag(&self.out);
        }
        if len > self.limits.max_line {
            self.refusing.get_or_insert(Refusal::LineTooLong {
                limit: self.limits.max_line,
            });
        }
        let limit = self.limits.max_literal.min(u32::MAX as u64);
        if let Some(a) = announce.filter(|a| a.size > limit) {
            self.refusing.get_or_insert(Refusal::LiteralTooLarge {
                size: a.size,
                limit,
            });
        }
        Ok(self.client_line(first, announce, uncounted))
    }

    fn client_line(
        &mut self,
        first: bool,
        announce: Option<Announce>,
        uncounted: bool,
    ) -> Option<Out> {
        let Some(reason) = self.refusing else {
            self.first = announce.is_none();
            if let Some(a) = announce {
                let stream = a.size > self.limits.inline_literal as u64;
                self.phase = if a.sync {
                    Phase::Paused { stream }
                } else {
                    Phase::Literal { stream }
                };
            }
            return Some(Out::Line {
                first,
                whole: true,
                announce,
            });
        };
        match announce {
            Some(a) if !a.sync => {
                if uncounted {
                    // Take back what the Fragmentizer queued after this line.
                    let rest = std::mem::take(&mut self.fed);
                    self.frag = Fragmentizer::new(0);
                    self.input.splice(..self.at, rest);
                    self.at = 0;
                    self.phase = Phase::Skip { left: a.size };
                } else {
                    self.phase = Phase::Literal { stream: true };
                }
                None
            }
            _ => {
                // The end of the command, or a synchronising literal the client will
                // not send before it has an answer.
                if announce.is_some() && !uncounted {
                    self.frag.skip_message();
                }
                self.phase = Phase::Line;
                self.first = true;
                self.refusing = None;
                Some(Out::Refused(reason))
            }
        }
    }
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
