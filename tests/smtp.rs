//! SMTP through portcullis on a real network path: client namespace -> gateway namespace
//! (portcullis + its nftables rules) -> server namespace (postfix, with dovecot for SASL).
mod common;

use std::time::Duration;

use common::*;

const SMTP_LISTENER: &str =
    "[[listener]]\nprotocol = \"smtp\"\nlisten = \"[::]:10025\"\nintercept_ports = [25, 587]\n";

/// The stored message with postfix's own trace headers (Return-Path, Delivered-To,
/// Received) and our scan header removed, CRLF restored.
fn without_trace(stored: &[u8]) -> (String, Vec<u8>) {
    let text = stored;
    let mut i = 0;
    let mut scan = String::new();
    loop {
        let eol = text[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(text.len());
        let line = &text[i..eol];
        let is_trace = line.starts_with(b"Return-Path:")
            || line.starts_with(b"X-Original-To:")
            || line.starts_with(b"Delivered-To:")
            || line.starts_with(b"Received:")
            || ((line.starts_with(b" ") || line.starts_with(b"\t")) && i > 0);
        if line.starts_with(b"X-Portcullis-Scan:") {
            scan = String::from_utf8_lossy(line).trim_end().to_string();
            i = eol;
            continue;
        }
        if !is_trace {
            break;
        }
        i = eol;
    }
    let mut crlf = Vec::with_capacity(text.len() - i + 1000);
    for &b in &text[i..] {
        if b == b'\n' {
            crlf.push(b'\r');
        }
        crlf.push(b);
    }
    (scan, crlf)
}

fn smtp_setup(name: &str, extra: &str) -> Topology {
    let mut t = Topology::new(name);
    t.start_dovecot();
    t.start_postfix();
    let cfg = t.write_config(&format!("{extra}\n{SMTP_LISTENER}"));
    t.start_portcullis(&cfg);
    t
}

#[test]
fn clean_mail_is_stored_byte_identical_with_pipelining_and_auth() {
    let t = smtp_setup("sclean", "");
    let dots = tricky_message("sdots");
    let big = large_message(30 * 1024 * 1024);
    std::fs::write(t.path("dots.eml"), &dots).unwrap();
    std::fs::write(t.path("big.eml"), &big).unwrap();
    let r = t.python_client(
        SERVER_V4,
        &format!(
            r#"
import smtplib
s = smtplib.SMTP(HOST, 25, timeout=120)
s.ehlo('client.portcullis.test')
assert 'chunking' not in s.esmtp_features and 'xclient' not in s.esmtp_features, s.esmtp_features
assert 'pipelining' in s.esmtp_features and '8bitmime' in s.esmtp_features, s.esmtp_features
s.login('alice', 'alicepw')
s.sendmail('sender@example.test', ['alice@example.test'], open({dots:?}, 'rb').read())
s.sendmail('sender@example.test', ['alice@example.test'], open({big:?}, 'rb').read())
s.mail('changed@example.test'); s.rcpt('alice@example.test'); s.rset()
s.quit()
out.write(b'ok')
"#,
            dots = t.path("dots.eml").display().to_string(),
            big = t.path("big.eml").display().to_string()
        ),
    );
    assert_eq!(r, b"ok");
    // swaks with PIPELINING: MAIL, RCPT, DATA in one burst.
    let client_ns = t.client_ns.clone();
    let out = t.ns_output(
        &client_ns,
        &[
            "swaks",
            "--pipeline",
            "--server",
            SERVER_V4,
            "--port",
            "25",
            "--from",
            "p@example.test",
            "--to",
            "bob@example.test",
            "--header",
            "Subject: piped",
            "--body",
            "pipelined body",
            "--ehlo",
            "client.portcullis.test",
        ],
    );
    assert!(
        out.status.success(),
        "swaks: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // curl, a third real client (no pipelining, no AUTH).
    let curl_msg = t.path("curl.eml").display().to_string();
    std::fs::write(&curl_msg, tricky_message("curl")).unwrap();
    let out = t.ns_output(
        &client_ns,
        &[
            "curl",
            "-sS",
            "--max-time",
            "30",
            &format!("smtp://{SERVER_V4}/client.portcullis.test"),
            "--mail-from",
            "c@example.test",
            "--mail-rcpt",
            "alice@example.test",
            "-T",
            &curl_msg,
        ],
    );
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let stored = t.wait_stored("alice", 3);
    assert_eq!(stored.len(), 3);
    // Postfix delivers in its own order: find each message by its subject.
    let with_subject = |subject: &str| {
        let needle = format!("\nSubject: {subject}");
        stored
            .iter()
            .find(|m| memchr::memmem::find(m, needle.as_bytes()).is_some())
            .unwrap_or_else(|| panic!("no stored message with Subject: {subject}"))
    };
    assert!(without_trace(with_subject("curl")).1 == tricky_message("curl"));
    let (scan, body) = without_trace(with_subject("sdots"));
    assert!(
        scan.starts_with("X-Portcullis-Scan: clean by portcullis on gw.portcullis.test (builtin)"),
        "{scan}"
    );
    assert!(
        body == dots,
        "stored message differs:\n{}",
        String::from_utf8_lossy(&body)
    );
    let (_, body) = without_trace(with_subject("large"));
    assert!(
        body.len() == big.len() && body == big,
        "30 MB message differs ({} vs {} bytes)",
        body.len(),
        big.len()
    );
    let bob = t.wait_stored("bob", 1);
    assert!(String::from_utf8_lossy(&bob[0]).contains("pipelined body"));

    let logs = t.session_logs();
    assert!(
        logs.contains("login ok user=alice mechanism=PLAIN"),
        "{logs}"
    );
    // One line per message with its envelope; accepted commands get no lines of their own.
    assert!(
        logs.contains("from=<sender@example.test> to=<alice@example.test> size="),
        "{logs}"
    );
    assert!(!logs.contains("rcpt to=<alice@example.test>"), "{logs}");
    assert!(
        logs.contains(
            "from=<changed@example.test> to=<alice@example.test> ended without a message (RSET)"
        ),
        "{logs}"
    );
    assert!(logs.contains("verdict=\"clean\" action=Pass"), "{logs}");
    assert!(
        logs.lines().any(|l| l.contains("size=320 ")
            && l.contains("via=BDAT upstream=\"250 2.0.0 Ok: ")
            && l.contains(" bytes queued as")),
        "postfix offers CHUNKING, so the message went up in one BDAT: {logs}"
    );
    assert!(!logs.contains("alicepw"));
}

#[test]
fn infected_mail_is_rejected_quarantined_and_never_stored() {
    let t = smtp_setup("svirus", "");
    let zip = zip_of(&t, &[("eicar.com", EICAR.as_bytes())]);
    let samples = [
        ("plain", format!("From: a@example.test\r\nTo: alice@example.test\r\nSubject: plain\r\n\r\n{EICAR}\r\n").into_bytes()),
        ("b64", with_attachment("b64", "eicar.com", EICAR.as_bytes())),
        ("zip", with_attachment("zip", "files.zip", &zip)),
    ];
    for (name, msg) in &samples {
        std::fs::write(t.path(&format!("{name}.eml")), msg).unwrap();
    }
    let r = t.python_client(SERVER_V4, &format!(r#"
import smtplib
for name in ['plain', 'b64', 'zip']:
    s = smtplib.SMTP(HOST, 25, timeout=60)
    try:
        s.sendmail('a@example.test', ['alice@example.test'], open({dir:?} + '/' + name + '.eml', 'rb').read())
        out.write(b'ACCEPTED ' + name.encode() + b'\n')
    except smtplib.SMTPDataError as e:
        out.write(b'%d %s\n' % (e.smtp_code, e.smtp_error))
    s.quit()
"#, dir = t.dir.path().display().to_string()));
    let r = String::from_utf8_lossy(&r).to_string();
    assert_eq!(r.lines().count(), 3, "{r}");
    for line in r.lines() {
        assert!(
            line.starts_with("554 5.7.1 portcullis: message rejected: infected ("),
            "{line}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        t.stored("alice").is_empty() && t.postfix_idle(),
        "infected mail reached the server"
    );
    let cfg = t.path("portcullis.toml").display().to_string();
    let list = t.portcullis(&["quarantine", "list", "--config", &cfg]);
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(
        list.lines().all(|l| l.contains("from=a@example.test")),
        "{list}"
    );
}

#[test]
fn spam_is_tagged_and_scanner_failure_tempfails() {
    let mut t = Topology::new("sspam");
    t.start_dovecot();
    t.start_postfix();
    let sock = t.start_clamd();
    let cfg = t.write_config(&format!(
        "[scan]\nengines = [\"builtin\", \"clamd\"]\n[scan.clamd]\naddress = \"unix:{}\"\ntimeout_secs = 5\n[policy.submission]\nspam_reject_score = 0\n{SMTP_LISTENER}",
        sock.display()
    ));
    t.start_portcullis(&cfg);
    let send = |t: &Topology, subject: &str, body: &str| -> String {
        let r = t.python_client(SERVER_V4, &format!(r#"
import smtplib
s = smtplib.SMTP(HOST, 25, timeout=60)
msg = 'From: a@example.test\r\nTo: alice@example.test\r\nSubject: {subject}\r\nX-Spam-Flag: NO\r\n\r\n{body}\r\n'
try:
    s.sendmail('a@example.test', ['alice@example.test'], msg.encode())
    out.write(b'250')
except smtplib.SMTPDataError as e:
    out.write(b'%d %s' % (e.smtp_code, e.smtp_error))
s.quit()
"#));
        String::from_utf8_lossy(&r).to_string()
    };
    assert_eq!(send(&t, "offer", GTUBE), "250");
    let stored = t.wait_stored("alice", 1);
    let text = String::from_utf8_lossy(&stored[0]).to_string();
    assert!(
        text.contains("Subject: [SPAM] offer") && text.contains("X-Spam-Flag: YES"),
        "{text}"
    );
    assert!(
        !text.contains("X-Spam-Flag: NO"),
        "the forged header survived"
    );

    let clamd = (0..).find(|&i| t.proc(i).name == "clamd").unwrap();
    t.proc(clamd).stop();
    let r = send(&t, "while clamd is down", "hello");
    assert!(
        r.starts_with("451 4.7.1 portcullis: message not accepted now: scan failed (clamd"),
        "{r}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        t.stored("alice").len(),
        1,
        "a message was stored while the scanner was down"
    );
}

#[test]
fn smuggled_end_of_data_variants_store_at_most_one_message() {
    let t = smtp_setup("ssmug", "");
    let r = t.python_client(
        SERVER_V4,
        r#"
def session(data_body):
    s = socket.create_connection((HOST, 25), timeout=20)
    f = s.makefile('rb')
    def reply():
        lines = []
        while True:
            l = f.readline()
            lines.append(l)
            if l[3:4] != b'-':
                return b''.join(lines)
    reply()
    s.sendall(b'EHLO c.test\r\n'); reply()
    s.sendall(b'MAIL FROM:<a@example.test>\r\n'); reply()
    s.sendall(b'RCPT TO:<alice@example.test>\r\n'); reply()
    s.sendall(b'DATA\r\n'); r354 = reply()
    s.sendall(data_body)
    final = reply()
    s.sendall(b'QUIT\r\n'); reply()
    s.close()
    return final

results = []
for term in [b'\n.\n', b'\n.\r\n', b'\r\n.\n', b'\r.\r', b'\r\n.\r', b'\r.\r\n', b'\n.\r']:
    body = (b'From: a@example.test\r\nSubject: one\r\n\r\nfirst' + term +
            b'MAIL FROM:<evil@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n'
            b'Subject: smuggled\r\n\r\nsecond\r\n.\r\n')
    results.append(session(body).strip())
out.write(b'\n'.join(results))
"#,
    );
    let r = String::from_utf8_lossy(&r).to_string();
    assert_eq!(r.lines().count(), 7, "{r}");
    for line in r.lines() {
        assert!(
            line.starts_with("554 5.6.0 portcullis: message has bare CR or LF"),
            "{line}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        t.stored("alice").is_empty() && t.stored("bob").is_empty() && t.postfix_idle(),
        "a smuggled message was stored"
    );
}

#[test]
fn normalised_bare_line_endings_make_exactly_one_message() {
    let t = smtp_setup("snorm", "[smtp]\nbare_line_endings = \"normalise\"\n");
    t.python_client(SERVER_V4, r#"
s = socket.create_connection((HOST, 25), timeout=20)
f = s.makefile('rb')
def reply():
    while True:
        l = f.readline()
        if l[3:4] != b'-':
            return l
reply()
for cmd in [b'EHLO c.test\r\n', b'MAIL FROM:<a@example.test>\r\n', b'RCPT TO:<alice@example.test>\r\n', b'DATA\r\n']:
    s.sendall(cmd); reply()
s.sendall(b'From: a@example.test\r\nSubject: one\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n')
assert reply().startswith(b'250'), 'normalised message accepted'
s.sendall(b'QUIT\r\n'); reply()
"#);
    let stored = t.wait_stored("alice", 1);
    assert_eq!(stored.len(), 1);
    let text = String::from_utf8_lossy(&stored[0]).to_string();
    // Re-stuffed upstream, so postfix stored the '.' line as data, not as an end.
    assert!(
        text.contains("first\n.\nMAIL FROM:<evil@example.test>\n") && text.contains("second"),
        "{text}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(t.stored("bob").is_empty());
}

#[test]
fn starttls_injection_bdat_and_pipelined_replies() {
    let t = smtp_setup("stls", "");
    let ca = t.path("tls/ca.crt").display().to_string();
    let r = t.python_client(SERVER_V4, &format!(r#"
s = socket.create_connection((HOST, 25), timeout=20)
f = s.makefile('rb')
def reply():
    lines = []
    while True:
        l = f.readline()
        lines.append(l)
        if l[3:4] != b'-':
            return b''.join(lines)
reply()
# Pipelined burst: one reply per command, in order (a refused RCPT in the middle).
s.sendall(b'EHLO c.test\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<reject-me@example.test>\r\nRCPT TO:<bob@example.test>\r\nRSET\r\n')
codes = [reply()[:3] for _ in range(6)]
out.write(b' '.join(codes) + b'\n')
# BDAT is refused and its chunk never taken for commands.
s.sendall(b'BDAT 10 LAST\r\nQUIT\r\nNOOP')
out.write(reply()[:3] + b'\n')
s.sendall(b'NOOP\r\n')
out.write(reply()[:3] + b'\n')
# STARTTLS with a command pipelined behind it: the RSET is neither forwarded nor answered.
s.sendall(b'STARTTLS\r\nRSET\r\n')
out.write(reply()[:3] + b'\n')
ctx = ssl.create_default_context(cafile={ca:?})
f.close()
tls = ctx.wrap_socket(s, server_hostname='mail.portcullis.test')
tls.sendall(b'EHLO c.test\r\n')
data = b''
while not data.endswith(b'\r\n') or data.split(b'\r\n')[-2][3:4] == b'-':
    data += tls.recv(4096)
out.write(data.split(b'\r\n')[0][:3] + b' ' + tls.version().encode() + b'\n')
tls.close()
"#));
    let r = String::from_utf8_lossy(&r).to_string();
    let lines: Vec<&str> = r.lines().collect();
    assert_eq!(lines[0], "250 250 250 554 250 250", "{r}");
    assert_eq!(lines[1], "502", "BDAT: {r}");
    assert_eq!(lines[2], "250", "NOOP after BDAT: {r}");
    assert_eq!(lines[3], "220", "STARTTLS: {r}");
    assert!(
        lines[4].starts_with("250 TLSv1."),
        "TLS to the real server through the splice: {r}"
    );
    let logs = t.session_logs();
    assert!(
        logs.contains("discarded 6 bytes sent after STARTTLS"),
        "{logs}"
    );
    assert!(
        logs.contains("NOT SCANNED (starttls = passthrough)"),
        "{logs}"
    );
}

#[test]
fn rate_limit_and_lockout_trip_at_their_counts_clear_after_the_window_and_alert() {
    let mut t = Topology::new("slimit");
    t.start_dovecot();
    t.start_postfix();
    let alerts = t.path("alerts.log").display().to_string();
    let script = t.path("alert.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nenv | grep '^PORTCULLIS_' | sort >> {alerts}\necho --- >> {alerts}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cfg = t.write_config(&format!(
        "[[abuse.rate]]\nscope = \"user\"\nwhat = \"messages\"\nmax = 2\nwindow_secs = 10\n\
         [abuse.lockout]\nmax_failures = 3\nwindow_secs = 60\nblock_secs = 4\n\
         [abuse.alert]\ncommand = \"{}\"\ncooldown_secs = 1\n\
         {SMTP_LISTENER}\n[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n",
        script.display()
    ));
    t.start_portcullis(&cfg);
    let send = r#"
import smtplib
def send(user='alice', pw='alicepw'):
    s = smtplib.SMTP(HOST, 25, timeout=30)
    try:
        # One AUTH PLAIN attempt (login() would go on to try LOGIN after a failure).
        s.ehlo('c.test')
        s.user, s.password = user, pw
        s.auth('PLAIN', s.auth_plain)
        s.sendmail('alice@example.test', ['bob@example.test'], b'Subject: hi\r\n\r\nhello\r\n')
        return '250'
    except (smtplib.SMTPSenderRefused, smtplib.SMTPAuthenticationError) as e:
        return '%d %s' % (e.smtp_code, e.smtp_error.decode())
    finally:
        s.quit()
"#;
    let r = t.python_client(
        SERVER_V4,
        &format!("{send}\nout.write('|'.join(send() for _ in range(3)).encode())"),
    );
    let r = String::from_utf8_lossy(&r).to_string();
    let replies: Vec<&str> = r.split('|').collect();
    assert_eq!(&replies[..2], ["250", "250"], "{r}");
    assert!(
        replies[2].starts_with("450 4.7.1 portcullis: sending limit reached"),
        "{r}"
    );
    std::thread::sleep(Duration::from_millis(10_200));
    let r = t.python_client(SERVER_V4, &format!("{send}\nout.write(send().encode())"));
    assert_eq!(r, b"250", "the limit clears after its window");
    assert_eq!(t.wait_stored("bob", 3).len(), 3);

    // Two wrong SMTP passwords and one wrong POP3 password from the same client: locked.
    let r = t.python_client(
        SERVER_V4,
        &format!(
            r#"{send}
res = [send(pw='wrong'), send(pw='wrong')]
p = poplib.POP3(HOST, 110, timeout=30)
p.user('alice')
try:
    p.pass_('wrong')
except poplib.error_proto as e:
    res.append(str(e))
p.quit()
res.append(send())
p = poplib.POP3(HOST, 110, timeout=30)
p.user('alice')
try:
    p.pass_('alicepw')
    res.append('POP3 OK')
except poplib.error_proto as e:
    res.append(str(e))
p.quit()
out.write('|'.join(res).encode())
"#
        ),
    );
    let r = String::from_utf8_lossy(&r).to_string();
    let replies: Vec<&str> = r.split('|').collect();
    assert!(
        replies[0].starts_with("535") && replies[1].starts_with("535"),
        "{r}"
    );
    assert!(
        replies[2].contains("-ERR") && !replies[2].contains("portcullis"),
        "the server judged the third: {r}"
    );
    assert!(
        replies[3].starts_with("454 4.7.0 portcullis: too many failed logins"),
        "{r}"
    );
    assert!(
        replies[4].contains("[SYS/TEMP] portcullis: too many failed logins"),
        "{r}"
    );
    std::thread::sleep(Duration::from_millis(4200));
    let r = t.python_client(SERVER_V4, &format!("{send}\nout.write(send().encode())"));
    assert_eq!(r, b"250", "the lockout ends after block_secs");

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = std::fs::read_to_string(&alerts).unwrap_or_default();
        if log.contains("PORTCULLIS_ALERT=lockout") || std::time::Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        log.contains("PORTCULLIS_ALERT=rate_limit\n") && log.contains("PORTCULLIS_USER=alice\n"),
        "{log}"
    );
    assert!(
        log.contains("PORTCULLIS_ALERT=lockout\n")
            && log.contains(&format!("PORTCULLIS_CLIENT={CLIENT_V4}\n")),
        "{log}"
    );
    assert!(
        !log.contains("alicepw") && !log.contains("wrong"),
        "credentials reached an alert"
    );
    let logs = t.session_logs();
    assert!(
        logs.contains("limit rate_limit scope=user key=alice"),
        "{logs}"
    );
    assert!(logs.contains("limit lockout scope=client"), "{logs}");
}

#[test]
fn submission_port_ipv6_and_fixed_upstream_mode() {
    let t = smtp_setup(
        "sv6",
        &format!(
            "[[listener]]\nprotocol = \"smtp\"\nlisten = \"[::]:10026\"\nupstream = \"[{SERVER_V6}]:25\"\n"
        ),
    );
    let r = t.python_client(SERVER_V6, &format!(r#"
import smtplib
for host, port, subject in [(HOST, 587, 'v6-587'), (HOST, 25, 'v6-25'), ({GW_LAN_V4:?}, 10026, 'fixed')]:
    s = smtplib.SMTP(host, port, timeout=30)
    s.sendmail('a@example.test', ['alice@example.test'], ('From: a@example.test\r\nSubject: %s\r\n\r\nhello\r\n' % subject).encode())
    s.quit()
out.write(b'ok')
"#));
    assert_eq!(r, b"ok");
    let stored = t.wait_stored("alice", 3);
    assert_eq!(stored.len(), 3);
    for subject in ["v6-587", "v6-25", "fixed"] {
        let m = stored
            .iter()
            .map(|m| String::from_utf8_lossy(m).to_string())
            .find(|m| m.contains(&format!("Subject: {subject}\n")))
            .unwrap_or_else(|| panic!("{subject} not stored"));
        assert!(m.contains("X-Portcullis-Scan: clean"), "{m}");
    }
    let logs = t.session_logs();
    assert!(
        logs.contains(&format!("client=[{CLIENT_V6}]:"))
            && logs.contains(&format!("server=[{SERVER_V6}]:587")),
        "{logs}"
    );
    assert!(
        logs.contains(&format!("server=[{SERVER_V6}]:25 listener=[::]:10026")),
        "{logs}"
    );
}

#[test]
fn a_server_without_chunking_gets_data_with_dot_stuffing() {
    let mut t = Topology::new("sdata");
    t.start_dovecot();
    t.start_postfix_with("smtpd_discard_ehlo_keywords = chunking");
    let cfg = t.write_config(SMTP_LISTENER);
    t.start_portcullis(&cfg);
    let msg = tricky_message("viadata");
    std::fs::write(t.path("m.eml"), &msg).unwrap();
    t.python_client(SERVER_V4, &format!(
        "import smtplib\ns = smtplib.SMTP(HOST, 25, timeout=30)\ns.sendmail('a@example.test', ['alice@example.test'], open({:?}, 'rb').read())\ns.quit()\n",
        t.path("m.eml").display().to_string()
    ));
    let stored = t.wait_stored("alice", 1);
    assert_eq!(stored.len(), 1);
    assert!(without_trace(&stored[0]).1 == msg, "stored message differs");
    let logs = t.session_logs();
    assert!(
        logs.contains("via=DATA upstream=\"250 2.0.0 Ok: queued as"),
        "{logs}"
    );
}
