//! The byte stream of one leg of a session: plain TCP, or TLS that portcullis terminates
//! or originates; nothing above `net/` knows which it has. Socket
//! options that only make sense on the raw socket (the receive low-water mark) are reached
//! through [`SessionStream::plain_tcp`], which a TLS leg answers with `None`.
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What the session layer needs of a stream.
pub trait SessionStream: AsyncRead + AsyncWrite + Unpin + Send {
    /// The raw TCP socket, when the bytes read from it are the session's bytes (plain TCP):
    /// only then may socket-level read tuning be applied.
    fn plain_tcp(&self) -> Option<&TcpStream> {
        None
    }
}

/// One leg of a session.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    /// TLS that portcullis terminates (client leg) or originates (server leg).
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
    /// Taken away for a moment while the leg is upgraded to TLS: reads see the end of the
    /// stream, writes fail.
    Detached,
}

fn detached() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "stream detached for a TLS upgrade",
    )
}

impl Stream {
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Plain(s) => s.peer_addr(),
            Stream::Tls(s) => s.get_ref().0.peer_addr(),
            Stream::Detached => Err(detached()),
        }
    }

    pub fn set_nodelay(&self) {
        match self {
            Stream::Plain(s) => {
                let _ = s.set_nodelay(true);
            }
            Stream::Tls(s) => {
                let _ = s.get_ref().0.set_nodelay(true);
            }
            Stream::Detached => {}
        }
    }
}

impl Stream {
    /// Takes the stream out of a leg that is about to be upgraded, leaving it detached.
    pub fn detach(&mut self) -> Stream {
        std::mem::replace(self, Stream::Detached)
    }
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Self {
        Stream::Plain(s)
    }
}

impl SessionStream for Stream {
    fn plain_tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            // rustls reads ahead of what the session consumed: no low-water mark here.
            Stream::Tls(_) | Stream::Detached => None,
        }
    }
}

/// In-memory streams (tests of the session layer).
impl SessionStream for tokio::io::DuplexStream {}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Detached => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Detached => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Detached => Poll::Ready(Ok(())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Stream::Detached => Poll::Ready(Err(detached())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
            Stream::Detached => false,
        }
    }
}
