//! The upstream leg: a rustls client that verifies the real server against webpki roots or
//! the system store (plus an optional extra CA file), never against portcullis's own CA,
//! and reports either the verified facts or a typed reason that says which check failed.
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::config::{TlsCfg, UpstreamRoots};
use super::verify::{OwnCa, Verifier, classify};
use super::x509::{self, CertSummary};
use super::{VERSIONS, provider};

/// Why an upstream certificate was refused (each fails closed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertProblem {
    Expired,
    NotYetValid,
    /// The certificate does not name the server; `presented` are the names it has.
    WrongName {
        presented: Vec<String>,
    },
    SelfSigned,
    /// Self-signed and otherwise unusable (for example a CA certificate as server).
    SelfSignedInvalid(String),
    /// The chain ends at no trusted root.
    UnknownRoot,
    /// The chain involves portcullis's own CA (current or previous).
    SignedByPortcullisCa,
    Revoked,
    Invalid(String),
}

impl CertProblem {
    /// A stable word for logs and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            CertProblem::Expired => "expired",
            CertProblem::NotYetValid => "not_yet_valid",
            CertProblem::WrongName { .. } => "wrong_name",
            CertProblem::SelfSigned | CertProblem::SelfSignedInvalid(_) => "self_signed",
            CertProblem::UnknownRoot => "unknown_root",
            CertProblem::SignedByPortcullisCa => "portcullis_ca",
            CertProblem::Revoked => "revoked",
            CertProblem::Invalid(_) => "invalid",
        }
    }
}

impl fmt::Display for CertProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertProblem::Expired => f.write_str("certificate expired"),
            CertProblem::NotYetValid => f.write_str("certificate not yet valid"),
            CertProblem::WrongName { presented } => {
                write!(f, "certificate is for other names {presented:?}")
            }
            CertProblem::SelfSigned => f.write_str("self-signed certificate"),
            CertProblem::SelfSignedInvalid(e) => write!(f, "self-signed certificate ({e})"),
            CertProblem::UnknownRoot => f.write_str("certificate chain ends at an unknown root"),
            CertProblem::SignedByPortcullisCa => {
                f.write_str("certificate chain involves portcullis's own CA")
            }
            CertProblem::Revoked => f.write_str("certificate revoked"),
            CertProblem::Invalid(e) => write!(f, "certificate invalid ({e})"),
        }
    }
}

impl std::error::Error for CertProblem {}

/// A refused upstream certificate: why, and what it was (for the session log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub problem: CertProblem,
    /// The server's own certificate, when it could be parsed.
    pub cert: Option<CertSummary>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.problem, self.problem.kind())?;
        if let Some(c) = &self.cert {
            write!(
                f,
                " subject=\"{}\" issuer=\"{}\" sha256={} not_after={}",
                c.subject,
                c.issuer,
                x509::hex_colons(&c.sha256),
                x509::rfc3339(c.not_after)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// Why the upstream leg could not be established. The session fails closed on each.
#[derive(Debug)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The server's certificate failed verification.
    Certificate(Box<Refused>),
    /// TLS failed for another reason (alert, no common parameters).
    Handshake(rustls::Error),
    Io(io::Error),
    Timeout,
}

impl UpstreamError {
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Certificate(r) => r.problem.kind(),
            UpstreamError::Handshake(_) => "handshake",
            UpstreamError::Io(_) => "io",
            UpstreamError::Timeout => "timeout",
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Certificate(p) => write!(f, "upstream verification failed: {p}"),
            UpstreamError::Handshake(e) => write!(f, "upstream TLS handshake failed: {e}"),
            UpstreamError::Io(e) => write!(f, "upstream connection failed: {e}"),
            UpstreamError::Timeout => f.write_str("upstream TLS handshake timed out"),
        }
    }
}

impl std::error::Error for UpstreamError {}

fn from_io(e: io::Error) -> UpstreamError {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(r) => from_rustls(r),
        None => UpstreamError::Io(e),
    }
}

fn from_rustls(r: &rustls::Error) -> UpstreamError {
    match r {
        rustls::Error::InvalidCertificate(c) => {
            let refused = match c {
                rustls::CertificateError::Other(o) => o.0.downcast_ref::<Refused>().cloned(),
                _ => None,
            };
            UpstreamError::Certificate(Box::new(refused.unwrap_or_else(|| Refused {
                problem: classify(c, &CertificateDer::from(&[][..])),
                cert: None,
            })))
        }
        other => UpstreamError::Handshake(other.clone()),
    }
}

/// What portcullis verified about the server; only this module makes one.
#[derive(Debug, Clone)]
pub struct VerifiedUpstream {
    /// The name the certificate was verified for.
    pub name: ServerName<'static>,
    pub version: rustls::ProtocolVersion,
    pub cipher: rustls::CipherSuite,
    /// The server's own certificate.
    pub cert: CertSummary,
    /// Fingerprint of the whole presented chain (the leaf cache key).
    pub chain_sha256: [u8; 32],
    /// Private, so that only this module makes one.
    verified_at: std::time::SystemTime,
}

impl VerifiedUpstream {
    /// When the handshake that verified it completed.
    pub fn verified_at(&self) -> std::time::SystemTime {
        self.verified_at
    }

    /// Facts as if verified, for unit tests of what consumes them.
    #[cfg(test)]
    pub(crate) fn for_test(name: &str, not_after: std::time::SystemTime, chain: [u8; 32]) -> Self {
        VerifiedUpstream {
            name: ServerName::try_from(name.to_string()).expect("test name"),
            version: rustls::ProtocolVersion::TLSv1_3,
            cipher: rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
            cert: CertSummary {
                subject: format!("CN={name}"),
                issuer: "CN=test".into(),
                serial: "01".into(),
                not_before: std::time::UNIX_EPOCH,
                not_after,
                sha256: chain,
            },
            chain_sha256: chain,
            verified_at: std::time::SystemTime::now(),
        }
    }

    fn from_conn(name: ServerName<'static>, c: &ClientConnection) -> Result<Self, UpstreamError> {
        let bad = |what: &str| {
            UpstreamError::Certificate(Box::new(Refused {
                problem: CertProblem::Invalid(what.into()),
                cert: None,
            }))
        };
        let chain = c.peer_certificates().ok_or_else(|| bad("no certificate"))?;
        let ee = chain.first().ok_or_else(|| bad("no certificate"))?;
        Ok(VerifiedUpstream {
            name,
            version: c.protocol_version().ok_or_else(|| bad("no version"))?,
            cipher: c
                .negotiated_cipher_suite()
                .ok_or_else(|| bad("no cipher"))?
                .suite(),
            cert: x509::summary(ee).map_err(|e| bad(&e.to_string()))?,
            chain_sha256: x509::chain_fingerprint(chain),
            verified_at: std::time::SystemTime::now(),
        })
    }
}

/// Why the upstream TLS client could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum UpstreamSetupError {
    ExtraCaFile {
        path: PathBuf,
        why: String,
    },
    /// The extra CA file holds portcullis's own CA.
    OwnCaInExtraFile(PathBuf),
    NoRoots,
    Rustls(String),
}

impl fmt::Display for UpstreamSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamSetupError::ExtraCaFile { path, why } => {
                write!(f, "tls.extra_ca_file = {}: {why}", path.display())
            }
            UpstreamSetupError::OwnCaInExtraFile(p) => write!(
                f,
                "tls.extra_ca_file = {}: holds portcullis's own CA, which is never trusted upstream",
                p.display()
            ),
            UpstreamSetupError::NoRoots => f.write_str("no upstream trust anchors"),
            UpstreamSetupError::Rustls(e) => write!(f, "upstream TLS setup: {e}"),
        }
    }
}

impl std::error::Error for UpstreamSetupError {}

/// The upstream TLS client; cheap to share.
#[derive(Clone)]
pub struct UpstreamTls {
    connector: TlsConnector,
    verifier: Arc<Verifier>,
    timeout: Duration,
}

impl UpstreamTls {
    /// `own` are portcullis's CA certificates ([`super::Ca::own_certs`]): removed from the
    /// trust anchors and refused anywhere in a chain.
    pub fn new<'a, 'b: 'a>(
        cfg: &TlsCfg,
        own: impl IntoIterator<Item = &'a CertificateDer<'b>>,
    ) -> Result<UpstreamTls, UpstreamSetupError> {
        let own = OwnCa::new(own);
        let roots = roots(cfg, &own)?;
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| UpstreamSetupError::Rustls(e.to_string()))?;
        let verifier = Arc::new(Verifier { inner, own });
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| UpstreamSetupError::Rustls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        // Every connection gets a full handshake and so a full verification.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(UpstreamTls {
            connector: TlsConnector::from(Arc::new(config)),
            verifier,
            timeout: Duration::from_secs(cfg.handshake_timeout_secs),
        })
    }

    /// TLS over `io` (a fresh connection, or one after STARTTLS) to the server `name`.
    pub async fn connect<S>(
        &self,
        io: S,
        name: ServerName<'static>,
    ) -> Result<(TlsStream<S>, VerifiedUpstream), UpstreamError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let hs = self.connector.connect(name.clone(), io);
        let tls = tokio::time::timeout(self.timeout, hs)
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(from_io)?;
        let v = VerifiedUpstream::from_conn(name, tls.get_ref().1)?;
        Ok((tls, v))
    }

    /// The server on `conn`, verified when the leg was set up, verified again in full for
    /// `name` from the chain it presented then (a STARTTLS client naming another server).
    pub fn verify_again(
        &self,
        conn: &ClientConnection,
        name: ServerName<'static>,
    ) -> Result<VerifiedUpstream, UpstreamError> {
        let chain = conn.peer_certificates().unwrap_or_default();
        let Some((ee, intermediates)) = chain.split_first() else {
            return Err(UpstreamError::Certificate(Box::new(Refused {
                problem: CertProblem::Invalid("no certificate".into()),
                cert: None,
            })));
        };
        self.verifier
            .verify_server_cert(ee, intermediates, &name, &[], UnixTime::now())
            .map_err(|e| from_rustls(&e))?;
        VerifiedUpstream::from_conn(name, conn)
    }
}

fn roots(cfg: &TlsCfg, own: &OwnCa) -> Result<RootCertStore, UpstreamSetupError> {
    let mut store = RootCertStore::empty();
    match cfg.upstream_roots {
        UpstreamRoots::Webpki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        UpstreamRoots::System => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "system trust store: unreadable entry skipped");
            }
            for c in found.certs {
                if own.involved_in(&c) {
                    tracing::warn!(
                        "system trust store holds portcullis's CA; not trusted upstream"
                    );
                    continue;
                }
                let _ = store.add(c);
            }
        }
    }
    if let Some(path) = &cfg.extra_ca_file {
        let bad = |why: String| UpstreamSetupError::ExtraCaFile {
            path: path.clone(),
            why,
        };
        let iter = CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?;
        let mut n = 0;
        for c in iter {
            let c = c.map_err(|e| bad(e.to_string()))?;
            if own.involved_in(&c) {
                return Err(UpstreamSetupError::OwnCaInExtraFile(path.clone()));
            }
            store.add(c).map_err(|e| bad(e.to_string()))?;
            n += 1;
        }
        if n == 0 {
            return Err(bad("no PEM certificate in the file".into()));
        }
    }
    if store.is_empty() {
        return Err(UpstreamSetupError::NoRoots);
    }
    Ok(store)
}
