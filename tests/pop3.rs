//! POP3 through portcullis on a real network path: client namespace -> gateway namespace
//! (portcullis + its nftables rules) -> server namespace (dovecot), with real clamd and
//! spamd where a test needs them.
mod common;

use std::collections::BTreeMap;
use std::fs;

use common::*;

/// Python: fetch every message of a mailbox with poplib and write each one, keyed by its
/// Message-ID, to `<OUT>/<label>-<message-id>.eml`.
const FETCH_ALL: &str = r#"
def fetch_all(label, user='alice', pw='alicepw', outdir=None):
    p = poplib.POP3(HOST, 110, timeout=120)
    p.user(user); p.pass_(pw)
    count = len(p.list()[1])
    for i in range(1, count + 1):
        resp, lines, octets = p.retr(i)
        data = b'\r\n'.join(lines) + b'\r\n'
        mid = 'none'
        for l in lines:
            if l.lower().startswith(b'message-id:'):
                mid = l.split(b'<')[1].split(b'@')[0].decode()
                break
        open('%s/%s-%s.eml' % (outdir or OUT, label, mid), 'wb').write(data)
    p.quit()
    return count
"#;

fn fetch_script(t: &Topology, body: &str) -> String {
    format!(
        "OUT = {:?}\n{FETCH_ALL}\n{body}",
        t.dir.path().display().to_string()
    )
}

/// Fetches the mailbox from the server's own namespace, with no gateway in the way, as
/// label "direct".
fn fetch_direct(t: &Topology) {
    let server_ns = t.server_ns.clone();
    t.python_in(
        &server_ns,
        "127.0.0.1",
        &fetch_script(t, "fetch_all('direct')"),
    );
}

/// The fetched messages with a label, by message id.
fn fetched(t: &Topology, label: &str) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in fs::read_dir(t.dir.path()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if let Some(rest) = name.strip_prefix(&format!("{label}-"))
            && let Some(id) = rest.strip_suffix(".eml")
        {
            m.insert(id.to_string(), fs::read(&p).unwrap());
        }
    }
    m
}

/// Splits off the first header line, which must be our scan header.
fn strip_scan_header(msg: &[u8]) -> (String, &[u8]) {
    let eol = msg.iter().position(|&b| b == b'\n').expect("a line") + 1;
    let first = String::from_utf8_lossy(&msg[..eol]).trim_end().to_string();
    assert!(
        first.starts_with("X-Portcullis-Scan: "),
        "first line is not the scan header: {first:?}"
    );
    (first, &msg[eol..])
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    let head = msg.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

const POP3_LISTENER: &str =
    "[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n";

#[test]
fn clean_mail_arrives_byte_identical_over_ipv4_and_ipv6() {
    let mut t = Topology::new("clean");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("dots"));
    t.deliver(
        "alice",
        "2",
        &with_attachment("pdf", "report.pdf", b"%PDF-1.4 harmless bytes\n"),
    );
    t.deliver("alice", "3", &large_message(20 * 1024 * 1024));
    t.deliver(
        "alice",
        "4",
        b"From: a@example.test\r\nSubject: empty\r\nMessage-ID: <empty@example.test>\r\n\r\n",
    );
    // A short idle limit: the last part checks a client that stops reading.
    let cfg = t.write_config(&format!("[limits]\nidle_timeout_secs = 5\n{POP3_LISTENER}"));
    t.start_portcullis(&cfg);

    fetch_direct(&t);
    t.python_client(SERVER_V4, &fetch_script(&t, "fetch_all('v4')"));
    t.python_client(SERVER_V6, &fetch_script(&t, "fetch_all('v6')"));
    let direct = fetched(&t, "direct");
    assert_eq!(direct.len(), 4);
    for label in ["v4", "v6"] {
        let got = fetched(&t, label);
        assert_eq!(got.len(), 4, "{label}");
        for (id, d) in &direct {
            let (scan, rest) = strip_scan_header(&got[id]);
            assert!(
                scan.starts_with(
                    "X-Portcullis-Scan: clean by portcullis on gw.portcullis.test (builtin)"
                ),
                "{scan}"
            );
            assert!(
                rest == d.as_slice(),
                "{label} {id}: body differs from the direct fetch"
            );
        }
    }
    assert!(direct["large"].len() > 20 * 1024 * 1024);

    // curl, another real client, on the 20 MB message.
    let out_direct = t.path("curl-direct.eml").display().to_string();
    let out_proxy = t.path("curl-proxy.eml").display().to_string();
    t.ns(
        &t.server_ns,
        &[
            "curl",
            "-sS",
            "--max-time",
            "120",
            "-u",
            "alice:alicepw",
            "pop3://127.0.0.1/3",
            "-o",
            &out_direct,
        ],
    );
    let client_ns = t.client_ns.clone();
    t.ns(
        &client_ns,
        &[
            "curl",
            "-sS",
            "--max-time",
            "120",
            "-u",
            "alice:alicepw",
            &format!("pop3://{SERVER_V4}/3"),
            "-o",
            &out_proxy,
        ],
    );
    let (d, p) = (
        fs::read(&out_direct).unwrap(),
        fs::read(&out_proxy).unwrap(),
    );
    let (_, rest) = strip_scan_header(&p);
    assert!(
        d.len() > 1000 && rest == d.as_slice(),
        "curl fetch through portcullis differs"
    );

    // Session logs tell who, from where, to which server, what.
    let logs = t.session_logs();
    assert!(logs.contains(&format!("client={CLIENT_V4}:")), "{logs}");
    assert!(logs.contains(&format!("server={SERVER_V4}:110")), "{logs}");
    assert!(
        logs.contains(&format!("server=[{SERVER_V6}]:110")),
        "{logs}"
    );
    assert!(logs.contains("login ok user=alice"), "{logs}");
    assert!(logs.contains("verdict=\"clean\" action=Pass"), "{logs}");
    assert!(logs.contains("reason=\"quit\""), "{logs}");
    assert!(
        !logs.contains("alicepw"),
        "a password reached the session log"
    );

    // A client that asks for 20 MB and then reads nothing does not pin its session.
    t.python_client(
        SERVER_V4,
        r#"
import time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect((HOST, 110))
f = s.makefile('rb')
f.readline()
for cmd in (b'USER alice', b'PASS alicepw'):
    s.sendall(cmd + b'\r\n'); f.readline()
s.sendall(b'RETR 3\r\n')
time.sleep(10)
"#,
    );
    let logs = t.session_logs();
    assert!(
        logs.contains("not reading (limits.idle_timeout_secs)"),
        "{logs}"
    );
    let cfg_s = cfg.display().to_string();
    let list = t.portcullis(&["sessions", "list", "--config", &cfg_s]);
    assert!(list.status.success());
    let list = String::from_utf8_lossy(&list.stdout);
    assert_eq!(
        list.lines().filter(|l| !l.starts_with(' ')).count(),
        4,
        "{list}"
    );
}

#[test]
fn infected_mail_is_replaced_quarantined_and_only_deleted_once_kept() {
    let mut t = Topology::new("virus");
    t.start_dovecot();
    let sock = t.start_clamd();
    let zip = zip_of(
        &t,
        &[("readme.txt", b"hello"), ("eicar.com", EICAR.as_bytes())],
    );
    t.deliver("alice", "1", format!("From: x@example.test\r\nSubject: plain\r\nMessage-ID: <plain@example.test>\r\n\r\n{EICAR}\r\n").as_bytes());
    t.deliver(
        "alice",
        "2",
        &with_attachment("b64", "eicar.com.txt", EICAR.as_bytes()),
    );
    t.deliver("alice", "3", &with_attachment("zipped", "files.zip", &zip));
    t.deliver("alice", "4", format!("From: x@example.test\r\nSubject: marker\r\nMessage-ID: <marker@example.test>\r\n\r\nbody {CLAMD_ONLY_MARKER}\r\n").as_bytes());
    t.deliver("alice", "5", &tricky_message("clean"));
    let cfg = t.write_config(&format!(
        "[scan]\nengines = [\"builtin\", \"clamd\"]\n[scan.clamd]\naddress = \"unix:{}\"\nmax_stream_bytes = 90000000\n{POP3_LISTENER}",
        sock.display()
    ));
    t.start_portcullis(&cfg);
    fetch_direct(&t);
    t.python_client(SERVER_V4, &fetch_script(&t, "fetch_all('proxy')"));
    let direct = fetched(&t, "direct");
    let got = fetched(&t, "proxy");
    assert_eq!(got.len(), 5);

    for id in ["plain", "b64", "zipped", "marker"] {
        let m = String::from_utf8_lossy(&got[id]).to_string();
        assert!(
            !m.contains(EICAR) && !m.contains(CLAMD_ONLY_MARKER),
            "{id}: infected content reached the client"
        );
        assert!(
            header(&m, "X-Portcullis-Scan")
                .unwrap()
                .starts_with("infected ("),
            "{id}: {m}"
        );
        assert_eq!(
            header(&m, "Subject"),
            Some(format!("[removed by mail gateway] {id}").as_str())
        );
        assert_eq!(
            header(&m, "Message-ID"),
            Some(format!("<{id}@example.test>").as_str())
        );
        assert!(m.contains("kept in quarantine as "), "{id}: {m}");
    }
    let marker = String::from_utf8_lossy(&got["marker"]).to_string();
    assert!(
        marker.contains("Portcullis.Test.ClamdOnly"),
        "clamd's detection is named: {marker}"
    );
    let (_, rest) = strip_scan_header(&got["clean"]);
    assert!(rest == direct["clean"].as_slice());

    // Quarantine holds the four originals, byte for byte as the server sent them.
    let cfg_s = cfg.display().to_string();
    let q = t.quarantined(&cfg);
    assert_eq!(q.len(), 4, "{:?}", q.keys());
    for (qid, original) in &q {
        assert!(
            direct.values().any(|d| d == original),
            "quarantined bytes differ from the server's: {qid}"
        );
        let show = t.portcullis(&["quarantine", "show", qid, "--config", &cfg_s]);
        let show = String::from_utf8_lossy(&show.stdout).to_string();
        assert!(
            show.contains("\"user\": \"alice\"") && show.contains("\"released\": true"),
            "{show}"
        );
    }

    // DELE of a replaced message goes upstream (the original is quarantined) and QUIT commits it.
    assert_eq!(t.mailbox_count("alice"), 5);
    t.python_client(
        SERVER_V4,
        r#"
p = poplib.POP3(HOST, 110, timeout=60)
p.user('alice'); p.pass_('alicepw')
lines = p.retr(1)[1]
assert any(b'removed by mail gateway' in l for l in lines), lines
p.dele(1)
p.quit()
"#,
    );
    assert_eq!(t.mailbox_count("alice"), 4);

    // A client that vanishes without QUIT never commits a deletion: no QUIT is sent upstream.
    t.python_client(
        SERVER_V4,
        r#"
p = poplib.POP3(HOST, 110, timeout=60)
p.user('alice'); p.pass_('alicepw')
p.dele(1)
p.sock.close()
"#,
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(t.mailbox_count("alice"), 4);

    // When the quarantine cannot store the original, DELE stays local and the mail stays.
    let qtmp = t.path("quarantine/tmp");
    fs::remove_dir_all(&qtmp).unwrap();
    fs::write(&qtmp, b"not a directory").unwrap();
    let reply = t.python_client(
        SERVER_V4,
        r#"
p = poplib.POP3(HOST, 110, timeout=60)
p.user('alice'); p.pass_('alicepw')
infected = [i for i in range(1, 5) if any(b'removed by mail gateway' in l for l in p.retr(i)[1])]
try:
    p.dele(infected[0])
    out.write(b'DELE accepted')
except poplib.error_proto as e:
    out.write(str(e).encode())
p.quit()
out.write(b'\n%d' % infected[1])
"#,
    );
    let reply = String::from_utf8_lossy(&reply).to_string();
    assert!(
        reply.contains("-ERR") && reply.contains("kept on the server"),
        "{reply}"
    );
    assert_eq!(t.mailbox_count("alice"), 4);
    assert!(
        t.session_logs()
            .contains("refused: replaced but original not quarantined")
    );

    // A later session, as a leave-on-server client days afterwards: DELE without RETR is
    // still refused for a message whose original never reached the quarantine.
    let second = reply.rsplit('\n').next().unwrap().to_string();
    let later = t.python_client(
        SERVER_V4,
        &format!(
            r#"
p = poplib.POP3(HOST, 110, timeout=60)
p.user('alice'); p.pass_('alicepw')
try:
    p.dele({second})
    out.write(b'DELE accepted')
except poplib.error_proto as e:
    out.write(str(e).encode())
p.quit()
"#
        ),
    );
    let later = String::from_utf8_lossy(&later).to_string();
    assert!(later.contains("kept on the server"), "{later}");
    assert_eq!(t.mailbox_count("alice"), 4);
}

#[test]
fn spamd_verdict_tags_spam_and_removes_forged_headers() {
    let mut t = Topology::new("spam");
    t.start_dovecot();
    t.start_spamd();
    t.deliver(
        "alice",
        "1",
        format!("From: x@example.test\r\nTo: alice@example.test\r\nSubject: cheap stuff\r\nMessage-ID: <gtube@example.test>\r\nX-Spam-Flag: NO\r\nX-Spam-Status: No, forged\r\n\r\n{GTUBE}\r\n").as_bytes(),
    );
    t.deliver("alice", "2", &tricky_message("ham"));
    let cfg = t.write_config(&format!("[scan]\nengines = [\"spamd\"]\n{POP3_LISTENER}"));
    t.start_portcullis(&cfg);
    fetch_direct(&t);
    t.python_client(SERVER_V4, &fetch_script(&t, "fetch_all('proxy')"));
    let got = fetched(&t, "proxy");
    let spam = String::from_utf8_lossy(&got["gtube"]).to_string();
    assert_eq!(
        header(&spam, "Subject"),
        Some("[SPAM] cheap stuff"),
        "{spam}"
    );
    assert_eq!(header(&spam, "X-Spam-Flag"), Some("YES"));
    let score: f64 = header(&spam, "X-Spam-Score").unwrap().parse().unwrap();
    assert!(score >= 1000.0, "GTUBE scores at least 1000: {score}");
    assert!(
        !spam.contains("forged") && !spam.contains("X-Spam-Flag: NO"),
        "forged headers survived: {spam}"
    );
    assert!(spam.contains(GTUBE), "tagged spam keeps its body");
    let (scan, rest) = strip_scan_header(&got["ham"]);
    assert!(scan.contains("clean") && scan.contains("(spamd)"), "{scan}");
    assert!(rest == fetched(&t, "direct")["ham"].as_slice());
}

#[test]
fn scanner_failure_and_oversize_get_their_configured_actions() {
    let mut t = Topology::new("fail");
    t.start_dovecot();
    let sock = t.start_clamd();
    t.deliver("alice", "1", &tricky_message("small"));
    t.deliver("alice", "2", &large_message(300 * 1024));
    let huge = String::from_utf8_lossy(&large_message(600 * 1024)).replace("<large@", "<huge@");
    t.deliver("alice", "3", huge.as_bytes());
    let cfg = t.write_config(&format!(
        "[limits]\nmax_message_bytes = 500000\n[scan]\nengines = [\"clamd\"]\nmax_scan_bytes = 200000\n[scan.clamd]\naddress = \"unix:{}\"\ntimeout_secs = 5\n[policy.download]\nfailed = \"tag\"\nunscannable = \"replace\"\n{POP3_LISTENER}",
        sock.display()
    ));
    t.start_portcullis(&cfg);
    t.python_client(SERVER_V4, &fetch_script(&t, "fetch_all('up')"));
    let up = fetched(&t, "up");
    let small = String::from_utf8_lossy(&up["small"]).to_string();
    assert!(
        header(&small, "X-Portcullis-Scan")
            .unwrap()
            .starts_with("clean"),
        "{small}"
    );
    let large = String::from_utf8_lossy(&up["large"]).to_string();
    assert!(
        header(&large, "X-Portcullis-Scan")
            .unwrap()
            .starts_with("unscannable (larger than scan.max_scan_bytes"),
        "{large}"
    );
    assert!(
        !large.contains("quick brown fox"),
        "oversize mail was delivered although policy replaces it"
    );
    // Too large to hold at all: a notice, whatever the policy, and the mail stays on the
    // server, also against a DELE in a later session.
    let huge = String::from_utf8_lossy(&up["huge"]).to_string();
    assert!(
        header(&huge, "X-Portcullis-Scan")
            .unwrap()
            .starts_with("unscannable (larger than limits.max_message_bytes"),
        "{huge}"
    );
    let r = t.python_client(
        SERVER_V4,
        r#"
p = poplib.POP3(HOST, 110, timeout=60)
p.user('alice'); p.pass_('alicepw')
replies = []
for i in range(1, 4):
    try:
        replies.append(p.dele(i))
    except poplib.error_proto as e:
        replies.append(str(e).encode())
p.quit()
out.write(b'\n'.join(replies))
"#,
    );
    let r = String::from_utf8_lossy(&r).to_string();
    assert_eq!(r.matches("kept on the server").count(), 1, "{r}");
    assert_eq!(
        t.mailbox_count("alice"),
        1,
        "only the huge message may stay"
    );

    // clamd goes away: every message is now "failed", and policy says tag.
    let clamd = (0..).find(|&i| t.proc(i).name == "clamd").unwrap();
    t.proc(clamd).stop();
    t.deliver("alice", "4", &tricky_message("small"));
    t.python_client(SERVER_V4, &fetch_script(&t, "fetch_all('down')"));
    let down = fetched(&t, "down");
    let small = String::from_utf8_lossy(&down["small"]).to_string();
    assert!(
        header(&small, "X-Portcullis-Scan")
            .unwrap()
            .starts_with("scan failed (clamd: connect"),
        "{small}"
    );
    assert_eq!(header(&small, "Subject"), Some("[UNSCANNED] small"));
    assert!(t.session_logs().contains("verdict=\"scan failed (clamd:"));
}

#[test]
fn starttls_passthrough_is_spliced_and_logged_and_strip_hides_it() {
    let mut t = Topology::new("tls");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("tls"));
    let cfg = t.write_config(&format!(
        "[limits]\nidle_timeout_secs = 3\n{POP3_LISTENER}\n[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10111\"\nupstream = \"{SERVER_V4}:110\"\nstarttls = \"strip\"\n"
    ));
    t.start_portcullis(&cfg);
    let capa = |host: &str, port: u16| {
        t.python_client(host, &format!(
            "p = poplib.POP3(HOST, {port}, timeout=30)\nout.write(' '.join(sorted(p.capa().keys())).encode())\np.quit()\n"
        ))
    };
    let transparent = String::from_utf8_lossy(&capa(SERVER_V4, 110)).to_string();
    assert!(
        transparent.contains("STLS") && transparent.contains("UIDL"),
        "{transparent}"
    );
    let fixed = String::from_utf8_lossy(&capa(GW_LAN_V4, 10111)).to_string();
    assert!(!fixed.contains("STLS") && fixed.contains("UIDL"), "{fixed}");

    // A real TLS client verifies the real server's certificate end to end.
    let ca = t.path("tls/ca.crt").display().to_string();
    let out = t.path("tls-fetch.eml").display().to_string();
    let client_ns = t.client_ns.clone();
    t.ns(
        &client_ns,
        &[
            "curl",
            "-sS",
            "--max-time",
            "30",
            "--ssl-reqd",
            "--cacert",
            &ca,
            "-u",
            "alice:alicepw",
            &format!("pop3://{SERVER_V4}/1"),
            "-o",
            &out,
        ],
    );
    let fetched_tls = fs::read(&out).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&fetched_tls).contains("last line"),
        "TLS fetch: {:?}\n{}\n{}",
        String::from_utf8_lossy(&fetched_tls),
        t.session_logs(),
        t.log_of("portcullis")
    );
    assert!(
        t.session_logs()
            .contains("NOT SCANNED (starttls = passthrough)")
    );

    // A spliced session nobody uses is still bounded by the idle limit.
    let r = t.python_client(
        SERVER_V4,
        &format!(
            r#"
import time
p = poplib.POP3(HOST, 110, timeout=30)
p.stls(context=ssl.create_default_context(cafile={ca:?}))
p.user('alice'); p.pass_('alicepw')
time.sleep(6)
try:
    p.noop()
    out.write(b'still open')
except Exception as e:
    out.write(b'closed: ' + type(e).__name__.encode())
"#
        ),
    );
    let r = String::from_utf8_lossy(&r).to_string();
    assert!(r.starts_with("closed"), "{r}");
    assert!(
        t.session_logs().contains("idle (limits.idle_timeout_secs)"),
        "{}",
        t.session_logs()
    );

    // Through the strip listener STLS is refused and mail is scanned in the clear.
    let r = t.python_client(
        GW_LAN_V4,
        r#"
p = poplib.POP3(HOST, 10111, timeout=30)
try:
    p.stls()
    out.write(b'STLS accepted')
except poplib.error_proto as e:
    out.write(b'refused: ' + str(e).encode())
p.user('alice'); p.pass_('alicepw')
out.write(b'\n' + p.retr(1)[1][0])
p.quit()
"#,
    );
    let r = String::from_utf8_lossy(&r).to_string();
    assert!(
        r.starts_with("refused:") && r.contains("X-Portcullis-Scan: clean"),
        "{r}"
    );
}

#[test]
fn bad_input_gets_clear_errors_and_pipelined_answers_stay_in_order() {
    let mut t = Topology::new("abuse");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("one"));
    t.deliver("alice", "2", &tricky_message("two"));
    let cfg = t.write_config(&format!(
        "[limits]\nmax_line_bytes = 1024\nmax_connections_per_client = 2\n{POP3_LISTENER}"
    ));
    t.start_portcullis(&cfg);
    let r = t.python_client(SERVER_V4, r#"
def session(payload, wait_for):
    s = socket.create_connection((HOST, 110), timeout=20)
    data = s.recv(4096)
    s.sendall(payload)
    while wait_for not in data:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    return data

# Pipelined: everything in one segment, answers must come back in order.
d = session(b'USER alice\r\nPASS alicepw\r\nSTAT\r\nRETR 1\r\nXTND XMIT\r\nNOOP\r\nQUIT\r\n', b'+OK Logging out')
out.write(d)
out.write(b'\n=====\n')
# An overlong command line ends the session with an error, nothing is relayed.
d = session(b'USER ' + b'a' * 5000 + b'\r\n', b'\x00never')
out.write(d)
"#);
    let r = String::from_utf8_lossy(&r).to_string();
    let (pipelined, overlong) = r.split_once("\n=====\n").unwrap();
    let order: Vec<&str> = pipelined
        .split("\r\n")
        .filter(|l| l.starts_with("+OK") || l.starts_with("-ERR"))
        .collect();
    assert_eq!(order.len(), 8, "{pipelined}");
    assert!(order[3].starts_with("+OK 2 "), "STAT: {order:?}");
    assert!(
        order[5].starts_with("-ERR portcullis: command not supported"),
        "{order:?}"
    );
    assert!(
        order[6].starts_with("+OK"),
        "NOOP after the refused command: {order:?}"
    );
    assert!(
        pipelined.contains("X-Portcullis-Scan: clean") && pipelined.contains("\r\n...two dots\r\n"),
        "{pipelined}"
    );
    assert!(
        overlong.contains("-ERR portcullis: line too long"),
        "{overlong}"
    );
    assert!(
        !overlong.contains("-ERR [AUTH]"),
        "the overlong line reached the server: {overlong}"
    );
    assert!(
        t.session_logs()
            .contains("longer than limits.max_line_bytes (1024)")
    );

    // Per-client connection limit: the third concurrent session is told to come back later.
    let r = t.python_client(
        SERVER_V4,
        r#"
held = [socket.create_connection((HOST, 110), timeout=10) for _ in range(2)]
for h in held:
    assert h.recv(100).startswith(b'+OK'), 'greeting'
third = socket.create_connection((HOST, 110), timeout=10)
out.write(third.recv(200))
for h in held:
    h.sendall(b'QUIT\r\n'); h.recv(100); h.close()
"#,
    );
    let r = String::from_utf8_lossy(&r).to_string();
    assert!(
        r.starts_with("-ERR [SYS/TEMP]") && r.contains("too many connections"),
        "{r}"
    );
    assert!(
        t.log_of("portcullis")
            .contains("limits.max_connections_per_client reached")
    );

    // Loop guard: a connection straight to the listener (not redirected) is refused.
    let direct = t.python_client(
        GW_LAN_V4,
        r#"
s = socket.create_connection((HOST, 10110), timeout=10)
out.write(s.recv(100) or b'closed')
"#,
    );
    assert_eq!(direct, b"closed");
    assert!(t.log_of("portcullis").contains("loop guard"));
}

#[test]
fn twenty_concurrent_clients_each_get_their_own_mail_intact() {
    let mut t = Topology::new("conc");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("a"));
    t.deliver("alice", "2", &large_message(2 * 1024 * 1024));
    t.deliver("bob", "1", &tricky_message("b"));
    let cfg = t.write_config(POP3_LISTENER);
    t.start_portcullis(&cfg);
    let server_ns = t.server_ns.clone();
    t.python_in(
        &server_ns,
        "127.0.0.1",
        &fetch_script(
            &t,
            "fetch_all('direct-alice')\nfetch_all('direct-bob', user='bob', pw='bobpw')",
        ),
    );
    fs::create_dir_all(t.path("conc")).unwrap();
    let conc = t.path("conc").display().to_string();
    t.python_client(
        SERVER_V4,
        &fetch_script(
            &t,
            &format!(
                r#"
errors = []
def worker(i):
    try:
        if i % 2:
            fetch_all('c%d' % i, outdir={conc:?})
        else:
            fetch_all('c%d' % i, user='bob', pw='bobpw', outdir={conc:?})
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
[x.start() for x in ts]
[x.join() for x in ts]
assert not errors, errors
"#
            ),
        ),
    );
    let alice = fetched(&t, "direct-alice");
    let bob = fetched(&t, "direct-bob");
    let mut n = 0;
    for e in fs::read_dir(t.path("conc")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let id = name
            .split_once('-')
            .unwrap()
            .1
            .trim_end_matches(".eml")
            .to_string();
        let expected = alice.get(&id).or_else(|| bob.get(&id)).unwrap();
        let data = fs::read(&p).unwrap();
        let (_, rest) = strip_scan_header(&data);
        assert!(rest == expected.as_slice(), "{name} differs");
        n += 1;
    }
    assert_eq!(n, 10 * 2 + 10);
    assert_eq!(t.session_logs().matches("reason=\"quit\"").count(), 20);
}

#[test]
fn a_client_waiting_on_a_slow_link_is_kept_alive_with_proxy_made_lines_only() {
    let mut t = Topology::new("slow");
    t.start_dovecot();
    t.deliver("alice", "1", &large_message(1536 * 1024));
    let mut infected = large_message(1536 * 1024);
    infected.extend_from_slice(format!("{EICAR}\r\n").as_bytes());
    let infected = String::from_utf8_lossy(&infected)
        .replace("<large@", "<slowvirus@")
        .into_bytes();
    t.deliver("alice", "2", &infected);
    let cfg = t.write_config(&format!("[limits]\nkeepalive_secs = 1\n{POP3_LISTENER}"));
    t.start_portcullis(&cfg);
    fetch_direct(&t);
    // About 3 s per message over this link: the proxy must comfort the client meanwhile.
    t.slow_server_link("4mbit");
    t.python_client(SERVER_V4, &fetch_script(&t, "fetch_all('slow')"));
    let got = fetched(&t, "slow");
    let direct = fetched(&t, "direct");
    for (id, verdict) in [("large", "clean"), ("slowvirus", "infected")] {
        let msg = &got[id];
        let mut rest: &[u8] = msg;
        let mut progress = 0;
        while let Some(r) = rest.strip_prefix(b"X-Portcullis-Progress: scanning\r\n".as_slice()) {
            progress += 1;
            rest = r;
        }
        assert!(
            progress >= 1,
            "{id}: no keep-alive lines before the verdict"
        );
        let (scan, body) = strip_scan_header(rest);
        assert!(
            scan.starts_with(&format!("X-Portcullis-Scan: {verdict}")),
            "{id}: {scan}"
        );
        if verdict == "clean" {
            assert!(
                body == direct[id].as_slice(),
                "{id}: body differs after keep-alive lines"
            );
        } else {
            let text = String::from_utf8_lossy(body);
            assert!(
                !text.contains("quick brown fox") && !text.contains(EICAR),
                "original content reached the client"
            );
            assert!(
                text.contains("Subject: [removed by mail gateway] large"),
                "{text}"
            );
        }
    }
}

/// dovecot always announces exact sizes, so this fault needs a stand-in server: one that
/// announces far more octets than it sends (the proxy must not wait for bytes that never
/// come) and one that announces far fewer (nothing may be cut off), in the RETR status line
/// and in LIST; a listed message that is gone by RETR; a RETR without a size; and a
/// listing of thousands of lines.
#[test]
fn a_wrong_announced_size_neither_stalls_nor_truncates_a_download() {
    let mut t = Topology::new("octets");
    let msgs = [
        large_message(1024),
        large_message(30 * 1024),
        large_message(8 * 1024),
    ];
    for (i, m) in msgs.iter().enumerate() {
        fs::write(t.path(&format!("m{}.eml", i + 1)), m).unwrap();
    }
    let server = t.path("fakepop.py");
    fs::write(
        &server,
        format!(
            r#"
import socket, time
msgs = {{n: open('{dir}/m%d.eml' % n, 'rb').read() for n in (1, 2, 3)}}
# What RETR's status line and LIST claim: 1 too big, 2 too small, 3 right but only in LIST,
# 4 listed but gone.
status = {{1: b'+OK 50000 octets', 2: b'+OK 10 octets', 3: b'+OK message follows'}}
listed = {{1: 50000, 2: 10, 3: len(msgs[3]), 4: 100000}}
def stuffed(m):
    return b''.join((b'.' + l if l.startswith(b'.') else l) for l in m.splitlines(True))
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(({SERVER_V4:?}, 110)); l.listen(5)
open('{dir}/fakepop.ready', 'w').write('up')
while True:
    c, _ = l.accept()
    f = c.makefile('rb')
    c.sendall(b'+OK stand-in ready\r\n')
    for line in f:
        w = line.split()
        cmd = w[0].upper() if w else b''
        if cmd == b'RETR' and int(w[1]) in msgs:
            n = int(w[1])
            # The status line first, so the proxy is waiting when the message comes.
            c.sendall(status[n] + b'\r\n')
            time.sleep(0.05)
            c.sendall(stuffed(msgs[n]) + b'.\r\n')
        elif cmd == b'RETR':
            c.sendall(b'-ERR no such message\r\n')
        elif cmd == b'LIST':
            c.sendall(b'+OK\r\n' + b''.join(b'%d %d\r\n' % kv for kv in listed.items()) + b'.\r\n')
        elif cmd == b'UIDL':
            c.sendall(b'+OK\r\n' + b''.join(b'%d uid-%d\r\n' % (i, i) for i in range(1, 3001)) + b'.\r\n')
        elif cmd == b'QUIT':
            c.sendall(b'+OK bye\r\n'); c.close(); break
        elif cmd in (b'USER', b'PASS', b'NOOP'):
            c.sendall(b'+OK\r\n')
        else:
            c.sendall(b'-ERR not here\r\n')
"#,
            dir = t.dir.path().display(),
        ),
    )
    .unwrap();
    let server_ns = t.server_ns.clone();
    t.spawn(
        &server_ns,
        "fakepop",
        &["python3", &server.display().to_string()],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !t.path("fakepop.ready").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "stand-in server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A stall would last until the server timeout (60 s); the client gives up after 10 s.
    let cfg = t.write_config(&format!(
        "[limits]\nserver_timeout_secs = 60\n{POP3_LISTENER}"
    ));
    t.start_portcullis(&cfg);
    let got = t.python_client(
        SERVER_V4,
        &format!(
            r#"
def fetch(p, numbers):
    for i in numbers:
        resp, lines, octets = p.retr(i)
        out.write(b'\r\n'.join(lines) + b'\r\n')
        out.write(b'=====\n')
# Without LIST: only the status line's size is known.
p = poplib.POP3(HOST, 110, timeout=10)
p.user('alice'); p.pass_('alicepw')
fetch(p, (1, 2))
p.quit()
# As mail clients do it: LIST and UIDL first, so the proxy knows sizes before RETR.
p = poplib.POP3(HOST, 110, timeout=10)
p.user('alice'); p.pass_('alicepw')
assert [l.split()[1] for l in p.list()[1]] == [b'50000', b'10', b'{m3}', b'100000']
uids = p.uidl()[1]
assert uids == [b'%d uid-%d' % (i, i) for i in range(1, 3001)], len(uids)
fetch(p, (1, 2, 3))
try:
    p.retr(4)
    out.write(b'retr 4 answered')
except poplib.error_proto as e:
    out.write(str(e).encode())
p.quit()
"#,
            m3 = msgs[2].len()
        ),
    );
    let mut parts = Vec::new();
    let mut rest = &got[..];
    while let Some(i) = rest.windows(6).position(|w| w == b"=====\n") {
        parts.push(&rest[..i]);
        rest = &rest[i + 6..];
    }
    assert_eq!(parts.len(), 5, "{}", String::from_utf8_lossy(&got));
    let want = [&msgs[0], &msgs[1], &msgs[0], &msgs[1], &msgs[2]];
    for (part, want) in parts.iter().zip(want) {
        let (scan, body) = strip_scan_header(part);
        assert!(scan.contains(": clean "), "{scan}");
        assert_eq!(body, &want[..], "the message arrives whole and unchanged");
    }
    assert!(
        String::from_utf8_lossy(rest).contains("-ERR no such message"),
        "{}",
        String::from_utf8_lossy(rest)
    );
}

/// A signature in the header only (the sender's display name, the subject): the notice
/// that replaces the message quotes neither, so nothing flagged reaches the client through
/// it; a clean message's notice-free delivery is unaffected.
#[test]
fn a_notice_never_quotes_header_text_the_engines_flag() {
    let mut t = Topology::new("p3hdr");
    t.start_dovecot();
    let sock = t.start_clamd();
    t.deliver("alice", "1", format!("From: \"{EICAR}\" <x@example.test>\r\nSubject: hello\r\nMessage-ID: <builtin@example.test>\r\n\r\nplain text\r\n").as_bytes());
    t.deliver("alice", "2", format!("From: y@example.test\r\nSubject: {CLAMD_ONLY_MARKER}\r\nMessage-ID: <clamd@example.test>\r\n\r\nplain text\r\n").as_bytes());
    t.deliver("alice", "3", format!("From: z@example.test\r\nSubject: quoted\r\nMessage-ID: <quoted@example.test>\r\n\r\n{EICAR}\r\n").as_bytes());
    let cfg = t.write_config(&format!(
        "[scan]\nengines = [\"builtin\", \"clamd\"]\n[scan.clamd]\naddress = \"unix:{}\"\n{POP3_LISTENER}",
        sock.display()
    ));
    t.start_portcullis(&cfg);
    let out = t.python_client(
        SERVER_V4,
        r#"
p = poplib.POP3(HOST, 110, timeout=60)
p.user('alice'); p.pass_('alicepw')
for i in (1, 2, 3):
    out.write(b'\r\n'.join(p.retr(i)[1]) + b'\r\n=====\r\n')
p.quit()
"#,
    );
    let out = String::from_utf8_lossy(&out).to_string();
    let notices: Vec<&str> = out.split("=====\r\n").collect();
    for n in &notices[..3] {
        assert!(
            !n.contains(EICAR) && !n.contains("EICAR-STANDARD") && !n.contains(CLAMD_ONLY_MARKER),
            "a flagged header reached the client through the notice:\n{n}"
        );
        assert!(n.starts_with("X-Portcullis-Scan: infected ("), "{n}");
        assert!(n.contains("kept in quarantine as "), "{n}");
    }
    // A notice whose quoted headers are harmless keeps them, so it is filed where the
    // original would have been.
    assert!(
        notices[2].contains("Message-ID: <quoted@example.test>"),
        "{}",
        notices[2]
    );
    assert!(notices[2].contains("Subject: [removed by mail gateway] quoted"));
    assert!(
        t.session_logs()
            .contains("the original's headers are left out of the notice")
    );
}
