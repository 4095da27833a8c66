//! Leaves for the client leg, minted per verified upstream name. A leaf names exactly the
//! name portcullis verified upstream (one SAN, never widened, never copied from the
//! upstream certificate), has its own fresh key, a random serial, a notBefore an hour in
//! the past (client clock skew) and a notAfter no later than the upstream certificate's,
//! the CA's, or `tls.leaf_max_days` from now. A bounded LRU cache keyed by the verified
//! name and the upstream chain's fingerprint reuses them; a changed upstream chain mints
//! anew.
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lru::LruCache;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

use super::ca::Ca;
use super::config::{TlsCfg, name_matches};
use super::upstream::VerifiedUpstream;
use super::{VERSIONS, provider, random_serial, x509};

/// How far notBefore lies in the past.
pub const BACKDATE: Duration = Duration::from_secs(3600);
/// A cached leaf this close to its notAfter is minted again.
const RENEW_MARGIN: Duration = Duration::from_secs(3600);

#[derive(Debug)]
#[non_exhaustive]
pub enum MintError {
    /// The CA's name constraints do not cover the name; clients would refuse the leaf.
    OutsideNameConstraints(String),
    /// The upstream certificate (or the CA) expires before a leaf could be valid.
    NoValidity,
    Generate(rcgen::Error),
    Config(rustls::Error),
}

impl std::fmt::Display for MintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MintError::OutsideNameConstraints(n) => {
                write!(f, "{n} is outside the CA's name constraints")
            }
            MintError::NoValidity => f.write_str("no validity period left for a leaf"),
            MintError::Generate(e) => write!(f, "cannot mint a leaf: {e}"),
            MintError::Config(e) => write!(f, "cannot use the minted leaf: {e}"),
        }
    }
}

impl std::error::Error for MintError {}

/// A minted leaf and the server config that presents it.
pub struct Leaf {
    pub name: String,
    pub cert: CertificateDer<'static>,
    pub not_after: SystemTime,
    pub config: Arc<ServerConfig>,
}

/// Whether a handshake used a cached leaf or a new one (for the session log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    Hit,
    Minted,
}

impl std::fmt::Display for CacheUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CacheUse::Hit => "cached",
            CacheUse::Minted => "minted",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LeafKey {
    name: String,
    chain: [u8; 32],
}

pub struct Minter {
    ca: Arc<Ca>,
    max_lifetime: Duration,
    constraints: (Vec<String>, Vec<String>),
    sessions: Arc<dyn StoresServerSessions>,
    cache: Mutex<LruCache<LeafKey, Arc<Leaf>>>,
}

pub(crate) fn name_string(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_ascii_lowercase(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => String::new(),
    }
}

impl Minter {
    pub fn new(ca: Arc<Ca>, cfg: &TlsCfg) -> Minter {
        let entries = NonZeroUsize::new(cfg.leaf_cache_entries).unwrap_or(NonZeroUsize::MIN);
        Minter {
            constraints: ca.name_constraints(),
            ca,
            max_lifetime: Duration::from_secs(86_400 * u64::from(cfg.leaf_max_days)),
            sessions: ServerSessionMemoryCache::new(entries.get()),
            cache: Mutex::new(LruCache::new(entries)),
        }
    }

    /// The leaf for a verified upstream: cached when the name and chain are unchanged.
    pub fn leaf(&self, up: &VerifiedUpstream) -> Result<(Arc<Leaf>, CacheUse), MintError> {
        let key = LeafKey {
            name: name_string(&up.name),
            chain: up.chain_sha256,
        };
        let now = SystemTime::now();
        if let Some(l) = self.lock().get(&key)
            && l.not_after > now + RENEW_MARGIN
        {
            return Ok((l.clone(), CacheUse::Hit));
        }
        self.check_constraints(&key.name, &up.name)?;
        let not_after = up.cert.not_after.min(now + self.max_lifetime);
        let leaf = Arc::new(mint(&self.ca, &up.name, not_after, now, &self.sessions)?);
        self.lock().put(key, leaf.clone());
        Ok((leaf, CacheUse::Minted))
    }

    /// Leaves held now (at most `tls.leaf_cache_entries`).
    pub fn cached(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<LeafKey, Arc<Leaf>>> {
        // A panic while holding the lock leaves a consistent cache (get/put only).
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_constraints(&self, name: &str, sn: &ServerName<'_>) -> Result<(), MintError> {
        if !matches!(sn, ServerName::DnsName(_)) {
            return Ok(());
        }
        let (permitted, excluded) = &self.constraints;
        // `example.com` covers the name and every subdomain; `.example.com` only the
        // subdomains, as webpki and OpenSSL read a leading dot in a dNSName constraint.
        let within = |c: &String| {
            if c.starts_with('.') {
                name_matches(c, name)
            } else {
                name.eq_ignore_ascii_case(c) || name_matches(&format!(".{c}"), name)
            }
        };
        if excluded.iter().any(within) || (!permitted.is_empty() && !permitted.iter().any(within)) {
            return Err(MintError::OutsideNameConstraints(name.to_string()));
        }
        Ok(())
    }
}

/// Mints one leaf for `name`, valid until `not_after` (clamped to the CA's notAfter).
pub(crate) fn mint(
    ca: &Ca,
    name: &ServerName<'_>,
    not_after: SystemTime,
    now: SystemTime,
    sessions: &Arc<dyn StoresServerSessions>,
) -> Result<Leaf, MintError> {
    let ca_not_after = x509::summary(ca.cert_der())
        .map(|s| s.not_after)
        .map_err(|_| MintError::NoValidity)?;
    let not_after = not_after.min(ca_not_after);
    if not_after <= now {
        return Err(MintError::NoValidity);
    }
    let text = name_string(name);
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    if text.len() <= 64 {
        dn.push(DnType::CommonName, text.clone());
    }
    p.distinguished_name = dn;
    p.subject_alt_names = vec![match name {
        ServerName::IpAddress(ip) => SanType::IpAddress((*ip).into()),
        _ => SanType::DnsName(text.clone().try_into().map_err(MintError::Generate)?),
    }];
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(random_serial().map_err(MintError::Generate)?);
    p.not_before = (now - BACKDATE).into();
    p.not_after = not_after.into();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(MintError::Generate)?;
    let cert = p
        .signed_by(&key, ca.issuer())
        .map_err(MintError::Generate)?;
    let der = cert.der().clone();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(MintError::Config)?
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key_der)
        .map_err(MintError::Config)?;
    config.session_storage = sessions.clone();
    Ok(Leaf {
        name: text,
        cert: der,
        not_after,
        config: Arc::new(config),
    })
}

#[cfg(test)]
mod tests;
