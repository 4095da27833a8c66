//! STARTTLS where the server's name is known before the client's ClientHello (from
//! `tls.sni_map`): portcullis upgrades and verifies the server leg first and answers the
//! client's STLS / STARTTLS only then. A server that fails verification gets the client the
//! protocol's own error (never a go-ahead followed by an alert), and the session ends.
mod common;

use common::*;

const LISTENERS: &str = "[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n\
[[listener]]\nprotocol = \"smtp\"\nlisten = \"[::]:10025\"\nintercept_ports = [587]\n\
[[listener]]\nprotocol = \"imap\"\nlisten = \"[::]:10143\"\nintercept_ports = [143]\n";

/// Raw STLS / STARTTLS on each protocol: prints the answer line and whether the
/// connection was closed after it.
const CLIENT: &str = r#"
def line(f):
    return f.readline().decode().rstrip('\r\n')
def closed(s, f):
    s.settimeout(10)
    try:
        return f.read(1) == b''
    except OSError:
        return True
def pop3():
    s = socket.create_connection(('mail.portcullis.test', 110), timeout=30)
    f = s.makefile('rb')
    line(f)
    s.sendall(b'STLS\r\n')
    return line(f), closed(s, f)
def smtp():
    s = socket.create_connection(('mail.portcullis.test', 587), timeout=30)
    f = s.makefile('rb')
    while line(f)[3:4] == '-':
        pass
    s.sendall(b'EHLO client.portcullis.test\r\n')
    while line(f)[3:4] == '-':
        pass
    s.sendall(b'STARTTLS\r\n')
    return line(f), closed(s, f)
def imap():
    s = socket.create_connection(('mail.portcullis.test', 143), timeout=30)
    f = s.makefile('rb')
    line(f)
    s.sendall(b'a1 STARTTLS\r\n')
    l = line(f)
    while not l.startswith('a1 '):
        l = line(f)
    return l, closed(s, f)
for name, talk in (('pop3', pop3), ('smtp', smtp), ('imap', imap)):
    answer, gone = talk()
    out.write(('%s|%s|%s\n' % (name, answer, 'closed' if gone else 'open')).encode())
"#;

#[test]
fn a_server_that_fails_verification_gets_starttls_the_protocols_error() {
    let mut t = Topology::new("stlsfirst");
    t.start_dovecot();
    t.start_postfix();
    t.name_the_server();
    // Trust some other CA upstream: the servers' certificates are from an unknown root.
    let other = t.unrelated_ca();
    let cfg = t.write_config(&format!(
        "[tls]\nca_dir = \"{d}/ca\"\nextra_ca_file = \"{o}\"\n[tls.sni_map]\n\"{SERVER_V4}\" = \"mail.portcullis.test\"\n{LISTENERS}",
        d = t.dir.path().display(),
        o = other
    ));
    t.init_ca(&cfg);
    t.start_portcullis(&cfg);
    let out = String::from_utf8_lossy(&t.python_client(SERVER_V4, CLIENT)).into_owned();
    let got: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(got.len(), 3, "{out}");
    let (pop3, smtp, imap) = (&got[0], &got[1], &got[2]);
    assert!(pop3[1].starts_with("-ERR [SYS/TEMP]"), "{out}");
    assert!(smtp[1].starts_with("454 4.7.0"), "{out}");
    assert!(imap[1].starts_with("a1 NO [UNAVAILABLE]"), "{out}");
    for g in &got {
        assert_eq!(g[2], "closed", "the session ends after the refusal: {out}");
    }
    let logs = t.session_logs();
    let refused = logs.lines().filter(|l| l.contains("unknown_root")).count();
    assert_eq!(refused, 3, "{logs}");
    assert!(!logs.contains("tls intercepted"), "{logs}");
}
