//! Where a message's MIME parts begin, read without trusting its structure: every
//! boundary value declared anywhere (quoted, commented, RFC 2231), and every line that
//! starts with `--` and one of them.
use crate::message::header;
use crate::message::loose::{MAX_BOUNDARIES, Problem};
use aho_corasick::{AhoCorasick, Anchored, Input, StartKind};
use std::ops::Range;
use std::sync::OnceLock;

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
pub(crate) fn outside<'a>(
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
pub(crate) fn boundaries(data: &[u8], skip: &[Range<usize>]) -> Result<Vec<Vec<u8>>, Problem> {
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
        let value = value.trim().as_bytes();
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
pub(crate) fn boundary_lines(
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
