//! Test-only builders of hostile and harmless messages: every encoding a mail client
//! decodes, written here independently of the decoders under test.
use super::signatures::EICAR;
use super::{BuiltinEngine, Verdict};
use crate::config::Builtin as Cfg;

/// A message carrying a payload under a file name.
pub type Shape = fn(&[u8], &str) -> Vec<u8>;

pub fn engine() -> BuiltinEngine {
    BuiltinEngine::new(&Cfg::default()).unwrap()
}

/// The engine as configured by default, and as it reads a message larger than
/// `max_parser_bytes`: without mail-parser's reading, its own readings must catch
/// every shape alone.
pub fn engines() -> [(&'static str, BuiltinEngine); 2] {
    let unparsed = Cfg {
        max_parser_bytes: 0,
        ..Cfg::default()
    };
    [
        ("", engine()),
        (
            " (without mail-parser)",
            BuiltinEngine::new(&unparsed).unwrap(),
        ),
    ]
}

/// Every shape carrying `payload` as `name` (must be infected: `label` in the report) and
/// carrying a harmless file named report.pdf (must be clean), under both engines; returns
/// what either got wrong.
pub fn misjudged(shapes: &[(&str, Shape)], payload: &[u8], name: &str, label: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for (how, e) in engines() {
        for (what, shape) in shapes {
            let hostile = e.scan(&shape(payload, name));
            if !matches!(hostile, Verdict::Infected { .. }) {
                bad.push(format!("{what}{how}: {label} got {hostile}"));
            }
            let clean = e.scan(&shape(HARMLESS, "report.pdf"));
            if clean != Verdict::Clean {
                bad.push(format!("{what}{how}: harmless twin got {clean}"));
            }
        }
    }
    bad
}

pub const HARMLESS: &[u8] = b"Quarterly figures attached, nothing to see here. Regards, Accounts.";

pub fn eicar() -> &'static [u8] {
    EICAR
}

/// Base64 in 76-character lines, CRLF-separated.
pub fn b64(data: &[u8]) -> String {
    crate::message::decode::base64::encode(data, 76)
}

/// Base64 with characters outside the alphabet sprinkled in, as RFC 2045 says to ignore.
pub fn b64_junk(data: &[u8]) -> String {
    let clean = b64(data).replace("\r\n", "");
    let mut s = String::new();
    for (i, c) in clean.chars().enumerate() {
        s.push(c);
        match i % 11 {
            3 => s.push('!'),
            7 => s.push_str(" *"),
            9 => s.push('\u{7f}'),
            _ => {}
        }
        if i % 60 == 59 {
            s.push_str("\r\n");
        }
    }
    s
}

/// Quoted-printable: every byte escaped (lowercase hex), soft breaks with trailing blanks.
pub fn qp_all(data: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in data.iter().enumerate() {
        s.push_str(&format!("={b:02x}"));
        if i % 20 == 19 {
            s.push_str("= \t\r\n");
        }
    }
    s
}

pub fn uuencode(name: &str, data: &[u8]) -> String {
    let mut s = format!("begin 644 {name}\r\n");
    for chunk in data.chunks(45) {
        s.push((b' ' + chunk.len() as u8) as char);
        for g in chunk.chunks(3) {
            let n = (g[0] as u32) << 16
                | (*g.get(1).unwrap_or(&0) as u32) << 8
                | *g.get(2).unwrap_or(&0) as u32;
            for k in 0..4 {
                let v = ((n >> (18 - 6 * k)) & 63) as u8;
                s.push(if v == 0 { '`' } else { (b' ' + v) as char });
            }
        }
        s.push_str("\r\n");
    }
    s.push_str("`\r\nend\r\n");
    s
}

pub fn begin_base64(name: &str, data: &[u8]) -> String {
    format!("begin-base64 644 {name}\r\n{}\r\n====\r\n", b64(data))
}

pub fn yenc(name: &str, data: &[u8]) -> Vec<u8> {
    let mut s = format!("=ybegin line=128 size={} name={name}\r\n", data.len()).into_bytes();
    for (i, &b) in data.iter().enumerate() {
        let c = b.wrapping_add(42);
        if matches!(c, 0 | b'\n' | b'\r' | b'=') {
            s.extend_from_slice(&[b'=', c.wrapping_add(64)]);
        } else {
            s.push(c);
        }
        if i % 64 == 63 {
            s.extend_from_slice(b"\r\n");
        }
    }
    s.extend_from_slice(format!("\r\n=yend size={}\r\n", data.len()).as_bytes());
    s
}

pub fn binhex(name: &str, data: &[u8]) -> String {
    const A: &[u8; 64] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
    let mut s = vec![name.len() as u8];
    s.extend_from_slice(name.as_bytes());
    s.push(0);
    s.extend_from_slice(b"TEXTttxt\0\0");
    s.extend_from_slice(&(data.len() as u32).to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    for &b in data {
        s.push(b);
        if b == 0x90 {
            s.push(0);
        }
    }
    s.extend_from_slice(&[0, 0, 0, 0]);
    let mut text = String::from("(This file must be converted with BinHex 4.0)\r\n\r\n:");
    let (mut acc, mut bits, mut col) = (0u32, 0u32, 1);
    for &b in &s {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            text.push(A[((acc >> bits) & 63) as usize] as char);
            col += 1;
            if col == 64 {
                text.push_str("\r\n");
                col = 0;
            }
        }
    }
    if bits > 0 {
        text.push(A[((acc << (6 - bits)) & 63) as usize] as char);
    }
    text.push_str(":\r\n");
    text
}

/// A mixed message: a text part, then `part` (headers and body, no boundary line).
pub fn mixed(part: &str) -> Vec<u8> {
    format!(
        "From: a@example.test\r\nTo: b@example.test\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_b1\"\r\n\r\n--=_b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n--=_b1\r\n{part}\r\n--=_b1--\r\n"
    )
    .into_bytes()
}

/// A base64 attachment part with the given extra header lines.
pub fn attachment(headers: &str, data: &[u8]) -> String {
    format!(
        "{headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        b64(data)
    )
}
