//! A forgiving reader of MIME header blocks, independent of any parser: field names with
//! whitespace or comments before the colon, folded values, RFC 822 comments anywhere,
//! parameters in any order and repeated, RFC 2231 continuations and encoded words in
//! names. It answers what a lenient client could take from a header, every candidate.
use crate::message::decode::encoded_word::{self, Charset};

/// Longest header block read; past it the block ends where the reading stopped.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;

/// One field: its name lowercased without comments or whitespace, its unfolded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// The field name of a header line, if the line is a field (`Name (c) : value`).
fn field_name(line: &[u8]) -> Option<(String, usize)> {
    let colon = memchr::memchr(b':', &line[..line.len().min(256)])?;
    let name = strip_comments(&String::from_utf8_lossy(&line[..colon]));
    let name = name.trim();
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_graphic() && c != b':' && c != b'(' && c != b')');
    ok.then(|| (name.to_ascii_lowercase(), colon + 1))
}

/// Whether `data` starts with a header field line.
pub fn starts_with_field(data: &[u8]) -> bool {
    let end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let line = &data[..end];
    !line.first().is_some_and(|c| c.is_ascii_whitespace()) && field_name(line).is_some()
}

/// Reads the header block at the start of `data`: its fields and where the body starts.
/// A block that does not start with a field (or a blank line) is no block at all; an
/// mbox `From ` line before it is skipped; a line that is neither a field nor a
/// continuation ends it (the body starts there).
pub fn parse_block(data: &[u8]) -> (Vec<Field>, usize) {
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = 0;
    if data.starts_with(b"From ") || data.starts_with(b">From ") {
        pos = memchr::memchr(b'\n', data).map_or(data.len(), |e| e + 1);
    }
    let limit = data.len().min(MAX_HEADER_BYTES);
    while pos < limit {
        let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |e| pos + e);
        let line = &data[pos..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let next = (end + 1).min(data.len());
        if line.trim_ascii().is_empty() {
            return (fields, next);
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(f) = fields.last_mut() {
                f.value.push(' ');
                f.value
                    .push_str(String::from_utf8_lossy(line.trim_ascii()).as_ref());
            }
        } else if let Some((name, at)) = field_name(line) {
            fields.push(Field {
                name,
                value: String::from_utf8_lossy(line[at..].trim_ascii()).into_owned(),
            });
        } else {
            let body = if fields.is_empty() { 0 } else { pos };
            return (fields, body);
        }
        pos = next;
    }
    (fields, pos.min(data.len()))
}

/// Removes RFC 822 comments `( ... )` (nested, with `\` escapes) outside quoted strings.
pub fn strip_comments(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in v.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// A structured value (`type/subtype; key=value; ...`): the lowercased first token and
/// every parameter in order, names lowercased, quoted values unquoted.
pub fn parse_structured(value: &str) -> (String, Vec<(String, String)>) {
    let clean = strip_comments(value);
    let mut items = split_unquoted(&clean, ';').into_iter();
    let first = items.next().unwrap_or_default();
    let first: String = first.split_whitespace().collect::<Vec<_>>().join("");
    let mut params = Vec::new();
    for item in items {
        let Some((k, v)) = item.split_once('=') else {
            continue;
        };
        let k: String = k
            .split_whitespace()
            .collect::<String>()
            .to_ascii_lowercase();
        params.push((k, unquote(v.trim())));
    }
    (first.trim_matches('"').to_ascii_lowercase(), params)
}

fn split_unquoted(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(String::new());
            continue;
        }
        out.last_mut().expect("one").push(c);
    }
    out
}

fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"') else {
        return v.to_string();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(c);
    }
    out
}

/// Every file name a client could take from these parameters: `name` and `filename`, plain,
/// with encoded words, RFC 2231 extended (`name*`) and continued (`name*0`, `name*1*`).
pub fn name_candidates(params: &[(String, String)], charset: Charset, out: &mut Vec<String>) {
    for base in ["name", "filename"] {
        let mut sections: Vec<(u32, bool, &str)> = Vec::new();
        for (k, v) in params {
            let Some(rest) = k.strip_prefix(base) else {
                continue;
            };
            if rest.is_empty() {
                out.push(v.clone());
                let decoded = encoded_word::decode_words(v, charset);
                if decoded != *v {
                    out.push(decoded);
                }
            } else if rest == "*" {
                out.push(encoded_word::decode_extended(v, charset));
            } else if let Some(idx) = rest.strip_prefix('*') {
                let (idx, ext) = match idx.strip_suffix('*') {
                    Some(i) => (i, true),
                    None => (idx, false),
                };
                if let Ok(i) = idx.parse::<u32>() {
                    sections.push((i, ext, v));
                }
            }
        }
        if sections.is_empty() {
            continue;
        }
        sections.sort_by_key(|s| s.0);
        let mut joined = String::new();
        let mut raw = String::new();
        for (i, ext, v) in &sections {
            raw.push_str(v);
            if *ext {
                let value = if *i == 0 {
                    v.to_string()
                } else {
                    format!("\'\'{v}")
                };
                joined.push_str(&encoded_word::decode_extended(&value, charset));
            } else {
                joined.push_str(v);
            }
        }
        out.push(joined);
        out.push(raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(_: &str, b: &[u8]) -> Option<String> {
        Some(String::from_utf8_lossy(b).into_owned())
    }

    #[test]
    fn comments_and_whitespace_around_names_and_values() {
        let raw =
            b"Content-Type (x) : multipart/mixed (y); boundary=(z)\"b\"\r\n\tfoo=bar\r\n\r\nbody";
        let (f, body) = parse_block(raw);
        assert_eq!(f[0].name, "content-type");
        assert_eq!(&raw[body..], b"body");
        let (t, p) = parse_structured(&f[0].value.replace(" foo", "; foo"));
        assert_eq!(t, "multipart/mixed");
        assert_eq!(p[0], ("boundary".into(), "b".into()));
        assert_eq!(p[1], ("foo".into(), "bar".into()));
    }

    #[test]
    fn mbox_line_and_a_missing_blank_line() {
        let (f, body) = parse_block(b"From a@b Mon Nov 30 23:13:21 2026\nSubject: x\n\nbody");
        assert_eq!(f[0].name, "subject");
        assert_eq!(body, 46);
        let raw = b"Content-Transfer-Encoding: base64\r\naGVsbG8=\r\n";
        let (f, body) = parse_block(raw);
        assert_eq!(f.len(), 1);
        assert_eq!(&raw[body..], b"aGVsbG8=\r\n");
    }

    #[test]
    fn not_a_header_block() {
        assert_eq!(parse_block(b"hello world\r\n\r\nx").1, 0);
        assert_eq!(parse_block(b"\r\nbody").1, 2);
        assert!(!starts_with_field(b"just text"));
        assert!(starts_with_field(b"Subject: x"));
    }

    #[test]
    fn every_name_candidate() {
        let (_, p) = parse_structured(
            "attachment; filename=\"a.txt\"; filename*=utf-8''b%2Eexe; name*0=\"c\"; name*1*=%2Ebat; name=\"=?utf-8?Q?d=2Ecmd?=\"",
        );
        let mut names = Vec::new();
        name_candidates(&p, &cs, &mut names);
        for want in ["a.txt", "b.exe", "c.bat", "d.cmd"] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
    }
}
