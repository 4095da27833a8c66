//! Recovers where a redirected client meant to connect (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST).
use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::SockRef;
use tokio::net::TcpStream;

use crate::ids::OrigDstAddr;

/// Undoes IPv4-mapped IPv6 so addresses compare equal whichever socket family saw them.
pub fn unmap(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

#[derive(Debug)]
pub enum OrigDstError {
    Lookup(io::Error),
    /// The connection reached the listener directly, not through a redirect: relaying it
    /// would connect the proxy to itself.
    NotRedirected(SocketAddr),
}

impl std::fmt::Display for OrigDstError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrigDstError::Lookup(e) => write!(f, "original destination unavailable: {e}"),
            OrigDstError::NotRedirected(a) => {
                write!(f, "connection to {a} was not redirected (loop guard)")
            }
        }
    }
}

/// An IPv4 client on a dual-stack socket is still asked with the IPv4 option: conntrack
/// holds an IPv4 tuple for it.
pub fn original_dst(stream: &TcpStream) -> Result<OrigDstAddr, OrigDstError> {
    let sock = SockRef::from(stream);
    let peer = stream.peer_addr().map_err(OrigDstError::Lookup)?;
    let local = unmap(stream.local_addr().map_err(OrigDstError::Lookup)?);
    let v4 = unmap(peer).is_ipv4();
    let raw = if v4 {
        sock.original_dst()
    } else {
        sock.original_dst_ipv6()
    };
    let addr = raw
        .map_err(OrigDstError::Lookup)?
        .as_socket()
        .map(unmap)
        .ok_or_else(|| OrigDstError::Lookup(io::Error::other("not an inet address")))?;
    if addr == local
        || (addr.port() == local.port() && (addr.ip().is_loopback() || addr.ip().is_unspecified()))
    {
        return Err(OrigDstError::NotRedirected(addr));
    }
    Ok(OrigDstAddr(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_direct_connection_is_refused_by_the_loop_guard() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let _c = TcpStream::connect(addr).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        match original_dst(&s) {
            Err(OrigDstError::NotRedirected(a)) => assert_eq!(a, addr),
            // Without conntrack loaded the lookup itself fails: also a refusal.
            Err(OrigDstError::Lookup(_)) => {}
            Ok(a) => panic!("direct connection accepted as redirected to {a}"),
        }
    }

    #[test]
    fn unmaps_v4_mapped() {
        let a: SocketAddr = "[::ffff:198.18.0.1]:110".parse().unwrap();
        assert_eq!(unmap(a), "198.18.0.1:110".parse::<SocketAddr>().unwrap());
    }
}
