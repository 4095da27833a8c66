//! The running proxy: one accept loop per configured listener, each accepted connection
//! dispatched to its protocol's driver in its own task and tracing span, and the shutdown
//! that stops the listeners and lets open sessions finish the message in flight.
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::app::App;
use crate::config::{Listener, Protocol};
use crate::ids::{OrigDstAddr, SessionId};
use crate::net::listener::{self, Accepted, Bound, Caps};
use crate::net::upstream;
use crate::proto::{imap::Imap, pop3::Pop3, smtp::Smtp};
use crate::reload::Reloader;
use crate::session::{self, Opening};

/// Listeners bound and serving.
pub struct Server {
    /// The `App` new sessions get; replaced by a reload.
    pub reloader: Arc<Reloader>,
    caps: Arc<Caps>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Where each listener listens (port 0 in the config becomes the port bound).
    pub bound: Vec<SocketAddr>,
}

fn busy_reply(p: Protocol) -> &'static [u8] {
    match p {
        Protocol::Pop3 => b"-ERR [SYS/TEMP] portcullis: too many connections, try again later\r\n",
        Protocol::Smtp => b"421 4.3.2 portcullis: too many connections, try again later\r\n",
        Protocol::Imap => {
            b"* BYE [UNAVAILABLE] portcullis: too many connections, try again later\r\n"
        }
    }
}

impl Server {
    /// Binds every configured listener and starts accepting (inside a tokio runtime).
    pub fn start(app: Arc<App>) -> io::Result<Server> {
        let limits = &app.cfg.limits;
        let caps = Caps::new(limits.max_connections, limits.max_connections_per_client);
        let (stop, stop_rx) = watch::channel(false);
        let reloader = Arc::new(Reloader::new(app.clone()));
        let mut server = Server {
            reloader: reloader.clone(),
            caps,
            stop,
            tasks: Vec::new(),
            bound: Vec::new(),
        };
        for l in &app.cfg.listeners {
            let sock = listener::bind(l.listen).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("listener {}: cannot listen: {e}", l.listen),
                )
            })?;
            let addr = sock.local_addr()?;
            tracing::info!(listen = %addr, protocol = %l.protocol, "listening");
            server.bound.push(addr);
            server.tasks.push(tokio::spawn(serve(
                sock,
                l.clone(),
                reloader.subscribe(),
                server.caps.clone(),
                stop_rx.clone(),
            )));
        }
        server
            .tasks
            .extend(crate::admin::start(&app, &reloader, &stop_rx)?);
        Ok(server)
    }

    /// Stops accepting, tells every session, and waits up to `limits.shutdown_drain_secs`
    /// for them to end; true when all ended in time.
    pub async fn shutdown(self) -> bool {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
        if let Some(p) = &self.reloader.current().cfg.control.socket {
            let _ = std::fs::remove_file(p);
        }
        let limit = Duration::from_secs(self.reloader.current().cfg.limits.shutdown_drain_secs);
        let open = self.caps.open();
        if open > 0 {
            tracing::info!(sessions = open, "waiting for open sessions to finish");
        }
        self.caps.drained(limit).await
    }
}

async fn serve(
    sock: Bound,
    lcfg: Listener,
    apps: watch::Receiver<Arc<App>>,
    caps: Arc<Caps>,
    stop: watch::Receiver<bool>,
) {
    let busy = busy_reply(lcfg.protocol);
    let lcfg = Arc::new(lcfg);
    let sessions_stop = stop.clone();
    listener::accept_loop(sock, caps, busy, stop, |acc| {
        let id = SessionId::new();
        let span =
            tracing::info_span!("session", id = %id, proto = %lcfg.protocol, client = %acc.client);
        // The configuration in force when the connection came: a reload does not touch
        // sessions already open.
        let app = apps.borrow().clone();
        let (lcfg, stop) = (lcfg.clone(), sessions_stop.clone());
        tokio::spawn(dispatch(acc, id, app, lcfg, stop).instrument(span));
    })
    .await;
}

/// Finds where the session goes and runs the listener's driver.
async fn dispatch(
    acc: Accepted,
    id: SessionId,
    app: Arc<App>,
    lcfg: Arc<Listener>,
    shutdown: watch::Receiver<bool>,
) {
    let Some(server_addr) = destination(&acc, &lcfg).await else {
        return;
    };
    let Accepted {
        stream,
        client,
        admission,
    } = acc;
    let open = Opening {
        app,
        lcfg,
        id,
        client: stream,
        client_addr: client,
        server_addr,
        shutdown,
    };
    match open.lcfg.protocol {
        Protocol::Pop3 => session::run::<Pop3>(open).await,
        Protocol::Smtp => session::run::<Smtp>(open).await,
        Protocol::Imap => session::run::<Imap>(open).await,
    }
    drop(admission);
}

async fn destination(acc: &Accepted, lcfg: &Listener) -> Option<OrigDstAddr> {
    match &lcfg.upstream {
        Some(up) => match upstream::resolve(up).await {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(upstream = %up, error = %e, "local: cannot resolve upstream");
                None
            }
        },
        None => match acc.original_dst() {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(error = %e, "local: refusing connection");
                None
            }
        },
    }
}
