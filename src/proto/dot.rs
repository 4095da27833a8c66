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
