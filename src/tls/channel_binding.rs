//! Channel-bound SASL mechanisms (RFC 5056: SCRAM-*-PLUS of RFC 5802/7677, GS2-*-PLUS of
//! RFC 5801) bind the login to the TLS channel the client sees. Behind interception that
//! channel ends at portcullis, so the binding would fail or, worse, be downgraded by the
//! client; they are removed from what the client is offered. Pure functions over one
//! capability line; the protocol drivers call them on an intercepted session.

/// Every `-PLUS` mechanism is channel bound by its definition (RFC 5801 section 4).
pub fn is_channel_bound(mech: &str) -> bool {
    let m = mech.as_bytes();
    m.len() > 5 && m[m.len() - 5..].eq_ignore_ascii_case(b"-PLUS")
}

/// One SMTP EHLO keyword line (`AUTH m..`, the old `AUTH=m m..`) or POP3 CAPA line
/// (`SASL m..`), without the reply code. Lines of other keywords come back unchanged; an
/// AUTH/SASL line left without mechanisms comes back `None` (drop it).
pub fn strip_mechanism_line(line: &str) -> Option<String> {
    let mut words = line.split_ascii_whitespace();
    let Some(first) = words.next() else {
        return Some(line.to_string());
    };
    let (keyword, first_mech) = match first.split_once('=') {
        Some((k, m)) if k.eq_ignore_ascii_case("AUTH") => (&first[..k.len() + 1], Some(m)),
        _ if first.eq_ignore_ascii_case("AUTH") || first.eq_ignore_ascii_case("SASL") => {
            (first, None)
        }
        _ => return Some(line.to_string()),
    };
    let mechs: Vec<&str> = first_mech
        .into_iter()
        .chain(words)
        .filter(|m| !m.is_empty() && !is_channel_bound(m))
        .collect();
    if mechs.is_empty() {
        return None;
    }
    Some(if keyword.ends_with('=') {
        format!("{keyword}{}", mechs.join(" "))
    } else {
        format!("{keyword} {}", mechs.join(" "))
    })
}

/// An IMAP capability list (`IMAP4rev1 AUTH=m ..`): drops each channel-bound `AUTH=`.
pub fn strip_imap_capabilities(caps: &str) -> String {
    caps.split_ascii_whitespace()
        .filter(|c| match c.split_once('=') {
            Some((k, m)) if k.eq_ignore_ascii_case("AUTH") => !is_channel_bound(m),
            _ => true,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_mechanisms_are_bound() {
        for m in ["SCRAM-SHA-1-PLUS", "scram-sha-256-plus", "GS2-KRB5-PLUS"] {
            assert!(is_channel_bound(m), "{m}");
        }
        for m in ["SCRAM-SHA-256", "PLAIN", "PLUS", "-PLUS", "XOAUTH2"] {
            assert!(!is_channel_bound(m), "{m}");
        }
    }

    #[test]
    fn smtp_and_pop3_lines() {
        assert_eq!(
            strip_mechanism_line("AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN").as_deref(),
            Some("AUTH SCRAM-SHA-256 PLAIN")
        );
        assert_eq!(
            strip_mechanism_line("SASL PLAIN scram-sha-1-plus").as_deref(),
            Some("SASL PLAIN")
        );
        assert_eq!(
            strip_mechanism_line("AUTH=SCRAM-SHA-1-PLUS LOGIN").as_deref(),
            Some("AUTH=LOGIN")
        );
        assert_eq!(strip_mechanism_line("AUTH SCRAM-SHA-1-PLUS"), None);
        assert_eq!(strip_mechanism_line("auth=GS2-KRB5-PLUS"), None);
        assert_eq!(
            strip_mechanism_line("PIPELINING").as_deref(),
            Some("PIPELINING")
        );
        assert_eq!(
            strip_mechanism_line("AUTHX FOO-PLUS").as_deref(),
            Some("AUTHX FOO-PLUS")
        );
    }

    #[test]
    fn imap_capabilities() {
        assert_eq!(
            strip_imap_capabilities(
                "IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256 AUTH=PLAIN ID"
            ),
            "IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256 AUTH=PLAIN ID"
        );
    }
}
