//! The IMAP driver on the session layer. Both directions are framed (see `framing`) and
//! read at once: IMAP is full duplex (IDLE, unsolicited responses, pipelined commands).
//! Client commands are gathered whole and acted on at their end (`client`); server
//! responses are relayed as they come (`server`), except FETCH responses that carry
//! message content, which are held, judged and served from the safe version (`held`),
//! and APPEND messages, which are held and judged before the server sees them (`append`).
use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::capability::CapabilityPolicy;
use super::command::Kind;
use super::framing::{FrameLimits, Framer, Sender};
use super::plan::Plan;
use super::reader::CommandReader;
use crate::error::{ProxyError, Side};
use crate::net::deadline::Deadline;
use crate::session::login::SaslUser;
use crate::session::{Conn, Core, Driver, Flow};

/// Commands in flight at once (pipelined by the client, not yet answered).
const MAX_PENDING: usize = 256;

pub(super) use super::events::{Ev, ReadBuf};

/// What a forwarded command waits for.
#[derive(Debug)]
pub(super) enum Waiting {
    Login { user: Option<String> },
    Authenticate,
    StartTls,
    Select { mailbox: String },
    Fetch { plan: Plan, refused: Option<String> },
    Idle,
    Append,
    Logout,
    Other,
}

#[derive(Debug)]
pub(super) struct Pending {
    pub tag: String,
    pub what: Waiting,
}

/// The mailbox the client selected.
#[derive(Debug, Clone)]
pub(super) struct Selected {
    pub name: String,
    pub uid_validity: Option<u32>,
}

/// What the session counts for its end line.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub verdicts: BTreeMap<&'static str, u64>,
    pub cache_hits: u64,
    /// Pieces served from the session's copy of a message.
    pub copy_hits: u64,
    pub appends: u64,
}

pub struct Imap {
    pub(super) core: Core,
    pub(super) cfr: Framer,
    pub(super) sfr: Framer,
    pub(super) reader: CommandReader,
    /// The client command gathered so far (see `client`).
    pub(super) gathered: super::client::Gathered,
    pub(super) pending: Vec<Pending>,
    /// An AUTHENTICATE exchange in progress: client lines are SASL responses.
    pub(super) sasl: Option<SaslUser>,
    /// The session is locked out: the running AUTHENTICATE gets our refusal.
    pub(super) sasl_locked: bool,
    pub(super) idling: bool,
    /// In an AUTHENTICATE or IDLE exchange, the server's `+` was relayed and the client's
    /// answer is due. Until then client bytes are not read: a command pipelined behind
    /// AUTHENTICATE would go up as a SASL response, unexamined, and one behind IDLE could
    /// take the server's `+ idling` as the go-ahead for its literal.
    pub(super) client_turn: bool,
    /// The user whose mailboxes the session opens, when a PLAIN login acted for another
    /// user than the one who authenticated: the verdict cache is keyed by this one.
    pub(super) acts_as: Option<String>,
    pub(super) mailbox: Option<Selected>,
    /// `[UIDVALIDITY n]` seen while a SELECT was in flight.
    pub(super) uid_validity_seen: Option<u32>,
    /// The server takes `{n+}` literals of any size (LITERAL+) or up to 4096 (LITERAL-).
    pub(super) upstream_literal: Option<u64>,
    pub(super) stats: Stats,
    /// The message the client fetches in pieces (see `safe::Copy`).
    pub(super) copy: Option<super::safe::Copy>,
    /// The client logged out: the server closing the connection is the normal end.
    pub(super) logged_out: bool,
    pub(super) cbuf: ReadBuf,
    pub(super) sbuf: ReadBuf,
    greeted: bool,
}

impl Driver for Imap {
    const PROTOCOL: &'static str = "imap";
    const UNREACHABLE: &'static [u8] =
        b"* BYE [UNAVAILABLE] portcullis: the mail server cannot be reached\r\n";

    fn new(mut core: Core) -> Self {
        let cfg = &core.ctx.app.cfg.imap;
        core.client.deadline = Deadline::new(Duration::from_secs(cfg.idle_timeout_secs));
        let limits = FrameLimits::from_config(cfg);
        let max_command = cfg.max_line_bytes.saturating_mul(2);
        Imap {
            cfr: Framer::new(Sender::Client, limits),
            sfr: Framer::new(Sender::Server, limits),
            reader: CommandReader::new(max_command),
            gathered: Default::default(),
            pending: Vec::new(),
            sasl: None,
            sasl_locked: false,
            idling: false,
            client_turn: false,
            acts_as: None,
            mailbox: None,
            uid_validity_seen: None,
            upstream_literal: None,
            stats: Stats::default(),
            logged_out: false,
            copy: None,
            cbuf: ReadBuf::default(),
            sbuf: ReadBuf::default(),
            greeted: false,
            core,
        }
    }

    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    async fn serve(&mut self) -> Result<Flow, ProxyError> {
        self.greeted = true;
        self.run_loop().await
    }

    fn farewell(e: &ProxyError) -> Option<&'static [u8]> {
        match e {
            ProxyError::Killed => Some(
                b"* BYE [UNAVAILABLE] portcullis: session ended by the gateway administrator\r\n",
            ),
            ProxyError::Shutdown => {
                Some(b"* BYE [UNAVAILABLE] portcullis: the gateway is shutting down\r\n")
            }
            _ if !e.is_client_fault() => None,
            _ => Some(b"* BYE portcullis: protocol error\r\n"),
        }
    }

    fn summary(&self) -> String {
        let counts: Vec<String> = self
            .stats
            .verdicts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "verdicts=[{}] cache_hits={} copy_hits={} appends={}",
            counts.join(","),
            self.stats.cache_hits,
            self.stats.copy_hits,
            self.stats.appends
        )
    }

    fn discard_server_pending(&mut self) -> usize {
        self.sfr.reset() + self.cfr.reset()
    }

    fn upgraded(&mut self) {
        // What the server offered in plaintext counts no more; the client asks again.
        self.upstream_literal = None;
        self.reader.clear();
        self.gathered = Default::default();
    }
}

/// What arrived while the session waited.
enum Input {
    Client(usize),
    Server(usize),
}

impl Imap {
    /// The allow-list this session applies to capability lists.
    pub(super) fn cap_policy(&self) -> CapabilityPolicy {
        CapabilityPolicy {
            starttls: self.core.ctx.offers_starttls(),
            binary: false,
            multiappend: false,
        }
    }

    /// Whether client commands must wait: STARTTLS or a reshaped FETCH is in flight.
    fn client_waits(&self) -> bool {
        if (self.sasl.is_some() || self.idling) && !self.client_turn {
            return true;
        }
        // Commands in flight are bounded: past this many, the client's next ones wait.
        if self.pending.len() >= MAX_PENDING {
            return true;
        }
        self.pending.iter().any(|p| match &p.what {
            Waiting::StartTls => true,
            Waiting::Fetch { plan, .. } => plan.reshapes(),
            _ => false,
        })
    }

    /// A command is in flight that the server must answer within its time limit.
    fn server_owes(&self) -> bool {
        self.pending
            .iter()
            .any(|p| !matches!(p.what, Waiting::Idle) || !self.client_turn)
    }

    async fn run_loop(&mut self) -> Result<Flow, ProxyError> {
        loop {
            if let Some(ev) = self.sfr.next_event().map_err(server_frame)? {
                let ev = Ev::of(ev);
                if let Some(flow) = self.on_server(ev).await? {
                    return Ok(flow);
                }
                continue;
            }
            if !self.client_waits()
                && let Some(ev) = self.cfr.next_event().map_err(server_frame)?
            {
                let ev = Ev::of(ev);
                self.on_client(ev).await?;
                continue;
            }
            match self.input().await? {
                Input::Client(0) | Input::Server(0) if self.logged_out => {
                    return Ok(Flow::End("logout"));
                }
                Input::Client(0) => return Ok(Flow::End("client closed the connection")),
                Input::Server(0) => return Ok(Flow::End("server closed the connection")),
                Input::Client(n) => {
                    self.cfr.push(&self.cbuf.0[..n]);
                    self.cbuf.adapt(n);
                }
                Input::Server(n) => {
                    self.sfr.push(&self.sbuf.0[..n]);
                    self.sbuf.adapt(n);
                }
            }
        }
    }

    /// Waits for bytes from either side (the client only when its commands may go on).
    async fn input(&mut self) -> Result<Input, ProxyError> {
        // A session that waits for its client (nothing in flight but IDLE) gives its
        // buffers back, so it stays small between messages. A direction whose last read
        // filled its buffer is still busy and keeps them.
        let waiting = self.pending.iter().all(|p| matches!(p.what, Waiting::Idle));
        if waiting && !self.sbuf.streaming() {
            self.sbuf.release(&mut self.sfr);
        }
        if !self.cbuf.streaming() {
            self.cbuf.release(&mut self.cfr);
        }
        let client_open = !self.client_waits() && !self.cfr.awaiting_continuation();
        let owed = self.server_owes();
        let idle = self.pending.is_empty();
        let Imap {
            core, cbuf, sbuf, ..
        } = self;
        let Core {
            client,
            server,
            ctx,
            ..
        } = core;
        let (cb, sb) = (cbuf.get(), sbuf.get());
        if idle && *ctx.shutdown.borrow() {
            return Err(ProxyError::Shutdown);
        }
        let shutdown = &mut ctx.shutdown;
        tokio::select! {
            r = client.read(cb), if client_open => Ok(Input::Client(r?)),
            r = read_server(server, sb, owed) => Ok(Input::Server(r?)),
            _ = shutdown.wait_for(|v| *v), if idle => Err(ProxyError::Shutdown),
        }
    }

    pub(super) async fn send_client(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        self.core.client.send(data).await
    }

    pub(super) async fn send_server(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        self.core.server.send(data).await
    }

    /// Reads more from the server into its framer (inside a response being held).
    pub(super) async fn server_more(&mut self) -> Result<(), ProxyError> {
        let buf = self.sbuf.get();
        let n = self.core.server.read_some(buf).await?;
        self.sfr.push(&self.sbuf.0[..n]);
        self.sbuf.adapt(n);
        Ok(())
    }

    /// Reads more from the client into its framer (inside an APPEND being held).
    pub(super) async fn client_more(&mut self) -> Result<(), ProxyError> {
        let buf = self.cbuf.get();
        let n = self.core.client.read_some(buf).await?;
        self.cfr.push(&self.cbuf.0[..n]);
        self.cbuf.adapt(n);
        Ok(())
    }

    /// The tag of the oldest command in flight of the given kind.
    pub(super) fn pending_index(&self, tag: &str) -> Option<usize> {
        self.pending.iter().position(|p| p.tag == tag)
    }

    pub(super) fn kind_waiting(kind: &Kind) -> Waiting {
        match kind {
            Kind::Login { user } => Waiting::Login { user: user.clone() },
            Kind::Authenticate { .. } => Waiting::Authenticate,
            Kind::StartTls => Waiting::StartTls,
            Kind::Select { mailbox, .. } => Waiting::Select {
                mailbox: mailbox.clone(),
            },
            Kind::Idle => Waiting::Idle,
            Kind::Append { .. } => Waiting::Append,
            Kind::Logout => Waiting::Logout,
            _ => Waiting::Other,
        }
    }
}

/// A read on the server leg: under the server's time limit while it owes an answer, else
/// as long as it takes (an idle IMAP server says nothing for as long as the client is idle).
async fn read_server(server: &mut Conn, buf: &mut [u8], owed: bool) -> Result<usize, ProxyError> {
    if owed {
        return server.read(buf).await;
    }
    let n = server
        .stream
        .read(buf)
        .await
        .map_err(ProxyError::io(Side::Server))?;
    server.bytes_in += n as u64;
    Ok(n)
}

fn server_frame(e: super::framing::FrameError) -> ProxyError {
    ProxyError::protocol(Side::Server, e.to_string())
}
