//! uuencoded (`begin 644 name`) and `begin-base64` blocks, wherever they start a line.
use super::{Truncated, base64, lines, push_capped};
use std::cell::Cell;

/// One decoded block and where its `begin` line starts in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub name: String,
    pub data: Vec<u8>,
    pub start: usize,
}

/// Whether the input holds something that could start a block (a cheap pre-check).
pub fn may_contain(data: &[u8]) -> bool {
    memchr::memmem::find(data, b"begin").is_some()
}

/// Decodes every block; `remaining` is the output budget shared by all of them. The
/// visitor returns `false` to stop.
pub fn decode_all(
    data: &[u8],
    remaining: &Cell<usize>,
    visit: &mut dyn FnMut(Block) -> bool,
) -> Result<(), Truncated> {
    let mut iter = lines(data).peekable();
    while let Some((start, line)) = iter.next() {
        let t = line.trim_ascii_start();
        let (b64, rest) = if let Some(r) = t.strip_prefix(b"begin-base64 ") {
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
        let mut out = Vec::new();
        let cap = remaining.get();
        let r = if b64 {
            body_base64(&mut iter, &mut out, cap)
        } else {
            body_uu(&mut iter, &mut out, cap)
        };
        remaining.set(remaining.get() - out.len());
        let go_on = visit(Block {
            name,
            data: out,
            start,
        });
        r?;
        if !go_on {
            break;
        }
    }
    Ok(())
}

type Lines<'a, I> = std::iter::Peekable<I>;

fn body_base64<'a, I: Iterator<Item = (usize, &'a [u8])>>(
    iter: &mut Lines<'a, I>,
    out: &mut Vec<u8>,
    cap: usize,
) -> Result<(), Truncated> {
    let mut d = base64::Decoder::new();
    while let Some((_, l)) = iter.peek() {
        if l.trim_ascii() == b"====" {
            iter.next();
            break;
        }
        if l.trim_ascii_start().starts_with(b"begin") {
            break;
        }
        d.feed(l, out, cap)?;
        iter.next();
    }
    d.finish(out, cap)
}

fn uu_value(c: u8) -> u8 {
    c.wrapping_sub(b' ') & 0x3f
}

fn body_uu<'a, I: Iterator<Item = (usize, &'a [u8])>>(
    iter: &mut Lines<'a, I>,
    out: &mut Vec<u8>,
    cap: usize,
) -> Result<(), Truncated> {
    while let Some((_, l)) = iter.peek() {
        let l = l.trim_ascii_end();
        if l == b"end" || l.trim_ascii_start().starts_with(b"begin") {
            break;
        }
        let Some(&first) = l.first() else {
            iter.next();
            continue;
        };
        if !(b' '..=b'`').contains(&first) {
            break;
        }
        iter.next();
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
        push_capped(out, &line[..n.min(got)], cap)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(data: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut got = Vec::new();
        let budget = Cell::new(1 << 20);
        decode_all(data, &budget, &mut |b| {
            got.push((b.name, b.data));
            true
        })
        .unwrap();
        got
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
    fn budget_is_shared() {
        let budget = Cell::new(2);
        let r = decode_all(b"begin 644 a\n#0V%T\nend\n", &budget, &mut |_| true);
        assert_eq!(r, Err(Truncated));
        assert_eq!(budget.get(), 0);
    }
}
