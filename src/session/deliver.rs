//! Sending a held message to a peer with its protocol's framing: dot-stuffed and
//! terminated (POP3 answers, SMTP DATA) or raw (SMTP BDAT, IMAP literals), in writes of
//! about [`CHUNK`] bytes, a small message in one write.
use super::conn::Conn;
use crate::error::{ProxyError, Side};
use crate::message::spool::Spool;
use crate::net::stream::SessionStream;
use crate::proto::dot::Stuffer;

/// Size of socket reads, spool reads and output writes.
pub const CHUNK: usize = 64 * 1024;

/// Buffers a session reuses for every message it carries. They are sized on first use,
/// so a session that never carries a message stays small.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Socket reads.
    pub read: Vec<u8>,
    /// Bytes on their way out (and, while receiving, decoded message bytes).
    pub out: Vec<u8>,
    /// Spool reads while sending.
    pub spool: Vec<u8>,
}

impl Scratch {
    /// The read buffer, sized to `CHUNK`.
    pub fn read_buf(&mut self) -> &mut [u8] {
        if self.read.len() < CHUNK {
            self.read.resize(CHUNK, 0);
        }
        &mut self.read[..CHUNK]
    }
}

/// How a message is framed on the wire.
pub enum Framing {
    /// Dot-stuffed and ended with `.CRLF`; the stuffer may already have seen bytes (our
    /// own progress header lines sent while the message was held).
    Dotted(Stuffer),
    /// As it is; the protocol announced the size before.
    Raw,
}

/// Sends what `scratch.out` already holds (a status line or a command, or nothing), then
/// `head` and the spooled message from `body_offset`.
pub async fn send_message<S: SessionStream>(
    to: &mut Conn<S>,
    scratch: &mut Scratch,
    head: &[u8],
    spool: &mut Spool,
    body_offset: u64,
    framing: Framing,
) -> Result<(), ProxyError> {
    if scratch.spool.len() < CHUNK {
        scratch.spool.resize(CHUNK, 0);
    }
    let mut stuffer = match framing {
        Framing::Dotted(s) => Some(s),
        Framing::Raw => None,
    };
    let out = &mut scratch.out;
    let buf = &mut scratch.spool[..CHUNK];
    let mut put = |data: &[u8], out: &mut Vec<u8>| match stuffer.as_mut() {
        Some(s) => s.feed(data, out),
        None => out.extend_from_slice(data),
    };
    put(head, out);
    let mut pos = body_offset;
    loop {
        let n = spool
            .read_at(pos, buf)
            .map_err(ProxyError::io(Side::Local))?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        put(&buf[..n], out);
        if out.len() >= CHUNK {
            to.send(out).await?;
            out.clear();
        }
    }
    if let Some(s) = stuffer {
        s.finish(out);
    }
    let r = to.send(out).await;
    out.clear();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    async fn sent(framing: Framing, msg: &[u8]) -> Vec<u8> {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut conn = Conn::new(a, Side::Client, Duration::from_secs(5), 1000);
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(16, dir.path());
        spool.write(msg).unwrap();
        let mut scratch = Scratch::default();
        scratch.out.extend_from_slice(b"+OK\r\n");
        send_message(
            &mut conn,
            &mut scratch,
            b"X-A: 1\r\n",
            &mut spool,
            0,
            framing,
        )
        .await
        .unwrap();
        let counted = conn.bytes_out;
        drop(conn);
        let mut v = Vec::new();
        b.read_to_end(&mut v).await.unwrap();
        assert_eq!(counted, v.len() as u64);
        v
    }

    #[tokio::test]
    async fn dotted_and_raw_framing() {
        let msg = b"Subject: x\r\n\r\n.dot\r\nend";
        assert_eq!(
            sent(Framing::Dotted(Stuffer::default()), msg).await,
            b"+OK\r\nX-A: 1\r\nSubject: x\r\n\r\n..dot\r\nend\r\n.\r\n"
        );
        assert_eq!(
            sent(Framing::Raw, msg).await,
            b"+OK\r\nX-A: 1\r\nSubject: x\r\n\r\n.dot\r\nend"
        );
    }
}
