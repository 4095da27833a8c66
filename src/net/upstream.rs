//! Connects to the real server, marked so the gateway's own ruleset never redirects it.
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpSocket;

use super::stream::Stream;
use crate::ids::OrigDstAddr;

static MARK_WARNED: AtomicBool = AtomicBool::new(false);

pub async fn connect(dst: OrigDstAddr, mark: u32, deadline: Duration) -> io::Result<Stream> {
    let addr: SocketAddr = dst.0;
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.set_nodelay(true)?;
    if mark != 0
        && let Err(e) = sock.set_mark(mark)
        && !MARK_WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(error = %e, "cannot mark upstream connections (needs CAP_NET_ADMIN); relying on the ruleset's prerouting-only hooks");
    }
    let std_stream: std::net::TcpStream = sock.into();
    let tsock = TcpSocket::from_std_stream(std_stream);
    match tokio::time::timeout(deadline, tsock.connect(addr)).await {
        Ok(r) => r.map(Stream::Plain),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

/// Resolves a fixed upstream `host:port` from the config.
pub async fn resolve(host_port: &str) -> io::Result<OrigDstAddr> {
    let (host, port) = crate::config::parse_host_port(host_port)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad host:port"))?;
    tokio::net::lookup_host((host.as_str(), port))
        .await?
        .next()
        .map(OrigDstAddr)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address for upstream"))
}
