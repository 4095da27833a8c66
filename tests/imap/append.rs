//! APPEND through portcullis: a clean message is stored byte for byte, an infected one is
//! refused with a tagged NO before the server stores anything, and its original is kept
//! in quarantine.
use super::*;

/// Python (direct): every stored message of INBOX as `msg.<uid>` plus its flags.
const STORED: &str = r#"
M = connect(); M.login('alice', 'alicepw'); M.select('INBOX', readonly=True)
for u in uids(M):
    emit('msg.%d' % u, literal(M, u, 'BODY.PEEK[]'))
    typ, d = M.uid('FETCH', str(u), '(FLAGS)')
    emit('flags.%d' % u, d[0])
M.logout()
"#;

fn stored_with(stored: &BTreeMap<String, Vec<u8>>, id: &str) -> Vec<Vec<u8>> {
    stored
        .iter()
        .filter(|(k, v)| k.starts_with("msg.") && contains(v, &format!("<{id}@example.test>")))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Three clean messages (8-bit, multipart, 300 KB) and four infected ones, by name.
fn append_samples(t: &Topology) -> Vec<(&'static str, Vec<u8>)> {
    let zip = zip_of(t, &[("eicar.com", EICAR.as_bytes())]);
    vec![
        ("dots", tricky_message("dots")),
        (
            "att",
            with_attachment("att", "report.pdf", b"%PDF-1.4 harmless\n"),
        ),
        ("big", {
            let mut m = large_message(300_000);
            let at = find(&m, b"Message-ID: <large@").unwrap();
            m.splice(
                at..at + "Message-ID: <large@".len(),
                b"Message-ID: <big@".iter().copied(),
            );
            m
        }),
        ("plain", eicar_plain("plain")),
        ("b64", with_attachment("b64", "eicar.com", EICAR.as_bytes())),
        ("zip", with_attachment("zip", "files.zip", &zip)),
        ("nested", eicar_nested("nested")),
    ]
}

#[test]
fn append_stores_clean_mail_byte_identical_and_refuses_infected_mail() {
    let mut t = Topology::new("imapapp");
    t.start_dovecot();
    let sock = t.start_clamd();
    let samples = append_samples(&t);
    for (name, msg) in &samples {
        fs::write(t.path(&format!("append-{name}.eml")), msg).unwrap();
    }
    let cfg = t.write_config(&format!("{}{IMAP_LISTENER}", scan_with_clamd(&sock)));
    start_proxy(&mut t, &cfg);
    let before = t.mailbox_count("alice");
    let got = via_proxy(
        &t,
        &format!(
            r#"
M = session()
for name in ['dots', 'att', 'big', 'plain', 'b64', 'zip', 'nested']:
    msg = open({dir:?} + '/append-' + name + '.eml', 'rb').read()
    flags = '(\\Seen)' if name == 'att' else None
    typ, d = M.append('INBOX', flags, None, msg)
    emit(name, (typ + ' ').encode() + b' '.join(d))
typ, d = M.noop()
emit('noop', typ.encode())
M.logout()
"#,
            dir = t.dir.path().display().to_string()
        ),
    );
    for name in ["dots", "att", "big"] {
        let r = String::from_utf8_lossy(&got[name]).to_string();
        assert!(r.starts_with("OK "), "clean APPEND {name}: {r}");
    }
    for name in ["plain", "b64", "zip", "nested"] {
        let r = String::from_utf8_lossy(&got[name]).to_string();
        assert!(r.starts_with("NO "), "infected APPEND {name}: {r}");
    }
    assert_eq!(got["noop"], b"OK", "the session goes on after a refusal");
    let stored = direct(&t, STORED);
    assert_eq!(t.mailbox_count("alice"), before + 3, "only the clean ones");
    for (name, msg) in &samples[..3] {
        let s = stored_with(&stored, name);
        assert_eq!(s.len(), 1, "{name} stored {} times", s.len());
        assert!(
            s[0] == *msg,
            "{name}: stored bytes differ from the appended ones"
        );
    }
    let att_uid = stored
        .iter()
        .find(|(k, v)| k.starts_with("msg.") && contains(v, "<att@example.test>"))
        .map(|(k, _)| k["msg.".len()..].to_string())
        .unwrap();
    assert!(
        contains(&stored[&format!("flags.{att_uid}")], "\\Seen"),
        "APPEND flags reach the server"
    );
    for name in ["plain", "b64", "zip", "nested"] {
        assert!(stored_with(&stored, name).is_empty(), "{name} was stored");
    }
    // The refused originals are kept in quarantine, byte for byte.
    let q = t.quarantined(&cfg);
    for (name, msg) in &samples[3..] {
        assert!(
            q.values().any(|v| v == msg),
            "{name}: the refused original is not in quarantine ({} entries)",
            q.len()
        );
    }
}

#[test]
fn a_non_synchronising_append_is_scanned_too() {
    let mut t = Topology::new("imapappnl");
    t.start_dovecot();
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    let clean = tricky_message("small");
    let bad = eicar_plain("smallbad");
    fs::write(t.path("small.eml"), &clean).unwrap();
    fs::write(t.path("smallbad.eml"), &bad).unwrap();
    let got = via_proxy(
        &t,
        &format!(
            r#"
r = Raw()
r.cmd(b'a1', b'LOGIN alice alicepw')
for tag, name in ((b'a2', 'small'), (b'a3', 'smallbad')):
    msg = open({dir:?} + '/' + name + '.eml', 'rb').read()
    # {{n+}}: the client sends the literal without waiting (LITERAL+ / LITERAL-, <= 4096).
    r.send(tag + b' APPEND INBOX {{%d+}}\r\n' % len(msg) + msg + b'\r\n')
    lines = r.until(tag)
    emit(name, b''.join(lines))
emit('noop', b''.join(r.cmd(b'a4', b'NOOP')))
r.cmd(b'a5', b'LOGOUT')
"#,
            dir = t.dir.path().display().to_string()
        ),
    );
    let small = String::from_utf8_lossy(&got["small"]).to_string();
    let smallbad = String::from_utf8_lossy(&got["smallbad"]).to_string();
    assert!(small.contains("a2 OK"), "{small}");
    assert!(smallbad.contains("a3 NO"), "{smallbad}");
    assert!(
        String::from_utf8_lossy(&got["noop"]).contains("a4 OK"),
        "{:?}",
        got["noop"]
    );
    let stored = direct(&t, STORED);
    assert_eq!(stored_with(&stored, "small"), vec![clean]);
    assert!(stored_with(&stored, "smallbad").is_empty());
}

/// A server that takes no non-synchronising literals after login (dovecot told to offer
/// a capability list without LITERAL+): the proxy forwards each literal only once the
/// server's `+` came, and the stored messages are byte-identical. A `{n+}` sent to such a
/// server would have its bytes read as commands.
#[test]
fn a_server_without_literal_plus_gets_synchronising_literals() {
    let mut t = Topology::new("imapnolit");
    t.start_dovecot_with(
        "",
        "protocol imap {\n  imap_capability = IMAP4rev1 SASL-IR ID ENABLE IDLE UIDPLUS\n}\n",
    );
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    let samples = [
        ("tiny", tricky_message("tiny")),
        (
            "big",
            with_attachment("big", "report.pdf", &vec![b'%'; 200_000]),
        ),
    ];
    for (name, msg) in &samples {
        fs::write(t.path(&format!("{name}.eml")), msg).unwrap();
    }
    let caps = direct(
        &t,
        "M = connect(); emit('pre', ' '.join(M.capabilities).encode()); M.login('alice', 'alicepw')\ntyp, d = M.capability(); emit('post', d[0]); M.logout()",
    );
    assert!(
        !contains(&caps["post"], "LITERAL"),
        "dovecot still offers non-synchronising literals after login: {:?}",
        String::from_utf8_lossy(&caps["post"])
    );
    let got = via_proxy(
        &t,
        &format!(
            r#"
r = Raw()
r.cmd(b'a1', b'LOGIN alice alicepw')
for tag, name in ((b'a2', 'tiny'), (b'a3', 'big')):
    msg = open({dir:?} + '/' + name + '.eml', 'rb').read()
    # {{n+}} for the small one (the proxy offers LITERAL-), a synchronising one for the big.
    plus = b'+' if len(msg) <= 4096 else b''
    if plus:
        r.send(tag + b' APPEND INBOX {{%d+}}\r\n' % len(msg) + msg + b'\r\n')
        lines = r.until(tag)
    else:
        lines = r.lit(tag, [tag + b' APPEND INBOX {{%d}}\r\n' % len(msg), msg + b'\r\n'])
    emit(name, b''.join(lines))
emit('noop', b''.join(r.cmd(b'a4', b'NOOP')))
r.cmd(b'a5', b'LOGOUT')
"#,
            dir = t.dir.path().display().to_string()
        ),
    );
    for (tag, name) in [("a2", "tiny"), ("a3", "big")] {
        let r = String::from_utf8_lossy(&got[name]).to_string();
        assert!(r.contains(&format!("{tag} OK")), "{name}: {r}");
    }
    assert!(contains(&got["noop"], "a4 OK"), "{:?}", got["noop"]);
    let stored = direct(&t, STORED);
    for (name, msg) in &samples {
        assert_eq!(stored_with(&stored, name), vec![msg.clone()], "{name}");
    }
    assert_eq!(
        t.mailbox_count("alice"),
        2,
        "nothing else was stored or run"
    );
}
