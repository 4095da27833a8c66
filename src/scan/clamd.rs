//! ClamAV over clamd's INSTREAM command. Written here rather than taken from a client crate
//! because the proxy needs what those lack: a deadline on every step, feeding the stream
//! while the message still arrives, a size cap below clamd's StreamMaxLength (past it clamd
//! may cut the stream and answer as if it saw everything), and a strict reading of replies.
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::timeout;

use crate::config::{Clamd as Cfg, SocketSpec};
use crate::scan::Verdict;

pub trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

pub async fn connect(spec: &SocketSpec, deadline: Duration) -> std::io::Result<Box<dyn Conn>> {
    let fut = async {
        Ok::<Box<dyn Conn>, std::io::Error>(match spec {
            SocketSpec::Unix(p) => Box::new(UnixStream::connect(p).await?),
            SocketSpec::Tcp(hp) => Box::new(TcpStream::connect(hp.as_str()).await?),
        })
    };
    timeout(deadline, fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
}

/// One INSTREAM exchange, fed chunk by chunk.
pub struct ClamdStream {
    conn: Option<Box<dyn Conn>>,
    sent: u64,
    max: u64,
    chunk: usize,
    deadline: Duration,
    /// A verdict decided before the end: a failure, or the size cap.
    early: Option<Verdict>,
}

fn failed(why: impl Into<String>) -> Verdict {
    Verdict::Failed {
        scanner: "clamd".into(),
        why: why.into(),
    }
}

impl ClamdStream {
    pub async fn start(cfg: &Cfg) -> ClamdStream {
        let deadline = Duration::from_secs(cfg.timeout_secs);
        let mut s = ClamdStream {
            conn: None,
            sent: 0,
            max: cfg.max_stream_bytes,
            chunk: cfg.chunk_bytes,
            deadline,
            early: None,
        };
        let spec = match SocketSpec::parse(&cfg.address) {
            Ok(s) => s,
            Err(e) => {
                s.early = Some(failed(e));
                return s;
            }
        };
        match connect(&spec, deadline).await {
            Ok(mut c) => match timeout(deadline, c.write_all(b"zINSTREAM\0")).await {
                Ok(Ok(())) => s.conn = Some(c),
                Ok(Err(e)) => s.early = Some(failed(format!("send: {e}"))),
                Err(_) => s.early = Some(failed("send timed out")),
            },
            Err(e) => s.early = Some(failed(format!("connect {}: {e}", cfg.address))),
        }
        s
    }

    pub async fn feed(&mut self, data: &[u8]) {
        if self.early.is_some() {
            return;
        }
        if self.sent + data.len() as u64 > self.max {
            self.early = Some(Verdict::Unscannable {
                why: format!("larger than scan.clamd.max_stream_bytes ({})", self.max),
            });
            self.conn = None;
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        for part in data.chunks(self.chunk) {
            let len = (part.len() as u32).to_be_bytes();
            let r = timeout(self.deadline, async {
                conn.write_all(&len).await?;
                conn.write_all(part).await
            })
            .await;
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    // clamd may have closed early with a reason (size limit): read it.
                    let reply = read_reply(conn, self.deadline).await;
                    self.early = Some(match reply {
                        Ok(r) if !r.is_empty() => parse_reply(&r),
                        _ => failed(format!("send: {e}")),
                    });
                    self.conn = None;
                    return;
                }
                Err(_) => {
                    self.early = Some(failed("send timed out"));
                    self.conn = None;
                    return;
                }
            }
        }
        self.sent += data.len() as u64;
    }

    pub async fn finish(mut self) -> Verdict {
        if let Some(v) = self.early.take() {
            return v;
        }
        let Some(mut conn) = self.conn.take() else {
            return failed("no connection");
        };
        match timeout(self.deadline, conn.write_all(&[0, 0, 0, 0])).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return failed(format!("send: {e}")),
            Err(_) => return failed("send timed out"),
        }
        match read_reply(&mut conn, self.deadline).await {
            Ok(r) => parse_reply(&r),
            Err(e) => failed(e),
        }
    }
}

async fn read_reply(conn: &mut Box<dyn Conn>, deadline: Duration) -> Result<Vec<u8>, String> {
    let mut reply = Vec::new();
    let r = timeout(deadline, async {
        let mut buf = [0u8; 512];
        loop {
            let n = conn.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            reply.extend_from_slice(&buf[..n]);
            if reply.contains(&0) || reply.len() > 4096 {
                return Ok(());
            }
        }
    })
    .await;
    match r {
        Ok(Ok(())) => Ok(reply),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Err(_) => Err("reply timed out".into()),
    }
}

/// `stream: OK`, `stream: NAME FOUND`, `... ERROR`; anything else is a failure.
pub fn parse_reply(raw: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches(['\0', '\n', '\r']).trim();
    if text == "stream: OK" {
        return Verdict::Clean;
    }
    if let Some(rest) = text.strip_prefix("stream: ")
        && let Some(name) = rest.strip_suffix(" FOUND")
        && !name.is_empty()
    {
        return Verdict::Infected {
            name: name.to_string(),
        };
    }
    if text.contains("size limit exceeded") {
        return Verdict::Unscannable {
            why: "clamd StreamMaxLength exceeded".into(),
        };
    }
    if let Some(e) = text.strip_suffix(" ERROR") {
        return failed(e.to_string());
    }
    failed(format!(
        "unexpected reply {:?}",
        text.chars().take(100).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(parse_reply(b"stream: OK\0"), Verdict::Clean);
        assert_eq!(
            parse_reply(b"stream: Eicar-Test-Signature FOUND\0"),
            Verdict::Infected {
                name: "Eicar-Test-Signature".into()
            }
        );
        assert!(matches!(
            parse_reply(b"INSTREAM size limit exceeded. ERROR\0"),
            Verdict::Unscannable { .. }
        ));
        assert!(matches!(
            parse_reply(b"Something ERROR\0"),
            Verdict::Failed { .. }
        ));
        assert!(matches!(parse_reply(b"garbage"), Verdict::Failed { .. }));
        assert!(matches!(parse_reply(b""), Verdict::Failed { .. }));
    }
}
