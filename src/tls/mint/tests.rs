use std::sync::Arc;
use std::time::{Duration, SystemTime};

use x509_parser::extensions::GeneralName;

use super::*;
use crate::tls::config::TlsCfg;
use crate::tls::x509::parse;

const DAY: Duration = Duration::from_secs(86_400);

fn ca_in(dir: &std::path::Path, extra: &str) -> (Arc<Ca>, TlsCfg) {
    let mut cfg: TlsCfg = toml::from_str(extra).unwrap();
    cfg.ca_dir = dir.join("ca");
    (Arc::new(Ca::init(&cfg, "test", false).unwrap()), cfg)
}

fn sans(der: &[u8]) -> Vec<String> {
    let c = parse(der).unwrap();
    let san = c.subject_alternative_name().unwrap().expect("SAN present");
    san.value
        .general_names
        .iter()
        .map(|g| match g {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(b) => format!("ip:{b:?}"),
            other => format!("other:{other:?}"),
        })
        .collect()
}

#[test]
fn leaf_names_exactly_the_verified_name_with_its_own_key() {
    let d = tempfile::tempdir().unwrap();
    let (ca, cfg) = ca_in(d.path(), "");
    let m = Minter::new(ca.clone(), &cfg);
    let up = VerifiedUpstream::for_test("Mail.Example.NET", SystemTime::now() + 90 * DAY, [1; 32]);
    let (leaf, used) = m.leaf(&up).unwrap();
    assert_eq!(used, CacheUse::Minted);
    assert_eq!(sans(&leaf.cert), vec!["mail.example.net".to_string()]);
    let c = parse(&leaf.cert).unwrap();
    let ca_cert = parse(ca.cert_der()).unwrap();
    assert_ne!(
        c.public_key().raw,
        ca_cert.public_key().raw,
        "leaf key is not the CA key"
    );
    assert_ne!(c.public_key().raw, &ca.public_key_der()[..]);
    assert!(
        c.verify_signature(Some(ca_cert.public_key())).is_ok(),
        "signed by the CA"
    );
    assert_eq!(c.issuer().as_raw(), ca_cert.subject().as_raw());
    let bc = c.basic_constraints().unwrap().expect("basicConstraints");
    assert!(!bc.value.ca);
    let eku = c.extended_key_usage().unwrap().expect("EKU");
    assert!(eku.value.server_auth && !eku.value.client_auth);
}

#[test]
fn leaf_validity_is_backdated_and_clamped() {
    let d = tempfile::tempdir().unwrap();
    let (ca, cfg) = ca_in(d.path(), "leaf_max_days = 30");
    let m = Minter::new(ca, &cfg);
    let now = SystemTime::now();
    let soon = now + 2 * DAY + Duration::from_secs(7);
    let (leaf, _) = m
        .leaf(&VerifiedUpstream::for_test("a.example", soon, [2; 32]))
        .unwrap();
    let c = parse(&leaf.cert).unwrap();
    let nb = c.validity().not_before.timestamp();
    let na = c.validity().not_after.timestamp();
    let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(nb <= secs(now) - 3000, "notBefore in the past");
    assert!(na <= secs(soon), "notAfter never after the upstream's");
    assert!(na >= secs(soon) - 1);
    let far = now + 400 * DAY;
    let (leaf, _) = m
        .leaf(&VerifiedUpstream::for_test("b.example", far, [3; 32]))
        .unwrap();
    let na = parse(&leaf.cert).unwrap().validity().not_after.timestamp();
    assert!(na <= secs(now + 30 * DAY) + 1, "at most leaf_max_days");
}

#[test]
fn serials_are_random_and_positive() {
    let d = tempfile::tempdir().unwrap();
    let (ca, cfg) = ca_in(d.path(), "");
    let m = Minter::new(ca, &cfg);
    let t = SystemTime::now() + 10 * DAY;
    let a = m
        .leaf(&VerifiedUpstream::for_test("a.example", t, [4; 32]))
        .unwrap()
        .0;
    let b = m
        .leaf(&VerifiedUpstream::for_test("a.example", t, [5; 32]))
        .unwrap()
        .0;
    let (sa, sb) = (parse(&a.cert).unwrap(), parse(&b.cert).unwrap());
    assert_ne!(sa.raw_serial(), sb.raw_serial());
    assert!(sa.raw_serial().len() >= 16 && sa.raw_serial()[0] & 0x80 == 0);
    assert_ne!(sa.public_key().raw, sb.public_key().raw, "one key per leaf");
}

#[test]
fn cache_hits_by_name_and_chain_and_stays_bounded() {
    let d = tempfile::tempdir().unwrap();
    let (ca, cfg) = ca_in(d.path(), "leaf_cache_entries = 2");
    let m = Minter::new(ca, &cfg);
    let t = SystemTime::now() + 10 * DAY;
    let up = |n: &str, fp: u8| VerifiedUpstream::for_test(n, t, [fp; 32]);
    let first = m.leaf(&up("a.example", 1)).unwrap().0;
    let (again, used) = m.leaf(&up("A.example", 1)).unwrap();
    assert_eq!(used, CacheUse::Hit);
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(
        m.leaf(&up("a.example", 2)).unwrap().1,
        CacheUse::Minted,
        "new chain"
    );
    m.leaf(&up("b.example", 1)).unwrap();
    m.leaf(&up("c.example", 1)).unwrap();
    assert_eq!(m.cached(), 2);
    assert_eq!(
        m.leaf(&up("a.example", 1)).unwrap().1,
        CacheUse::Minted,
        "evicted"
    );
}

#[test]
fn names_outside_the_ca_constraints_are_not_minted() {
    let d = tempfile::tempdir().unwrap();
    let (ca, cfg) = ca_in(
        d.path(),
        "ca_permitted_names = [\"example.com\"]\nca_excluded_names = [\"bank.example.com\"]",
    );
    let c = parse(ca.cert_der()).unwrap();
    let nc = c.name_constraints().unwrap().expect("name constraints");
    assert!(nc.critical);
    let m = Minter::new(ca, &cfg);
    let t = SystemTime::now() + 10 * DAY;
    let up = |n: &str| VerifiedUpstream::for_test(n, t, [9; 32]);
    assert!(m.leaf(&up("mail.example.com")).is_ok());
    assert!(m.leaf(&up("example.com")).is_ok());
    for n in ["mail.example.org", "badexample.com", "x.bank.example.com"] {
        assert!(
            matches!(m.leaf(&up(n)), Err(MintError::OutsideNameConstraints(_))),
            "{n}"
        );
    }
}

#[test]
fn a_leading_dot_constraint_covers_only_subdomains() {
    let d = tempfile::tempdir().unwrap();
    let (ca, cfg) = ca_in(
        d.path(),
        "ca_permitted_names = [\".example.com\"]\nca_excluded_names = [\".bank.example.com\"]",
    );
    let m = Minter::new(ca, &cfg);
    let t = SystemTime::now() + 10 * DAY;
    let up = |n: &str| VerifiedUpstream::for_test(n, t, [9; 32]);
    assert!(m.leaf(&up("mail.example.com")).is_ok());
    assert!(m.leaf(&up("bank.example.com")).is_ok());
    for n in ["example.com", "x.bank.example.com"] {
        assert!(
            matches!(m.leaf(&up(n)), Err(MintError::OutsideNameConstraints(_))),
            "{n}"
        );
    }
}
