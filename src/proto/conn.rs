//! What every protocol driver does the same way: open the session (log, reach the real
//! server), read bounded lines from the client under the idle timeout, refuse a client
//! that broke the protocol, and splice a session that upgraded to TLS end to end.
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::deadline::Deadline;

use crate::config::Listener;
use crate::error::{ProxyError, Side};
use crate::ids::{ClientAddr, OrigDstAddr, SessionId};
use crate::net::listener::Shared;
use crate::net::upstream;
use crate::proto::lines::LineBuffer;
use crate::session_log::SessionLog;

/// What a peer is called whose writes made no progress within the limit named.
pub const STALLED_IDLE: &str = "not reading (limits.idle_timeout_secs)";
pub const STALLED_SERVER: &str = "not reading (limits.server_timeout_secs)";

/// Writes all of `data` unless it makes no progress within `deadline`; then the peer on
/// `side` is `stalled` (one of the `STALLED_*` names).
pub async fn write_within<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    deadline: &mut Deadline,
    side: Side,
    stalled: &'static str,
    data: &[u8],
) -> Result<(), ProxyError> {
    match deadline.run(w.write_all(data)).await {
        Some(r) => r.map_err(ProxyError::io(side)),
        None => Err(ProxyError::Timeout {
            side,
            what: stalled,
        }),
    }
}

/// The client side of a session: the socket, a bounded line buffer, byte counts.
pub struct ClientConn {
    pub stream: TcpStream,
    pub buf: LineBuffer,
    /// limits.idle_timeout_secs, for every read and every write: a client that neither
    /// sends nor takes what it is sent for that long is gone.
    pub idle: Deadline,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl ClientConn {
    pub fn new(stream: TcpStream, shared: &Shared) -> Self {
        ClientConn {
            stream,
            buf: LineBuffer::new(shared.cfg.limits.max_line_bytes),
            idle: Deadline::new(Duration::from_secs(shared.cfg.limits.idle_timeout_secs)),
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    pub async fn send(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        self.bytes_out += data.len() as u64;
        write_within(
            &mut self.stream,
            &mut self.idle,
            Side::Client,
            STALLED_IDLE,
            data,
        )
        .await
    }

    /// Reads what the client sends (0 = closed), under the idle timeout.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ProxyError> {
        let n = match self.idle.run(self.stream.read(buf)).await {
            Some(r) => r.map_err(ProxyError::io(Side::Client))?,
            None => {
                return Err(ProxyError::Timeout {
                    side: Side::Client,
                    what: "idle (limits.idle_timeout_secs)",
                });
            }
        };
        self.bytes_in += n as u64;
        Ok(n)
    }

    /// The next line; `None` when the client closed the connection.
    pub async fn line(&mut self) -> Result<Option<Vec<u8>>, ProxyError> {
        let mut tmp = [0u8; 4096];
        loop {
            match self.buf.next_line() {
                Ok(Some(l)) => return Ok(Some(l.to_vec())),
                Ok(None) => {}
                Err(e) => {
                    return Err(ProxyError::protocol(
                        Side::Client,
                        format!(
                            "command line longer than limits.max_line_bytes ({})",
                            e.limit
                        ),
                    ));
                }
            }
            let n = self.read(&mut tmp).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.push(&tmp[..n]);
        }
    }

    /// Ends a session the client broke: say why, then drain what it still sends for a
    /// moment so closing does not reset the connection before the reason arrives.
    pub async fn refuse(&mut self, reply: &[u8]) {
        let _ = self.send(reply).await;
        let _ = self.stream.shutdown().await;
        let mut tmp = [0u8; 4096];
        let _ = timeout(Duration::from_secs(1), async {
            while let Ok(n) = self.stream.read(&mut tmp).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

/// A session's start: its log file and its connection to the real server. When the server
/// cannot be reached the client gets `unreachable` and `None` is returned.
pub async fn open(
    client: &mut TcpStream,
    client_addr: ClientAddr,
    server_addr: OrigDstAddr,
    id: &SessionId,
    lcfg: &Listener,
    shared: &Shared,
    unreachable: &[u8],
) -> Option<(SessionLog, TcpStream, Instant)> {
    let cfg = &shared.cfg;
    let started = Instant::now();
    let mut log = SessionLog::open(&cfg.general.session_log_dir, id);
    log.event(
        "start",
        &format!(
            "protocol={} client={client_addr} server={server_addr} listener={}",
            lcfg.protocol, lcfg.listen
        ),
    );
    let deadline = Duration::from_secs(cfg.limits.connect_timeout_secs);
    match upstream::connect(server_addr, cfg.nft.mark, deadline).await {
        Ok(s) => Some((log, s, started)),
        Err(e) => {
            let _ = client.write_all(unreachable).await;
            log.event(
                "end",
                &format!(
                    "reason=\"server: connect failed: {e}\" duration_ms={}",
                    started.elapsed().as_millis()
                ),
            );
            None
        }
    }
}

/// After the server accepted STLS/STARTTLS (answer `ok`), the session continues in TLS
/// end to end, unscanned. Plaintext either side sent between the command and the handshake
/// is dropped (`server_pending` bytes were already taken from the server's buffer): it can
/// only be an injection.
pub async fn splice_tls(
    client: &mut ClientConn,
    server: &mut TcpStream,
    server_pending: usize,
    ok: &[u8],
    log: &mut SessionLog,
) -> Result<&'static str, ProxyError> {
    let client_pending = client.buf.take_pending().len();
    if client_pending + server_pending > 0 {
        log.event(
            "starttls",
            &format!(
                "discarded plaintext sent before the TLS handshake: client={client_pending} bytes server={server_pending} bytes"
            ),
        );
    }
    client.send(ok).await?;
    log.event(
        "starttls",
        "session continues in TLS end to end: NOT SCANNED (starttls = passthrough)",
    );
    let (up, down) = splice(client, server).await?;
    client.bytes_in += up;
    client.bytes_out += down;
    Ok("tls passthrough ended")
}

/// Copies both ways until both sides have closed. Each wait is bounded by the client's
/// idle limit: a spliced session that nobody uses for that long is ended like any other.
async fn splice(client: &mut ClientConn, server: &mut TcpStream) -> Result<(u64, u64), ProxyError> {
    let idle_timeout = ProxyError::Timeout {
        side: Side::Client,
        what: "idle (limits.idle_timeout_secs)",
    };
    let (mut cbuf, mut sbuf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut client_open, mut server_open) = (true, true);
    let (mut up, mut down) = (0u64, 0u64);
    let ClientConn {
        stream: cstream,
        idle,
        ..
    } = client;
    while client_open || server_open {
        let got = idle
            .run(async {
                tokio::select! {
                    r = cstream.read(&mut cbuf), if client_open => (Side::Client, r),
                    r = server.read(&mut sbuf), if server_open => (Side::Server, r),
                }
            })
            .await;
        let Some((from, r)) = got else {
            return Err(idle_timeout);
        };
        let n = r.map_err(ProxyError::io(from))?;
        let (to, to_side, data): (&mut TcpStream, Side, &[u8]) = match from {
            Side::Client => (&mut *server, Side::Server, &cbuf[..n]),
            _ => (&mut *cstream, Side::Client, &sbuf[..n]),
        };
        if n == 0 {
            // Pass the half-close on; keep copying the other way.
            let _ = to.shutdown().await;
            match from {
                Side::Client => client_open = false,
                _ => server_open = false,
            }
            continue;
        }
        write_within(to, idle, to_side, STALLED_IDLE, data).await?;
        match from {
            Side::Client => up += n as u64,
            _ => down += n as u64,
        }
    }
    Ok((up, down))
}
