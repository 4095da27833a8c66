//! portcullis benchmark: every case runs on the test topology (client / gateway / server
//! namespaces, real dovecot, postfix and clamd), once with the client talking to the server
//! routed through the gateway (direct, nft rules removed) and once redirected through
//! portcullis, alternating, several times in the same run. Results are written as a
//! markdown table and a JSON file in bench/results/. Run it with `bench/run` (root).
#[path = "../tests/common/mod.rs"]
mod common;
mod floor;
mod imap;
#[path = "memory.rs"]
mod memory;
mod rtt;
mod rtt_imap;
mod tls;

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn reps() -> usize {
    std::env::var("PORTCULLIS_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return f64::NAN;
    }
    if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

/// One line of the results.
struct Row {
    case: String,
    unit: &'static str,
    /// "higher" when more is better (throughput), "lower" for times and memory.
    better: &'static str,
    direct: Vec<f64>,
    proxied: Vec<f64>,
    /// Target on the ratio proxied/direct (or on the absolute value when `direct` is empty).
    target: Option<(&'static str, f64)>,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        (!self.direct.is_empty()).then(|| median(&self.proxied) / median(&self.direct))
    }

    fn value_for_target(&self) -> f64 {
        self.ratio().unwrap_or_else(|| median(&self.proxied))
    }

    fn met(&self) -> Option<bool> {
        self.target.map(|(op, t)| {
            let v = self.value_for_target();
            if op == "<=" { v <= t } else { v >= t }
        })
    }
}

fn fmt_stat(v: &[f64]) -> String {
    if v.is_empty() {
        return "–".into();
    }
    let (lo, hi) = min_max(v);
    format!("{:.3} ({:.3}–{:.3})", median(v), lo, hi)
}

struct Bench {
    rows: Vec<Row>,
}

fn nft(t: &Topology, cfg: &str, action: &str) {
    let bin = env!("CARGO_BIN_EXE_portcullis");
    t.ns(&t.gw_ns.clone(), &[bin, "nft", action, "--config", cfg]);
}

/// Runs `f` alternately direct and through portcullis, `reps` times each.
fn alternate(
    t: &Topology,
    cfg: &str,
    reps: usize,
    mut f: impl FnMut(&Topology) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let (mut d, mut p) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        nft(t, cfg, "remove");
        d.push(f(t));
        nft(t, cfg, "apply");
        p.push(f(t));
    }
    (d, p)
}

/// The proxy's resident set rise per session while the client namespace holds `sessions`
/// idle sessions open. `opener` is a Python script that opens them and keeps them
/// referenced; this adds the signal that they are up, then holds them for a few seconds.
fn idle_rss_per_session(t: &Topology, pid: u32, name: &str, opener: &str, sessions: usize) -> f64 {
    let before = rss_kib(pid);
    let ready = t.path(&format!("{name}-ready"));
    let script = t.path(&format!("{name}.py"));
    std::fs::write(
        &script,
        format!(
            "{opener}\nimport time\nopen({:?}, 'w').write('up')\ntime.sleep(8)\n",
            ready.display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &t.client_ns, "python3"])
        .arg(&script)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !ready.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ready.exists(), "{sessions} {name} sessions opened");
    std::thread::sleep(Duration::from_millis(1000));
    let during = rss_kib(pid);
    let _ = child.wait();
    (during - before) / sessions as f64
}

fn rss_kib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// curl's time to the last byte of RETR `n` for bob, in seconds.
fn curl_retr(t: &Topology, n: u32) -> f64 {
    curl_time(t, "bob:bobpw", &format!("pop3://{SERVER_V4}/{n}"), &[])
}

/// curl's time to the last byte of `url` fetched from the client namespace as `user`
/// (`extra`: more curl options), in seconds.
pub(crate) fn curl_time(t: &Topology, user: &str, url: &str, extra: &[&str]) -> f64 {
    let mut args = vec!["curl", "-sS", "--max-time", "300"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-o", "/dev/null", "-w", "%{time_total}", "-u", user, url]);
    let out = t.ns_output(&t.client_ns, &args);
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn shape(t: &Topology, on: bool) {
    let pairs = [
        (t.server_ns.clone(), format!("pc{}sv", t.tag)),
        (t.gw_ns.clone(), format!("pc{}gw", t.tag)),
    ];
    for (ns, dev) in pairs {
        if on {
            t.ns(
                &ns,
                &[
                    "tc", "qdisc", "add", "dev", &dev, "root", "tbf", "rate", "100mbit", "burst",
                    "256kbit", "latency", "50ms",
                ],
            );
        } else {
            t.ns(&ns, &["tc", "qdisc", "del", "dev", &dev, "root"]);
        }
    }
}

fn pop3_cases(b: &mut Bench, only_mailbox: bool) {
    let mut t = Topology::new("bpop");
    t.start_dovecot_with(
        "service_count = 0\n  client_limit = 5000\n  process_min_avail = 2",
        "default_client_limit = 5000\ndefault_process_limit = 1000\nprotocol pop3 {\n  mail_max_userip_connections = 10000\n}\n",
    );
    // bob: a 1 MB and a 25 MB message; alice: 1000 messages of 20 KB.
    t.deliver("bob", "1", &large_message(1024 * 1024));
    t.deliver("bob", "2", &large_message(25 * 1024 * 1024));
    let new = t.path("dovecot/mail/alice/Maildir/new");
    for i in 0..1000 {
        let m = large_message(20 * 1024);
        let lf: Vec<u8> = m.iter().copied().filter(|&c| c != b'\r').collect();
        std::fs::write(new.join(format!("{i:05}.bench")), lf).unwrap();
    }
    sh(&[
        "chown",
        "-R",
        "nobody:nogroup",
        &t.path("dovecot/mail").display().to_string(),
    ]);
    let cfg = t.write_config(
        "[limits]\nmax_connections = 5000\nmax_connections_per_client = 5000\n\
         [[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n",
    );
    let pi = t.start_portcullis(&cfg);
    let cfg = cfg.display().to_string();
    let pid = t.proc(pi).pid();
    if only_mailbox {
        mailbox_case(b, &t, &cfg, pid, Mailbox::Plain);
        shape(&t, true);
        mailbox_case(b, &t, &cfg, pid, Mailbox::Shaped);
        shape(&t, false);
        return;
    }

    for (n, size, mb) in [(1u32, "1 MB", 1.0), (2, "25 MB", 25.0)] {
        let (d, p) = alternate(&t, &cfg, reps(), |t| curl_retr(t, n));
        b.rows.push(Row {
            case: format!("POP3 RETR {size}, unthrottled: throughput"),
            unit: "MB/s",
            better: "higher",
            direct: d.iter().map(|s| mb / s).collect(),
            proxied: p.iter().map(|s| mb / s).collect(),
            target: (n == 2).then_some((">=", 0.6)),
        });
    }
    shape(&t, true);
    for (n, size, target) in [(1u32, "1 MB", 1.3), (2, "25 MB", 1.15)] {
        let (d, p) = alternate(&t, &cfg, reps(), |t| curl_retr(t, n));
        b.rows.push(Row {
            case: format!("POP3 RETR {size} behind a 100 Mbit/s server link: time to last byte"),
            unit: "s",
            better: "lower",
            direct: d,
            proxied: p,
            target: Some(("<=", target)),
        });
    }
    mailbox_case(b, &t, &cfg, pid, Mailbox::Shaped);
    shape(&t, false);
    mailbox_case(b, &t, &cfg, pid, Mailbox::Plain);

    // 200 clients downloading the 1 MB message at once (curl processes).
    let conc = |t: &Topology| -> (f64, f64) {
        let script = format!(
            "cd {dir} && rm -f times && t0=$(date +%s.%N) && for i in $(seq 200); do \
             curl -sS --max-time 300 -o /dev/null -w '%{{time_total}}\\n' -u bob:bobpw pop3://{SERVER_V4}/1 >> times & done; wait; \
             t1=$(date +%s.%N); echo \"$t0 $t1\"",
            dir = t.dir.path().display()
        );
        let out = t.ns_output(&t.client_ns, &["bash", "-c", &script]);
        let wall: Vec<f64> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let times: Vec<f64> = std::fs::read_to_string(t.path("times"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect();
        assert_eq!(times.len(), 200, "all 200 downloads finished");
        let slowest = times.iter().cloned().fold(0.0, f64::max);
        (200.0 * 1.0 / (wall[1] - wall[0]), slowest)
    };
    let (mut dt, mut pt, mut ds, mut ps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps() {
        nft(&t, &cfg, "remove");
        let (th, sl) = conc(&t);
        dt.push(th);
        ds.push(sl);
        nft(&t, &cfg, "apply");
        let (th, sl) = conc(&t);
        pt.push(th);
        ps.push(sl);
    }
    b.rows.push(Row {
        case: "200 clients downloading 1 MB at once: total throughput".into(),
        unit: "MB/s",
        better: "higher",
        direct: dt,
        proxied: pt,
        target: None,
    });
    b.rows.push(Row {
        case: "200 clients downloading 1 MB at once: slowest client".into(),
        unit: "s",
        better: "lower",
        direct: ds,
        proxied: ps,
        target: None,
    });

    // 2,000 idle sessions held open through a freshly started portcullis, so the heap
    // the earlier cases left behind does not hide what the sessions cost.
    t.proc(pi).stop();
    let pi = t.start_portcullis(std::path::Path::new(&cfg));
    let pid = t.proc(pi).pid();
    std::thread::sleep(Duration::from_millis(300));
    let opener = format!(
        "import socket\nheld = []\nfor i in range(2000):\n    c = socket.create_connection(({SERVER_V4:?}, 110), timeout=30)\n    assert c.recv(200).startswith(b'+OK')\n    held.append(c)\n"
    );
    let per_session = idle_rss_per_session(&t, pid, "idle-pop3", &opener, 2000);
    b.rows.push(Row {
        case: "2,000 idle POP3 sessions: proxy memory per session".into(),
        unit: "KiB",
        better: "lower",
        direct: Vec::new(),
        proxied: vec![per_session],
        target: Some(("<=", 32.0)),
    });
}

/// How the mailbox case runs.
#[derive(Clone, Copy, PartialEq)]
enum Mailbox {
    /// poplib asks for each message in turn: the target case.
    Plain,
    /// The same behind the 100 Mbit/s server link, for comparison.
    Shaped,
}

/// Messages per second for poplib fetching alice's 1,000 messages one after another, and
/// what each message costs the proxy: CPU time and context switches, read from /proc.
fn mailbox_case(b: &mut Bench, t: &Topology, cfg: &str, proxy_pid: u32, mode: Mailbox) {
    let mailbox = r#"
import time
p = poplib.POP3(HOST, 110, timeout=120)
p.user('alice'); p.pass_('alicepw')
t0 = time.time()
for i in range(1, 1001):
    p.retr(i)
dt = time.time() - t0
p.quit()
out.write(b'%f' % (1000 / dt))
"#;
    let mut cost = ProxyCost::new(proxy_pid);
    let (d, p) = alternate(t, cfg, reps(), |t| {
        cost.measure(1000.0, || {
            String::from_utf8_lossy(&t.python_client(SERVER_V4, mailbox))
                .parse()
                .unwrap()
        })
    });
    b.rows.push(Row {
        case: match mode {
            Mailbox::Plain => "POP3 mailbox of 1,000 × 20 KB (poplib)".into(),
            Mailbox::Shaped => {
                "POP3 mailbox of 1,000 × 20 KB (poplib) behind a 100 Mbit/s server link".into()
            }
        },
        unit: "msg/s",
        better: "higher",
        direct: d,
        proxied: p,
        target: (mode == Mailbox::Plain).then_some((">=", 0.9)),
    });
    if mode == Mailbox::Plain {
        cost.rows(b, "POP3 mailbox");
    }
}

/// The proxy's own cost per message over the proxied runs of an alternating case.
struct ProxyCost {
    pid: u32,
    runs: usize,
    cpu_us: Vec<f64>,
    switches: Vec<f64>,
}

impl ProxyCost {
    fn new(pid: u32) -> Self {
        ProxyCost {
            pid,
            runs: 0,
            cpu_us: Vec::new(),
            switches: Vec::new(),
        }
    }

    /// Wraps one run of `alternate` (direct first, then proxied, and so on).
    fn measure<T>(&mut self, messages: f64, run: impl FnOnce() -> T) -> T {
        let before = proc_costs(self.pid);
        let r = run();
        if self.runs % 2 == 1 {
            let after = proc_costs(self.pid);
            self.cpu_us.push((after.0 - before.0) / messages * 1e6);
            self.switches.push((after.1 - before.1) / messages);
        }
        self.runs += 1;
        r
    }

    fn rows(self, b: &mut Bench, label: &str) {
        for (what, unit, values) in [
            ("CPU time", "µs", self.cpu_us),
            ("context switches", "switches", self.switches),
        ] {
            b.rows.push(Row {
                case: format!("{label}: proxy {what} per message"),
                unit,
                better: "lower",
                direct: Vec::new(),
                proxied: values,
                target: None,
            });
        }
    }
}

/// CPU seconds and context switches (voluntary + involuntary) of a process's threads so
/// far, from the scheduler's own accounting (nanoseconds, unlike the 10 ms ticks of stat).
fn proc_costs(pid: u32) -> (f64, f64) {
    let (mut cpu_ns, mut switches) = (0.0, 0.0);
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let sched = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            cpu_ns += sched
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            for l in status.lines() {
                if l.starts_with("voluntary_ctxt_switches:")
                    || l.starts_with("nonvoluntary_ctxt_switches:")
                {
                    switches += l
                        .split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<f64>().ok())
                        .unwrap_or(0.0);
                }
            }
        }
    }
    (cpu_ns / 1e9, switches)
}

fn smtp_cases(b: &mut Bench) {
    let mut t = Topology::new("bsmtp");
    t.start_dovecot();
    // The NOOP round trips below are junk commands to postfix past its default 100.
    t.start_postfix_with("smtpd_junk_command_limit = 100000\n");
    let cfg = t.write_config(
        "[limits]\nmax_connections = 5000\nmax_connections_per_client = 5000\n\
         [[abuse.rate]]\nscope = \"client\"\nwhat = \"messages\"\nmax = 100000000\nwindow_secs = 60\n\
         [[listener]]\nprotocol = \"smtp\"\nlisten = \"[::]:10025\"\nintercept_ports = [25]\n",
    );
    let pi = t.start_portcullis(&cfg);
    let pid = t.proc(pi).pid();
    let cfg = cfg.display().to_string();
    let script = |conns: usize| {
        format!(
            r#"
import smtplib, time
body = b'From: a@example.test\r\nTo: alice@example.test\r\nSubject: bench\r\n\r\n' + (b'y' * 78 + b'\r\n') * 256
lat = []
def worker(count):
    s = smtplib.SMTP(HOST, 25, timeout=120)
    s.ehlo('bench.test')
    for i in range(count):
        s.mail('a@example.test'); s.rcpt('alice@example.test')
        t = time.time()
        code, _ = s.data(body)
        lat.append(time.time() - t)
        assert code == 250, code
    s.quit()
t0 = time.time()
ts = [threading.Thread(target=worker, args=(1000 // {conns},)) for _ in range({conns})]
[x.start() for x in ts]
[x.join() for x in ts]
dt = time.time() - t0
lat.sort()
out.write(b'%f %f %f' % (1000 / dt, lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000))
"#
        )
    };
    for conns in [1usize, 20] {
        let mut lat = Vec::new();
        let mut cost = ProxyCost::new(pid);
        let (d, p) = alternate(&t, &cfg, reps(), |t| {
            // Postfix delivers asynchronously: let the previous run's queue drain first, so
            // no run competes with the last one's deliveries for the CPU.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !t.postfix_idle() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let out = cost.measure(1000.0, || {
                String::from_utf8_lossy(&t.python_client(SERVER_V4, &script(conns))).to_string()
            });
            let v: Vec<f64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
            lat.push((v[1], v[2]));
            v[0]
        });
        b.rows.push(Row {
            case: format!("SMTP 1,000 × 20 KB over {conns} connection(s): rate"),
            unit: "msg/s",
            better: "higher",
            direct: d,
            proxied: p,
            target: Some((">=", 0.9)),
        });
        // `lat` alternates direct, proxied.
        let pick = |k: usize, which: usize| {
            lat.iter()
                .skip(k)
                .step_by(2)
                .map(|x| if which == 0 { x.0 } else { x.1 })
                .collect::<Vec<f64>>()
        };
        for (which, name) in [(0, "p50"), (1, "p99")] {
            b.rows.push(Row {
                case: format!("SMTP 1,000 × 20 KB over {conns} connection(s): {name} latency of the final reply"),
                unit: "ms",
                better: "lower",
                direct: pick(0, which),
                proxied: pick(1, which),
                target: None,
            });
        }
        cost.rows(b, &format!("SMTP over {conns} connection(s)"));
    }
    relay_case(b, &t, &cfg);
}

/// The time one relayed command takes, client to server and back: 2,000 NOOPs on one
/// connection, each waited for. Through portcullis it is what every relayed command of a
/// client that does not pipeline (MAIL, RCPT) costs on top of the server's own time.
fn relay_case(b: &mut Bench, t: &Topology, cfg: &str) {
    let script = r#"
import smtplib, time
s = smtplib.SMTP(HOST, 25, timeout=120)
s.ehlo('bench.test')
for i in range(100):
    s.noop()
t0 = time.time()
for i in range(2000):
    s.noop()
dt = time.time() - t0
s.quit()
out.write(b'%f' % (dt / 2000 * 1e6))
"#;
    let (d, p) = alternate(t, cfg, reps(), |t| {
        String::from_utf8_lossy(&t.python_client(SERVER_V4, script))
            .parse()
            .unwrap()
    });
    b.rows.push(Row {
        case: "SMTP NOOP round trip, 2,000 on one connection: time per command".into(),
        unit: "µs",
        better: "lower",
        direct: d,
        proxied: p,
        target: None,
    });
}

fn scan_cases(b: &mut Bench) {
    use portcullis::config::{Builtin, Clamd, Engine, Scan};
    use portcullis::scan::Pipeline;
    use portcullis::scan::builtin::BuiltinEngine;

    // A clean 25 MB message: text, a base64 attachment of pseudo-random bytes, a small zip.
    let mut rnd = Vec::with_capacity(17 * 1024 * 1024);
    let mut x: u64 = 0x9e3779b97f4a7c15;
    while rnd.len() < 17 * 1024 * 1024 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rnd.extend_from_slice(&x.to_le_bytes());
    }
    // multipart/mixed: a 1 MB text part, then the base64 attachment.
    let text = large_message(1024 * 1024);
    let text_body = &text[text.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    let attach = with_attachment("bench", "data.bin", &rnd);
    let at = attach
        .windows(15)
        .position(|w| w == b"See attachment.")
        .unwrap();
    let mut msg = attach[..at].to_vec();
    msg.extend_from_slice(text_body);
    msg.extend_from_slice(&attach[at + 15..]);
    assert!(
        !portcullis::message::mime::is_plain_single_part(&msg),
        "the bench message must be multipart"
    );
    let mb = msg.len() as f64 / 1e6;

    let engine = BuiltinEngine::new(&Builtin::default()).unwrap();
    let mut times = Vec::new();
    for _ in 0..reps() {
        let t0 = Instant::now();
        let v = engine.scan(&msg);
        times.push(t0.elapsed().as_secs_f64());
        assert_eq!(v, portcullis::scan::Verdict::Clean);
    }
    b.rows.push(Row {
        case: format!("builtin engine, clean {mb:.0} MB message with attachments (one core)"),
        unit: "MB/s",
        better: "higher",
        direct: Vec::new(),
        proxied: times.iter().map(|s| mb / s).collect(),
        target: Some((">=", 400.0)),
    });

    let mut t = Topology::new("bscan");
    let sock = t.start_clamd_with("DisableCache yes");
    let file = t.path("bench.eml");
    std::fs::write(&file, &msg).unwrap();
    let conf = t.path("clamd/clamd.conf").display().to_string();
    let scan_cfg = Scan {
        engines: vec![Engine::Clamd],
        max_scan_bytes: 100 * 1024 * 1024,
        clamd: Clamd {
            address: format!("unix:{}", sock.display()),
            max_stream_bytes: 90 * 1024 * 1024,
            ..Clamd::default()
        },
        ..Scan::default()
    };
    let pipeline = Pipeline::new(&scan_cfg, &std::env::temp_dir()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let spool_dir = t.dir.path().to_path_buf();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..reps() {
        let t0 = Instant::now();
        let out = Command::new("clamdscan")
            .args([
                &format!("--config-file={conf}"),
                "--stream",
                "--no-summary",
                &file.display().to_string(),
            ])
            .output()
            .unwrap();
        theirs.push(t0.elapsed().as_secs_f64());
        assert!(
            out.status.success(),
            "clamdscan: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let t0 = Instant::now();
        let verdict = rt.block_on(async {
            let mut spool = portcullis::message::spool::Spool::new(usize::MAX, &spool_dir);
            let mut m = pipeline.begin().await;
            for c in msg.chunks(64 * 1024) {
                spool.write(c).unwrap();
                m.feed(c).await;
            }
            m.finish(&mut spool).await.verdict
        });
        ours.push(t0.elapsed().as_secs_f64());
        assert_eq!(verdict, portcullis::scan::Verdict::Clean);
    }
    b.rows.push(Row {
        case: format!("clamd: portcullis INSTREAM path vs clamdscan --stream, {mb:.0} MB"),
        unit: "s",
        better: "lower",
        direct: theirs,
        proxied: ours,
        target: Some(("<=", 1.1)),
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--delay-forwarder") {
        return rtt::forwarder_main(&args[i + 1..]);
    }
    // `cargo bench` passes --bench; anything else (such as `cargo test --benches`) must not
    // start a benchmark: benchmarks are not tests.
    if !std::env::args().any(|a| a == "--bench") {
        println!("the benchmark runs with bench/run (cargo bench --bench proxy)");
        return;
    }
    let started = Instant::now();
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut b = Bench { rows: Vec::new() };
    let want = |name: &str| only.as_deref().is_none_or(|o| o == name);
    // The in-process scanner cases first, while no daemon is busy in the background.
    if want("scan") {
        scan_cases(&mut b);
    }
    if want("pop3") || want("mailbox") {
        pop3_cases(&mut b, only.as_deref() == Some("mailbox"));
    }
    if want("smtp") {
        smtp_cases(&mut b);
    }
    if want("memory") {
        memory::cases(&mut b);
    }
    if want("rtt") {
        rtt::rtt_cases(&mut b);
        rtt::pop3_rtt_cases(&mut b);
        rtt_imap::cases(&mut b);
    }
    if want("tls") {
        tls::cases(&mut b);
    }
    if want("imap") {
        imap::cases(&mut b);
    }

    let mut md = String::new();
    let _ = writeln!(
        md,
        "| case | unit | direct: median (min–max) | portcullis: median (min–max) | ratio | target | met |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    let mut json_rows = Vec::new();
    for r in &b.rows {
        let ratio = r
            .ratio()
            .map(|x| format!("{x:.2}"))
            .unwrap_or_else(|| "–".into());
        let target = r
            .target
            .map(|(op, v)| {
                if r.direct.is_empty() {
                    format!("{op} {v}")
                } else {
                    format!("ratio {op} {v}")
                }
            })
            .unwrap_or_else(|| "–".into());
        let met = match r.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {ratio} | {target} | {met} |",
            r.case,
            r.unit,
            fmt_stat(&r.direct),
            fmt_stat(&r.proxied)
        );
        json_rows.push(json!({
            "case": r.case, "unit": r.unit, "better": r.better,
            "direct": r.direct, "proxied": r.proxied,
            "direct_median": (!r.direct.is_empty()).then(|| median(&r.direct)),
            "proxied_median": median(&r.proxied),
            "ratio": r.ratio(), "target": r.target.map(|(op, v)| json!({"op": op, "value": v})),
            "met": r.met(),
        }));
    }
    let _ = writeln!(
        md,
        "\n{} rows, {:.0} s, {} repetitions per alternating case.",
        b.rows.len(),
        started.elapsed().as_secs_f64(),
        reps()
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("latest.md"), &md).unwrap();
    std::fs::write(
        dir.join("latest.json"),
        serde_json::to_string_pretty(
            &json!({"seconds": started.elapsed().as_secs_f64(), "rows": json_rows}),
        )
        .unwrap(),
    )
    .unwrap();
    print!("{md}");
}
