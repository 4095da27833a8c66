//! Reads a client's ClientHello (bounded) and keeps the raw bytes, so a session can still be
//! passed through end to end after its SNI was seen.
use std::io;

use rustls::server::{Accepted, Acceptor};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub(crate) struct Hello {
    pub accepted: Accepted,
    /// Every byte read from the client so far (the ClientHello records).
    pub raw: Vec<u8>,
}

#[derive(Debug)]
pub(crate) enum HelloError {
    Io(io::Error),
    /// The client closed before a whole ClientHello arrived.
    Closed,
    /// More than `tls.max_client_hello_bytes` without a whole ClientHello.
    TooLarge,
    /// Not TLS, or a ClientHello rustls refuses (an alert was sent).
    Invalid(rustls::Error),
}

pub(crate) async fn read<IO>(io: &mut IO, max: usize) -> Result<Hello, HelloError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut acceptor = Acceptor::default();
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let room = (max - raw.len()).min(buf.len());
        if room == 0 {
            return Err(HelloError::TooLarge);
        }
        let n = io.read(&mut buf[..room]).await.map_err(HelloError::Io)?;
        if n == 0 {
            return Err(HelloError::Closed);
        }
        raw.extend_from_slice(&buf[..n]);
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            match acceptor.read_tls(&mut rest) {
                Ok(0) => return Err(HelloError::TooLarge),
                Ok(_) => {}
                Err(e) => return Err(HelloError::Io(e)),
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok(Hello { accepted, raw }),
            Ok(None) => {}
            Err((e, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write_all(&mut out);
                let _ = io.write_all(&out).await;
                return Err(HelloError::Invalid(e));
            }
        }
    }
}
