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
pub mod mint;
pub mod upstream;
mod verify;
pub mod x509;

pub use accept::{AcceptError, Accepted, Intercepted, Interceptor, PassReason, TlsFacts};
pub use ca::{Ca, CaError};
pub use config::{NoSniPolicy, TlsCfg, TlsMode, UpstreamRoots};
pub use mint::{CacheUse, Leaf, MintError, Minter};
pub use upstream::{UpstreamError, UpstreamTls, VerifiedUpstream};

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
