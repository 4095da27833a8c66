//! Accept loop: one per configured listener, bounded by a global connection cap and a
//! per-client cap, each session in its own task and tracing span.
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol as SockProto, Socket, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

use crate::abuse::Abuse;
use crate::config::{Config, Listener, Protocol};
use crate::ids::{ClientAddr, SessionId};
use crate::proto::{pop3, smtp};
use crate::quarantine::Quarantine;
use crate::scan::Pipeline;
use crate::withheld::Withheld;

use super::orig_dst::{original_dst, unmap};

/// What every session shares.
pub struct Shared {
    pub cfg: Config,
    pub pipeline: Pipeline,
    pub quarantine: Quarantine,
    pub withheld: Withheld,
    pub abuse: Abuse,
    pub notice_template: String,
    pub connections: Arc<Semaphore>,
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

impl Shared {
    pub fn new(
        cfg: Config,
        pipeline: Pipeline,
        quarantine: Quarantine,
        withheld: Withheld,
        notice_template: String,
    ) -> Self {
        let max = cfg.limits.max_connections;
        let abuse = Abuse::new(&cfg.abuse);
        Shared {
            abuse,
            cfg,
            pipeline,
            quarantine,
            withheld,
            notice_template,
            connections: Arc::new(Semaphore::new(max)),
            per_client: Mutex::new(HashMap::new()),
        }
    }
}

/// Decrements the per-client count when a session ends, however it ends.
struct ClientSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = self
            .shared
            .per_client
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

fn client_slot(shared: &Arc<Shared>, ip: IpAddr) -> Option<ClientSlot> {
    let mut m = shared.per_client.lock().unwrap_or_else(|p| p.into_inner());
    let n = m.entry(ip).or_insert(0);
    if *n >= shared.cfg.limits.max_connections_per_client {
        return None;
    }
    *n += 1;
    Some(ClientSlot {
        shared: shared.clone(),
        ip,
    })
}

/// Binds a listening socket; `[::]` also accepts IPv4 (dual stack).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(SockProto::TCP),
    )?;
    if addr.is_ipv6() {
        sock.set_only_v6(false)?;
    }
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    TcpListener::from_std(sock.into())
}

fn busy_reply(p: Protocol) -> &'static [u8] {
    match p {
        Protocol::Pop3 => b"-ERR [SYS/TEMP] portcullis: too many connections, try again later\r\n",
        Protocol::Smtp => b"421 4.3.2 portcullis: too many connections, try again later\r\n",
    }
}

pub async fn serve(
    listener: TcpListener,
    lcfg: Listener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(10);
                x
            }
            Err(e) => {
                // Out of descriptors and similar: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let client = ClientAddr(unmap(peer));
        let Ok(permit) = shared.connections.clone().try_acquire_owned() else {
            tracing::warn!(%client, "connection refused: limits.max_connections reached");
            refuse(stream, busy_reply(lcfg.protocol));
            continue;
        };
        let Some(slot) = client_slot(&shared, client.0.ip()) else {
            tracing::warn!(%client, "connection refused: limits.max_connections_per_client reached");
            refuse(stream, busy_reply(lcfg.protocol));
            continue;
        };
        let shared = shared.clone();
        let lcfg = lcfg.clone();
        let id = SessionId::new();
        let span =
            tracing::info_span!("session", id = %id, proto = %lcfg.protocol, client = %client);
        tokio::spawn(
            async move {
                let _permit = permit;
                let _slot = slot;
                handle(stream, client, id, &lcfg, &shared).await;
            }
            .instrument(span),
        );
    }
}

fn refuse(mut stream: TcpStream, reply: &'static [u8]) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(reply)).await;
    });
}

async fn handle(
    stream: TcpStream,
    client: ClientAddr,
    id: SessionId,
    lcfg: &Listener,
    shared: &Shared,
) {
    let _ = stream.set_nodelay(true);
    let server = match &lcfg.upstream {
        Some(up) => match super::upstream::resolve(up).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(upstream = %up, error = %e, "local: cannot resolve upstream");
                return;
            }
        },
        None => match original_dst(&stream) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "local: refusing connection");
                return;
            }
        },
    };
    match lcfg.protocol {
        Protocol::Pop3 => pop3::session::run(stream, client, server, id, lcfg, shared).await,
        Protocol::Smtp => smtp::session::run(stream, client, server, id, lcfg, shared).await,
    }
}
