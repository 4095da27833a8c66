//! What the proxy asks the server for when a client FETCH asks for message content, and
//! how the answer is put back into the form the client asked for.
//!
//! A section or a partial range of a message cannot be judged on its own: the proxy asks
//! for the whole message instead (`BODY[]` when the client's item sets `\Seen`, so the
//! command keeps its effect on the server, else `BODY.PEEK[]`), judges it once, and serves
//! the client's items from the safe version. `UID` is always asked for, so the verdict can
//! be remembered per message. Header-only items (`HEADER`, `HEADER.FIELDS`, `MIME`,
//! `RFC822.HEADER`) carry no content a scanner judges and pass from the server as they are.
use super::items::{Item, ItemKind, SectionText, parse_item};
use super::lex::{Tok, spans, split_line};

/// What a rewritten FETCH expects back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The proxy added a whole-message item (`BODY[]`/`BODY.PEEK[]`) the client did not
    /// ask for: its value is removed from every response.
    pub added_whole: bool,
    /// The client's items the server was not asked for: served from the safe version.
    pub served: Vec<Item>,
    /// The items are served from the session's copy of the message, which the server is
    /// not asked for again.
    pub from_copy: bool,
    /// The proxy asked for `BODY[]<0.1>` only for its effect (`\Seen`, as the client's
    /// item would set it); its value is removed from the response.
    pub probe: bool,
    /// Served from the copy with nothing asked of the server but `UID`: the proxy may
    /// answer the command itself, sparing a round trip per range.
    pub local: bool,
}

impl Plan {
    /// Whether responses must be matched to this command (only one such FETCH may be in
    /// flight at a time).
    pub fn reshapes(&self) -> bool {
        self.added_whole || self.probe || !self.served.is_empty()
    }
}

/// An item whose value passes from the server unchanged although it is message data.
pub fn header_only(item: &Item) -> bool {
    match item.kind {
        ItemKind::Rfc822Header => true,
        ItemKind::Body | ItemKind::BodyPeek => matches!(
            item.section.as_ref().and_then(|s| s.text.as_ref()),
            Some(SectionText::Header | SectionText::HeaderFields { .. } | SectionText::Mime)
        ),
        _ => false,
    }
}

/// An item the proxy serves from the safe version instead of asking the server.
/// `replaced`: the message is known to be replaced, so even its header comes from the
/// notice (the original's header may hold what the engines flagged).
fn served_by_proxy(item: &Item, replaced: bool) -> bool {
    item.carries_content() && !item.is_whole_message() && (replaced || !header_only(item))
}

/// What the session knows of the message a FETCH names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Known {
    /// The session holds it (see `copy`): pieces are served from there.
    pub have_copy: bool,
    /// Its verdict is remembered and replaces it: header-only items are served from the
    /// notice, not passed from the server.
    pub replaced: bool,
}

/// Whether fetching `item` sets `\Seen` on the server.
fn sets_seen(item: &Item) -> bool {
    matches!(
        item.kind,
        ItemKind::Body | ItemKind::Binary | ItemKind::Rfc822 | ItemKind::Rfc822Text
    )
}

/// The FETCH command line as it goes to the server, and its plan; `None` when the line
/// passes unchanged (no content asked for, or an item list the proxy cannot read).
/// With `known.have_copy` pieces are served from the session's copy and the server is not
/// asked for the whole message again.
pub fn rewrite(line: &[u8], known: Known) -> Option<(Vec<u8>, Plan)> {
    let have_copy = known.have_copy;
    let (text, announce) = split_line(line);
    if announce.is_some() {
        return None;
    }
    let eol = &line[text.len()..];
    let mut toks = Vec::new();
    spans(text, &mut |t, r| toks.push((t, r)));
    let name_at = match toks.get(1).map(|(t, _)| t.upper()) {
        Some(Some(u)) if u == "UID" => 2,
        _ => 1,
    };
    // tag [UID] FETCH set items...
    let first = name_at + 2;
    let (items, list) = match toks.get(first) {
        Some((Tok::Open, _)) => {
            let close = matching_close(&toks[first..])? + first;
            (
                &toks[first + 1..close],
                Some((toks[first].1.start, toks[close].1.end)),
            )
        }
        Some((Tok::Atom(_), r)) => (&toks[first..first + 1], Some((r.start, r.end))),
        _ => return None,
    };
    let (start, end) = list?;
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut plan = Plan::default();
    let (mut uid, mut seen, mut content) = (false, false, false);
    // The client's own whole-message items: where in `kept`, and whether one sets \Seen.
    let (mut peek_whole, mut seen_whole) = (None, false);
    let mut i = 0;
    while i < items.len() {
        let (Tok::Atom(a), r) = &items[i] else {
            return None;
        };
        i += 1;
        // An item's parenthesised arguments (`SNIPPET (FUZZY)`) go with it.
        let mut r = r.clone();
        if let Some((Tok::Open, _)) = items.get(i) {
            let close = matching_close(&items[i..])? + i;
            r.end = items[close].1.end;
            i = close + 1;
        }
        let item = parse_item(a);
        content |= item.carries_content();
        uid |= matches!(&item.kind, ItemKind::Other(o) if o == "UID");
        if served_by_proxy(&item, known.replaced) {
            seen |= sets_seen(&item);
            plan.served.push(item);
            continue;
        }
        if item.is_whole_message() {
            seen_whole |= sets_seen(&item);
            if item.kind == ItemKind::BodyPeek {
                peek_whole = peek_whole.or(Some(kept.len()));
            }
        }
        kept.push(&text[r.clone()]);
    }
    if !content {
        return None;
    }
    if !plan.served.is_empty() && !seen_whole && peek_whole.is_none() && have_copy {
        plan.from_copy = true;
        let modifiers = text[end..].iter().any(|b| !b.is_ascii_whitespace());
        plan.local = !seen && !modifiers && kept.iter().all(|k| k.eq_ignore_ascii_case(b"UID"));
        if seen {
            kept.push(b"BODY[]<0.1>");
            plan.probe = true;
        }
    } else if !plan.served.is_empty() && !seen_whole {
        match peek_whole {
            // The client's own BODY.PEEK[] becomes BODY[]: one value, and \Seen set as
            // the client's other item would set it.
            Some(i) if seen => kept[i] = b"BODY[]",
            Some(_) => {}
            None => {
                kept.push(if seen { b"BODY[]" } else { b"BODY.PEEK[]" });
                plan.added_whole = true;
            }
        }
    }
    if !uid {
        kept.insert(0, b"UID");
    }
    let mut out = Vec::with_capacity(line.len() + 24);
    out.extend_from_slice(&text[..start]);
    out.push(b'(');
    out.extend_from_slice(&kept.join(&b' '));
    out.push(b')');
    out.extend_from_slice(&text[end..]);
    out.extend_from_slice(eol);
    Some((out, plan))
}

/// Where the parenthesis opened by `toks[0]` closes.
fn matching_close(toks: &[(Tok, std::ops::Range<usize>)]) -> Option<usize> {
    let mut depth = 0usize;
    for (i, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// How the server names `item` in a FETCH response: `BODY[1.2]<0>` for
/// `BODY.PEEK[1.2]<0.100>` (RFC 9051 7.5.2: the origin only, PEEK dropped).
pub fn response_name(item: &Item) -> String {
    let kind = match &item.kind {
        ItemKind::Body | ItemKind::BodyPeek => "BODY",
        ItemKind::Binary | ItemKind::BinaryPeek => "BINARY",
        ItemKind::Rfc822 => return "RFC822".into(),
        ItemKind::Rfc822Header => return "RFC822.HEADER".into(),
        ItemKind::Rfc822Text => return "RFC822.TEXT".into(),
        ItemKind::Other(o) => return o.clone(),
    };
    let mut s = format!("{kind}[");
    if let Some(sec) = &item.section {
        let parts: Vec<String> = sec.parts.iter().map(u32::to_string).collect();
        s.push_str(&parts.join("."));
        let text = match &sec.text {
            None => None,
            Some(SectionText::Header) => Some("HEADER".to_string()),
            Some(SectionText::Text) => Some("TEXT".to_string()),
            Some(SectionText::Mime) => Some("MIME".to_string()),
            Some(SectionText::HeaderFields { not, fields }) => Some(format!(
                "HEADER.FIELDS{} ({})",
                if *not { ".NOT" } else { "" },
                fields.join(" ")
            )),
        };
        if let Some(t) = text {
            if !sec.parts.is_empty() {
                s.push('.');
            }
            s.push_str(&t);
        }
    }
    s.push(']');
    if let Some(p) = item.partial {
        s.push_str(&format!("<{}>", p.origin));
    }
    s
}

/// The `BODY[]<0>` value of the proxy's `BODY[]<0.1>`.
pub fn is_probe(item: &Item) -> bool {
    item.kind == ItemKind::Body
        && item
            .section
            .as_ref()
            .is_some_and(|s| s.parts.is_empty() && s.text.is_none())
        && item.partial.is_some_and(|p| p.origin == 0)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
