//! IMAP with a round-trip time to the server (the delaying forwarder of `rtt`): a range of
//! messages fetched in one command, and one large message read in 64 KiB ranges as
//! Thunderbird and Apple Mail read it, one range per round trip.
use crate::common::*;
use crate::rtt::ONE_WAY_MS;
use crate::{Bench, Row, alternate, reps};

/// The IMAP forwarder's port in the server namespace; it forwards to dovecot on 143.
const RTT_IMAP_PORT: u16 = 1143;
/// Messages fetched by the range case.
const MESSAGES: usize = 100;
/// Size of the message read in ranges.
const LARGE: usize = 2 * 1024 * 1024;

/// `UID FETCH 1:n BODY.PEEK[]` of the whole INBOX but the large message, then the large
/// message in 64 KiB ranges; prints both times.
fn client() -> String {
    format!(
        r#"
import imaplib, time
M = imaplib.IMAP4(HOST, {RTT_IMAP_PORT}, timeout=60)
M.login('alice', 'alicepw')
M.select('INBOX')
t0 = time.time()
typ, d = M.uid('FETCH', '1:{MESSAGES}', '(BODY.PEEK[])')
got = [x for x in d if isinstance(x, tuple)]
assert typ == 'OK' and len(got) == {MESSAGES}, (typ, len(got))
t1 = time.time()
off, parts = 0, []
while True:
    typ, d = M.uid('FETCH', '{large_uid}', '(BODY.PEEK[]<%d.65536>)' % off)
    chunk = d[0][1]
    parts.append(chunk)
    off += len(chunk)
    if len(chunk) < 65536:
        break
assert off >= {LARGE}, off
t2 = time.time()
M.logout()
out.write(b'%f %f' % (t1 - t0, t2 - t1))
"#,
        large_uid = MESSAGES + 1
    )
}

pub fn cases(b: &mut Bench) {
    let mut t = Topology::new("birtt");
    t.start_dovecot();
    let body = "z".repeat(78) + "\r\n";
    for i in 0..MESSAGES {
        let msg = format!(
            "From: a@example.test\r\nSubject: rtt {i}\r\nMessage-ID: <irtt{i}@example.test>\r\n\r\n{}",
            body.repeat(20 * 1024 / 80)
        );
        t.deliver("alice", &format!("m{i:03}"), msg.as_bytes());
    }
    t.deliver("alice", "z-large", &large_message(LARGE));
    let exe = std::env::current_exe().unwrap().display().to_string();
    let listen = format!("{SERVER_V4}:{RTT_IMAP_PORT}");
    let ns = t.server_ns.clone();
    let delay = ONE_WAY_MS.to_string();
    t.spawn(
        &ns,
        "delay-forwarder",
        &[&exe, "--delay-forwarder", &listen, "127.0.0.1:143", &delay],
    );
    t.wait_tcp(&ns, SERVER_V4, RTT_IMAP_PORT);
    let cfg = t.write_config(&format!(
        "[[listener]]\nprotocol = \"imap\"\nlisten = \"[::]:10143\"\nintercept_ports = [{RTT_IMAP_PORT}]\n",
    ));
    t.start_portcullis(&cfg);
    let cfg = cfg.display().to_string();
    // One session times both cases; `alternate` runs direct then proxied each round, so
    // the second time of each run is split the same way.
    let mut chunks = Vec::new();
    let (d, p) = alternate(&t, &cfg, reps(), |t| {
        let out = t.python_client(SERVER_V4, &client());
        let out = String::from_utf8_lossy(&out).to_string();
        let v: Vec<f64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
        chunks.push(v[1]);
        v[0]
    });
    let dc = chunks.iter().step_by(2).copied().collect();
    let pc = chunks.iter().skip(1).step_by(2).copied().collect();
    b.rows.push(Row {
        case: format!("IMAP UID FETCH 1:{MESSAGES} BODY.PEEK[] of 20 KB messages, 40 ms RTT: time"),
        unit: "s",
        better: "lower",
        direct: d,
        proxied: p,
        target: Some(("<=", 1.05)),
    });
    b.rows.push(Row {
        case: "IMAP 2 MB message read in 64 KiB ranges, 40 ms RTT: time".into(),
        unit: "s",
        better: "lower",
        direct: dc,
        proxied: pc,
        target: Some(("<=", 1.02)),
    });
}
