//! The client leg end to end on loopback: a rustls client that trusts only portcullis's CA
//! -> `Interceptor::accept` -> a verified upstream TLS server; bytes flow both ways. A
//! failed upstream verification fails the client's handshake; no SNI follows the map or
//! the policy; the bypass list relays the original handshake end to end.
mod tls_pki;

use std::net::SocketAddr;
use std::sync::Arc;

use portcullis::tls::accept::{Decision, NameSource};
use portcullis::tls::{
    AcceptError, Accepted, Ca, CacheUse, Interceptor, NoSniPolicy, PassReason, TlsCfg,
    UpstreamError,
};
use rustls::pki_types::{CertificateDer, ServerName};
use tls_pki::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

struct Proxy {
    _dir: tempfile::TempDir,
    ca_cert: CertificateDer<'static>,
    ic: Arc<Interceptor>,
    root: TestCa,
}

fn proxy(edit: impl FnOnce(&mut TlsCfg)) -> Proxy {
    proxy_with(TestCa::new("Test Root"), edit)
}

fn proxy_with(root: TestCa, edit: impl FnOnce(&mut TlsCfg)) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = TlsCfg {
        ca_dir: dir.path().join("ca"),
        extra_ca_file: Some(root.write(dir.path(), "roots.pem")),
        ..TlsCfg::default()
    };
    edit(&mut cfg);
    let ca = Arc::new(Ca::init(&cfg, "test", false).unwrap());
    Proxy {
        ca_cert: ca.cert_der().clone(),
        ic: Arc::new(Interceptor::new(&cfg, ca).unwrap()),
        _dir: dir,
        root,
    }
}

type Outcome = Result<Accepted<TcpStream, tokio_rustls::client::TlsStream<TcpStream>>, AcceptError>;

/// Accepts one client on loopback as if it had been redirected from `upstream`; an
/// intercepted session is spliced to the verified upstream.
async fn listen(
    ic: Arc<Interceptor>,
    upstream: SocketAddr,
) -> (SocketAddr, tokio::task::JoinHandle<Outcome>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let up = ic.upstream().clone();
        let connect = |name: ServerName<'static>| async move {
            let tcp = TcpStream::connect(upstream)
                .await
                .map_err(UpstreamError::Io)?;
            up.connect(tcp, name).await
        };
        let out = ic.accept(tcp, upstream, connect).await;
        match out {
            Ok(Accepted::Intercepted(mut s)) => {
                let facts = s.facts.clone();
                let _ = tokio::io::copy_bidirectional(&mut s.client, &mut s.upstream).await;
                Ok(Accepted::Intercepted(Box::new(
                    portcullis::tls::Intercepted { facts, ..*s },
                )))
            }
            other => other,
        }
    });
    (addr, task)
}

async fn client(
    proxy: SocketAddr,
    trust: &CertificateDer<'static>,
    name: &str,
    sni: bool,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, std::io::Error> {
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let c = TlsConnector::from(client_config(&[trust], sni));
    c.connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
        .await
}

async fn talk(tls: tokio_rustls::client::TlsStream<TcpStream>) {
    let (r, mut w) = tokio::io::split(tls);
    let mut lines = BufReader::new(r).lines();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "+OK real server");
    w.write_all(b"USER alice\r\n").await.unwrap();
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        "echo: USER alice"
    );
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_gets_a_leaf_for_the_verified_name_and_bytes_flow_both_ways() {
    let p = proxy(|_| {});
    let upstream = serve(&good(&p.root, NAME), "real server").await;
    for round in 0..2 {
        let (addr, task) = listen(p.ic.clone(), upstream).await;
        let tls = client(addr, &p.ca_cert, NAME, true)
            .await
            .expect("handshake");
        let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        let parsed = portcullis::tls::x509::summary(&leaf).unwrap();
        assert!(parsed.subject.contains(NAME));
        assert_eq!(
            parsed.issuer,
            portcullis::tls::x509::summary(&p.ca_cert).unwrap().subject
        );
        talk(tls).await;
        let Ok(Accepted::Intercepted(s)) = task.await.unwrap() else {
            panic!("not intercepted");
        };
        assert_eq!(s.facts.sni.as_deref(), Some(NAME));
        assert_eq!(s.facts.name_source, NameSource::Sni);
        assert!(s.facts.upstream.cert.issuer.contains("Test Root"));
        assert!(s.facts.client_version.is_some());
        let want = if round == 0 {
            CacheUse::Minted
        } else {
            CacheUse::Hit
        };
        assert_eq!(s.facts.leaf, want, "round {round}");
        assert!(s.facts.to_string().contains("verified=ok"));
    }
}

async fn refused(p: &Proxy, server: &Server) -> (std::io::Error, AcceptError) {
    let upstream = serve(server, "real server").await;
    let (addr, task) = listen(p.ic.clone(), upstream).await;
    let err = client(addr, &p.ca_cert, NAME, true)
        .await
        .expect_err("the client's handshake must fail");
    let out = task.await.unwrap();
    (err, out.err().expect("no session"))
}

#[tokio::test]
async fn failed_upstream_verification_fails_the_client_handshake() {
    let p = proxy(|_| {});
    let own = TestCa::portcullis(&p._dir.path().join("ca"));
    let stranger = TestCa::new("Stranger");
    let cases: Vec<(Server, &str)> = vec![
        (expired(&p.root, NAME), "expired"),
        (good(&p.root, "other.test"), "wrong_name"),
        (self_signed(NAME), "self_signed"),
        (good(&stranger, NAME), "unknown_root"),
        (good(&own, NAME), "portcullis_ca"),
    ];
    for (server, kind) in cases {
        let (client_err, accept_err) = refused(&p, &server).await;
        let AcceptError::Upstream {
            name,
            error: UpstreamError::Certificate(why),
        } = &accept_err
        else {
            panic!("{kind}: {accept_err}");
        };
        assert_eq!(name, NAME);
        assert_eq!(why.problem.kind(), kind);
        assert!(accept_err.to_string().contains("sha256="), "{accept_err}");
        // The client got an alert instead of any certificate.
        let inner = client_err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        assert!(
            matches!(inner, Some(rustls::Error::AlertReceived(_))),
            "{kind}: client saw {client_err:?}"
        );
    }
    assert_eq!(p.ic.minter().cached(), 0, "no leaf was ever minted");
}

#[tokio::test]
async fn no_sni_uses_the_destination_map() {
    let root = TestCa::new("Test Root");
    let upstream = serve(&good(&root, NAME), "real server").await;
    let p = proxy_with(root, |c| {
        c.sni_map.insert(upstream.to_string(), NAME.into());
    });
    let (addr, task) = listen(p.ic.clone(), upstream).await;
    let tls = client(addr, &p.ca_cert, NAME, false)
        .await
        .expect("handshake");
    talk(tls).await;
    let Ok(Accepted::Intercepted(s)) = task.await.unwrap() else {
        panic!("not intercepted");
    };
    assert_eq!(s.facts.sni, None);
    assert_eq!(s.facts.name_source, NameSource::Map);
}

#[tokio::test]
async fn no_sni_without_a_map_follows_the_policy() {
    let p = proxy(|_| {});
    let upstream = serve(&good(&p.root, NAME), "real server").await;
    let (addr, task) = listen(p.ic.clone(), upstream).await;
    let pending = tokio::spawn({
        let ca = p.ca_cert.clone();
        async move { client(addr, &ca, NAME, false).await.is_ok() }
    });
    let Ok(Accepted::Passthrough {
        replay,
        sni,
        reason,
        ..
    }) = task.await.unwrap()
    else {
        panic!("expected passthrough");
    };
    assert_eq!((sni, reason), (None, PassReason::NoSni));
    assert_eq!(replay[0], 0x16, "the ClientHello record is kept for replay");
    pending.abort();

    let p = proxy(|c| c.no_sni = NoSniPolicy::Refuse);
    let (addr, task) = listen(p.ic.clone(), upstream).await;
    assert!(client(addr, &p.ca_cert, NAME, false).await.is_err());
    assert!(matches!(
        task.await.unwrap(),
        Err(AcceptError::NoSniRefused)
    ));
}

#[tokio::test]
async fn bypassed_name_is_relayed_end_to_end_with_the_real_certificate() {
    let p = proxy(|c| c.bypass = vec![NAME.into()]);
    let upstream = serve(&good(&p.root, NAME), "real server").await;
    assert_eq!(
        p.ic.decide(Some(NAME), upstream),
        Decision::Passthrough(PassReason::BypassName(NAME.into()))
    );
    let (addr, task) = listen(p.ic.clone(), upstream).await;
    let relay = tokio::spawn(async move {
        let Ok(Accepted::Passthrough {
            mut io,
            replay,
            reason,
            ..
        }) = task.await.unwrap()
        else {
            panic!("expected passthrough");
        };
        assert_eq!(reason, PassReason::BypassName(NAME.into()));
        let mut up = TcpStream::connect(upstream).await.unwrap();
        up.write_all(&replay).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut io, &mut up).await;
    });
    // The client trusts the real server's root, not portcullis: only end to end works.
    let tls = client(addr, &p.root.cert, NAME, true)
        .await
        .expect("end to end");
    talk(tls).await;
    relay.await.unwrap();
}

/// STARTTLS order: the upstream leg is verified before the client is told to start TLS,
/// with the name from the map; the client's handshake then gets the leaf for that name,
/// or for its own SNI when the server's certificate is valid for that too. Returns the
/// name the leaf was minted for.
async fn starttls(
    p: &Proxy,
    upstream: SocketAddr,
    client_sni: &str,
) -> Result<String, AcceptError> {
    starttls_sni(p, upstream, client_sni, true).await
}

/// The same; `sni` false: the client sends no SNI.
async fn starttls_sni(
    p: &Proxy,
    upstream: SocketAddr,
    client_sni: &str,
    sni: bool,
) -> Result<String, AcceptError> {
    let (name, source) = p.ic.starttls_name(upstream).expect("a name is known");
    let tcp = TcpStream::connect(upstream).await.unwrap();
    let (mut up, verified) = p.ic.upstream().connect(tcp, name).await.expect("verified");
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let ca = p.ca_cert.clone();
    let client_name = client_sni.to_string();
    let c = tokio::spawn(async move {
        match client(addr, &ca, &client_name, sni).await {
            Ok(tls) => talk(tls).await,
            Err(e) => assert!(e.to_string().contains("alert"), "{e}"),
        }
    });
    let (tcp, _) = l.accept().await.unwrap();
    let conn = up.get_ref().1;
    let again = |n| p.ic.upstream().verify_again(conn, n);
    let r =
        p.ic.accept_verified(tcp, verified.clone(), source, again)
            .await;
    if let Ok((mut tls, facts)) = r {
        assert_eq!(facts.upstream.chain_sha256, verified.chain_sha256);
        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
        c.await.unwrap();
        return Ok(facts.upstream.name.to_str().into_owned());
    }
    c.await.unwrap();
    r.map(|_| unreachable!())
}

#[tokio::test]
async fn starttls_order_verifies_upstream_first_and_refuses_a_name_the_server_does_not_hold() {
    let root = TestCa::new("Test Root");
    let upstream = serve(&good(&root, NAME), "real server").await;
    let p = proxy_with(root, |c| {
        c.sni_map.insert(upstream.ip().to_string(), NAME.into());
        c.bypass.push("bank.test".into());
    });
    assert_eq!(
        starttls(&p, upstream, NAME).await.expect("intercepted"),
        NAME
    );
    let err = starttls(&p, upstream, "other.test").await.unwrap_err();
    assert!(
        matches!(&err, AcceptError::Upstream { error, .. } if error.kind() == "wrong_name"),
        "{err}"
    );
    let err = starttls(&p, upstream, "bank.test").await.unwrap_err();
    assert!(matches!(err, AcceptError::SniMismatch { .. }), "{err}");
}

#[tokio::test]
async fn a_learned_name_stands_in_for_no_sni_unless_the_policy_refuses() {
    for (policy, minted) in [
        (NoSniPolicy::Passthrough, true),
        (NoSniPolicy::Refuse, false),
    ] {
        let root = TestCa::new("Test Root");
        let upstream = serve(&good(&root, NAME), "real server").await;
        let p = proxy_with(root, |c| c.no_sni = policy);
        assert!(p.ic.starttls_name(upstream).is_none(), "nothing known yet");
        // A session whose client named the server teaches the name.
        let (addr, task) = listen(p.ic.clone(), upstream).await;
        talk(client(addr, &p.ca_cert, NAME, true).await.unwrap()).await;
        let Ok(Accepted::Intercepted(s)) = task.await.unwrap() else {
            panic!("intercepted");
        };
        p.ic.learn(upstream, &s.facts);
        let (_, source) = p.ic.starttls_name(upstream).expect("learned");
        assert_eq!(source, NameSource::Learned);
        let r = starttls_sni(&p, upstream, NAME, false).await;
        if minted {
            assert_eq!(r.unwrap(), NAME);
        } else {
            assert!(matches!(r, Err(AcceptError::NoSniRefused)), "{r:?}");
        }
    }
}

#[tokio::test]
async fn starttls_client_naming_another_name_of_the_verified_server_gets_that_name() {
    let root = TestCa::new("Test Root");
    let upstream = serve(&multi(&root, &[NAME, "other.test"]), "real server").await;
    let p = proxy_with(root, |c| {
        c.sni_map.insert(upstream.ip().to_string(), NAME.into());
    });
    assert_eq!(
        starttls(&p, upstream, "other.test").await.unwrap(),
        "other.test"
    );
}

#[tokio::test]
async fn leaf_names_only_the_verified_name_whatever_the_upstream_certificate_lists() {
    let p = proxy(|_| {});
    let server = multi(&p.root, &["other.test", "*.test", NAME, "evil.example"]);
    let upstream = serve(&server, "real server").await;
    let (addr, task) = listen(p.ic.clone(), upstream).await;
    let tls = client(addr, &p.ca_cert, NAME, true)
        .await
        .expect("handshake");
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    talk(tls).await;
    assert!(matches!(task.await.unwrap(), Ok(Accepted::Intercepted(_))));
    let c = portcullis::tls::x509::parse(&leaf).unwrap();
    let san = c.subject_alternative_name().unwrap().unwrap();
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|g| g.to_string())
        .collect();
    assert_eq!(names, vec![format!("DNSName({NAME})")]);
}
