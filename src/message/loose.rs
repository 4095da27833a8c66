//! The parser-independent MIME reading: every line that starts with `--` and a boundary
//! declared anywhere in the message splits it, whether or not the multipart is closed or
//! nested as declared; each segment's header is read forgivingly (see `header`) and its
//! body decoded as declared, and also as base64 or quoted-printable when the declaration
//! is one no client knows. A message/* part's body is read again as a message.
use crate::message::decode::encoded_word::{self, Charset};
use crate::message::decode::{Truncated, base64, qp};
use crate::message::header::{self, Field};
use aho_corasick::{AhoCorasick, Anchored, Input, StartKind};
use std::cell::Cell;
use std::ops::Range;
use std::sync::OnceLock;

/// Most distinct boundary values read from one message.
pub const MAX_BOUNDARIES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// 7bit, 8bit, binary or none declared: the body is what it is.
    Identity,
    Base64,
    QuotedPrintable,
    /// A declaration no client knows (`x-foo`): read as every plausible encoding.
    Unknown,
}

/// One segment of the loose reading.
#[derive(Debug)]
pub struct Part<'a> {
    /// Every name any Content-Type or Content-Disposition header of the part gives.
    pub names: Vec<String>,
    /// Every media type declared, lowercased (`text/plain`); empty when none is.
    pub types: Vec<String>,
    /// The text of every encoded word in the part's header fields (a subject, a name).
    pub words: Vec<String>,
    pub encoding: Encoding,
    pub body: &'a [u8],
    /// Where `body` starts in the message.
    pub body_at: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    TooManyParts { limit: usize },
    TooManyBoundaries { limit: usize },
}

fn boundary_finder() -> &'static AhoCorasick {
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(["boundary"])
            .expect("static pattern")
    })
}

/// The parts of `data` outside the sorted `skip` ranges, with their offsets.
fn outside<'a>(
    data: &'a [u8],
    skip: &'a [Range<usize>],
) -> impl Iterator<Item = (usize, &'a [u8])> {
    let mut from = 0;
    skip.iter()
        .cloned()
        .chain(std::iter::once(data.len()..data.len()))
        .filter_map(move |r| {
            let to = r.start.clamp(from, data.len());
            let piece = (from, &data[from..to]);
            from = from.max(r.end.min(data.len()));
            (!piece.1.is_empty()).then_some(piece)
        })
}

/// Every boundary value declared anywhere outside `skip`, however quoted or commented.
fn boundaries(data: &[u8], skip: &[Range<usize>]) -> Result<Vec<Vec<u8>>, Problem> {
    let mut found: Vec<Vec<u8>> = Vec::new();
    let hits = outside(data, skip).flat_map(|(at, piece)| {
        boundary_finder()
            .find_iter(piece)
            .map(move |m| at + m.end())
    });
    for m_end in hits {
        let m_end: usize = m_end;
        let tail = &data[m_end..data.len().min(m_end + 600)];
        let next = tail
            .iter()
            .find(|&&c| !matches!(c, b' ' | b'\t' | b'*' | b'0'..=b'9'));
        if !matches!(next, Some(b'=' | b'(' | b'\r' | b'\n')) {
            continue;
        }
        let Some(value) = quick_value(tail).or_else(|| slow_value(tail)) else {
            continue;
        };
        let value = value.as_str();
        // RFC 2231 form: charset'language'value
        let value = value.rsplit("''").next().unwrap_or(value);
        let value = value.trim_end_matches(['\r', '\n']).as_bytes();
        if value.is_empty() || value.len() > 200 || found.iter().any(|b| b == value) {
            continue;
        }
        if found.len() == MAX_BOUNDARIES {
            return Err(Problem::TooManyBoundaries {
                limit: MAX_BOUNDARIES,
            });
        }
        found.push(value.to_vec());
    }
    Ok(found)
}

/// The value after `boundary` when it is plainly `= token` or `= "quoted"`.
fn quick_value(tail: &[u8]) -> Option<String> {
    let skip = |t: &[u8], f: fn(u8) -> bool| t.iter().take_while(|&&c| f(c)).count();
    let t = &tail[skip(tail, |c| matches!(c, b' ' | b'\t' | b'*' | b'0'..=b'9'))..];
    let t = t.strip_prefix(b"=")?;
    let t = &t[skip(t, |c| c == b' ' || c == b'\t')..];
    let v = if let Some(q) = t.strip_prefix(b"\"") {
        &q[..memchr::memchr3(b'"', b'\r', b'\n', q)?]
    } else {
        let n = skip(t, |c| {
            c.is_ascii_graphic() && !matches!(c, b';' | b'"' | b'(')
        });
        if n == 0 || t.get(n).is_some_and(|&c| c == b'(' || c == b'"') {
            return None;
        }
        &t[..n]
    };
    Some(String::from_utf8_lossy(v).into_owned())
}

/// The value after `boundary` with comments and folding (the rare, slower case).
fn slow_value(tail: &[u8]) -> Option<String> {
    let line_end = tail
        .windows(2)
        .position(|w| w[0] == b'\n' && !matches!(w[1], b' ' | b'\t'))
        .unwrap_or(tail.len());
    let text = String::from_utf8_lossy(&tail[..line_end]);
    let text = header::strip_comments(&text);
    let t = text
        .trim_start()
        .trim_start_matches(|c: char| c == '*' || c.is_ascii_digit());
    let v = t.trim_start().strip_prefix('=')?.trim_start();
    let value = if let Some(q) = v.strip_prefix('"') {
        q.split('"').next().unwrap_or("")
    } else {
        v.split(|c: char| c == ';' || c.is_ascii_whitespace())
            .next()
            .unwrap_or("")
    };
    Some(value.to_string())
}

/// Starts of every boundary line (a line `--` + one of `bounds`) outside `skip`, at
/// most `limit` of them (past it the message has too many parts anyway).
fn boundary_lines(
    data: &[u8],
    bounds: &[Vec<u8>],
    skip: &[Range<usize>],
    limit: usize,
) -> Vec<usize> {
    let mut at = Vec::new();
    if bounds.is_empty() {
        return at;
    }
    let Ok(ac) = AhoCorasick::builder()
        .start_kind(StartKind::Anchored)
        .build(bounds)
    else {
        return at;
    };
    let starts =
        data.starts_with(b"--")
            .then_some(0)
            .into_iter()
            .chain(outside(data, skip).flat_map(|(off, piece)| {
                memchr::memmem::find_iter(piece, b"\n--").map(move |p| off + p + 1)
            }));
    for s in starts {
        let rest = &data[s + 2..];
        let blanks = rest
            .iter()
            .take_while(|&&c| c == b' ' || c == b'\t')
            .count();
        let rest = &rest[blanks..];
        if ac.find(Input::new(rest).anchored(Anchored::Yes)).is_some() {
            at.push(s);
            if at.len() > limit {
                break;
            }
        }
    }
    at
}

/// Reads every segment; the visitor returns `false` to stop. `skip` (sorted) holds
/// bodies known to be pure base64, where no header or boundary line can be.
pub fn read(
    data: &[u8],
    skip: &[Range<usize>],
    max_parts: usize,
    max_depth: usize,
    charset: Charset,
    visit: &mut dyn FnMut(&Part) -> bool,
) -> Result<(), Problem> {
    let bounds = boundaries(data, skip)?;
    let lines = boundary_lines(data, &bounds, skip, max_parts);
    if lines.len() + 1 > max_parts {
        return Err(Problem::TooManyParts { limit: max_parts });
    }
    let mut start = 0;
    for i in 0..=lines.len() {
        let end = lines.get(i).copied().unwrap_or(data.len());
        let seg_end = trim_line_end(data, start, end);
        if !segment(data, start, seg_end, max_depth, charset, visit) {
            return Ok(());
        }
        if let Some(&l) = lines.get(i) {
            start = memchr::memchr(b'\n', &data[l..]).map_or(data.len(), |e| l + e + 1);
        }
    }
    Ok(())
}

fn trim_line_end(data: &[u8], start: usize, end: usize) -> usize {
    let mut e = end;
    if e > start && data[e - 1] == b'\n' {
        e -= 1;
        if e > start && data[e - 1] == b'\r' {
            e -= 1;
        }
    }
    e
}

/// One segment, and the message inside it when it declares message/* with no encoding.
fn segment(
    data: &[u8],
    mut start: usize,
    end: usize,
    max_depth: usize,
    charset: Charset,
    visit: &mut dyn FnMut(&Part) -> bool,
) -> bool {
    for _ in 0..=max_depth {
        let seg = &data[start..end];
        let (fields, body_at) = header::parse_block(seg);
        let part = describe(&fields, &seg[body_at..], start + body_at, charset);
        if !visit(&part) {
            return false;
        }
        let nested = part.encoding == Encoding::Identity
            && part.types.iter().any(|t| t.starts_with("message/"))
            && header::starts_with_field(part.body);
        if !nested {
            break;
        }
        start += body_at;
    }
    true
}

fn describe<'a>(fields: &[Field], body: &'a [u8], body_at: usize, charset: Charset) -> Part<'a> {
    let mut names = Vec::new();
    let mut types = Vec::new();
    let mut encoding = Encoding::Identity;
    let mut words = Vec::new();
    for f in fields {
        if f.value.contains("=?") {
            words.push(encoded_word::decode_words(&f.value, charset));
        }
        match f.name.as_str() {
            "content-type" | "content-disposition" => {
                let (first, params) = header::parse_structured(&f.value);
                if f.name == "content-type" {
                    types.push(first);
                }
                header::name_candidates(&params, charset, &mut names);
            }
            "content-location" => {
                let v = header::strip_comments(&f.value);
                let last = v.trim().trim_matches('"').rsplit('/').next().unwrap_or("");
                if !last.is_empty() {
                    names.push(last.to_string());
                }
            }
            "content-transfer-encoding" => {
                let (first, _) = header::parse_structured(&f.value);
                let e = match first.as_str() {
                    "base64" => Encoding::Base64,
                    "quoted-printable" => Encoding::QuotedPrintable,
                    "7bit" | "8bit" | "binary" | "" => Encoding::Identity,
                    _ => Encoding::Unknown,
                };
                if encoding == Encoding::Identity {
                    encoding = e;
                } else if encoding != e && e != Encoding::Identity {
                    encoding = Encoding::Unknown;
                }
            }
            _ => {}
        }
    }
    Part {
        names,
        types,
        words,
        encoding,
        body,
        body_at,
    }
}

/// Whether a body is mostly base64 alphabet (worth a base64 reading when undeclared).
pub fn looks_base64(body: &[u8]) -> bool {
    let sample = &body[..body.len().min(64 * 1024)];
    let (mut sig, mut alpha) = (0usize, 0usize);
    for &c in sample {
        if !c.is_ascii_whitespace() {
            sig += 1;
            if base64::is_alphabet(c) || c == b'=' {
                alpha += 1;
            }
        }
    }
    sig >= 16 && alpha * 10 >= sig * 9
}

/// The decoded readings of a part body; `pure` is set when a base64 body held nothing but
/// alphabet and line ends (so a line-by-line reading would find the very same bytes).
pub struct Decoded {
    pub data: Vec<u8>,
    pub pure: bool,
}

/// Decodes a body as its part declares (every plausible way for `Unknown`), each
/// reading handed to `visit`; `remaining` is the shared output budget.
pub fn decode(
    part: &Part,
    remaining: &Cell<usize>,
    visit: &mut dyn FnMut(Decoded) -> bool,
) -> Result<(), Truncated> {
    let b64 = matches!(part.encoding, Encoding::Base64)
        || (part.encoding == Encoding::Unknown && looks_base64(part.body));
    let q = matches!(part.encoding, Encoding::QuotedPrintable)
        || (part.encoding == Encoding::Unknown && memchr::memchr(b'=', part.body).is_some());
    if b64 {
        let mut out = Vec::new();
        let r = base64::decode(part.body, &mut out, remaining.get());
        remaining.set(remaining.get() - out.len());
        let pure = r.is_ok_and(|junk| junk == 0);
        if !visit(Decoded { data: out, pure }) {
            return Ok(());
        }
        r?;
    }
    if q {
        let mut out = Vec::new();
        let r = qp::decode(part.body, &mut out, remaining.get());
        remaining.set(remaining.get() - out.len());
        if r.is_err() || r == Ok(true) {
            visit(Decoded {
                data: out,
                pure: false,
            });
        }
        r?;
    }
    Ok(())
}
