//! SMTP commands, replies and the EHLO keyword allow-list, without I/O.
use crate::proto::lines::trim_eol;
use crate::proto::sasl::{self, LoginAnswer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    StartTls,
    Auth,
    Vrfy,
    Expn,
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Not relayed: unknown, or an extension removed from EHLO (XCLIENT, BURL, ...).
    Unknown(String),
    /// Control characters or non-ASCII outside what SMTPUTF8 allows.
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub verb: Verb,
    /// Everything after the verb, trimmed.
    pub args: String,
}

impl Command {
    pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
        let body = trim_eol(line);
        // NUL and other controls are never valid; 8-bit is allowed (SMTPUTF8 addresses).
        if body.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
            return Err(CommandError::Malformed);
        }
        let text = String::from_utf8_lossy(body);
        let (word, rest) = match text.find(' ') {
            Some(i) => (&text[..i], text[i + 1..].trim()),
            None => (text.as_ref(), ""),
        };
        let verb = match word.to_ascii_uppercase().as_str() {
            "HELO" => Verb::Helo,
            "EHLO" => Verb::Ehlo,
            "MAIL" => Verb::Mail,
            "RCPT" => Verb::Rcpt,
            "DATA" => Verb::Data,
            "BDAT" => Verb::Bdat,
            "RSET" => Verb::Rset,
            "NOOP" => Verb::Noop,
            "QUIT" => Verb::Quit,
            "STARTTLS" => Verb::StartTls,
            "AUTH" => Verb::Auth,
            "VRFY" => Verb::Vrfy,
            "EXPN" => Verb::Expn,
            "HELP" => Verb::Help,
            _ => return Err(CommandError::Unknown(word.chars().take(16).collect())),
        };
        Ok(Command {
            verb,
            args: rest.to_string(),
        })
    }

    /// The address in `MAIL FROM:<a>` / `RCPT TO:<a>` (possibly empty, the null sender).
    pub fn path(&self) -> Option<&str> {
        let a = self.args.as_str();
        let colon = a.find(':')?;
        let rest = a[colon + 1..].trim_start();
        let rest = rest.strip_prefix('<')?;
        let end = rest.find('>')?;
        Some(&rest[..end])
    }

    /// ESMTP parameters after the path, such as `SIZE=1000` (names upper-cased).
    pub fn params(&self) -> Vec<(String, Option<String>)> {
        let a = self.args.as_str();
        let after = match a.find('>') {
            Some(i) => &a[i + 1..],
            None => "",
        };
        after
            .split_whitespace()
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_ascii_uppercase(), Some(v.to_string())),
                None => (p.to_ascii_uppercase(), None),
            })
            .collect()
    }
}

/// One reply: a code and its lines (each without the code and separator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![text.to_string()],
        }
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let sep = if i + 1 == n { ' ' } else { '-' };
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            // A bare CR or other control character inside a line could end it early for
            // some clients, and make the rest read as another reply.
            let text: String = text
                .chars()
                .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
                .collect();
            out.extend_from_slice(format!("{}{sep}{text}\r\n", self.code).as_bytes());
        }
        out
    }

    /// What the final answer to AUTH says about the credentials: only 535 (RFC 4954
    /// "authentication credentials invalid") blames them.
    pub fn login_answer(&self) -> LoginAnswer {
        match self.code {
            235 => LoginAnswer::Accepted,
            535 => LoginAnswer::BadCredentials,
            _ => LoginAnswer::Refused,
        }
    }

    /// First line, for logs.
    pub fn summary(&self) -> String {
        format!(
            "{} {}",
            self.code,
            self.lines.first().map(String::as_str).unwrap_or("")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    NotAReply(String),
    /// The continuation lines changed their code.
    MixedCodes,
    TooManyLines(usize),
}

/// Collects reply lines until the last one (`ddd ` or a bare `ddd`).
#[derive(Debug, Default)]
pub struct ReplyAssembler {
    code: Option<u16>,
    lines: Vec<String>,
}

impl ReplyAssembler {
    pub const MAX_LINES: usize = 256;

    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let l = trim_eol(line);
        let bad = || ReplyError::NotAReply(String::from_utf8_lossy(l).chars().take(80).collect());
        if l.len() < 3 || !l[..3].iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let code: u16 = std::str::from_utf8(&l[..3])
            .map_err(|_| bad())?
            .parse()
            .map_err(|_| bad())?;
        if !(200..600).contains(&code) {
            return Err(bad());
        }
        if *self.code.get_or_insert(code) != code {
            return Err(ReplyError::MixedCodes);
        }
        let last = match l.get(3) {
            None | Some(b' ') => true,
            Some(b'-') => false,
            _ => return Err(bad()),
        };
        let text = if l.len() > 4 {
            String::from_utf8_lossy(&l[4..]).into_owned()
        } else {
            String::new()
        };
        self.lines.push(text);
        if self.lines.len() > Self::MAX_LINES {
            return Err(ReplyError::TooManyLines(Self::MAX_LINES));
        }
        if last {
            let r = Reply {
                code,
                lines: std::mem::take(&mut self.lines),
            };
            self.code = None;
            return Ok(Some(r));
        }
        Ok(None)
    }
}

/// What the server's EHLO offers that the proxy keeps, and what it learned from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    pub size: Option<u64>,
    pub starttls: bool,
    pub pipelining: bool,
    pub eightbit: bool,
    pub smtputf8: bool,
    /// The server takes BDAT (RFC 3030). Not offered to the client, but used upstream.
    pub chunking: bool,
}

/// Rewrites a positive EHLO reply to the keywords the proxy can honour. SIZE is lowered
/// to the proxy's own limit. CHUNKING, BINARYMIME, BURL, XCLIENT, XFORWARD and anything
/// unknown are removed; STARTTLS is kept only when it is passed through.
pub fn filter_ehlo(reply: &Reply, own_max: u64, allow_starttls: bool) -> (Reply, Extensions) {
    let mut ext = Extensions::default();
    let mut lines = vec![reply.lines.first().cloned().unwrap_or_default()];
    let mut saw_size = false;
    for l in reply.lines.iter().skip(1) {
        let mut words = l.split_whitespace();
        let kw = words.next().unwrap_or("").to_ascii_uppercase();
        match kw.as_str() {
            "SIZE" => {
                saw_size = true;
                let server: u64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                let size = if server == 0 {
                    own_max
                } else {
                    server.min(own_max)
                };
                ext.size = Some(size);
                lines.push(format!("SIZE {size}"));
            }
            "PIPELINING" => {
                ext.pipelining = true;
                lines.push(kw);
            }
            "8BITMIME" => {
                ext.eightbit = true;
                lines.push(kw);
            }
            "SMTPUTF8" => {
                ext.smtputf8 = true;
                lines.push(kw);
            }
            "STARTTLS" if allow_starttls => {
                ext.starttls = true;
                lines.push(kw);
            }
            "ENHANCEDSTATUSCODES" | "DSN" => lines.push(kw),
            "CHUNKING" => ext.chunking = true,
            "AUTH" => {
                // Only mechanisms whose user portcullis reads (lockout, per-user limits).
                let mechs: Vec<&str> = words.filter(|m| sasl::attributable(m)).collect();
                if !mechs.is_empty() {
                    lines.push(format!("AUTH {}", mechs.join(" ")));
                }
            }
            // The old `AUTH=` form some servers send (alone or beside `AUTH`), filtered alike.
            k if k.starts_with("AUTH=") => {
                let first = Some(&k["AUTH=".len()..]).filter(|m| !m.is_empty());
                let mechs: Vec<&str> = first
                    .into_iter()
                    .chain(words)
                    .filter(|m| sasl::attributable(m))
                    .collect();
                if !mechs.is_empty() {
                    lines.push(format!("AUTH={}", mechs.join(" ")));
                }
            }
            _ => {}
        }
    }
    if !saw_size {
        lines.push(format!("SIZE {own_max}"));
        ext.size = Some(own_max);
    }
    (
        Reply {
            code: reply.code,
            lines,
        },
        ext,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_535_counts_as_bad_credentials() {
        use LoginAnswer::*;
        assert_eq!(Reply::new(235, "2.7.0 ok").login_answer(), Accepted);
        assert_eq!(Reply::new(535, "5.7.8 bad").login_answer(), BadCredentials);
        for code in [454, 421, 501, 504, 534, 538] {
            assert_eq!(Reply::new(code, "x").login_answer(), Refused, "{code}");
        }
    }

    fn reply_of(wire: &[u8]) -> Reply {
        let mut a = ReplyAssembler::default();
        let mut out = None;
        for line in wire.split_inclusive(|&b| b == b'\n') {
            out = a.push_line(line).unwrap();
        }
        out.expect("a complete reply")
    }

    #[test]
    fn commands_and_paths() {
        let c = Command::parse(b"MAIL FROM:<a@b.test> SIZE=1000 BODY=8BITMIME\r\n").unwrap();
        assert_eq!(c.verb, Verb::Mail);
        assert_eq!(c.path(), Some("a@b.test"));
        assert_eq!(
            c.params(),
            vec![
                ("SIZE".into(), Some("1000".into())),
                ("BODY".into(), Some("8BITMIME".into()))
            ]
        );
        assert_eq!(
            Command::parse(b"mail from:<>\r\n").unwrap().path(),
            Some("")
        );
        assert_eq!(
            Command::parse(b"XCLIENT ADDR=1.2.3.4\r\n"),
            Err(CommandError::Unknown("XCLIENT".into()))
        );
        assert_eq!(
            Command::parse(b"RCPT TO:<a\0b>\r\n"),
            Err(CommandError::Malformed)
        );
    }

    #[test]
    fn multiline_reply_is_assembled() {
        let r = reply_of(b"250-mx.test Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
        assert_eq!(r.code, 250);
        assert_eq!(r.lines, vec!["mx.test Hello", "PIPELINING", "SIZE 1000"]);
        assert_eq!(
            r.encode(),
            b"250-mx.test Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
        );
        assert_eq!(reply_of(b"354\r\n").lines, vec![""]);
    }

    #[test]
    fn broken_replies_are_errors() {
        let mut a = ReplyAssembler::default();
        assert!(matches!(
            a.push_line(b"hello\r\n"),
            Err(ReplyError::NotAReply(_))
        ));
        let mut a = ReplyAssembler::default();
        a.push_line(b"250-a\r\n").unwrap();
        assert_eq!(a.push_line(b"251 b\r\n"), Err(ReplyError::MixedCodes));
    }

    #[test]
    fn ehlo_allow_list() {
        let r = reply_of(
            b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-CHUNKING\r\n250-XCLIENT NAME ADDR\r\n250 BURL imap\r\n",
        );
        let (f, ext) = filter_ehlo(&r, 10_000_000, false);
        assert_eq!(
            f.lines,
            vec![
                "mx.test",
                "PIPELINING",
                "SIZE 10000000",
                "AUTH PLAIN LOGIN",
                "ENHANCEDSTATUSCODES",
                "8BITMIME",
                "DSN"
            ]
        );
        assert_eq!(ext.size, Some(10_000_000));
        assert!(ext.pipelining && ext.eightbit && !ext.starttls && !ext.smtputf8);
        assert!(ext.chunking, "CHUNKING is remembered for the upstream side");
        let (f, ext) = filter_ehlo(&r, 100_000_000, true);
        assert!(f.lines.contains(&"STARTTLS".to_string()) && ext.starttls);
        assert!(f.lines.contains(&"SIZE 52428800".to_string()));
    }

    #[test]
    fn ehlo_offers_only_mechanisms_whose_user_is_read() {
        let r = reply_of(b"250-mx.test\r\n250 AUTH CRAM-MD5 PLAIN SCRAM-SHA-256-PLUS LOGIN\r\n");
        let (f, _) = filter_ehlo(&r, 1000, false);
        assert!(f.lines.contains(&"AUTH PLAIN LOGIN".to_string()), "{f:?}");
        let r = reply_of(b"250-mx.test\r\n250 AUTH CRAM-MD5 DIGEST-MD5\r\n");
        let (f, _) = filter_ehlo(&r, 1000, false);
        assert!(!f.lines.iter().any(|l| l.starts_with("AUTH")), "{f:?}");
        // The old `AUTH=` form, alone: filtered the same way, not dropped.
        let r =
            reply_of(b"250-mx.test\r\n250-auth=LOGIN PLAIN SCRAM-SHA-1-PLUS\r\n250 SIZE 1000\r\n");
        let (f, _) = filter_ehlo(&r, 1000, false);
        assert!(f.lines.contains(&"AUTH=LOGIN PLAIN".to_string()), "{f:?}");
        let r = reply_of(b"250-mx.test\r\n250 AUTH=SCRAM-SHA-256-PLUS\r\n");
        let (f, _) = filter_ehlo(&r, 1000, false);
        assert!(!f.lines.iter().any(|l| l.starts_with("AUTH")), "{f:?}");
    }

    #[test]
    fn reply_lines_never_carry_a_bare_cr() {
        let r = Reply::new(250, "ok\r354 fake");
        assert_eq!(r.encode(), b"250 ok 354 fake\r\n");
    }
}
