//! TLS interception: a local CA (`ca`), leaves minted per verified upstream name (`mint`),
//! upstream verification that fails closed (`upstream`), and client acceptance that reads
//! the ClientHello first and finishes only after the upstream is verified (`accept`).
//! ring is the only crypto provider; every config is built with it explicitly.
use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub mod accept;
pub mod ca;
pub mod channel_binding;
pub mod cli;
mod client_hello;
pub mod config;
mod files;
pub mod learned;
pub mod mint;
pub mod upstream;
mod verify;
pub mod x509;

pub use accept::{AcceptError, Accepted, Intercepted, Interceptor, PassReason, TlsFacts};
pub use ca::{Ca, CaError};
pub use config::{NoSniPolicy, TlsCfg, TlsMode, UpstreamRoots};
pub use mint::{CacheUse, Leaf, MintError, Minter};
pub use upstream::{CertProblem, Refused, UpstreamError, UpstreamTls, VerifiedUpstream};

/// The ring provider (the only one this build links).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 and 1.2; nothing older exists in rustls.
pub(crate) const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Random bytes from ring's system random.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], rcgen::Error> {
    let mut b = [0u8; N];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut b)
        .map_err(|_| rcgen::Error::RingUnspecified)?;
    Ok(b)
}

/// A positive random certificate serial of 16 bytes.
pub(crate) fn random_serial() -> Result<rcgen::SerialNumber, rcgen::Error> {
    let mut b = random::<16>()?;
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(rcgen::SerialNumber::from_slice(&b))
}

/// Why TLS interception could not be set up at start.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    Ca(CaError),
    Upstream(upstream::UpstreamSetupError),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Ca(e) => write!(f, "tls.ca_dir: {e}"),
            SetupError::Upstream(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// The interceptor for a process, or `None` while no CA exists (then nothing is intercepted
/// and listeners keep their `starttls` choice). A CA that exists but cannot be loaded (bad
/// key mode, unreadable, mismatched key) is an error, never a silent fallback.
pub fn load(cfg: &TlsCfg) -> Result<Option<Interceptor>, SetupError> {
    if !Ca::exists(&cfg.ca_dir) {
        return Ok(None);
    }
    let ca = Arc::new(Ca::load(&cfg.ca_dir).map_err(SetupError::Ca)?);
    Interceptor::new(cfg, ca)
        .map(Some)
        .map_err(SetupError::Upstream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_ca_means_no_interception_and_a_broken_ca_is_an_error() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let cfg = TlsCfg {
            ca_dir: d.path().join("ca"),
            ..TlsCfg::default()
        };
        assert!(load(&cfg).unwrap().is_none());
        Ca::init(&cfg, "test", false).unwrap();
        assert!(load(&cfg).unwrap().is_some());
        let key = cfg.ca_dir.join(ca::KEY_FILE);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            load(&cfg),
            Err(SetupError::Ca(CaError::KeyPermissions { .. }))
        ));
    }
}
