//! What happens after the real server accepted STARTTLS (POP3 STLS, SMTP STARTTLS).
//!
//! Plaintext that either side sent between the command and the handshake is dropped on
//! both legs: it can only be an injection. Until the gateway terminates TLS itself, the
//! session then continues in TLS end to end, unscanned (`starttls = passthrough`), and
//! says so in its log.
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Core;
use super::conn::{CLIENT_LIMIT, write_within};
use crate::error::{ProxyError, Side};

/// How the session went on after STARTTLS.
pub enum Upgraded {
    /// The session ran to its end as an end-to-end TLS splice.
    Ended(&'static str),
    /// Both legs now run over TLS the gateway terminates; the driver's command loop goes
    /// on over the new streams (TLS interception).
    Continue,
}

/// Drops pending plaintext, tells the client `ok`, and splices the legs.
pub async fn after_starttls(
    core: &mut Core,
    server_pending: usize,
    ok: &[u8],
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
    core.client.send(ok).await?;
    core.ctx.log.event(
        "starttls",
        "session continues in TLS end to end: NOT SCANNED (starttls = passthrough)",
    );
    splice(core).await?;
    Ok(Upgraded::Ended("tls passthrough ended"))
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
