//! FETCH through portcullis: every form of a clean message is the original (full forms with
//! one scan header, sections and partials untouched), every form of an infected one is
//! the notice, and a client's own command keeps its effect on `\Seen`.
use super::*;

/// Python: every FETCH form of every message, PEEK forms first, then the ones that set
/// `\Seen`. Labels are `<form>.<uid>`.
pub const EVERY_FORM: &str = r#"
M = session()
for u in uids(M):
    emit('peek.%d' % u, literal(M, u, 'BODY.PEEK[]'))
    emit('header.%d' % u, literal(M, u, 'BODY.PEEK[HEADER]'))
    emit('text.%d' % u, literal(M, u, 'BODY.PEEK[TEXT]'))
    emit('p100.%d' % u, literal(M, u, 'BODY.PEEK[]<0.100>'))
    emit('p250.%d' % u, literal(M, u, 'BODY.PEEK[]<100.250>'))
    emit('part1.%d' % u, literal(M, u, 'BODY.PEEK[1]'))
    emit('part2.%d' % u, literal(M, u, 'BODY.PEEK[2]'))
    emit('part22.%d' % u, literal(M, u, 'BODY.PEEK[2.2]'))
    emit('mime2.%d' % u, literal(M, u, 'BODY.PEEK[2.MIME]'))
    emit('lower.%d' % u, literal(M, u, 'body.peek[]'))
    emit('chunks.%d' % u, chunked(M, u))
for u, m in range_fetch(M).items():
    emit('range.%d' % u, m)
for u in uids(M):
    emit('body.%d' % u, literal(M, u, 'BODY[]'))
    emit('rfc822.%d' % u, literal(M, u, 'RFC822'))
    emit('rfc822text.%d' % u, literal(M, u, 'RFC822.TEXT'))
M.logout()
"#;

/// Forms that return the whole message (scanned, scan header added).
const FULL: &[&str] = &["peek", "lower", "range", "body", "rfc822"];
/// Forms that return a section or a piece.
const PIECES: &[&str] = &[
    "header",
    "text",
    "p100",
    "p250",
    "part1",
    "part2",
    "part22",
    "mime2",
    "chunks",
    "rfc822text",
];

fn assert_clean_forms(
    direct: &BTreeMap<String, Vec<u8>>,
    got: &BTreeMap<String, Vec<u8>>,
    uid: &str,
) {
    let original = &direct[&format!("peek.{uid}")];
    for form in FULL {
        let k = format!("{form}.{uid}");
        assert_eq!(
            &direct[&k], original,
            "{k}: the server itself is not stable"
        );
        let g = got.get(&k).unwrap_or_else(|| panic!("{k} missing"));
        assert_clean_copy(&k, g, original);
    }
    for form in PIECES {
        let k = format!("{form}.{uid}");
        let g = got.get(&k).unwrap_or_else(|| panic!("{k} missing"));
        assert!(
            g == &direct[&k],
            "{k}: a piece of a clean message differs from the direct one:\n{}\n--- direct:\n{}",
            String::from_utf8_lossy(g),
            String::from_utf8_lossy(&direct[&k])
        );
    }
}

fn assert_infected_forms(got: &BTreeMap<String, Vec<u8>>, uid: &str) {
    for form in FULL {
        let k = format!("{form}.{uid}");
        assert_notice(&k, got.get(&k).unwrap_or_else(|| panic!("{k} missing")));
    }
    for form in PIECES {
        let k = format!("{form}.{uid}");
        let g = got.get(&k).unwrap_or_else(|| panic!("{k} missing"));
        assert!(
            !contains(g, EICAR) && !contains(g, "EICAR-STANDARD"),
            "{k}: infected bytes in a section of an infected message"
        );
    }
    // The pieces are pieces of one safe version: the partial loop rebuilds the notice (with
    // or without the scan header), and the other sections are cut from that. (Header-only
    // sections pass from the server by design; see header_sections_carry_no_virus_bytes.)
    let whole = &got[&format!("chunks.{uid}")];
    let notice = &got[&format!("peek.{uid}")];
    assert!(
        whole == notice || *whole == strip_scan_header(notice).1,
        "uid {uid}: the partial loop does not rebuild the notice:\n{}\n--- notice:\n{}",
        String::from_utf8_lossy(whole),
        String::from_utf8_lossy(notice)
    );
    let head_end = find(whole, b"\r\n\r\n").expect("the notice has a header") + 4;
    let cut = |a: usize, b: usize| whole[a.min(whole.len())..b.min(whole.len())].to_vec();
    assert_eq!(
        got[&format!("p100.{uid}")],
        cut(0, 100),
        "uid {uid} <0.100>"
    );
    assert_eq!(
        got[&format!("p250.{uid}")],
        cut(100, 350),
        "uid {uid} <100.250>"
    );
    assert_eq!(
        got[&format!("text.{uid}")],
        cut(head_end, whole.len()),
        "uid {uid} TEXT"
    );
    assert_eq!(
        got[&format!("rfc822text.{uid}")],
        cut(head_end, whole.len()),
        "uid {uid} RFC822.TEXT"
    );
}

#[test]
fn clean_messages_come_back_unchanged_by_every_fetch_form() {
    let mut t = Topology::new("imapclean");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("dots"));
    t.deliver(
        "alice",
        "2",
        &with_attachment("pdf", "report.pdf", b"%PDF-1.4 harmless bytes\n"),
    );
    t.deliver("alice", "3", &large_message(150_000));
    t.deliver(
        "alice",
        "4",
        b"From: a@example.test\r\nSubject: empty\r\nMessage-ID: <empty@example.test>\r\n\r\n",
    );
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    let d = direct(&t, EVERY_FORM);
    let got = via_proxy(&t, EVERY_FORM);
    for id in ["dots", "pdf", "large", "empty"] {
        assert_clean_forms(&d, &got, &uid_of(&d, id));
    }
    assert!(d[&format!("chunks.{}", uid_of(&d, "large"))].len() > 150_000);
    let logs = t.session_logs();
    assert!(logs.contains("login ok user=alice"), "{logs}");
    assert!(logs.contains(&format!("server={SERVER_V4}:143")), "{logs}");
    assert!(
        !logs.contains("alicepw"),
        "a password reached the session log"
    );
}

#[test]
fn infected_messages_are_replaced_by_every_fetch_form_and_quarantined() {
    let mut t = Topology::new("imapvirus");
    t.start_dovecot();
    let sock = t.start_clamd();
    let zip = zip_of(
        &t,
        &[("readme.txt", b"hello"), ("eicar.com", EICAR.as_bytes())],
    );
    t.deliver("alice", "1", &tricky_message("clean1"));
    t.deliver("alice", "2", &eicar_plain("plain"));
    t.deliver(
        "alice",
        "3",
        &with_attachment("clean2", "notes.txt", b"just notes\n"),
    );
    t.deliver(
        "alice",
        "4",
        &with_attachment("b64", "eicar.com.txt", EICAR.as_bytes()),
    );
    t.deliver("alice", "5", &with_attachment("zipped", "files.zip", &zip));
    t.deliver("alice", "6", &eicar_nested("nested"));
    t.deliver("alice", "7", &tricky_message("clean3"));
    let cfg = t.write_config(&format!("{}{IMAP_LISTENER}", scan_with_clamd(&sock)));
    start_proxy(&mut t, &cfg);
    let d = direct(&t, EVERY_FORM);
    let got = via_proxy(&t, EVERY_FORM);
    for id in ["clean1", "clean2", "clean3"] {
        assert_clean_forms(&d, &got, &uid_of(&d, id));
    }
    let infected = ["plain", "b64", "zipped", "nested"];
    for id in infected {
        assert_infected_forms(&got, &uid_of(&d, id));
    }
    // Every infected original is in quarantine byte for byte, and nothing else is.
    let q = t.quarantined(&cfg);
    let mut kept: Vec<&Vec<u8>> = q.values().collect();
    kept.sort();
    kept.dedup();
    let mut want: Vec<&Vec<u8>> = infected
        .iter()
        .map(|id| &d[&format!("peek.{}", uid_of(&d, id))])
        .collect();
    want.sort();
    assert!(
        kept == want,
        "quarantine holds {} distinct originals ({} entries), want the 4 infected ones",
        kept.len(),
        q.len()
    );
}

#[test]
fn a_partial_fetch_keeps_its_seen_effect_and_peek_leaves_it() {
    let mut t = Topology::new("imapseen");
    t.start_dovecot();
    t.deliver("alice", "1", &tricky_message("nonpeek"));
    t.deliver("alice", "2", &tricky_message("peek"));
    t.deliver("alice", "3", &eicar_plain("infected"));
    t.deliver("alice", "4", &large_message(40_000));
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    let flags = r#"
M = connect(); M.login('alice', 'alicepw'); M.select('INBOX', readonly=True)
for u in uids(M):
    typ, d = M.uid('FETCH', str(u), '(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')
    emit('flags.%d' % u, b' '.join(b' '.join(x) if isinstance(x, tuple) else x for x in d))
M.logout()
"#;
    let before = direct(&t, flags);
    let uid = |id: &str| {
        before
            .iter()
            .find(|(_, v)| contains(v, &format!("<{id}@example.test>")))
            .map(|(k, _)| k["flags.".len()..].to_string())
            .unwrap()
    };
    let (u1, u2, u3, u4) = (uid("nonpeek"), uid("peek"), uid("infected"), uid("large"));
    assert!(
        before.values().all(|v| !contains(v, "\\Seen")),
        "new mail starts unseen"
    );
    let got = via_proxy(
        &t,
        &format!(
            r#"
M = session()
emit('a', literal(M, {u1}, 'BODY[]<0.100>'))
emit('b', literal(M, {u2}, 'BODY.PEEK[]<0.100>'))
emit('b2', literal(M, {u2}, 'BODY.PEEK[]'))
emit('c', literal(M, {u3}, 'BODY[TEXT]'))
emit('d', chunked(M, {u4}, 'BODY[]', 4096))
M.logout()
"#
        ),
    );
    assert_eq!(got["a"].len(), 100);
    assert_clean_copy("peek", &got["b2"], &tricky_message("peek"));
    assert!(!contains(&got["c"], EICAR), "infected TEXT section served");
    let after = direct(&t, flags);
    let seen = |u: &str| contains(&after[&format!("flags.{u}")], "\\Seen");
    assert!(seen(&u1), "a non-PEEK partial fetch must set \\Seen");
    assert!(
        !seen(&u2),
        "PEEK fetches (and the proxy's own) must not set \\Seen"
    );
    assert!(
        seen(&u3),
        "a non-PEEK section fetch of a replaced message sets \\Seen"
    );
    assert!(seen(&u4), "a non-PEEK chunk loop sets \\Seen");
}

/// A spam message is tagged when fetched whole; read in ranges it is the server's bytes,
/// so a client that reads up to the RFC822.SIZE it was told gets all of it (the tagged
/// version is longer, and its tail would fall past that size).
#[test]
fn spam_is_tagged_whole_and_read_in_ranges_as_the_server_counts_it() {
    let mut t = Topology::new("imapspam");
    t.start_dovecot();
    let filler = "Buy now, limited offer.\r\n".repeat(120);
    let msg = format!(
        "From: s@example.test\r\nTo: alice@example.test\r\nSubject: offer\r\nMessage-ID: <spam@example.test>\r\n\r\n{GTUBE}\r\n{filler}"
    );
    t.deliver("alice", "1", msg.as_bytes());
    let cfg = t.write_config(IMAP_LISTENER);
    start_proxy(&mut t, &cfg);
    let script = r#"
M = session()
u = uids(M)[0]
typ, d = M.uid('FETCH', str(u), '(RFC822.SIZE)')
emit('size', re.search(rb'RFC822.SIZE (\d+)', d[0]).group(1))
emit('whole', literal(M, u, 'BODY.PEEK[]'))
emit('chunks', chunked(M, u, 'BODY.PEEK[]', 1000))
emit('text', literal(M, u, 'BODY.PEEK[TEXT]'))
M.logout()
"#;
    let got = via_proxy(&t, script);
    let whole = String::from_utf8_lossy(&got["whole"]).to_string();
    assert!(whole.contains("Subject: [SPAM] offer"), "{whole}");
    assert!(whole.starts_with("X-Portcullis-Scan: spam"), "{whole}");
    let size: usize = String::from_utf8_lossy(&got["size"]).parse().unwrap();
    assert_eq!(got["chunks"].len(), size, "ranges add up to RFC822.SIZE");
    assert!(
        got["chunks"] == msg.as_bytes(),
        "ranges are the server's bytes"
    );
    let body_at = msg.find("\r\n\r\n").unwrap() + 4;
    assert!(got["text"] == msg.as_bytes()[body_at..]);
}
