//! yEnc blocks (`=ybegin ... name=...` to `=yend`), wherever they start a line.
use super::{Truncated, lines, push_capped};
use crate::message::decode::uu::Block;
use std::cell::Cell;

pub fn may_contain(data: &[u8]) -> bool {
    memchr::memmem::find(data, b"=ybegin").is_some()
}

/// Decodes every block; `remaining` is the output budget shared by all of them.
pub fn decode_all(
    data: &[u8],
    remaining: &Cell<usize>,
    visit: &mut dyn FnMut(Block) -> bool,
) -> Result<(), Truncated> {
    let mut iter = lines(data).peekable();
    while let Some((start, line)) = iter.next() {
        let Some(params) = line.trim_ascii_start().strip_prefix(b"=ybegin") else {
            continue;
        };
        let name = memchr::memmem::find(params, b"name=")
            .map(|p| String::from_utf8_lossy(params[p + 5..].trim_ascii()).into_owned())
            .unwrap_or_default();
        let mut out = Vec::new();
        let cap = remaining.get();
        let mut r = Ok(());
        let mut escape = false;
        while let Some((_, l)) = iter.peek() {
            if l.starts_with(b"=yend") || l.starts_with(b"=ybegin") {
                break;
            }
            let l = *l;
            iter.next();
            if l.starts_with(b"=ypart") {
                continue;
            }
            r = decode_line(l, &mut escape, &mut out, cap);
            if r.is_err() {
                break;
            }
        }
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
    *escape = false;
    push_capped(out, &buf[..n], cap)
}

#[cfg(test)]
mod tests {
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
        let mut got = Vec::new();
        let budget = Cell::new(1 << 20);
        decode_all(&msg, &budget, &mut |b| {
            got.push(b);
            true
        })
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "my file.exe");
        assert_eq!(got[0].data, payload);
    }
}
