//! Waking once per downloaded message instead of once per arriving segment.
//!
//! A POP3 server announces a message's size (`+OK 20522 octets`) and then writes it in
//! small pieces; every piece would wake the proxy, which can do nothing with a part of a
//! message but buffer it. Raising the socket's receive low-water mark to the bytes still
//! owed lets the kernel wake the proxy when the message is (nearly) complete, which on a
//! small message saves several wake-ups and context switches each way.
//!
//! The announced size is only trusted as a hint: the mark is never set above a lower bound
//! of what is still owed, never above [`MAX_LOW_WATER`], and if the bytes are late by more
//! than [`PATIENCE`] (a slow link, or a server that announced more than it sends) the mark
//! goes back to one byte for the rest of that message.
use std::io;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use super::deadline::Timer;
use super::stream::SessionStream;
use super::sys::set_recv_low_water;

/// The highest mark used. Linux grows the receive buffer and clamps the TCP window to the
/// mark when the mark needs more room than the buffer has; 64 KiB fits the default initial
/// buffer (128 KiB), so the window is never clamped.
pub const MAX_LOW_WATER: u64 = 64 * 1024;

/// How long the owed bytes may take before the mark is given up for the message.
pub const PATIENCE: Duration = Duration::from_millis(20);

/// The low-water mark of one upstream socket.
#[derive(Debug)]
pub struct LowWater {
    set: u64,
    /// False once the mark was given up (or cannot be set) until the message ends.
    enabled: bool,
    patience: Timer,
}

impl Default for LowWater {
    fn default() -> Self {
        LowWater {
            set: 1,
            enabled: true,
            patience: Timer::new(PATIENCE / 8),
        }
    }
}

impl LowWater {
    /// Aims the next wake-up at `owed` more bytes, a lower bound of what the server has
    /// still to send for the current answer.
    pub fn expect(&mut self, sock: &impl SessionStream, owed: u64) {
        let Some(sock) = sock.plain_tcp().filter(|_| self.enabled) else {
            return;
        };
        let want = owed.clamp(1, MAX_LOW_WATER);
        if want != self.set {
            match set_recv_low_water(sock, want as usize) {
                Ok(()) => self.set = want,
                Err(_) => self.enabled = false,
            }
        }
    }

    /// Back to waking on every byte, at the end of an answer: what comes next (a status
    /// line) has no announced size.
    pub fn clear(&mut self, sock: &impl SessionStream) {
        if let Some(sock) = sock.plain_tcp() {
            self.reset(sock);
        }
        self.enabled = true;
    }

    fn reset(&mut self, sock: &tokio::net::TcpStream) {
        if self.set != 1 {
            // Lowering the mark makes Linux report readiness at once if bytes are queued.
            if set_recv_low_water(sock, 1).is_err() {
                self.enabled = false;
            }
            self.set = 1;
        }
    }

    /// Reads like `AsyncReadExt::read`; cancel-safe like it.
    pub async fn read<S: SessionStream>(
        &mut self,
        sock: &mut S,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        if self.set > 1 {
            self.patience.aim(Instant::now() + PATIENCE);
            if let Some(r) = self.patience.race(sock.read(buf)).await {
                return r;
            }
            if let Some(tcp) = sock.plain_tcp() {
                self.reset(tcp);
            }
            self.enabled = false;
        }
        sock.read(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::stream::Stream;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (Stream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (Stream::Plain(c), s)
    }

    #[tokio::test]
    async fn one_wake_up_for_an_answer_sent_in_pieces() {
        let (mut reader, mut writer) = pair().await;
        let w = tokio::spawn(async move {
            for _ in 0..3 {
                writer.write_all(&[b'x'; 1000]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            writer
        });
        let mut lw = LowWater::default();
        lw.expect(&reader, 3000);
        let mut buf = [0u8; 8192];
        let n = lw.read(&mut reader, &mut buf).await.unwrap();
        assert_eq!(n, 3000, "the first read waits for all owed bytes");
        lw.clear(&reader);
        let mut writer = w.await.unwrap();
        writer.write_all(b"+OK\r\n").await.unwrap();
        let n = lw.read(&mut reader, &mut buf).await.unwrap();
        assert_eq!(
            &buf[..n],
            b"+OK\r\n",
            "after clear a short line wakes the reader"
        );
    }

    #[tokio::test]
    async fn late_bytes_give_the_mark_up() {
        let (mut reader, mut writer) = pair().await;
        // The server announced 5000 bytes but sends 1000 and waits for the next command.
        writer.write_all(&[b'x'; 1000]).await.unwrap();
        let mut lw = LowWater::default();
        lw.expect(&reader, 5000);
        let mut buf = [0u8; 8192];
        let t = Instant::now();
        let n = tokio::time::timeout(Duration::from_secs(5), lw.read(&mut reader, &mut buf))
            .await
            .expect("the reader is not left waiting for bytes that never come")
            .unwrap();
        assert_eq!(n, 1000);
        assert!(t.elapsed() >= PATIENCE - PATIENCE / 8);
        // Given up for the rest of this answer: no new mark, a lone byte wakes the reader.
        lw.expect(&reader, 4000);
        writer.write_all(b"y").await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), lw.read(&mut reader, &mut buf))
            .await
            .expect("no mark while given up")
            .unwrap();
        assert_eq!(&buf[..n], b"y");
    }
}
