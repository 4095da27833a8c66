//! Running portcullis like a gateway service: the real binary (`portcullis run`) in front
//! of fake servers on loopback (fixed-upstream listeners, no root), watched through the
//! Prometheus endpoint with curl and promtool, reloaded with SIGHUP and `portcullis reload`
//! while sessions are open, and told to end a user's or client's live sessions with
//! `portcullis sessions kill` and by a tripping rate limit.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
/// "\0alice\0secret"
const ALICE: &str = "AGFsaWNlAHNlY3JldA==";
/// AUTH PLAIN for alice with a password the fake server refuses ("\0alice\0wrong").
const WRONG: &str = "AGFsaWNlAHdyb25n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fake SMTP server for any number of sessions: accepts every command, and records each
/// message it received whole (the DATA body up to its final dot) and every line.
#[derive(Default)]
struct SmtpLog {
    lines: Vec<String>,
    messages: Vec<String>,
}

async fn fake_smtp() -> (SocketAddr, Arc<Mutex<SmtpLog>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let log = Arc::new(Mutex::new(SmtpLog::default()));
    let shared = log.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(smtp_session(s, shared.clone()));
        }
    });
    (addr, log)
}

async fn smtp_session(s: TcpStream, log: Arc<Mutex<SmtpLog>>) {
    let mut s = BufReader::new(s);
    let _ = s.get_mut().write_all(b"220 fake ESMTP\r\n").await;
    loop {
        let mut line = String::new();
        if s.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        log.lock().unwrap().lines.push(line.clone());
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-fake\r\n250-AUTH PLAIN\r\n250 SIZE 1000000\r\n",
            "AUTH" if line.contains(WRONG) => b"535 5.7.8 authentication failed\r\n",
            "AUTH" => b"235 2.7.0 ok\r\n",
            "DATA" => {
                let _ = s.get_mut().write_all(b"354 go\r\n").await;
                let mut body = String::new();
                loop {
                    let mut l = String::new();
                    if s.read_line(&mut l).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    body.push_str(&l);
                }
                log.lock().unwrap().messages.push(body);
                b"250 2.0.0 queued\r\n"
            }
            "QUIT" => {
                let _ = s.get_mut().write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 ok\r\n",
        };
        if s.get_mut().write_all(reply).await.is_err() {
            return;
        }
    }
}

/// A fake POP3 server for any number of sessions. RETR answers `message` in two halves,
/// the second once `gate` gives a permit (`open_gate()` for one that never waits).
async fn fake_pop3(message: String, gate: Arc<Semaphore>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let m = message.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                let _ = s.get_mut().write_all(b"+OK fake\r\n").await;
                loop {
                    let mut line = String::new();
                    if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let w = s.get_mut();
                    if line.to_ascii_uppercase().starts_with("RETR") {
                        let half = m.len() / 2;
                        let head = format!("+OK {} octets\r\n{}", m.len(), &m[..half]);
                        let _ = w.write_all(head.as_bytes()).await;
                        gate.acquire().await.unwrap().forget();
                        let _ = w.write_all(format!("{}.\r\n", &m[half..]).as_bytes()).await;
                    } else if line.to_ascii_uppercase().starts_with("QUIT") {
                        let _ = w.write_all(b"+OK bye\r\n").await;
                        return;
                    } else {
                        let _ = w.write_all(b"+OK\r\n").await;
                    }
                }
            });
        }
    });
    addr
}

/// `portcullis run` as a child process with a config file in a temporary directory.
struct Gateway {
    child: Child,
    dir: tempfile::TempDir,
    pop3: SocketAddr,
    smtp: SocketAddr,
    metrics: SocketAddr,
}

impl Gateway {
    fn config(&self) -> PathBuf {
        self.dir.path().join("portcullis.toml")
    }

    fn write_config(
        dir: &Path,
        ports: (u16, u16, u16),
        ups: (SocketAddr, SocketAddr),
        extra: &str,
    ) {
        let d = dir.display();
        let (pop3, smtp, metrics) = ports;
        let text = format!(
            r#"[general]
session_log_dir = "{d}/sessions"
spool_dir = "{d}/spool"
log_format = "text"
hostname = "gw.test"

[quarantine]
dir = "{d}/quarantine"

[metrics]
listen = "127.0.0.1:{metrics}"

[control]
socket = "{d}/control.sock"

[[listener]]
protocol = "pop3"
listen = "127.0.0.1:{pop3}"
upstream = "{}"

[[listener]]
protocol = "smtp"
listen = "127.0.0.1:{smtp}"
upstream = "{}"

{extra}
"#,
            ups.0, ups.1
        );
        std::fs::write(dir.join("portcullis.toml"), text).unwrap();
    }

    async fn start(pop3_up: SocketAddr, smtp_up: SocketAddr, extra: &str) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let ports = (free_port(), free_port(), free_port());
        Gateway::write_config(dir.path(), ports, (pop3_up, smtp_up), extra);
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(dir.path().join("portcullis.toml"))
            .stdin(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let at = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let g = Gateway {
            child,
            dir,
            pop3: at(ports.0),
            smtp: at(ports.1),
            metrics: at(ports.2),
        };
        for _ in 0..200 {
            if g.stderr().contains("control socket ready") {
                return g;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("portcullis did not start: {}", g.stderr());
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Waits until the process log has `n` lines containing `what`.
    async fn wait_log(&self, what: &str, n: usize) {
        for _ in 0..200 {
            if self.stderr().matches(what).count() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {what:?} in the log: {}", self.stderr());
    }

    /// The CLI against this gateway's config: (success, stdout + stderr).
    fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(self.config())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// A scrape with curl.
    fn scrape(&self) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-f"])
            .arg(format!("http://{}/metrics", self.metrics))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of one sample line (`name{labels} value`), 0 when absent.
fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

/// `promtool check metrics` on a scrape; returns its complaints (empty when clean).
fn promtool(scrape: &str) -> String {
    use std::io::Write;
    let mut c = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus)");
    c.stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = c.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        String::new()
    } else {
        text
    }
}

fn open_gate() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(1000))
}

fn message(subject: &str, body: &str) -> String {
    format!("From: a@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\n\r\n{body}\r\n")
}

#[path = "service/kill.rs"]
mod kill;
mod wire;
use wire::Client;
#[path = "service/metrics.rs"]
mod metrics;
#[path = "service/reload.rs"]
mod reload;
