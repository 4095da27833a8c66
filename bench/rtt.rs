//! Cases with a round-trip time to the real server. The kernel may have no netem, so a
//! small delaying forwarder runs in the server namespace (this benchmark binary started
//! with `--delay-forwarder`): every chunk it reads is written on after `delay`, in order,
//! in each direction. The client talks to the forwarder's port, directly or redirected
//! through portcullis, so both runs see the same round-trip time.
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::common::*;
use crate::{Bench, Row, alternate, reps};

/// Delay per direction: 20 ms each way is a 40 ms round trip.
pub const ONE_WAY_MS: u64 = 20;
/// The forwarder's port in the server namespace; it forwards to postfix on 25.
const RTT_PORT: u16 = 2525;
/// Chunks in flight per direction (each at most `CHUNK` bytes): the forwarder's bound.
const QUEUED_CHUNKS: usize = 256;
const CHUNK: usize = 64 * 1024;
/// Sessions per timed run.
const SESSIONS: usize = 5;

/// `--delay-forwarder <listen> <target> <one-way ms>`: runs the forwarder until killed.
pub fn forwarder_main(args: &[String]) {
    let listen = args[0].clone();
    let target = args[1].clone();
    let delay = Duration::from_millis(args[2].parse().expect("delay in ms"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let l = TcpListener::bind(&listen).await.expect("forwarder bind");
        loop {
            let Ok((c, _)) = l.accept().await else {
                continue;
            };
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(s) = TcpStream::connect(&target).await else {
                    return;
                };
                let _ = c.set_nodelay(true);
                let _ = s.set_nodelay(true);
                let (cr, cw) = c.into_split();
                let (sr, sw) = s.into_split();
                tokio::join!(delayed(cr, sw, delay), delayed(sr, cw, delay));
            });
        }
    });
}

/// Copies `r` to `w`, each chunk written `delay` after it was read, order kept.
async fn delayed(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(QUEUED_CHUNKS);
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        while let Ok(n) = r.read(&mut buf).await {
            let at = tokio::time::Instant::now() + delay;
            if n == 0 || tx.send((at, buf[..n].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, data)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if w.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// A client that pipelines as Thunderbird does: MAIL, every RCPT and DATA in one write,
/// then the message once 354 came. Prints the mean seconds per session.
fn pipelined_client(rcpts: usize) -> String {
    format!(
        r#"
import time
N = {rcpts}
body = b'From: a@example.test\r\nTo: alice@example.test\r\nSubject: rtt\r\n\r\n' + (b'y' * 78 + b'\r\n') * 64
group = b'MAIL FROM:<a@example.test>\r\n' + b''.join(b'RCPT TO:<rtt+%d@example.test>\r\n' % i for i in range(N)) + b'DATA\r\n'
def session():
    s = socket.create_connection((HOST, {RTT_PORT}), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile('rb')
    def reply():
        lines = []
        while True:
            l = f.readline()
            assert l, 'connection closed'
            lines.append(l)
            if l[3:4] != b'-':
                return b''.join(lines)
    assert reply()[:3] == b'220'
    s.sendall(b'EHLO bench.test\r\n')
    assert b'PIPELINING' in reply()
    s.sendall(group)
    for i in range(N + 1):
        r = reply()
        assert r[:3] == b'250', (i, r)
    r = reply()
    assert r[:3] == b'354', r
    s.sendall(body + b'.\r\n')
    r = reply()
    assert r[:3] == b'250', r
    s.sendall(b'QUIT\r\n')
    reply()
    s.close()
session()
t0 = time.time()
for _ in range({SESSIONS}):
    session()
out.write(b'%f' % ((time.time() - t0) / {SESSIONS}))
"#
    )
}

pub fn rtt_cases(b: &mut Bench) {
    let mut t = Topology::new("brtt");
    t.start_dovecot();
    t.start_postfix();
    let exe = std::env::current_exe().unwrap().display().to_string();
    let listen = format!("{SERVER_V4}:{RTT_PORT}");
    let ns = t.server_ns.clone();
    t.spawn(
        &ns,
        "delay-forwarder",
        &[
            &exe,
            "--delay-forwarder",
            &listen,
            "127.0.0.1:25",
            &ONE_WAY_MS.to_string(),
        ],
    );
    t.wait_tcp(&ns, SERVER_V4, RTT_PORT);
    let cfg = t.write_config(&format!(
        "[limits]\nmax_connections = 5000\nmax_connections_per_client = 5000\n\
         [[abuse.rate]]\nscope = \"client\"\nwhat = \"messages\"\nmax = 100000000\nwindow_secs = 60\n\
         [[listener]]\nprotocol = \"smtp\"\nlisten = \"[::]:10025\"\nintercept_ports = [{RTT_PORT}]\n",
    ));
    t.start_portcullis(&cfg);
    let cfg = cfg.display().to_string();
    for rcpts in [10usize, 100] {
        let (d, p) = alternate(&t, &cfg, reps(), |t| {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !t.postfix_idle() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let out = t.python_client(SERVER_V4, &pipelined_client(rcpts));
            String::from_utf8_lossy(&out).trim().parse().unwrap()
        });
        b.rows.push(Row {
            case: format!(
                "SMTP pipelined submission to {rcpts} recipients, 40 ms RTT to the server: time per session"
            ),
            unit: "s",
            better: "lower",
            direct: d,
            proxied: p,
            target: Some(("<=", 1.05)),
        });
    }
}

/// The POP3 forwarder's port in the server namespace; it forwards to dovecot on 110.
const RTT_POP3_PORT: u16 = 1110;
/// Messages in the mailbox of the POP3 round-trip case.
const POP3_MESSAGES: usize = 100;

/// A client downloading the whole mailbox in order, as Thunderbird does: CAPA, login,
/// LIST, then RETR 1..n. Prints the seconds the session took.
fn pop3_sequential_client() -> String {
    format!(
        r#"
import time
t0 = time.time()
p = poplib.POP3(HOST, {RTT_POP3_PORT}, timeout=60)
p.capa()
p.user('alice'); p.pass_('alicepw')
n = len(p.list()[1])
assert n == {POP3_MESSAGES}, n
for i in range(1, n + 1):
    p.retr(i)
p.quit()
out.write(b'%f' % (time.time() - t0))
"#
    )
}

/// POP3 download of 100 x 20 KB at 40 ms RTT, with look-ahead on (the default) and off.
pub fn pop3_rtt_cases(b: &mut Bench) {
    let mut t = Topology::new("bprtt");
    t.start_dovecot();
    let body = "z".repeat(78) + "\r\n";
    for i in 0..POP3_MESSAGES {
        let msg = format!(
            "From: a@example.test\r\nSubject: rtt {i}\r\nMessage-ID: <rtt{i}@example.test>\r\n\r\n{}",
            body.repeat(20 * 1024 / 80)
        );
        t.deliver("alice", &format!("m{i}"), msg.as_bytes());
    }
    let exe = std::env::current_exe().unwrap().display().to_string();
    let listen = format!("{SERVER_V4}:{RTT_POP3_PORT}");
    let ns = t.server_ns.clone();
    let delay = ONE_WAY_MS.to_string();
    t.spawn(
        &ns,
        "delay-forwarder",
        &[&exe, "--delay-forwarder", &listen, "127.0.0.1:110", &delay],
    );
    t.wait_tcp(&ns, SERVER_V4, RTT_POP3_PORT);
    for (lookahead, target) in [(true, 0.5), (false, 1.02)] {
        let cfg = t.write_config(&format!(
            "[pop3]\nlookahead = {lookahead}\n\
             [[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [{RTT_POP3_PORT}]\n",
        ));
        let i = t.start_portcullis(&cfg);
        let cfg = cfg.display().to_string();
        let (d, p) = alternate(&t, &cfg, reps(), |t| {
            let out = t.python_client(SERVER_V4, &pop3_sequential_client());
            String::from_utf8_lossy(&out).trim().parse().unwrap()
        });
        t.proc(i).stop();
        b.rows.push(Row {
            case: format!(
                "POP3 download of {POP3_MESSAGES} x 20 KB, 40 ms RTT, look-ahead {}: time",
                if lookahead { "on" } else { "off" }
            ),
            unit: "s",
            better: "lower",
            direct: d,
            proxied: p,
            target: Some(("<=", target)),
        });
    }
}
