//! SMTP PIPELINING upstream against scripted servers on loopback that read a whole group
//! before they answer any of it: a proxy that waited for each reply before the next
//! command would never hear back (and would time out on its server_timeout_secs). Real
//! servers answer as they read, so they cannot show whether the group went as one. Needs
//! no root: portcullis runs in the test process.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use portcullis::app::App;
use portcullis::config::Config;
use portcullis::server::Server;

enum Step {
    Send(&'static str),
    /// Read one line; it must start with this.
    Expect(&'static str),
    /// Read until a line that is only ".".
    Message,
    /// Nothing more was received with what was read so far (a group arrives in one write).
    NothingMore,
}

/// A server that plays `script` to one connection and returns every line it read.
async fn fake_server(script: Vec<Step>) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut s = BufReader::new(s);
        let mut got = Vec::new();
        for step in script {
            match step {
                Step::Send(b) => s.get_mut().write_all(b.as_bytes()).await.unwrap(),
                Step::Expect(prefix) => {
                    let mut line = String::new();
                    s.read_line(&mut line).await.unwrap();
                    assert!(
                        line.starts_with(prefix),
                        "expected {prefix:?}, got {line:?}"
                    );
                    got.push(line);
                }
                Step::NothingMore => {
                    let rest = String::from_utf8_lossy(s.buffer());
                    assert!(rest.is_empty(), "sent with the group: {rest:?}");
                }
                Step::Message => loop {
                    let mut line = String::new();
                    if s.read_line(&mut line).await.unwrap() == 0 || line == ".\r\n" {
                        break;
                    }
                },
            }
        }
        got
    });
    (addr, task)
}

fn proxy(upstream: SocketAddr, extra: &str) -> (Server, SocketAddr, tempfile::TempDir) {
    proxy_on(upstream, "", extra)
}

/// `listener` goes in the listener's table, `extra` after the limits.
fn proxy_on(
    upstream: SocketAddr,
    listener: &str,
    extra: &str,
) -> (Server, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let text = format!(
        "[general]\nsession_log_dir = \"{d}/sessions\"\nspool_dir = \"{d}/spool\"\nlog_format = \"text\"\nhostname = \"gw.test\"\n\
         [quarantine]\ndir = \"{d}/quarantine\"\n\
         [[listener]]\nprotocol = \"smtp\"\nlisten = \"127.0.0.1:10999\"\nupstream = \"{upstream}\"\n{listener}\
         [limits]\nserver_timeout_secs = 3\nkeepalive_secs = 1\n{extra}\n"
    );
    let mut cfg = Config::parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
    cfg.listeners[0].listen = "127.0.0.1:0".parse().unwrap();
    let server = Server::start(Arc::new(App::open(cfg).unwrap())).unwrap();
    let addr = server.bound[0];
    (server, addr, dir)
}

struct Client(BufReader<TcpStream>);

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let mut c = Client(BufReader::new(TcpStream::connect(addr).await.unwrap()));
        assert!(c.reply().await.starts_with("220"));
        c.send("EHLO me\r\n").await;
        assert!(c.reply().await.contains("PIPELINING"));
        c
    }

    async fn send(&mut self, s: &str) {
        self.0.get_mut().write_all(s.as_bytes()).await.unwrap();
    }

    /// One whole reply, all its lines.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            tokio::time::timeout(Duration::from_secs(10), self.0.read_line(&mut l))
                .await
                .expect("an answer within 10 s")
                .unwrap();
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    async fn codes(&mut self, n: usize) -> Vec<String> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(self.reply().await[..3].to_string());
        }
        v
    }
}

const EHLO: &str = "250-fake\r\n250-PIPELINING\r\n250 SIZE 100000\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_group_goes_up_as_one_with_local_answers_in_place() {
    let (up, srv) = fake_server(vec![
        Step::Send("220 fake ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send(EHLO),
        // The whole group before any reply. The fourth RCPT would pass
        // smtp.max_recipients = 3 (refused ones count too) only if some in flight were not
        // counted: it waits for their answers, then the proxy refuses it.
        Step::Expect("MAIL FROM:<a@x>"),
        Step::Expect("RCPT TO:<b@x>"),
        Step::Expect("RCPT TO:<c@x>"),
        Step::Expect("RCPT TO:<d@x>"),
        Step::Send("250 ok\r\n250-b\r\n250 ok\r\n550 c unknown\r\n250 d\r\n"),
        Step::Expect("DATA"),
        Step::Send("354 go\r\n"),
        Step::Message,
        Step::Send("250 queued\r\n"),
        Step::Expect("QUIT"),
        Step::Send("221 bye\r\n"),
    ])
    .await;
    let (_s, addr, _d) = proxy(up, "[smtp]\nmax_recipients = 3\n");
    let mut c = Client::connect(addr).await;
    c.send("MAIL FROM:<a@x> SIZE=10\r\nRCPT TO:<b@x>\r\nXFOO\r\nRCPT TO:<c@x>\r\nMAIL FROM:<big@x> SIZE=999999\r\nRCPT TO:<d@x>\r\nRCPT TO:<e@x>\r\nDATA\r\n").await;
    let codes = c.codes(8).await;
    assert_eq!(
        codes,
        ["250", "250", "502", "550", "552", "250", "452", "354"],
        "one reply per command, in order"
    );
    c.send("Subject: x\r\n\r\nhi\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250 queued"));
    c.send("QUIT\r\n").await;
    assert!(c.reply().await.starts_with("221"));
    let got = srv.await.unwrap();
    assert!(!got.iter().any(|l| l.contains("big@") || l.contains("e@x")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_over_the_rate_limit_wait_for_those_in_flight_and_are_refused_exactly() {
    let (up, srv) = fake_server(vec![
        Step::Send("220 fake ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send(EHLO),
        Step::Expect("MAIL"),
        Step::Expect("RCPT TO:<b@x>"),
        Step::Expect("RCPT TO:<c@x>"),
        Step::Send("250 ok\r\n250 b\r\n550 c unknown\r\n"),
        // c was refused, so d fits the limit of two accepted recipients.
        Step::Expect("RCPT TO:<d@x>"),
        Step::Send("250 d\r\n"),
        Step::Expect("QUIT"),
        Step::Send("221 bye\r\n"),
    ])
    .await;
    let rate =
        "[[abuse.rate]]\nscope = \"client\"\nwhat = \"recipients\"\nmax = 2\nwindow_secs = 60\n";
    let (_s, addr, _d) = proxy(up, rate);
    let mut c = Client::connect(addr).await;
    c.send("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nRCPT TO:<d@x>\r\nRCPT TO:<e@x>\r\nQUIT\r\n").await;
    let codes = c.codes(6).await;
    assert_eq!(codes, ["250", "250", "550", "250", "450", "221"]);
    let got = srv.await.unwrap();
    assert!(!got.iter().any(|l| l.contains("e@x")), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rset_after_a_refused_data_is_not_waited_for() {
    let (up, srv) = fake_server(vec![
        Step::Send("220 fake ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send(EHLO),
        Step::Expect("MAIL"),
        Step::Expect("RCPT"),
        Step::Send("250 ok\r\n550 nobody\r\n"),
        // DATA with no accepted recipient is refused by the proxy, which resets the
        // server; its reply comes with those of the client's next group.
        Step::Expect("RSET"),
        Step::Expect("MAIL"),
        Step::Expect("RCPT"),
        Step::Send("250 reset\r\n250 ok\r\n251 later\r\n"),
        Step::Expect("QUIT"),
        Step::Send("221 bye\r\n"),
    ])
    .await;
    let (_s, addr, _d) = proxy(up, "");
    let mut c = Client::connect(addr).await;
    c.send("MAIL FROM:<a@x>\r\nRCPT TO:<nobody@x>\r\nDATA\r\n")
        .await;
    assert_eq!(c.codes(3).await, ["250", "550", "554"]);
    c.send("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n").await;
    assert_eq!(c.codes(2).await, ["250", "251"]);
    c.send("QUIT\r\n").await;
    assert!(c.reply().await.starts_with("221"));
    srv.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_before_starttls_is_answered_and_nothing_after_it_is_forwarded() {
    let (up, srv) = fake_server(vec![
        Step::Send("220 fake ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send("250-fake\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
        Step::Expect("MAIL FROM:<a@x>"),
        Step::Expect("RCPT TO:<b@x>"),
        Step::Send("250 ok\r\n250 b\r\n"),
        // Not the RCPT pipelined after STARTTLS: the client's next command.
        Step::Expect("QUIT"),
        Step::Send("221 bye\r\n"),
    ])
    .await;
    let (_s, addr, _d) = proxy_on(up, "starttls = \"strip\"\n", "");
    let mut c = Client::connect(addr).await;
    c.send("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nSTARTTLS\r\nRCPT TO:<injected@x>\r\n")
        .await;
    assert_eq!(c.codes(3).await, ["250", "250", "454"]);
    c.send("QUIT\r\n").await;
    assert!(c.reply().await.starts_with("221"));
    let got = srv.await.unwrap();
    assert!(!got.iter().any(|l| l.contains("injected")), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_cut_at_max_pipelined_commands() {
    let (up, srv) = fake_server(vec![
        Step::Send("220 fake ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::Send(EHLO),
        Step::Expect("MAIL"),
        Step::Expect("RCPT TO:<b@x>"),
        Step::NothingMore,
        Step::Send("250 ok\r\n250 b\r\n"),
        Step::Expect("RCPT TO:<c@x>"),
        Step::Expect("RSET"),
        Step::Send("250 c\r\n250 reset\r\n"),
        Step::Expect("QUIT"),
        Step::Send("221 bye\r\n"),
    ])
    .await;
    let (_s, addr, _d) = proxy(up, "[smtp]\nmax_pipelined_commands = 2\n");
    let mut c = Client::connect(addr).await;
    c.send("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nRSET\r\nQUIT\r\n")
        .await;
    assert_eq!(c.codes(5).await, ["250", "250", "250", "250", "221"]);
    srv.await.unwrap();
}
