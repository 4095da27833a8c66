//! The verdict cache: a message fetched again, in pieces or whole, in the same or a later
//! session, is not scanned again. Scans are counted in clamd's own log (every stream it
//! was asked about, clean ones included); a message only clamd detects marks a point in
//! that log, so no waiting on time is needed.
use super::*;

fn clamd_log(t: &Topology) -> String {
    fs::read_to_string(t.path("clamd/clamd.log")).unwrap_or_default()
}

/// Delivers a message only clamd detects, fetches it through the proxy, and waits until
/// clamd has logged `n` such detections; returns the number of streams scanned so far.
fn mark(t: &Topology, n: usize) -> usize {
    let id = format!("mark{n}");
    t.deliver(
        "alice",
        &id,
        format!("From: m@example.test\r\nSubject: {id}\r\nMessage-ID: <{id}@example.test>\r\n\r\n{CLAMD_ONLY_MARKER}\r\n").as_bytes(),
    );
    let got = via_proxy(
        t,
        &format!(
            "M = session()\nfor u in uids(M):\n  m = literal(M, u, 'BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]')\n  if b'<{id}@' in m: emit('m', literal(M, u, 'BODY.PEEK[]'))\nM.logout()"
        ),
    );
    assert!(!contains(&got["m"], CLAMD_ONLY_MARKER), "marker served");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let log = clamd_log(t);
        if log.matches("Portcullis.Test.ClamdOnly").count() >= n {
            return log.lines().filter(|l| l.starts_with("instream(")).count();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "clamd never logged marker {n}:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn fetching_again_in_any_form_uses_the_verdict_cache() {
    let mut t = Topology::new("imapcache");
    t.start_dovecot();
    let sock = t.start_clamd_with("LogClean yes\nDisableCache yes");
    t.deliver("alice", "1", &tricky_message("one"));
    t.deliver("alice", "2", &large_message(120_000));
    t.deliver("alice", "3", &eicar_plain("bad"));
    let cfg = t.write_config(&format!(
        "[scan]\nengines = [\"clamd\"]\n[scan.clamd]\naddress = \"unix:{}\"\n{IMAP_LISTENER}",
        sock.display()
    ));
    start_proxy(&mut t, &cfg);
    via_proxy(&t, fetch::EVERY_FORM);
    let first = mark(&t, 1);
    assert!(
        first >= 4,
        "every message was scanned at least once: {first}"
    );
    // The same fetches again in a new session, and once more: only the new marker is
    // scanned, and the notice that replaces it (checked once before it quotes the
    // original's headers; the check is remembered with the verdict).
    via_proxy(&t, fetch::EVERY_FORM);
    via_proxy(&t, fetch::EVERY_FORM);
    let second = mark(&t, 2);
    assert_eq!(
        second,
        first + 2,
        "messages fetched again were rescanned:\n{}",
        clamd_log(&t)
    );
}
