//! Reads a message's MIME structure. This is the only module that calls mail-parser, so
//! a change of parser touches one file.
//!
//! Every decoded leaf part is handed to a visitor, never collected, so a message with many
//! parts costs one part of extra memory at a time. When the structure is ambiguous (two
//! Content-Type headers, two boundary parameters, two transfer encodings) or unparseable,
//! a second, parser-independent reading splits the raw bytes at every boundary seen and
//! decodes every segment every plausible way: a scanner must not trust the one reading a
//! mail client might not pick.

use mail_parser::{HeaderName, Message, MessageParser, MimeHeaders, PartType};
use regex::bytes::Regex;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_parts: usize,
    pub max_depth: usize,
    pub max_decoded_bytes: u64,
}

/// Why a message cannot be read completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    TooManyParts { limit: usize },
    TooDeep { limit: usize },
    DecodedTooLarge { limit: u64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::TooManyParts { limit } => write!(f, "more than {limit} MIME parts"),
            Problem::TooDeep { limit } => write!(f, "MIME nesting deeper than {limit}"),
            Problem::DecodedTooLarge { limit } => write!(f, "more than {limit} decoded bytes"),
        }
    }
}

/// One decoded leaf: an attachment, a text body, or a segment of an alternative reading.
#[derive(Debug)]
pub struct PartView<'a> {
    pub name: Option<&'a str>,
    pub content_type: &'a str,
    pub data: &'a [u8],
    pub depth: usize,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WalkReport {
    pub parts: usize,
    /// Why a second reading was made, if one was.
    pub ambiguous: Option<String>,
}

struct State<'v> {
    limits: Limits,
    parts: usize,
    decoded: u64,
    ambiguous: Option<String>,
    visit: &'v mut dyn FnMut(&PartView) -> bool,
    stop: bool,
}

impl State<'_> {
    fn emit(&mut self, view: &PartView) -> Result<(), Problem> {
        self.decoded += view.data.len() as u64;
        if self.decoded > self.limits.max_decoded_bytes {
            return Err(Problem::DecodedTooLarge {
                limit: self.limits.max_decoded_bytes,
            });
        }
        if !self.stop && !(self.visit)(view) {
            self.stop = true;
        }
        Ok(())
    }
}

/// Whether the message is one part whose decoded form is its raw body: at most one
/// Content-Type, of a text type, and at most one transfer encoding, an identity one. For
/// such a message the raw-byte scan already saw everything a MIME reading would produce,
/// so the parser can be skipped (uuencoded blocks still need `uudecode_all`).
pub fn is_plain_single_part(raw: &[u8]) -> bool {
    let head = &raw[..raw.len().min(256 * 1024)];
    let Some((fields, _)) = crate::message::rewrite::split_header(head) else {
        return false;
    };
    let value = |f: &crate::message::rewrite::Field| {
        String::from_utf8_lossy(&f.raw[f.name.len() + 1..])
            .trim()
            .to_ascii_lowercase()
    };
    let (mut types, mut encodings) = (0, 0);
    for f in &fields {
        if f.name.eq_ignore_ascii_case(b"Content-Type") {
            types += 1;
            if !value(f).starts_with("text/") {
                return false;
            }
        } else if f.name.eq_ignore_ascii_case(b"Content-Transfer-Encoding") {
            encodings += 1;
            let v = value(f);
            if !matches!(v.as_str(), "7bit" | "8bit" | "binary") {
                return false;
            }
        }
    }
    types <= 1 && encodings <= 1
}

/// Walks every decoded part. The visitor returns `false` to stop early (a verdict was found).
pub fn walk(
    raw: &[u8],
    limits: Limits,
    visit: &mut dyn FnMut(&PartView) -> bool,
) -> Result<WalkReport, Problem> {
    let mut st = State {
        limits,
        parts: 0,
        decoded: 0,
        ambiguous: None,
        visit,
        stop: false,
    };
    match MessageParser::default().parse(raw) {
        Some(msg) => walk_message(&msg, 0, &mut st)?,
        None => st.ambiguous = Some("the message could not be parsed as MIME".into()),
    }
    if st.ambiguous.is_some() && !st.stop {
        alternate_readings(raw, &mut st)?;
    }
    Ok(WalkReport {
        parts: st.parts,
        ambiguous: st.ambiguous,
    })
}

fn walk_message(msg: &Message, depth: usize, st: &mut State) -> Result<(), Problem> {
    if depth > st.limits.max_depth {
        return Err(Problem::TooDeep {
            limit: st.limits.max_depth,
        });
    }
    for part in &msg.parts {
        if st.stop {
            return Ok(());
        }
        st.parts += 1;
        if st.parts > st.limits.max_parts {
            return Err(Problem::TooManyParts {
                limit: st.limits.max_parts,
            });
        }
        if st.ambiguous.is_none() {
            st.ambiguous = ambiguity(&part.headers);
        }
        let ctype = part
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
            .unwrap_or_else(|| "text/plain".into());
        let name = part.attachment_name();
        match &part.body {
            PartType::Text(t) | PartType::Html(t) => {
                st.emit(&PartView {
                    name,
                    content_type: &ctype,
                    data: t.as_bytes(),
                    depth,
                })?;
                for (uname, data) in uudecode_all(t.as_bytes()) {
                    st.emit(&PartView {
                        name: Some(&uname),
                        content_type: "application/octet-stream",
                        data: &data,
                        depth: depth + 1,
                    })?;
                }
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                st.emit(&PartView {
                    name,
                    content_type: &ctype,
                    data: b,
                    depth,
                })?;
                // mail-parser stops decoding nested messages after a few levels and hands
                // the rest over as bytes: keep descending up to our own limit.
                if ctype.starts_with("message/")
                    && let Some(inner) = MessageParser::default().parse(b.as_ref())
                {
                    walk_message(&inner, depth + 1, st)?;
                }
            }
            PartType::Message(inner) => walk_message(inner, depth + 1, st)?,
            PartType::Multipart(_) => {}
        }
    }
    Ok(())
}

fn ambiguity(headers: &[mail_parser::Header]) -> Option<String> {
    let count = |n: HeaderName| headers.iter().filter(|h| h.name == n).count();
    if count(HeaderName::ContentType) > 1 {
        return Some("two Content-Type headers".into());
    }
    if count(HeaderName::ContentTransferEncoding) > 1 {
        return Some("two Content-Transfer-Encoding headers".into());
    }
    for h in headers.iter().filter(|h| h.name == HeaderName::ContentType) {
        if let Some(ct) = h.value.as_content_type()
            && let Some(attrs) = ct.attributes()
            && attrs
                .iter()
                .filter(|a| a.name.eq_ignore_ascii_case("boundary"))
                .count()
                > 1
        {
            return Some("two boundary parameters".into());
        }
    }
    None
}

fn boundary_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))"#)
            .expect("static regex")
    })
}

/// The parser-independent reading: split at every boundary value that appears anywhere,
/// decode each segment as it declares and also as base64 and quoted-printable.
fn alternate_readings(raw: &[u8], st: &mut State) -> Result<(), Problem> {
    let mut boundaries: Vec<Vec<u8>> = Vec::new();
    for c in boundary_re().captures_iter(raw) {
        if let Some(m) = c.get(1).or_else(|| c.get(2)) {
            let b = m.as_bytes().to_vec();
            if !boundaries.contains(&b) {
                boundaries.push(b);
            }
        }
        if boundaries.len() >= 32 {
            break;
        }
    }
    let depth = st.limits.max_depth;
    for b in &boundaries {
        let mut marker = b"--".to_vec();
        marker.extend_from_slice(b);
        for seg in split_at_marker(raw, &marker) {
            if st.stop {
                return Ok(());
            }
            st.parts += 1;
            if st.parts > st.limits.max_parts {
                return Err(Problem::TooManyParts {
                    limit: st.limits.max_parts,
                });
            }
            let body = body_of(seg);
            if let Some(d) = base64_lenient(body) {
                st.emit(&PartView {
                    name: None,
                    content_type: "application/octet-stream",
                    data: &d,
                    depth,
                })?;
            }
            if let Some(d) = quoted_printable(body) {
                st.emit(&PartView {
                    name: None,
                    content_type: "text/plain",
                    data: &d,
                    depth,
                })?;
            }
        }
    }
    Ok(())
}

fn split_at_marker<'a>(raw: &'a [u8], marker: &[u8]) -> Vec<&'a [u8]> {
    let mut segs = Vec::new();
    let mut last = 0usize;
    let mut i = 0usize;
    while let Some(p) = find(&raw[i..], marker) {
        let at = i + p;
        let at_line_start = at == 0 || raw[at - 1] == b'\n';
        if at_line_start {
            segs.push(&raw[last..at]);
            let eol = raw[at..]
                .iter()
                .position(|&c| c == b'\n')
                .map(|e| at + e + 1);
            last = eol.unwrap_or(raw.len());
            i = last;
        } else {
            i = at + marker.len();
        }
        if i >= raw.len() {
            break;
        }
    }
    segs.push(&raw[last.min(raw.len())..]);
    segs
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::find(hay, needle)
}

fn body_of(seg: &[u8]) -> &[u8] {
    if let Some(p) = find(seg, b"\r\n\r\n") {
        return &seg[p + 4..];
    }
    if let Some(p) = find(seg, b"\n\n") {
        return &seg[p + 2..];
    }
    seg
}

/// Decodes base64 ignoring line breaks and stray characters; `None` when the text does
/// not look like base64 at all.
pub fn base64_lenient(input: &[u8]) -> Option<Vec<u8>> {
    let significant = input.iter().filter(|c| !c.is_ascii_whitespace()).count();
    let alphabet = input
        .iter()
        .filter(|&&c| base64_value(c).is_some() || c == b'=')
        .count();
    if significant < 16 || alphabet * 100 < significant * 95 {
        return None;
    }
    Some(base64_decode_any(input))
}

fn base64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes base64 up to the first '=' and skips anything outside the alphabet.
pub fn base64_decode_any(input: &[u8]) -> Vec<u8> {
    let val = base64_value;
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in input {
        if c == b'=' {
            break;
        }
        if let Some(v) = val(c) {
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
    }
    out
}

/// Decodes quoted-printable; `None` when there is nothing encoded in it.
pub fn quoted_printable(input: &[u8]) -> Option<Vec<u8>> {
    if !input.contains(&b'=') {
        return None;
    }
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    let mut changed = false;
    while i < input.len() {
        let c = input[i];
        if c == b'=' {
            if input[i + 1..].starts_with(b"\r\n") {
                i += 3;
                changed = true;
                continue;
            }
            if input[i + 1..].starts_with(b"\n") {
                i += 2;
                changed = true;
                continue;
            }
            if i + 2 < input.len()
                && let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2]))
            {
                out.push(h << 4 | l);
                i += 3;
                changed = true;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    changed.then_some(out)
}

/// Finds `begin NNN name` ... `end` blocks in a text body and decodes them.
pub fn uudecode_all(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    if find(text, b"begin ").is_none() {
        return found;
    }
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix(b"begin ") else {
            continue;
        };
        let mut words = rest.splitn(2, |&b| b == b' ');
        let mode = words.next().unwrap_or(b"");
        if mode.is_empty() || !mode.iter().all(|c| (b'0'..=b'7').contains(c)) {
            continue;
        }
        let name = String::from_utf8_lossy(words.next().unwrap_or(b"")).into_owned();
        let mut data = Vec::new();
        for l in lines.by_ref() {
            if l == b"end" || l.is_empty() {
                break;
            }
            let n = (l[0].wrapping_sub(b' ') & 0x3f) as usize;
            if n == 0 {
                continue;
            }
            let mut decoded = Vec::with_capacity(n + 2);
            for chunk in l[1..].chunks(4) {
                let v: Vec<u32> = chunk
                    .iter()
                    .map(|&c| (c.wrapping_sub(b' ') & 0x3f) as u32)
                    .collect();
                let g = |k: usize| v.get(k).copied().unwrap_or(0);
                let w = (g(0) << 18) | (g(1) << 12) | (g(2) << 6) | g(3);
                decoded.extend_from_slice(&[(w >> 16) as u8, (w >> 8) as u8, w as u8]);
            }
            decoded.truncate(n);
            data.extend_from_slice(&decoded);
        }
        found.push((name, data));
    }
    found
}

/// Header facts used in notices, quarantine records and session logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub date: String,
    pub message_id: String,
}

/// Reads the header facts from the start of a message (only the head needs to be given).
pub fn summary(head: &[u8]) -> Summary {
    let Some(msg) = MessageParser::default().parse_headers(head) else {
        return Summary::default();
    };
    let addrs = |a: Option<&mail_parser::Address>| {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
    };
    Summary {
        from: addrs(msg.from()),
        to: addrs(msg.to()),
        subject: msg.subject().unwrap_or("").to_string(),
        date: msg.date().map(|d| d.to_rfc822()).unwrap_or_default(),
        message_id: msg.message_id().unwrap_or("").to_string(),
    }
}

/// Each header of a message's head as (lower-case name, value decoded for a reader):
/// encoded words decoded, address lists as `name <address>`. Other structured values
/// (dates, Received, Content-Type) are left out: callers that want them read the raw field.
pub fn header_texts(head: &[u8]) -> Vec<(String, String)> {
    use mail_parser::HeaderValue;
    let Some(msg) = MessageParser::default().parse_headers(head) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for h in msg.headers() {
        let text = match &h.value {
            HeaderValue::Text(t) => t.to_string(),
            HeaderValue::TextList(l) => l.join(" "),
            HeaderValue::Address(a) => a
                .iter()
                .map(|x| format!("{} <{}>", x.name().unwrap_or(""), x.address().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", "),
            _ => continue,
        };
        out.push((h.name.as_str().to_ascii_lowercase(), text));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parts = Vec<(Option<String>, Vec<u8>)>;

    fn collect(raw: &[u8]) -> (Result<WalkReport, Problem>, Parts) {
        let mut got = Vec::new();
        let limits = Limits {
            max_parts: 100,
            max_depth: 5,
            max_decoded_bytes: 1 << 20,
        };
        let r = walk(raw, limits, &mut |p: &PartView| {
            got.push((p.name.map(String::from), p.data.to_vec()));
            true
        });
        (r, got)
    }

    #[test]
    fn decodes_base64_attachment_with_its_name() {
        let raw = b"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XX\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--XX--\r\n";
        let (r, got) = collect(raw);
        assert!(r.unwrap().ambiguous.is_none());
        assert!(
            got.iter()
                .any(|(n, d)| n.as_deref() == Some("a.bin") && d == b"hello world")
        );
    }

    #[test]
    fn two_content_types_trigger_a_second_reading() {
        let payload = b"c2VjcmV0IHBheWxvYWQgaGlkZGVuIGluIGEgc2VnbWVudA==";
        let mut raw = b"From: a@b\r\nContent-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=\"ZZ\"\r\n\r\n--ZZ\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
        raw.extend_from_slice(payload);
        raw.extend_from_slice(b"\r\n--ZZ--\r\n");
        let (r, got) = collect(&raw);
        assert_eq!(
            r.unwrap().ambiguous.as_deref(),
            Some("two Content-Type headers")
        );
        assert!(
            got.iter()
                .any(|(_, d)| d == b"secret payload hidden in a segment")
        );
    }

    #[test]
    fn part_limit_is_enforced() {
        let mut raw = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n".to_vec();
        for _ in 0..150 {
            raw.extend_from_slice(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        raw.extend_from_slice(b"--B--\r\n");
        let (r, _) = collect(&raw);
        assert_eq!(r, Err(Problem::TooManyParts { limit: 100 }));
    }

    #[test]
    fn uuencoded_block_is_found() {
        // "Cat" uuencoded.
        let got = uudecode_all(b"text\r\nbegin 644 cat.txt\r\n#0V%T\r\n`\r\nend\r\n");
        assert_eq!(got, vec![("cat.txt".to_string(), b"Cat".to_vec())]);
    }

    #[test]
    fn qp_and_base64_helpers() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc").unwrap(), b"a=bc");
        assert_eq!(quoted_printable(b"plain"), None);
        assert_eq!(
            base64_lenient(b"aGVsbG8g\r\nd29ybGQ=").unwrap(),
            b"hello world"
        );
        assert_eq!(base64_lenient(b"this is not base64, clearly!"), None);
    }

    #[test]
    fn plain_single_part_detection() {
        assert!(is_plain_single_part(b"Subject: a\r\n\r\nbody"));
        assert!(is_plain_single_part(
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nx"
        ));
        assert!(!is_plain_single_part(
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nx"
        ));
        assert!(!is_plain_single_part(
            b"Content-Type: multipart/mixed; boundary=a\r\n\r\nx"
        ));
        assert!(!is_plain_single_part(
            b"Content-Type: text/plain\r\nContent-Type: multipart/mixed\r\n\r\nx"
        ));
        assert!(!is_plain_single_part(
            b"Content-Type: application/zip\r\n\r\nPK"
        ));
        assert!(!is_plain_single_part(b"Subject: no end of header"));
    }

    #[test]
    fn header_texts_decode_words_and_addresses() {
        let h = header_texts(b"Subject: =?utf-8?q?caf=C3=A9?=\r\nFrom: Bob <bob@x.test>\r\n\r\n");
        assert!(h.contains(&("subject".into(), "caf\u{e9}".into())));
        assert!(h.contains(&("from".into(), "Bob <bob@x.test>".into())));
    }

    #[test]
    fn summary_reads_headers() {
        let s = summary(b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: Hi\r\nMessage-ID: <1@x>\r\n\r\nbody");
        assert_eq!(s.from, "alice@example.test");
        assert_eq!(s.to, "bob@example.test");
        assert_eq!(s.subject, "Hi");
        assert_eq!(s.message_id, "1@x");
    }
}
