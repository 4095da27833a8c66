//! One leg of a session (client or server): its stream, a bounded line buffer, the time
//! limit on every read and write, and byte counts. Generic over the stream, so the same
//! code runs on plain TCP, on TLS, and on in-memory streams in tests.
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::timeout;

use crate::error::{ProxyError, Side};
use crate::net::deadline::Deadline;
use crate::net::low_water::LowWater;
use crate::net::stream::{SessionStream, Stream};
use crate::proto::lines::LineBuffer;

/// What each leg's time limit is called in errors and logs.
#[derive(Debug, Clone, Copy)]
pub struct LimitNames {
    /// A read that got nothing within the limit.
    pub idle: &'static str,
    /// A write that made no progress within the limit.
    pub stalled: &'static str,
}

pub const CLIENT_LIMIT: LimitNames = LimitNames {
    idle: "idle (limits.idle_timeout_secs)",
    stalled: "not reading (limits.idle_timeout_secs)",
};

pub const SERVER_LIMIT: LimitNames = LimitNames {
    idle: "answer (limits.server_timeout_secs)",
    stalled: "not reading (limits.server_timeout_secs)",
};

/// One leg of a session.
pub struct Conn<S = Stream> {
    pub stream: S,
    /// Bytes received and not yet taken as lines or message data.
    pub buf: LineBuffer,
    /// The limit for every read and every write on this leg.
    pub deadline: Deadline,
    pub side: Side,
    names: LimitNames,
    /// Socket read tuning (plain TCP only; see `net::low_water`).
    pub low_water: LowWater,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Turns true when the session is to end (`sessions kill`): a read waiting on this leg
    /// then fails with `Killed`.
    pub cancel: Option<watch::Receiver<bool>>,
}

impl<S: SessionStream> Conn<S> {
    pub fn new(stream: S, side: Side, limit: Duration, max_line: usize) -> Self {
        Conn {
            stream,
            buf: LineBuffer::new(max_line),
            deadline: Deadline::new(limit),
            side,
            names: match side {
                Side::Client => CLIENT_LIMIT,
                _ => SERVER_LIMIT,
            },
            low_water: LowWater::default(),
            bytes_in: 0,
            bytes_out: 0,
            cancel: None,
        }
    }

    /// Writes all of `data` unless it makes no progress within the limit.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        self.bytes_out += data.len() as u64;
        write_within(
            &mut self.stream,
            &mut self.deadline,
            self.side,
            self.names.stalled,
            data,
        )
        .await
    }

    /// Reads what the peer sends (0 = closed) under the limit, waking once per expected
    /// block where `low_water` was aimed.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ProxyError> {
        let read = self.low_water.read(&mut self.stream, buf);
        let read = self.deadline.run(read);
        let done = match self.cancel.as_mut() {
            Some(c) => tokio::select! {
                r = read => r,
                _ = cancelled(c) => return Err(ProxyError::Killed),
            },
            None => read.await,
        };
        let n = match done {
            Some(r) => r.map_err(ProxyError::io(self.side))?,
            None => {
                return Err(ProxyError::Timeout {
                    side: self.side,
                    what: self.names.idle,
                });
            }
        };
        self.bytes_in += n as u64;
        Ok(n)
    }

    /// Like `read`, but a closed connection is an error.
    pub async fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, ProxyError> {
        match self.read(buf).await? {
            0 => Err(ProxyError::Closed { side: self.side }),
            n => Ok(n),
        }
    }

    /// Reads once more into the line buffer; false when the peer closed.
    pub async fn fill(&mut self) -> Result<bool, ProxyError> {
        let mut tmp = [0u8; 4096];
        let n = self.read(&mut tmp).await?;
        self.buf.push(&tmp[..n]);
        Ok(n > 0)
    }

    /// The next complete line if one is buffered.
    pub fn buffered_line(&mut self) -> Result<Option<Vec<u8>>, ProxyError> {
        let side = self.side;
        match self.buf.next_line() {
            Ok(l) => Ok(l.map(<[u8]>::to_vec)),
            Err(e) => Err(ProxyError::LineTooLong {
                side,
                limit: e.limit,
            }),
        }
    }

    /// The next line; `None` when the peer closed the connection.
    pub async fn line(&mut self) -> Result<Option<Vec<u8>>, ProxyError> {
        loop {
            if let Some(l) = self.buffered_line()? {
                return Ok(Some(l));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next line, or `Shutdown` if the gateway stops while none is buffered: a session
    /// waiting for its client's next command is idle and may end at once.
    pub async fn command_line(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Vec<u8>>, ProxyError> {
        loop {
            if let Some(l) = self.buffered_line()? {
                return Ok(Some(l));
            }
            if *shutdown.borrow() {
                // What already arrived is still served; then the session ends.
                return match timeout(Duration::ZERO, self.fill()).await {
                    Ok(Ok(true)) => continue,
                    Ok(Ok(false)) => Ok(None),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(ProxyError::Shutdown),
                };
            }
            let filled = tokio::select! {
                r = self.fill() => r?,
                _ = shutdown.changed() => continue,
            };
            if !filled {
                return Ok(None);
            }
        }
    }

    /// Ends a session the peer broke: say why, then drain what it still sends for a
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

/// Resolves once `c` is true; never if its sender is gone first.
async fn cancelled(c: &mut watch::Receiver<bool>) {
    if c.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Writes all of `data` unless it makes no progress within `deadline`; then the peer on
/// `side` is `stalled`.
pub async fn write_within<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    deadline: &mut Deadline,
    side: Side,
    stalled: &'static str,
    data: &[u8],
) -> Result<(), ProxyError> {
    // A TLS stream takes the plaintext and may keep the last records in its buffer when
    // the socket is full: the flush sends them, or the peer waits for them forever.
    let write = async {
        w.write_all(data).await?;
        w.flush().await
    };
    match deadline.run(write).await {
        Some(r) => r.map_err(ProxyError::io(side)),
        None => Err(ProxyError::Timeout {
            side,
            what: stalled,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(max_line: usize) -> (Conn<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let (a, b) = tokio::io::duplex(1024);
        (
            Conn::new(a, Side::Client, Duration::from_secs(5), max_line),
            b,
        )
    }

    #[tokio::test]
    async fn lines_split_anywhere_come_out_whole() {
        let (mut c, mut peer) = pair(64);
        for b in b"USER a\r\nPA".iter() {
            peer.write_all(&[*b]).await.unwrap();
        }
        peer.write_all(b"SS b\r\n").await.unwrap();
        assert_eq!(c.line().await.unwrap().unwrap(), b"USER a\r\n");
        assert_eq!(c.line().await.unwrap().unwrap(), b"PASS b\r\n");
        drop(peer);
        assert_eq!(c.line().await.unwrap(), None);
        assert_eq!(c.bytes_in, 16);
    }

    #[tokio::test]
    async fn an_overlong_line_is_a_typed_error_of_its_side() {
        let (mut c, mut peer) = pair(8);
        peer.write_all(b"0123456789\r\n").await.unwrap();
        match c.line().await {
            Err(ProxyError::LineTooLong {
                side: Side::Client,
                limit: 8,
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_idle_reader_hears_about_shutdown_but_a_buffered_command_is_served_first() {
        let (mut c, mut peer) = pair(64);
        let (tx, mut rx) = watch::channel(false);
        peer.write_all(b"NOOP\r\n").await.unwrap();
        tx.send(true).unwrap();
        assert_eq!(c.command_line(&mut rx).await.unwrap().unwrap(), b"NOOP\r\n");
        assert!(matches!(
            c.command_line(&mut rx).await,
            Err(ProxyError::Shutdown)
        ));
    }
}
