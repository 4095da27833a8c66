//! Upstream verification against loopback TLS servers presenting certificates the test
//! makes: the good one verifies; expired, wrong-name, self-signed, unknown-root and
//! portcullis-CA-signed ones each fail closed with the reason named.
mod tls_pki;

use std::net::SocketAddr;
use std::time::SystemTime;

use portcullis::tls::upstream::{CertProblem, UpstreamSetupError};
use portcullis::tls::{Ca, TlsCfg, UpstreamError, UpstreamTls, VerifiedUpstream};
use rustls::pki_types::ServerName;
use tls_pki::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Setup {
    _dir: tempfile::TempDir,
    cfg: TlsCfg,
    ca: Ca,
    root: TestCa,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = TestCa::new("Test Root");
    let cfg = TlsCfg {
        ca_dir: dir.path().join("ca"),
        extra_ca_file: Some(root.write(dir.path(), "roots.pem")),
        ..TlsCfg::default()
    };
    let ca = Ca::init(&cfg, "test", false).unwrap();
    Setup {
        _dir: dir,
        cfg,
        ca,
        root,
    }
}

impl Setup {
    fn upstream(&self) -> UpstreamTls {
        UpstreamTls::new(&self.cfg, self.ca.own_certs()).unwrap()
    }
}

async fn connect(
    up: &UpstreamTls,
    addr: SocketAddr,
    name: &str,
) -> Result<VerifiedUpstream, UpstreamError> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    let (tls, v) = up.connect(tcp, name).await?;
    let (r, mut w) = tokio::io::split(tls);
    let mut lines = BufReader::new(r).lines();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "+OK up");
    w.write_all(b"ping\r\n").await.unwrap();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "echo: ping");
    Ok(v)
}

async fn problem(up: &UpstreamTls, server: &Server, name: &str) -> CertProblem {
    let addr = serve(server, "up").await;
    match connect(up, addr, name).await {
        Err(UpstreamError::Certificate(r)) => {
            let c = r
                .cert
                .as_ref()
                .expect("the refused certificate is reported");
            assert_eq!(c.sha256, portcullis::tls::x509::sha256(&server.chain[0]));
            r.problem
        }
        Err(other) => panic!("expected a certificate problem, got {other}"),
        Ok(v) => panic!("verified what must fail: {v:?}"),
    }
}

#[tokio::test]
async fn good_certificate_verifies_and_reports_its_facts() {
    let s = setup();
    let server = good(&s.root, NAME);
    let addr = serve(&server, "up").await;
    let v = connect(&s.upstream(), addr, NAME).await.expect("verifies");
    assert_eq!(v.name, ServerName::try_from(NAME).unwrap());
    assert_eq!(v.version, rustls::ProtocolVersion::TLSv1_3);
    assert!(v.cert.subject.contains(NAME), "{}", v.cert.subject);
    assert!(v.cert.issuer.contains("Test Root"), "{}", v.cert.issuer);
    assert_eq!(
        v.cert.sha256,
        portcullis::tls::x509::sha256(&server.chain[0])
    );
    assert!(v.cert.not_after > SystemTime::now() + 59 * DAY);
}

#[tokio::test]
async fn expired_certificate_fails_closed() {
    let s = setup();
    let p = problem(&s.upstream(), &expired(&s.root, NAME), NAME).await;
    assert_eq!(p, CertProblem::Expired);
}

#[tokio::test]
async fn certificate_for_another_name_fails_closed() {
    let s = setup();
    let p = problem(&s.upstream(), &good(&s.root, "other.test"), NAME).await;
    assert_eq!(p.kind(), "wrong_name", "{p}");
    assert!(
        matches!(p, CertProblem::WrongName { presented } if presented.iter().any(|n| n.contains("other.test")))
    );
}

#[tokio::test]
async fn self_signed_certificate_fails_closed() {
    let s = setup();
    let p = problem(&s.upstream(), &self_signed(NAME), NAME).await;
    assert_eq!(p, CertProblem::SelfSigned);
}

#[tokio::test]
async fn unknown_root_fails_closed() {
    let s = setup();
    let stranger = TestCa::new("Stranger Root");
    let p = problem(&s.upstream(), &good(&stranger, NAME), NAME).await;
    assert_eq!(p, CertProblem::UnknownRoot);
}

#[tokio::test]
async fn chain_signed_by_portcullis_ca_fails_closed() {
    let s = setup();
    let own = TestCa::portcullis(&s.cfg.ca_dir);
    let p = problem(&s.upstream(), &good(&own, NAME), NAME).await;
    assert_eq!(p, CertProblem::SignedByPortcullisCa);
}

#[tokio::test]
async fn chain_signed_by_the_previous_portcullis_ca_fails_closed_after_rotation() {
    let mut s = setup();
    let old = TestCa::portcullis(&s.cfg.ca_dir);
    s.ca = Ca::init(&s.cfg, "test", true).unwrap();
    let p = problem(&s.upstream(), &good(&old, NAME), NAME).await;
    assert_eq!(p, CertProblem::SignedByPortcullisCa);
}

#[tokio::test]
async fn portcullis_ca_is_refused_as_an_extra_trust_anchor() {
    let s = setup();
    let mut cfg = s.cfg.clone();
    let path = s._dir.path().join("with-own.pem");
    std::fs::write(&path, format!("{}{}", s.root.pem, s.ca.cert_pem())).unwrap();
    cfg.extra_ca_file = Some(path);
    let r = UpstreamTls::new(&cfg, s.ca.own_certs());
    assert!(matches!(r, Err(UpstreamSetupError::OwnCaInExtraFile(_))));
}

#[test]
fn extra_ca_file_without_certificates_is_a_setup_error() {
    let s = setup();
    let mut cfg = s.cfg.clone();
    let empty = s._dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    cfg.extra_ca_file = Some(empty);
    let r = UpstreamTls::new(&cfg, s.ca.own_certs());
    assert!(matches!(r, Err(UpstreamSetupError::ExtraCaFile { .. })));
}
