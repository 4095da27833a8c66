//! SMTP STARTTLS through portcullis with a real postfix: once a local CA exists, the
//! client's STARTTLS is intercepted on both legs (the server leg verified for the name the
//! client asked), submission scanning, AUTH and lockout work inside TLS as in plaintext.
mod common;

use std::fs;

use common::*;

const SMTP_LISTENER: &str = "[[listener]]\nprotocol = \"smtp\"\nlisten = \"[::]:10025\"\nintercept_ports = [25, 587]\n\
[[listener]]\nprotocol = \"smtp\"\nlisten = \"[::]:10465\"\nintercept_ports = [465]\nimplicit_tls = true\n";

fn setup(name: &str, extra: &str) -> (Topology, String) {
    let mut t = Topology::new(name);
    t.start_dovecot();
    t.start_postfix();
    t.name_the_server();
    let d = t.dir.path().display().to_string();
    let cfg = t.write_config(&format!(
        "[tls]\nca_dir = \"{d}/ca\"\nextra_ca_file = \"{d}/tls/ca.crt\"\n{extra}\n{SMTP_LISTENER}"
    ));
    let pem = t.init_ca(&cfg);
    t.start_portcullis(&cfg);
    (t, pem)
}

/// Python smtplib over STARTTLS trusting only portcullis's CA; `body` runs after login.
fn client(pem: &str, password: &str, body: &str) -> String {
    format!(
        r#"
import smtplib
ctx = ssl.create_default_context(cafile={pem:?})
s = smtplib.SMTP('mail.portcullis.test', 25, timeout=60)
s.ehlo('client.portcullis.test')
assert 'starttls' in s.esmtp_features, s.esmtp_features
s.starttls(context=ctx)
s.ehlo('client.portcullis.test')
assert 'starttls' not in s.esmtp_features, s.esmtp_features
out.write(('cert ' + s.sock.getpeercert()['issuer'][-1][0][1] + '\n').encode())
try:
    s.login('alice', {password:?})
except smtplib.SMTPException as e:
    out.write(('login ' + str(e.smtp_code) + '\n').encode())
{body}
s.quit()
"#
    )
}

#[test]
fn starttls_is_intercepted_and_submissions_are_scanned_inside_tls() {
    let (t, pem) = setup("stlssmtp", "");
    let body = format!(
        r#"
s.sendmail('sender@example.test', ['alice@example.test'], b'Subject: clean over tls\r\n\r\nhello\r\n')
try:
    s.sendmail('sender@example.test', ['alice@example.test'], b'Subject: bad\r\n\r\n{EICAR}\r\n')
    out.write(b'infected accepted\n')
except smtplib.SMTPDataError as e:
    out.write(('infected ' + str(e.smtp_code) + '\n').encode())
"#
    );
    let out =
        String::from_utf8(t.python_client(SERVER_V4, &client(&pem, "alicepw", &body))).unwrap();
    assert!(out.contains("cert portcullis local CA"), "{out}");
    assert!(!out.contains("login "), "{out}");
    assert!(out.contains("infected 554"), "{out}");
    let stored = t.wait_stored("alice", 1);
    let m = String::from_utf8_lossy(&stored[0]);
    assert!(
        m.contains("Subject: clean over tls") && m.contains("X-Portcullis-Scan: clean"),
        "{m}"
    );
    let logs = t.session_logs();
    assert!(logs.contains("tls intercepted after STARTTLS"), "{logs}");
    assert!(
        logs.contains("login ok user=alice mechanism=PLAIN"),
        "{logs}"
    );
}

#[test]
fn the_lockout_trips_inside_tls_as_in_plaintext() {
    let (t, pem) = setup(
        "stlslock",
        "[abuse.lockout]\nmax_failures = 2\nwindow_secs = 600\nblock_secs = 600\n",
    );
    // smtplib's login() tries PLAIN, then LOGIN: two failures in the first session.
    let mut codes = Vec::new();
    for _ in 0..2 {
        let out =
            String::from_utf8(t.python_client(SERVER_V4, &client(&pem, "wrong", ""))).unwrap();
        codes.push(
            out.lines()
                .find(|l| l.starts_with("login "))
                .unwrap_or("")
                .to_string(),
        );
    }
    assert_eq!(codes, ["login 535", "login 454"], "{}", t.session_logs());
    assert!(
        t.session_logs()
            .contains("limit lockout scope=user key=alice")
    );
}

#[test]
fn plaintext_pipelined_behind_starttls_is_never_executed() {
    let (t, pem) = setup("stlsinj", "");
    let script = format!(
        r#"
ctx = ssl.create_default_context(cafile={pem:?})
s = socket.create_connection(('mail.portcullis.test', 25), timeout=30)
f = s.makefile('rb')
def reply():
    lines = []
    while True:
        l = f.readline()
        lines.append(l)
        if l[3:4] != b'-':
            return b''.join(lines)
reply()
s.sendall(b'EHLO client.portcullis.test\r\n'); reply()
s.sendall(b'STARTTLS\r\nMAIL FROM:<injected@example.test>\r\n')
out.write(b'starttls ' + reply()[:3] + b'\n')
t = ctx.wrap_socket(s, server_hostname='mail.portcullis.test')
f = t.makefile('rb')
t.sendall(b'EHLO client.portcullis.test\r\n'); reply()
t.sendall(b'MAIL FROM:<real@example.test>\r\n')
out.write(b'mail ' + reply()[:3] + b'\n')
t.sendall(b'QUIT\r\n'); reply()
"#
    );
    let out = String::from_utf8(t.python_client(SERVER_V4, &script)).unwrap();
    assert_eq!(out, "starttls 220\nmail 250\n", "{}", t.session_logs());
    assert!(
        t.session_logs().contains("discarded"),
        "{}",
        t.session_logs()
    );
}

#[test]
fn smtps_on_465_is_intercepted_and_scanned() {
    let (t, pem) = setup("smtps", "");
    let script = format!(
        r#"
import smtplib
ctx = ssl.create_default_context(cafile={pem:?})
s = smtplib.SMTP_SSL('mail.portcullis.test', 465, context=ctx, timeout=60)
s.ehlo('client.portcullis.test')
out.write(('cert ' + s.sock.getpeercert()['issuer'][-1][0][1] + '\n').encode())
s.login('alice', 'alicepw')
s.sendmail('sender@example.test', ['alice@example.test'], b'Subject: clean over smtps\r\n\r\nhello\r\n')
try:
    s.sendmail('sender@example.test', ['alice@example.test'], b'Subject: bad\r\n\r\n{EICAR}\r\n')
    out.write(b'infected accepted\n')
except smtplib.SMTPDataError as e:
    out.write(('infected ' + str(e.smtp_code) + '\n').encode())
s.quit()
"#
    );
    let out = String::from_utf8(t.python_client(SERVER_V4, &script)).unwrap();
    assert!(out.starts_with("cert portcullis local CA"), "{out}");
    assert!(
        out.ends_with("\ninfected 554\n"),
        "{out} {}",
        t.session_logs()
    );
    let stored = t.wait_stored("alice", 1);
    let m = String::from_utf8_lossy(&stored[0]);
    assert!(m.contains("Subject: clean over smtps"), "{m}");
    let logs = t.session_logs();
    assert!(logs.contains("tls intercepted client="), "{logs}");
    assert!(logs.contains("login ok user=alice"), "{logs}");
}

/// The message as the client sent it: postfix's trace headers (prepended on delivery) and
/// portcullis's scan header dropped, LF turned back into CRLF. Returns (scan header, rest).
fn without_trace(stored: &[u8]) -> (String, Vec<u8>) {
    let text = String::from_utf8_lossy(stored).into_owned();
    let mut scan = String::new();
    let mut rest = stored;
    let mut in_trace = false;
    while let Some(eol) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..=eol];
        let continued = line.starts_with(b" ") || line.starts_with(b"\t");
        if line.starts_with(b"X-Portcullis-Scan:") {
            scan = String::from_utf8_lossy(line).trim_end().to_string();
            in_trace = false;
        } else if [
            "Return-Path:",
            "X-Original-To:",
            "Delivered-To:",
            "Received:",
        ]
        .iter()
        .any(|h| line.starts_with(h.as_bytes()))
        {
            in_trace = true;
        } else if !(continued && in_trace) {
            break;
        }
        rest = &rest[eol + 1..];
    }
    assert!(rest.len() < stored.len(), "no trace headers in {text}");
    let mut crlf = Vec::with_capacity(rest.len() + 64);
    for &b in rest {
        if b == b'\n' {
            crlf.push(b'\r');
        }
        crlf.push(b);
    }
    (scan, crlf)
}

/// swaks in the client namespace, verifying the server's certificate against `pem` only,
/// with SNI for the server's name; `tls` is `--tls` (STARTTLS) or `--tlsc` (implicit).
fn swaks(t: &Topology, pem: &str, tls: &str, port: u16, data: &str) -> (bool, String) {
    let port = port.to_string();
    let data = format!("@{data}");
    let out = t.ns_output(
        &t.client_ns,
        &[
            "swaks",
            "--server",
            "mail.portcullis.test",
            "--port",
            &port,
            tls,
            "--tls-verify",
            "--tls-ca-path",
            pem,
            "--tls-sni",
            "mail.portcullis.test",
            "--ehlo",
            "client.portcullis.test",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "alicepw",
            "--from",
            "sender@example.test",
            "--to",
            "alice@example.test",
            "--data",
            &data,
        ],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn swaks_over_starttls_on_587_and_implicit_tls_on_465_trusting_portcullis_ca() {
    let (t, pem) = setup("stlsswaks", "");
    for (tls, port) in [("--tls", 587u16), ("--tlsc", 465)] {
        let subject = format!("swaks{port}");
        let clean = tricky_message(&subject);
        let clean_file = t.path(&format!("{subject}.eml")).display().to_string();
        // swaks ends the data with CRLF "." CRLF whether or not the file ends with CRLF.
        fs::write(&clean_file, clean.strip_suffix(b"\r\n").unwrap()).unwrap();
        let (ok, text) = swaks(&t, &pem, tls, port, &clean_file);
        assert!(ok, "clean over {tls} {port}: {text}");
        assert!(
            text.contains("<~  250 2.0.0 Ok: ") && text.contains("queued as"),
            "{text}"
        );

        let bad_file = t.path(&format!("bad{port}.eml")).display().to_string();
        let bad = format!("From: x@example.test\r\nSubject: bad {port}\r\n\r\n{EICAR}\r\n");
        fs::write(&bad_file, bad).unwrap();
        let (ok, text) = swaks(&t, &pem, tls, port, &bad_file);
        assert!(!ok, "EICAR accepted over {tls} {port}: {text}");
        assert!(
            text.contains("<~* 554") && !text.contains("queued as"),
            "{text}"
        );
    }
    let stored = t.wait_stored("alice", 2);
    assert_eq!(stored.len(), 2, "{}", t.session_logs());
    for port in [587, 465] {
        let needle = format!("\nSubject: swaks{port}\n");
        let m = stored
            .iter()
            .find(|m| memchr::memmem::find(m, needle.as_bytes()).is_some())
            .unwrap_or_else(|| panic!("no stored message for {port}"));
        let (scan, body) = without_trace(m);
        assert!(
            scan.starts_with("X-Portcullis-Scan: clean by portcullis"),
            "{scan}"
        );
        assert!(
            body == tricky_message(&format!("swaks{port}")),
            "stored message differs:\n{}",
            String::from_utf8_lossy(&body)
        );
    }
    let logs = t.session_logs();
    assert!(logs.contains("tls intercepted after STARTTLS"), "{logs}");
    assert!(logs.contains("tls intercepted client="), "{logs}");
    assert!(logs.contains("sni=mail.portcullis.test"), "{logs}");
    assert!(!logs.contains("EICAR accepted"), "{logs}");
}
