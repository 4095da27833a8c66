//! Long sessions through portcullis: IDLE sees mail that arrives through a scan, a
//! replaced message is expunged only with its original kept, and IPv6 works like IPv4.
use super::*;

#[test]
fn idle_sees_mail_appended_through_a_scan_and_done_ends_it() {
    let mut t = Topology::new("imapidle");
    t.start_dovecot();
    let sock = t.start_clamd();
    t.deliver("alice", "1", &tricky_message("first"));
    t.deliver("alice", "2", &eicar_plain("bad"));
    let cfg = t.write_config(&format!("{}{IMAP_LISTENER}", scan_with_clamd(&sock)));
    start_proxy(&mut t, &cfg);
    let fresh = with_attachment("fresh", "data.bin", &large_message(200_000));
    fs::write(t.path("fresh.eml"), &fresh).unwrap();
    let got = via_proxy(
        &t,
        &format!(
            r#"
r = Raw()
r.cmd(b'i1', b'LOGIN alice alicepw')
sel = b''.join(r.cmd(b'i2', b'SELECT INBOX'))
assert b'* 2 EXISTS' in sel, sel
r.send(b'i3 IDLE\r\n')
cont = r.line()
emit('cont', cont)
# A second client appends through the proxy (held and scanned by clamd) while i3 idles.
M = session()
typ, d = M.append('INBOX', None, None, open({fresh:?}, 'rb').read())
emit('append', typ.encode())
M.logout()
seen = []
while True:
    l = r.line()
    seen.append(l)
    if re.match(rb'\* 3 EXISTS', l):
        break
emit('idle', b''.join(seen))
r.send(b'DONE\r\n')
emit('done', b''.join(r.until(b'i3')))
# The session still scans: the infected message is a notice, the new one clean.
emit('range', b''.join(r.cmd(b'i4', b'FETCH 1:* (BODY.PEEK[])')))
r.cmd(b'i5', b'LOGOUT')
"#,
            fresh = t.path("fresh.eml").display().to_string()
        ),
    );
    assert!(got["cont"].starts_with(b"+"), "{:?}", got["cont"]);
    assert_eq!(got["append"], b"OK");
    let idle = String::from_utf8_lossy(&got["idle"]).to_string();
    assert!(idle.contains("* 3 EXISTS"), "{idle}");
    let done = String::from_utf8_lossy(&got["done"]).to_string();
    assert!(
        done.lines().last().unwrap_or("").starts_with("i3 OK"),
        "{done}"
    );
    let range = &got["range"];
    assert!(!contains(range, EICAR), "infected content after IDLE");
    assert!(contains(range, "X-Portcullis-Scan: infected"));
    assert!(contains(range, "<fresh@example.test>"));
    assert!(contains(range, "<first@example.test>"));
}

/// Python: fetch the message with this Message-ID through the proxy, then flag it
/// \Deleted and EXPUNGE; emits the notice and the answers.
fn expunge_script(id: &str) -> String {
    format!(
        r#"
M = session()
for u in uids(M):
    typ, d = M.uid('FETCH', str(u), '(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')
    if b'<{id}@example.test>' in b' '.join(x[1] for x in d if isinstance(x, tuple)):
        typ, d = M.uid('FETCH', str(u), '(BODY.PEEK[])')
        # A notice, or a refusal when the original cannot be kept.
        emit('notice', b' '.join(x[1] if isinstance(x, tuple) else x for x in d))
        emit('fetch', typ.encode())
        if typ != 'OK' or not d or d[0] is None:
            # Like a client whose download failed: nothing is deleted.
            break
        typ, d = M.uid('STORE', str(u), '+FLAGS', '(\\Deleted)')
        emit('store', typ.encode())
        typ, d = M.expunge()
        emit('expunge', typ.encode() + b' ' + b' '.join(x for x in d if x))
M.logout()
"#
    )
}

#[test]
fn expunging_a_replaced_message_keeps_its_original_in_quarantine() {
    let mut t = Topology::new("imapexp");
    t.start_dovecot();
    t.deliver("alice", "1", &eicar_plain("gone"));
    t.deliver("alice", "2", &tricky_message("stay"));
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    let d = direct(
        &t,
        "M = session()\nfor u in uids(M): emit('peek.%d' % u, literal(M, u, 'BODY.PEEK[]'))",
    );
    let original = d[&format!("peek.{}", uid_of(&d, "gone"))].clone();
    let got = via_proxy(&t, &expunge_script("gone"));
    assert_notice("notice", &got["notice"]);
    assert_eq!(got["store"], b"OK");
    assert!(got["expunge"].starts_with(b"OK"), "{:?}", got["expunge"]);
    assert_eq!(
        t.mailbox_count("alice"),
        1,
        "the expunge reached the server"
    );
    let q = t.quarantined(&cfg);
    assert!(
        q.values().any(|v| *v == original),
        "the expunged original is not in quarantine ({} entries)",
        q.len()
    );

    // With a quarantine that cannot store anything, the replaced message stays on the
    // server whatever the client asks.
    let qtmp = t.path("quarantine/tmp");
    fs::remove_dir_all(&qtmp).unwrap();
    fs::write(&qtmp, b"not a directory").unwrap();
    t.deliver("alice", "3", &eicar_plain("kept"));
    let got = via_proxy(&t, &expunge_script("kept"));
    assert!(!contains(&got["notice"], EICAR), "infected content served");
    assert!(
        got["fetch"] == b"NO" || contains(&got["notice"], "X-Portcullis-Scan: infected"),
        "{:?}",
        String::from_utf8_lossy(&got["notice"])
    );
    assert_eq!(
        t.mailbox_count("alice"),
        2,
        "a replaced message whose original is not in quarantine was expunged: {got:?}"
    );
}

#[test]
fn ipv6_sessions_are_scanned_like_ipv4() {
    let mut t = Topology::new("imapv6");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("six"));
    t.deliver("alice", "2", &eicar_plain("sixbad"));
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    let script = "M = session()\nfor u, m in range_fetch(M).items(): emit('range.%d' % u, m)\nfor u in uids(M): emit('p.%d' % u, chunked(M, u))\nM.logout()";
    let d = direct(&t, script);
    let got = via_proxy_to(&t, SERVER_V6, script);
    let peek: BTreeMap<String, Vec<u8>> = d
        .iter()
        .filter(|(k, _)| k.starts_with("range."))
        .map(|(k, v)| (k.replacen("range.", "peek.", 1), v.clone()))
        .collect();
    let (six, bad) = (uid_of(&peek, "six"), uid_of(&peek, "sixbad"));
    assert_clean_copy(
        "v6 clean",
        &got[&format!("range.{six}")],
        &peek[&format!("peek.{six}")],
    );
    assert_eq!(got[&format!("p.{six}")], d[&format!("p.{six}")]);
    assert_notice("v6 infected", &got[&format!("range.{bad}")]);
    assert!(!contains(&got[&format!("p.{bad}")], EICAR));
    let logs = wait_logs(&t, "the IPv6 session", |l| {
        l.contains(&format!("server=[{SERVER_V6}]:143"))
    });
    assert!(logs.contains("login ok user=alice"), "{logs}");
}
