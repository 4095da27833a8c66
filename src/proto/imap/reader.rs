//! Gathers the tokens of the current client command from framer events, bounded, so the
//! driver can classify it when it must decide: at a literal announce (answer `+` itself
//! for an APPEND it holds, or refuse) and at the command's end.
use super::command::{Command, classify};
use super::lex::{Tok, attach_literal, split_line, tokenize_line};

#[derive(Debug)]
pub struct CommandReader {
    toks: Vec<Tok>,
    /// Bytes read into tokens for the current command.
    kept: usize,
    max_bytes: usize,
    truncated: bool,
    /// Literals announced so far in this command.
    literals: usize,
    /// An APPEND line after a message literal announced another message (MULTIAPPEND).
    more_messages: bool,
}

impl CommandReader {
    /// Keeps at most `max_bytes` of a command's lines and in-memory literals as tokens
    /// (the start, which names the command and its first arguments, is always kept).
    pub fn new(max_bytes: usize) -> Self {
        CommandReader {
            toks: Vec::new(),
            kept: 0,
            max_bytes,
            truncated: false,
            literals: 0,
            more_messages: false,
        }
    }

    /// A `Line` event of the client framer.
    pub fn line(&mut self, bytes: &[u8], first: bool) {
        if first {
            self.clear();
        } else if self.literals > 0 && self.is_append() {
            let (text, announce) = split_line(bytes);
            if announce.is_some() && text.iter().any(|b| !b.is_ascii_whitespace()) {
                self.more_messages = true;
            }
        }
        if self.kept + bytes.len() > self.max_bytes && !first {
            self.truncated = true;
            return;
        }
        self.kept += bytes.len();
        if first {
            // The tag is read as it is, up to the first space: a `[` in it must not make
            // the rest of the line one token and hide the command's name.
            let text = split_line(bytes).0;
            let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
            if !is_tag(&text[..end]) {
                return;
            }
            self.toks.push(Tok::Atom(text[..end].to_vec()));
            tokenize_line(&bytes[end..], &mut self.toks);
        } else {
            tokenize_line(bytes, &mut self.toks);
        }
        self.literals += usize::from(matches!(self.toks.last(), Some(Tok::Literal { .. })));
    }

    /// A `Literal` event (a whole literal in memory).
    pub fn literal(&mut self, bytes: &[u8]) {
        if self.truncated || self.kept + bytes.len() > self.max_bytes {
            self.truncated = true;
            return;
        }
        self.kept += bytes.len();
        attach_literal(&mut self.toks, bytes);
    }

    /// The command as read so far (its literals without data when streamed).
    pub fn command(&self) -> Option<Command> {
        classify(&self.toks)
    }

    /// Part of the command was not kept: arguments after the cut are not in `command()`.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// An APPEND carries more than one message (MULTIAPPEND).
    pub fn more_messages(&self) -> bool {
        self.more_messages
    }

    pub fn clear(&mut self) {
        self.toks.clear();
        self.kept = 0;
        self.truncated = false;
        self.literals = 0;
        self.more_messages = false;
    }

    fn is_append(&self) -> bool {
        let name = |i: usize| self.toks.get(i).and_then(Tok::upper);
        name(1).as_deref() == Some("APPEND")
    }
}

/// A tag as RFC 3501 spells it: one or more ASTRING-CHAR but `+`.
pub fn is_tag(t: &[u8]) -> bool {
    !t.is_empty()
        && t.iter()
            .all(|&b| (0x21..0x7f).contains(&b) && !b"(){%*\"\\+".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::imap::command::Kind;
    use crate::proto::imap::framing::{Event, Framer, Sender};
    use crate::proto::imap::testkit::LIMITS;

    /// The classification at every announce and at every command end, and whether the
    /// APPEND carried more messages, for a transcript split at `at`.
    fn decisions(input: &[u8], at: usize) -> Vec<(Option<Command>, bool, bool)> {
        let mut f = Framer::new(Sender::Client, LIMITS);
        let mut r = CommandReader::new(256);
        let mut out = Vec::new();
        for part in [&input[..at], &input[at..]] {
            f.push(part);
            loop {
                if f.awaiting_continuation() {
                    f.continue_literal();
                }
                let Some(ev) = f.next_event().unwrap() else {
                    break;
                };
                match ev {
                    Event::Line { bytes, first, .. } => {
                        r.line(bytes, first);
                        out.push((r.command(), r.more_messages(), r.truncated()));
                    }
                    Event::Literal { bytes } => r.literal(bytes),
                    _ => {}
                }
            }
        }
        out
    }

    #[test]
    fn append_is_known_at_its_announce_and_multiappend_is_seen() {
        let mut input = b"a APPEND Sent (\\Seen) {70}\r\n".to_vec();
        input.extend_from_slice(&[b'x'; 70]);
        input.extend_from_slice(b" (\\Draft) {2}\r\nhi\r\nb APPEND Drafts {2+}\r\nok\r\n");
        let first = decisions(&input, input.len());
        for at in 0..=input.len() {
            assert_eq!(decisions(&input, at), first, "split at {at}");
        }
        assert!(matches!(
            &first[0].0.as_ref().unwrap().kind,
            Kind::Append { size: Some(70), mailbox, .. } if mailbox == "Sent"
        ));
        assert!(!first[0].1);
        assert!(first[1].1, "a second message follows: MULTIAPPEND");
        assert!(!first[3].1, "a new command starts afresh");
        assert!(first.iter().all(|d| !d.2));
    }

    #[test]
    fn a_long_command_keeps_its_start() {
        let mut r = CommandReader::new(64);
        r.line(b"a LOGIN {80}\r\n", true);
        r.literal(&[b'u'; 80]);
        r.line(b" pw\r\n", false);
        assert!(r.truncated());
        assert!(matches!(
            r.command().unwrap().kind,
            Kind::Login { user: None }
        ));
    }
}
