//! TLS rows: POP3S (implicit TLS, dovecot on 995) and SMTP submission over STARTTLS
//! (postfix on 587), direct and intercepted by portcullis (its local CA minting the leaf,
//! the server leg verified against the topology's test CA), alternating in the same run.
//! Clients trust both CAs, so the direct and the intercepted runs use the same client.
use std::fs;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::floor::{Floor, Via, client_intake_row, relay_row};
use crate::{
    Bench, ProxyCost, Row, alternate, curl_time, idle_rss_per_session, median, nft, reps, shape,
};

const NAME: &str = "mail.portcullis.test";
/// Client processes opening sessions at once in the handshake-rate case.
const HANDSHAKE_PROCS: usize = 4;
/// Sessions each of them opens per timed run.
const HANDSHAKES_PER_PROC: usize = 150;
/// Sessions held open in the idle-memory case.
const IDLE_SESSIONS: usize = 2000;

/// A POP3S session: connect, TLS handshake verified for NAME, the server's greeting.
/// `timed(n)` returns the seconds each of `n` sessions took to its finished handshake.
const POP3S_SESSION: &str = r#"
import time
CTX = ssl.create_default_context(cafile=BUNDLE)
def session():
    s = socket.create_connection((NAME, 995), timeout=60)
    t = CTX.wrap_socket(s, server_hostname=NAME)
    greeting = t.recv(200)
    assert greeting.startswith(b'+OK'), greeting
    return t
def timed(n):
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        s = socket.create_connection((NAME, 995), timeout=60)
        t = CTX.wrap_socket(s, server_hostname=NAME)
        lat.append(time.perf_counter() - t0)
        assert t.recv(200).startswith(b'+OK')
        t.close()
    return lat
"#;

fn prelude(bundle: &str) -> String {
    format!("NAME = {NAME:?}\nBUNDLE = {bundle:?}\n{POP3S_SESSION}")
}

pub fn cases(b: &mut Bench) {
    let mut t = Topology::new("btls");
    t.start_dovecot_with(
        "service_count = 0\n  client_limit = 5000\n  process_min_avail = 2",
        "default_client_limit = 5000\ndefault_process_limit = 1000\nprotocol pop3 {\n  mail_max_userip_connections = 10000\n}\n",
    );
    t.start_postfix();
    let large = large_message(25 * 1024 * 1024);
    t.deliver("bob", "1", &large);
    t.name_the_server();
    let d = t.dir.path().display().to_string();
    let cfg = t.write_config(&format!(
        "[limits]\nmax_connections = 5000\nmax_connections_per_client = 5000\n\
         [[abuse.rate]]\nscope = \"client\"\nwhat = \"messages\"\nmax = 100000000\nwindow_secs = 60\n\
         [tls]\nca_dir = \"{d}/ca\"\nextra_ca_file = \"{d}/tls/ca.crt\"\n\
         [[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10995\"\nintercept_ports = [995]\nimplicit_tls = true\n\
         [[listener]]\nprotocol = \"smtp\"\nlisten = \"[::]:10025\"\nintercept_ports = [587]\n\
         [[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n"
    ));
    let c = cfg.display().to_string();
    let pem = t.init_ca(&cfg);
    let bundle = format!("{d}/clients-trust.pem");
    let mut both = fs::read(&pem).unwrap();
    both.extend(fs::read(format!("{d}/tls/ca.crt")).unwrap());
    fs::write(&bundle, both).unwrap();
    let pi = t.start_portcullis(&cfg);

    let pid = t.proc(pi).pid();
    let floor = Floor::start(&mut t, &cfg, &[(10995, 995), (10025, 587), (10110, 110)]);
    for tls in [true, false] {
        retr_case(b, &t, &c, &floor, &bundle, tls);
    }
    for bundle in [Some(bundle.as_str()), None] {
        client_intake_row(b, &mut t, &large, "the 25 MB message", bundle);
    }
    handshake_rate_case(b, &t, &c, &bundle);
    for tls in [true, false] {
        smtp_case(b, &t, &c, &floor, &bundle, pid, tls);
    }
    // Latency and memory on a freshly started portcullis: no leaf cached yet, and no heap
    // left behind by the cases above.
    t.proc(pi).stop();
    latency_cases(b, &mut t, &cfg, &bundle);
    idle_memory_case(b, &mut t, &cfg, &bundle);
}

/// curl's time to the last byte of the 25 MB message over POP3S, 100 Mbit/s server link;
/// `tls` false: the same over plain POP3 in the same run, for comparison. Each also
/// through a plain TCP relay.
fn retr_case(b: &mut Bench, t: &Topology, cfg: &str, floor: &Floor, bundle: &str, tls: bool) {
    let url = format!("{}://{NAME}/1", if tls { "pop3s" } else { "pop3" });
    shape(t, true);
    let runs = floor.alternate(t, cfg, |t, _| {
        curl_time(t, "bob:bobpw", &url, &["--cacert", bundle])
    });
    shape(t, false);
    let case = if tls {
        "POP3S RETR 25 MB behind a 100 Mbit/s server link: time to last byte"
    } else {
        "(same run, plain POP3 for comparison) RETR 25 MB behind a 100 Mbit/s server link"
    };
    b.rows.push(Row {
        case: case.into(),
        unit: "s",
        better: "lower",
        direct: runs[0].clone(),
        proxied: runs[1].clone(),
        target: tls.then_some(("<=", 1.05)),
    });
    let what = if tls { "POP3S" } else { "plain POP3" };
    let what = format!("{what} RETR 25 MB behind a 100 Mbit/s server link: time to last byte");
    b.rows.push(relay_row(&what, "s", "lower", &runs));
}

/// New POP3S sessions per second (handshake and greeting), several clients at once; the
/// leaf is cached after the first session of the first intercepted run.
fn handshake_rate_case(b: &mut Bench, t: &Topology, cfg: &str, bundle: &str) {
    let script = format!(
        "{}\nimport multiprocessing\n\
         def worker(_):\n    for _ in range({HANDSHAKES_PER_PROC}):\n        session().close()\n\
         pool = multiprocessing.get_context('fork').Pool({HANDSHAKE_PROCS})\n\
         t0 = time.time()\npool.map(worker, range({HANDSHAKE_PROCS}))\ndt = time.time() - t0\n\
         out.write(b'%f' % ({HANDSHAKE_PROCS} * {HANDSHAKES_PER_PROC} / dt))\n",
        prelude(bundle)
    );
    let (d, p) = alternate(t, cfg, reps(), |t| {
        String::from_utf8_lossy(&t.python_client(SERVER_V4, &script))
            .parse()
            .unwrap()
    });
    b.rows.push(Row {
        case: format!(
            "new POP3S sessions per second, {HANDSHAKE_PROCS} clients at once, cached leaf"
        ),
        unit: "sessions/s",
        better: "higher",
        direct: d,
        proxied: p,
        target: Some((">=", 0.5)),
    });
}

/// smtplib: STARTTLS and AUTH on 587, then 1,000 messages of 20 KB on the one connection,
/// with the proxy's CPU time per message; `tls` false: the same without STARTTLS. Each
/// also through a plain TCP relay.
fn smtp_case(
    b: &mut Bench,
    t: &Topology,
    cfg: &str,
    floor: &Floor,
    bundle: &str,
    pid: u32,
    tls: bool,
) {
    let starttls = if tls {
        "s.starttls(context=ssl.create_default_context(cafile=BUNDLE))\ns.ehlo('bench.test')"
    } else {
        ""
    };
    let script = format!(
        r#"
import smtplib, time
BUNDLE = {bundle:?}
body = b'From: a@example.test\r\nTo: alice@example.test\r\nSubject: bench\r\n\r\n' + (b'y' * 78 + b'\r\n') * 256
s = smtplib.SMTP({NAME:?}, 587, timeout=120)
s.ehlo('bench.test')
{starttls}
s.login('alice', 'alicepw')
t0 = time.time()
for i in range(1000):
    s.sendmail('a@example.test', ['alice@example.test'], body)
dt = time.time() - t0
s.quit()
out.write(b'%f' % (1000 / dt))
"#
    );
    let mut cost = ProxyCost::new(pid);
    let runs = floor.alternate(t, cfg, |t, via| {
        // Let the previous run's deliveries finish first (postfix delivers after the 250).
        let deadline = Instant::now() + Duration::from_secs(120);
        while !t.postfix_idle() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let run = || {
            String::from_utf8_lossy(&t.python_client(SERVER_V4, &script))
                .parse()
                .unwrap()
        };
        match via {
            Via::Relay => run(),
            _ => cost.measure(1000.0, run),
        }
    });
    let label = if tls {
        "SMTP submission over STARTTLS"
    } else {
        "(same run, no STARTTLS for comparison) SMTP submission"
    };
    let case = format!("{label}, 1,000 × 20 KB on one connection: rate");
    b.rows.push(Row {
        case: case.clone(),
        unit: "msg/s",
        better: "higher",
        direct: runs[0].clone(),
        proxied: runs[1].clone(),
        target: tls.then_some((">=", 0.9)),
    });
    let what = if tls {
        "over STARTTLS"
    } else {
        "without STARTTLS"
    };
    let what = format!("SMTP submission {what}, 1,000 × 20 KB on one connection: rate");
    b.rows.push(relay_row(&what, "msg/s", "higher", &runs));
    cost.rows(b, label);
}

/// Time to a finished client handshake: the first session through a fresh portcullis
/// (leaf minted), then sessions with the leaf cached, against direct sessions.
fn latency_cases(b: &mut Bench, t: &mut Topology, cfg: &std::path::Path, bundle: &str) {
    let c = cfg.display().to_string();
    let script = format!(
        "{}\nout.write(' '.join('%f' % (x * 1000) for x in timed(20)).encode())\n",
        prelude(bundle)
    );
    let run = |t: &Topology| -> Vec<f64> {
        String::from_utf8_lossy(&t.python_client(SERVER_V4, &script))
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let (mut direct, mut mint, mut cached) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps() {
        nft(t, &c, "remove");
        direct.push(median(&run(t)));
        let pi = t.start_portcullis(cfg);
        let lat = run(t);
        mint.push(lat[0]);
        cached.push(median(&lat[1..]));
        t.proc(pi).stop();
    }
    let logs = t.session_logs();
    assert!(
        logs.contains("leaf=minted") && logs.contains("leaf=cached"),
        "sessions log whether their leaf was minted or cached: {logs}"
    );
    b.rows.push(Row {
        case: "POP3S handshake latency, first session for a name (leaf minted)".into(),
        unit: "ms",
        better: "lower",
        direct: Vec::new(),
        proxied: mint,
        target: None,
    });
    b.rows.push(Row {
        case: "POP3S handshake latency, cached leaf (median of 19 sessions)".into(),
        unit: "ms",
        better: "lower",
        direct,
        proxied: cached,
        target: None,
    });
}

/// 2,000 POP3S sessions held open through a freshly started portcullis, after one session
/// that minted the leaf: the resident set's rise per session.
fn idle_memory_case(b: &mut Bench, t: &mut Topology, cfg: &std::path::Path, bundle: &str) {
    let pi = t.start_portcullis(cfg);
    let pid = t.proc(pi).pid();
    t.python_client(
        SERVER_V4,
        &format!("{}\nsession().close()\n", prelude(bundle)),
    );
    std::thread::sleep(Duration::from_millis(500));
    let opener = format!(
        "import socket, ssl\n{}\nheld = [session() for _ in range({IDLE_SESSIONS})]\n",
        prelude(bundle)
    );
    let per_session = idle_rss_per_session(t, pid, "tls-idle", &opener, IDLE_SESSIONS);
    b.rows.push(Row {
        case: format!("{IDLE_SESSIONS} idle POP3S sessions: proxy memory per session"),
        unit: "KiB",
        better: "lower",
        direct: Vec::new(),
        proxied: vec![per_session],
        target: Some(("<=", 48.0)),
    });
}
