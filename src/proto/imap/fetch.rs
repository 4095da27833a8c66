//! Follows one untagged FETCH response line by line and says, for every value that may be
//! message content, what it is and where its bytes are; and rewrites a body literal's
//! announce when the proxy replaces the body.
//!
//! Fail closed: a literal or string whose item the tracker cannot name (an unknown item,
//! a line it could not read whole) is `Role::Unknown`, never "not content".
use std::ops::Range;

use super::items::{Item, parse_item};
use super::lex::{Tok, spans, split_line};

/// Items whose values are never message content.
const NOT_CONTENT: &[&str] = &[
    "UID",
    "FLAGS",
    "INTERNALDATE",
    "RFC822.SIZE",
    "ENVELOPE",
    "BODYSTRUCTURE",
    "BODY",
    "MODSEQ",
    "EMAILID",
    "THREADID",
    "SAVEDATE",
    "X-GM-MSGID",
    "X-GM-THRID",
    "X-GM-LABELS",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Message content of this item: held and scanned, or served from the safe version.
    Content(Item),
    /// A value whose item is unknown or could not be read: treat as content.
    Unknown(String),
    /// A string inside a structure (ENVELOPE, BODYSTRUCTURE) or of a non-content item.
    NotContent,
}

/// A literal announced at the end of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralValue {
    pub role: Role,
    pub size: u64,
    /// `~{n}`.
    pub binary: bool,
    /// Where the announce starts in the line: `line[..announce_at]` passes as is, the
    /// announce is rewritten with [`rewrite_announce`] when the body is replaced.
    pub announce_at: usize,
}

/// A content value given in the line itself (quoted string or NIL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineValue {
    pub role: Role,
    /// The value's bytes in the line, quotes included.
    pub range: Range<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineReport {
    pub inline: Vec<InlineValue>,
    pub literal: Option<LiteralValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchSummary {
    pub seq: u32,
    pub uid: Option<u32>,
    pub rfc822_size: Option<u64>,
    /// The closing parenthesis was seen.
    pub complete: bool,
}

#[derive(Debug, Clone)]
pub struct FetchTracker {
    seq: u32,
    /// Parenthesis depth; 1 inside the FETCH list.
    depth: usize,
    /// An item name waiting for its value at depth 1.
    name: Option<Vec<u8>>,
    /// A line of this response could not be read whole.
    unread: bool,
    uid: Option<u32>,
    rfc822_size: Option<u64>,
    complete: bool,
}

impl FetchTracker {
    /// For a response classified `Response::Fetch(seq)`.
    pub fn new(seq: u32) -> Self {
        FetchTracker {
            seq,
            depth: 0,
            name: None,
            unread: false,
            uid: None,
            rfc822_size: None,
            complete: false,
        }
    }

    /// A line of this response passed without being read (longer than the line limit):
    /// from now on every value is `Unknown`.
    pub fn unread_line(&mut self) {
        self.unread = true;
    }

    pub fn summary(&self) -> FetchSummary {
        FetchSummary {
            seq: self.seq,
            uid: self.uid,
            rfc822_size: self.rfc822_size,
            complete: self.complete,
        }
    }

    /// Reads one line of the response (`first`: the `* n FETCH (` line).
    pub fn line(&mut self, line: &[u8], first: bool) -> LineReport {
        let (text, announce) = split_line(line);
        let mut report = LineReport::default();
        let mut skip = if first { 3 } else { 0 };
        spans(text, &mut |tok, range| {
            if skip > 0 {
                skip -= 1;
            } else {
                self.token(tok, range, &mut report);
            }
        });
        if let Some((size, binary)) = announce {
            let role = match (self.depth, self.name.take()) {
                (_, _) if self.unread => Role::Unknown("an unread line".into()),
                (1, Some(name)) => role_of(&name),
                (1, None) | (0, _) => Role::Unknown("a literal out of place".into()),
                (_, name) => {
                    let role = nested_role(name.as_deref().unwrap_or_default());
                    self.name = name;
                    role
                }
            };
            report.literal = Some(LiteralValue {
                role,
                size,
                binary,
                announce_at: text.len(),
            });
        }
        report
    }

    fn token(&mut self, tok: Tok, range: Range<usize>, report: &mut LineReport) {
        match tok {
            Tok::Open => self.depth += 1,
            Tok::Close => {
                self.depth = self.depth.saturating_sub(1);
                match self.depth {
                    0 => self.complete = true,
                    1 => self.name = None,
                    _ => {}
                }
            }
            Tok::Atom(_) if self.depth != 1 => {}
            _ if self.depth > 1 => {
                // A string inside a structure: only known structures are passed.
                let name = self.name.as_deref().unwrap_or_default();
                match nested_role(name) {
                    Role::NotContent => {}
                    role => report.inline.push(InlineValue { role, range }),
                }
            }
            _ if self.depth == 0 => {}
            Tok::Atom(a) if self.name.is_none() => self.name = Some(a),
            value => {
                let name = self.name.take().unwrap_or_default();
                let role = if self.unread {
                    Role::Unknown("an unread line".into())
                } else {
                    role_of(&name)
                };
                match role {
                    Role::NotContent => self.note(&name, &value),
                    role => report.inline.push(InlineValue { role, range }),
                }
            }
        }
    }

    fn note(&mut self, name: &[u8], value: &Tok) {
        let n = value.number();
        if name.eq_ignore_ascii_case(b"UID") {
            self.uid = n.and_then(|n| u32::try_from(n).ok());
        } else if name.eq_ignore_ascii_case(b"RFC822.SIZE") {
            self.rfc822_size = n;
        }
    }
}

fn role_of(name: &[u8]) -> Role {
    let item = parse_item(name);
    if item.carries_content() {
        return Role::Content(item);
    }
    let upper = String::from_utf8_lossy(name).to_ascii_uppercase();
    if NOT_CONTENT.contains(&upper.as_str()) || upper.starts_with("BINARY.SIZE[") {
        Role::NotContent
    } else {
        Role::Unknown(upper)
    }
}

/// A string or literal inside the parenthesised value of item `name`: passed only
/// inside the structures the proxy knows (`ENVELOPE`, `BODYSTRUCTURE`, ...); inside
/// anything else (`SNIPPET (FUZZY "...")`, an unknown extension) it may be message text.
fn nested_role(name: &[u8]) -> Role {
    let upper = String::from_utf8_lossy(name).to_ascii_uppercase();
    if NOT_CONTENT.contains(&upper.as_str()) {
        Role::NotContent
    } else {
        Role::Unknown(upper)
    }
}

/// The announcing line with its literal size replaced: `line[..announce_at]`, then `{n}`
/// (or `~{n}`), then the line's own terminator.
pub fn rewrite_announce(line: &[u8], announce_at: usize, size: u64, binary: bool) -> Vec<u8> {
    let eol: &[u8] = if line.ends_with(b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let mut out = Vec::with_capacity(announce_at + 24);
    out.extend_from_slice(&line[..announce_at]);
    if binary {
        out.push(b'~');
    }
    out.extend_from_slice(format!("{{{size}}}").as_bytes());
    out.extend_from_slice(eol);
    out
}

/// A whole FETCH response with one body literal replaced: the announcing line rewritten,
/// the new body, and the rest of the response unchanged.
pub fn replace_body(line: &[u8], value: &LiteralValue, body: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = rewrite_announce(line, value.announce_at, body.len() as u64, value.binary);
    out.reserve(body.len() + rest.len());
    out.extend_from_slice(body);
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
