//! Base64 as the most forgiving client reads it: characters outside the alphabet are
//! skipped (RFC 2045 section 6.8 tells decoders to ignore them), `=` ends a quantum and
//! decoding goes on after it (concatenated encodings), and a missing pad is tolerated.
use super::{Truncated, push_capped};

const INVALID: u8 = 0xff;

/// Quanta the clean-input path decodes between two appends to the output.
const FAST_BLOCK: usize = 64;

const TABLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The value of a base64 alphabet character.
#[inline]
pub fn value(c: u8) -> Option<u8> {
    let v = TABLE[c as usize];
    (v != INVALID).then_some(v)
}

/// Whether `c` belongs to the base64 alphabet (padding excluded).
#[inline]
pub const fn is_alphabet(c: u8) -> bool {
    TABLE[c as usize] != INVALID
}

/// A streaming decoder: feed chunks split anywhere, then `finish`.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    acc: u32,
    n: u8,
    /// Characters skipped that were neither alphabet, padding nor line ends.
    pub junk: usize,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `input` into `out`, stopping once `out` holds `cap` bytes.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), Truncated> {
        let mut rest = input;
        while !rest.is_empty() {
            if self.n == 0 {
                rest = self.fast(rest, out, cap)?;
                if rest.is_empty() {
                    break;
                }
            }
            let c = rest[0];
            rest = &rest[1..];
            let v = TABLE[c as usize];
            if v != INVALID {
                self.acc = (self.acc << 6) | v as u32;
                self.n += 1;
                if self.n == 4 {
                    let b = self.acc.to_be_bytes();
                    push_capped(out, &b[1..], cap)?;
                    self.n = 0;
                    self.acc = 0;
                }
            } else if c == b'=' {
                self.flush(out, cap)?;
            } else if c != b'\n' && c != b'\r' {
                self.junk += 1;
            }
        }
        Ok(())
    }

    /// Whole quanta at a time while the input is clean, decoded a block at a time into a
    /// buffer on the stack and appended in one copy.
    #[inline]
    fn fast<'a>(
        &mut self,
        input: &'a [u8],
        out: &mut Vec<u8>,
        cap: usize,
    ) -> Result<&'a [u8], Truncated> {
        let mut buf = [0u8; FAST_BLOCK * 3];
        let mut rest = input;
        loop {
            let room = cap.saturating_sub(out.len()) / 3;
            let want = (rest.len() / 4).min(FAST_BLOCK);
            let groups = want.min(room);
            let mut done = 0usize;
            for (g, o) in rest[..groups * 4]
                .chunks_exact(4)
                .zip(buf.chunks_exact_mut(3))
            {
                let (a, b, c, d) = (
                    TABLE[g[0] as usize],
                    TABLE[g[1] as usize],
                    TABLE[g[2] as usize],
                    TABLE[g[3] as usize],
                );
                if (a | b | c | d) >= 64 {
                    break;
                }
                let w = (a as u32) << 18 | (b as u32) << 12 | (c as u32) << 6 | d as u32;
                o.copy_from_slice(&w.to_be_bytes()[1..]);
                done += 1;
            }
            out.extend_from_slice(&buf[..done * 3]);
            rest = &rest[done * 4..];
            if done < groups || (groups == want && want < FAST_BLOCK) {
                return Ok(rest);
            }
            if groups < want {
                // The cap stops a clean run: a whole quantum more would pass it.
                let next_clean = rest[..4].iter().all(|&c| TABLE[c as usize] != INVALID);
                return if next_clean { Err(Truncated) } else { Ok(rest) };
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<u8>, cap: usize) -> Result<(), Truncated> {
        let r = match self.n {
            2 => push_capped(out, &[(self.acc >> 4) as u8], cap),
            3 => push_capped(out, &[(self.acc >> 10) as u8, (self.acc >> 2) as u8], cap),
            _ => Ok(()),
        };
        self.n = 0;
        self.acc = 0;
        r
    }

    /// Emits a trailing partial quantum (a missing pad).
    pub fn finish(&mut self, out: &mut Vec<u8>, cap: usize) -> Result<(), Truncated> {
        self.flush(out, cap)
    }
}

/// Decodes all of `input` leniently; returns how many junk characters were skipped.
pub fn decode(input: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<usize, Truncated> {
    let mut d = Decoder::new();
    d.feed(input, out, cap)?;
    d.finish(out, cap)?;
    Ok(d.junk)
}

/// Decodes all of `input` leniently into a new buffer (base64 never grows, so the output
/// is bounded by the input).
pub fn decode_all(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    // The cap is never reached: four characters give at most three bytes.
    let _ = decode(input, &mut out, input.len());
    out
}

/// Test inputs: `data` in standard base64 with padding, in lines of `line_chars`
/// characters separated by CRLF. Written apart from the decoder it feeds.
#[cfg(test)]
pub(crate) fn encode(data: &[u8], line_chars: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    let lines: Vec<&str> = s
        .as_bytes()
        .chunks(line_chars.max(1))
        .map(|l| std::str::from_utf8(l).expect("ASCII"))
        .collect();
    lines.join("\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &[u8]) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let junk = decode(s, &mut out, 1 << 20).unwrap();
        (out, junk)
    }

    #[test]
    fn decodes_clean_junk_and_concatenated_input() {
        assert_eq!(dec(b"aGVsbG8gd29ybGQ=").0, b"hello world");
        assert_eq!(
            dec(b"aGVs\r\nbG8g!d2*9y bGQ="),
            (b"hello world".to_vec(), 3)
        );
        assert_eq!(dec(b"aGk=aGk=").0, b"hihi");
        assert_eq!(dec(b"aGVsbG8").0, b"hello");
    }

    #[test]
    fn split_anywhere_gives_the_same_bytes() {
        let input = b"aGVs!bG8g\r\nd29y bGQ=aGk";
        let whole = dec(input).0;
        for cut in 0..input.len() {
            let mut d = Decoder::new();
            let mut out = Vec::new();
            d.feed(&input[..cut], &mut out, 1 << 20).unwrap();
            d.feed(&input[cut..], &mut out, 1 << 20).unwrap();
            d.finish(&mut out, 1 << 20).unwrap();
            assert_eq!(out, whole, "cut at {cut}");
        }
    }

    #[test]
    fn long_clean_and_junky_input_decodes_the_same_under_every_cap() {
        let clean: Vec<u8> = (0..700u32)
            .map(|i| {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(i * 7 % 64) as usize]
            })
            .collect();
        let mut junky = clean.clone();
        for at in [259, 256, 130, 77, 3] {
            junky.insert(at, b'!');
            junky.insert(at + 2, b'\n');
        }
        for input in [&clean, &junky] {
            let full = dec(input).0;
            assert_eq!(full.len(), 525);
            for cap in 0..=full.len() + 1 {
                let mut out = Vec::new();
                let r = decode(input, &mut out, cap);
                assert_eq!(r.is_err(), cap < full.len(), "cap {cap}");
                assert!(out.len() <= cap, "cap {cap}");
                assert_eq!(out, full[..out.len()], "cap {cap}");
            }
        }
    }

    #[test]
    fn output_is_capped() {
        let mut out = Vec::new();
        assert_eq!(decode(b"aGVsbG8gd29ybGQ=", &mut out, 4), Err(Truncated));
        assert!(out.len() <= 4);
    }
}
