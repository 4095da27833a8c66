//! IMAP rows (dovecot on 143): a range fetch of 1,000 × 20 KB unthrottled and behind the
//! 100 Mbit/s server link, the same fetch again served from the verdict cache (rescans
//! counted in the session log's `cache=miss` lines), a 25 MB message fetched in 64 KiB
//! partial chunks as Thunderbird does, and 2,000 idle logged-in sessions. A proxied run
//! that must scan goes through a freshly started portcullis, so nothing is remembered.
use std::fs;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::{Bench, Row, idle_rss_per_session, nft, proc_costs, reps, shape};

const IMAP_LISTENER: &str =
    "[[listener]]\nprotocol = \"imap\"\nlisten = \"[::]:10143\"\nintercept_ports = [143]\n";
/// Messages of 20 KB in alice's mailbox, fetched in one `UID FETCH`.
const MESSAGES: usize = 1000;
/// Sessions held open in the idle-memory case; one in `IDLE_EVERY` is in IDLE.
const IDLE_SESSIONS: usize = 2000;
const IDLE_EVERY: usize = 4;

/// Helpers every script gets: `login(user)` logs in and selects INBOX, `lits(d)` the
/// literals of a FETCH answer.
const PRELUDE: &str = r#"
import imaplib, time
imaplib._MAXLINE = 1 << 30
def login(user):
    M = imaplib.IMAP4(HOST, 143, timeout=300)
    M.login(user, user + 'pw')
    typ, d = M.select('INBOX')
    assert typ == 'OK', d
    return M
def lits(d):
    return [x[1] for x in d if isinstance(x, tuple)]
"#;

/// alice's whole mailbox in one command; writes messages per second.
fn range_fetch_script() -> String {
    format!(
        "{PRELUDE}\nM = login('alice')\nt0 = time.time()\n\
         typ, d = M.uid('FETCH', '1:{MESSAGES}', '(BODY.PEEK[])')\ndt = time.time() - t0\n\
         assert typ == 'OK', d[-1:]\nl = lits(d)\n\
         assert len(l) == {MESSAGES} and min(map(len, l)) >= 20000, (len(l), min(map(len, l)))\n\
         M.logout()\nout.write(b'%f' % ({MESSAGES} / dt))\n"
    )
}

/// bob's 25 MB message in `BODY.PEEK[]<offset.65536>` pieces until a short one; writes
/// the seconds from the first request to the first and to the last piece.
const CHUNKED: &str = r#"
M = login('bob')
t0 = time.time()
off = 0
first = None
while True:
    typ, d = M.uid('FETCH', '1', '(BODY.PEEK[]<%d.65536>)' % off)
    assert typ == 'OK', d
    first = first or time.time() - t0
    l = lits(d)
    n = len(l[0]) if l else 0
    off += n
    if n < 65536:
        break
dt = time.time() - t0
assert off >= 25 * 1024 * 1024, off
M.logout()
out.write(b'%f %f' % (first, dt))
"#;

pub fn cases(b: &mut Bench) {
    let mut t = Topology::new("bimap");
    t.start_dovecot_with(
        "",
        "default_client_limit = 5000\ndefault_process_limit = 1000\n\
         protocol imap {\n  mail_max_userip_connections = 10000\n}\n\
         service imap-login {\n  service_count = 0\n  client_limit = 5000\n  process_min_avail = 2\n}\n\
         service imap {\n  service_count = 0\n  client_limit = 100\n  process_limit = 100\n}\n",
    );
    t.deliver("bob", "1", &large_message(25 * 1024 * 1024));
    let new = t.path("dovecot/mail/alice/Maildir/new");
    for i in 0..MESSAGES {
        let m = large_message(20 * 1024);
        let lf: Vec<u8> = m.iter().copied().filter(|&c| c != b'\r').collect();
        fs::write(new.join(format!("{i:05}.bench")), lf).unwrap();
    }
    sh(&[
        "chown",
        "-R",
        "nobody:nogroup",
        &t.path("dovecot/mail").display().to_string(),
    ]);
    let cfg = t.write_config(&format!(
        "[limits]\nmax_connections = 5000\nmax_connections_per_client = 5000\n{IMAP_LISTENER}"
    ));
    let pi = t.start_portcullis(&cfg);
    let mut f = Fresh { t, cfg, pi };
    let range = range_fetch_script();
    // Once direct, unmeasured: dovecot builds its index and the page cache fills.
    f.direct();
    f.t.python_client(SERVER_V4, &format!("{PRELUDE}{CHUNKED}"));
    f.t.python_client(SERVER_V4, &range);

    range_case(b, &mut f, &range, false);
    shape(&f.t, true);
    range_case(b, &mut f, &range, true);
    chunked_case(b, &mut f);
    shape(&f.t, false);
    idle_memory_case(b, &mut f, false);
    idle_memory_case(b, &mut f, true);
}

/// The topology with portcullis, restarted whenever a run must find nothing remembered.
struct Fresh {
    t: Topology,
    cfg: std::path::PathBuf,
    pi: usize,
}

impl Fresh {
    /// Stops portcullis and removes its rules: the client reaches dovecot through the
    /// gateway's routing.
    fn direct(&mut self) {
        self.t.proc(self.pi).stop();
        nft(&self.t, &self.cfg.display().to_string(), "remove");
    }

    /// Starts portcullis (and its rules) afresh: an empty verdict cache, a new heap.
    fn proxied(&mut self) -> u32 {
        self.pi = self.t.start_portcullis(&self.cfg);
        self.t.proc(self.pi).pid()
    }

    /// Runs a script in the client namespace and parses the one number it writes.
    fn run(&self, script: &str) -> f64 {
        String::from_utf8_lossy(&self.t.python_client(SERVER_V4, script))
            .trim()
            .parse()
            .unwrap()
    }

    /// Counts the session logs' `cache=hit` and `cache=miss` lines, waiting (bounded)
    /// until they add up to at least `at_least` (the session log is written as it ends).
    fn cache_lines(&self, at_least: usize) -> (usize, usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let logs = self.t.session_logs();
            let n = (
                logs.matches("cache=hit").count(),
                logs.matches("cache=miss").count(),
            );
            if n.0 + n.1 >= at_least || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The proxy's CPU time per message over one run, in µs.
fn cpu_per_message(pid: u32, run: impl FnOnce() -> f64) -> (f64, f64) {
    let before = proc_costs(pid);
    let v = run();
    let after = proc_costs(pid);
    (v, (after.0 - before.0) / MESSAGES as f64 * 1e6)
}

/// `UID FETCH 1:1000 BODY.PEEK[]`: direct, through a fresh portcullis (every message
/// scanned) and, unthrottled, once more in a new session (every verdict remembered).
fn range_case(b: &mut Bench, f: &mut Fresh, script: &str, shaped: bool) {
    let (mut d, mut p, mut again) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu, mut cpu_again, mut rescans) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps() {
        f.direct();
        d.push(f.run(script));
        let pid = f.proxied();
        let (v, c) = cpu_per_message(pid, || f.run(script));
        p.push(v);
        cpu.push(c);
        if shaped {
            continue;
        }
        let (hits, misses) = f.cache_lines(0);
        let (v, c) = cpu_per_message(pid, || f.run(script));
        again.push(v);
        cpu_again.push(c);
        let after = f.cache_lines(hits + misses + MESSAGES);
        rescans.push((after.1 - misses) as f64);
    }
    let what = format!("IMAP UID FETCH 1:{MESSAGES} BODY.PEEK[] of 1,000 × 20 KB");
    let link = if shaped {
        " behind a 100 Mbit/s server link"
    } else {
        ", unthrottled"
    };
    let row = |case: String, direct: Vec<f64>, proxied: Vec<f64>, target| Row {
        case,
        unit: "msg/s",
        better: "higher",
        direct,
        proxied,
        target,
    };
    let target = if shaped { 0.98 } else { 0.8 };
    b.rows.push(row(
        format!("{what}{link}: rate"),
        d.clone(),
        p,
        Some((">=", target)),
    ));
    if shaped {
        return;
    }
    b.rows.push(row(
        format!("{what} again, verdicts remembered: rate"),
        d,
        again,
        Some((">=", 0.9)),
    ));
    b.rows.push(Row {
        case: format!("{what} again: messages scanned again"),
        unit: "messages",
        better: "lower",
        direct: Vec::new(),
        proxied: rescans,
        target: Some(("<=", 0.0)),
    });
    for (label, values) in [("scanned", cpu), ("remembered", cpu_again)] {
        b.rows.push(Row {
            case: format!("IMAP range fetch ({label}): proxy CPU time per message"),
            unit: "µs",
            better: "lower",
            direct: Vec::new(),
            proxied: values,
            target: None,
        });
    }
}

/// The 25 MB message in 64 KiB pieces behind the 100 Mbit/s server link: time from the
/// first request to the first and to the last piece, direct and through a fresh portcullis.
fn chunked_case(b: &mut Bench, f: &mut Fresh) {
    let script = format!("{PRELUDE}{CHUNKED}");
    let run = |f: &Fresh| -> Vec<f64> {
        String::from_utf8_lossy(&f.t.python_client(SERVER_V4, &script))
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let (mut d, mut p) = (Vec::new(), Vec::new());
    for _ in 0..reps() {
        f.direct();
        d.push(run(f));
        f.proxied();
        p.push(run(f));
    }
    let what = "IMAP 25 MB message in 64 KiB partial fetches (BODY.PEEK[]<n.65536>) behind a 100 Mbit/s server link";
    for (i, piece, target) in [(0, "first", None), (1, "last", Some(("<=", 1.1)))] {
        b.rows.push(Row {
            case: format!("{what}: time to the {piece} piece"),
            unit: "s",
            better: "lower",
            direct: d.iter().map(|v| v[i]).collect(),
            proxied: p.iter().map(|v| v[i]).collect(),
            target,
        });
    }
}

/// 2,000 IMAP sessions logged in with INBOX selected, one in four in IDLE, held open
/// through a freshly started portcullis after one session: the resident set's rise per
/// session.
/// Memory per idle session; `fetched`: each session has read one 20 KB message first
/// (what a client does before it waits), so what a session keeps after carrying a
/// message counts too.
fn idle_memory_case(b: &mut Bench, f: &mut Fresh, fetched: bool) {
    f.direct();
    let pid = f.proxied();
    f.t.python_client(SERVER_V4, &format!("{PRELUDE}\nlogin('bob').logout()\n"));
    std::thread::sleep(Duration::from_millis(500));
    let (user, fetch) = if fetched {
        (
            "alice",
            format!("cmd(s, r, b'd', b'UID FETCH %d BODY.PEEK[]' % (i % {MESSAGES} + 1))"),
        )
    } else {
        ("bob", String::new())
    };
    let opener = format!(
        r#"import socket, time
def cmd(s, r, tag, line):
    s.sendall(tag + b' ' + line + b'\r\n')
    while True:
        l = r.readline()
        assert l, 'connection closed'
        if l.startswith(tag + b' '):
            assert l.startswith(tag + b' OK'), l
            return
held = []
for i in range({IDLE_SESSIONS}):
    s = socket.create_connection(({SERVER_V4:?}, 143), timeout=60)
    r = s.makefile('rb')
    assert r.readline().startswith(b'* OK')
    cmd(s, r, b'a', b'LOGIN {user} {user}pw')
    cmd(s, r, b'b', b'SELECT INBOX')
    {fetch}
    if i % {IDLE_EVERY} == 0:
        s.sendall(b'c IDLE\r\n')
        l = r.readline()
        assert l.startswith(b'+'), l
    held.append((s, r))
"#
    );
    let name = if fetched {
        "imap-idle-fetched"
    } else {
        "imap-idle"
    };
    let per_session = idle_rss_per_session(&f.t, pid, name, &opener, IDLE_SESSIONS);
    let what = if fetched {
        ", each after fetching a 20 KB message"
    } else {
        ""
    };
    b.rows.push(Row {
        case: format!(
            "{IDLE_SESSIONS} idle IMAP sessions (logged in, INBOX selected, 1 in {IDLE_EVERY} in IDLE{what}): proxy memory per session"
        ),
        unit: "KiB",
        better: "lower",
        direct: Vec::new(),
        proxied: vec![per_session],
        target: Some(("<=", 32.0)),
    });
}
