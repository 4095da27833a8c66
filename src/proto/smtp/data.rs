//! Reads the message a client sends after DATA. Only CRLF.CRLF ends it (RFC 5321
//! §4.1.1.4): a '.' line after a bare LF, or a bare CR, never does, so nothing a lax server
//! might read as the end of one message and the start of another can end it here. Bare CR
//! and bare LF are counted; the caller rejects such a message or, if configured, uses the
//! normalised bytes (every bare CR or LF turned into CRLF), which are re-stuffed before
//! they go upstream, so what the server receives is one message whatever the client sent.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After CRLF (or at the start of the data).
    LineStart,
    Mid,
    /// CR seen, LF expected.
    Cr,
    /// A '.' at line start.
    Dot,
    /// ".\r" at line start.
    DotCr,
}

#[derive(Debug)]
pub struct DataReader {
    state: State,
    normalise: bool,
    pub bare_lf: u64,
    pub bare_cr: u64,
}

impl DataReader {
    /// `normalise`: emit CRLF for bare CR/LF instead of the original byte.
    pub fn new(normalise: bool) -> Self {
        DataReader {
            state: State::LineStart,
            normalise,
            bare_lf: 0,
            bare_cr: 0,
        }
    }

    /// Feeds received bytes; `sink` gets the un-stuffed message. Returns `Some(n)` once
    /// the terminating CRLF.CRLF was consumed, `n` being the bytes of `input` used.
    pub fn feed(&mut self, input: &[u8], mut sink: impl FnMut(&[u8])) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::LineStart => {
                    if b == b'.' {
                        self.state = State::Dot;
                        i += 1;
                    } else {
                        self.state = State::Mid;
                    }
                }
                State::Mid => {
                    let rest = &input[i..];
                    match memchr::memchr2(b'\r', b'\n', rest) {
                        None => {
                            sink(rest);
                            i = input.len();
                        }
                        Some(p) => {
                            sink(&rest[..p]);
                            i += p + 1;
                            if rest[p] == b'\r' {
                                self.state = State::Cr;
                            } else {
                                self.bare_lf += 1;
                                sink(if self.normalise { b"\r\n" } else { b"\n" });
                                // Not a line start: a '.' after a bare LF is data.
                            }
                        }
                    }
                }
                State::Cr => {
                    if b == b'\n' {
                        sink(b"\r\n");
                        self.state = State::LineStart;
                        i += 1;
                    } else {
                        self.bare_cr += 1;
                        sink(if self.normalise { b"\r\n" } else { b"\r" });
                        self.state = State::Mid;
                    }
                }
                State::Dot => {
                    if b == b'\r' {
                        self.state = State::DotCr;
                        i += 1;
                    } else {
                        // The dot was stuffing; the line goes on.
                        self.state = State::Mid;
                    }
                }
                State::DotCr => {
                    if b == b'\n' {
                        self.state = State::LineStart;
                        return Some(i + 1);
                    }
                    self.bare_cr += 1;
                    sink(if self.normalise { b"\r\n" } else { b"\r" });
                    self.state = State::Mid;
                }
            }
        }
        None
    }

    pub fn clean(&self) -> bool {
        self.bare_cr == 0 && self.bare_lf == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], normalise: bool) -> (Vec<u8>, Option<usize>, u64, u64) {
        let mut r = DataReader::new(normalise);
        let mut out = Vec::new();
        let end = r.feed(input, |d| out.extend_from_slice(d));
        (out, end, r.bare_lf, r.bare_cr)
    }

    #[test]
    fn plain_message_and_rest() {
        let wire = b"Subject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n";
        let (out, end, lf, cr) = read(wire, false);
        assert_eq!(out, b"Subject: x\r\n\r\n.dot\r\n");
        assert_eq!(&wire[end.unwrap()..], b"QUIT\r\n");
        assert_eq!((lf, cr), (0, 0));
        assert_eq!(read(b".\r\n", false).1, Some(3), "empty message");
    }

    /// Every end-of-data variant a lax server might accept, followed by a second message.
    #[test]
    fn smuggling_variants_never_end_the_message() {
        for term in [
            &b"\n.\n"[..],
            b"\n.\r\n",
            b"\r\n.\n",
            b"\r.\r",
            b"\r\n.\r",
            b"\r.\r\n",
            b"\n.\r",
        ] {
            let mut wire = b"Subject: one\r\n\r\nbody".to_vec();
            wire.extend_from_slice(term);
            wire.extend_from_slice(b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\nSubject: two\r\n\r\nsmuggled\r\n.\r\n");
            let (out, end, lf, cr) = read(&wire, false);
            assert_eq!(
                end,
                Some(wire.len()),
                "{term:?}: only the final CRLF.CRLF ends it"
            );
            assert!(lf + cr > 0, "{term:?}: the bare line ending is counted");
            assert!(out.ends_with(b"smuggled\r\n"), "{term:?}");
            // Normalised and re-stuffed, the smuggled terminator becomes a stuffed '.' line.
            let (norm, _, _, _) = read(&wire, true);
            let mut s = crate::proto::dot::Stuffer::default();
            let mut up = Vec::new();
            s.feed(&norm, &mut up);
            s.finish(&mut up);
            assert_eq!(
                up.windows(5).filter(|w| w == b"\r\n.\r\n").count(),
                1,
                "{term:?}: exactly one end of data goes upstream: {:?}",
                String::from_utf8_lossy(&up)
            );
        }
    }

    #[test]
    fn split_anywhere_gives_the_same_result() {
        let wire = b"A: b\r\n\r\n..x\r\nbare\nlf\rcr\r\n.\r\nNEXT";
        let (whole, end, lf, cr) = read(wire, true);
        for i in 0..wire.len() {
            let mut r = DataReader::new(true);
            let mut out = Vec::new();
            let first = r.feed(&wire[..i], |d| out.extend_from_slice(d));
            let end2 = first.or_else(|| {
                r.feed(&wire[i..], |d| out.extend_from_slice(d))
                    .map(|n| n + i)
            });
            assert_eq!(
                (out.as_slice(), end2, r.bare_lf, r.bare_cr),
                (whole.as_slice(), end, lf, cr),
                "split at {i}"
            );
        }
    }
}
