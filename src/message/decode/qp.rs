//! Quoted-printable as a forgiving client reads it: `=HH` in either case, soft breaks
//! with or without transport padding before the line end, anything else kept literally.
use super::{Truncated, push_capped};

#[inline]
fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `input` into `out`; returns whether anything was decoded (an escape or a
/// soft break), so callers can tell a plain text from an encoded one.
pub fn decode(input: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<bool, Truncated> {
    let mut changed = false;
    let mut i = 0;
    while i < input.len() {
        let Some(eq) = memchr::memchr(b'=', &input[i..]) else {
            push_capped(out, &input[i..], cap)?;
            break;
        };
        push_capped(out, &input[i..i + eq], cap)?;
        i += eq + 1;
        let rest = &input[i..];
        if let [h, l, ..] = rest
            && let (Some(h), Some(l)) = (hex(*h), hex(*l))
        {
            push_capped(out, &[h << 4 | l], cap)?;
            i += 2;
            changed = true;
            continue;
        }
        let pad = rest
            .iter()
            .take_while(|&&c| c == b' ' || c == b'\t')
            .count();
        let after = &rest[pad..];
        if after.starts_with(b"\r\n") {
            i += pad + 2;
            changed = true;
        } else if after.starts_with(b"\n") {
            i += pad + 1;
            changed = true;
        } else {
            push_capped(out, b"=", cap)?;
        }
    }
    Ok(changed)
}

/// The `Q` encoding of RFC 2047: quoted-printable where `_` stands for a space.
pub fn decode_q(input: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), Truncated> {
    let start = out.len();
    decode(input, out, cap)?;
    for b in &mut out[start..] {
        if *b == b'_' {
            *b = b' ';
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let changed = decode(s, &mut out, 1 << 20).unwrap();
        (out, changed)
    }

    #[test]
    fn escapes_soft_breaks_and_literals() {
        assert_eq!(dec(b"a=3Db=\r\nc"), (b"a=bc".to_vec(), true));
        assert_eq!(dec(b"a=3db= \t\nc=zz="), (b"a=bc=zz=".to_vec(), true));
        assert_eq!(dec(b"plain"), (b"plain".to_vec(), false));
    }

    #[test]
    fn q_encoding_turns_underscores_into_spaces() {
        let mut out = Vec::new();
        decode_q(b"run_me=2Eexe", &mut out, 100).unwrap();
        assert_eq!(out, b"run me.exe");
    }

    #[test]
    fn output_is_capped() {
        let mut out = Vec::new();
        assert_eq!(decode(b"0123456789", &mut out, 4), Err(Truncated));
        assert_eq!(out, b"0123");
    }
}
