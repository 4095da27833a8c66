//! Dot-stuffing (RFC 1939 §3, RFC 5321 §4.5.2), shared by POP3 downloads and SMTP
//! submissions: a line starting with '.' gets one more '.', and a block ends with a line
//! holding only '.'. `Unstuffer` recovers the original bytes, `Stuffer` encodes them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UState {
    LineStart,
    Mid,
    Dot,
    DotCr,
}

/// Streams a dot-stuffed block back into the original bytes.
#[derive(Debug)]
pub struct Unstuffer {
    state: UState,
}

impl Default for Unstuffer {
    fn default() -> Self {
        Unstuffer {
            state: UState::LineStart,
        }
    }
}

impl Unstuffer {
    /// Feeds block bytes; `sink` receives unstuffed data as slices of `input` (no copy).
    /// Returns `Some(n)` once the terminating `.CRLF` line was seen, `n` being the bytes of
    /// `input` used up to and including it; the rest belongs to the next answer.
    pub fn feed(&mut self, input: &[u8], mut sink: impl FnMut(&[u8])) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                UState::LineStart => {
                    if input[i] == b'.' {
                        self.state = UState::Dot;
                        i += 1;
                    } else {
                        self.state = UState::Mid;
                    }
                }
                UState::Mid => {
                    let rest = &input[i..];
                    match memchr::memchr(b'\n', rest) {
                        Some(p) => {
                            sink(&rest[..=p]);
                            i += p + 1;
                            self.state = UState::LineStart;
                        }
                        None => {
                            sink(rest);
                            i = input.len();
                        }
                    }
                }
                UState::Dot => {
                    if input[i] == b'\r' {
                        self.state = UState::DotCr;
                        i += 1;
                    } else {
                        // The dot was stuffing; the line goes on from here.
                        self.state = UState::Mid;
                    }
                }
                UState::DotCr => {
                    if input[i] == b'\n' {
                        self.state = UState::LineStart;
                        return Some(i + 1);
                    }
                    sink(b"\r");
                    self.state = UState::Mid;
                }
            }
        }
        None
    }
}

/// Streams message bytes into a dot-stuffed block.
#[derive(Debug)]
pub struct Stuffer {
    at_line_start: bool,
}

impl Default for Stuffer {
    fn default() -> Self {
        Stuffer {
            at_line_start: true,
        }
    }
}

impl Stuffer {
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut rest = input;
        while !rest.is_empty() {
            if self.at_line_start && rest[0] == b'.' {
                out.push(b'.');
            }
            match memchr::memchr(b'\n', rest) {
                Some(p) => {
                    out.extend_from_slice(&rest[..=p]);
                    rest = &rest[p + 1..];
                    self.at_line_start = true;
                }
                None => {
                    out.extend_from_slice(rest);
                    self.at_line_start = false;
                    rest = &[];
                }
            }
        }
    }

    /// Ends the block; a message that did not end with a line break gets one first.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// Buffers a session reuses for every message it carries. They are sized on first use,
/// so a session that never carries a message stays small.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Socket reads.
    pub read: Vec<u8>,
    /// Bytes on their way out (and, while receiving, decoded message bytes).
    pub out: Vec<u8>,
    /// Spool reads while sending.
    pub spool: Vec<u8>,
}

/// Size of socket reads, spool reads and output writes.
pub const CHUNK: usize = 64 * 1024;

impl Scratch {
    /// The read buffer, sized to `CHUNK`.
    pub fn read_buf(&mut self) -> &mut [u8] {
        if self.read.len() < CHUNK {
            self.read.resize(CHUNK, 0);
        }
        &mut self.read[..CHUNK]
    }
}

/// Where `send_message` writes: a stream, the limit on each write's progress and what to
/// call a peer that stops taking bytes.
pub struct Peer<'a, W> {
    pub stream: &'a mut W,
    pub deadline: &'a mut super::deadline::Deadline,
    pub side: crate::error::Side,
    /// The `what` of the timeout error, naming the limit.
    pub stalled: &'static str,
    /// The session's count of bytes sent this way, kept right if a write fails midway.
    pub sent: &'a mut u64,
}

/// Sends what `scratch.out` already holds (a status line or a command, or nothing), then
/// `head` and the spooled message from `body_offset` to the peer on `side`, in writes of
/// about `CHUNK` bytes (a small message goes out in one write). With a `stuffer` the
/// message is dot-stuffed and terminated; without, it goes as it is (SMTP BDAT).
pub async fn send_message<W: tokio::io::AsyncWrite + Unpin>(
    to: Peer<'_, W>,
    scratch: &mut Scratch,
    head: &[u8],
    spool: &mut crate::message::spool::Spool,
    body_offset: u64,
    mut stuffer: Option<Stuffer>,
) -> Result<(), crate::error::ProxyError> {
    use crate::error::{ProxyError, Side};
    let Peer {
        stream: w,
        deadline,
        side,
        stalled,
        sent,
    } = to;
    if scratch.spool.len() < CHUNK {
        scratch.spool.resize(CHUNK, 0);
    }
    let out = &mut scratch.out;
    let buf = &mut scratch.spool[..CHUNK];
    let mut put = |data: &[u8], out: &mut Vec<u8>| match stuffer.as_mut() {
        Some(s) => s.feed(data, out),
        None => out.extend_from_slice(data),
    };
    put(head, out);
    let mut pos = body_offset;
    loop {
        let n = spool
            .read_at(pos, buf)
            .map_err(ProxyError::io(Side::Local))?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        put(&buf[..n], out);
        if out.len() >= CHUNK {
            super::conn::write_within(w, deadline, side, stalled, out).await?;
            *sent += out.len() as u64;
            out.clear();
        }
    }
    if let Some(s) = stuffer {
        s.finish(out);
    }
    super::conn::write_within(w, deadline, side, stalled, out).await?;
    *sent += out.len() as u64;
    out.clear();
    Ok(())
}
