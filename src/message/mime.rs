//! Reads a message's MIME structure. This is the only module that calls mail-parser, so
//! a change of parser touches one file.
//!
//! Every decoded leaf part is handed to a visitor, never collected, so a message with many
//! parts costs one part of extra memory at a time. When the structure is ambiguous (two
//! Content-Type headers, two boundary parameters, two transfer encodings) or unparseable,
//! the report says so; the parser-independent readings that do not trust this one live in
//! `loose` (every boundary, forgiving headers) and `runs` (encoded runs anywhere).

use mail_parser::{HeaderName, Message, MessageParser, MimeHeaders, PartType};

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
#[derive(Debug, Default)]
pub struct PartView<'a> {
    pub name: Option<&'a str>,
    pub content_type: &'a str,
    pub data: &'a [u8],
    pub depth: usize,
    /// Every other name the part's headers give (a second Content-Type, `filename` next
    /// to `name`, ...): clients disagree on which one wins.
    pub names: Vec<String>,
    /// Where the part's raw body lies in the message handed to `walk`, when it does.
    pub span: Option<std::ops::Range<usize>>,
    /// Whether `data` was decoded from a transfer encoding (not a slice of the raw bytes).
    pub decoded: bool,
    /// Whether `data` is exactly the base64 decoding of `span` (no character skipped, no
    /// charset conversion): another reading of that span would find the same bytes.
    pub exact_base64: bool,
}

/// Text from bytes in a named charset (mail-parser's tables); `None` when unknown.
pub fn charset_text(charset: &str, bytes: &[u8]) -> Option<String> {
    let decode = mail_parser::decoders::charsets::map::charset_decoder(charset.as_bytes())?;
    Some(decode(bytes))
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WalkReport {
    pub parts: usize,
    /// Why a second reading was made, if one was.
    pub ambiguous: Option<String>,
}

struct State<'v> {
    limits: Limits,
    /// The message handed to `walk`, to tell which parts' offsets point into it.
    raw: (usize, usize),
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
        raw: (raw.as_ptr() as usize, raw.len()),
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
        let names = header_names(&part.headers);
        let same_raw =
            msg.raw_message.as_ptr() as usize == st.raw.0 && msg.raw_message.len() == st.raw.1;
        let span = (same_raw && part.offset_end >= part.offset_body)
            .then_some(part.offset_body as usize..part.offset_end as usize);
        let decoded = part.encoding != mail_parser::Encoding::None;
        match &part.body {
            PartType::Text(t) | PartType::Html(t) => {
                st.emit(&PartView {
                    name,
                    content_type: &ctype,
                    data: t.as_bytes(),
                    depth,
                    names,
                    span,
                    decoded,
                    exact_base64: false,
                })?;
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                st.emit(&PartView {
                    name,
                    content_type: &ctype,
                    data: b,
                    depth,
                    names,
                    span,
                    decoded,
                    exact_base64: part.encoding == mail_parser::Encoding::Base64
                        && !part.is_encoding_problem,
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

/// Every `name`/`filename` parameter of every Content-Type and Content-Disposition.
fn header_names(headers: &[mail_parser::Header]) -> Vec<String> {
    let mut names = Vec::new();
    for h in headers {
        if !matches!(
            h.name,
            HeaderName::ContentType | HeaderName::ContentDisposition
        ) {
            continue;
        }
        let Some(attrs) = h.value.as_content_type().and_then(|c| c.attributes()) else {
            continue;
        };
        for a in attrs {
            let n = a.name.to_ascii_lowercase();
            if n.starts_with("name") || n.starts_with("filename") {
                names.push(a.value.to_string());
            }
        }
    }
    names
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
    fn two_content_types_are_reported_as_ambiguous() {
        let raw = b"From: a@b\r\nContent-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=\"ZZ\"\r\n\r\n--ZZ\r\n\r\nx\r\n--ZZ--\r\n";
        let (r, _) = collect(raw);
        assert_eq!(
            r.unwrap().ambiguous.as_deref(),
            Some("two Content-Type headers")
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

/// Byte ranges of one MIME part in a raw message, for IMAP section numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRanges {
    /// The part's header block (for the top level, the message header), blank line included.
    pub header: std::ops::Range<usize>,
    pub body: std::ops::Range<usize>,
    pub shape: PartShape,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartShape {
    Leaf,
    Multipart(Vec<PartRanges>),
    /// A `message/rfc822` part whose encapsulated message lies in the body as it is.
    Message(Box<PartRanges>),
}

/// The part tree of `raw` with byte ranges into `raw`, at most `max_parts` parts; `None`
/// when it cannot be parsed or is larger.
pub fn part_ranges(raw: &[u8], max_parts: usize) -> Option<PartRanges> {
    let msg = MessageParser::default().parse(raw)?;
    let mut budget = max_parts;
    ranges_of(&msg, 0, 0, &mut budget)
}

fn ranges_of(msg: &Message, id: usize, base: usize, budget: &mut usize) -> Option<PartRanges> {
    *budget = budget.checked_sub(1)?;
    let part = msg.parts.get(id)?;
    let at = |o: u32| base + o as usize;
    let (h, b, e) = (
        at(part.offset_header),
        at(part.offset_body),
        at(part.offset_end),
    );
    let shape = match &part.body {
        PartType::Multipart(children) => PartShape::Multipart(
            children
                .iter()
                .map(|&c| ranges_of(msg, c as usize, base, budget))
                .collect::<Option<Vec<_>>>()?,
        ),
        PartType::Message(inner) => {
            // Only an encapsulated message read from these very bytes has ranges in `raw`:
            // its offsets count from the outer message or from the part's body.
            let body = msg
                .raw_message
                .get(part.offset_body as usize..part.offset_end as usize)?;
            let inner_at = inner.raw_message.as_ptr();
            let base = if std::ptr::eq(inner_at, msg.raw_message.as_ptr()) {
                base
            } else if std::ptr::eq(inner_at, body.as_ptr()) {
                b
            } else {
                return None;
            };
            PartShape::Message(Box::new(ranges_of(inner, 0, base, budget)?))
        }
        _ => PartShape::Leaf,
    };
    Some(PartRanges {
        header: h..b,
        body: b..e,
        shape,
    })
}
