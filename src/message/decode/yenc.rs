//! yEnc blocks (`=ybegin ... name=...` to `=yend`), wherever they start a line:
//! [`blocks`] finds them, [`Decoder`] decodes a body a piece at a time.
use super::{LineFeed, Truncated, line_at, push_capped};
use crate::message::decode::uu::Found;

pub fn may_contain(data: &[u8]) -> bool {
    memchr::memmem::find(data, b"=ybegin").is_some()
}

/// Every block in `data`, in order (`Found::base64` is always false).
pub fn blocks(data: &[u8]) -> impl Iterator<Item = Found> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        while let Some((_, line, next)) = line_at(data, pos) {
            pos = next;
            let Some(params) = line.trim_ascii_start().strip_prefix(b"=ybegin") else {
                continue;
            };
            let name = memchr::memmem::find(params, b"name=")
                .map(|p| String::from_utf8_lossy(params[p + 5..].trim_ascii()).into_owned())
                .unwrap_or_default();
            let from = pos.min(data.len());
            let mut to = data.len();
            while let Some((at, l, next)) = line_at(data, pos) {
                if l.starts_with(b"=yend") || l.starts_with(b"=ybegin") {
                    to = at;
                    break;
                }
                pos = next;
            }
            pos = to;
            return Some(Found {
                name,
                body: from..to,
                base64: false,
            });
        }
        None
    })
}

/// Decodes a body (as [`blocks`] delimits it: `=ypart` lines are read over) fed in
/// pieces cut after a line end where possible (`decode::line_cut`).
#[derive(Debug, Default)]
pub struct Decoder {
    lines: LineFeed,
    escape: bool,
    /// Inside a `=ypart` line that goes on in the next piece.
    skipping: bool,
}

impl Decoder {
    pub fn feed(&mut self, piece: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), Truncated> {
        let (escape, skipping) = (&mut self.escape, &mut self.skipping);
        self.lines.each(piece, |l, goes_on, ends| {
            if !goes_on {
                *skipping = l.starts_with(b"=ypart");
            }
            let r = if *skipping {
                Ok(())
            } else {
                decode_line(l, escape, out, cap)
            };
            if ends {
                *escape = false;
            }
            r
        })
    }
}

fn decode_line(
    l: &[u8],
    escape: &mut bool,
    out: &mut Vec<u8>,
    cap: usize,
) -> Result<(), Truncated> {
    let mut buf = [0u8; 256];
    let mut n = 0;
    for &c in l {
        if c == b'\r' || c == b'\n' {
            continue;
        }
        if *escape {
            buf[n] = c.wrapping_sub(64).wrapping_sub(42);
            *escape = false;
        } else if c == b'=' {
            *escape = true;
            continue;
        } else {
            buf[n] = c.wrapping_sub(42);
        }
        n += 1;
        if n == buf.len() {
            push_capped(out, &buf, cap)?;
            n = 0;
        }
    }
    push_capped(out, &buf[..n], cap)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn encode(data: &[u8]) -> Vec<u8> {
        let mut s = Vec::new();
        for &b in data {
            let c = b.wrapping_add(42);
            if matches!(c, 0 | b'\n' | b'\r' | b'=') {
                s.push(b'=');
                s.push(c.wrapping_add(64));
            } else {
                s.push(c);
            }
        }
        s
    }

    #[test]
    fn decodes_a_block_with_its_name() {
        let payload = b"hello = world\r\n\x00\xff";
        let mut msg = b"text\r\n=ybegin line=128 size=17 name=my file.exe\r\n".to_vec();
        msg.extend_from_slice(&encode(payload));
        msg.extend_from_slice(b"\r\n=yend size=17\r\n");
        let got: Vec<(Found, Vec<u8>)> = blocks(&msg)
            .map(|b| {
                let mut out = Vec::new();
                Decoder::default()
                    .feed(&msg[b.body.clone()], &mut out, 1 << 20)
                    .unwrap();
                (b, out)
            })
            .collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.name, "my file.exe");
        assert_eq!(got[0].1, payload);
    }

    #[test]
    fn part_lines_are_read_over_and_escapes_end_with_their_line() {
        let mut out = Vec::new();
        let mut d = Decoder::default();
        d.feed(b"=ypart begin=1 end=2\r\nkl=\r\nm\r\n", &mut out, 100)
            .unwrap();
        // "=" at a line end escapes nothing: the next line starts afresh.
        assert_eq!(out, b"ABC");
    }

    #[test]
    fn a_long_part_line_split_between_pieces_is_read_over_whole() {
        let mut out = Vec::new();
        let mut d = Decoder::default();
        d.feed(b"=ypart begin=1 end=2 ", &mut out, 100).unwrap();
        d.feed(b"kkkk\r\nk\r\n", &mut out, 100).unwrap();
        assert_eq!(out, b"A");
    }
}
