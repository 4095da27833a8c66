//! FETCH item names, as a client asks for them (`BODY.PEEK[2.1]<0.100>`) and as a server
//! answers (`BODY[2.1]<0>`): which ones carry message content, their section and range.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// `BODY[...]` (sets `\Seen` when fetched).
    Body,
    /// `BODY.PEEK[...]`.
    BodyPeek,
    /// `BINARY[...]` (RFC 3516: decoded content).
    Binary,
    BinaryPeek,
    /// `RFC822` (like `BODY[]`), `RFC822.HEADER`, `RFC822.TEXT`.
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    /// Anything else (`UID`, `FLAGS`, `ENVELOPE`, `BODYSTRUCTURE`, `RFC822.SIZE`, macros),
    /// upper-cased.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields { not: bool, fields: Vec<String> },
    Text,
    Mime,
}

/// A section spec: part numbers (`2.1`) and an optional text part. `[]` is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub parts: Vec<u32>,
    pub text: Option<SectionText>,
}

/// `<origin.count>` in a command; a response carries the origin only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub origin: u64,
    pub count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: ItemKind,
    /// The section for `BODY`/`BINARY` items; `None` for `BODY` without brackets (the
    /// structure, not content) and for the others.
    pub section: Option<Section>,
    pub partial: Option<Partial>,
}

impl Item {
    /// Whether the item's value is message content that must be scanned.
    pub fn carries_content(&self) -> bool {
        match self.kind {
            ItemKind::Body | ItemKind::BodyPeek | ItemKind::Binary | ItemKind::BinaryPeek => {
                self.section.is_some()
            }
            ItemKind::Rfc822 | ItemKind::Rfc822Header | ItemKind::Rfc822Text => true,
            ItemKind::Other(_) => false,
        }
    }

    /// The whole message, unchanged (`BODY[]`, `BODY.PEEK[]`, `RFC822`, `BINARY[]`
    /// without a range).
    pub fn is_whole_message(&self) -> bool {
        let whole_section = self
            .section
            .as_ref()
            .is_some_and(|s| s.parts.is_empty() && s.text.is_none());
        self.partial.is_none()
            && match self.kind {
                ItemKind::Rfc822 => true,
                ItemKind::Body | ItemKind::BodyPeek | ItemKind::Binary | ItemKind::BinaryPeek => {
                    whole_section
                }
                _ => false,
            }
    }
}

/// Reads one item name; never fails (unknown names become `Other`).
pub fn parse_item(atom: &[u8]) -> Item {
    let s = String::from_utf8_lossy(atom);
    let (name, rest) = match s.find('[') {
        Some(i) => (s[..i].to_ascii_uppercase(), Some(&s[i..])),
        None => (s.to_ascii_uppercase(), None),
    };
    let other = |name: &str| Item {
        kind: ItemKind::Other(name.to_string()),
        section: None,
        partial: None,
    };
    let kind = match name.as_str() {
        "BODY" => ItemKind::Body,
        "BODY.PEEK" => ItemKind::BodyPeek,
        "BINARY" => ItemKind::Binary,
        "BINARY.PEEK" => ItemKind::BinaryPeek,
        "RFC822" if rest.is_none() => ItemKind::Rfc822,
        "RFC822.HEADER" if rest.is_none() => ItemKind::Rfc822Header,
        "RFC822.TEXT" if rest.is_none() => ItemKind::Rfc822Text,
        _ if rest.is_some() => return other(&s.to_ascii_uppercase()),
        n => return other(n),
    };
    let Some(rest) = rest else {
        return Item {
            kind,
            section: None,
            partial: None,
        };
    };
    let Some(close) = rest.rfind(']') else {
        return other(&s.to_ascii_uppercase());
    };
    let section = parse_section(&rest[1..close]);
    let partial = parse_partial(&rest[close + 1..]);
    match (section, partial) {
        (Some(section), Ok(partial)) => Item {
            kind,
            section: Some(section),
            partial,
        },
        _ => other(&s.to_ascii_uppercase()),
    }
}

fn parse_section(spec: &str) -> Option<Section> {
    let mut sec = Section::default();
    let mut rest = spec.trim();
    while let Some(c) = rest.chars().next().filter(char::is_ascii_digit) {
        let _ = c;
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        sec.parts.push(rest[..end].parse().ok().filter(|&n| n > 0)?);
        rest = &rest[end..];
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None if rest.is_empty() => return Some(sec),
            None => return None,
        }
    }
    if rest.is_empty() {
        return (sec.parts.is_empty() || !spec.ends_with('.')).then_some(sec);
    }
    let upper = rest.to_ascii_uppercase();
    sec.text = Some(match upper.as_str() {
        "HEADER" => SectionText::Header,
        "TEXT" => SectionText::Text,
        "MIME" if !sec.parts.is_empty() => SectionText::Mime,
        _ => {
            let (not, list) = if let Some(l) = upper.strip_prefix("HEADER.FIELDS.NOT") {
                (true, l)
            } else {
                (false, upper.strip_prefix("HEADER.FIELDS")?)
            };
            let list = list.trim().strip_prefix('(')?.strip_suffix(')')?;
            let fields = list
                .split_ascii_whitespace()
                .map(|f| f.trim_matches('"').to_string())
                .collect();
            SectionText::HeaderFields { not, fields }
        }
    });
    Some(sec)
}

/// `<origin>` or `<origin.count>`; `Err` when something else follows the section.
fn parse_partial(s: &str) -> Result<Option<Partial>, ()> {
    if s.is_empty() {
        return Ok(None);
    }
    let inner = s
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .ok_or(())?;
    let (o, c) = match inner.split_once('.') {
        Some((o, c)) => (o, Some(c.parse().map_err(|_| ())?)),
        None => (inner, None),
    };
    Ok(Some(Partial {
        origin: o.parse().map_err(|_| ())?,
        count: c,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(parts: &[u32], text: Option<SectionText>) -> Option<Section> {
        Some(Section {
            parts: parts.to_vec(),
            text,
        })
    }

    #[test]
    fn content_items_with_sections_and_ranges() {
        let i = parse_item(b"body.peek[]<0.32768>");
        assert_eq!(i.kind, ItemKind::BodyPeek);
        assert_eq!(i.section, sec(&[], None));
        assert_eq!(
            i.partial,
            Some(Partial {
                origin: 0,
                count: Some(32768)
            })
        );
        assert!(i.carries_content() && !i.is_whole_message());
        assert!(parse_item(b"BODY[]").is_whole_message());
        assert!(parse_item(b"RFC822").is_whole_message());
        assert!(parse_item(b"BINARY.PEEK[]").is_whole_message());
        assert_eq!(parse_item(b"BODY[2.1]").section, sec(&[2, 1], None));
        assert_eq!(
            parse_item(b"BODY[1.MIME]").section,
            sec(&[1], Some(SectionText::Mime))
        );
        assert_eq!(
            parse_item(b"BODY[TEXT]<100>").partial,
            Some(Partial {
                origin: 100,
                count: None
            })
        );
        assert_eq!(
            parse_item(b"BODY.PEEK[HEADER.FIELDS.NOT (Subject \"To\")]").section,
            sec(
                &[],
                Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec!["SUBJECT".into(), "TO".into()]
                })
            )
        );
        assert!(parse_item(b"RFC822.TEXT").carries_content());
    }

    #[test]
    fn structure_and_unknown_items_carry_no_content() {
        for name in [
            &b"BODY"[..],
            b"BODYSTRUCTURE",
            b"RFC822.SIZE",
            b"UID",
            b"X[1]",
        ] {
            assert!(!parse_item(name).carries_content(), "{name:?}");
        }
        assert!(matches!(parse_item(b"BODY[0]").kind, ItemKind::Other(_)));
        assert!(matches!(parse_item(b"BODY[1.]").kind, ItemKind::Other(_)));
        assert!(matches!(parse_item(b"BODY[]<x>").kind, ItemKind::Other(_)));
    }
}
