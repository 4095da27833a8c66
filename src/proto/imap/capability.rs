//! The capability allow-list, applied to `* CAPABILITY` responses and to `[CAPABILITY ...]`
//! codes (greeting, tagged OK after LOGIN, AUTHENTICATE and STARTTLS). A capability passes
//! only if the proxy follows what it lets client and server do; anything unknown is
//! stripped. The README's IMAP section says what passes, what is stripped, and why.

/// What the driver handles beyond the base set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapabilityPolicy {
    /// Offer STARTTLS (the proxy terminates TLS towards the client on this listener).
    pub starttls: bool,
    /// Pass BINARY: the driver scans `~{n}` literals and `BINARY[]` fetches.
    pub binary: bool,
    /// Pass MULTIAPPEND: the driver holds and scans every message of one APPEND.
    pub multiappend: bool,
}

/// Capabilities passed as they are: none of them moves message content past the scan or
/// makes the stream opaque.
const PASS: &[&str] = &[
    "IMAP4REV1",
    "IMAP4REV2",
    "IDLE",
    "NAMESPACE",
    "UIDPLUS",
    "MOVE",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "ENABLE",
    "CONDSTORE",
    "QRESYNC",
    "ID",
    "CHILDREN",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "QUOTA",
    "QUOTASET",
    "SORT",
    "SORT=DISPLAY",
    "ESEARCH",
    "ESORT",
    "SEARCHRES",
    "WITHIN",
    "CONTEXT=SEARCH",
    "CONTEXT=SORT",
    "I18NLEVEL=1",
    "UNSELECT",
    "SASL-IR",
    "LOGINDISABLED",
    "LOGIN-REFERRALS",
    "MAILBOX-REFERRALS",
    "APPENDLIMIT",
    "SAVEDATE",
    "STATUS=SIZE",
    "OBJECTID",
    "ACL",
    "LIST-MYRIGHTS",
];

/// Prefixes passed with any value (`THREAD=REFERENCES`, `QUOTA=RES-STORAGE`, `APPENDLIMIT=n`,
/// `RIGHTS=texk`).
const PASS_PREFIX: &[&str] = &["THREAD=", "QUOTA=RES-", "APPENDLIMIT=", "RIGHTS="];

/// What to announce for one capability: itself, a replacement, or nothing.
pub fn allowed(cap: &str, policy: CapabilityPolicy) -> Option<&str> {
    let up = cap.to_ascii_uppercase();
    let pass = PASS.contains(&up.as_str())
        || PASS_PREFIX.iter().any(|p| up.starts_with(p))
        || (policy.starttls && up == "STARTTLS")
        || (policy.binary && up == "BINARY")
        || (policy.multiappend && up == "MULTIAPPEND")
        || up
            .strip_prefix("AUTH=")
            .is_some_and(crate::proto::sasl::attributable);
    if pass {
        return Some(cap);
    }
    // Non-synchronising literals only up to 4096 bytes: a larger literal waits for the
    // server's (or the proxy's) `+`, so an oversized one is refused before it is sent.
    (up == "LITERAL+" || up == "LITERAL-").then_some("LITERAL-")
}

/// The allowed subset of a capability list, in order, without duplicates.
pub fn filter<'a>(
    caps: impl IntoIterator<Item = &'a str>,
    policy: CapabilityPolicy,
) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for c in caps {
        if let Some(a) = allowed(c, policy)
            && !out.iter().any(|o| o.eq_ignore_ascii_case(a))
        {
            out.push(a);
        }
    }
    out
}

/// Rewrites a server line that carries a capability list (`* CAPABILITY ...`, or a status
/// response with a `[CAPABILITY ...]` code); `None` when the line carries none and passes
/// unchanged. The line's terminator is kept.
pub fn filter_line(line: &[u8], policy: CapabilityPolicy) -> Option<Vec<u8>> {
    let body_len = line.len() - eol_len(line);
    let (body, eol) = line.split_at(body_len);
    // Read as ASCII, one character per byte (others as '?'), so that a line with 8-bit
    // text is filtered too; what is kept around the list is copied from the line itself.
    let text: String = body
        .iter()
        .map(|&b| if b.is_ascii() { b as char } else { '?' })
        .collect();
    let text = text.as_str();
    let mut words = text.splitn(3, ' ');
    let (first, second) = (words.next()?, words.next()?);
    let rest = words.next().unwrap_or("");
    let (head, list, tail) = if first == "*" && second.eq_ignore_ascii_case("CAPABILITY") {
        (&text[..text.len() - rest.len()], rest, "")
    } else if matches!(
        second.to_ascii_uppercase().as_str(),
        "OK" | "NO" | "BAD" | "PREAUTH" | "BYE"
    ) {
        let code = rest.strip_prefix('[')?;
        let name = code.split([' ', ']']).next()?;
        if !name.eq_ignore_ascii_case("CAPABILITY") {
            return None;
        }
        let end = code.find(']')?;
        let start = text.len() - rest.len() + 1 + name.len();
        (&text[..start], &code[name.len()..end], &code[end..])
    } else {
        return None;
    };
    let kept = filter(list.split_ascii_whitespace(), policy);
    let mut out = Vec::with_capacity(line.len());
    out.extend_from_slice(&body[..head.trim_end().len()]);
    for c in kept {
        out.push(b' ');
        out.extend_from_slice(c.as_bytes());
    }
    out.extend_from_slice(&body[body.len() - tail.len()..]);
    out.extend_from_slice(eol);
    Some(out)
}

fn eol_len(line: &[u8]) -> usize {
    if line.ends_with(b"\r\n") {
        2
    } else if line.ends_with(b"\n") {
        1
    } else {
        0
    }
}

#[cfg(test)]
#[path = "capability_tests.rs"]
mod tests;
