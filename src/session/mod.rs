//! The session layer: what every protocol driver needs around its command loop, written
//! once. A driver (POP3, SMTP, ...) implements [`Driver`]: it gets a [`Core`] (the session
//! context and both legs), runs its command loop in `serve`, and says how the session
//! ends. Everything else lives here: start and end of a session ([`run`]), the legs
//! ([`conn`]), login and lockout ([`login`]), holding a message while it is scanned
//! ([`hold`]), deciding what a verdict means ([`disposition`]), sending a message with its
//! framing ([`deliver`]) and what happens after STARTTLS ([`upgrade`]).
pub mod conn;
pub mod deliver;
pub mod disposition;
pub mod hold;
pub mod legs;
pub mod login;
pub mod observe;
pub mod upgrade;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use crate::app::App;
use crate::config::Listener;
use crate::error::{ProxyError, Side};
use crate::ids::{ClientAddr, OrigDstAddr, SessionId};
use crate::live::Registration;
use crate::net::stream::Stream;
use crate::session_log::SessionLog;

pub use conn::Conn;
pub use deliver::Scratch;
use legs::{Failed, Legs};

/// Who and what a session is about: shared by every protocol.
pub struct Ctx {
    pub app: Arc<App>,
    pub lcfg: Arc<Listener>,
    /// "pop3", "smtp", ...: in logs, alerts and quarantine records.
    pub protocol: &'static str,
    pub id: SessionId,
    pub client_addr: ClientAddr,
    pub server_addr: OrigDstAddr,
    pub log: SessionLog,
    /// The user the server accepted a login for.
    pub user: Option<String>,
    pub started: Instant,
    /// Quarantine entries numbered per session.
    pub qseq: u64,
    /// Turns true when the gateway shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Messages carried, for the end line.
    pub messages: u64,
    /// Both legs run over TLS that portcullis terminates.
    pub tls_active: bool,
    /// The session's entry among the live sessions, with its cancel signal.
    pub live: Registration,
}

/// A session's context and its two legs.
pub struct Core {
    pub ctx: Ctx,
    pub client: Conn,
    pub server: Conn,
    /// Buffers reused for every message the session carries.
    pub scratch: Scratch,
}

/// How a driver's command loop ended.
pub enum Flow {
    /// The session is over, for the reason given.
    End(&'static str),
    /// The server accepted STARTTLS with the reply `ok`, which the client has not seen
    /// yet; both legs are about to start TLS.
    StartTls { ok: Vec<u8>, refused: Vec<u8> },
}

/// A protocol driver on the session layer.
pub trait Driver: Sized + Send {
    /// Name in logs and records.
    const PROTOCOL: &'static str;
    /// What the client is told when the real server cannot be reached.
    const UNREACHABLE: &'static [u8];

    fn new(core: Core) -> Self;
    fn core(&mut self) -> &mut Core;
    /// The command loop.
    fn serve(&mut self) -> impl Future<Output = Result<Flow, ProxyError>> + Send;
    /// What the client is told when the session ends on `e`, if anything.
    fn farewell(e: &ProxyError) -> Option<&'static [u8]>;
    /// Protocol-specific counts for the end line.
    fn summary(&self) -> String;
    /// Discards what the server sent after its STARTTLS answer; returns how many bytes.
    fn discard_server_pending(&mut self) -> usize;
    /// Both legs were upgraded to TLS: `serve` goes on without a greeting, and what the
    /// driver learned of the server in plaintext (capabilities) is forgotten.
    fn upgraded(&mut self);
}

/// Where a session goes and who asked: what the listener knows about a connection.
pub struct Opening {
    pub app: Arc<App>,
    pub lcfg: Arc<Listener>,
    pub id: SessionId,
    pub client: Stream,
    pub client_addr: ClientAddr,
    pub server_addr: OrigDstAddr,
    pub shutdown: watch::Receiver<bool>,
}

/// Runs one session with driver `D` from connect to end line.
pub async fn run<D: Driver>(open: Opening) {
    let Some((mut core, splice)) = start(open, D::PROTOCOL, D::UNREACHABLE).await else {
        return;
    };
    if let Some(replay) = splice {
        let reason = match upgrade::passthrough(&mut core, &replay).await {
            Ok(()) => "tls passthrough ended".to_string(),
            Err(e) => e.to_string(),
        };
        return core.end(&reason, "");
    }
    let mut d = D::new(core);
    let (reason, class) = loop {
        match d.serve().await {
            Ok(Flow::End(r)) => break (r.to_string(), observe::end_class(None)),
            Ok(Flow::StartTls { ok, refused }) => {
                let server_pending = d.discard_server_pending();
                match upgrade::after_starttls(d.core(), server_pending, &ok, &refused).await {
                    Ok(upgrade::Upgraded::Ended(r)) => {
                        break (r.to_string(), observe::end_class(None));
                    }
                    Ok(upgrade::Upgraded::Continue) => {
                        d.upgraded();
                        continue;
                    }
                    Err(e) => break (e.to_string(), observe::end_class(Some(&e))),
                }
            }
            Err(e) => {
                if let Some(reply) = D::farewell(&e) {
                    d.core().client.refuse(reply).await;
                }
                break (e.to_string(), observe::end_class(Some(&e)));
            }
        }
    };
    let summary = d.summary();
    d.core().end(&reason, &summary);
    d.core().count_end(class);
    // After the end line: a client that sees the connection end finds the session logged.
    d.core().close().await;
}

/// Opens the session log and both legs (see `legs`). A session that is relayed end to
/// end comes back with the bytes to replay to the server first. When the server cannot
/// be reached a plaintext client gets `unreachable` and the session ends.
async fn start(
    open: Opening,
    protocol: &'static str,
    unreachable: &[u8],
) -> Option<(Core, Option<Vec<u8>>)> {
    let app = open.app.clone();
    let cfg = &app.cfg;
    let id = open.id;
    let mut log = SessionLog::open(&cfg.general.session_log_dir, &id);
    log.event(
        "start",
        &format!(
            "protocol={} client={} server={} listener={}",
            open.lcfg.protocol, open.client_addr, open.server_addr, open.lcfg.listen
        ),
    );
    app.metrics.session_started(protocol);
    let limits = &cfg.limits;
    let leg = |stream, side, secs| {
        Conn::new(
            stream,
            side,
            Duration::from_secs(secs),
            limits.max_line_bytes,
        )
    };
    let mut tls_active = false;
    let (client, server, splice) =
        match legs::open(&app, &open.lcfg, open.client, open.server_addr).await {
            Ok(Legs::Open {
                client,
                server,
                tls,
            }) => {
                if let Some(facts) = tls {
                    log.event("tls", &format!("intercepted {facts}"));
                    tls_active = true;
                }
                (client, server, None)
            }
            Ok(Legs::Passthrough {
                client,
                server,
                replay,
                why,
            }) => {
                log.event("tls", &format!("end to end, NOT SCANNED: {why}"));
                (client, server, Some(replay))
            }
            Err(Failed { why, client }) => {
                if let Some(c) = client {
                    let mut c = leg(c, Side::Client, limits.idle_timeout_secs);
                    let _ = c.send(unreachable).await;
                }
                log.event("end", &format!("reason=\"{why}\""));
                if why.starts_with("server:") {
                    observe::connect_failed(&app, protocol);
                } else if why.starts_with("tls") {
                    app.metrics.tls_failed(
                        protocol,
                        if why.starts_with("tls upstream") {
                            "server"
                        } else {
                            "client"
                        },
                    );
                }
                return None;
            }
        };
    let live = app
        .live
        .register(&id, protocol, open.client_addr, open.server_addr);
    let ctx = Ctx {
        live,
        app: open.app,
        lcfg: open.lcfg,
        protocol,
        id,
        client_addr: open.client_addr,
        server_addr: open.server_addr,
        log,
        user: None,
        started: Instant::now(),
        qseq: 0,
        shutdown: open.shutdown,
        messages: 0,
        tls_active,
    };
    let mut client = leg(client, Side::Client, limits.idle_timeout_secs);
    client.cancel = Some(ctx.live.cancel());
    let core = Core {
        ctx,
        client,
        server: leg(server, Side::Server, limits.server_timeout_secs),
        scratch: Scratch::default(),
    };
    Some((core, splice))
}

impl Core {
    /// Closes both legs in an orderly way: a TLS leg sends its close_notify (clients such
    /// as OpenSSL take a TLS stream that just stops for a truncation attack), a TCP leg
    /// its FIN. Bounded: a peer that does not read gets a second at most.
    pub async fn close(&mut self) {
        let limit = Duration::from_secs(1);
        for leg in [&mut self.client, &mut self.server] {
            let _ = tokio::time::timeout(limit, leg.stream.shutdown()).await;
        }
    }

    /// The end line: why, who, the driver's counts, bytes each way and duration.
    pub fn end(&mut self, reason: &str, summary: &str) {
        let line = format!(
            "reason=\"{reason}\" user={} messages={} {summary} bytes_from_client={} bytes_to_client={} bytes_from_server={} bytes_to_server={} duration_ms={}",
            self.ctx.user.as_deref().unwrap_or("-"),
            self.ctx.messages,
            self.client.bytes_in,
            self.client.bytes_out,
            self.server.bytes_in,
            self.server.bytes_out,
            self.ctx.started.elapsed().as_millis()
        );
        self.ctx.log.event("end", &line);
    }

    /// The next command line from the client; `None` when it closed the connection, the
    /// `Shutdown` error when the gateway stops while the session is idle.
    pub async fn command(&mut self) -> Result<Option<Vec<u8>>, ProxyError> {
        self.client.command_line(&mut self.ctx.shutdown).await
    }
}
