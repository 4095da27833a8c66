//! The tokio driver of one POP3 session: relays commands one at a time (pipelined
//! commands wait in the buffer, so answers stay in order), holds every RETR/TOP answer
//! until its verdict, and guards DELE of replaced messages.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::abuse::Actor;
use crate::config::{DownloadAction, Listener, StartTls};
use crate::error::{ProxyError, Side};
use crate::ids::{ClientAddr, OrigDstAddr, QuarantineId, SessionId};
use crate::message::mime;
use crate::message::rewrite;
use crate::message::spool::Spool;
use crate::net::listener::Shared;
use crate::net::low_water::LowWater;
use crate::proto::conn::{self, ClientConn};
use crate::proto::deadline::{Deadline, Timer};
use crate::proto::dot::{self, Scratch};
use crate::proto::lines::trim_eol;
use crate::quarantine::Origin;
use crate::scan::{Verdict, policy};
use crate::session_log::SessionLog;

use super::codec::{self, Command, CommandError, ResponseDecoder, Status, Stuffer, Verb};

const LOCKED_OUT: &[u8] =
    b"-ERR [SYS/TEMP] portcullis: too many failed logins, try again later\r\n";

pub async fn run(
    mut client: TcpStream,
    client_addr: ClientAddr,
    server_addr: OrigDstAddr,
    id: SessionId,
    lcfg: &Listener,
    shared: &Shared,
) {
    let unreachable = b"-ERR [SYS/TEMP] portcullis: the mail server cannot be reached\r\n";
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
        sdec: ResponseDecoder::new(cfg.limits.max_line_bytes),
        low_water: LowWater::default(),
        server_deadline: Deadline::new(Duration::from_secs(cfg.limits.server_timeout_secs)),
        tick: Timer::new(
            (Duration::from_secs(cfg.limits.keepalive_secs) / 8).min(Duration::from_secs(1)),
        ),
        shared,
        lcfg,
        log,
        id,
        client_addr,
        server_addr,
        user: None,
        pending_user: None,
        uidls: HashMap::new(),
        sizes: HashMap::new(),
        replaced: HashMap::new(),
        qseq: 0,
        scratch: Scratch::default(),
        bytes_from_server: 0,
        messages: 0,
        verdicts: BTreeMap::new(),
    };
    let reason = match s.serve().await {
        Ok(r) => r.to_string(),
        Err(e) => {
            if e.side() == Side::Client && matches!(e, ProxyError::Protocol { .. }) {
                s.client.refuse(b"-ERR portcullis: line too long\r\n").await;
            }
            format!("{e}")
        }
    };
    let counts: Vec<String> = s.verdicts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let summary = format!(
        "reason=\"{reason}\" user={} messages={} verdicts=[{}] bytes_from_client={} bytes_to_client={} bytes_from_server={} duration_ms={}",
        s.user.as_deref().unwrap_or("-"),
        s.messages,
        counts.join(","),
        s.client.bytes_in,
        s.client.bytes_out,
        s.bytes_from_server,
        started.elapsed().as_millis()
    );
    s.log.event("end", &summary);
}

struct Session<'a> {
    client: ClientConn,
    server: TcpStream,
    sdec: ResponseDecoder,
    low_water: LowWater,
    /// limits.server_timeout_secs, for every read and write on the server connection.
    server_deadline: Deadline,
    /// limits.keepalive_secs while a message is held.
    tick: Timer,
    shared: &'a Shared,
    lcfg: &'a Listener,
    log: SessionLog,
    id: SessionId,
    client_addr: ClientAddr,
    server_addr: OrigDstAddr,
    user: Option<String>,
    pending_user: Option<String>,
    uidls: HashMap<u32, String>,
    /// Message sizes from LIST answers the client asked for.
    sizes: HashMap<u32, u64>,
    /// Messages the client was shown a replacement for, with their quarantine id; `None`
    /// means the original is not safely stored and must stay on the server.
    replaced: HashMap<u32, Option<QuarantineId>>,
    qseq: u64,
    scratch: Scratch,
    bytes_from_server: u64,
    messages: u64,
    verdicts: BTreeMap<&'static str, u64>,
}

/// How a held message will be sent.
enum Delivery {
    /// New header block, then the original from `body_offset`.
    Edited { head: Vec<u8>, body_offset: u64 },
    /// A complete replacement.
    Notice(Vec<u8>),
}

/// Listing lines are gathered into writes of about this size.
const LISTING_WRITE: usize = 16 * 1024;

fn server_line_too_long(limit: usize) -> ProxyError {
    ProxyError::protocol(
        Side::Server,
        format!("line longer than limits.max_line_bytes ({limit})"),
    )
}

impl Session<'_> {
    async fn send_client(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        self.client.send(data).await
    }

    async fn send_server(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        conn::write_within(
            &mut self.server,
            &mut self.server_deadline,
            Side::Server,
            conn::STALLED_SERVER,
            data,
        )
        .await
    }

    /// The next client line; `None` when the client closed the connection.
    async fn client_line(&mut self) -> Result<Option<Vec<u8>>, ProxyError> {
        self.client.line().await
    }

    async fn server_read(&mut self, buf: &mut [u8]) -> Result<usize, ProxyError> {
        let read = self.low_water.read(&mut self.server, buf);
        let n = match self.server_deadline.run(read).await {
            Some(r) => r.map_err(ProxyError::io(Side::Server))?,
            None => {
                return Err(ProxyError::Timeout {
                    side: Side::Server,
                    what: "answer (limits.server_timeout_secs)",
                });
            }
        };
        if n == 0 {
            return Err(ProxyError::Closed { side: Side::Server });
        }
        self.bytes_from_server += n as u64;
        Ok(n)
    }

    async fn server_line(&mut self) -> Result<Vec<u8>, ProxyError> {
        let mut buf = [0u8; 4096];
        loop {
            match self.sdec.line() {
                Ok(Some(l)) => return Ok(l.to_vec()),
                Ok(None) => {}
                Err(e) => return Err(server_line_too_long(e.limit)),
            }
            let n = self.server_read(&mut buf).await?;
            self.sdec.push(&buf[..n]);
        }
    }

    /// Reads a status line and insists it is one.
    async fn server_status(&mut self) -> Result<(Status, Vec<u8>), ProxyError> {
        let line = self.server_line().await?;
        match codec::parse_status(&line) {
            Some(st) => Ok((st, line)),
            None => Err(ProxyError::protocol(
                Side::Server,
                format!(
                    "not a POP3 status line: {:?}",
                    String::from_utf8_lossy(trim_eol(&line))
                ),
            )),
        }
    }

    async fn serve(&mut self) -> Result<&'static str, ProxyError> {
        let (st, greeting) = self.server_status().await?;
        self.send_client(&greeting).await?;
        if st != Status::Ok {
            return Ok("server refused the session");
        }
        loop {
            let Some(line) = self.client_line().await? else {
                return Ok("client disconnected without QUIT (no QUIT sent upstream)");
            };
            let cmd = match Command::parse(&line) {
                Ok(c) => c,
                Err(e) => {
                    let reply: &[u8] = match &e {
                        CommandError::Unknown(_) => {
                            b"-ERR portcullis: command not supported through the mail gateway\r\n"
                        }
                        CommandError::Malformed => b"-ERR portcullis: malformed command\r\n",
                        CommandError::BadArgument(_) => b"-ERR portcullis: invalid argument\r\n",
                    };
                    self.log
                        .event("refused", &format!("client command refused: {e:?}"));
                    self.send_client(reply).await?;
                    continue;
                }
            };
            match cmd.verb {
                Verb::Quit => {
                    self.send_server(&line).await?;
                    let (_, resp) = self.server_status().await?;
                    self.send_client(&resp).await?;
                    return Ok("quit");
                }
                Verb::Stls => {
                    if self.lcfg.starttls == StartTls::Strip {
                        self.send_client(
                            b"-ERR portcullis: STLS is not available through this mail gateway\r\n",
                        )
                        .await?;
                        continue;
                    }
                    self.send_server(&line).await?;
                    let (st, resp) = self.server_status().await?;
                    if st != Status::Ok {
                        self.send_client(&resp).await?;
                        continue;
                    }
                    return self.splice_tls(&resp).await;
                }
                Verb::Retr | Verb::Top => self.retrieve(&cmd, &line).await?,
                Verb::Dele => self.dele(&cmd, &line).await?,
                Verb::Auth => self.auth(&cmd, &line).await?,
                _ => self.simple(&cmd, &line).await?,
            }
        }
    }

    /// Lockout check before credentials go to the server; a refusal is reported.
    fn login_blocked(&mut self, user: Option<String>) -> bool {
        let actor = Actor {
            client: self.client_addr.0.ip(),
            user: user.as_deref(),
        };
        !self
            .shared
            .abuse
            .check_login(&mut self.log, self.id.as_str(), "pop3", &actor)
    }

    /// A -ERR to a login that blames the credentials, not a busy mailbox or the server.
    fn login_failed(&mut self, user: Option<String>, reply: &[u8]) {
        let r = String::from_utf8_lossy(reply).to_ascii_uppercase();
        if ["[IN-USE]", "[SYS/TEMP]", "[LOGIN-DELAY]"]
            .iter()
            .any(|c| r.contains(c))
        {
            return;
        }
        let actor = Actor {
            client: self.client_addr.0.ip(),
            user: user.as_deref(),
        };
        self.shared
            .abuse
            .report_failed_login(&mut self.log, self.id.as_str(), "pop3", &actor);
    }

    /// Commands whose answer is relayed as is (CAPA filtered, UIDL remembered).
    async fn simple(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        if let Verb::User | Verb::Apop = cmd.verb {
            self.pending_user = cmd.args.first().cloned();
        }
        if let Verb::Pass | Verb::Apop = cmd.verb
            && self.login_blocked(self.pending_user.clone())
        {
            return self.send_client(LOCKED_OUT).await;
        }
        self.send_server(line).await?;
        let (st, resp) = self.server_status().await?;
        self.send_client(&resp).await?;
        if st != Status::Ok {
            if let Verb::Pass | Verb::Apop = cmd.verb {
                let who = self.pending_user.clone();
                self.log.event(
                    "login",
                    &format!("failed user={}", who.as_deref().unwrap_or("")),
                );
                self.login_failed(who, &resp);
            }
            return Ok(());
        }
        match cmd.verb {
            Verb::Pass | Verb::Apop => {
                self.user = self.pending_user.take();
                let who = self.user.clone().unwrap_or_default();
                self.log.event("login", &format!("ok user={who}"));
            }
            Verb::Uidl | Verb::List if !cmd.multiline_answer() => {
                self.note_listing(cmd.verb, &resp, true);
            }
            _ => {}
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
        let limit = self.shared.cfg.limits.max_listing_bytes;
        let allow_stls = self.lcfg.starttls == StartTls::Passthrough;
        let mut total = 0u64;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            loop {
                let line = match self.sdec.line() {
                    Ok(Some(l)) => l.to_vec(),
                    Ok(None) => break,
                    Err(e) => return Err(server_line_too_long(e.limit)),
                };
                total += line.len() as u64;
                if total > limit {
                    return Err(ProxyError::protocol(
                        Side::Server,
                        format!("listing longer than limits.max_listing_bytes ({limit})"),
                    ));
                }
                if trim_eol(&line) == b"." {
                    out.extend_from_slice(b".\r\n");
                    return self.send_client(&out).await;
                }
                match verb {
                    Verb::Capa if !codec::capa_allowed(&line, allow_stls) => continue,
                    Verb::Uidl | Verb::List => self.note_listing(verb, &line, false),
                    _ => {}
                }
                out.extend_from_slice(&line);
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
            let n = self.server_read(&mut buf).await?;
            self.sdec.push(&buf[..n]);
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
    /// PLAIN and LOGIN responses for the log, never the password.
    async fn auth(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        if cmd.args.is_empty() {
            self.send_server(line).await?;
            let (st, resp) = self.server_status().await?;
            self.send_client(&resp).await?;
            if st == Status::Ok {
                self.relay_block(Verb::Auth).await?;
            }
            return Ok(());
        }
        let mech = cmd.args[0].to_ascii_uppercase();
        let mut step = 0usize;
        self.pending_user = None;
        if let Some(initial) = cmd.args.get(1) {
            self.note_sasl_user(&mech, 0, initial.as_bytes());
            step = 1;
        }
        if self.login_blocked(self.pending_user.clone()) {
            return self.send_client(LOCKED_OUT).await;
        }
        self.send_server(line).await?;
        loop {
            let (st, resp) = self.server_status().await?;
            self.send_client(&resp).await?;
            match st {
                Status::Continue => {
                    let Some(answer) = self.client_line().await? else {
                        return Err(ProxyError::Closed { side: Side::Client });
                    };
                    let had_user = self.pending_user.is_some();
                    self.note_sasl_user(&mech, step, trim_eol(&answer));
                    step += 1;
                    if !had_user && self.login_blocked(self.pending_user.clone()) {
                        // Cancel (RFC 5034 §4) before the password reaches the server.
                        self.send_server(b"*\r\n").await?;
                        self.server_status().await?;
                        return self.send_client(LOCKED_OUT).await;
                    }
                    self.send_server(&answer).await?;
                }
                Status::Ok => {
                    self.user = self.pending_user.take();
                    let who = self.user.clone().unwrap_or_default();
                    self.log
                        .event("login", &format!("ok user={who} mechanism={mech}"));
                    return Ok(());
                }
                Status::Err => {
                    let who = self.pending_user.take();
                    self.log.event(
                        "login",
                        &format!(
                            "failed user={} mechanism={mech}",
                            who.as_deref().unwrap_or("")
                        ),
                    );
                    self.login_failed(who, &resp);
                    return Ok(());
                }
            }
        }
    }

    fn note_sasl_user(&mut self, mech: &str, step: usize, data: &[u8]) {
        if let Some(u) = crate::proto::sasl::user_in_response(mech, step, data) {
            self.pending_user = Some(u);
        }
    }

    /// The server's UIDL for message `n`, asking the server if the client has not.
    async fn uidl_of(&mut self, n: u32) -> Result<Option<String>, ProxyError> {
        if let Some(u) = self.uidls.get(&n) {
            return Ok(Some(u.clone()));
        }
        self.send_server(format!("UIDL {n}\r\n").as_bytes()).await?;
        let (st, resp) = self.server_status().await?;
        if st != Status::Ok {
            return Ok(None);
        }
        let t = String::from_utf8_lossy(trim_eol(&resp)).into_owned();
        let uid = t.split_whitespace().nth(2).map(String::from);
        if let Some(u) = &uid {
            self.uidls.insert(n, u.clone());
        }
        Ok(uid)
    }

    /// Records durably, across sessions, whether message `n` is withheld without a
    /// quarantined copy, before the client sees its notice.
    async fn remember_withheld(&mut self, n: u32, quarantined: bool) -> Result<(), ProxyError> {
        let shared = self.shared;
        let user = self.user.clone().unwrap_or_else(|| "-".into());
        if quarantined
            && !shared
                .withheld
                .any_for(&self.server_addr, &user)
                .unwrap_or(true)
        {
            return Ok(());
        }
        let Some(uidl) = self.uidl_of(n).await? else {
            if !quarantined {
                self.log.event(
                    "withheld",
                    &format!(
                        "message={n} server gives no UIDL: kept on the server for this session only"
                    ),
                );
            }
            return Ok(());
        };
        let w = &shared.withheld;
        let r = if quarantined {
            w.clear(&self.server_addr, &user, &uidl)
        } else {
            w.mark(&self.server_addr, &user, &uidl)
        };
        if let Err(e) = r {
            self.log.event(
                "withheld",
                &format!("local: cannot record message={n} uidl={uidl}: {e}"),
            );
        }
        Ok(())
    }

    async fn dele(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        let n = cmd.msg_number().unwrap_or(0);
        let shared = self.shared;
        let user = self.user.clone().unwrap_or_else(|| "-".into());
        let mut withheld = matches!(self.replaced.get(&n), Some(None));
        if !withheld
            && shared
                .withheld
                .any_for(&self.server_addr, &user)
                .unwrap_or(true)
        {
            withheld = match self.uidl_of(n).await? {
                Some(uidl) => shared.withheld.contains(&self.server_addr, &user, &uidl),
                None => false,
            };
        }
        if withheld {
            self.log.event(
                "dele",
                &format!(
                    "message={n} refused: replaced but original not quarantined, kept on server"
                ),
            );
            return self
                .send_client(b"-ERR [SYS/TEMP] portcullis: this message was withheld and is kept on the server until an administrator reviews it\r\n")
                .await;
        }
        self.send_server(line).await?;
        let (st, resp) = self.server_status().await?;
        self.send_client(&resp).await?;
        if let Some(Some(q)) = self.replaced.get(&n) {
            let q = q.clone();
            self.log.event(
                "dele",
                &format!(
                    "message={n} quarantine={q} server_answer={}",
                    if st == Status::Ok { "ok" } else { "err" }
                ),
            );
        }
        Ok(())
    }

    /// After the server accepted STLS the session is spliced, unscanned. Plaintext that
    /// either side sent between STLS and the handshake is dropped: it can only be an
    /// injection.
    async fn splice_tls(&mut self, ok: &[u8]) -> Result<&'static str, ProxyError> {
        let server_pending = self.sdec.take_pending().len();
        conn::splice_tls(
            &mut self.client,
            &mut self.server,
            server_pending,
            ok,
            &mut self.log,
        )
        .await
    }

    /// RETR / TOP: hold the answer, scan it, deliver what policy says.
    async fn retrieve(&mut self, cmd: &Command, line: &[u8]) -> Result<(), ProxyError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let r = self.retrieve_with(cmd, line, &mut scratch).await;
        self.scratch = scratch;
        r
    }

    async fn retrieve_with(
        &mut self,
        cmd: &Command,
        line: &[u8],
        scratch: &mut Scratch,
    ) -> Result<(), ProxyError> {
        let n = cmd.msg_number().unwrap_or(0);
        let is_top = cmd.verb == Verb::Top;
        // A size from a LIST the client made stands in for a status line without one.
        let listed = if is_top {
            None
        } else {
            self.sizes.get(&n).copied()
        };
        self.send_server(line).await?;
        let (st, status) = self.server_status().await?;
        if st != Status::Ok {
            self.low_water.clear(&self.server);
            return self.send_client(&status).await;
        }
        let shared = self.shared;
        let cfg = &shared.cfg;
        let keepalive = Duration::from_secs(cfg.limits.keepalive_secs);
        self.tick.aim(Instant::now() + keepalive);
        let max_msg = cfg.limits.max_message_bytes;
        let mut early_sent = false;
        let mut stuffer = Stuffer::default();
        let mut spool = Spool::new(cfg.limits.spool_memory_bytes, &cfg.general.spool_dir);
        let announced = codec::octets(&status).or(listed);
        if let Some(size) = announced {
            spool.expect(size + size / 32);
        }
        // What the server still owes is at least the announced size and the terminating
        // ".\r\n" (stuffing only adds) minus what arrived. TOP sends part of a message.
        let mut owed = announced
            .filter(|_| !is_top)
            .map(|size| (size + 3).saturating_sub(self.sdec.buffered() as u64));
        let pipeline = &shared.pipeline;
        let mut scan = pipeline.begin().await;
        let mut overflow = false;
        scratch.read_buf();
        let Scratch { read: buf, out, .. } = scratch;
        let mut spool_err: Option<std::io::Error> = None;
        loop {
            out.clear();
            let ended = self.sdec.block(out);
            if !out.is_empty() {
                if spool.len() + out.len() as u64 > max_msg {
                    overflow = true;
                }
                if !overflow && spool_err.is_none() {
                    if let Err(e) = spool.write(out) {
                        spool_err = Some(e);
                    }
                    scan.feed(out).await;
                }
            }
            if ended {
                break;
            }
            // Wait for more of the answer, comforting the client meanwhile.
            if let Some(o) = owed {
                self.low_water.expect(&self.server, o);
            }
            let n = loop {
                let read = self
                    .server_deadline
                    .run(self.low_water.read(&mut self.server, &mut buf[..]));
                match self.tick.race(read).await {
                    Some(Some(r)) => {
                        let n = r.map_err(ProxyError::io(Side::Server))?;
                        if n == 0 {
                            return Err(ProxyError::Closed { side: Side::Server });
                        }
                        break n;
                    }
                    Some(None) => {
                        return Err(ProxyError::Timeout {
                            side: Side::Server,
                            what: "message (limits.server_timeout_secs)",
                        });
                    }
                    None => self.tick_keepalive(&mut early_sent, &mut stuffer).await?,
                }
            };
            self.bytes_from_server += n as u64;
            owed = owed.map(|o| o.saturating_sub(n as u64));
            self.sdec.push(&buf[..n]);
        }
        self.low_water.clear(&self.server);

        // The whole answer is in; decide. A message that was not held completely can
        // neither be delivered nor quarantined: the client gets a notice and the
        // original stays on the server.
        let held = !overflow && spool_err.is_none();
        let outcome = if overflow {
            None
        } else if let Some(e) = spool_err {
            Some((
                Verdict::Failed {
                    scanner: "spool".into(),
                    why: format!("local: {e}"),
                },
                Duration::ZERO,
                Vec::new(),
            ))
        } else {
            let fut = scan.finish(&mut spool);
            tokio::pin!(fut);
            let o = loop {
                match self.tick.race(&mut fut).await {
                    Some(o) => break o,
                    None => self.tick_keepalive(&mut early_sent, &mut stuffer).await?,
                }
            };
            for note in &o.notes {
                self.log.event("scan", &format!("message={n} {note}"));
            }
            Some((o.verdict, o.elapsed, o.engines))
        };
        let (verdict, elapsed, engines) = outcome.unwrap_or_else(|| {
            (
                Verdict::Unscannable {
                    why: format!("larger than limits.max_message_bytes ({max_msg})"),
                },
                Duration::ZERO,
                Vec::new(),
            )
        });
        let mut action = policy::download_action(&cfg.policy.download, &verdict);
        if !held {
            action = DownloadAction::Replace;
        }
        self.messages += 1;
        *self.verdicts.entry(verdict.kind()).or_insert(0) += 1;

        let head = spool
            .head(cfg.limits.max_header_bytes)
            .map_err(|e| ProxyError::Io {
                side: Side::Local,
                source: e,
            })?;
        let scan_header = format!(
            "X-Portcullis-Scan: {verdict} by portcullis on {} ({}); session {}",
            cfg.general.hostname,
            if engines.is_empty() {
                "no engine".to_string()
            } else {
                engines.join(", ")
            },
            self.id
        );
        let mut quarantine_note = String::new();
        let delivery = match action {
            DownloadAction::Replace => {
                let sum = mime::summary(&head);
                let qid = if !held || is_top {
                    None
                } else {
                    self.quarantine(&mut spool, &sum, &verdict)
                };
                quarantine_note = match &qid {
                    Some(q) => format!(" quarantine={q}"),
                    None if is_top => {
                        " quarantine=none (TOP shows part of the message; original kept on server)"
                            .into()
                    }
                    None => " quarantine=none (original kept on server)".into(),
                };
                self.remember_withheld(n, qid.is_some()).await?;
                // A replaced message stays guarded; a later full RETR may quarantine it.
                match self.replaced.get(&n) {
                    Some(Some(_)) => {}
                    _ => {
                        self.replaced.insert(n, qid.clone());
                    }
                }
                Delivery::Notice(self.notice(&head, sum, &verdict, qid.as_ref(), &scan_header))
            }
            DownloadAction::Pass | DownloadAction::Tag => {
                let scan_header = cfg.policy.scan_header.then(|| scan_header.clone());
                let tag = action == DownloadAction::Tag;
                let edit = rewrite::verdict_edit(&verdict, tag, scan_header, &cfg.policy);
                let (head, body_offset) = rewrite::edited_head(&head, &edit);
                Delivery::Edited { head, body_offset }
            }
        };
        let uidl = self.uidls.get(&n).cloned().unwrap_or_else(|| "-".into());
        self.log.event(
            "message",
            &format!(
                "command={} number={n} uidl={uidl} size={} verdict=\"{verdict}\" action={action:?} scan_ms={}{quarantine_note}",
                if is_top { "TOP" } else { "RETR" },
                spool.len(),
                elapsed.as_millis()
            ),
        );
        out.clear();
        self.deliver(delivery, &mut spool, &status, early_sent, stuffer, scratch)
            .await
    }

    /// The keep-alive timer fired: comfort the client and aim at the next period.
    async fn tick_keepalive(
        &mut self,
        early_sent: &mut bool,
        stuffer: &mut Stuffer,
    ) -> Result<(), ProxyError> {
        self.keepalive(early_sent, stuffer).await?;
        let period = Duration::from_secs(self.shared.cfg.limits.keepalive_secs);
        self.tick.aim(self.tick.deadline() + period);
        Ok(())
    }

    /// Proxy-generated bytes that are valid whatever the verdict: the status line, then
    /// header lines of our own. Never original content.
    async fn keepalive(
        &mut self,
        early_sent: &mut bool,
        stuffer: &mut Stuffer,
    ) -> Result<(), ProxyError> {
        let mut out = Vec::new();
        if !*early_sent {
            *early_sent = true;
            out.extend_from_slice(b"+OK message follows (held for scanning)\r\n");
        }
        stuffer.feed(b"X-Portcullis-Progress: scanning\r\n", &mut out);
        self.send_client(&out).await
    }

    fn quarantine(
        &mut self,
        spool: &mut Spool,
        sum: &mime::Summary,
        verdict: &Verdict,
    ) -> Option<QuarantineId> {
        let origin = Origin {
            session: &self.id,
            protocol: "pop3",
            user: self.user.as_deref(),
            client: self.client_addr,
            server: self.server_addr,
            from: sum.from.clone(),
            to: sum.to.clone(),
            subject: sum.subject.clone(),
        };
        self.shared
            .quarantine
            .keep(&mut self.log, &mut self.qseq, origin, verdict, spool)
    }

    fn notice(
        &self,
        head: &[u8],
        mut sum: mime::Summary,
        verdict: &Verdict,
        qid: Option<&QuarantineId>,
        scan_header: &str,
    ) -> Vec<u8> {
        let cfg = &self.shared.cfg;
        for v in [&mut sum.from, &mut sum.to, &mut sum.subject, &mut sum.date] {
            if v.is_empty() {
                *v = "(none)".into();
            }
        }
        let qtext = qid
            .map(|q| q.to_string())
            .unwrap_or_else(|| "(none: the original was left on the mail server)".into());
        let verdict_s = verdict.to_string();
        let client = self.client_addr.to_string();
        let server = self.server_addr.to_string();
        let session = self.id.to_string();
        let virus = match verdict {
            Verdict::Infected { name } => name.clone(),
            _ => String::new(),
        };
        let vars = [
            ("verdict", verdict_s.as_str()),
            ("virus", virus.as_str()),
            ("from", sum.from.as_str()),
            ("to", sum.to.as_str()),
            ("subject", sum.subject.as_str()),
            ("date", sum.date.as_str()),
            ("client", client.as_str()),
            ("server", server.as_str()),
            ("user", self.user.as_deref().unwrap_or("-")),
            ("session", session.as_str()),
            ("quarantine_id", qtext.as_str()),
            ("hostname", cfg.general.hostname.as_str()),
        ];
        let body = rewrite::render_template(&self.shared.notice_template, &vars);
        rewrite::notice_message(
            head,
            &[scan_header.to_string()],
            &cfg.policy.notice_subject_tag,
            &body,
        )
    }

    async fn deliver(
        &mut self,
        delivery: Delivery,
        spool: &mut Spool,
        status: &[u8],
        early_sent: bool,
        mut stuffer: Stuffer,
        scratch: &mut Scratch,
    ) -> Result<(), ProxyError> {
        let out = &mut scratch.out;
        out.clear();
        let total = match &delivery {
            Delivery::Notice(n) => n.len() as u64,
            Delivery::Edited { head, body_offset } => head.len() as u64 + spool.len() - body_offset,
        };
        if !early_sent {
            out.extend_from_slice(&codec::rewrite_octets(status, total));
        }
        match delivery {
            Delivery::Notice(n) => {
                stuffer.feed(&n, out);
                stuffer.finish(out);
                let r = self.client.send(out).await;
                out.clear();
                r
            }
            Delivery::Edited { head, body_offset } => {
                dot::send_message(
                    dot::Peer {
                        stream: &mut self.client.stream,
                        deadline: &mut self.client.idle,
                        side: Side::Client,
                        stalled: conn::STALLED_IDLE,
                        sent: &mut self.client.bytes_out,
                    },
                    scratch,
                    &head,
                    spool,
                    body_offset,
                    Some(stuffer),
                )
                .await
            }
        }
    }
}
