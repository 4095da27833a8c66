//! The two acceptance flows: implicit TLS (SNI first, then upstream) and STARTTLS
//! (upstream verified first, then the client's ClientHello).
use std::future::Future;
use std::net::SocketAddr;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

use super::{
    AcceptError, Accepted, Decision, Intercepted, Interceptor, NameSource, PassReason, TlsFacts,
};
use crate::tls::NoSniPolicy;
use crate::tls::mint::name_string;
use crate::tls::upstream::{UpstreamError, VerifiedUpstream};

fn facts(
    client: &rustls::ServerConnection,
    sni: Option<String>,
    name_source: NameSource,
    leaf: crate::tls::CacheUse,
    upstream: VerifiedUpstream,
) -> TlsFacts {
    TlsFacts {
        sni,
        name_source,
        client_version: client.protocol_version(),
        client_cipher: client.negotiated_cipher_suite().map(|c| c.suite()),
        leaf,
        upstream,
    }
}

pub(super) async fn accept<IO, U, F, Fut>(
    ic: &Interceptor,
    mut io: IO,
    dest: SocketAddr,
    connect: F,
) -> Result<Accepted<IO, U>, AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(ServerName<'static>) -> Fut,
    Fut: Future<Output = Result<(U, VerifiedUpstream), UpstreamError>>,
{
    if ic.cfg.bypass_dest(dest) {
        return Ok(Accepted::Passthrough {
            io,
            replay: Vec::new(),
            sni: None,
            reason: PassReason::BypassDestination,
        });
    }
    let hello = ic.hello(&mut io).await?;
    let sni = hello
        .accepted
        .client_hello()
        .server_name()
        .map(str::to_owned);
    let (name, source) = match ic.decide(sni.as_deref(), dest) {
        Decision::Intercept { name, source } => (name, source),
        Decision::Passthrough(reason) => {
            return Ok(Accepted::Passthrough {
                io,
                replay: hello.raw,
                sni,
                reason,
            });
        }
        Decision::Refuse => {
            ic.refuse(hello, io).await;
            return Err(AcceptError::NoSniRefused);
        }
    };
    let (upstream, verified) = match connect(name.clone()).await {
        Ok(v) => v,
        Err(error) => {
            ic.refuse(hello, io).await;
            return Err(AcceptError::Upstream {
                name: name_string(&name),
                error,
            });
        }
    };
    let (leaf, used) = match ic.leaf(&verified) {
        Ok(l) => l,
        Err(e) => {
            ic.refuse(hello, io).await;
            return Err(e);
        }
    };
    let client = ic.finish(hello, io, &leaf).await?;
    let facts = facts(client.get_ref().1, sni, source, used, verified);
    Ok(Accepted::Intercepted(Box::new(Intercepted {
        client,
        upstream,
        facts,
    })))
}

pub(super) async fn accept_verified<IO, V>(
    ic: &Interceptor,
    mut io: IO,
    up: VerifiedUpstream,
    source: NameSource,
    verify_again: V,
) -> Result<(TlsStream<IO>, TlsFacts), AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    V: FnOnce(ServerName<'static>) -> Result<VerifiedUpstream, UpstreamError>,
{
    let hello = ic.hello(&mut io).await?;
    let sni = hello
        .accepted
        .client_hello()
        .server_name()
        .map(str::to_owned);
    let verified = name_string(&up.name);
    let (up, source) = match &sni {
        Some(s) if !s.eq_ignore_ascii_case(&verified) => {
            // Another name: only if the certificate is valid for it as well, and never a
            // bypassed name (that session can no longer stay end to end).
            let name = ServerName::try_from(s.clone())
                .ok()
                .filter(|_| !ic.cfg.bypass_name(s));
            let Some(name) = name else {
                ic.refuse(hello, io).await;
                return Err(AcceptError::SniMismatch {
                    sni: s.clone(),
                    verified,
                });
            };
            match verify_again(name) {
                Ok(v) => (v, NameSource::Sni),
                Err(error) => {
                    ic.refuse(hello, io).await;
                    return Err(AcceptError::Upstream {
                        name: s.clone(),
                        error,
                    });
                }
            }
        }
        Some(_) => (up, NameSource::Sni),
        // No SNI: a mapped name stands in for it; a learned one only where the admin did
        // not ask for clients without SNI to be refused.
        None if source == NameSource::Learned && ic.cfg.no_sni == NoSniPolicy::Refuse => {
            ic.refuse(hello, io).await;
            return Err(AcceptError::NoSniRefused);
        }
        None => (up, source),
    };
    let (leaf, used) = match ic.leaf(&up) {
        Ok(l) => l,
        Err(e) => {
            ic.refuse(hello, io).await;
            return Err(e);
        }
    };
    let client = ic.finish(hello, io, &leaf).await?;
    let facts = facts(client.get_ref().1, sni, source, used, up);
    Ok((client, facts))
}
