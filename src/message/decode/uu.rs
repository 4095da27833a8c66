//! uuencoded (`begin 644 name`) and `begin-base64` blocks, wherever they start a line:
//! [`blocks`] finds them, [`Decoder`] decodes a uuencoded body a piece at a time (a
//! `begin-base64` body is plain base64, see `decode::base64`).
use super::{LineFeed, Truncated, line_at, push_capped};
use std::ops::Range;

/// One block: the name it gives, and its body (the lines a decoder reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub body: Range<usize>,
    /// `begin-base64` (the body is base64), not `begin` (uuencode).
    pub base64: bool,
}

/// Whether the input holds something that could start a block (a cheap pre-check).
pub fn may_contain(data: &[u8]) -> bool {
    memchr::memmem::find(data, b"begin").is_some()
}

/// Every block in `data`, in order.
pub fn blocks(data: &[u8]) -> impl Iterator<Item = Found> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        while let Some((_, line, next)) = line_at(data, pos) {
            pos = next;
            let t = line.trim_ascii_start();
            let (base64, rest) = if let Some(r) = t.strip_prefix(b"begin-base64 ") {
                (true, r)
            } else if let Some(r) = t.strip_prefix(b"begin ") {
                (false, r)
            } else {
                continue;
            };
            let rest = rest.trim_ascii_start();
            let mode_len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            if mode_len == 0 || rest.get(mode_len).is_some_and(|c| !c.is_ascii_whitespace()) {
                continue;
            }
            let name = String::from_utf8_lossy(rest[mode_len..].trim_ascii()).into_owned();
            let from = pos.min(data.len());
            let (to, resume) = if base64 {
                base64_end(data, from)
            } else {
                uu_end(data, from)
            };
            pos = resume;
            return Some(Found {
                name,
                body: from..to,
                base64,
            });
        }
        None
    })
}

/// Where a uuencoded body that starts at `pos` ends, and where finding goes on: before an
/// `end` or `begin` line, or a line that cannot be uuencode (blank lines are read over).
fn uu_end(data: &[u8], mut pos: usize) -> (usize, usize) {
    while let Some((at, l, next)) = line_at(data, pos) {
        let l = l.trim_ascii_end();
        if l == b"end" || l.trim_ascii_start().starts_with(b"begin") {
            return (at, at);
        }
        if l.first().is_some_and(|c| !(b' '..=b'`').contains(c)) {
            return (at, at);
        }
        pos = next;
    }
    (data.len(), data.len())
}

/// Where a `begin-base64` body ends: at its `====` line (read) or a `begin` line.
fn base64_end(data: &[u8], mut pos: usize) -> (usize, usize) {
    while let Some((at, l, next)) = line_at(data, pos) {
        if l.trim_ascii() == b"====" {
            return (at, next);
        }
        if l.trim_ascii_start().starts_with(b"begin") {
            return (at, at);
        }
        pos = next;
    }
    (data.len(), data.len())
}

fn uu_value(c: u8) -> u8 {
    c.wrapping_sub(b' ') & 0x3f
}

/// Decodes a uuencoded body (as [`blocks`] delimits it) fed in pieces cut after a line
/// end where possible (`decode::line_cut`).
#[derive(Debug, Default)]
pub struct Decoder {
    lines: LineFeed,
}

impl Decoder {
    pub fn feed(&mut self, piece: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), Truncated> {
        self.lines.each(piece, |l, goes_on, _| {
            // A line longer than a piece: its length character and first groups were
            // read with its first part, which is all a line holds.
            if goes_on {
                return Ok(());
            }
            decode_line(l.trim_ascii_end(), out, cap)
        })
    }
}

fn decode_line(l: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), Truncated> {
    let Some(&first) = l.first() else {
        return Ok(());
    };
    let n = uu_value(first) as usize;
    let mut line = [0u8; 64 * 3 / 4 + 3];
    let mut got = 0;
    for chunk in l[1..].chunks(4) {
        let g = |k: usize| chunk.get(k).map_or(0, |&c| uu_value(c) as u32);
        let w = (g(0) << 18) | (g(1) << 12) | (g(2) << 6) | g(3);
        if got + 3 > line.len() {
            break;
        }
        line[got..got + 3].copy_from_slice(&w.to_be_bytes()[1..]);
        got += 3;
    }
    push_capped(out, &line[..n.min(got)], cap)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `data` uuencoded in lines of 45 bytes, without the `begin` and `end` lines.
    pub fn encode(data: &[u8]) -> Vec<u8> {
        let c = |v: u32| match (v & 63) as u8 {
            0 => b'`',
            v => b' ' + v,
        };
        let mut s = Vec::new();
        for line in data.chunks(45) {
            s.push(b' ' + line.len() as u8);
            for g in line.chunks(3) {
                let w = g
                    .iter()
                    .chain(&[0, 0])
                    .take(3)
                    .fold(0u32, |a, &b| a << 8 | b as u32);
                s.extend([c(w >> 18), c(w >> 12), c(w >> 6), c(w)]);
            }
            s.extend_from_slice(b"\r\n");
        }
        s
    }

    #[test]
    fn encodes_as_uudecode_reads() {
        let data: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        Decoder::default()
            .feed(&encode(&data), &mut out, 1000)
            .unwrap();
        assert_eq!(out, data);
    }

    /// Every block decoded in one go, as (name, bytes).
    fn all(data: &[u8]) -> Vec<(String, Vec<u8>)> {
        blocks(data)
            .map(|b| {
                let mut out = Vec::new();
                let body = &data[b.body];
                if b.base64 {
                    let mut d = super::super::base64::Decoder::new();
                    d.feed(body, &mut out, 1 << 20).unwrap();
                    d.finish(&mut out, 1 << 20).unwrap();
                } else {
                    Decoder::default().feed(body, &mut out, 1 << 20).unwrap();
                }
                (b.name, out)
            })
            .collect()
    }

    #[test]
    fn uuencode_and_begin_base64() {
        assert_eq!(
            all(b"text\r\nbegin 644 cat.txt\r\n#0V%T\r\n`\r\nend\r\n"),
            vec![("cat.txt".to_string(), b"Cat".to_vec())]
        );
        assert_eq!(
            all(b"x\nbegin-base64 644 hi.txt\naGVsbG8g\nd29ybGQ=\n====\n"),
            vec![("hi.txt".to_string(), b"hello world".to_vec())]
        );
    }

    #[test]
    fn missing_end_and_indented_begin() {
        assert_eq!(
            all(b"  begin 755 run.exe\n#0V%T\n"),
            vec![("run.exe".to_string(), b"Cat".to_vec())]
        );
        assert!(all(b"let us begin now\n").is_empty());
    }

    #[test]
    fn a_body_ends_where_a_reader_stops() {
        let data = b"begin 644 a\n#0V%T\n\n#0V%T\n~not uu\n#0V%T\nbegin 644 b\n#0V%T\nend\n";
        let got = all(data);
        assert_eq!(
            got,
            vec![
                ("a".to_string(), b"CatCat".to_vec()),
                ("b".to_string(), b"Cat".to_vec())
            ]
        );
    }

    #[test]
    fn the_budget_caps_the_output() {
        let mut out = Vec::new();
        let r = Decoder::default().feed(b"#0V%T\n#0V%T\n", &mut out, 4);
        assert_eq!(r, Err(Truncated));
        assert_eq!(out, b"CatC");
    }

    /// Fed in pieces cut after their last line end, the decoder reads what it reads in
    /// one go whenever every line fits in a piece.
    #[test]
    fn pieces_cut_after_line_ends_decode_the_same() {
        let body = b"#0V%T\r\n\r\n$0V%T0\r\n#0V%T";
        let mut whole = Vec::new();
        Decoder::default().feed(body, &mut whole, 100).unwrap();
        assert_eq!((&whole[..6], whole.len()), (&b"CatCat"[..], 10));
        for size in 8..body.len() {
            let mut d = Decoder::default();
            let mut out = Vec::new();
            let mut rest = &body[..];
            while !rest.is_empty() {
                let p = &rest[..rest.len().min(size)];
                let n = if p.len() == rest.len() {
                    p.len()
                } else {
                    super::super::line_cut(p)
                };
                d.feed(&rest[..n], &mut out, 100).unwrap();
                rest = &rest[n..];
            }
            assert_eq!(out, whole, "pieces of {size}");
        }
    }
}
