//! The POP3 driver on the session layer: relays commands one at a time (pipelined
//! commands wait in the buffer, so answers stay in order), holds every RETR/TOP answer
//! until its verdict (`retrieve`), and guards DELE of replaced messages (`mailbox`).
use std::collections::{BTreeMap, HashMap};

use crate::error::{ProxyError, Side};
use crate::ids::QuarantineId;
use crate::proto::lines::trim_eol;
use crate::proto::sasl::{self, LoginAnswer};
use crate::session::login::SaslUser;
use crate::session::{Core, Driver, Flow};

use super::codec::{self, Command, CommandError, ResponseDecoder, Status, Verb};
use super::listing::{self, BadLine, Line};
use super::lookahead::LookAhead;

pub(super) const LOCKED_OUT: &[u8] =
    b"-ERR [SYS/TEMP] portcullis: too many failed logins, try again later\r\n";

/// Listing lines are gathered into writes of about this size.
const LISTING_WRITE: usize = 16 * 1024;

pub struct Pop3 {
    pub(super) core: Core,
    /// Decodes the server's answers (the server leg's own line buffer stays unused).
    pub(super) sdec: ResponseDecoder,
    pending_user: Option<String>,
    /// The mailbox a SASL login acts for when it is not the authenticating user's own
    /// (`AUTH PLAIN` with another authorization identity).
    pub(super) acts_as: Option<String>,
    pub(super) uidls: HashMap<u32, String>,
    /// Message sizes from LIST answers the client asked for.
    pub(super) sizes: HashMap<u32, u64>,
    /// Messages the client was shown a replacement for, with their quarantine id; `None`
    /// means the original is not safely stored and must stay on the server.
    pub(super) replaced: HashMap<u32, Option<QuarantineId>>,
    pub(super) verdicts: BTreeMap<&'static str, u64>,
    pub(super) ahead: LookAhead,
    /// The server's greeting was relayed (a session upgraded to TLS goes on without one).
    greeted: bool,
}

impl Driver for Pop3 {
    const PROTOCOL: &'static str = "pop3";
    const UNREACHABLE: &'static [u8] =
        b"-ERR [SYS/TEMP] portcullis: the mail server cannot be reached\r\n";

    fn new(core: Core) -> Self {
        let max_line = core.ctx.app.cfg.limits.max_line_bytes;
        Pop3 {
            core,
            sdec: ResponseDecoder::new(max_line),
            pending_user: None,
            acts_as: None,
            uidls: HashMap::new(),
            sizes: HashMap::new(),
            replaced: HashMap::new(),
            verdicts: BTreeMap::new(),
            ahead: LookAhead::default(),
            greeted: false,
        }
    }

    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    async fn serve(&mut self) -> Result<Flow, ProxyError> {
        self.serve_commands().await
    }

    fn farewell(e: &ProxyError) -> Option<&'static [u8]> {
        match e {
            ProxyError::Killed => {
                Some(b"-ERR [SYS/PERM] portcullis: session ended by the gateway administrator\r\n")
            }
            _ if !e.is_client_fault() => None,
            ProxyError::LineTooLong { .. } => Some(b"-ERR portcullis: line too long\r\n"),
            _ => Some(b"-ERR portcullis: protocol error\r\n"),
        }
    }

    fn summary(&self) -> String {
        let counts: Vec<String> = self
            .verdicts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "verdicts=[{}] lookahead_served={}",
            counts.join(","),
            self.ahead.served
        )
    }

    fn discard_server_pending(&mut self) -> usize {
        self.sdec.take_pending().len()
    }

    fn upgraded(&mut self) {
        // The client asks CAPA again over TLS; what the server offered before counts no more.
        self.ahead = LookAhead::default();
    }
}

impl Pop3 {
    pub(super) async fn send_client(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        self.core.client.send(data).await
    }

    pub(super) async fn send_server(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        self.core.server.send(data).await
    }

    /// Reads more of the server's answer into the decoder.
    pub(super) async fn server_fill(&mut self, buf: &mut [u8]) -> Result<(), ProxyError> {
        let n = self.core.server.read_some(buf).await?;
        self.sdec.push(&buf[..n]);
        Ok(())
    }

    fn buffered_server_line(&mut self) -> Result<Option<Vec<u8>>, ProxyError> {
        self.sdec
            .line()
            .map(|l| l.map(<[u8]>::to_vec))
            .map_err(|e| ProxyError::LineTooLong {
                side: Side::Server,
                limit: e.limit,
            })
    }

    async fn server_line(&mut self) -> Result<Vec<u8>, ProxyError> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(l) = self.buffered_server_line()? {
                return Ok(l);
            }
            self.server_fill(&mut buf).await?;
        }
    }

    /// Reads a status line and insists it is one.
    pub(super) async fn server_status(&mut self) -> Result<(Status, Vec<u8>), ProxyError> {
        self.settle().await?;
        let line = self.server_line().await?;
        match codec::parse_status(&line) {
            Some(st) => Ok((st, listing::clean_status(line))),
            None => Err(ProxyError::protocol(
                Side::Server,
                format!(
                    "not a POP3 status line: {:?}",
                    String::from_utf8_lossy(trim_eol(&line))
                ),
            )),
        }
    }

    /// Forwards `line` and returns the server's status line.
    pub(super) async fn ask(&mut self, line: &[u8]) -> Result<(Status, Vec<u8>), ProxyError> {
        // With no answer owed, nothing the server sent may be waiting: an answer to no
        // command would be taken for this one's and shift every answer after it.
        if self.ahead.settled() && self.sdec.buffered() > 0 {
            return Err(ProxyError::protocol(
                Side::Server,
                "sent an answer to no command",
            ));
        }
        self.send_server(line).await?;
        self.server_status().await
    }

    async fn serve_commands(&mut self) -> Result<Flow, ProxyError> {
        if !self.greeted {
            let (st, greeting) = self.server_status().await?;
            self.send_client(&greeting).await?;
            if st != Status::Ok {
                return Ok(Flow::End("server refused the session"));
            }
            self.greeted = true;
        }
        loop {
            let Some(line) = self.next_command().await? else {
                return Ok(Flow::End(
                    "client disconnected without QUIT (no QUIT sent upstream)",
                ));
            };
            let Some(cmd) = self.parsed(&line).await? else {
                continue;
            };
            self.client_goes_to(&cmd);
            match cmd.verb {
                Verb::Quit => {
                    let (_, resp) = self.ask(&line).await?;
                    self.send_client(&resp).await?;
                    return Ok(Flow::End("quit"));
                }
                Verb::Stls => {
                    if let Some(flow) = self.stls(&line).await? {
                        return Ok(flow);
                    }
                }
                Verb::Retr | Verb::Top => self.retrieve(&cmd, &line).await?,
                Verb::Dele => self.dele(&cmd, &line).await?,
                Verb::Auth => self.auth(&cmd, &line).await?,
                _ => self.simple(&cmd, &line).await?,
            }
        }
    }

    /// The command on `line`, or `None` once an unusable one was refused.
    async fn parsed(&mut self, line: &[u8]) -> Result<Option<Command>, ProxyError> {
        let e = match Command::parse(line) {
            Ok(c) => return Ok(Some(c)),
            Err(e) => e,
        };
        let reply: &[u8] = match &e {
            CommandError::Unknown(_) => {
                b"-ERR portcullis: command not supported through the mail gateway\r\n"
            }
            CommandError::Malformed => b"-ERR portcullis: malformed command\r\n",
            CommandError::BadArgument(_) => b"-ERR portcullis: invalid argument\r\n",
        };
        self.core
            .ctx
            .log
            .event("refused", &format!("client command refused: {e:?}"));
        self.send_client(reply).await?;
        Ok(None)
    }

    /// STLS: refused when stripped; otherwise asked upstream, and the session upgrades
    /// when the server agrees.
    async fn stls(&mut self, line: &[u8]) -> Result<Option<Flow>, ProxyError> {
        if !self.core.ctx.offers_starttls() {
            self.send_client(
                b"-ERR portcullis: STLS is not available through this mail gateway\r\n",
            )
            .await?;
            return Ok(None);
        }
        let (st, resp) = self.ask(line).await?;
        if st != Status::Ok {
            self.send_client(&resp).await?;
            return Ok(None);
        }
        Ok(Some(Flow::StartTls {
            ok: resp,
            refused: b"-ERR [SYS/TEMP] portcullis: TLS to the server failed verification\r\n"
                .to_vec(),
        }))
    }

    /// Commands whose answer is relayed as is (CAPA filtered, UIDL remembered).
    async fn simple(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        let login = matches!(cmd.verb, Verb::Pass | Verb::Apop);
        if let Verb::User | Verb::Apop = cmd.verb {
            self.pending_user = cmd.args.first().cloned();
        }
        if login && self.core.ctx.login_blocked(self.pending_user.as_deref()) {
            return self.send_client(LOCKED_OUT).await;
        }
        let (st, resp) = self.ask(line).await?;
        self.send_client(&resp).await?;
        if login {
            let answer = codec::login_answer(st, &resp);
            let user = if st == Status::Ok {
                self.pending_user.take()
            } else {
                self.pending_user.clone()
            };
            self.core.ctx.login_done(user, answer, "");
        }
        if st != Status::Ok {
            return Ok(());
        }
        if let Verb::Uidl | Verb::List = cmd.verb
            && !cmd.multiline_answer()
        {
            self.note_listing(cmd.verb, &resp, true);
        }
        if cmd.multiline_answer() {
            self.relay_block(cmd.verb).await?;
        }
        Ok(())
    }

    /// Relays a multi-line listing (already dot-stuffed by the server), gathering lines
    /// into writes of up to `LISTING_WRITE` bytes: a listing of a big mailbox is thousands
    /// of lines, and one write per line was as many system calls and small segments.
    async fn relay_block(&mut self, verb: Verb) -> Result<(), ProxyError> {
        let limit = self.core.ctx.app.cfg.limits.max_listing_bytes;
        let allow_stls = self.core.ctx.offers_starttls();
        let mut total = 0u64;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            while let Some(line) = self.buffered_server_line()? {
                total += line.len() as u64;
                if total > limit {
                    return Err(ProxyError::TooLarge {
                        side: Side::Server,
                        what: "limits.max_listing_bytes",
                        limit,
                    });
                }
                match listing::check(verb, &line, allow_stls) {
                    Ok(Line::End) => {
                        out.extend_from_slice(b".\r\n");
                        return self.send_client(&out).await;
                    }
                    Ok(Line::Drop) => continue,
                    Ok(Line::Keep(l)) => {
                        match verb {
                            Verb::Uidl | Verb::List => self.note_listing(verb, &l, false),
                            Verb::Capa => self.ahead.note_capability(&l),
                            _ => {}
                        }
                        out.extend_from_slice(&l);
                    }
                    Err(BadLine(why)) => return Err(ProxyError::protocol(Side::Server, why)),
                }
                if out.len() >= LISTING_WRITE {
                    self.send_client(&out).await?;
                    out.clear();
                }
            }
            // Nothing complete is buffered: pass on what is gathered before waiting.
            if !out.is_empty() {
                self.send_client(&out).await?;
                out.clear();
            }
            self.server_fill(&mut buf).await?;
        }
    }

    /// Remembers unique ids (for the withheld registry and the log) and sizes (to wake once
    /// per downloaded message, see `net::low_water`) from listings the client asked for.
    fn note_listing(&mut self, verb: Verb, line: &[u8], status: bool) {
        let Some((n, value)) = codec::listing_entry(line, status) else {
            return;
        };
        match verb {
            Verb::Uidl => {
                self.uidls.insert(n, value.to_string());
            }
            _ => {
                if let Ok(size) = value.parse() {
                    self.sizes.insert(n, size);
                }
            }
        }
    }

    /// SASL exchange: challenges and responses are relayed; the user name is read from
    /// PLAIN and LOGIN responses, never the password.
    async fn auth(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        if cmd.args.is_empty() {
            let (st, resp) = self.ask(line).await?;
            self.send_client(&resp).await?;
            if st == Status::Ok {
                self.relay_block(Verb::Auth).await?;
            }
            return Ok(());
        }
        if !sasl::attributable(&cmd.args[0]) {
            self.core.ctx.log.event(
                "login",
                &format!("refused mechanism={}: its user cannot be read", cmd.args[0]),
            );
            return self
                .send_client(b"-ERR portcullis: this authentication mechanism is not available through the mail gateway\r\n")
                .await;
        }
        let initial = cmd.args.get(1).map(String::as_bytes);
        let mut sasl = SaslUser::start(&cmd.args[0], initial);
        if self.core.ctx.login_blocked(sasl.user.as_deref()) {
            return self.send_client(LOCKED_OUT).await;
        }
        let mut answer = self.ask(line).await?;
        loop {
            let (st, resp) = answer;
            self.send_client(&resp).await?;
            if st != Status::Continue {
                let detail = format!(" mechanism={}", sasl.mech);
                let result = codec::login_answer(st, &resp);
                if result == LoginAnswer::Accepted {
                    self.acts_as = sasl.acts_as.clone();
                }
                self.core.ctx.login_done(sasl.user, result, &detail);
                return Ok(());
            }
            let Some(response) = self.core.client.line().await? else {
                return Err(ProxyError::Closed { side: Side::Client });
            };
            if sasl.response(trim_eol(&response))
                && self.core.ctx.login_blocked(sasl.user.as_deref())
            {
                // Cancel (RFC 5034 §4) before the password reaches the server.
                self.ask(b"*\r\n").await?;
                return self.send_client(LOCKED_OUT).await;
            }
            answer = self.ask(&response).await?;
        }
    }
}
