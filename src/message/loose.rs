//! The parser-independent MIME reading: every line that starts with `--` and a boundary
//! declared anywhere in the message splits it, whether or not the multipart is closed or
//! nested as declared; each segment's header is read forgivingly (see `header`) and its
//! body decoded as declared, and also as base64 or quoted-printable when the declaration
//! is one no client knows. A message/* part's body is read again as a message.
use crate::message::boundary::{boundaries, boundary_lines};
use crate::message::decode::base64;
use crate::message::decode::encoded_word::{self, Charset};
use crate::message::header::{self, Field};
use crate::message::spill::{self, Spill, Stop};
use crate::message::spool::Held;
use std::cell::Cell;
use std::ops::Range;

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

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::TooManyParts { limit } => write!(f, "more than {limit} MIME parts"),
            Problem::TooManyBoundaries { limit } => {
                write!(f, "more than {limit} distinct MIME boundaries")
            }
        }
    }
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
                // A bare file name may become the saved name; a URL (an MHTML page's
                // resources) names no attachment.
                let v = header::strip_comments(&f.value);
                let v = v.trim().trim_matches('"');
                if !v.is_empty() && !v.contains("://") {
                    names.push(v.rsplit('/').next().unwrap_or(v).to_string());
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
pub struct Decoded<'a> {
    pub data: Held<'a>,
    pub pure: bool,
}

/// Decodes a body as its part declares (every plausible way for `Unknown`), each
/// reading handed to `visit`; `remaining` is the shared output budget.
pub fn decode(
    part: &Part,
    remaining: &Cell<usize>,
    spill: &Spill,
    visit: &mut dyn FnMut(Decoded) -> bool,
) -> Result<(), Stop> {
    let b64 = matches!(part.encoding, Encoding::Base64)
        || (part.encoding == Encoding::Unknown && looks_base64(part.body));
    let q = matches!(part.encoding, Encoding::QuotedPrintable)
        || (part.encoding == Encoding::Unknown && memchr::memchr(b'=', part.body).is_some());
    if b64 {
        let (mut out, r) = spill::base64(part.body, remaining, spill)?;
        let pure = r.as_ref().is_ok_and(|junk| *junk == 0);
        if !visit(Decoded {
            data: out.to_bytes().map_err(Stop::Spill)?,
            pure,
        }) {
            return Ok(());
        }
        r?;
    }
    if q {
        let (mut out, r) = spill::qp(part.body, remaining, spill)?;
        if !matches!(r, Ok(false)) {
            visit(Decoded {
                data: out.to_bytes().map_err(Stop::Spill)?,
                pure: false,
            });
        }
        r?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::decode::qp;
    use crate::message::spill::PIECE;

    type Seen = (Vec<String>, Vec<String>, Encoding, Vec<u8>);

    fn parts(data: &[u8]) -> Vec<Seen> {
        let mut got = Vec::new();
        read(data, &[], 100, 5, &|_: &str, _: &[u8]| None, &mut |p| {
            got.push((
                p.names.clone(),
                p.types.clone(),
                p.encoding,
                p.body.to_vec(),
            ));
            true
        })
        .unwrap();
        got
    }

    #[test]
    fn unclosed_multipart_and_nested_message() {
        let m = b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\nContent-Disposition: attachment; filename=x.exe\r\n\r\ninner body";
        let got = parts(m);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[1].1, vec!["message/rfc822".to_string()]);
        assert_eq!(got[2].0, vec!["x.exe".to_string()]);
        assert_eq!(got[2].3, b"inner body");
    }

    #[test]
    fn every_boundary_declared_anywhere_splits() {
        let m = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nboundary = \"z\"\r\n--z\r\nContent-Transfer-Encoding: x-what\r\n\r\naGVsbG8gd29ybGQgYWdhaW4=\r\n--a--\r\n";
        let got = parts(m);
        let unknown = got.iter().find(|p| p.2 == Encoding::Unknown).unwrap();
        assert_eq!(unknown.3, b"aGVsbG8gd29ybGQgYWdhaW4=");
        let budget = std::cell::Cell::new(1000);
        let part = Part {
            names: vec![],
            types: vec![],
            words: vec![],
            encoding: Encoding::Unknown,
            body: &unknown.3,
            body_at: 0,
        };
        let mut out = Vec::new();
        decode(&part, &budget, &spill(1000), &mut |d| {
            out.push(d.data.to_vec());
            true
        })
        .unwrap();
        assert!(out.contains(&b"hello world again".to_vec()), "{out:?}");
    }

    fn spill(mem_limit: usize) -> Spill {
        Spill {
            dir: std::env::temp_dir(),
            mem_limit,
        }
    }

    /// Every reading of `body` with `encoding`, and whether each came from a file.
    fn readings(body: &[u8], encoding: Encoding, mem_limit: usize) -> Vec<(Vec<u8>, bool)> {
        let part = Part {
            names: vec![],
            types: vec![],
            words: vec![],
            encoding,
            body,
            body_at: 0,
        };
        let mut out = Vec::new();
        let budget = Cell::new(usize::MAX);
        decode(&part, &budget, &spill(mem_limit), &mut |d| {
            out.push((d.data.to_vec(), matches!(d.data, Held::Mapped(_))));
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn a_large_body_decodes_the_same_through_a_spill_file_whatever_its_lines() {
        // Quoted-printable escapes and soft breaks (with transport padding) at every offset
        // a piece could end on, on one line far longer than a piece, then on short lines.
        let mut qp_body = Vec::new();
        for i in 0..PIECE {
            // Seven bytes a round: a piece of 2^18 bytes ends one byte into an escape.
            qp_body.extend_from_slice(match i % 4 {
                0 => &b"=4"[..],
                1 => b"1",
                2 => b"=3D",
                _ => b"x",
            });
        }
        for i in 0..PIECE / 4 {
            qp_body.extend_from_slice(&b"soft break =E2=82=AC =  \r\n"[..21 + i % 6]);
        }
        let b64_body =
            base64::encode(&(0..=255u8).cycle().take(900_000).collect::<Vec<_>>(), 76).into_bytes();
        let mut qp_whole = Vec::new();
        qp::decode(&qp_body, &mut qp_whole, usize::MAX).unwrap();
        for (body, encoding, whole) in [
            (&qp_body, Encoding::QuotedPrintable, qp_whole),
            (&b64_body, Encoding::Base64, base64::decode_all(&b64_body)),
        ] {
            let on_heap = readings(body, encoding, usize::MAX);
            let in_file = readings(body, encoding, 1000);
            assert_eq!(in_file.len(), 1);
            assert!(!on_heap[0].1, "a body under the limit stays on the heap");
            assert!(in_file[0].1, "a body over the limit is read from a file");
            assert!(
                on_heap[0].0 == whole,
                "{encoding:?}: decoded in pieces differs"
            );
            assert!(
                in_file[0].0 == whole,
                "{encoding:?}: spilled reading differs"
            );
        }
    }

    #[test]
    fn too_many_boundaries_is_a_problem() {
        let mut m = Vec::new();
        for i in 0..=MAX_BOUNDARIES {
            m.extend_from_slice(format!("X: boundary=\"v{i}\"\r\n").as_bytes());
        }
        let r = read(&m, &[], 100, 5, &|_: &str, _: &[u8]| None, &mut |_| true);
        assert_eq!(
            r,
            Err(Problem::TooManyBoundaries {
                limit: MAX_BOUNDARIES
            })
        );
    }
}
