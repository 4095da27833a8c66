use std::sync::Arc;

use x509_parser::extensions::ParsedExtension;

use super::*;
use crate::tls::x509::parse;

fn ca_in(dir: &std::path::Path, extra: &str) -> (Arc<Ca>, TlsCfg) {
    let mut cfg: TlsCfg = toml::from_str(extra).unwrap();
    cfg.ca_dir = dir.join("ca");
    (Arc::new(Ca::init(&cfg, "test", false).unwrap()), cfg)
}

#[test]
fn ca_certificate_is_a_constrained_signing_only_root() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let (ca, cfg) = ca_in(d.path(), "");
    let c = parse(ca.cert_der()).unwrap();
    let bc = c.basic_constraints().unwrap().expect("basicConstraints");
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = c.key_usage().unwrap().expect("keyUsage");
    assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
    assert_eq!(
        ku.value.flags,
        (1 << 5) | (1 << 6),
        "keyCertSign and cRLSign only"
    );
    assert!(c.extended_key_usage().unwrap().is_none());
    assert_eq!(c.subject().as_raw(), c.issuer().as_raw());
    assert!(c.verify_signature(None).is_ok());
    assert!(c.name_constraints().unwrap().is_none());
    assert!(
        c.public_key().algorithm.algorithm.to_id_string() == "1.2.840.10045.2.1",
        "ECDSA"
    );
    let mode = |p: &str| {
        std::fs::metadata(cfg.ca_dir.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("ca.key"), 0o600);
    assert_eq!(mode("."), 0o700);
    assert!(c.extensions().iter().all(|e| !matches!(
        e.parsed_extension(),
        ParsedExtension::UnsupportedExtension { .. }
    )),);
}

#[test]
fn each_install_has_a_fresh_key_and_rotation_keeps_the_old_certificate() {
    use std::os::unix::fs::PermissionsExt;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, cfg) = ca_in(d1.path(), "");
    let (b, _) = ca_in(d2.path(), "");
    assert_ne!(a.public_key_der(), b.public_key_der());
    assert!(matches!(
        Ca::init(&cfg, "test", false),
        Err(CaError::Exists(_))
    ));
    let rotated = Ca::init(&cfg, "test", true).unwrap();
    assert_ne!(rotated.public_key_der(), a.public_key_der());
    let own: Vec<_> = rotated.own_certs().cloned().collect();
    assert_eq!(own.len(), 2);
    assert_eq!(&own[1], a.cert_der(), "previous certificate kept");
    let key = cfg.ca_dir.join("ca.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        Ca::load(&cfg.ca_dir),
        Err(CaError::KeyPermissions { .. })
    ));
}
