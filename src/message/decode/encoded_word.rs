//! RFC 2047 encoded words (`=?charset?B|Q?text?=`) and RFC 2231 extended parameter
//! values (`charset'lang'%XX...`), turned into text through a caller's charset table.
use super::{base64, qp};

/// Turns bytes in a named charset into text; `None` when the charset is unknown.
pub type Charset<'a> = &'a dyn Fn(&str, &[u8]) -> Option<String>;

/// Longest header value decoded here; names and parameters are far shorter.
const MAX_VALUE: usize = 64 * 1024;

fn to_text(charset: Charset, name: &str, bytes: &[u8]) -> String {
    let name = name.split('*').next().unwrap_or(name);
    charset(name, bytes).unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

/// Replaces every encoded word in `value` by its text; whitespace between two adjacent
/// encoded words disappears, as RFC 2047 says.
pub fn decode_words(value: &str, charset: Charset) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(p) = rest.find("=?") {
        let (before, tail) = rest.split_at(p);
        let Some((text, len)) = one_word(tail, charset) else {
            out.push_str(&rest[..p + 2]);
            rest = &rest[p + 2..];
            after_word = false;
            continue;
        };
        if !(after_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        out.push_str(&text);
        rest = &tail[len..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

/// Decodes the encoded word at the start of `s`; returns its text and its length.
fn one_word(s: &str, charset: Charset) -> Option<(String, usize)> {
    let body = s.strip_prefix("=?")?;
    let q1 = body.find('?')?;
    let cs = &body[..q1];
    let enc = body.get(q1 + 1..q1 + 2)?;
    if body.get(q1 + 2..q1 + 3)? != "?" {
        return None;
    }
    let text_start = q1 + 3;
    let end = body[text_start..].find("?=")? + text_start;
    let text = &body.as_bytes()[text_start..end];
    let mut bytes = Vec::new();
    match enc {
        "B" | "b" => {
            base64::decode(text, &mut bytes, MAX_VALUE).ok()?;
        }
        "Q" | "q" => qp::decode_q(text, &mut bytes, MAX_VALUE).ok()?,
        _ => return None,
    }
    Some((to_text(charset, cs, &bytes), 2 + end + 2))
}

/// Decodes an RFC 2231 value of a `name*` parameter: `charset'language'percent-text`.
/// Without the two quotes the whole value is percent-decoded as UTF-8.
pub fn decode_extended(value: &str, charset: Charset) -> String {
    let mut parts = value.splitn(3, '\'');
    let (cs, text) = match (parts.next(), parts.next(), parts.next()) {
        (Some(cs), Some(_lang), Some(text)) => (cs, text),
        _ => ("utf-8", value),
    };
    to_text(charset, cs, &percent_decode(text))
}

/// `%XX` escapes to bytes; anything else is kept.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = b.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8_only(cs: &str, b: &[u8]) -> Option<String> {
        cs.eq_ignore_ascii_case("utf-8")
            .then(|| String::from_utf8_lossy(b).into_owned())
    }

    #[test]
    fn words_in_b_and_q_with_adjacent_whitespace_dropped() {
        assert_eq!(
            decode_words("=?utf-8?B?cnVu?= =?UTF-8?q?=2Ebat?=", &utf8_only),
            "run.bat"
        );
        assert_eq!(decode_words("a =?x?Q?b?= c", &utf8_only), "a b c");
        assert_eq!(decode_words("=?broken", &utf8_only), "=?broken");
    }

    #[test]
    fn extended_values() {
        assert_eq!(decode_extended("utf-8''run%2Ebat", &utf8_only), "run.bat");
        assert_eq!(decode_extended("run%2Ebat", &utf8_only), "run.bat");
    }
}
