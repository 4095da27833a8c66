//! The tokio driver of one SMTP session. Commands are relayed one at a time, so under
//! PIPELINING every command still gets exactly one reply, in order. A message is received
//! and scanned before the real server sees any of it: DATA goes upstream only once the
//! verdict allows delivery, so a rejected message is ended with RSET and the server never
//! holds a byte of it, and a tagged message can carry its new headers.
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::abuse::{Actor, Hit};
use crate::config::{BareLineEndings, Listener, RateWhat, StartTls, SubmitAction};
use crate::error::{ProxyError, Side};
use crate::ids::{ClientAddr, OrigDstAddr, QuarantineId, SessionId};
use crate::message::mime;
use crate::message::rewrite;
use crate::message::spool::Spool;
use crate::net::listener::Shared;
use crate::proto::conn::{self, ClientConn};
use crate::proto::deadline::Deadline;
use crate::proto::dot::{self, Scratch, Stuffer};
use crate::proto::lines::{LineBuffer, trim_eol};
use crate::quarantine::Origin;
use crate::scan::{Verdict, policy};
use crate::session_log::SessionLog;

use super::codec::{self, Command, CommandError, Extensions, Reply, ReplyAssembler, Verb};
use super::data::DataReader;

pub async fn run(
    mut client: TcpStream,
    client_addr: ClientAddr,
    server_addr: OrigDstAddr,
    id: SessionId,
    lcfg: &Listener,
    shared: &Shared,
) {
    let unreachable =
        b"421 4.4.1 portcullis: the mail server cannot be reached, try again later\r\n";
    let opened = conn::open(
        &mut client,
        client_addr,
        server_addr,
        &id,
        lcfg,
        shared,
        unreachable,
    )
    .await;
    let Some((log, server, started)) = opened else {
        return;
    };
    let cfg = &shared.cfg;
    let mut s = Session {
        client: ClientConn::new(client, shared),
        server,
        sbuf: LineBuffer::new(cfg.limits.max_line_bytes),
        server_deadline: Deadline::new(Duration::from_secs(cfg.limits.server_timeout_secs)),
        shared,
        lcfg,
        log,
        id,
        client_addr,
        server_addr,
        user: None,
        pending_user: None,
        ext: Extensions::default(),
        txn: None,
        qseq: 0,
        scratch: Scratch::default(),
        bytes_to_server: 0,
        messages: 0,
        delivered: 0,
    };
    let reason = match s.serve().await {
        Ok(r) => r.to_string(),
        Err(e) => {
            if matches!(
                e,
                ProxyError::Protocol {
                    side: Side::Client,
                    ..
                }
            ) {
                s.client
                    .refuse(b"500 5.5.2 portcullis: line too long\r\n")
                    .await;
            }
            if e.side() == Side::Server {
                let _ = s
                    .client
                    .send(b"421 4.4.2 portcullis: lost the connection to the mail server\r\n")
                    .await;
            }
            e.to_string()
        }
    };
    s.end_txn("session end");
    let summary = format!(
        "reason=\"{reason}\" user={} messages={} delivered={} bytes_from_client={} bytes_to_server={} duration_ms={}",
        s.user.as_deref().unwrap_or("-"),
        s.messages,
        s.delivered,
        s.client.bytes_in,
        s.bytes_to_server,
        started.elapsed().as_millis()
    );
    s.log.event("end", &summary);
}

/// The envelope of the message being submitted. Accepted MAIL and RCPT commands are
/// logged once, with the message (or with the reason it never came), so a message costs
/// one log line, not one per command; refusals are logged when they happen.
#[derive(Debug, Default)]
struct Txn {
    from: String,
    /// The SIZE the client declared at MAIL, if any.
    size: Option<u64>,
    /// Recipients the server accepted.
    rcpts: Vec<String>,
    /// RCPT commands tried, accepted or not (smtp.max_recipients counts these).
    tried: usize,
}

impl Txn {
    fn envelope(&self) -> String {
        let to: Vec<String> = self.rcpts.iter().map(|r| format!("<{r}>")).collect();
        format!("from=<{}> to={}", self.from, to.join(","))
    }
}

struct Session<'a> {
    client: ClientConn,
    server: TcpStream,
    sbuf: LineBuffer,
    /// limits.server_timeout_secs, for every read and write on the server connection.
    server_deadline: Deadline,
    shared: &'a Shared,
    lcfg: &'a Listener,
    log: SessionLog,
    id: SessionId,
    client_addr: ClientAddr,
    server_addr: OrigDstAddr,
    user: Option<String>,
    pending_user: Option<String>,
    ext: Extensions,
    txn: Option<Txn>,
    qseq: u64,
    scratch: Scratch,
    bytes_to_server: u64,
    messages: u64,
    delivered: u64,
}

/// What the proxy does with a received message.
enum Outcome {
    Deliver { tag: bool },
    Refuse(Reply),
}

impl Session<'_> {
    fn actor(&self) -> Actor<'_> {
        Actor {
            client: self.client_addr.0.ip(),
            user: self.user.as_deref(),
        }
    }

    /// Logs a limit hit or lockout in the session and raises the alert.
    fn limit_hit(&mut self, hit: &Hit, actor_user: Option<&str>) {
        let actor = Actor {
            client: self.client_addr.0.ip(),
            user: actor_user,
        };
        self.shared
            .abuse
            .report(&mut self.log, hit, self.id.as_str(), "smtp", &actor);
    }

    /// Checks a rate limit for the current actor; on a hit, answers 450 and alerts.
    async fn within_rate(&mut self, what: RateWhat, amount: u64) -> Result<bool, ProxyError> {
        let checked = self
            .shared
            .abuse
            .check(what, amount, &self.actor(), Instant::now());
        match checked {
            Ok(()) => Ok(true),
            Err(hit) => {
                let user = self.user.clone();
                self.limit_hit(&hit, user.as_deref());
                self.reply_client(&Reply::new(
                    450,
                    "4.7.1 portcullis: sending limit reached, try again later",
                ))
                .await?;
                Ok(false)
            }
        }
    }

    /// Whether a login for `user` (if known yet) must not go to the server.
    fn login_blocked(&mut self, user: Option<&str>) -> bool {
        let actor = Actor {
            client: self.client_addr.0.ip(),
            user,
        };
        !self
            .shared
            .abuse
            .check_login(&mut self.log, self.id.as_str(), "smtp", &actor)
    }

    async fn send_client(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        self.client.send(data).await
    }

    async fn reply_client(&mut self, r: &Reply) -> Result<(), ProxyError> {
        self.send_client(&r.encode()).await
    }

    async fn send_server(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        self.bytes_to_server += data.len() as u64;
        conn::write_within(
            &mut self.server,
            &mut self.server_deadline,
            Side::Server,
            conn::STALLED_SERVER,
            data,
        )
        .await
    }

    async fn client_read(&mut self, buf: &mut [u8]) -> Result<usize, ProxyError> {
        self.client.read(buf).await
    }

    /// The next client line; `None` when the client closed the connection.
    async fn client_line(&mut self) -> Result<Option<Vec<u8>>, ProxyError> {
        self.client.line().await
    }

    async fn server_reply(&mut self) -> Result<Reply, ProxyError> {
        let mut asm = ReplyAssembler::default();
        let mut buf = [0u8; 4096];
        loop {
            loop {
                let line = match self.sbuf.next_line() {
                    Ok(Some(l)) => l.to_vec(),
                    Ok(None) => break,
                    Err(e) => {
                        return Err(ProxyError::protocol(
                            Side::Server,
                            format!("reply line longer than limits.max_line_bytes ({})", e.limit),
                        ));
                    }
                };
                match asm.push_line(&line) {
                    Ok(Some(r)) => return Ok(r),
                    Ok(None) => {}
                    Err(e) => return Err(ProxyError::protocol(Side::Server, format!("{e:?}"))),
                }
            }
            let n = match self.server_deadline.run(self.server.read(&mut buf)).await {
                Some(r) => r.map_err(ProxyError::io(Side::Server))?,
                None => {
                    return Err(ProxyError::Timeout {
                        side: Side::Server,
                        what: "reply (limits.server_timeout_secs)",
                    });
                }
            };
            if n == 0 {
                return Err(ProxyError::Closed { side: Side::Server });
            }
            self.sbuf.push(&buf[..n]);
        }
    }

    /// Forwards a command line and returns the server's reply.
    async fn ask(&mut self, line: &[u8]) -> Result<Reply, ProxyError> {
        self.send_server(line).await?;
        self.server_reply().await
    }

    async fn relay(&mut self, line: &[u8]) -> Result<Reply, ProxyError> {
        let r = self.ask(line).await?;
        self.reply_client(&r).await?;
        Ok(r)
    }

    async fn serve(&mut self) -> Result<&'static str, ProxyError> {
        let greeting = self.server_reply().await?;
        self.reply_client(&greeting).await?;
        if greeting.code != 220 {
            return Ok("server refused the session");
        }
        loop {
            let Some(line) = self.client_line().await? else {
                return Ok("client disconnected without QUIT");
            };
            let cmd = match Command::parse(&line) {
                Ok(c) => c,
                Err(e) => {
                    let r = match &e {
                        CommandError::Unknown(_) => {
                            Reply::new(502, "5.5.2 portcullis: command not recognized")
                        }
                        CommandError::Malformed => {
                            Reply::new(500, "5.5.2 portcullis: malformed command")
                        }
                    };
                    self.log
                        .event("refused", &format!("client command refused: {e:?}"));
                    self.reply_client(&r).await?;
                    continue;
                }
            };
            match cmd.verb {
                Verb::Quit => {
                    self.relay(&line).await?;
                    return Ok("quit");
                }
                Verb::Ehlo => {
                    let r = self.ask(&line).await?;
                    self.log
                        .event("helo", &format!("ehlo name={} reply={}", cmd.args, r.code));
                    self.end_txn("EHLO");
                    if r.code == 250 {
                        let allow_tls = self.lcfg.starttls == StartTls::Passthrough;
                        let (filtered, ext) = codec::filter_ehlo(
                            &r,
                            self.shared.cfg.limits.max_message_bytes,
                            allow_tls,
                        );
                        self.ext = ext;
                        self.reply_client(&filtered).await?;
                    } else {
                        self.reply_client(&r).await?;
                    }
                }
                Verb::Helo => {
                    let r = self.relay(&line).await?;
                    self.log
                        .event("helo", &format!("helo name={} reply={}", cmd.args, r.code));
                    self.ext = Extensions {
                        size: Some(self.shared.cfg.limits.max_message_bytes),
                        ..Extensions::default()
                    };
                    self.end_txn("HELO");
                }
                Verb::StartTls => {
                    // Whatever was pipelined after STARTTLS is plaintext that must never be
                    // answered or forwarded (RFC 3207 §4.2, STARTTLS command injection).
                    let injected = self.client.buf.take_pending().len();
                    if injected > 0 {
                        self.log.event(
                            "starttls",
                            &format!("discarded {injected} bytes sent after STARTTLS"),
                        );
                    }
                    if self.lcfg.starttls == StartTls::Strip || !self.ext.starttls {
                        self.reply_client(&Reply::new(
                            454,
                            "4.7.0 portcullis: TLS is not available through this mail gateway",
                        ))
                        .await?;
                        continue;
                    }
                    let r = self.ask(&line).await?;
                    if r.code != 220 {
                        self.reply_client(&r).await?;
                        continue;
                    }
                    return self.splice_tls(&r).await;
                }
                Verb::Auth => self.auth(&cmd, &line).await?,
                Verb::Mail => self.mail(&cmd, &line).await?,
                Verb::Rcpt => self.rcpt(&cmd, &line).await?,
                Verb::Data => self.data().await?,
                Verb::Bdat => self.refuse_bdat(&cmd).await?,
                Verb::Rset => {
                    self.relay(&line).await?;
                    self.end_txn("RSET");
                }
                Verb::Noop | Verb::Vrfy | Verb::Expn | Verb::Help => {
                    self.relay(&line).await?;
                }
            }
        }
    }

    async fn splice_tls(&mut self, ok: &Reply) -> Result<&'static str, ProxyError> {
        let server_pending = self.sbuf.take_pending().len();
        conn::splice_tls(
            &mut self.client,
            &mut self.server,
            server_pending,
            &ok.encode(),
            &mut self.log,
        )
        .await
    }

    /// SASL: 334 challenges and the client's answers are relayed; the user name is read
    /// from PLAIN and LOGIN for logs, never the password.
    async fn auth(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        const LOCKED: &str = "4.7.0 portcullis: too many failed logins, try again later";
        let mut words = cmd.args.split_whitespace();
        let mech = words.next().unwrap_or("").to_ascii_uppercase();
        let mut step = 0usize;
        self.pending_user = None;
        if let Some(initial) = words.next() {
            self.note_sasl_user(&mech, 0, initial.as_bytes());
            step = 1;
        }
        let pending = self.pending_user.clone();
        if self.login_blocked(pending.as_deref()) {
            return self.reply_client(&Reply::new(454, LOCKED)).await;
        }
        let mut r = self.ask(line).await?;
        loop {
            self.reply_client(&r).await?;
            if r.code != 334 {
                break;
            }
            let Some(answer) = self.client_line().await? else {
                return Err(ProxyError::Closed { side: Side::Client });
            };
            let had_user = self.pending_user.is_some();
            self.note_sasl_user(&mech, step, trim_eol(&answer));
            step += 1;
            let pending = self.pending_user.clone();
            if !had_user && pending.is_some() && self.login_blocked(pending.as_deref()) {
                // Cancel the exchange (RFC 4954 §4) before the password reaches the server.
                let cancelled = self.ask(b"*\r\n").await?;
                self.log.event(
                    "login",
                    &format!(
                        "blocked user={} server_cancel={}",
                        pending.unwrap_or_default(),
                        cancelled.code
                    ),
                );
                return self.reply_client(&Reply::new(454, LOCKED)).await;
            }
            r = self.ask(&answer).await?;
        }
        let who = self.pending_user.take();
        let name = who.clone().unwrap_or_default();
        if r.code == 235 {
            self.user = who;
            self.log
                .event("login", &format!("ok user={name} mechanism={mech}"));
        } else {
            self.log.event(
                "login",
                &format!("failed user={name} mechanism={mech} reply={}", r.code),
            );
            if r.code == 535 {
                let actor = Actor {
                    client: self.client_addr.0.ip(),
                    user: who.as_deref(),
                };
                self.shared.abuse.report_failed_login(
                    &mut self.log,
                    self.id.as_str(),
                    "smtp",
                    &actor,
                );
            }
        }
        Ok(())
    }

    fn note_sasl_user(&mut self, mech: &str, step: usize, data: &[u8]) {
        if let Some(u) = crate::proto::sasl::user_in_response(mech, step, data) {
            self.pending_user = Some(u);
        }
    }

    async fn mail(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        let limit = self
            .ext
            .size
            .unwrap_or(self.shared.cfg.limits.max_message_bytes);
        let declared = cmd
            .params()
            .into_iter()
            .find(|(k, _)| k == "SIZE")
            .and_then(|(_, v)| v.and_then(|v| v.parse::<u64>().ok()));
        if let Some(size) = declared
            && size > limit
        {
            self.log.event(
                "mail",
                &format!(
                    "from=<{}> refused: SIZE={size} above {limit}",
                    cmd.path().unwrap_or("")
                ),
            );
            return self
                .reply_client(&Reply::new(552, &format!("5.3.4 portcullis: message size exceeds fixed maximum message size ({limit})")))
                .await;
        }
        if !self.within_rate(RateWhat::Messages, 1).await? {
            return Ok(());
        }
        let r = self.relay(line).await?;
        let from = cmd.path().unwrap_or("").to_string();
        if !r.is_positive() {
            // A refused MAIL (nested, say) leaves any transaction in progress as it was.
            self.log
                .event("mail", &format!("from=<{from}> reply={}", r.summary()));
        } else {
            self.end_txn("a new MAIL");
            self.txn = Some(Txn {
                from,
                size: declared,
                ..Txn::default()
            });
        }
        Ok(())
    }

    async fn rcpt(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        let max = self.shared.cfg.smtp.max_recipients;
        if self.txn.as_ref().is_some_and(|t| t.tried >= max) {
            return self
                .reply_client(&Reply::new(
                    452,
                    &format!("4.5.3 portcullis: too many recipients (smtp.max_recipients = {max})"),
                ))
                .await;
        }
        if !self.within_rate(RateWhat::Recipients, 1).await? {
            return Ok(());
        }
        let r = self.relay(line).await?;
        let to = cmd.path().unwrap_or("").to_string();
        if r.is_positive() {
            self.shared
                .abuse
                .record(RateWhat::Recipients, 1, &self.actor(), Instant::now());
        }
        match self.txn.as_mut() {
            Some(t) => {
                t.tried += 1;
                if r.is_positive() {
                    t.rcpts.push(to);
                } else {
                    self.log.event(
                        "rcpt",
                        &format!("from=<{}> to=<{to}> reply={}", t.from, r.summary()),
                    );
                }
            }
            None => self
                .log
                .event("rcpt", &format!("to=<{to}> reply={}", r.summary())),
        }
        Ok(())
    }

    /// BDAT is not offered (CHUNKING is removed from EHLO). A client that sends it anyway
    /// has its chunk read and dropped, so chunk bytes are never taken for commands.
    async fn refuse_bdat(&mut self, cmd: &Command) -> Result<(), ProxyError> {
        let size: Option<u64> = cmd
            .args
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok());
        let Some(mut left) = size.filter(|s| *s <= self.shared.cfg.limits.max_message_bytes) else {
            return Err(ProxyError::protocol(
                Side::Client,
                "BDAT with an unreadable or oversized chunk",
            ));
        };
        let pending = self.client.buf.pending().len() as u64;
        let take = pending.min(left);
        self.client.buf.consume(take as usize);
        left -= take;
        let mut buf = vec![0u8; dot::CHUNK];
        while left > 0 {
            let want = (left as usize).min(buf.len());
            let n = self.client_read(&mut buf[..want]).await?;
            if n == 0 {
                return Err(ProxyError::Closed { side: Side::Client });
            }
            left -= n as u64;
        }
        self.end_txn("BDAT refused");
        self.reply_client(&Reply::new(
            502,
            "5.5.1 portcullis: BDAT is not available here, use DATA",
        ))
        .await?;
        // The server holds MAIL/RCPT state for the dropped transaction: clear it.
        let r = self.ask(b"RSET\r\n").await?;
        if !r.is_positive() {
            self.log.event(
                "bdat",
                &format!("server answered RSET with {}", r.summary()),
            );
        }
        Ok(())
    }

    async fn data(&mut self) -> Result<(), ProxyError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let r = self.data_with(&mut scratch).await;
        self.scratch = scratch;
        r
    }

    async fn data_with(&mut self, scratch: &mut Scratch) -> Result<(), ProxyError> {
        let txn = match self.txn.take() {
            None => {
                return self
                    .reply_client(&Reply::new(
                        503,
                        "5.5.1 portcullis: need MAIL and RCPT first",
                    ))
                    .await;
            }
            Some(t) if t.rcpts.is_empty() => {
                self.log.event(
                    "transaction",
                    &format!(
                        "{} ended without a message (no accepted recipient)",
                        t.envelope()
                    ),
                );
                self.reply_client(&Reply::new(554, "5.5.1 portcullis: no valid recipients"))
                    .await?;
                return self.reset_server().await;
            }
            Some(t) => t,
        };
        self.reply_client(&Reply::new(354, "End data with <CR><LF>.<CR><LF>"))
            .await?;
        let shared = self.shared;
        let cfg = &shared.cfg;
        let started = Instant::now();
        let normalise = cfg.smtp.bare_line_endings == BareLineEndings::Normalise;
        let limit = self
            .ext
            .size
            .unwrap_or(cfg.limits.max_message_bytes)
            .min(cfg.limits.max_message_bytes);
        let mut reader = DataReader::new(normalise);
        let mut spool = Spool::new(cfg.limits.spool_memory_bytes, &cfg.general.spool_dir);
        let mut scan = shared.pipeline.begin().await;
        if let Some(declared) = txn.size {
            spool.expect(declared);
        }
        scratch.read_buf();
        let mut size = 0u64;
        let mut spool_err = None;
        loop {
            let Scratch { read: buf, out, .. } = &mut *scratch;
            out.clear();
            let pending = self.client.buf.pending();
            let end = reader.feed(pending, |d| out.extend_from_slice(d));
            let used = end.unwrap_or(pending.len());
            self.client.buf.consume(used);
            size += out.len() as u64;
            if size <= limit && spool_err.is_none() && !out.is_empty() {
                if let Err(e) = spool.write(out) {
                    spool_err = Some(e);
                }
                scan.feed(out).await;
            }
            if end.is_some() {
                break;
            }
            let n = self.client_read(&mut buf[..]).await?;
            if n == 0 {
                return Err(ProxyError::Closed { side: Side::Client });
            }
            self.client.buf.push(&buf[..n]);
        }
        self.messages += 1;
        let envelope = txn.envelope();

        let refused = |code, text: String| Some(Reply::new(code, &text));
        let early = if size > limit {
            refused(
                552,
                format!(
                    "5.3.4 portcullis: message size exceeds fixed maximum message size ({limit})"
                ),
            )
        } else if !reader.clean() && !normalise {
            refused(
                554,
                format!(
                    "5.6.0 portcullis: message has bare CR or LF line endings ({} LF, {} CR); use CRLF",
                    reader.bare_lf, reader.bare_cr
                ),
            )
        } else if let Some(e) = spool_err {
            self.log.event("spool", &format!("local: {e}"));
            refused(451, "4.3.0 portcullis: local error, try again later".into())
        } else if let Err(hit) =
            self.shared
                .abuse
                .check(RateWhat::Bytes, size, &self.actor(), Instant::now())
        {
            let user = self.user.clone();
            self.limit_hit(&hit, user.as_deref());
            refused(
                450,
                "4.7.1 portcullis: sending limit reached, try again later".into(),
            )
        } else {
            None
        };
        if let Some(r) = early {
            self.log.event(
                "message",
                &format!(
                    "{envelope} size={size} bare_lf={} bare_cr={} refused=\"{}\"",
                    reader.bare_lf,
                    reader.bare_cr,
                    r.summary()
                ),
            );
            self.reply_client(&r).await?;
            return self.reset_server().await;
        }

        let outcome = scan.finish(&mut spool).await;
        for note in &outcome.notes {
            self.log.event("scan", note);
        }
        let verdict = outcome.verdict.clone();
        let action = policy::submission_action(&cfg.policy.submission, &verdict);
        let head = spool
            .head(cfg.limits.max_header_bytes)
            .map_err(ProxyError::io(Side::Local))?;
        let mut qnote = String::new();
        let decision = match action {
            SubmitAction::Pass => Outcome::Deliver { tag: false },
            SubmitAction::Tag => Outcome::Deliver { tag: true },
            SubmitAction::Reject => {
                let q = self.quarantine(&mut spool, &head, &verdict, &txn);
                qnote = q
                    .as_ref()
                    .map(|q| format!(" quarantine={q}"))
                    .unwrap_or_default();
                Outcome::Refuse(Reply::new(
                    554,
                    &format!("5.7.1 portcullis: message rejected: {verdict}"),
                ))
            }
            SubmitAction::Tempfail => Outcome::Refuse(Reply::new(
                451,
                &format!("4.7.1 portcullis: message not accepted now: {verdict}; try again later"),
            )),
            SubmitAction::Discard => match self.quarantine(&mut spool, &head, &verdict, &txn) {
                Some(q) => {
                    qnote = format!(" quarantine={q}");
                    Outcome::Refuse(Reply::new(250, "2.0.0 portcullis: message accepted"))
                }
                // Discarding without a kept copy would lose the mail: the sender retries.
                None => Outcome::Refuse(Reply::new(
                    451,
                    "4.3.0 portcullis: message could not be kept, try again later",
                )),
            },
        };
        let scan_ms = outcome.elapsed.as_millis();
        match decision {
            Outcome::Refuse(r) => {
                self.log.event(
                    "message",
                    &format!(
                        "{envelope} size={size} verdict=\"{verdict}\" action={action:?} scan_ms={scan_ms} reply=\"{}\"{qnote}",
                        r.summary()
                    ),
                );
                self.reply_client(&r).await?;
                self.reset_server().await
            }
            Outcome::Deliver { tag } => {
                let scan_header = cfg.policy.scan_header.then(|| {
                    format!(
                        "X-Portcullis-Scan: {verdict} by portcullis on {} ({}); session {}",
                        cfg.general.hostname,
                        outcome.engines.join(", "),
                        self.id
                    )
                });
                let edit = rewrite::verdict_edit(&verdict, tag, scan_header, &cfg.policy);
                let (new_head, body_offset) = rewrite::edited_head(&head, &edit);
                let final_reply = self
                    .send_upstream(&new_head, &mut spool, body_offset, scratch)
                    .await?;
                if final_reply.code == 250 {
                    self.delivered += 1;
                    let now = Instant::now();
                    self.shared
                        .abuse
                        .record(RateWhat::Messages, 1, &self.actor(), now);
                    self.shared
                        .abuse
                        .record(RateWhat::Bytes, size, &self.actor(), now);
                }
                self.log.event(
                    "message",
                    &format!(
                        "{envelope} size={size} verdict=\"{verdict}\" action={action:?} scan_ms={scan_ms} total_ms={} via={} upstream=\"{}\"",
                        started.elapsed().as_millis(),
                        if self.ext.chunking { "BDAT" } else { "DATA" },
                        final_reply.summary()
                    ),
                );
                self.reply_client(&final_reply).await
            }
        }
    }

    /// Sends a message whose verdict allows delivery and returns the server's final reply.
    /// With CHUNKING one `BDAT n LAST` carries it, raw, in a single round trip; otherwise
    /// DATA, a wait for 354, and the dot-stuffed message.
    async fn send_upstream(
        &mut self,
        head: &[u8],
        spool: &mut Spool,
        body_offset: u64,
        scratch: &mut Scratch,
    ) -> Result<Reply, ProxyError> {
        scratch.out.clear();
        let stuffer = if self.ext.chunking {
            let size = head.len() as u64 + spool.len() - body_offset;
            scratch
                .out
                .extend_from_slice(format!("BDAT {size} LAST\r\n").as_bytes());
            None
        } else {
            let r = self.ask(b"DATA\r\n").await?;
            if r.code != 354 {
                return Ok(r);
            }
            Some(Stuffer::default())
        };
        dot::send_message(
            dot::Peer {
                stream: &mut self.server,
                deadline: &mut self.server_deadline,
                side: Side::Server,
                stalled: conn::STALLED_SERVER,
                sent: &mut self.bytes_to_server,
            },
            scratch,
            head,
            spool,
            body_offset,
            stuffer,
        )
        .await?;
        self.server_reply().await
    }

    /// Ends the server's open transaction without a message.
    async fn reset_server(&mut self) -> Result<(), ProxyError> {
        let r = self.ask(b"RSET\r\n").await?;
        if !r.is_positive() {
            self.log.event(
                "rset",
                &format!("server answered RSET with {}", r.summary()),
            );
        }
        Ok(())
    }

    /// The transaction in progress ends without a message: say so, with its envelope.
    fn end_txn(&mut self, why: &str) {
        if let Some(t) = self.txn.take() {
            self.log.event(
                "transaction",
                &format!("{} ended without a message ({why})", t.envelope()),
            );
        }
    }

    fn quarantine(
        &mut self,
        spool: &mut Spool,
        head: &[u8],
        verdict: &Verdict,
        txn: &Txn,
    ) -> Option<QuarantineId> {
        let origin = Origin {
            session: &self.id,
            protocol: "smtp",
            user: self.user.as_deref(),
            client: self.client_addr,
            server: self.server_addr,
            from: txn.from.clone(),
            to: txn.rcpts.join(", "),
            subject: mime::summary(head).subject,
        };
        self.shared
            .quarantine
            .keep(&mut self.log, &mut self.qseq, origin, verdict, spool)
    }
}
