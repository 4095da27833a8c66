//! Accepting redirected connections: a listening socket, the global and per-client
//! connection caps, accept back-off, and the original destination of each connection.
//! What a session does with an accepted connection is the caller's business.
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol as SockProto, Socket, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::orig_dst::{OrigDstError, original_dst, unmap};
use super::stream::{SessionStream, Stream};
use crate::ids::{ClientAddr, OrigDstAddr};

/// A bound listening socket.
pub struct Bound(TcpListener);

/// Binds a listening socket; `[::]` also accepts IPv4 (dual stack).
pub fn bind(addr: SocketAddr) -> io::Result<Bound> {
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
    TcpListener::from_std(sock.into()).map(Bound)
}

impl Bound {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// The connection caps shared by every listener: `limits.max_connections` in all and
/// `limits.max_connections_per_client` per client address.
pub struct Caps {
    connections: Arc<Semaphore>,
    max: usize,
    per_client_max: usize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

/// Whom the per-client cap counts: an IPv4 address, or an IPv6 /64 (one host is
/// usually given a whole /64 and can pick any address in it).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// One admitted connection's share of the caps, given back when dropped.
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    caps: Arc<Caps>,
    ip: IpAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut m = self
            .caps
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

impl Caps {
    pub fn new(max: usize, per_client_max: usize) -> Arc<Caps> {
        Arc::new(Caps {
            connections: Arc::new(Semaphore::new(max)),
            max,
            per_client_max,
            per_client: Mutex::new(HashMap::new()),
        })
    }

    /// Admits a connection from `ip`, or says which cap is full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, &'static str> {
        let ip = client_key(ip);
        let permit = self
            .connections
            .clone()
            .try_acquire_owned()
            .map_err(|_| "limits.max_connections")?;
        let mut m = self.per_client.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= self.per_client_max {
            return Err("limits.max_connections_per_client");
        }
        *n += 1;
        Ok(Admission {
            _permit: permit,
            caps: self.clone(),
            ip,
        })
    }

    /// Connections currently admitted.
    pub fn open(&self) -> usize {
        self.max - self.connections.available_permits()
    }

    /// Waits until every admitted connection has ended, or `limit` has passed; true when
    /// all ended.
    pub async fn drained(&self, limit: Duration) -> bool {
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        tokio::time::timeout(limit, self.connections.acquire_many(all))
            .await
            .is_ok()
    }
}

/// A connection that passed the caps.
pub struct Accepted {
    pub stream: Stream,
    pub client: ClientAddr,
    pub admission: Admission,
}

impl Accepted {
    /// Where the client meant to connect (the loop guard refuses direct connections).
    pub fn original_dst(&self) -> Result<OrigDstAddr, OrigDstError> {
        match self.stream.plain_tcp() {
            Some(tcp) => original_dst(tcp),
            None => Err(OrigDstError::Lookup(io::Error::other("not a TCP stream"))),
        }
    }
}

/// Accepts until `shutdown` turns true. Connections over a cap get `busy` and are closed;
/// the others go to `on_accept`.
pub async fn accept_loop(
    listener: Bound,
    caps: Arc<Caps>,
    busy: &'static [u8],
    mut shutdown: watch::Receiver<bool>,
    mut on_accept: impl FnMut(Accepted),
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            r = listener.0.accept() => r,
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
        match caps.admit(client.0.ip()) {
            Ok(admission) => {
                let _ = stream.set_nodelay(true);
                on_accept(Accepted {
                    stream: Stream::Plain(stream),
                    client,
                    admission,
                });
            }
            Err(cap) => {
                tracing::warn!(%client, "connection refused: {cap} reached");
                refuse(stream, busy);
            }
        }
    }
}

fn refuse(mut stream: TcpStream, reply: &'static [u8]) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(reply)).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_client_cap_counts_an_ipv6_slash_64_as_one_client() {
        let caps = Caps::new(10, 2);
        let a = caps.admit("2001:db8:1:1::2".parse().unwrap()).unwrap();
        let _b = caps.admit("2001:db8:1:1::ffff:3".parse().unwrap()).unwrap();
        assert_eq!(
            caps.admit("2001:db8:1:1:abcd::9".parse().unwrap()).err(),
            Some("limits.max_connections_per_client")
        );
        let _other = caps.admit("2001:db8:1:2::2".parse().unwrap()).unwrap();
        let _v4 = caps.admit("198.18.1.2".parse().unwrap()).unwrap();
        assert_eq!(caps.open(), 4);
        drop(a);
        assert!(caps.admit("2001:db8:1:1::7".parse().unwrap()).is_ok());
    }
}
