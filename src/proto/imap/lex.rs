//! A lenient IMAP tokenizer over the lines of one command or response, for the few things
//! the proxy reads. It never fails: what it cannot read becomes an atom, and the bytes
//! themselves are forwarded untouched whatever the tokens say.
//!
//! imap-codec's decoders are not used here: they need a whole message in memory,
//! literals included (a FETCH body or APPEND message is streamed instead), and they
//! refuse bytes real servers send (NUL in literals); the proxy must classify those too.

/// Longest atom or quoted string kept; longer ones are cut (the bytes still pass).
const MAX_TOKEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A run of non-special bytes. Brackets are kept whole with what they enclose, so
    /// `BODY.PEEK[HEADER.FIELDS (From)]<0.10>` and `[UIDVALIDITY 3]` are one atom each.
    Atom(Vec<u8>),
    Quoted(Vec<u8>),
    /// A literal announced at the end of a line; `data` when the caller had it in memory.
    Literal {
        size: u64,
        /// `~{n}` (RFC 3516 literal8).
        binary: bool,
        data: Option<Vec<u8>>,
    },
    Open,
    Close,
}

impl Tok {
    /// The atom, upper-cased, or `None` for other tokens.
    pub fn upper(&self) -> Option<String> {
        match self {
            Tok::Atom(a) => Some(String::from_utf8_lossy(a).to_ascii_uppercase()),
            _ => None,
        }
    }

    /// An atom, quoted string or in-memory literal as text (for names: mailboxes, users).
    pub fn text(&self) -> Option<String> {
        let b = match self {
            Tok::Atom(b) | Tok::Quoted(b) => b,
            Tok::Literal { data: Some(b), .. } => b,
            _ => return None,
        };
        Some(String::from_utf8_lossy(b).into_owned())
    }

    pub fn number(&self) -> Option<u64> {
        match self {
            Tok::Atom(a) if !a.is_empty() && a.len() <= 19 => {
                std::str::from_utf8(a).ok()?.parse().ok()
            }
            _ => None,
        }
    }
}

/// The text of `line` before its terminator and literal announce, and the announce's
/// size (`{n}`, `{n+}`, `~{n}`) and whether it is `~{n}`.
pub fn split_line(line: &[u8]) -> (&[u8], Option<(u64, bool)>) {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let Some(inner) = body.strip_suffix(b"}") else {
        return (body, None);
    };
    let inner = inner.strip_suffix(b"+").unwrap_or(inner);
    let digits = inner
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let (head, num) = inner.split_at(inner.len() - digits);
    match head.strip_suffix(b"{") {
        Some(head) if !num.is_empty() => {
            let (head, binary) = match head.strip_suffix(b"~") {
                Some(h) => (h, true),
                None => (head, false),
            };
            let size = num.iter().fold(0u64, |n, d| {
                n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
            });
            (head, Some((size, binary)))
        }
        _ => (body, None),
    }
}

/// Appends the tokens of one line (terminator and announce included, see [`split_line`])
/// to `out`; an announce becomes a `Literal` token without data.
pub fn tokenize_line(line: &[u8], out: &mut Vec<Tok>) {
    let (text, announce) = split_line(line);
    tokenize(text, out);
    if let Some((size, binary)) = announce {
        out.push(Tok::Literal {
            size,
            binary,
            data: None,
        });
    }
}

/// Gives the last announced literal its bytes.
pub fn attach_literal(out: &mut [Tok], bytes: &[u8]) {
    if let Some(Tok::Literal { data, .. }) = out.last_mut() {
        *data = Some(bytes.to_vec());
    }
}

/// Tokens of a line's text (no terminator, no announce).
pub fn tokenize(text: &[u8], out: &mut Vec<Tok>) {
    spans(text, &mut |t, _| out.push(t));
}

/// Calls `each` with every token of `text` and the byte range it came from.
pub fn spans(text: &[u8], each: &mut dyn FnMut(Tok, std::ops::Range<usize>)) {
    let mut i = 0;
    while i < text.len() {
        let start = i;
        let tok = match text[i] {
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::Open
            }
            b')' => {
                i += 1;
                Tok::Close
            }
            b'"' => {
                let (q, end) = quoted(&text[i + 1..]);
                i += 1 + end;
                Tok::Quoted(q)
            }
            _ => {
                let end = atom_end(&text[i..]);
                let a = &text[i..i + end];
                i += end;
                Tok::Atom(a[..a.len().min(MAX_TOKEN)].to_vec())
            }
        };
        each(tok, start..i);
    }
}

/// The bytes of a quoted string (or nothing for NIL).
pub fn unquote(v: &[u8]) -> Vec<u8> {
    let Some(inner) = v.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut esc = false;
    for &b in inner {
        if b == b'\\' && !esc {
            esc = true;
            continue;
        }
        esc = false;
        out.push(b);
    }
    out
}

/// The unescaped string and how many bytes it took, closing quote included.
fn quoted(s: &[u8]) -> (Vec<u8>, usize) {
    let mut v = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => return (v, i + 1),
            b'\\' if i + 1 < s.len() => {
                i += 1;
                if v.len() < MAX_TOKEN {
                    v.push(s[i]);
                }
            }
            b => {
                if v.len() < MAX_TOKEN {
                    v.push(b);
                }
            }
        }
        i += 1;
    }
    (v, s.len())
}

fn atom_end(s: &[u8]) -> usize {
    let mut depth = 0usize;
    for (i, &b) in s.iter().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' if depth > 0 => depth -= 1,
            b' ' | b'(' | b')' | b'"' | b'\t' if depth == 0 => return i.max(1),
            _ => {}
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(s: &str) -> Tok {
        Tok::Atom(s.as_bytes().to_vec())
    }

    #[test]
    fn brackets_stay_in_their_atom() {
        let mut t = Vec::new();
        tokenize_line(
            b"a FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From To)]<0.10> \"x\\\"y\") {3+}\r\n",
            &mut t,
        );
        assert_eq!(
            t,
            vec![
                atom("a"),
                atom("FETCH"),
                atom("1:*"),
                Tok::Open,
                atom("UID"),
                atom("BODY.PEEK[HEADER.FIELDS (From To)]<0.10>"),
                Tok::Quoted(b"x\"y".to_vec()),
                Tok::Close,
                Tok::Literal {
                    size: 3,
                    binary: false,
                    data: None
                },
            ]
        );
    }

    #[test]
    fn split_line_reads_every_announce_form() {
        assert_eq!(split_line(b"x {5}\r\n"), (&b"x "[..], Some((5, false))));
        assert_eq!(split_line(b"x ~{5+}\n"), (&b"x "[..], Some((5, true))));
        assert_eq!(split_line(b"x {}\r\n"), (&b"x {}"[..], None));
        assert_eq!(split_line(b"x\r\n"), (&b"x"[..], None));
    }

    #[test]
    fn unquote_undoes_quoting_and_nil_is_empty() {
        assert_eq!(unquote(br#""a\"b\\c""#), br#"a"b\c"#);
        assert_eq!(unquote(b"\"\""), b"");
        assert_eq!(unquote(b"NIL"), b"");
        assert_eq!(unquote(b"\"unterminated"), b"");
    }
}
