//! What happens after the real server accepted STARTTLS (POP3 STLS, SMTP STARTTLS).
//!
//! Plaintext that either side sent between the command and the handshake is dropped on
//! both legs: it can only be an injection. Then, with TLS interception (a local CA exists
//! and the listener's mode is `intercept`):
//! - when the server's name is known before the client's ClientHello (`tls.sni_map`, or
//!   learned from an earlier client's verified SNI for the same destination), the server
//!   leg is upgraded and verified first, and only then is the client told to go ahead; a
//!   server that fails verification gets the client the protocol's error instead;
//! - else the client is told to go ahead, its ClientHello names the server, the server leg
//!   is upgraded and verified for that name, and a failure gets the client a TLS alert.
//!
//! Either way the client gets a leaf only for a verified name, the driver's command loop
//! goes on over both TLS legs, and a failed session ends: it never continues in a session
//! that pretends to be protected. Without interception the session continues in TLS end
//! to end, unscanned, and says so in its log.
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::conn::{CLIENT_LIMIT, write_within};
use super::{Core, Ctx};
use crate::config::StartTls;
use crate::error::{ProxyError, Side};
use crate::net::stream::Stream;
use crate::tls::accept::NameSource;
use crate::tls::{
    AcceptError, Accepted, Intercepted, Interceptor, TlsFacts, TlsMode, UpstreamError,
};
use rustls::pki_types::ServerName;

/// What a session does with STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTlsMode {
    /// Terminate both legs and go on scanning.
    Intercept,
    /// Relay the encrypted session end to end, unscanned (logged).
    Passthrough,
    /// Hide STARTTLS from the client and refuse it.
    Strip,
}

impl Ctx {
    /// The listener's STARTTLS mode: `tls.listener_mode` (intercept by default) once a CA
    /// exists, else its `starttls` setting. A session already in TLS offers no STARTTLS.
    pub fn starttls_mode(&self) -> StartTlsMode {
        if self.tls_active {
            return StartTlsMode::Strip;
        }
        let by_tls = self
            .app
            .tls
            .as_ref()
            .and_then(|_| self.app.cfg.tls.mode_for(self.lcfg.listen, true));
        match (by_tls, self.lcfg.starttls) {
            (Some(TlsMode::Intercept), _) => StartTlsMode::Intercept,
            (Some(TlsMode::Passthrough), _) => StartTlsMode::Passthrough,
            (Some(TlsMode::Strip), _) | (None, StartTls::Strip) => StartTlsMode::Strip,
            (None, StartTls::Passthrough) => StartTlsMode::Passthrough,
        }
    }

    /// Whether STARTTLS may be offered to the client.
    pub fn offers_starttls(&self) -> bool {
        self.starttls_mode() != StartTlsMode::Strip
    }
}

/// How the session went on after STARTTLS.
pub enum Upgraded {
    /// The session ran to its end as an end-to-end TLS splice.
    Ended(&'static str),
    /// Both legs now run over TLS the gateway terminates; the driver's command loop goes
    /// on over the new streams (TLS interception).
    Continue,
}

/// Drops pending plaintext, tells the client `ok` (or `refused` when the server leg, set up
/// first, fails verification), and intercepts or splices the legs.
pub async fn after_starttls(
    core: &mut Core,
    server_pending: usize,
    ok: &[u8],
    refused: &[u8],
) -> Result<Upgraded, ProxyError> {
    let client_pending = core.client.buf.take_pending().len();
    if client_pending + server_pending > 0 {
        core.ctx.log.event(
            "starttls",
            &format!(
                "discarded plaintext sent before the TLS handshake: client={client_pending} bytes server={server_pending} bytes"
            ),
        );
    }
    if core.ctx.starttls_mode() == StartTlsMode::Intercept {
        let app = core.ctx.app.clone();
        if let Some(ic) = app.tls.as_ref()
            && let Some((name, source)) = ic.starttls_name(core.ctx.server_addr.0)
        {
            return verified_first(core, ic, name, source, ok, refused).await;
        }
        core.client.send(ok).await?;
        return intercept(core).await;
    }
    core.client.send(ok).await?;
    core.ctx.log.event(
        "starttls",
        "session continues in TLS end to end: NOT SCANNED (starttls = passthrough)",
    );
    splice(core).await?;
    Ok(Upgraded::Ended("tls passthrough ended"))
}

fn plain(s: Stream, side: Side) -> Result<TcpStream, ProxyError> {
    match s {
        Stream::Plain(t) => Ok(t),
        _ => Err(ProxyError::Tls {
            side,
            why: "STARTTLS on a leg that is not plain TCP".into(),
        }),
    }
}

/// Both legs upgraded: the client's ClientHello first, then the server verified for its
/// name, then the client's handshake with a minted leaf.
async fn intercept(core: &mut Core) -> Result<Upgraded, ProxyError> {
    let app = core.ctx.app.clone();
    let Some(ic) = app.tls.as_ref() else {
        return Err(ProxyError::Tls {
            side: Side::Local,
            why: "no interceptor".into(),
        });
    };
    let client = plain(core.client.stream.detach(), Side::Client)?;
    let slot = Arc::new(Mutex::new(Some(plain(
        core.server.stream.detach(),
        Side::Server,
    )?)));
    let (up, taken) = (ic.upstream().clone(), slot.clone());
    let accepted = ic
        .accept(client, core.ctx.server_addr.0, |name| {
            let tcp = taken.lock().unwrap_or_else(|p| p.into_inner()).take();
            async move {
                let tcp =
                    tcp.ok_or_else(|| UpstreamError::Io(std::io::Error::other("no server leg")))?;
                up.connect(tcp, name).await
            }
        })
        .await;
    let leftover = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    match accepted {
        Ok(Accepted::Intercepted(b)) => {
            let Intercepted {
                client,
                upstream,
                facts,
            } = *b;
            let facts = both_in_tls(core, ic, client.into(), upstream.into(), facts);
            core.ctx
                .log
                .event("tls", &format!("intercepted after STARTTLS {facts}"));
            Ok(Upgraded::Continue)
        }
        Ok(Accepted::Passthrough {
            io,
            replay,
            sni,
            reason,
        }) => {
            core.client.stream = Stream::Plain(io);
            core.server.stream = leftover.map(Stream::Plain).unwrap_or(Stream::Detached);
            let sni = sni.as_deref().unwrap_or("-").to_string();
            core.ctx.log.event(
                "tls",
                &format!("after STARTTLS end to end, NOT SCANNED: {reason:?} sni={sni}"),
            );
            passthrough(core, &replay).await?;
            Ok(Upgraded::Ended("tls passthrough ended"))
        }
        Err(e) => Err(accept_failed(core, &e)),
    }
}

/// Both legs now run over TLS the gateway terminates; a name the client's SNI had
/// verified is remembered for the destination. Returns the facts for the log line.
fn both_in_tls(
    core: &mut Core,
    ic: &Interceptor,
    client: tokio_rustls::TlsStream<TcpStream>,
    upstream: tokio_rustls::TlsStream<TcpStream>,
    facts: TlsFacts,
) -> TlsFacts {
    ic.learn(core.ctx.server_addr.0, &facts);
    core.client.stream = Stream::Tls(Box::new(client));
    core.server.stream = Stream::Tls(Box::new(upstream));
    core.ctx.tls_active = true;
    facts
}

/// The error that ends a session whose client handshake could not be finished: the
/// server's side when the server failed, else the client's; counted per leg.
fn accept_failed(core: &Core, e: &AcceptError) -> ProxyError {
    let side = match e {
        AcceptError::Upstream { .. } => Side::Server,
        _ => Side::Client,
    };
    let leg = if side == Side::Server {
        "server"
    } else {
        "client"
    };
    core.ctx.app.metrics.tls_failed(core.ctx.protocol, leg);
    ProxyError::Tls {
        side,
        why: format!("{} {e}", e.kind()),
    }
}

/// The server leg upgraded and verified for `name` before the client hears anything; only
/// then is the client told `ok`, its ClientHello read and a leaf minted for the verified
/// name. A server that fails verification gets the client `refused`, the protocol's error.
async fn verified_first(
    core: &mut Core,
    ic: &Interceptor,
    name: ServerName<'static>,
    source: NameSource,
    ok: &[u8],
    refused: &[u8],
) -> Result<Upgraded, ProxyError> {
    let dest = core.ctx.server_addr.0;
    let server = plain(core.server.stream.detach(), Side::Server)?;
    let (upstream, verified) = match ic.upstream().connect(server, name).await {
        Ok(v) => v,
        Err(e) => {
            if source == NameSource::Learned {
                ic.unlearn(dest);
            }
            core.ctx.app.metrics.tls_failed(core.ctx.protocol, "server");
            core.client.send(refused).await?;
            return Err(ProxyError::Tls {
                side: Side::Server,
                why: format!("{} {e}", e.kind()),
            });
        }
    };
    core.client.send(ok).await?;
    let client = plain(core.client.stream.detach(), Side::Client)?;
    let conn = upstream.get_ref().1;
    let again = |n| ic.upstream().verify_again(conn, n);
    match ic.accept_verified(client, verified, source, again).await {
        Ok((client, facts)) => {
            let facts = both_in_tls(core, ic, client.into(), upstream.into(), facts);
            core.ctx.log.event(
                "tls",
                &format!(
                    "intercepted after STARTTLS, server verified first for the {} name {facts}",
                    if source == NameSource::Map {
                        "mapped"
                    } else {
                        "learned"
                    }
                ),
            );
            Ok(Upgraded::Continue)
        }
        Err(e) => {
            let other_name = matches!(
                e,
                AcceptError::Upstream { .. } | AcceptError::SniMismatch { .. }
            );
            if source == NameSource::Learned && other_name {
                // A client asked for a name the learned one does not cover: from now on
                // this destination's sessions go the SNI-first way.
                ic.unlearn(dest);
            }
            Err(accept_failed(core, &e))
        }
    }
}

/// A session relayed end to end from its start (implicit TLS not intercepted): `replay`
/// (the client's bytes already read) goes to the server, then both ways are copied.
pub async fn passthrough(core: &mut Core, replay: &[u8]) -> Result<(), ProxyError> {
    if !replay.is_empty() {
        core.server.send(replay).await?;
    }
    splice(core).await
}

/// Copies both ways until both sides have closed. Each wait is bounded by the client's
/// idle limit: a spliced session that nobody uses for that long is ended like any other.
async fn splice(core: &mut Core) -> Result<(), ProxyError> {
    let (mut cbuf, mut sbuf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut client_open, mut server_open) = (true, true);
    let Core { client, server, .. } = core;
    let idle = &mut client.deadline;
    let (cstream, sstream) = (&mut client.stream, &mut server.stream);
    while client_open || server_open {
        let got = idle
            .run(async {
                tokio::select! {
                    r = cstream.read(&mut cbuf), if client_open => (Side::Client, r),
                    r = sstream.read(&mut sbuf), if server_open => (Side::Server, r),
                }
            })
            .await;
        let Some((from, r)) = got else {
            return Err(ProxyError::Timeout {
                side: Side::Client,
                what: CLIENT_LIMIT.idle,
            });
        };
        let n = r.map_err(ProxyError::io(from))?;
        let (to, to_side, data, count) = match from {
            Side::Client => (
                &mut *sstream,
                Side::Server,
                &cbuf[..n],
                &mut client.bytes_in,
            ),
            _ => (
                &mut *cstream,
                Side::Client,
                &sbuf[..n],
                &mut client.bytes_out,
            ),
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
        write_within(to, idle, to_side, CLIENT_LIMIT.stalled, data).await?;
        *count += n as u64;
    }
    Ok(())
}
