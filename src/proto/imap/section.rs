//! Serving a section (`[HEADER]`, `[TEXT]`, `[2.1]`, `[1.MIME]`, `[HEADER.FIELDS (...)]`) and
//! a partial range (`<origin.count>`) from a whole message the proxy holds, so a client that
//! fetches pieces gets pieces of the safe version (RFC 3501 6.4.5, RFC 9051 6.4.5).
//! The part structure comes from `message::mime::part_ranges`.
use std::borrow::Cow;

use super::items::{Item, ItemKind, Partial, Section, SectionText};
use crate::message::mime::{PartRanges, PartShape, part_ranges};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionError {
    /// The message's MIME structure could not be read (or has more than the part limit).
    Unreadable,
    /// The section names a part the message does not have.
    NoSuchPart,
    /// The item carries no content (`UID`, `BODY` without brackets...).
    NotContent,
    /// A BINARY section of a part whose encoding cannot be decoded.
    Undecodable,
}

/// The bytes of `item` (section and range) in `msg`. `RFC822.HEADER` and `RFC822.TEXT`
/// are the top-level header and text.
pub fn serve<'a>(
    msg: &'a [u8],
    item: &Item,
    max_parts: usize,
) -> Result<Cow<'a, [u8]>, SectionError> {
    let section = match (&item.kind, &item.section) {
        (ItemKind::Rfc822, _) => Section::default(),
        (ItemKind::Rfc822Header, _) => Section {
            parts: Vec::new(),
            text: Some(SectionText::Header),
        },
        (ItemKind::Rfc822Text, _) => Section {
            parts: Vec::new(),
            text: Some(SectionText::Text),
        },
        (ItemKind::Other(_), _) | (_, None) => return Err(SectionError::NotContent),
        (_, Some(s)) => s.clone(),
    };
    let binary = matches!(item.kind, ItemKind::Binary | ItemKind::BinaryPeek);
    let bytes = section_bytes(msg, &section, binary, max_parts)?;
    Ok(match bytes {
        Cow::Borrowed(b) => Cow::Borrowed(partial(b, item.partial)),
        Cow::Owned(v) => Cow::Owned(partial(&v, item.partial).to_vec()),
    })
}

/// `bytes[origin..origin + count]`, clipped to the bytes there are.
pub fn partial(bytes: &[u8], range: Option<Partial>) -> &[u8] {
    let Some(p) = range else {
        return bytes;
    };
    let start = usize::try_from(p.origin)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = match p.count {
        Some(c) => start.saturating_add(usize::try_from(c).unwrap_or(usize::MAX)),
        None => bytes.len(),
    };
    &bytes[start..end.min(bytes.len())]
}

/// The bytes of `section` in `msg`; `binary`: decoded from the part's transfer encoding.
pub fn section_bytes<'a>(
    msg: &'a [u8],
    section: &Section,
    binary: bool,
    max_parts: usize,
) -> Result<Cow<'a, [u8]>, SectionError> {
    if section.parts.is_empty() && section.text.is_none() {
        return Ok(Cow::Borrowed(msg));
    }
    let mut root = part_ranges(msg, max_parts).ok_or(SectionError::Unreadable)?;
    settle(&mut root, msg);
    let node = navigate(&root, &section.parts).ok_or(SectionError::NoSuchPart)?;
    // A text spec after part numbers applies to an encapsulated message.
    let message = match (&node.shape, section.parts.is_empty()) {
        (_, true) => Some(node),
        (PartShape::Message(inner), false) => Some(inner.as_ref()),
        _ => None,
    };
    let range = match (&section.text, message) {
        (None, _) => node.body.clone(),
        (Some(SectionText::Mime), _) if !section.parts.is_empty() => node.header.clone(),
        (Some(SectionText::Header), Some(m)) => m.header.clone(),
        (Some(SectionText::Text), Some(m)) => m.body.clone(),
        (Some(SectionText::HeaderFields { not, fields }), Some(m)) => {
            return Ok(Cow::Owned(header_fields(
                &msg[m.header.clone()],
                fields,
                *not,
            )));
        }
        _ => return Err(SectionError::NoSuchPart),
    };
    let bytes = msg.get(range).ok_or(SectionError::Unreadable)?;
    if !binary || section.text.is_some() {
        return Ok(Cow::Borrowed(bytes));
    }
    decode(&msg[node.header.clone()], bytes)
}

/// A nested multipart ends after the line ending of its close delimiter, as dovecot
/// counts it (and the sizes it announced in BODYSTRUCTURE): `--B--\r\n`.
fn settle(node: &mut PartRanges, msg: &[u8]) {
    let eol = |end: usize| match msg.get(end..) {
        Some([b'\r', b'\n', ..]) => 2,
        Some([b'\n', ..]) => 1,
        _ => 0,
    };
    match &mut node.shape {
        PartShape::Multipart(children) => {
            for c in children.iter_mut() {
                if matches!(c.shape, PartShape::Multipart(_)) {
                    c.body.end += eol(c.body.end);
                }
                settle(c, msg);
            }
        }
        PartShape::Message(inner) => {
            if matches!(inner.shape, PartShape::Multipart(_)) {
                let n = eol(inner.body.end);
                inner.body.end += n;
                node.body.end = node.body.end.max(inner.body.end);
            }
            settle(inner, msg);
        }
        PartShape::Leaf => {}
    }
}

/// Follows part numbers: in a multipart the n-th child, in a message/rfc822 part the parts
/// of the encapsulated message, and `1` of a single-part message is its body.
fn navigate<'t>(root: &'t PartRanges, parts: &[u32]) -> Option<&'t PartRanges> {
    let mut node = root;
    for &k in parts {
        let container = match &node.shape {
            PartShape::Message(inner) if !std::ptr::eq(node, root) => inner.as_ref(),
            _ => node,
        };
        let index = usize::try_from(k).ok()?.checked_sub(1)?;
        node = match &container.shape {
            PartShape::Multipart(children) => children.get(index)?,
            _ if index == 0 => container,
            _ => return None,
        };
    }
    Some(node)
}

/// The header fields named in `fields` (or all others, `not`), unfolded lines kept as they
/// are, followed by the blank line, as IMAP servers answer.
fn header_fields(header: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).trim().to_ascii_uppercase();
            keep = fields.iter().any(|f| f.eq_ignore_ascii_case(&name)) != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A part's content decoded from its Content-Transfer-Encoding (for BINARY sections).
fn decode<'a>(header: &[u8], body: &'a [u8]) -> Result<Cow<'a, [u8]>, SectionError> {
    let text = String::from_utf8_lossy(header).to_ascii_lowercase();
    let cte = text
        .lines()
        .find_map(|l| l.strip_prefix("content-transfer-encoding:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    match cte.as_str() {
        "base64" => Ok(Cow::Owned(crate::message::decode::base64::decode_all(body))),
        "quoted-printable" => {
            let mut out = Vec::with_capacity(body.len());
            match crate::message::decode::qp::decode(body, &mut out, body.len()) {
                Ok(_) => Ok(Cow::Owned(out)),
                Err(_) => Err(SectionError::Undecodable),
            }
        }
        "" | "7bit" | "8bit" | "binary" => Ok(Cow::Borrowed(body)),
        _ => Err(SectionError::Undecodable),
    }
}

#[cfg(test)]
#[path = "section_tests.rs"]
mod tests;
