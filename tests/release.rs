//! The admin's path after a download was replaced, on a real gateway topology: the session
//! found with `sessions list` filters on the logs real sessions wrote, the original released
//! from quarantine and checked with `scan`, put back into the mailbox with doveadm once the
//! cause is gone, and fetched again through portcullis.
mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::*;
use sha2::{Digest, Sha256};

const POP3_LISTENER: &str =
    "[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n";

/// Fetches every message through the gateway, deletes each, quits; returns them as sent.
const FETCH_AND_DELETE: &str = r#"
p = poplib.POP3(HOST, 110, timeout=60)
p.user('alice'); p.pass_('alicepw')
n = len(p.list()[1])
for i in range(1, n + 1):
    out.write(b'\r\n'.join(p.retr(i)[1]) + b'\r\n\0')
    p.dele(i)
p.quit()
"#;

fn fetch(t: &Topology) -> Vec<Vec<u8>> {
    let raw = t.python_client(SERVER_V4, FETCH_AND_DELETE);
    raw.split(|&b| b == 0)
        .filter(|m| !m.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_released_download_reaches_the_client_once_the_cause_is_gone() {
    let mut t = Topology::new("release");
    t.start_dovecot();
    t.deliver(
        "alice",
        "1",
        b"From: friend@example.test\r\nSubject: hello\r\nMessage-ID: <hello@example.test>\r\n\r\nhi\r\n",
    );
    // A harmless attachment with a blocked extension: replaced under the default policy.
    let original = with_attachment("tool", "setup.exe", b"just text, not a program");
    t.deliver("alice", "2", &original);
    let cfg = t.write_config(POP3_LISTENER);
    let cfg_s = cfg.display().to_string();
    let first = t.start_portcullis(&cfg);

    let got = fetch(&t);
    assert_eq!(got.len(), 2);
    let notice = String::from_utf8_lossy(&got[1]).to_string();
    assert!(
        notice.contains("Subject: [removed by mail gateway] tool"),
        "{notice}"
    );
    // The original was quarantined, so the client's DELE reached the server.
    assert_eq!(t.mailbox_count("alice"), 0);

    // sessions list finds the session by user, verdict, client and server.
    let list = |args: &[&str]| {
        let mut all = vec!["sessions", "list", "--config", &cfg_s, "--json"];
        all.extend_from_slice(args);
        let o = t.portcullis(&all);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let found = list(&["--user", "alice", "--verdict", "infected", "--since", "1h"]);
    assert_eq!(found.len(), 1, "{found:?}\n{}", t.session_logs());
    let s = &found[0];
    assert_eq!(s["protocol"], "pop3");
    assert_eq!(s["server"], format!("{SERVER_V4}:110"));
    assert!(
        s["client"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{CLIENT_V4}:"))
    );
    assert_eq!(s["verdicts"]["clean"], 1);
    assert_eq!(s["verdicts"]["infected"], 1);
    assert_eq!(s["reason"], "quit");
    assert_eq!(list(&["--client", CLIENT_V4]).len(), 1);
    assert!(list(&["--client", "198.18.9.9"]).is_empty());
    assert!(list(&["--user", "bob"]).is_empty());
    assert!(list(&["--verdict", "spam"]).is_empty());

    // Release: the original, byte for byte as the server sent it, matching its record.
    let q = t.portcullis(&["quarantine", "list", "--config", &cfg_s]);
    let q = String::from_utf8_lossy(&q.stdout).to_string();
    assert_eq!(q.lines().count(), 1, "{q}");
    let qid = q.split_whitespace().next().unwrap().to_string();
    let out = t.path("released.eml");
    let out_s = out.display().to_string();
    let r = t.portcullis(&[
        "quarantine",
        "release",
        &qid,
        "--out",
        &out_s,
        "--config",
        &cfg_s,
    ]);
    assert!(r.status.success(), "{}", text(&r));
    let released = fs::read(&out).unwrap();
    assert_eq!(released, original);
    let show = t.portcullis(&["quarantine", "show", &qid, "--config", &cfg_s]);
    let rec: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let sha: String = Sha256::digest(&released)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(rec["sha256"], sha);
    assert_eq!(rec["released"], true);
    assert_eq!(rec["protocol"], "pop3");

    // scan agrees with the session under this config, and passes it once the cause is gone.
    let o = t.portcullis(&["scan", "--config", &cfg_s, &out_s]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("Portcullis.Blocked"), "{}", text(&o));
    let after = t.path("after.toml");
    fs::write(
        &after,
        fs::read_to_string(&cfg).unwrap() + "\n[scan.builtin]\nblocked_extensions = []\n",
    )
    .unwrap();
    let after_s = after.display().to_string();
    let o = t.portcullis(&["scan", "--config", &after_s, &out_s]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Back into the mailbox with doveadm, as the README shows, and fetched again.
    t.proc(first).stop();
    t.start_portcullis(&after);
    let conf = t.path("dovecot/dovecot.conf").display().to_string();
    let saved = Command::new("doveadm")
        .args(["-c", &conf, "save", "-u", "alice"])
        .stdin(Stdio::from(fs::File::open(&out).unwrap()))
        .output()
        .unwrap();
    assert!(saved.status.success(), "doveadm save: {}", text(&saved));
    let got = fetch(&t);
    assert_eq!(got.len(), 1);
    let eol = got[0].iter().position(|&b| b == b'\n').unwrap() + 1;
    let first_line = String::from_utf8_lossy(&got[0][..eol]).to_string();
    assert!(
        first_line.starts_with("X-Portcullis-Scan: clean"),
        "{first_line}"
    );
    assert_eq!(&got[0][eol..], original.as_slice());
}

const SMTP_LISTENER: &str =
    "[[listener]]\nprotocol = \"smtp\"\nlisten = \"[::]:10025\"\nintercept_ports = [25, 587]\n";

#[test]
fn a_released_submission_is_sent_again_with_its_original_envelope() {
    let mut t = Topology::new("srelease");
    t.start_dovecot();
    t.start_postfix();
    let cfg = t.write_config(SMTP_LISTENER);
    let cfg_s = cfg.display().to_string();
    t.start_portcullis(&cfg);
    let original = with_attachment("tool", "setup.exe", b"just text, not a program");
    fs::write(t.path("tool.eml"), &original).unwrap();
    let r = t.python_client(
        SERVER_V4,
        &format!(
            r#"
import smtplib
s = smtplib.SMTP(HOST, 25, timeout=60)
try:
    s.sendmail('sender@example.test', ['alice@example.test', 'bob@example.test'], open({p:?}, 'rb').read())
    out.write(b'ACCEPTED')
except smtplib.SMTPDataError as e:
    out.write(b'%d' % e.smtp_code)
s.quit()
"#,
            p = t.path("tool.eml").display().to_string()
        ),
    );
    assert_eq!(r, b"554");

    let found = t.portcullis(&[
        "sessions",
        "list",
        "--config",
        &cfg_s,
        "--json",
        "--verdict",
        "infected",
    ]);
    let found = String::from_utf8_lossy(&found.stdout).to_string();
    assert_eq!(found.lines().count(), 1, "{found}");
    assert!(found.contains("\"protocol\":\"smtp\""), "{found}");

    let q = t.portcullis(&["quarantine", "list", "--config", &cfg_s]);
    let q = String::from_utf8_lossy(&q.stdout).to_string();
    assert_eq!(q.lines().count(), 1, "{q}");
    let qid = q.split_whitespace().next().unwrap().to_string();
    let show = t.portcullis(&["quarantine", "show", &qid, "--config", &cfg_s]);
    let rec: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(rec["protocol"], "smtp");
    let from = rec["from"].as_str().unwrap().to_string();
    let to: Vec<String> = rec["to"]
        .as_str()
        .unwrap()
        .split(", ")
        .map(str::to_string)
        .collect();
    assert_eq!(from, "sender@example.test");
    assert_eq!(to, ["alice@example.test", "bob@example.test"]);
    let out = t.path("released.eml");
    let out_s = out.display().to_string();
    let r = t.portcullis(&[
        "quarantine",
        "release",
        &qid,
        "--out",
        &out_s,
        "--config",
        &cfg_s,
    ]);
    assert!(r.status.success(), "{}", text(&r));
    assert_eq!(fs::read(&out).unwrap(), original);

    // Submitted again with swaks, as the README shows, from the gateway itself: its own
    // connections are not redirected, so the server gets it directly.
    let gw = t.gw_ns.clone();
    let data = format!("@{out_s}");
    let sent = t.ns_output(
        &gw,
        &[
            "swaks",
            "--server",
            SERVER_V4,
            "--port",
            "25",
            "--from",
            &from,
            "--to",
            &to.join(","),
            "--data",
            &data,
        ],
    );
    assert!(sent.status.success(), "swaks: {}", text(&sent));
    // swaks ends the data with one more line break of its own; nothing else changes.
    let lf: Vec<u8> = original.iter().copied().filter(|&b| b != b'\r').collect();
    let trim = |m: &[u8]| m.trim_ascii_end().to_vec();
    for mailbox in ["alice", "bob"] {
        let stored = t.wait_stored(mailbox, 1);
        assert_eq!(stored.len(), 1, "{mailbox}");
        assert!(
            trim(&stored[0]).ends_with(&trim(&lf)),
            "{mailbox}: {}",
            String::from_utf8_lossy(&stored[0])
        );
    }
}
