//! Server responses: relayed as they come, with capability lists filtered, logins and
//! mailbox selections followed, and FETCH responses handed to `held`.
use super::capability;
use super::client::reply;
use super::driver::{Ev, Imap, Selected, Waiting};
use super::framing::Announce;
use super::response::{Code, Response, Status, classify};
use crate::error::{ProxyError, Side};
use crate::session::Flow;
use crate::session::login::LoginAnswer;

impl Imap {
    /// One server event at a response boundary or inside a response being relayed.
    pub(super) async fn on_server(&mut self, ev: Ev) -> Result<Option<Flow>, ProxyError> {
        match ev {
            Ev::Line {
                bytes,
                first: true,
                whole,
                announce,
            } => self.on_response(bytes, whole, announce).await,
            Ev::LinePart { bytes, first: true } => {
                if let Response::Fetch(seq) = classify(&bytes) {
                    self.fetch_response(seq, Ev::LinePart { bytes, first: true })
                        .await?;
                } else {
                    // A capability list too long to read whole may no longer offer
                    // LITERAL+: from now on literals go up synchronising.
                    if lists_capabilities(&classify(&bytes)) {
                        self.upstream_literal = None;
                    }
                    self.send_client(&bytes).await?;
                }
                Ok(None)
            }
            Ev::Line { bytes, .. }
            | Ev::LinePart { bytes, .. }
            | Ev::Literal(bytes)
            | Ev::Chunk(bytes) => {
                self.send_client(&bytes).await?;
                Ok(None)
            }
            Ev::Refused { .. } => Ok(None),
        }
    }

    async fn on_response(
        &mut self,
        mut line: Vec<u8>,
        whole: bool,
        announce: Option<Announce>,
    ) -> Result<Option<Flow>, ProxyError> {
        let resp = classify(&line);
        match &resp {
            Response::Continuation => {
                if self.sasl.is_some() || self.idling || self.waits_idle() {
                    self.client_turn = true;
                    self.send_client(&line).await?;
                } else {
                    self.core
                        .ctx
                        .log
                        .event("server", "dropped a continuation nobody asked for");
                }
                return Ok(None);
            }
            Response::Fetch(seq) => {
                let ev = Ev::Line {
                    bytes: line,
                    first: true,
                    whole,
                    announce,
                };
                self.fetch_response(*seq, ev).await?;
                return Ok(None);
            }
            Response::Tagged { tag, status, code } => {
                let (tag, status, code) = (tag.clone(), *status, code.clone());
                if let Some(flow) = self.on_tagged(&tag, status, code.as_ref(), &mut line) {
                    return Ok(Some(flow));
                }
            }
            Response::Status {
                code: Some(Code::UidValidity(v)),
                ..
            } => self.uid_validity_seen = Some(*v),
            Response::Expunge(_) | Response::Vanished { .. } => {
                if let Some(c) = self.copy.as_mut() {
                    c.seq = None;
                }
            }
            _ => {}
        }
        if lists_capabilities(&resp) {
            self.learn_and_filter(&mut line);
        }
        self.send_client(&line).await?;
        Ok(None)
    }

    fn waits_idle(&self) -> bool {
        self.pending.iter().any(|p| matches!(p.what, Waiting::Idle))
    }

    /// Notes what the server takes (non-synchronising literals) and applies the
    /// allow-list to the capability list in `line`. Each list replaces the last: a server
    /// may offer LITERAL+ before login and not after (dovecot's `imap_capability`), and a
    /// `{n+}` it does not take would make it read the literal's bytes as commands.
    fn learn_and_filter(&mut self, line: &mut Vec<u8>) {
        let text = String::from_utf8_lossy(line).to_ascii_uppercase();
        let words: Vec<&str> = text
            .split(|c: char| c.is_ascii_whitespace() || c == '[' || c == ']')
            .collect();
        self.upstream_literal = if words.contains(&"LITERAL+") {
            Some(u64::MAX)
        } else if words.contains(&"LITERAL-") {
            Some(4096)
        } else {
            None
        };
        if let Some(f) = capability::filter_line(line, self.cap_policy()) {
            *line = f;
        }
    }

    /// The end of a command the client sent: what it changes for the session. `line` may
    /// be replaced by the proxy's own answer.
    fn on_tagged(
        &mut self,
        tag: &str,
        status: Status,
        code: Option<&Code>,
        line: &mut Vec<u8>,
    ) -> Option<Flow> {
        let i = self.pending_index(tag)?;
        let p = self.pending.remove(i);
        let ok = status == Status::Ok;
        match p.what {
            Waiting::Login { user } => {
                self.core
                    .ctx
                    .login_done(user, login_answer(status, code), " command=LOGIN");
            }
            Waiting::Authenticate => {
                let sasl = self.sasl.take();
                if ok {
                    self.acts_as = sasl.as_ref().and_then(|s| s.acts_as.clone());
                }
                let (user, mech) = sasl
                    .map(|s| (s.user, s.mech))
                    .unwrap_or((None, String::new()));
                if std::mem::take(&mut self.sasl_locked) {
                    *line = reply(
                        tag,
                        "NO [UNAVAILABLE]",
                        "too many failed logins, try again later",
                    );
                } else {
                    let detail = format!(" command=AUTHENTICATE mechanism={mech}");
                    self.core
                        .ctx
                        .login_done(user, login_answer(status, code), &detail);
                }
            }
            Waiting::StartTls if ok => {
                let refused = reply(
                    tag,
                    "NO [UNAVAILABLE]",
                    "TLS to the server failed verification",
                );
                // A capability code in the answer is filtered like any other.
                let ok = capability::filter_line(line, self.cap_policy());
                return Some(Flow::StartTls {
                    ok: ok.unwrap_or_else(|| line.clone()),
                    refused,
                });
            }
            Waiting::Select { mailbox } if ok => {
                let uid_validity = self.uid_validity_seen.take();
                self.core.ctx.log.event(
                    "mailbox",
                    &format!(
                        "selected name=\"{mailbox}\" uidvalidity={}",
                        uid_validity.map_or("-".into(), |v| v.to_string())
                    ),
                );
                self.mailbox = Some(Selected {
                    name: mailbox,
                    uid_validity,
                });
            }
            Waiting::Fetch {
                refused: Some(why), ..
            } => {
                *line = reply(tag, "NO [UNAVAILABLE]", &why);
            }
            Waiting::Idle => self.idling = false,
            Waiting::Logout => self.logged_out = true,
            _ => {}
        }
        None
    }

    /// Processes server responses until the server answers a literal announce of the
    /// command `tag`: true on `+`, false when the command's tagged answer came instead
    /// (relayed to the client like any answer).
    pub(super) async fn await_continuation(
        &mut self,
        tag: Option<&str>,
    ) -> Result<bool, ProxyError> {
        loop {
            let ev = match self.sfr.next_event() {
                Ok(Some(e)) => Some(Ev::of(e)),
                Ok(None) => None,
                Err(e) => return Err(ProxyError::protocol(Side::Server, e.to_string())),
            };
            let Some(ev) = ev else {
                self.server_more().await?;
                continue;
            };
            if let Ev::Line {
                bytes, first: true, ..
            } = &ev
                && classify(bytes) == Response::Continuation
            {
                return Ok(true);
            }
            if let Some(Flow::StartTls { .. }) = self.on_server(ev).await? {
                return Err(ProxyError::protocol(
                    Side::Server,
                    "STARTTLS answered while a literal was pending",
                ));
            }
            if let Some(t) = tag
                && self.pending_index(t).is_none()
            {
                return Ok(false);
            }
        }
    }
}

/// Whether a response carries the server's capability list (`* CAPABILITY`, or a
/// `[CAPABILITY ...]` code in a status or tagged line).
fn lists_capabilities(resp: &Response) -> bool {
    matches!(
        resp,
        Response::Capability
            | Response::Status {
                code: Some(Code::Capability),
                ..
            }
            | Response::Tagged {
                code: Some(Code::Capability),
                ..
            }
    )
}

/// What a login answer means for the lockout: only a NO that blames the credentials
/// counts (RFC 5530 codes; a NO without a code is taken to blame them).
fn login_answer(status: Status, code: Option<&Code>) -> LoginAnswer {
    match (status, code) {
        (Status::Ok, _) => LoginAnswer::Accepted,
        (Status::No, None) => LoginAnswer::BadCredentials,
        (Status::No, Some(Code::Other(c)))
            if matches!(
                c.as_str(),
                "AUTHENTICATIONFAILED" | "AUTHORIZATIONFAILED" | "EXPIRED"
            ) =>
        {
            LoginAnswer::BadCredentials
        }
        _ => LoginAnswer::Refused,
    }
}
