//! BinHex 4.0 (`(This file must be converted with BinHex 4.0)` then `:...:`): the 6-bit
//! text, the run-length expansion, and the file header that names the data fork.
use super::{Truncated, push_capped};
use std::ops::Range;

const ALPHABET: &[u8; 64] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
const MARKER: &[u8] = b"(This file must be converted with BinHex";
const INVALID: u8 = 0xff;

const TABLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

pub fn may_contain(data: &[u8]) -> bool {
    memchr::memmem::find(data, MARKER).is_some()
}

/// Every BinHex block in `data`: the encoded text between the first `:` after its marker
/// and the next.
pub fn blocks(data: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    memchr::memmem::find_iter(data, MARKER).map_while(move |start| {
        let colon = memchr::memchr(b':', &data[start + MARKER.len()..])?;
        let from = start + MARKER.len() + colon + 1;
        let end = memchr::memchr(b':', &data[from..]).map_or(data.len(), |e| from + e);
        Some(from..end)
    })
}

/// Text characters decoded per piece: the run-length code can make a piece's output up
/// to 96 times its size, so pieces stay small (see `message::spill`).
pub const PIECE: usize = 4096;

/// 6-bit characters to bytes, then the 0x90 run-length code, fed in pieces cut anywhere.
/// The output is the whole decoded stream: the file header, then the forks (see
/// [`split_header`]).
#[derive(Debug, Default)]
pub struct Decoder {
    acc: u32,
    bits: u32,
    last: u8,
    run_next: bool,
}

impl Decoder {
    pub fn feed(&mut self, text: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), Truncated> {
        for &c in text {
            let v = TABLE[c as usize];
            if v == INVALID {
                continue;
            }
            self.acc = (self.acc << 6) | v as u32;
            self.bits += 6;
            if self.bits < 8 {
                continue;
            }
            self.bits -= 8;
            let b = (self.acc >> self.bits) as u8;
            self.acc &= (1 << self.bits) - 1;
            self.byte(b, out, cap)?;
        }
        Ok(())
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>, cap: usize) -> Result<(), Truncated> {
        if self.run_next {
            self.run_next = false;
            if b == 0 {
                self.last = 0x90;
                return push_capped(out, &[0x90], cap);
            }
            for _ in 1..b {
                push_capped(out, &[self.last], cap)?;
            }
            Ok(())
        } else if b == 0x90 {
            self.run_next = true;
            Ok(())
        } else {
            self.last = b;
            push_capped(out, &[b], cap)
        }
    }
}

/// The file name and the data fork, as far as the stream holds them.
pub fn split_header(s: &[u8]) -> (String, &[u8]) {
    let Some(&n) = s.first() else {
        return (String::new(), s);
    };
    let n = n as usize;
    let name = String::from_utf8_lossy(s.get(1..1 + n).unwrap_or_default()).into_owned();
    // name, version byte, type (4), creator (4), flags (2), data length (4), rsrc length (4), crc (2)
    let len_at = 1 + n + 1 + 4 + 4 + 2;
    let Some(len) = s.get(len_at..len_at + 4) else {
        return (name, &[]);
    };
    let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
    let from = len_at + 4 + 4 + 2;
    let fork = s.get(from.min(s.len())..from.saturating_add(len).min(s.len()));
    (name, fork.unwrap_or_default())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Encodes a file as BinHex 4.0 (CRCs left zero; readers here do not check them).
    pub fn encode(name: &str, data: &[u8]) -> Vec<u8> {
        let mut s = vec![name.len() as u8];
        s.extend_from_slice(name.as_bytes());
        s.push(0);
        s.extend_from_slice(b"TEXTttxt\0\0");
        s.extend_from_slice(&(data.len() as u32).to_be_bytes());
        s.extend_from_slice(&0u32.to_be_bytes());
        s.extend_from_slice(&[0, 0]);
        for &b in data {
            s.push(b);
            if b == 0x90 {
                s.push(0);
            }
        }
        s.extend_from_slice(&[0, 0, 0, 0]);
        text(&s)
    }

    /// A decoded stream (run-length coded already) as BinHex text with its marker.
    pub fn text(s: &[u8]) -> Vec<u8> {
        let mut text = b"(This file must be converted with BinHex 4.0)\r\n\r\n:".to_vec();
        let (mut acc, mut bits) = (0u32, 0u32);
        let mut col = 1;
        for &b in s {
            acc = (acc << 8) | b as u32;
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                text.push(ALPHABET[((acc >> bits) & 63) as usize]);
                col += 1;
                if col == 64 {
                    text.extend_from_slice(b"\r\n");
                    col = 0;
                }
            }
        }
        if bits > 0 {
            text.push(ALPHABET[((acc << (6 - bits)) & 63) as usize]);
        }
        text.extend_from_slice(b":\r\n");
        text
    }

    #[test]
    fn round_trip_with_a_run_marker_byte() {
        let payload = b"data with \x90 marker and more data";
        let text = encode("Setup.exe", payload);
        let got: Vec<Vec<u8>> = blocks(&text)
            .map(|body| {
                let mut out = Vec::new();
                Decoder::default()
                    .feed(&text[body], &mut out, 1 << 20)
                    .unwrap();
                out
            })
            .collect();
        assert_eq!(got.len(), 1);
        let (name, fork) = split_header(&got[0]);
        assert_eq!(name, "Setup.exe");
        assert_eq!(fork, payload);
        // Cut anywhere, the stream decodes the same.
        let body = blocks(&text).next().unwrap();
        for size in 1..20 {
            let mut d = Decoder::default();
            let mut out = Vec::new();
            for p in text[body.clone()].chunks(size) {
                d.feed(p, &mut out, 1 << 20).unwrap();
            }
            assert_eq!(out, got[0], "pieces of {size}");
        }
    }

    #[test]
    fn run_length_expansion() {
        let mut out = Vec::new();
        // 'A', 0x90, 4 => "AAAA"
        let bytes = [b'A', 0x90, 4];
        let mut text = Vec::new();
        let (mut acc, mut bits) = (0u32, 0u32);
        for b in bytes {
            acc = (acc << 8) | b as u32;
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                text.push(ALPHABET[((acc >> bits) & 63) as usize]);
            }
        }
        Decoder::default().feed(&text, &mut out, 100).unwrap();
        assert_eq!(out, b"AAAA");
    }
}
