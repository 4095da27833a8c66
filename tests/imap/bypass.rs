//! Ways around the scan that a client may try whatever the capabilities say: decoded
//! BINARY fetches, previews of the body, APPEND with CATENATE text, a `~{n}` binary
//! literal, and an infected second message in a MULTIAPPEND.
use super::*;

#[test]
fn content_never_bypasses_the_scan_through_other_fetch_or_append_forms() {
    let mut t = Topology::new("imapbyp");
    t.start_dovecot();
    t.deliver("alice", "1", &eicar_plain("plain"));
    t.deliver(
        "alice",
        "2",
        &with_attachment("b64", "eicar.com", EICAR.as_bytes()),
    );
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    for (name, msg) in [
        ("cat", eicar_plain("cat")),
        ("tilde", eicar_plain("tilde")),
        ("multi1", tricky_message("multi1")),
        (
            "multi2",
            with_attachment("multi2", "eicar.com", EICAR.as_bytes()),
        ),
    ] {
        fs::write(t.path(&format!("{name}.eml")), msg).unwrap();
    }
    let got = via_proxy(
        &t,
        &format!(
            r#"
m = lambda name: open({dir:?} + '/' + name + '.eml', 'rb').read()
r = Raw()
r.cmd(b'a1', b'LOGIN alice alicepw')
r.cmd(b'a2', b'SELECT INBOX')
emit('binary', b''.join(r.cmd(b'a3', b'UID FETCH 1:* (BINARY.PEEK[])')))
emit('binary2', b''.join(r.cmd(b'a4', b'UID FETCH 1:* (BINARY.PEEK[2] BINARY.PEEK[1])')))
emit('binpartial', b''.join(r.cmd(b'a5', b'UID FETCH 1:* (BINARY.PEEK[2]<0.100> BINARY[1]<0.200>)')))
emit('preview', b''.join(r.cmd(b'a6', b'UID FETCH 1:* (PREVIEW)')))
emit('snippet', b''.join(r.cmd(b'a7', b'UID FETCH 1:* (SNIPPET (FUZZY))')))
cat = m('cat')
emit('catenate', b''.join(r.lit(b'a8', [b'a8 APPEND INBOX CATENATE (TEXT {{%d}}\r\n' % len(cat), cat + b')\r\n'])))
tilde = m('tilde')
emit('tilde', b''.join(r.lit(b'a9', [b'a9 APPEND INBOX ~{{%d}}\r\n' % len(tilde), tilde + b'\r\n'])))
m1, m2 = m('multi1'), m('multi2')
emit('multi', b''.join(r.lit(b'b1', [b'b1 APPEND INBOX {{%d}}\r\n' % len(m1), m1 + b' {{%d}}\r\n' % len(m2), m2 + b'\r\n'])))
emit('noop', b''.join(r.cmd(b'b2', b'NOOP')))
"#,
            dir = t.dir.path().display().to_string()
        ),
    );
    for (part, v) in &got {
        assert!(
            !contains(v, EICAR) && !contains(v, "EICAR-STANDARD"),
            "{part}: infected content reached the client:\n{}",
            String::from_utf8_lossy(v)
        );
    }
    let noop = String::from_utf8_lossy(&got["noop"]).to_string();
    assert!(noop.contains("b2 OK"), "the session must go on: {noop}");
    let stored = direct(
        &t,
        "M = session()\nfor u in uids(M): emit('msg.%d' % u, literal(M, u, 'BODY.PEEK[]'))",
    );
    for id in ["cat", "tilde", "multi2"] {
        assert!(
            !stored
                .values()
                .any(|v| contains(v, &format!("<{id}@example.test>"))),
            "{id}: an infected APPEND was stored"
        );
    }
    assert!(
        !stored
            .values()
            .any(|v| contains(v, EICAR) && !contains(v, "<plain@")),
        "infected bytes were stored"
    );
}

/// A virus signature in the header lines of a replaced message reaches the client neither
/// through the notice (which quotes the original's subject and addresses) nor through
/// header-only items fetched once the message is known to be replaced (they come from
/// the notice then; before any verdict they pass from the server unjudged, by design).
#[test]
fn header_sections_of_an_infected_message_carry_no_virus_bytes() {
    let mut t = Topology::new("imaphdr");
    t.start_dovecot();
    t.deliver(
        "alice",
        "1",
        format!("From: x@example.test\r\nTo: alice@example.test\r\nSubject: {EICAR}\r\nX-Payload: {EICAR}\r\nMessage-ID: <hdr@example.test>\r\n\r\nplain body\r\n").as_bytes(),
    );
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    let got = via_proxy(
        &t,
        r#"
M = session()
u = uids(M)[0]
emit('whole', literal(M, u, 'BODY.PEEK[]'))
for i, item in enumerate(['BODY.PEEK[HEADER]', 'BODY.PEEK[HEADER.FIELDS (SUBJECT X-PAYLOAD)]',
                          'BODY.PEEK[HEADER.FIELDS.NOT (FROM)]', 'RFC822.HEADER']):
    typ, d = M.uid('FETCH', str(u), '(' + item + ')')
    emit('item%d' % i, typ.encode() + b' ' + b' '.join(b' '.join(x) if isinstance(x, tuple) else x for x in d))
# Listings by sequence numbers and open-ended sets: decided when the response names the UID.
for i, (how, items) in enumerate([('seq', '(BODY.PEEK[HEADER])'), ('uid', '(RFC822.HEADER UID)'),
                                  ('seq', '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')]):
    typ, d = M.fetch('1:*', items) if how == 'seq' else M.uid('FETCH', '1:*', items)
    emit('list%d' % i, typ.encode() + b' ' + b' '.join(b' '.join(x) if isinstance(x, tuple) else x for x in d))
M.logout()
"#,
    );
    eprintln!("{}", String::from_utf8_lossy(&got["whole"]));
    assert_notice("whole", &got["whole"]);
    for (part, v) in &got {
        assert!(
            !contains(v, EICAR) && !contains(v, "EICAR-STANDARD"),
            "{part}: infected header bytes reached the client:\n{}",
            String::from_utf8_lossy(v)
        );
    }
}
