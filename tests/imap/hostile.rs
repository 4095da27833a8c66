//! What a client must not get through portcullis: capabilities that bypass the scan,
//! COMPRESS, literal announces the proxy will not buffer, `{n+}` literal bytes executed as
//! commands, and endless password guessing.
use super::*;

/// Capabilities that must never reach a client through the proxy.
const NEVER: &[&str] = &[
    "COMPRESS=DEFLATE",
    "LITERAL+",
    "BINARY",
    "CATENATE",
    "URLAUTH",
    "NOTIFY",
    "PREVIEW",
    "MULTIAPPEND",
];

fn caps_in(line: &str) -> Vec<String> {
    let up = line.to_ascii_uppercase();
    let from = up
        .find("CAPABILITY")
        .map(|i| i + "CAPABILITY".len())
        .unwrap_or(0);
    up[from..]
        .split(|c: char| c.is_whitespace() || c == ']')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn capabilities_are_filtered_and_compress_is_refused() {
    let mut t = Topology::new("imapcaps");
    t.start_dovecot();
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    let script = r#"
r = Raw()
emit('greeting', r.greeting)
emit('pre', b''.join(r.cmd(b'a1', b'CAPABILITY')))
emit('login', b''.join(r.cmd(b'a2', b'LOGIN alice alicepw')))
emit('post', b''.join(r.cmd(b'a3', b'CAPABILITY')))
emit('compress', b''.join(r.cmd(b'a4', b'COMPRESS DEFLATE')))
# Plain text still works afterwards: a compressed stream would garble this.
emit('noop', b''.join(r.cmd(b'a5', b'NOOP')))
emit('select', b''.join(r.cmd(b'a6', b'SELECT INBOX')))
r.cmd(b'a7', b'LOGOUT')
"#;
    // Directly only the capabilities: dovecot would accept COMPRESS.
    let d = direct(&t, script.split("emit('compress'").next().unwrap());
    let direct_post = String::from_utf8_lossy(&d["post"]).to_string();
    for cap in [
        "COMPRESS=DEFLATE",
        "LITERAL+",
        "BINARY",
        "CATENATE",
        "NOTIFY",
    ] {
        assert!(
            caps_in(&direct_post).iter().any(|c| c == cap),
            "dovecot should offer {cap}: {direct_post}"
        );
    }
    let got = via_proxy(&t, script);
    for part in ["greeting", "pre", "login", "post"] {
        let text = String::from_utf8_lossy(&got[part]).to_string();
        for line in text
            .lines()
            .filter(|l| l.to_ascii_uppercase().contains("CAPABILITY"))
        {
            let caps = caps_in(line);
            for bad in NEVER {
                assert!(
                    !caps.iter().any(|c| c == bad),
                    "{part}: {bad} offered through the proxy: {line}"
                );
            }
            assert!(
                !caps.iter().any(|c| c.starts_with("COMPRESS")),
                "{part}: {line}"
            );
        }
    }
    let post = String::from_utf8_lossy(&got["post"]).to_string();
    let caps = caps_in(&post);
    for want in ["IMAP4REV1", "IDLE", "LITERAL-", "CONDSTORE", "QRESYNC"] {
        assert!(caps.iter().any(|c| c == want), "{want} missing: {post}");
    }
    let compress = String::from_utf8_lossy(&got["compress"]).to_string();
    assert!(
        compress.contains("a4 NO") || compress.contains("a4 BAD"),
        "COMPRESS must be refused: {compress}"
    );
    assert!(
        String::from_utf8_lossy(&got["noop"]).contains("a5 OK"),
        "{:?}",
        String::from_utf8_lossy(&got["noop"])
    );
    assert!(String::from_utf8_lossy(&got["select"]).contains("a6 OK"));
}

#[test]
fn huge_literal_announces_are_refused_without_a_continuation() {
    let mut t = Topology::new("imaphuge");
    t.start_dovecot();
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    let before = t.mailbox_count("alice");
    let got = via_proxy(
        &t,
        r#"
r = Raw()
# A LOGIN whose user name would be 2 GiB: no '+', a tagged refusal.
emit('login', b''.join(r.cmd(b'a1', b'LOGIN {2147483648}')))
emit('login2', b''.join(r.cmd(b'a2', b'LOGIN alice alicepw')))
emit('append', b''.join(r.cmd(b'a3', b'APPEND INBOX {2147483648}')))
emit('append2', b''.join(r.cmd(b'a4', b'APPEND INBOX (\\Seen) {4294967296}')))
emit('noop', b''.join(r.cmd(b'a5', b'NOOP')))
emit('select', b''.join(r.cmd(b'a6', b'SELECT INBOX')))
r.cmd(b'a7', b'LOGOUT')
"#,
    );
    for (part, tag) in [("login", "a1"), ("append", "a3"), ("append2", "a4")] {
        let text = String::from_utf8_lossy(&got[part]).to_string();
        assert!(
            !text.lines().any(|l| l.starts_with('+')),
            "{part}: a continuation invites 2 GiB: {text}"
        );
        let last = text.lines().last().unwrap_or("");
        assert!(
            last.starts_with(&format!("{tag} NO")) || last.starts_with(&format!("{tag} BAD")),
            "{part}: {text}"
        );
    }
    for (part, tag) in [("login2", "a2"), ("noop", "a5"), ("select", "a6")] {
        let text = String::from_utf8_lossy(&got[part]).to_string();
        assert!(
            text.contains(&format!("{tag} OK")),
            "the session must stay usable: {part}: {text}"
        );
    }
    assert_eq!(t.mailbox_count("alice"), before);
}

#[test]
fn an_oversized_non_synchronising_literal_is_consumed_never_executed() {
    let mut t = Topology::new("imaplitp");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("keep"));
    let cfg = t.write_config(&format!(
        "[imap]\nmax_literal_bytes = 2048\n{IMAP_LISTENER}"
    ));
    start_proxy(&mut t, &cfg);
    // 3,000 bytes that read as commands if the proxy lost track of the literal.
    let got = via_proxy(
        &t,
        r#"
evil = (b'x1 DELETE INBOX\r\nx2 LOGOUT\r\n' * 200)[:3000]
r = Raw()
r.send(b'b1 LOGIN {3000+}\r\n' + evil + b' alicepw\r\n')
emit('prelogin', b''.join(r.until(b'b1')))
emit('login', b''.join(r.cmd(b'b2', b'LOGIN alice alicepw')))
r.send(b'b3 APPEND INBOX {3000+}\r\n' + evil + b'\r\n')
emit('append', b''.join(r.until(b'b3')))
r.send(b'b4 SELECT {3000+}\r\n' + evil + b'\r\n')
emit('select', b''.join(r.until(b'b4')))
emit('noop', b''.join(r.cmd(b'b5', b'NOOP')))
emit('examine', b''.join(r.cmd(b'b6', b'EXAMINE INBOX')))
r.cmd(b'b7', b'LOGOUT')
"#,
    );
    let all: String = got
        .values()
        .map(|v| String::from_utf8_lossy(v).to_string())
        .collect();
    assert!(
        !all.contains("x1 ") && !all.contains("x2 ") && !all.contains("* BYE"),
        "literal bytes were executed as commands:\n{all}"
    );
    for (part, tag) in [("prelogin", "b1"), ("append", "b3"), ("select", "b4")] {
        let text = String::from_utf8_lossy(&got[part]).to_string();
        let last = text.lines().last().unwrap_or("");
        assert!(
            last.starts_with(&format!("{tag} NO")) || last.starts_with(&format!("{tag} BAD")),
            "{part}: {text}"
        );
    }
    for (part, tag) in [("login", "b2"), ("noop", "b5"), ("examine", "b6")] {
        let text = String::from_utf8_lossy(&got[part]).to_string();
        assert!(text.contains(&format!("{tag} OK")), "{part}: {text}");
    }
    assert!(
        String::from_utf8_lossy(&got["examine"]).contains("* 1 EXISTS"),
        "INBOX and its message are still there"
    );
    assert_eq!(t.mailbox_count("alice"), 1);
}

#[test]
fn failed_logins_trip_the_lockout_shared_with_pop3() {
    let mut t = Topology::new("imaplock");
    t.start_dovecot();
    let cfg = t.write_config(&format!(
        "[abuse.lockout]\nmax_failures = 5\nwindow_secs = 600\nblock_secs = 600\n{IMAP_LISTENER}\
         [[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n"
    ));
    start_proxy(&mut t, &cfg);
    let got = via_proxy(
        &t,
        r#"
def try_login(pw, mech='LOGIN'):
    M = connect()
    try:
        if mech == 'LOGIN':
            M.login('alice', pw)
        else:
            M.authenticate('PLAIN', lambda _: b'\0alice\0' + pw.encode())
        M.logout()
        return b'OK'
    except imaplib.IMAP4.error as e:
        try: M.logout()
        except Exception: pass
        return b'NO ' + str(e).encode()
for i in range(3):
    emit('wrong%d' % i, try_login('wrong'))
for i in range(3, 5):
    emit('wrong%d' % i, try_login('wrong', 'PLAIN'))
emit('right', try_login('alicepw'))
emit('rightplain', try_login('alicepw', 'PLAIN'))
p = poplib.POP3(HOST, 110, timeout=30)
p.user('alice')
try:
    p.pass_('alicepw')
    emit('pop3', b'OK')
except poplib.error_proto as e:
    emit('pop3', str(e).encode())
p.quit()
"#,
    );
    for i in 0..5 {
        let r = String::from_utf8_lossy(&got[&format!("wrong{i}")]).to_string();
        assert!(r.starts_with("NO "), "attempt {i}: {r}");
    }
    for part in ["right", "rightplain"] {
        let r = String::from_utf8_lossy(&got[part]).to_string();
        assert!(
            r.starts_with("NO ") && r.contains("portcullis"),
            "after 5 failures the right password is refused by the proxy: {part}: {r}"
        );
    }
    let pop3 = String::from_utf8_lossy(&got["pop3"]).to_string();
    assert!(pop3.contains("too many failed logins"), "{pop3}");
    // The server itself would have let alice in: the block is the proxy's.
    let d = direct(&t, "M = session(); M.logout(); emit('ok', b'1')");
    assert_eq!(d["ok"], b"1");
}
