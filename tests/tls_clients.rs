//! Real TLS clients (openssl s_client, python ssl) against a loopback listener that
//! intercepts with `Interceptor::accept` and splices to a verified upstream.
mod tls_pki;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use portcullis::tls::{Accepted, Ca, Interceptor, TlsCfg, UpstreamError};
use rustls::pki_types::ServerName;
use tls_pki::*;
use tokio::net::{TcpListener, TcpStream};

struct Fixture {
    dir: tempfile::TempDir,
    root: TestCa,
}

/// An intercepting listener for clients redirected from `upstream`.
async fn intercept(f: &Fixture, upstream: SocketAddr) -> SocketAddr {
    let cfg = TlsCfg {
        ca_dir: f.dir.path().join("ca"),
        extra_ca_file: Some(f.root.write(f.dir.path(), "roots.pem")),
        ..TlsCfg::default()
    };
    let ca = match Ca::load(&cfg.ca_dir) {
        Ok(ca) => ca,
        Err(_) => Ca::init(&cfg, "test", false).unwrap(),
    };
    let ic = Arc::new(Interceptor::new(&cfg, Arc::new(ca)).unwrap());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let ic = ic.clone();
            tokio::spawn(async move {
                let up = ic.upstream().clone();
                let connect = |name: ServerName<'static>| async move {
                    let tcp = TcpStream::connect(upstream)
                        .await
                        .map_err(UpstreamError::Io)?;
                    up.connect(tcp, name).await
                };
                if let Ok(Accepted::Intercepted(mut s)) = ic.accept(tcp, upstream, connect).await {
                    let _ = tokio::io::copy_bidirectional(&mut s.client, &mut s.upstream).await;
                }
            });
        }
    });
    addr
}

fn fixture() -> Fixture {
    Fixture {
        dir: tempfile::tempdir().unwrap(),
        root: TestCa::new("Test Root"),
    }
}

async fn s_client(f: &Fixture, addr: SocketAddr) -> (bool, String) {
    s_client_with(f, addr, &[]).await
}

async fn s_client_with(f: &Fixture, addr: SocketAddr, extra: &[&str]) -> (bool, String) {
    let ca = f.dir.path().join("ca/ca.pem");
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &addr.to_string(),
                "-servername",
                NAME,
            ])
            .args(["-verify_hostname", NAME, "-verify_return_error", "-CAfile"])
            .arg(ca)
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("openssl")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn openssl_s_client_verifies_the_minted_leaf_against_portcullis_ca() {
    let f = fixture();
    let upstream = serve(&good(&f.root, NAME), "real server").await;
    let addr = intercept(&f, upstream).await;
    let (ok, text) = s_client(&f, addr).await;
    assert!(ok, "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    assert!(
        text.contains(&format!("CN={NAME}")) || text.contains(&format!("CN = {NAME}")),
        "{text}"
    );
    assert!(text.contains("portcullis local CA"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn openssl_s_client_gets_an_alert_when_upstream_is_expired() {
    let f = fixture();
    let upstream = serve(&expired(&f.root, NAME), "real server").await;
    let addr = intercept(&f, upstream).await;
    let (ok, text) = s_client(&f, addr).await;
    assert!(!ok, "{text}");
    assert!(text.contains("alert"), "{text}");
    assert!(!text.contains("BEGIN CERTIFICATE"), "{text}");
}

const PY_CLIENT: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as raw:
    with ctx.wrap_socket(raw, server_hostname=sys.argv[2]) as s:
        f = s.makefile("rb")
        print(f.readline().decode().strip())
        s.sendall(b"STAT\r\n")
        print(f.readline().decode().strip())
        print(s.version())
"#;

#[tokio::test(flavor = "multi_thread")]
async fn python_ssl_client_talks_through_the_interception() {
    let f = fixture();
    let upstream = serve(&good(&f.root, NAME), "real server").await;
    let addr = intercept(&f, upstream).await;
    let ca = f.dir.path().join("ca/ca.pem");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", PY_CLIENT, &addr.port().to_string(), NAME])
            .arg(ca)
            .output()
            .expect("python3")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["+OK real server", "echo: STAT", "TLSv1.3"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_leg_speaks_tls_1_2_and_1_3_and_nothing_older() {
    let f = fixture();
    let upstream = serve(&good(&f.root, NAME), "real server").await;
    let addr = intercept(&f, upstream).await;
    let (ok, text) = s_client_with(&f, addr, &["-tls1_2"]).await;
    assert!(ok && text.contains("TLSv1.2"), "{text}");
    let (ok, text) = s_client_with(&f, addr, &["-tls1_3"]).await;
    assert!(ok && text.contains("TLSv1.3"), "{text}");
    let (ok, text) = s_client_with(&f, addr, &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]).await;
    assert!(!ok, "{text}");
    assert!(!text.contains("BEGIN CERTIFICATE"), "{text}");
}
