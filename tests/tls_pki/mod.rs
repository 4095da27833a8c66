//! Certificates the TLS tests make (rcgen, ring) and loopback TLS servers that present them.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub const NAME: &str = "mail.test";
pub const DAY: Duration = Duration::from_secs(86_400);

pub fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A CA the test makes (a stand-in for a public root or a company CA).
pub struct TestCa {
    pub cert: CertificateDer<'static>,
    pub pem: String,
    pub issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(cn: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = p.self_signed(&key).unwrap();
        TestCa {
            cert: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// The CA of a portcullis install, read from its files as an attacker with them would.
    pub fn portcullis(ca_dir: &Path) -> TestCa {
        let pem = std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap();
        let key =
            KeyPair::from_pem(&std::fs::read_to_string(ca_dir.join("ca.key")).unwrap()).unwrap();
        let cert = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes()).unwrap();
        TestCa {
            cert,
            issuer: Issuer::from_ca_cert_pem(&pem, key).unwrap(),
            pem,
        }
    }

    pub fn write(&self, dir: &Path, file: &str) -> PathBuf {
        let p = dir.join(file);
        std::fs::write(&p, &self.pem).unwrap();
        p
    }
}

/// A server certificate and its key.
pub struct Server {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn server_params(name: &str, not_before: SystemTime, not_after: SystemTime) -> CertificateParams {
    let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.not_before = not_before.into();
    p.not_after = not_after.into();
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p
}

pub fn signed(ca: &TestCa, name: &str, not_before: SystemTime, not_after: SystemTime) -> Server {
    let key = KeyPair::generate().unwrap();
    let cert = server_params(name, not_before, not_after)
        .signed_by(&key, &ca.issuer)
        .unwrap();
    Server {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// A certificate for several names (the first is also the CN).
pub fn multi(ca: &TestCa, names: &[&str]) -> Server {
    let key = KeyPair::generate().unwrap();
    let now = SystemTime::now();
    let mut p = server_params(names[0], now - DAY, now + 60 * DAY);
    p.subject_alt_names =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap()
            .subject_alt_names;
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    Server {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

pub fn good(ca: &TestCa, name: &str) -> Server {
    let now = SystemTime::now();
    signed(ca, name, now - DAY, now + 60 * DAY)
}

pub fn expired(ca: &TestCa, name: &str) -> Server {
    let now = SystemTime::now();
    signed(ca, name, now - 60 * DAY, now - DAY)
}

pub fn self_signed(name: &str) -> Server {
    let key = KeyPair::generate().unwrap();
    let now = SystemTime::now();
    let cert = server_params(name, now - DAY, now + 60 * DAY)
        .self_signed(&key)
        .unwrap();
    Server {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

pub fn server_config(s: &Server) -> Arc<ServerConfig> {
    Arc::new(
        ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(s.chain.clone(), s.key.clone_key())
            .unwrap(),
    )
}

/// A loopback TLS server: greets with `+OK <greeting>` and echoes each line as `echo: <line>`.
/// Handshake failures end that connection only.
pub async fn serve(s: &Server, greeting: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(s));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let (r, mut w) = tokio::io::split(tls);
                if w.write_all(format!("+OK {greeting}\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = format!("echo: {line}\r\n");
                    if w.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A rustls client config trusting only `roots` (PEM certificates).
pub fn client_config(roots: &[&CertificateDer<'static>], sni: bool) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add((*r).clone()).unwrap();
    }
    let mut c = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    c.enable_sni = sni;
    Arc::new(c)
}
