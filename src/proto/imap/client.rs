//! Client commands: gathered whole (the proxy answers the client's synchronising literals
//! itself, so nothing reaches the server before the command is read), then acted on:
//! forwarded, reshaped (FETCH), held (APPEND, see `append`) or refused.
use super::capability;
use super::command::{Command, Kind, is_idle_done};
use super::driver::{Ev, Imap, Pending, Waiting};
use super::framing::{Announce, Refusal};
use super::lex::{Tok, split_line, tokenize};
use super::plan::{self, Known, Plan};
use crate::error::ProxyError;
use crate::session::login::SaslUser;

/// Commands refused because they would move content past the scan or make the session
/// unreadable (their capabilities are never offered).
const DENIED: &[&str] = &[
    "COMPRESS",
    "URLFETCH",
    "GENURLAUTH",
    "RESETKEY",
    "NOTIFY",
    "REPLACE",
    "CATENATE",
];

/// Commands whose arguments are never strings: a literal on one of them is no argument
/// the server reads, and a server that skips the rest of the line would read the
/// literal's bytes as commands.
const NO_LITERAL: &[&str] = &[
    "NOOP",
    "CAPABILITY",
    "LOGOUT",
    "CHECK",
    "CLOSE",
    "EXPUNGE",
    "UNSELECT",
    "IDLE",
    "STARTTLS",
    "NAMESPACE",
    "ENABLE",
    "COMPRESS",
];

/// One piece of a gathered command.
#[derive(Debug)]
pub(super) enum Part {
    /// A line with its terminator (and its literal announce, if any).
    Line(Vec<u8>),
    Literal(Vec<u8>),
}

/// The client command read so far.
#[derive(Debug, Default)]
pub(super) struct Gathered {
    pub parts: Vec<Part>,
    pub bytes: usize,
    /// The command is refused: what is left of it is consumed, then this is the answer.
    pub refusal: Option<Vec<u8>>,
}

impl Gathered {
    fn push(&mut self, part: Part, limit: usize, tag: &str) {
        let n = match &part {
            Part::Line(b) | Part::Literal(b) => b.len(),
        };
        self.bytes += n;
        if self.refusal.is_some() {
            return;
        }
        if self.bytes > limit {
            self.parts.clear();
            self.refusal = Some(reply(
                tag,
                "BAD",
                "command too long (imap.max_held_response_bytes)",
            ));
            return;
        }
        self.parts.push(part);
    }
}

/// `tag STATUS text` with the proxy's name on it.
pub(super) fn reply(tag: &str, status: &str, text: &str) -> Vec<u8> {
    format!("{tag} {status} portcullis: {text}\r\n").into_bytes()
}

fn locked(tag: &str) -> Vec<u8> {
    reply(
        tag,
        "NO [UNAVAILABLE]",
        "too many failed logins, try again later",
    )
}

impl Imap {
    /// The tag of the command being read, for the proxy's own answers.
    fn current_tag(&self) -> String {
        self.reader
            .command()
            .map(|c| c.tag)
            .unwrap_or_else(|| "*".into())
    }

    fn reset_command(&mut self) {
        self.reader.clear();
        self.gathered = Gathered::default();
    }

    pub(super) async fn on_client(&mut self, ev: Ev) -> Result<(), ProxyError> {
        match ev {
            Ev::Line {
                bytes,
                first,
                announce,
                ..
            } => {
                if first && self.gathered.parts.is_empty() && self.gathered.refusal.is_none() {
                    if (self.sasl.is_some() || self.idling)
                        && let Some(a) = announce
                    {
                        return self.literal_in_exchange(bytes, a).await;
                    }
                    if self.sasl.is_some() {
                        self.client_turn = false;
                        return self.sasl_response(bytes).await;
                    }
                    if self.idling {
                        if is_idle_done(&bytes) {
                            self.idling = false;
                            return self.send_server(&bytes).await;
                        }
                        // The server would end IDLE on any line and then run it: only DONE
                        // goes up while idling.
                        let r = reply(&raw_tag(&[Part::Line(bytes)]), "BAD", "expected DONE");
                        return self.send_client(&r).await;
                    }
                }
                self.reader.line(&bytes, first);
                let limit = self.core.ctx.app.cfg.imap.max_held_response_bytes;
                let tag = self.current_tag();
                self.gathered.push(Part::Line(bytes), limit, &tag);
                match announce {
                    Some(a) => self.on_announce(a).await,
                    None => self.command_end().await,
                }
            }
            Ev::Literal(bytes) => {
                self.reader.literal(&bytes);
                let limit = self.core.ctx.app.cfg.imap.max_held_response_bytes;
                let tag = self.current_tag();
                self.gathered.push(Part::Literal(bytes), limit, &tag);
                Ok(())
            }
            // Only a refused command's literal streams here: it is consumed.
            Ev::Chunk(_) | Ev::LinePart { .. } => Ok(()),
            Ev::Refused { tag, reason } => {
                self.reset_command();
                let tag = tag.unwrap_or_else(|| "*".into());
                let r = match reason {
                    Refusal::LineTooLong { .. } => {
                        reply(&tag, "BAD", "command line too long (imap.max_line_bytes)")
                    }
                    Refusal::LiteralTooLarge { size, limit } => reply(
                        &tag,
                        "NO [TOOBIG]",
                        &format!(
                            "a literal of {size} bytes is over imap.max_literal_bytes ({limit})"
                        ),
                    ),
                };
                self.core
                    .ctx
                    .log
                    .event("refused", &format!("command tag={tag} {reason:?}"));
                self.send_client(&r).await
            }
        }
    }

    /// A literal announced by the client: the APPEND message is held; a small literal is
    /// accepted by the proxy itself; anything else is refused.
    async fn on_announce(&mut self, a: Announce) -> Result<(), ProxyError> {
        if self.gathered.refusal.is_some() {
            if a.sync {
                // The client waits for `+`: it gets the answer instead.
                let r = self.gathered.refusal.take().unwrap_or_default();
                self.cfr.refuse_literal();
                self.reset_command();
                return self.send_client(&r).await;
            }
            return Ok(());
        }
        if let Some(cmd) = self.reader.command()
            && matches!(cmd.kind, Kind::Append { size: Some(_), .. })
            && !self.reader.more_messages()
        {
            return self.append(cmd, a).await;
        }
        let tag = self.current_tag();
        let inline = self.core.ctx.app.cfg.imap.literal_memory_bytes as u64;
        let cmd = self.reader.command();
        let r = if cmd.is_none() {
            Some(reply(
                &raw_tag(&self.gathered.parts),
                "BAD",
                "command cannot be read",
            ))
        } else if cmd.is_some_and(|c| NO_LITERAL.contains(&c.name.to_ascii_uppercase().as_str())) {
            Some(reply(&tag, "BAD", "this command takes no literal"))
        } else if self.reader.more_messages() {
            Some(reply(
                &tag,
                "NO [CANNOT]",
                "MULTIAPPEND is not available through this gateway; nothing was stored",
            ))
        } else if a.size > inline {
            Some(reply(
                &tag,
                "NO [TOOBIG]",
                "literal too large for this command (imap.literal_memory_bytes)",
            ))
        } else {
            None
        };
        match (r, a.sync) {
            (Some(r), true) => {
                self.cfr.refuse_literal();
                self.reset_command();
                self.send_client(&r).await
            }
            (Some(r), false) => {
                self.gathered.parts.clear();
                self.gathered.refusal = Some(r);
                Ok(())
            }
            (None, true) => {
                self.cfr.continue_literal();
                self.send_client(b"+ Ready for literal data\r\n").await
            }
            (None, false) => Ok(()),
        }
    }

    /// The command is complete: act on it.
    async fn command_end(&mut self) -> Result<(), ProxyError> {
        let g = std::mem::take(&mut self.gathered);
        let cmd = self.reader.command();
        let truncated = self.reader.truncated();
        self.reader.clear();
        if let Some(r) = g.refusal {
            return self.send_client(&r).await;
        }
        let Some(cmd) = cmd else {
            // Not a command the proxy can read (no tag and name, or not spelled as IMAP
            // spells them): never forwarded, where the server might read it otherwise.
            let tag = raw_tag(&g.parts);
            self.core
                .ctx
                .log
                .event("refused", &format!("unreadable command tag={tag}"));
            let r = reply(&tag, "BAD", "command cannot be read");
            return self.send_client(&r).await;
        };
        if truncated && cmd.kind != Kind::Other {
            let r = reply(&cmd.tag, "BAD", "command too long to be read");
            return self.send_client(&r).await;
        }
        self.act(cmd, g.parts).await
    }

    async fn act(&mut self, cmd: Command, parts: Vec<Part>) -> Result<(), ProxyError> {
        let tag = cmd.tag.clone();
        let refuse = |status: &str, text: &str| Some(reply(&tag, status, text));
        let r = match &cmd.kind {
            Kind::Login { user } if self.core.ctx.login_blocked(user.as_deref()) => {
                Some(locked(&tag))
            }
            Kind::Authenticate { user_readable, .. } if !user_readable => refuse(
                "NO [CANNOT]",
                "this SASL mechanism is not available through this gateway",
            ),
            Kind::Authenticate { user, .. } if self.core.ctx.login_blocked(user.as_deref()) => {
                Some(locked(&tag))
            }
            Kind::StartTls if !self.core.ctx.offers_starttls() => refuse(
                "NO [CANNOT]",
                "STARTTLS is not available through this gateway",
            ),
            Kind::Append { .. } => refuse(
                "NO [CANNOT]",
                "only an APPEND of one message as a plain literal can be checked here; nothing was stored",
            ),
            Kind::Unreadable => refuse("BAD", "the arguments of this command cannot be read"),
            _ if DENIED.contains(&cmd.name.as_str()) => refuse(
                "NO [CANNOT]",
                &format!("{} is not available through this gateway", cmd.name),
            ),
            _ => None,
        };
        if let Some(r) = r {
            self.core
                .ctx
                .log
                .event("refused", &format!("command={} tag={tag}", cmd.name));
            return self.send_client(&r).await;
        }
        match cmd.kind {
            Kind::Authenticate { mechanism, .. } => {
                let initial = initial_response(&parts);
                self.sasl = Some(SaslUser::start(&mechanism, initial.as_deref()));
                self.sasl_locked = false;
                self.client_turn = false;
                self.forward_tagged(parts, &tag, Waiting::Authenticate)
                    .await
            }
            Kind::Idle => {
                self.idling = true;
                self.client_turn = false;
                self.forward_tagged(parts, &tag, Waiting::Idle).await
            }
            Kind::Select { mailbox, .. } => {
                self.mailbox = None;
                self.copy = None;
                self.uid_validity_seen = None;
                self.forward_tagged(parts, &tag, Waiting::Select { mailbox })
                    .await
            }
            Kind::Enable { capabilities } => self.enable(&tag, parts, &capabilities).await,
            Kind::Fetch { set, .. } => {
                let known = self.known(cmd.uid, &set);
                self.fetch_command(&tag, parts, known).await
            }
            ref k => {
                if ["CLOSE", "UNSELECT"].contains(&cmd.name.to_ascii_uppercase().as_str()) {
                    // No mailbox is selected after these (CLOSE may also expunge): the
                    // session's copy names nothing any more.
                    self.mailbox = None;
                    self.copy = None;
                }
                let what = Self::kind_waiting(k);
                self.forward_tagged(parts, &tag, what).await
            }
        }
    }

    /// FETCH: reshaped so that content is asked for whole (see `plan`).
    async fn fetch_command(
        &mut self,
        tag: &str,
        mut parts: Vec<Part>,
        known: Known,
    ) -> Result<(), ProxyError> {
        let mut plan = Plan::default();
        if let [Part::Line(line)] = parts.as_slice()
            && let Some((new, p)) = plan::rewrite(line, known)
        {
            parts = vec![Part::Line(new)];
            plan = p;
        }
        if plan.local && self.pending.is_empty() && self.answer_from_copy(tag, &plan).await? {
            return Ok(());
        }
        let what = Waiting::Fetch {
            plan,
            refused: None,
        };
        self.forward_tagged(parts, tag, what).await
    }

    /// ENABLE passes only what the capability allow-list passes.
    async fn enable(
        &mut self,
        tag: &str,
        parts: Vec<Part>,
        caps: &[String],
    ) -> Result<(), ProxyError> {
        let policy = self.cap_policy();
        let kept: Vec<&str> = caps
            .iter()
            .filter(|c| capability::allowed(c, policy) == Some(c.as_str()))
            .map(String::as_str)
            .collect();
        if kept.len() == caps.len() {
            return self.forward_tagged(parts, tag, Waiting::Other).await;
        }
        if kept.is_empty() {
            let r = format!("* ENABLED\r\n{tag} OK ENABLE completed (portcullis)\r\n");
            return self.send_client(r.as_bytes()).await;
        }
        let line = format!("{tag} ENABLE {}\r\n", kept.join(" ")).into_bytes();
        self.forward_tagged(vec![Part::Line(line)], tag, Waiting::Other)
            .await
    }

    /// A client line during AUTHENTICATE: a SASL response. Once it names a user who is
    /// locked out, the exchange is cancelled on the server and the client gets the refusal.
    async fn sasl_response(&mut self, line: Vec<u8>) -> Result<(), ProxyError> {
        let text = split_line(&line).0.to_vec();
        let newly = self.sasl.as_mut().is_some_and(|s| s.response(&text));
        let user = self.sasl.as_ref().and_then(|s| s.user.clone());
        if newly && self.core.ctx.login_blocked(user.as_deref()) {
            self.sasl_locked = true;
            return self.send_server(b"*\r\n").await;
        }
        self.send_server(&line).await
    }

    /// A literal announced on a SASL response or on DONE: its bytes would reach the server
    /// as commands nobody read. The exchange is ended upstream (`*` cancels the SASL
    /// exchange, DONE ends IDLE, and their tagged answers reach the client), and the line
    /// with its literal gets BAD without being read.
    async fn literal_in_exchange(&mut self, line: Vec<u8>, a: Announce) -> Result<(), ProxyError> {
        let end: Option<&[u8]> = if self.sasl.is_some() {
            self.client_turn = false;
            Some(b"*\r\n")
        } else if is_idle_done(&line) {
            self.idling = false;
            Some(b"DONE\r\n")
        } else {
            // Not DONE: IDLE goes on, as for any other line.
            None
        };
        self.core
            .ctx
            .log
            .event("refused", "a literal on a SASL response or during IDLE");
        if let Some(end) = end {
            self.send_server(end).await?;
        }
        // A SASL response or DONE has no tag of its own; another line during IDLE has.
        let tag = match end {
            Some(_) => "*".to_string(),
            None => raw_tag(&[Part::Line(line.clone())]),
        };
        self.reader.line(&line, true);
        self.gathered.refusal = Some(reply(&tag, "BAD", "no literal is allowed here"));
        self.on_announce(a).await
    }

    async fn forward_tagged(
        &mut self,
        parts: Vec<Part>,
        tag: &str,
        what: Waiting,
    ) -> Result<(), ProxyError> {
        self.pending.push(Pending {
            tag: tag.to_string(),
            what,
        });
        self.forward(parts, Some(tag)).await.map(drop)
    }
}

/// The first word of a command's line as it came, for the answer to a line that cannot
/// be read as a command (`*` when there is none that could be echoed).
fn raw_tag(parts: &[Part]) -> String {
    let Some(Part::Line(line)) = parts.first() else {
        return "*".into();
    };
    let text = split_line(line).0;
    let word = text.split(|&b| b == b' ').next().unwrap_or_default();
    if word.len() > 64 || !super::reader::is_tag(word) {
        return "*".into();
    }
    String::from_utf8_lossy(word).into_owned()
}

/// The SASL-IR initial response of an AUTHENTICATE command line, if any.
fn initial_response(parts: &[Part]) -> Option<Vec<u8>> {
    let Some(Part::Line(line)) = parts.first() else {
        return None;
    };
    let mut toks = Vec::new();
    tokenize(split_line(line).0, &mut toks);
    match toks.get(3) {
        Some(Tok::Atom(a)) => Some(a.clone()),
        _ => None,
    }
}
