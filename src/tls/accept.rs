//! The client leg: read the ClientHello first, choose the upstream name (SNI, else the
//! `tls.sni_map` entry for the original destination, else the no-SNI policy), connect and
//! verify upstream, and only then finish the client's handshake with a leaf for exactly the
//! verified name. A failed upstream verification fails the client's handshake (an alert,
//! never a leaf). TLS 1.2 and 1.3 with rustls defaults and ring.
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::ServerName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::StartHandshake;
use tokio_rustls::server::TlsStream;

use super::ca::Ca;
use super::client_hello::{self, Hello, HelloError};
use super::config::{NoSniPolicy, TlsCfg};
use super::learned::LearnedNames;
use super::mint::{CacheUse, Leaf, MintError, Minter, name_string};
use super::upstream::{UpstreamError, UpstreamSetupError, UpstreamTls, VerifiedUpstream};
use super::{VERSIONS, provider, x509};

/// Where the name verified upstream came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    Sni,
    Map,
    /// STARTTLS: learned from an earlier client's verified SNI for the same destination.
    Learned,
}

/// Why a session is relayed end to end, unscanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassReason {
    BypassDestination,
    BypassName(String),
    /// No SNI, no `tls.sni_map` entry, and `tls.no_sni = "passthrough"`.
    NoSni,
}

/// What to do with a client's TLS, decided from its SNI and original destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Intercept {
        name: ServerName<'static>,
        source: NameSource,
    },
    Passthrough(PassReason),
    /// No SNI, no map entry, and `tls.no_sni = "refuse"`.
    Refuse,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum AcceptError {
    Io(io::Error),
    /// The client closed before its ClientHello was complete.
    Closed,
    Timeout,
    ClientHelloTooLarge,
    /// Not TLS or an unacceptable ClientHello.
    NotTls(rustls::Error),
    /// No SNI and no map entry under `tls.no_sni = "refuse"`.
    NoSniRefused,
    /// STARTTLS: the client asked for another name than the one verified upstream.
    SniMismatch {
        sni: String,
        verified: String,
    },
    /// Upstream connection or verification failed; the client got an alert.
    Upstream {
        name: String,
        error: UpstreamError,
    },
    Mint(MintError),
    /// The client's side of the handshake failed after the leaf was offered.
    ClientHandshake(io::Error),
}

impl AcceptError {
    pub fn kind(&self) -> &'static str {
        match self {
            AcceptError::Io(_) => "io",
            AcceptError::Closed => "closed",
            AcceptError::Timeout => "timeout",
            AcceptError::ClientHelloTooLarge => "client_hello_too_large",
            AcceptError::NotTls(_) => "not_tls",
            AcceptError::NoSniRefused => "no_sni_refused",
            AcceptError::SniMismatch { .. } => "sni_mismatch",
            AcceptError::Upstream { .. } => "upstream",
            AcceptError::Mint(_) => "mint",
            AcceptError::ClientHandshake(_) => "client_handshake",
        }
    }
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::Io(e) => write!(f, "client: {e}"),
            AcceptError::Closed => f.write_str("client closed before its ClientHello"),
            AcceptError::Timeout => f.write_str("client TLS handshake timed out"),
            AcceptError::ClientHelloTooLarge => f.write_str("ClientHello over the size limit"),
            AcceptError::NotTls(e) => write!(f, "client sent no acceptable ClientHello: {e}"),
            AcceptError::NoSniRefused => f.write_str("client sent no SNI and no name is mapped"),
            AcceptError::SniMismatch { sni, verified } => {
                write!(f, "client asked for {sni} but {verified} was verified")
            }
            AcceptError::Upstream { name, error } => write!(f, "{name}: {error}"),
            AcceptError::Mint(e) => write!(f, "{e}"),
            AcceptError::ClientHandshake(e) => write!(f, "client TLS handshake failed: {e}"),
        }
    }
}

impl std::error::Error for AcceptError {}

impl From<HelloError> for AcceptError {
    fn from(e: HelloError) -> Self {
        match e {
            HelloError::Io(e) => AcceptError::Io(e),
            HelloError::Closed => AcceptError::Closed,
            HelloError::TooLarge => AcceptError::ClientHelloTooLarge,
            HelloError::Invalid(e) => AcceptError::NotTls(e),
        }
    }
}

/// The TLS facts of an intercepted session, for its log.
#[derive(Debug, Clone)]
pub struct TlsFacts {
    pub sni: Option<String>,
    pub name_source: NameSource,
    pub client_version: Option<rustls::ProtocolVersion>,
    pub client_cipher: Option<rustls::CipherSuite>,
    pub leaf: CacheUse,
    pub upstream: VerifiedUpstream,
}

impl fmt::Display for TlsFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.upstream;
        write!(
            f,
            "client={:?}/{:?} sni={} name={} ({:?}) upstream={:?}/{:?} subject=\"{}\" issuer=\"{}\" sha256={} not_after={} verified=ok leaf={}",
            self.client_version,
            self.client_cipher,
            self.sni.as_deref().unwrap_or("-"),
            name_string(&u.name),
            self.name_source,
            u.version,
            u.cipher,
            u.cert.subject,
            u.cert.issuer,
            x509::hex_colons(&u.cert.sha256),
            x509::rfc3339(u.cert.not_after),
            self.leaf,
        )
    }
}

/// An intercepted session: the client's TLS stream, the verified upstream, their facts.
pub struct Intercepted<IO, U> {
    pub client: TlsStream<IO>,
    pub upstream: U,
    pub facts: TlsFacts,
}

pub enum Accepted<IO, U> {
    Intercepted(Box<Intercepted<IO, U>>),
    /// Relay end to end: send `replay` (what was read of the ClientHello) upstream first.
    Passthrough {
        io: IO,
        replay: Vec<u8>,
        sni: Option<String>,
        reason: PassReason,
    },
}

/// Finishes a handshake with an alert instead of a certificate.
#[derive(Debug)]
struct NoCertificate;

impl ResolvesServerCert for NoCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        None
    }
}

/// Everything the session layer needs to intercept TLS; one per process.
pub struct Interceptor {
    cfg: TlsCfg,
    minter: Minter,
    upstream: UpstreamTls,
    refuse: Arc<ServerConfig>,
    learned: LearnedNames,
}

mod flow;

impl Interceptor {
    pub fn new(cfg: &TlsCfg, ca: Arc<Ca>) -> Result<Interceptor, UpstreamSetupError> {
        let upstream = UpstreamTls::new(cfg, ca.own_certs())?;
        let minter = Minter::new(ca, cfg);
        let refuse = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| UpstreamSetupError::Rustls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(NoCertificate));
        Ok(Interceptor {
            cfg: cfg.clone(),
            minter,
            upstream,
            refuse: Arc::new(refuse),
            learned: LearnedNames::new(cfg.learned_names),
        })
    }

    pub fn upstream(&self) -> &UpstreamTls {
        &self.upstream
    }

    pub fn minter(&self) -> &Minter {
        &self.minter
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.handshake_timeout_secs)
    }

    /// STARTTLS: the name to verify the server for before the client is told to start TLS,
    /// from `tls.sni_map`, else learned from an earlier client's verified SNI. `None` when
    /// no name is known or the destination or the name is bypassed.
    pub fn starttls_name(&self, dest: SocketAddr) -> Option<(ServerName<'static>, NameSource)> {
        if self.cfg.bypass_dest(dest) {
            return None;
        }
        let (name, source) = match self.cfg.mapped_name(dest) {
            Some(m) => (m.to_string(), NameSource::Map),
            None => (self.learned.get(dest)?, NameSource::Learned),
        };
        if self.cfg.bypass_name(&name) {
            return None;
        }
        ServerName::try_from(name).ok().map(|n| (n, source))
    }

    /// Remembers that the server at `dest` was verified for the name a STARTTLS client's
    /// SNI asked for.
    pub fn learn(&self, dest: SocketAddr, facts: &TlsFacts) {
        if facts.name_source == NameSource::Sni {
            self.learned.learn(dest, name_string(&facts.upstream.name));
        }
    }

    /// A learned name for `dest` did not hold (see [`LearnedNames::unlearn`]).
    pub fn unlearn(&self, dest: SocketAddr) {
        self.learned.unlearn(dest);
    }

    /// The name to verify upstream for a client's SNI (if any) and original destination.
    pub fn decide(&self, sni: Option<&str>, dest: SocketAddr) -> Decision {
        if self.cfg.bypass_dest(dest) {
            return Decision::Passthrough(PassReason::BypassDestination);
        }
        let (name, source) = match (sni, self.cfg.mapped_name(dest)) {
            (Some(s), _) => (s, NameSource::Sni),
            (None, Some(m)) => (m, NameSource::Map),
            (None, None) => {
                return match self.cfg.no_sni {
                    NoSniPolicy::Passthrough => Decision::Passthrough(PassReason::NoSni),
                    NoSniPolicy::Refuse => Decision::Refuse,
                };
            }
        };
        if self.cfg.bypass_name(name) {
            return Decision::Passthrough(PassReason::BypassName(name.to_string()));
        }
        match ServerName::try_from(name.to_string()) {
            Ok(name) => Decision::Intercept { name, source },
            // The config validates map names and rustls validates SNI; refuse what slips by.
            Err(_) => Decision::Refuse,
        }
    }

    /// The leaf for a verified upstream (cached or minted).
    pub fn leaf(&self, up: &VerifiedUpstream) -> Result<(Arc<Leaf>, CacheUse), AcceptError> {
        self.minter.leaf(up).map_err(AcceptError::Mint)
    }

    async fn hello<IO>(&self, io: &mut IO) -> Result<Hello, AcceptError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let read = client_hello::read(io, self.cfg.max_client_hello_bytes);
        Ok(tokio::time::timeout(self.timeout(), read)
            .await
            .map_err(|_| AcceptError::Timeout)??)
    }

    /// Answers the ClientHello with an alert (no certificate is ever sent).
    async fn refuse<IO>(&self, hello: Hello, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let hs = StartHandshake::from_parts(hello.accepted, io).into_stream(self.refuse.clone());
        let _ = tokio::time::timeout(self.timeout(), hs).await;
    }

    /// Offers `leaf` and finishes the client's handshake.
    async fn finish<IO>(
        &self,
        hello: Hello,
        io: IO,
        leaf: &Leaf,
    ) -> Result<TlsStream<IO>, AcceptError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let hs = StartHandshake::from_parts(hello.accepted, io).into_stream(leaf.config.clone());
        tokio::time::timeout(self.timeout(), hs)
            .await
            .map_err(|_| AcceptError::Timeout)?
            .map_err(AcceptError::ClientHandshake)
    }

    /// Implicit TLS: reads the ClientHello, decides, calls `connect` with the name to verify
    /// (it connects and returns [`UpstreamTls::connect`]'s result), and finishes the
    /// client's handshake only with a verified upstream.
    pub async fn accept<IO, U, F, Fut>(
        &self,
        io: IO,
        dest: SocketAddr,
        connect: F,
    ) -> Result<Accepted<IO, U>, AcceptError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
        F: FnOnce(ServerName<'static>) -> Fut,
        Fut: Future<Output = Result<(U, VerifiedUpstream), UpstreamError>>,
    {
        flow::accept(self, io, dest, connect).await
    }

    /// STARTTLS, where the upstream leg was upgraded and verified for `up.name` (from
    /// [`Interceptor::starttls_name`], `source`) before the client was told to start:
    /// reads the ClientHello and finishes with the leaf for the verified name. A client
    /// whose SNI names another server gets a leaf for it only if `verify_again` finds the
    /// same server's certificate valid for that name too; else an alert.
    pub async fn accept_verified<IO, V>(
        &self,
        io: IO,
        up: VerifiedUpstream,
        source: NameSource,
        verify_again: V,
    ) -> Result<(TlsStream<IO>, TlsFacts), AcceptError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
        V: FnOnce(ServerName<'static>) -> Result<VerifiedUpstream, UpstreamError>,
    {
        flow::accept_verified(self, io, up, source, verify_again).await
    }
}
