//! Driver behaviour that real servers cannot be made to show (lying sizes, resets in the
//! middle of a message, impossible chunk sizes, shutdown while a message is held), against
//! scripted fake servers on loopback through the fixed-upstream listener mode. Needs no
//! root: portcullis runs in the test process.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use portcullis::app::App;
use portcullis::config::Config;
use portcullis::server::Server;

mod wire;
use wire::Client;

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// One step of a fake server's script.
enum Step {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Read one line and check it starts with this (case-insensitive).
    Expect(&'static str),
    /// Wait before the next step.
    Pause(Duration),
    /// Read until the client sends this line alone (a dot-stuffed DATA body).
    ReadUntil(&'static str),
}

fn send(s: &str) -> Step {
    Step::Send(s.as_bytes().to_vec())
}

/// A server that plays `script` to the first connection and returns all it received.
async fn fake_server(script: Vec<Step>) -> (SocketAddr, JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut s = BufReader::new(s);
        let mut got = Vec::new();
        for step in script {
            match step {
                Step::Send(b) => s.get_mut().write_all(&b).await.unwrap(),
                Step::Pause(d) => tokio::time::sleep(d).await,
                Step::Expect(prefix) => {
                    let mut line = String::new();
                    s.read_line(&mut line).await.unwrap();
                    got.extend_from_slice(line.as_bytes());
                    assert!(
                        line.to_ascii_uppercase().starts_with(prefix),
                        "fake server expected {prefix:?}, got {line:?}"
                    );
                }
                Step::ReadUntil(end) => loop {
                    let mut line = String::new();
                    if s.read_line(&mut line).await.unwrap() == 0 {
                        break;
                    }
                    got.extend_from_slice(line.as_bytes());
                    if line == end {
                        break;
                    }
                },
            }
        }
        got
    });
    (addr, task)
}

/// portcullis with one fixed-upstream listener in front of `upstream`.
struct Proxy {
    server: Option<Server>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Proxy {
    fn start(protocol: &str, upstream: SocketAddr, extra: &str) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let text = format!(
            r#"[general]
session_log_dir = "{d}/sessions"
spool_dir = "{d}/spool"
log_format = "text"
hostname = "gw.test"

[quarantine]
dir = "{d}/quarantine"

[[listener]]
protocol = "{protocol}"
listen = "127.0.0.1:10999"
upstream = "{upstream}"

{extra}
"#
        );
        let mut cfg = Config::parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
        cfg.listeners[0].listen = "127.0.0.1:0".parse().unwrap();
        let app = Arc::new(App::open(cfg).unwrap());
        let server = Server::start(app).unwrap();
        let addr = server.bound[0];
        Proxy {
            server: Some(server),
            addr,
            dir,
        }
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        let dir = self.dir.path().join("sessions");
        for e in std::fs::read_dir(dir).unwrap() {
            all.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
        all
    }

    async fn shutdown(&mut self) -> bool {
        self.server.take().unwrap().shutdown().await
    }
}

const MSG: &str = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n";

/// A scripted POP3 server's greeting and an accepted USER and PASS, then `rest`.
fn pop3_login(rest: Vec<Step>) -> Vec<Step> {
    let mut steps = vec![
        send("+OK fake\r\n"),
        Step::Expect("USER"),
        send("+OK\r\n"),
        Step::Expect("PASS"),
        send("+OK logged in\r\n"),
    ];
    steps.extend(rest);
    steps
}

/// A client through `p` that has read the greeting and logged in as alice.
async fn pop3_logged_in(p: &Proxy) -> Client {
    let mut c = Client::connect(p.addr).await;
    c.line().await;
    c.send("USER alice\r\n").await;
    c.line().await;
    c.send("PASS pw\r\n").await;
    c.line().await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_bdat_chunk_is_refused_as_too_large() {
    let (up, _srv) = fake_server(vec![
        send("220 fake ESMTP\r\n"),
        Step::Expect("EHLO"),
        send("250-fake\r\n250-CHUNKING\r\n250 SIZE 1000\r\n"),
        Step::Pause(Duration::from_secs(5)),
    ])
    .await;
    let _p = Proxy::start("smtp", up, "");
    let mut c = Client::connect(_p.addr).await;
    assert!(c.line().await.starts_with("220"));
    c.send("EHLO me\r\n").await;
    while c.line().await.starts_with("250-") {}
    c.send("BDAT 999999999999999 LAST\r\n").await;
    let r = c.line().await;
    assert!(r.starts_with("552 5.3.4 "), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_announces_more_than_it_sends_still_gets_the_whole_message_through() {
    let (up, _srv) = fake_server(vec![
        send("+OK fake\r\n"),
        Step::Expect("RETR 1"),
        send(&format!("+OK 5000 octets\r\n{MSG}.\r\n")),
        Step::Expect("QUIT"),
        send("+OK bye\r\n"),
    ])
    .await;
    let p = Proxy::start("pop3", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("+OK"));
    c.send("RETR 1\r\n").await;
    let status = c.line().await;
    let body = c.block().await;
    assert!(body.ends_with(MSG), "{body}");
    let scan = body.lines().next().unwrap().to_string();
    assert!(scan.starts_with("X-Portcullis-Scan: clean"), "{scan}");
    assert_eq!(status, format!("+OK {} octets\r\n", body.len()));
    c.send("QUIT\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_in_the_middle_of_a_message_delivers_none_of_it() {
    let (up, _srv) = fake_server(vec![
        send("+OK fake\r\n"),
        Step::Expect("RETR 1"),
        send(&format!("+OK 2000 octets\r\nSubject: part\r\n\r\n{EICAR}")),
    ])
    .await;
    let p = Proxy::start("pop3", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("+OK"));
    c.send("RETR 1\r\n").await;
    let rest = c.rest().await;
    assert!(!rest.contains("Subject: part"), "{rest}");
    assert!(!rest.contains("EICAR"), "{rest}");
    assert!(
        p.logs().contains("server closed the connection"),
        "{}",
        p.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_header_names_no_engine_the_same_way_for_pop3_and_smtp() {
    let policy = "[scan]\nmax_scan_bytes = 10\n[policy.download]\nunscannable = \"pass\"\n[policy.submission]\nunscannable = \"pass\"\n";
    let (up, _srv) = fake_server(vec![
        send("+OK fake\r\n"),
        Step::Expect("RETR 1"),
        send(&format!("+OK {} octets\r\n{MSG}.\r\n", MSG.len())),
    ])
    .await;
    let p = Proxy::start("pop3", up, policy);
    let mut c = Client::connect(p.addr).await;
    c.line().await;
    c.send("RETR 1\r\n").await;
    c.line().await;
    let pop3_header = c.block().await.lines().next().unwrap().to_string();

    let (up, srv) = fake_server(vec![
        send("220 fake ESMTP\r\n"),
        Step::Expect("EHLO"),
        send("250 fake\r\n"),
        Step::Expect("MAIL FROM"),
        send("250 ok\r\n"),
        Step::Expect("RCPT TO"),
        send("250 ok\r\n"),
        Step::Expect("DATA"),
        send("354 go\r\n"),
        Step::ReadUntil(".\r\n"),
        send("250 queued\r\n"),
    ])
    .await;
    let p = Proxy::start("smtp", up, policy);
    let mut c = Client::connect(p.addr).await;
    c.line().await;
    c.send("EHLO me\r\n").await;
    while c.line().await.starts_with("250-") {}
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        .await;
    for _ in 0..3 {
        c.line().await;
    }
    c.send(&format!("{MSG}.\r\n")).await;
    let r = c.line().await;
    assert!(r.starts_with("250"), "{r} {}", p.logs());
    let stored = String::from_utf8(srv.await.unwrap()).unwrap();
    let smtp_header = stored
        .lines()
        .find(|l| l.starts_with("X-Portcullis-Scan"))
        .unwrap()
        .to_string();
    for h in [&pop3_header, &smtp_header] {
        assert!(
            h.starts_with("X-Portcullis-Scan: unscannable") && h.contains(" (no engine); session "),
            "{h}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_idle_sessions_and_lets_a_held_message_finish() {
    let (up, _srv) = fake_server(vec![
        send("+OK fake\r\n"),
        Step::Expect("RETR 1"),
        send("+OK 60 octets\r\nSubject: slow\r\n"),
        Step::Pause(Duration::from_millis(600)),
        send("\r\nthe rest\r\n.\r\n"),
        Step::Pause(Duration::from_secs(5)),
    ])
    .await;
    let mut p = Proxy::start("pop3", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("+OK"));
    c.send("RETR 1\r\n").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let drained = tokio::spawn(async move {
        let ok = p.shutdown().await;
        (ok, p)
    });
    let status = c.line().await;
    assert!(status.starts_with("+OK"), "{status}");
    let body = c.block().await;
    assert!(
        body.contains("Subject: slow") && body.ends_with("the rest\r\n"),
        "{body}"
    );
    // Idle again: the session ends instead of waiting for the next command.
    assert_eq!(c.rest().await, "");
    let (ok, p) = drained.await.unwrap();
    assert!(ok, "every session ended within limits.shutdown_drain_secs");
    assert!(p.logs().contains("shutting down"), "{}", p.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_smtp_client_hears_421_at_shutdown() {
    let (up, _srv) = fake_server(vec![
        send("220 fake ESMTP\r\n"),
        Step::Pause(Duration::from_secs(5)),
    ])
    .await;
    let mut p = Proxy::start("smtp", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("220"));
    assert!(p.shutdown().await);
    let r = c.rest().await;
    assert!(r.starts_with("421 4.3.2 "), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_line_that_could_end_the_listing_early_ends_the_session_instead() {
    // A client splitting at CR sees "1 100", ".", then a fake RETR answer.
    let (up, _srv) = fake_server(vec![
        send("+OK fake\r\n"),
        Step::Expect("LIST"),
        send(&format!(
            "+OK 1 message\r\n1 100\r.\r\n+OK 70 octets\r\n{EICAR}\r\n.\r\n"
        )),
        Step::Pause(Duration::from_secs(5)),
    ])
    .await;
    let p = Proxy::start("pop3", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("+OK"));
    c.send("LIST\r\n").await;
    let rest = c.rest().await;
    assert!(
        !rest.contains("EICAR") && !rest.contains("octets"),
        "{rest:?}"
    );
    assert!(
        p.logs().contains("control characters in a List listing"),
        "{}",
        p.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_message_that_cannot_be_kept_gets_a_temporary_error_not_a_notice() {
    let infected = format!("Subject: bad\r\n\r\n{EICAR}\r\n");
    let (up, srv) = fake_server(pop3_login(vec![
        Step::Expect("RETR 1"),
        send(&format!("+OK {} octets\r\n{infected}.\r\n", infected.len())),
        Step::Expect("UIDL 1"),
        send("+OK 1 uid-0001\r\n"),
        Step::Expect("QUIT"),
        send("+OK bye\r\n"),
    ]))
    .await;
    let p = Proxy::start("pop3", up, "");
    // Neither the quarantine nor the withheld registry can be written (a full or broken
    // disk; root ignores permissions, so files stand where directories should be).
    let q = p.dir.path().join("quarantine");
    for sub in ["tmp", "withheld"] {
        std::fs::remove_dir_all(q.join(sub)).unwrap();
        std::fs::write(q.join(sub), b"not a directory").unwrap();
    }
    let mut c = pop3_logged_in(&p).await;
    c.send("RETR 1\r\n").await;
    let r = c.line().await;
    assert!(r.starts_with("-ERR [SYS/TEMP] "), "{r}");
    c.send("QUIT\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    let seen = String::from_utf8(srv.await.unwrap()).unwrap();
    assert!(!seen.contains("DELE"), "{seen}");
    let logs = p.logs();
    assert!(
        logs.contains("refused: the original could be neither quarantined nor marked withheld"),
        "{logs}"
    );
}

/// A SASL login that acts for another mailbox (`AUTH PLAIN` with another authorization
/// identity) reads that mailbox: a withheld original is marked under it, so the owner's
/// own later sessions are refused its DELE too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withheld_marker_names_the_mailbox_a_login_acts_for() {
    let infected = format!("Subject: bad\r\n\r\n{EICAR}\r\n");
    let (up, srv) = fake_server(vec![
        send("+OK fake\r\n"),
        Step::Expect("AUTH PLAIN"),
        send("+OK logged in\r\n"),
        Step::Expect("RETR 1"),
        send(&format!("+OK {} octets\r\n{infected}.\r\n", infected.len())),
        Step::Expect("UIDL 1"),
        send("+OK 1 uid-0001\r\n"),
        Step::Expect("QUIT"),
        send("+OK bye\r\n"),
    ])
    .await;
    let p = Proxy::start("pop3", up, "");
    // The quarantine cannot be written: the original is guarded by a withheld marker.
    let q = p.dir.path().join("quarantine");
    std::fs::remove_dir_all(q.join("tmp")).unwrap();
    std::fs::write(q.join("tmp"), b"not a directory").unwrap();
    let mut c = Client::connect(p.addr).await;
    c.line().await;
    // base64 of "alice\0admin\0pw": admin logs in to alice's mailbox.
    c.send("AUTH PLAIN YWxpY2UAYWRtaW4AcHc=\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    c.send("RETR 1\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    c.block().await;
    c.send("QUIT\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    srv.await.unwrap();
    let w = portcullis::withheld::Withheld::open(&q.join("withheld")).unwrap();
    let key = |u: &str| portcullis::withheld::MailboxKey::for_user(u);
    assert!(w.contains(&key("alice"), "uid-0001"), "{}", p.logs());
    assert!(!w.contains(&key("admin"), "uid-0001"));
}

/// A TOP replaced by a notice guards the message (its DELE is held back); once a full
/// RETR of it is judged deliverable and delivered, the guard is gone and DELE goes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_delivered_whole_after_a_replaced_top_can_be_deleted() {
    let infected = format!("Subject: bad\r\n\r\n{EICAR}\r\n");
    let (up, srv) = fake_server(pop3_login(vec![
        Step::Expect("TOP 1 5"),
        send(&format!("+OK top follows\r\n{infected}.\r\n")),
        Step::Expect("UIDL 1"),
        send("+OK 1 uid-0001\r\n"),
        Step::Expect("RETR 1"),
        send(&format!("+OK {} octets\r\n{MSG}.\r\n", MSG.len())),
        Step::Expect("DELE 1"),
        send("+OK deleted\r\n"),
        Step::Expect("QUIT"),
        send("+OK bye\r\n"),
    ]))
    .await;
    let p = Proxy::start("pop3", up, "");
    let mut c = pop3_logged_in(&p).await;
    c.send("TOP 1 5\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    assert!(!c.block().await.contains("EICAR"));
    c.send("RETR 1\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    assert!(c.block().await.ends_with(MSG));
    c.send("DELE 1\r\n").await;
    let r = c.line().await;
    assert!(r.starts_with("+OK deleted"), "{r}");
    c.send("QUIT\r\n").await;
    assert!(c.line().await.starts_with("+OK"));
    let seen = String::from_utf8(srv.await.unwrap()).unwrap();
    assert!(seen.contains("DELE 1"), "{seen}");
}

/// A message over the size limit is read to its end so the client hears why; one that
/// goes on past twice the limit ends the session (552), so no client keeps the proxy
/// reading for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_that_never_ends_ends_the_session_past_twice_the_limit() {
    use tokio::io::AsyncWriteExt;
    let (up, srv) = fake_server(vec![
        send("220 fake ESMTP\r\n"),
        Step::Expect("EHLO"),
        send("250-fake\r\n250 SIZE 100000000\r\n"),
        Step::Expect("MAIL"),
        send("250 ok\r\n"),
        Step::Expect("RCPT"),
        send("250 ok\r\n"),
    ])
    .await;
    let p = Proxy::start(
        "smtp",
        up,
        "[limits]\nmax_message_bytes = 1048576\n[scan]\nmax_scan_bytes = 1048576\n",
    );
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("220"));
    c.ask("EHLO me\r\n").await;
    assert!(c.ask("MAIL FROM:<a@x>\r\n").await.starts_with("250"));
    assert!(c.ask("RCPT TO:<b@x>\r\n").await.starts_with("250"));
    assert!(c.ask("DATA\r\n").await.starts_with("354"));
    let chunk = "x".repeat(998) + "\r\n";
    let chunk = chunk.repeat(64);
    let mut sent = 0usize;
    // 8 MiB, more than the proxy reads (a little past 2 MiB) and the sockets hold.
    while sent < 8 << 20 {
        if c.0.get_mut().write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let rest = c.rest_lenient().await;
    assert!(rest.starts_with("552 "), "{rest:?}");
    drop(srv);
}

/// POP3 too: an answer the server sends to no command (a second greeting) ends the
/// session instead of being taken for the next command's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pop3_answer_to_no_command_ends_the_session() {
    let (up, srv) = fake_server(vec![
        send("+OK fake\r\n+OK logged in as anyone\r\n"),
        Step::ReadUntil("QUIT\r\n"),
    ])
    .await;
    let p = Proxy::start("pop3", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("+OK fake"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.send("USER alice\r\n").await;
    let r = c.rest_lenient().await;
    assert!(!r.starts_with("+OK"), "{r}");
    drop(c);
    let got = String::from_utf8_lossy(&srv.await.unwrap()).into_owned();
    assert!(!got.contains("USER"), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_size_at_the_top_of_the_integer_range_is_just_a_wrong_size() {
    let (up, _srv) = fake_server(vec![
        send("+OK fake\r\n"),
        Step::Expect("RETR 1"),
        send(&format!("+OK 18446744073709551615 octets\r\n{MSG}.\r\n")),
        Step::Expect("LIST 2"),
        send("+OK 2 18446744073709551615\r\n"),
        Step::Expect("RETR 2"),
        send(&format!("+OK\r\n{MSG}.\r\n")),
    ])
    .await;
    let p = Proxy::start("pop3", up, "");
    let mut c = Client::connect(p.addr).await;
    c.line().await;
    for n in 1..=2 {
        if n == 2 {
            c.send("LIST 2\r\n").await;
            c.line().await;
        }
        c.send(&format!("RETR {n}\r\n")).await;
        assert!(c.line().await.starts_with("+OK"));
        assert!(c.block().await.ends_with(MSG));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mechanism_whose_user_cannot_be_read_is_neither_offered_nor_accepted() {
    let (up, srv) = fake_server(vec![
        send("+OK fake\r\n"),
        Step::Expect("CAPA"),
        send("+OK\r\nUIDL\r\nSASL PLAIN CRAM-MD5 SCRAM-SHA-1\r\n.\r\n"),
        Step::Expect("QUIT"),
        send("+OK bye\r\n"),
    ])
    .await;
    let p = Proxy::start("pop3", up, "");
    let mut c = Client::connect(p.addr).await;
    c.line().await;
    c.send("CAPA\r\n").await;
    c.line().await;
    assert_eq!(c.block().await, "UIDL\r\nSASL PLAIN\r\n");
    c.send("AUTH CRAM-MD5\r\n").await;
    assert!(c.line().await.starts_with("-ERR portcullis: "));
    c.send("QUIT\r\n").await;
    c.line().await;
    assert!(
        !String::from_utf8(srv.await.unwrap())
            .unwrap()
            .contains("AUTH")
    );
}

/// A server that answers the proxy's DATA with anything but 354 or a refusal has lost
/// track of the session: the client gets a temporary error, never the 250 that would say
/// the message was taken, and the message never goes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_ahead_other_than_354_to_data_is_no_delivery() {
    let (up, srv) = fake_server(vec![
        send("220 fake ESMTP\r\n"),
        Step::Expect("EHLO"),
        send("250-fake\r\n250 SIZE 100000\r\n"),
        Step::Expect("MAIL"),
        send("250 ok\r\n"),
        Step::Expect("RCPT"),
        send("250 ok\r\n"),
        Step::Expect("DATA"),
        send("250 2.0.0 queued as nothing\r\n"),
    ])
    .await;
    let p = Proxy::start("smtp", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("220"));
    c.ask("EHLO me\r\n").await;
    assert!(c.ask("MAIL FROM:<a@x>\r\n").await.starts_with("250"));
    assert!(c.ask("RCPT TO:<b@x>\r\n").await.starts_with("250"));
    assert!(c.ask("DATA\r\n").await.starts_with("354"));
    let r = c.ask(&format!("{MSG}.\r\n")).await;
    assert!(r.starts_with("421 "), "{r}");
    drop(c);
    let got = String::from_utf8_lossy(&srv.await.unwrap_or_default()).into_owned();
    assert!(!got.contains("Subject"), "{got}");
}

/// A reply the server sends to no command (here a second greeting) would be taken for
/// the next command's and shift every answer by one: the session ends instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_no_command_ends_the_session() {
    let (up, srv) = fake_server(vec![
        send("220 fake ESMTP\r\n220 again\r\n"),
        Step::Expect("QUIT"),
    ])
    .await;
    let p = Proxy::start("smtp", up, "");
    let mut c = Client::connect(p.addr).await;
    assert!(c.line().await.starts_with("220 fake"));
    // Let the second greeting arrive before the client speaks.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = c.ask("EHLO me\r\n").await;
    assert!(r.starts_with("421 "), "{r}");
    drop(c);
    let got = String::from_utf8_lossy(&srv.await.unwrap_or_default()).into_owned();
    assert!(!got.contains("EHLO"), "{got}");
}

#[path = "loopback/imap.rs"]
mod imap;
