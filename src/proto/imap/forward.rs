//! Sending a gathered command to the server: literals go as `{n+}` where the server
//! takes them (LITERAL+, or LITERAL- up to 4096 bytes), else the proxy waits for the
//! server's `+` before each, exactly as the client would have.
use super::client::Part;
use super::driver::Imap;
use super::lex::split_line;
use crate::error::ProxyError;

impl Imap {
    /// Sends a gathered command to the server. Its literals go as `{n+}` where the server
    /// takes them; else the proxy waits for the server's `+` before each (the tagged
    /// answer instead ends the command). Returns whether every literal was accepted.
    pub(super) async fn forward(
        &mut self,
        parts: Vec<Part>,
        tag: Option<&str>,
    ) -> Result<bool, ProxyError> {
        let mut out = Vec::new();
        for part in parts {
            let line = match part {
                Part::Literal(b) => {
                    out.extend_from_slice(&b);
                    continue;
                }
                Part::Line(line) => line,
            };
            let (text, announce) = split_line(&line);
            let Some((size, binary)) = announce else {
                out.extend_from_slice(&line);
                continue;
            };
            let plus = self.upstream_literal.is_some_and(|max| size <= max);
            announce_literal(&mut out, text, size, binary, plus, eol_of(&line));
            if !plus {
                self.send_server(&out).await?;
                out.clear();
                if !self.await_continuation(tag).await? {
                    return Ok(false);
                }
            }
        }
        if !out.is_empty() {
            self.send_server(&out).await?;
        }
        Ok(true)
    }
}

/// `text` followed by a literal announce.
pub(super) fn announce_literal(
    out: &mut Vec<u8>,
    text: &[u8],
    size: u64,
    binary: bool,
    plus: bool,
    eol: &[u8],
) {
    out.extend_from_slice(text);
    if binary {
        out.push(b'~');
    }
    out.extend_from_slice(format!("{{{size}{}}}", if plus { "+" } else { "" }).as_bytes());
    out.extend_from_slice(eol);
}

pub(super) fn eol_of(line: &[u8]) -> &'static [u8] {
    if line.ends_with(b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    }
}
