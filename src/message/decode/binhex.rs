//! BinHex 4.0 (`(This file must be converted with BinHex 4.0)` then `:...:`): the 6-bit
//! text, the run-length expansion, and the file header that names the data fork.
use super::{Truncated, push_capped};
use crate::message::decode::uu::Block;
use std::cell::Cell;

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

/// Decodes every BinHex block: the block's data fork under the file's name, and the
/// whole decoded stream (forks and header) under no name as a second reading.
pub fn decode_all(
    data: &[u8],
    remaining: &Cell<usize>,
    visit: &mut dyn FnMut(Block) -> bool,
) -> Result<(), Truncated> {
    for start in memchr::memmem::find_iter(data, MARKER) {
        let Some(colon) = memchr::memchr(b':', &data[start + MARKER.len()..]) else {
            break;
        };
        let body = &data[start + MARKER.len() + colon + 1..];
        let end = memchr::memchr(b':', body).unwrap_or(body.len());
        let mut stream = Vec::new();
        let r = expand(&body[..end], &mut stream, remaining.get());
        remaining.set(remaining.get() - stream.len());
        let (name, fork) = split_header(&stream);
        let fork = fork.to_vec();
        remaining.set(remaining.get().saturating_sub(fork.len()));
        if !visit(Block {
            name,
            data: fork,
            start,
        }) {
            return r;
        }
        if !visit(Block {
            name: String::new(),
            data: stream,
            start,
        }) {
            return r;
        }
        r?;
    }
    Ok(())
}

/// 6-bit characters to bytes, then the 0x90 run-length code.
fn expand(text: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), Truncated> {
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut last = 0u8;
    let mut run_next = false;
    for &c in text {
        let v = TABLE[c as usize];
        if v == INVALID {
            continue;
        }
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits < 8 {
            continue;
        }
        bits -= 8;
        let b = (acc >> bits) as u8;
        acc &= (1 << bits) - 1;
        if run_next {
            run_next = false;
            if b == 0 {
                push_capped(out, &[0x90], cap)?;
                last = 0x90;
            } else {
                for _ in 1..b {
                    push_capped(out, &[last], cap)?;
                }
            }
        } else if b == 0x90 {
            run_next = true;
        } else {
            push_capped(out, &[b], cap)?;
            last = b;
        }
    }
    Ok(())
}

/// The file name and the data fork, as far as the stream holds them.
fn split_header(s: &[u8]) -> (String, &[u8]) {
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
        let mut text = b"(This file must be converted with BinHex 4.0)\r\n\r\n:".to_vec();
        let (mut acc, mut bits) = (0u32, 0u32);
        let mut col = 1;
        for &b in &s {
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
        let mut got = Vec::new();
        let budget = Cell::new(1 << 20);
        decode_all(&text, &budget, &mut |b| {
            got.push(b);
            true
        })
        .unwrap();
        assert_eq!(got[0].name, "Setup.exe");
        assert_eq!(got[0].data, payload);
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
        expand(&text, &mut out, 100).unwrap();
        assert_eq!(out, b"AAAA");
    }
}
