//! POP3 look-ahead against a real dovecot: a client that asks CAPA, LIST and then
//! retrieves in order is served the next messages from copies fetched ahead with TOP,
//! byte-identical to a direct fetch, and messages it never retrieved stay unread on the
//! server.
mod common;

use std::fs;

use common::*;

const POP3_LISTENER: &str =
    "[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n";

/// Python: CAPA, LIST, RETR 1..=upto (hex of each message on a line), QUIT.
fn client(upto: usize) -> String {
    format!(
        r#"
p = poplib.POP3(HOST, 110, timeout=60)
p.capa()
p.user('alice'); p.pass_('alicepw')
p.list()
for i in range(1, {upto} + 1):
    resp, lines, octets = p.retr(i)
    out.write((b'\r\n'.join(lines) + b'\r\n').hex().encode() + b'\n')
p.quit()
"#
    )
}

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: a@example.test\r\nSubject: message {i}\r\nMessage-ID: <m{i}@example.test>\r\n\r\n.leading dot\r\nline {i}\r\n"
    )
    .into_bytes()
}

fn retrieved(out: &[u8]) -> Vec<Vec<u8>> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

/// Messages dovecot has flagged \Seen (maildir ":2,S" in cur/).
fn seen(t: &Topology) -> usize {
    fs::read_dir(t.path("dovecot/mail/alice/Maildir/cur"))
        .map(|d| {
            d.filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                let name = name.to_string_lossy();
                name.rsplit_once(":2,")
                    .is_some_and(|(_, f)| f.contains('S'))
            })
            .count()
        })
        .unwrap_or(0)
}

#[test]
fn sequential_downloads_are_served_ahead_and_unretrieved_messages_stay_unread() {
    let mut t = Topology::new("ahead");
    t.start_dovecot();
    for i in 1..=8 {
        t.deliver("alice", &i.to_string(), &message(i));
    }
    let cfg = t.write_config(POP3_LISTENER);
    t.start_portcullis(&cfg);
    let server_ns = t.server_ns.clone();
    let direct = retrieved(&t.python_in(&server_ns, "127.0.0.1", &client(8)));
    // The direct fetch marked all 8 seen; start again with fresh copies.
    assert_eq!(seen(&t), 8);
    for e in fs::read_dir(t.path("dovecot/mail/alice/Maildir/cur")).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    for i in 1..=8 {
        t.deliver("alice", &i.to_string(), &message(i));
    }

    let got = retrieved(&t.python_client(SERVER_V4, &client(5)));
    assert_eq!(got.len(), 5);
    for (i, m) in got.iter().enumerate() {
        let eol = m.iter().position(|&b| b == b'\n').unwrap() + 1;
        assert!(m.starts_with(b"X-Portcullis-Scan: clean"));
        assert_eq!(&m[eol..], direct[i].as_slice(), "message {}", i + 1);
    }
    let logs = t.session_logs();
    assert!(logs.contains("lookahead_served=4"), "{logs}");
    // RETR went upstream for each message the client retrieved; TOP for the look-ahead
    // of 6..8 changed nothing.
    assert_eq!(seen(&t), 5, "only the retrieved messages are \\Seen");
    let dlog = fs::read_to_string(t.path("dovecot/dovecot.log")).unwrap();
    assert!(
        dlog.contains("top=7/"),
        "messages 2 to 8 fetched ahead with TOP: {dlog}"
    );
}

#[test]
fn lookahead_off_changes_nothing_on_the_wire() {
    let mut t = Topology::new("noahead");
    t.start_dovecot();
    for i in 1..=3 {
        t.deliver("alice", &i.to_string(), &message(i));
    }
    let cfg = t.write_config(&format!("[pop3]\nlookahead = false\n{POP3_LISTENER}"));
    t.start_portcullis(&cfg);
    let got = retrieved(&t.python_client(SERVER_V4, &client(3)));
    assert_eq!(got.len(), 3);
    assert!(t.session_logs().contains("lookahead_served=0"));
    let dlog = fs::read_to_string(t.path("dovecot/dovecot.log")).unwrap_or_default();
    assert!(dlog.contains("top=0/0, retr=3/"), "{dlog}");
}
