//! The SMTP driver on the session layer. Every command gets exactly one reply, in order;
//! a client's pipelined group goes upstream as a group when the server offers PIPELINING
//! (`relay`). A message is received and scanned before the real server sees any of it
//! (`submit`); the envelope and its limits are in `envelope`.
use crate::error::{ProxyError, Side};
use crate::proto::lines::trim_eol;
use crate::proto::sasl;
use crate::session::login::SaslUser;
use crate::session::{Core, Driver, Flow};

use super::codec::{self, Command, Extensions, Reply, ReplyAssembler, Verb};
use super::envelope::Txn;
use super::pipeline::{Place, place};

pub struct Smtp {
    pub(super) core: Core,
    pub(super) ext: Extensions,
    pub(super) txn: Option<Txn>,
    pub(super) delivered: u64,
    /// The server's greeting was relayed (a session upgraded to TLS goes on without one).
    greeted: bool,
    /// A command taken from the client while a pipelined group was collected that must
    /// go alone: the command loop's next.
    pub(super) pushback: Option<Vec<u8>>,
    /// The proxy's own RSETs whose replies were not read yet.
    pub(super) resets_unread: usize,
}

impl Driver for Smtp {
    const PROTOCOL: &'static str = "smtp";
    const UNREACHABLE: &'static [u8] =
        b"421 4.4.1 portcullis: the mail server cannot be reached, try again later\r\n";

    fn new(core: Core) -> Self {
        Smtp {
            core,
            ext: Extensions::default(),
            txn: None,
            delivered: 0,
            greeted: false,
            pushback: None,
            resets_unread: 0,
        }
    }

    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    async fn serve(&mut self) -> Result<Flow, ProxyError> {
        let flow = self.serve_commands().await;
        self.end_txn("session end");
        flow
    }

    fn farewell(e: &ProxyError) -> Option<&'static [u8]> {
        match e {
            ProxyError::LineTooLong {
                side: Side::Client, ..
            } => Some(b"500 5.5.2 portcullis: line too long\r\n"),
            ProxyError::TooLarge {
                side: Side::Client, ..
            } => Some(b"552 5.3.4 portcullis: message size exceeds fixed maximum message size\r\n"),
            ProxyError::Protocol {
                side: Side::Client, ..
            } => Some(b"500 5.5.2 portcullis: protocol error\r\n"),
            ProxyError::Killed => {
                Some(b"421 4.7.0 portcullis: session ended by the gateway administrator\r\n")
            }
            ProxyError::Shutdown => Some(
                b"421 4.3.2 portcullis: the mail gateway is shutting down, try again later\r\n",
            ),
            _ if e.side() == Side::Server => {
                Some(b"421 4.4.2 portcullis: lost the connection to the mail server\r\n")
            }
            _ => None,
        }
    }

    fn summary(&self) -> String {
        format!("delivered={}", self.delivered)
    }

    fn discard_server_pending(&mut self) -> usize {
        self.core.server.buf.take_pending().len()
    }

    fn upgraded(&mut self) {
        // RFC 3207: the client starts over with EHLO; nothing learned before counts.
        self.ext = Extensions::default();
        self.txn = None;
        // Nothing the client sent in plaintext is ever executed inside TLS.
        self.pushback = None;
    }
}

impl Smtp {
    pub(super) async fn reply_client(&mut self, r: &Reply) -> Result<(), ProxyError> {
        self.core.client.send(&r.encode()).await
    }

    /// The server's next reply to a command of the client's, after those to the proxy's
    /// own RSETs.
    pub(super) async fn server_reply(&mut self) -> Result<Reply, ProxyError> {
        self.read_resets().await?;
        self.next_reply().await
    }

    pub(super) async fn next_reply(&mut self) -> Result<Reply, ProxyError> {
        let mut asm = ReplyAssembler::default();
        loop {
            while let Some(line) = self.core.server.buffered_line()? {
                match asm.push_line(&line) {
                    Ok(Some(r)) => return Ok(r),
                    Ok(None) => {}
                    Err(e) => return Err(ProxyError::protocol(Side::Server, format!("{e:?}"))),
                }
            }
            if !self.core.server.fill().await? {
                return Err(ProxyError::Closed { side: Side::Server });
            }
        }
    }

    /// Before a command goes up, nothing the server sent may be waiting unasked for (but
    /// the answers to the proxy's own RSETs): a reply to no command would be taken for the
    /// next command's and shift every answer after it by one.
    pub(super) async fn unasked(&mut self) -> Result<(), ProxyError> {
        if self.core.server.buf.is_empty() {
            return Ok(());
        }
        // What came may be the answers to RSETs sent without waiting: those are read
        // first, and anything after them answers no command.
        self.read_resets().await?;
        if !self.core.server.buf.is_empty() {
            return Err(ProxyError::protocol(
                Side::Server,
                "sent a reply to no command",
            ));
        }
        Ok(())
    }

    /// Forwards a command line and returns the server's reply.
    pub(super) async fn ask(&mut self, line: &[u8]) -> Result<Reply, ProxyError> {
        self.unasked().await?;
        self.core.server.send(line).await?;
        self.server_reply().await
    }

    pub(super) async fn relay(&mut self, line: &[u8]) -> Result<Reply, ProxyError> {
        let r = self.ask(line).await?;
        self.reply_client(&r).await?;
        Ok(r)
    }

    async fn serve_commands(&mut self) -> Result<Flow, ProxyError> {
        if !self.greeted {
            let greeting = self.server_reply().await?;
            self.reply_client(&greeting).await?;
            if greeting.code != 220 {
                return Ok(Flow::End("server refused the session"));
            }
            self.greeted = true;
        }
        loop {
            let line = match self.pushback.take() {
                Some(l) => l,
                None => match self.core.command().await? {
                    Some(l) => l,
                    None => return Ok(Flow::End("client disconnected without QUIT")),
                },
            };
            let Some(cmd) = self.parsed(&line).await? else {
                continue;
            };
            match cmd.verb {
                Verb::Quit => {
                    self.relay(&line).await?;
                    return Ok(Flow::End("quit"));
                }
                Verb::Ehlo | Verb::Helo => self.hello(&cmd, &line).await?,
                Verb::StartTls => {
                    if let Some(flow) = self.starttls(&line).await? {
                        return Ok(flow);
                    }
                }
                Verb::Auth => self.auth(&cmd, &line).await?,
                Verb::Data => self.data().await?,
                Verb::Bdat => self.refuse_bdat(&cmd).await?,
                _ => {
                    debug_assert_ne!(place(cmd.verb), Place::Alone);
                    self.pipelined((Ok(cmd), line)).await?;
                }
            }
        }
    }

    /// The command on `line`, or `None` once an unusable one was refused.
    async fn parsed(&mut self, line: &[u8]) -> Result<Option<Command>, ProxyError> {
        match Command::parse(line) {
            Ok(c) => Ok(Some(c)),
            Err(e) => {
                let r = self.refusal(&e);
                self.reply_client(&r).await?;
                Ok(None)
            }
        }
    }

    /// EHLO (extensions filtered to what the gateway can follow) and HELO.
    async fn hello(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        let r = self.ask(line).await?;
        let word = if cmd.verb == Verb::Ehlo {
            "ehlo"
        } else {
            "helo"
        };
        self.core.ctx.log.event(
            "helo",
            &format!("{word} name={} reply={}", cmd.args, r.code),
        );
        self.end_txn(if cmd.verb == Verb::Ehlo {
            "EHLO"
        } else {
            "HELO"
        });
        let max = self.core.ctx.app.cfg.limits.max_message_bytes;
        if cmd.verb == Verb::Helo || r.code != 250 {
            if cmd.verb == Verb::Helo {
                self.ext = Extensions {
                    size: Some(max),
                    ..Extensions::default()
                };
            }
            return self.reply_client(&r).await;
        }
        let allow_tls = self.core.ctx.offers_starttls();
        let (filtered, ext) = codec::filter_ehlo(&r, max, allow_tls);
        self.ext = ext;
        self.reply_client(&filtered).await
    }

    /// STARTTLS: whatever was pipelined after it is plaintext that must never be answered
    /// or forwarded (RFC 3207 §4.2, STARTTLS command injection).
    async fn starttls(&mut self, line: &[u8]) -> Result<Option<Flow>, ProxyError> {
        let injected = self.core.client.buf.take_pending().len();
        if injected > 0 {
            self.core.ctx.log.event(
                "starttls",
                &format!("discarded {injected} bytes sent after STARTTLS"),
            );
        }
        if !self.core.ctx.offers_starttls() || !self.ext.starttls {
            let r = Reply::new(
                454,
                "4.7.0 portcullis: TLS is not available through this mail gateway",
            );
            self.reply_client(&r).await?;
            return Ok(None);
        }
        let r = self.ask(line).await?;
        if r.code != 220 {
            self.reply_client(&r).await?;
            return Ok(None);
        }
        Ok(Some(Flow::StartTls {
            ok: r.encode(),
            refused: Reply::new(
                454,
                "4.7.0 portcullis: TLS to the server failed verification",
            )
            .encode(),
        }))
    }

    /// SASL: 334 challenges and the client's answers are relayed; the user name is read
    /// from PLAIN and LOGIN, never the password.
    async fn auth(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        const LOCKED: &str = "4.7.0 portcullis: too many failed logins, try again later";
        let mut words = cmd.args.split_whitespace();
        let mech = words.next().unwrap_or("");
        if !sasl::attributable(mech) {
            self.core.ctx.log.event(
                "login",
                &format!("refused mechanism={mech}: its user cannot be read"),
            );
            let r = Reply::new(
                504,
                "5.5.4 portcullis: authentication mechanism not available here",
            );
            return self.reply_client(&r).await;
        }
        let mut sasl = SaslUser::start(mech, words.next().map(str::as_bytes));
        if self.core.ctx.login_blocked(sasl.user.as_deref()) {
            return self.reply_client(&Reply::new(454, LOCKED)).await;
        }
        let mut r = self.ask(line).await?;
        loop {
            self.reply_client(&r).await?;
            if r.code != 334 {
                break;
            }
            let Some(answer) = self.core.client.line().await? else {
                return Err(ProxyError::Closed { side: Side::Client });
            };
            if sasl.response(trim_eol(&answer)) && self.core.ctx.login_blocked(sasl.user.as_deref())
            {
                // Cancel the exchange (RFC 4954 §4) before the password reaches the server.
                let cancelled = self.ask(b"*\r\n").await?;
                self.core.ctx.log.event(
                    "login",
                    &format!(
                        "blocked user={} server_cancel={}",
                        sasl.user.unwrap_or_default(),
                        cancelled.code
                    ),
                );
                return self.reply_client(&Reply::new(454, LOCKED)).await;
            }
            r = self.ask(&answer).await?;
        }
        let detail = if r.code == 235 {
            format!(" mechanism={}", sasl.mech)
        } else {
            format!(" mechanism={} reply={}", sasl.mech, r.code)
        };
        self.core
            .ctx
            .login_done(sasl.user, r.login_answer(), &detail);
        Ok(())
    }
}
