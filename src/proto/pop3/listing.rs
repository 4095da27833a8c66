//! The lines of a multi-line listing (CAPA, LIST, UIDL, AUTH, LANG) and of status lines,
//! checked against what the command's answer may hold and re-emitted with CRLF.
//!
//! A listing is forwarded line by line while it arrives, so a line the proxy passes on
//! must mean to the client exactly what it meant to the proxy. A server (or anyone on the
//! plaintext path to it) could otherwise end a LIST with `\r.\n`, which a client that
//! splits at CR reads as the end of the listing, and follow it with a fake
//! `+OK n octets` block that the client takes as the answer to its next RETR: unscanned
//! content. So listing lines must match their command's grammar, carry no control
//! characters, and go out ending in CRLF; anything else ends the session.
use crate::proto::lines::trim_eol;
use crate::proto::sasl;

use super::codec::Verb;

/// One checked listing line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The terminating `.` line.
    End,
    /// A valid line, re-encoded with CRLF, to forward.
    Keep(Vec<u8>),
    /// A valid line the client must not see (a capability or mechanism portcullis cannot
    /// follow).
    Drop,
}

/// A line that does not belong in the listing.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLine(pub String);

/// Text with no control characters but tab.
fn plain_text(b: &[u8]) -> bool {
    b.iter()
        .all(|&c| c == b'\t' || (0x20..0x7f).contains(&c) || c >= 0x80)
}

fn number<T: std::str::FromStr>(w: &[u8]) -> Option<T> {
    if w.is_empty() || !w.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(w).ok()?.parse().ok()
}

fn crlf(body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 2);
    v.extend_from_slice(body);
    v.extend_from_slice(b"\r\n");
    v
}

/// Checks one line of the listing answering `verb`.
pub fn check(verb: Verb, line: &[u8], allow_stls: bool) -> Result<Line, BadLine> {
    let body = trim_eol(line);
    let bad = |why: &str| {
        BadLine(format!(
            "{why} in a {verb:?} listing: {:?}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        ))
    };
    if body == b"." {
        return Ok(Line::End);
    }
    if !plain_text(body) {
        return Err(bad("control characters"));
    }
    if body.starts_with(b".") {
        return Err(bad("a dot-stuffed line"));
    }
    let mut words = body.split(|&b| b == b' ');
    let first = words.next().unwrap_or(b"");
    match verb {
        Verb::List => {
            let size = words.next().and_then(number::<u64>);
            if number::<u32>(first).is_none() || size.is_none() {
                return Err(bad("not `number size`"));
            }
        }
        Verb::Uidl => {
            let uid = words.next().unwrap_or(b"");
            let ok = number::<u32>(first).is_some()
                && (1..=70).contains(&uid.len())
                && uid.iter().all(|b| (0x21..0x7f).contains(b))
                && words.next().is_none();
            if !ok {
                return Err(bad("not `number unique-id`"));
            }
        }
        Verb::Capa => return Ok(capability(body, allow_stls)),
        Verb::Auth => {
            if body.contains(&b' ') {
                return Err(bad("not a mechanism name"));
            }
            let name = String::from_utf8_lossy(body);
            if !sasl::attributable(&name) {
                return Ok(Line::Drop);
            }
        }
        _ => {}
    }
    Ok(Line::Keep(crlf(body)))
}

/// CAPA lines the proxy can honour. Anything else (unknown extensions, SASL mechanisms
/// whose user portcullis cannot read) is removed, so the client never switches to
/// something opaque or unattributable.
fn capability(body: &[u8], allow_stls: bool) -> Line {
    let mut words = body.split(|&b| b == b' ');
    let word = words.next().unwrap_or(b"").to_ascii_uppercase();
    match word.as_slice() {
        b"TOP" | b"UIDL" | b"USER" | b"RESP-CODES" | b"PIPELINING" | b"AUTH-RESP-CODE"
        | b"EXPIRE" | b"LOGIN-DELAY" | b"IMPLEMENTATION" | b"UTF8" | b"LANG" => {
            Line::Keep(crlf(body))
        }
        b"STLS" if allow_stls => Line::Keep(crlf(body)),
        b"SASL" => {
            let mechs: Vec<&[u8]> = words
                .filter(|m| !m.is_empty() && sasl::attributable(&String::from_utf8_lossy(m)))
                .collect();
            if mechs.is_empty() {
                return Line::Drop;
            }
            let mut out = b"SASL".to_vec();
            for m in mechs {
                out.push(b' ');
                out.extend_from_slice(m);
            }
            Line::Keep(crlf(&out))
        }
        _ => Line::Drop,
    }
}

/// A status line as the client will see it: control characters inside it become spaces
/// (a bare CR could otherwise end the line early for some clients), and it ends in CRLF.
/// Cleaned in place: no copy of the line.
pub fn clean_status(mut line: Vec<u8>) -> Vec<u8> {
    let body = trim_eol(&line).len();
    line.truncate(body);
    for c in line.iter_mut() {
        if (*c < 0x20 && *c != b'\t') || *c == 0x7f {
            *c = b' ';
        }
    }
    line.extend_from_slice(b"\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(s: &[u8]) -> Result<Line, BadLine> {
        Ok(Line::Keep(s.to_vec()))
    }

    #[test]
    fn list_and_uidl_lines_must_match_their_grammar() {
        assert_eq!(
            check(Verb::List, b"1 20522\r\n", false),
            keep(b"1 20522\r\n")
        );
        assert_eq!(check(Verb::List, b"1 20522\n", false), keep(b"1 20522\r\n"));
        assert_eq!(
            check(Verb::Uidl, b"7 uid-7\r\n", false),
            keep(b"7 uid-7\r\n")
        );
        assert_eq!(check(Verb::List, b".\r\n", false), Ok(Line::End));
        for bad in [
            &b"1 100\r.\r\n"[..],
            b"+OK 50 octets\r\n",
            b"..\r\n",
            b"1\r\n",
            b"x 100\r\n",
            b"1 100\0\r\n",
            b"1 18446744073709551616\r\n",
        ] {
            assert!(check(Verb::List, bad, false).is_err(), "{bad:?}");
        }
        assert!(check(Verb::Uidl, b"1 a b\r\n", false).is_err());
        assert!(check(Verb::Uidl, b"1 \r\n", false).is_err());
    }

    #[test]
    fn capabilities_are_an_allow_list_and_sasl_keeps_only_attributable_mechanisms() {
        assert_eq!(check(Verb::Capa, b"UIDL\r\n", false), keep(b"UIDL\r\n"));
        assert_eq!(check(Verb::Capa, b"STLS\r\n", false), Ok(Line::Drop));
        assert_eq!(check(Verb::Capa, b"STLS\r\n", true), keep(b"STLS\r\n"));
        assert_eq!(check(Verb::Capa, b"X-UNKNOWN\r\n", true), Ok(Line::Drop));
        assert_eq!(
            check(
                Verb::Capa,
                b"SASL PLAIN CRAM-MD5 LOGIN SCRAM-SHA-1\r\n",
                false
            ),
            keep(b"SASL PLAIN LOGIN\r\n")
        );
        assert_eq!(
            check(Verb::Capa, b"SASL CRAM-MD5\r\n", false),
            Ok(Line::Drop)
        );
        assert_eq!(check(Verb::Auth, b"CRAM-MD5\r\n", false), Ok(Line::Drop));
        assert_eq!(check(Verb::Auth, b"PLAIN\r\n", false), keep(b"PLAIN\r\n"));
    }

    #[test]
    fn status_lines_lose_inner_control_characters() {
        assert_eq!(clean_status(b"+OK 1 100\r.\n".to_vec()), b"+OK 1 100 .\r\n");
        assert_eq!(clean_status(b"+OK fine\r\n".to_vec()), b"+OK fine\r\n");
    }
}
