//! POP3 commands, status lines and multi-line blocks, without I/O.
//!
//! A multi-line block is dot-stuffed (RFC 1939 §3): a line starting with '.' gets one more
//! '.', and the block ends with a line holding only '.'. `Unstuffer` recovers the message
//! for scanning; `Stuffer` re-encodes what the proxy sends to the client.

use super::super::lines::{LineBuffer, LineTooLong, trim_eol};
pub use crate::proto::dot::{Stuffer, Unstuffer};
use crate::proto::sasl::LoginAnswer;

/// Commands the proxy knows how to frame. Anything else is refused: without knowing
/// whether the answer is one line or a block, the proxy could not keep the stream in step,
/// and a block it did not frame could carry unscanned mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    User,
    Pass,
    Apop,
    Auth,
    Stat,
    List,
    Retr,
    Dele,
    Noop,
    Rset,
    Quit,
    Top,
    Uidl,
    Capa,
    Stls,
    Utf8,
    Lang,
}

impl Verb {
    fn from_word(w: &[u8]) -> Option<Verb> {
        let up = w.to_ascii_uppercase();
        Some(match up.as_slice() {
            b"USER" => Verb::User,
            b"PASS" => Verb::Pass,
            b"APOP" => Verb::Apop,
            b"AUTH" => Verb::Auth,
            b"STAT" => Verb::Stat,
            b"LIST" => Verb::List,
            b"RETR" => Verb::Retr,
            b"DELE" => Verb::Dele,
            b"NOOP" => Verb::Noop,
            b"RSET" => Verb::Rset,
            b"QUIT" => Verb::Quit,
            b"TOP" => Verb::Top,
            b"UIDL" => Verb::Uidl,
            b"CAPA" => Verb::Capa,
            b"STLS" => Verb::Stls,
            b"UTF8" => Verb::Utf8,
            b"LANG" => Verb::Lang,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Not a command the proxy relays.
    Unknown(String),
    /// Control characters or non-ASCII in a command line.
    Malformed,
    /// A numeric argument that is missing or not a message number.
    BadArgument(&'static str),
}

/// One parsed client command. `args` keeps the original bytes so the line can be
/// forwarded unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub verb: Verb,
    pub args: Vec<String>,
}

impl Command {
    pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
        let body = trim_eol(line);
        if body.iter().any(|&b| !(0x20..0x7f).contains(&b)) {
            return Err(CommandError::Malformed);
        }
        let text = std::str::from_utf8(body).map_err(|_| CommandError::Malformed)?;
        let mut words = text.split(' ').filter(|w| !w.is_empty());
        let word = words.next().unwrap_or("");
        let verb = Verb::from_word(word.as_bytes())
            .ok_or_else(|| CommandError::Unknown(word.chars().take(16).collect()))?;
        let args: Vec<String> = words.map(String::from).collect();
        let cmd = Command { verb, args };
        match verb {
            Verb::Retr | Verb::Dele => {
                cmd.msg_number()
                    .ok_or(CommandError::BadArgument("message number"))?;
            }
            Verb::Top => {
                cmd.msg_number()
                    .ok_or(CommandError::BadArgument("message number"))?;
                cmd.args
                    .get(1)
                    .and_then(|a| a.parse::<u64>().ok())
                    .ok_or(CommandError::BadArgument("line count"))?;
            }
            _ => {}
        }
        Ok(cmd)
    }

    /// The first argument as a message number (RETR, TOP, DELE, LIST n, UIDL n).
    pub fn msg_number(&self) -> Option<u32> {
        self.args
            .first()
            .and_then(|a| a.parse::<u32>().ok())
            .filter(|n| *n > 0)
    }

    /// Whether a positive answer to this command is a multi-line block.
    pub fn multiline_answer(&self) -> bool {
        match self.verb {
            Verb::Capa | Verb::Retr | Verb::Top => true,
            Verb::List | Verb::Uidl | Verb::Lang | Verb::Auth => self.args.is_empty(),
            _ => false,
        }
    }
}

/// The first line of a server answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Err,
    /// `+ ` challenge during AUTH.
    Continue,
}

pub fn parse_status(line: &[u8]) -> Option<Status> {
    let l = trim_eol(line);
    if l.starts_with(b"+OK") && (l.len() == 3 || l[3] == b' ') {
        Some(Status::Ok)
    } else if l.starts_with(b"-ERR") && (l.len() == 4 || l[4] == b' ') {
        Some(Status::Err)
    } else if l == b"+" || l.starts_with(b"+ ") {
        Some(Status::Continue)
    } else {
        None
    }
}

/// The size announced in `+OK 1234 octets`, if any.
pub fn octets(line: &[u8]) -> Option<u64> {
    let rest = trim_eol(line).strip_prefix(b"+OK ")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || !rest[digits..].starts_with(b" octets") {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The message number and the value (a size or a unique id) of a LIST or UIDL listing line
/// (`1 20522`), or of the one-line answer to `LIST n` / `UIDL n` when `status` is set
/// (`+OK 1 20522`).
pub fn listing_entry(line: &[u8], status: bool) -> Option<(u32, &str)> {
    let mut l = trim_eol(line);
    if status {
        l = l.strip_prefix(b"+OK ")?;
    }
    let text = std::str::from_utf8(l).ok()?;
    let mut w = text.split_ascii_whitespace();
    let n = w.next()?.parse::<u32>().ok().filter(|n| *n > 0)?;
    Some((n, w.next()?))
}

/// Rewrites `+OK 1234 octets` to carry the size the client will really receive; other
/// status texts pass unchanged.
pub fn rewrite_octets(line: &[u8], size: u64) -> Vec<u8> {
    let l = trim_eol(line);
    if let Some(rest) = l.strip_prefix(b"+OK ") {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && rest[digits..].starts_with(b" octets") {
            let mut out = format!("+OK {size}").into_bytes();
            out.extend_from_slice(&rest[digits..]);
            out.extend_from_slice(b"\r\n");
            return out;
        }
    }
    let mut out = l.to_vec();
    out.extend_from_slice(b"\r\n");
    out
}

/// Decodes what the server sends: status and listing lines, and dot-stuffed message
/// blocks, from bytes pushed in as they arrive. The driver says which to expect next
/// (it knows the command); everything after the current answer stays buffered, so
/// pipelined answers are never mixed up.
#[derive(Debug)]
pub struct ResponseDecoder {
    lines: LineBuffer,
    unstuffer: Unstuffer,
}

impl ResponseDecoder {
    pub fn new(max_line: usize) -> Self {
        ResponseDecoder {
            lines: LineBuffer::new(max_line),
            unstuffer: Unstuffer::default(),
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.lines.push(data);
    }

    /// The next whole line (status line, or a line of a listing), if it has arrived.
    pub fn line(&mut self) -> Result<Option<&[u8]>, LineTooLong> {
        self.lines.next_line()
    }

    /// Decodes the message block that follows a positive RETR/TOP status line: appends
    /// the un-stuffed bytes received so far to `out`, and returns true once the
    /// terminating line was consumed.
    pub fn block(&mut self, out: &mut Vec<u8>) -> bool {
        let pending = self.lines.pending();
        let end = self.unstuffer.feed(pending, |d| out.extend_from_slice(d));
        let used = end.unwrap_or(pending.len());
        self.lines.consume(used);
        end.is_some()
    }

    /// How many received bytes wait to be decoded.
    pub fn buffered(&self) -> usize {
        self.lines.pending().len()
    }

    /// Whatever arrived and was not decoded (for discarding at STLS).
    pub fn take_pending(&mut self) -> Vec<u8> {
        self.lines.take_pending()
    }
}

/// What an answer to PASS, APOP or AUTH says about the credentials. RFC 3206 response
/// codes other than `[AUTH]` (`[IN-USE]`, `[SYS/TEMP]`, `[LOGIN-DELAY]`, `[SYS/PERM]`)
/// blame something else; a bare `-ERR` can only be read as wrong credentials.
pub fn login_answer(st: Status, line: &[u8]) -> LoginAnswer {
    if st == Status::Ok {
        return LoginAnswer::Accepted;
    }
    let text = trim_eol(line);
    let rest = text.get(4..).unwrap_or(b"");
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    match rest.strip_prefix(b"[") {
        Some(code) if !code.to_ascii_uppercase().starts_with(b"AUTH]") => LoginAnswer::Refused,
        _ => LoginAnswer::BadCredentials,
    }
}

#[cfg(test)]
mod tests;
