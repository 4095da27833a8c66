//! Opening a session's two legs: a plain connection to the real server, or for an
//! implicit-TLS listener (POP3S, SMTPS) the client's ClientHello first, then the upstream
//! connection verified for the name it asked (or the name mapped for its destination),
//! and only then the client's handshake with a leaf minted for that name. A session that
//! is not intercepted (no CA yet, the listener's mode, a bypassed name, no SNI under
//! `tls.no_sni = "passthrough"`) is relayed end to end, unscanned, and says so.
use std::time::Duration;

use crate::app::App;
use crate::config::Listener;
use crate::ids::OrigDstAddr;
use crate::net::stream::Stream;
use crate::net::upstream;
use crate::tls::{Accepted, Intercepted, TlsFacts, TlsMode, UpstreamError};

/// The legs of a new session.
pub enum Legs {
    /// Both legs carry the session's protocol in the clear to portcullis.
    Open {
        client: Stream,
        server: Stream,
        tls: Option<Box<TlsFacts>>,
    },
    /// Relayed end to end, unscanned: `replay` (what was read of the client's
    /// ClientHello) goes to the server first.
    Passthrough {
        client: Stream,
        server: Stream,
        replay: Vec<u8>,
        why: String,
    },
}

/// Why a session could not open, for its end line. `client` comes back when the client
/// speaks the protocol in the clear and should be told (the server is unreachable); a TLS
/// client was already sent an alert, or is simply closed.
pub struct Failed {
    pub why: String,
    pub client: Option<Stream>,
}

fn failed(why: String) -> Failed {
    Failed { why, client: None }
}

async fn connect(app: &App, dest: OrigDstAddr) -> std::io::Result<Stream> {
    let limits = &app.cfg.limits;
    let timeout = Duration::from_secs(limits.connect_timeout_secs);
    upstream::connect(dest, app.cfg.nft.mark, timeout).await
}

/// Opens both legs for a connection from `client` to `dest`.
pub async fn open(
    app: &App,
    lcfg: &Listener,
    client: Stream,
    dest: OrigDstAddr,
) -> Result<Legs, Failed> {
    let connect_failed = |e: std::io::Error| failed(format!("server: connect failed: {e}"));
    if !lcfg.implicit_tls {
        let server = match connect(app, dest).await {
            Ok(s) => s,
            Err(e) => {
                return Err(Failed {
                    client: Some(client),
                    ..connect_failed(e)
                });
            }
        };
        return Ok(Legs::Open {
            client,
            server,
            tls: None,
        });
    }
    let mode = app
        .tls
        .as_ref()
        .and_then(|_| app.cfg.tls.mode_for(lcfg.listen, true));
    let (Some(ic), Some(TlsMode::Intercept)) = (app.tls.as_ref(), mode) else {
        let server = connect(app, dest).await.map_err(connect_failed)?;
        let why = match app.tls {
            None => "no local CA (portcullis ca init)".to_string(),
            Some(_) => format!("tls.listener_mode = {mode:?}"),
        };
        return Ok(Legs::Passthrough {
            client,
            server,
            replay: Vec::new(),
            why,
        });
    };
    let Stream::Plain(tcp) = client else {
        return Err(failed("local: the client leg is already TLS".into()));
    };
    let tls_up = ic.upstream().clone();
    let accepted = ic
        .accept(tcp, dest.0, |name| async move {
            let Stream::Plain(tcp) = connect(app, dest).await.map_err(UpstreamError::Io)? else {
                return Err(UpstreamError::Io(std::io::Error::other("not a TCP stream")));
            };
            tls_up.connect(tcp, name).await
        })
        .await;
    match accepted {
        Ok(Accepted::Intercepted(b)) => {
            let Intercepted {
                client,
                upstream,
                facts,
            } = *b;
            Ok(Legs::Open {
                client: Stream::Tls(Box::new(client.into())),
                server: Stream::Tls(Box::new(upstream.into())),
                tls: Some(Box::new(facts)),
            })
        }
        Ok(Accepted::Passthrough {
            io,
            replay,
            sni,
            reason,
        }) => {
            let server = connect(app, dest).await.map_err(connect_failed)?;
            Ok(Legs::Passthrough {
                client: Stream::Plain(io),
                server,
                replay,
                why: format!("{reason:?} sni={}", sni.as_deref().unwrap_or("-")),
            })
        }
        Err(e) => Err(failed(format!("tls {}: {e}", e.kind()))),
    }
}
