//! The local CA that signs minted leaves. One fresh ECDSA P-256 key per install, written
//! mode 0600; the certificate is `CA:TRUE, pathLen:0` with keyCertSign and cRLSign only and
//! optional DNS name constraints. Rotation (`ca init --force`) keeps the previous certificate
//! as `ca.old.pem` (never its key): upstream chains signed by it stay refused.
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, GeneralSubtree, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, NameConstraints, PublicKeyData,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::config::TlsCfg;
use super::{files, random, random_serial, x509};

pub const CERT_FILE: &str = "ca.pem";
pub const KEY_FILE: &str = "ca.key";
pub const OLD_CERT_FILE: &str = "ca.old.pem";

/// Why the CA could not be created or loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum CaError {
    /// `ca init` without `--force` over an existing CA.
    Exists(PathBuf),
    /// No CA in the directory (run `portcullis ca init`).
    Missing(PathBuf),
    /// The key file is readable by group or others.
    KeyPermissions {
        path: PathBuf,
        mode: u32,
    },
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file holds no usable certificate or key.
    Invalid {
        path: PathBuf,
        what: String,
    },
    Generate(rcgen::Error),
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::Exists(p) => write!(
                f,
                "{}: a CA exists; `ca init --force` rotates it",
                p.display()
            ),
            CaError::Missing(p) => {
                write!(f, "{}: no CA; run `portcullis ca init`", p.display())
            }
            CaError::KeyPermissions { path, mode } => write!(
                f,
                "{}: mode {mode:o} lets others read the CA key; chmod 600 it",
                path.display()
            ),
            CaError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            CaError::Invalid { path, what } => write!(f, "{}: {what}", path.display()),
            CaError::Generate(e) => write!(f, "cannot generate the CA: {e}"),
        }
    }
}

impl std::error::Error for CaError {}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |error| CaError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// A loaded CA: its certificate and the issuer (key) that signs leaves.
pub struct Ca {
    cert: CertificateDer<'static>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
    old: Option<CertificateDer<'static>>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

fn params(
    cfg: &TlsCfg,
    hostname: &str,
    now: SystemTime,
) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "portcullis");
    let tag: String = random::<4>()?.iter().map(|b| format!("{b:02x}")).collect();
    dn.push(
        DnType::CommonName,
        format!("portcullis local CA {hostname} {tag}"),
    );
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = (now - Duration::from_secs(3600)).into();
    p.not_after = (now + Duration::from_secs(86_400 * u64::from(cfg.ca_validity_days))).into();
    p.serial_number = Some(random_serial()?);
    let dns = |names: &[String]| -> Vec<GeneralSubtree> {
        names
            .iter()
            .map(|n| GeneralSubtree::DnsName(n.clone()))
            .collect()
    };
    if !cfg.ca_permitted_names.is_empty() || !cfg.ca_excluded_names.is_empty() {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: dns(&cfg.ca_permitted_names),
            excluded_subtrees: dns(&cfg.ca_excluded_names),
        });
    }
    Ok(p)
}

impl Ca {
    pub fn exists(dir: &Path) -> bool {
        dir.join(CERT_FILE).is_file() && dir.join(KEY_FILE).is_file()
    }

    /// Creates a CA in `cfg.ca_dir`. With `force`, an existing one is rotated: its
    /// certificate becomes `ca.old.pem` and its key is deleted.
    pub fn init(cfg: &TlsCfg, hostname: &str, force: bool) -> Result<Ca, CaError> {
        let dir = &cfg.ca_dir;
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if Ca::exists(dir) && !force {
            return Err(CaError::Exists(dir.clone()));
        }
        let owner = match cfg.service_user.as_str() {
            "" => None,
            u => Some(files::lookup_user(u).map_err(io_err(Path::new("/etc/passwd")))?),
        };
        files::private_dir(dir, 0o700).map_err(io_err(dir))?;
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(CaError::Generate)?;
        let cert = params(cfg, hostname, SystemTime::now())
            .and_then(|p| p.self_signed(&key))
            .map_err(CaError::Generate)?;
        if cert_path.is_file() {
            let old = dir.join(OLD_CERT_FILE);
            std::fs::rename(&cert_path, &old).map_err(io_err(&old))?;
        }
        files::write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)
            .map_err(io_err(&key_path))?;
        files::write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)
            .map_err(io_err(&cert_path))?;
        if let Some(owner) = owner {
            for p in [dir.as_path(), &key_path, &cert_path] {
                files::chown(p, owner).map_err(io_err(p))?;
            }
        }
        Ca::load(dir)
    }

    /// Loads the CA; a key file readable by group or others is refused.
    pub fn load(dir: &Path) -> Result<Ca, CaError> {
        use std::os::unix::fs::PermissionsExt;
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if !Ca::exists(dir) {
            return Err(CaError::Missing(dir.to_path_buf()));
        }
        let mode = std::fs::metadata(&key_path)
            .map_err(io_err(&key_path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(CaError::KeyPermissions {
                path: key_path,
                mode: mode & 0o777,
            });
        }
        let pem = std::fs::read_to_string(&cert_path).map_err(io_err(&cert_path))?;
        let invalid = |path: &Path, what: String| CaError::Invalid {
            path: path.to_path_buf(),
            what,
        };
        let cert = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| invalid(&cert_path, format!("no PEM certificate ({e})")))?;
        let key_pem = std::fs::read_to_string(&key_path).map_err(io_err(&key_path))?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| invalid(&key_path, format!("no PEM private key ({e})")))?;
        let parsed = x509::parse(&cert).map_err(|e| invalid(&cert_path, e.to_string()))?;
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(invalid(&key_path, "key does not match ca.pem".into()));
        }
        let issuer =
            Issuer::from_ca_cert_der(&cert, key).map_err(|e| invalid(&cert_path, e.to_string()))?;
        let old_path = dir.join(OLD_CERT_FILE);
        let old = match std::fs::read(&old_path) {
            Ok(b) => Some(
                CertificateDer::from_pem_slice(&b)
                    .map_err(|e| invalid(&old_path, format!("no PEM certificate ({e})")))?,
            ),
            Err(_) => None,
        };
        Ok(Ca {
            cert,
            pem,
            issuer,
            old,
        })
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// Signs leaves; holds the CA key, which never leaves this module otherwise.
    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    /// The current and the previous CA certificate: never trust anchors upstream.
    pub fn own_certs(&self) -> impl Iterator<Item = &CertificateDer<'static>> {
        std::iter::once(&self.cert).chain(self.old.as_ref())
    }

    /// DER SubjectPublicKeyInfo of the CA key.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.issuer.key().subject_public_key_info()
    }

    /// The DNS subtrees the CA may sign for (empty = any), and those it may not.
    pub fn name_constraints(&self) -> (Vec<String>, Vec<String>) {
        let Ok(c) = x509::parse(&self.cert) else {
            return (Vec::new(), Vec::new());
        };
        let Ok(Some(nc)) = c.name_constraints() else {
            return (Vec::new(), Vec::new());
        };
        let dns = |t: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
            t.iter()
                .flatten()
                .filter_map(|s| match s.base {
                    x509_parser::extensions::GeneralName::DNSName(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        (
            dns(&nc.value.permitted_subtrees),
            dns(&nc.value.excluded_subtrees),
        )
    }
}

#[cfg(test)]
mod tests;
