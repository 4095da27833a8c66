//! Admin tools: `scan`, `sessions list` filters, `--help`, manual pages and completions.
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A config whose state directories live in `dir`, with extra TOML appended.
fn config(dir: &Path, extra: &str) -> String {
    let p = dir.join("portcullis.toml");
    std::fs::write(
        &p,
        format!(
            "[general]\nsession_log_dir = \"{d}/sessions\"\nspool_dir = \"{d}/spool\"\n\
             [quarantine]\ndir = \"{d}/quarantine\"\n{extra}\n\
             [[listener]]\nprotocol = \"pop3\"\nlisten = \"127.0.0.1:10110\"\nupstream = \"127.0.0.1:110\"\n",
            d = dir.display()
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

fn message(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!("From: a@example.test\r\nTo: b@example.test\r\nSubject: t\r\n\r\n{body}\r\n"),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn scan_prints_the_verdict_and_exits_like_clamdscan() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let clean = message(dir.path(), "clean.eml", "hello");
    let bad = message(dir.path(), "bad.eml", EICAR);

    let o = portcullis(&["scan", "--config", &cfg, &clean]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{clean}: clean OK")),
        "{}",
        text(&o)
    );

    let o = portcullis(&["scan", "--config", &cfg, &bad]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("infected (Eicar-Test-Signature) FOUND"),
        "{}",
        text(&o)
    );

    // Several files: the worst result decides; a missing file is an error.
    let missing = dir.path().join("missing.eml");
    let o = portcullis(&[
        "scan",
        "--config",
        &cfg,
        &clean,
        &bad,
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("missing.eml: cannot read"),
        "{}",
        text(&o)
    );

    // Standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["scan", "--config", &cfg, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let raw = std::fs::read(&bad).unwrap();
    child.stdin.take().unwrap().write_all(&raw).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).starts_with("-: infected"), "{}", text(&o));
}

#[test]
fn scan_reports_a_scanner_that_could_not_look_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // clamd at a socket nobody listens on: the verdict is "failed", never clean.
    let sock = dir.path().join("no-clamd.sock");
    let cfg = config(
        dir.path(),
        &format!(
            "[scan]\nengines = [\"builtin\", \"clamd\"]\n[scan.clamd]\naddress = \"unix:{}\"\n",
            sock.display()
        ),
    );
    let clean = message(dir.path(), "clean.eml", "hello");
    let o = portcullis(&["scan", "--config", &cfg, &clean]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("scan failed (clamd"), "{}", text(&o));

    // Larger than scan.max_scan_bytes: unscannable, an error too.
    let cfg = config(dir.path(), "[scan]\nmax_scan_bytes = 100\n");
    let big = message(dir.path(), "big.eml", &"x".repeat(1000));
    let o = portcullis(&["scan", "--config", &cfg, &big]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unscannable"), "{}", text(&o));
}

#[test]
fn sessions_list_filters_and_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let logs = dir.path().join("sessions");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join("a1.log"),
        "2026-11-22T19:26:12.537Z start protocol=pop3 client=198.18.1.2:49424 server=198.19.1.2:110 listener=[::]:10110\n\
         2026-11-22T19:26:12.541Z login ok user=alice\n\
         2026-11-22T19:26:12.548Z message command=RETR number=2 uidl=2 size=318 verdict=\"infected (Eicar-Test-Signature)\" action=Replace scan_ms=0\n\
         2026-11-22T19:26:12.552Z end reason=\"quit\" user=alice messages=1 verdicts=[infected=1] duration_ms=15\n",
    )
    .unwrap();
    std::fs::write(
        logs.join("b2.log"),
        "2026-11-23T08:00:00.000Z start protocol=smtp client=198.18.1.3:40000 server=198.19.1.2:587 listener=[::]:10025\n\
         2026-11-23T08:00:00.020Z login ok user=bob mechanism=PLAIN\n\
         2026-11-23T08:00:00.100Z message from=<bob@example.test> to=<x@example.test> size=10 verdict=\"clean\" action=Pass scan_ms=0 upstream=\"250 ok\"\n\
         2026-11-23T08:00:01.000Z end reason=\"quit\" user=bob messages=1 delivered=1 duration_ms=1000\n",
    )
    .unwrap();
    let ids = |args: &[&str]| {
        let mut all = vec!["sessions", "list", "--config", &cfg];
        all.extend_from_slice(args);
        let o = portcullis(&all);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with(' '))
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&[]), ["a1", "b2"]);
    assert_eq!(ids(&["--user", "bob"]), ["b2"]);
    assert_eq!(ids(&["--client", "198.18.1.2"]), ["a1"]);
    assert_eq!(ids(&["--server", "198.19.1.2:587"]), ["b2"]);
    assert_eq!(ids(&["--verdict", "infected"]), ["a1"]);
    assert_eq!(ids(&["--since", "2026-11-23T00:00:00Z"]), ["b2"]);
    assert_eq!(ids(&["--until", "2026-11-22T23:00:00Z"]), ["a1"]);
    assert!(ids(&["--user", "alice", "--verdict", "clean"]).is_empty());

    let o = portcullis(&[
        "sessions", "list", "--config", &cfg, "--json", "--user", "alice",
    ]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], "a1");
    assert_eq!(lines[0]["protocol"], "pop3");
    assert_eq!(lines[0]["client"], "198.18.1.2:49424");
    assert_eq!(lines[0]["verdicts"]["infected"], 1);
    assert_eq!(lines[0]["end"], "2026-11-22T19:26:12.552Z");

    // Before the first session the directory does not exist: nothing to list, not an error.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_cfg = config(fresh.path(), "");
    let o = portcullis(&["sessions", "list", "--config", &fresh_cfg]);
    assert!(o.status.success() && o.stdout.is_empty(), "{}", text(&o));
    assert!(text(&o).contains("no sessions yet"), "{}", text(&o));

    let o = portcullis(&["sessions", "list", "--config", &cfg, "--since", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("an age like 2h"), "{}", text(&o));
}

#[test]
fn help_names_every_protocol_and_the_default_config() {
    let o = portcullis(&["--help"]);
    let help = text(&o);
    for p in [
        "POP3",
        "IMAP",
        "SMTP",
        "Post Office Protocol",
        "Simple Mail Transfer Protocol",
    ] {
        assert!(help.contains(p), "{p} missing from:\n{help}");
    }
    for sub in ["run", "check", "nft", "sessions", "scan"] {
        let o = portcullis(&[sub, "--help"]);
        assert!(
            text(&o).contains("/etc/portcullis/portcullis.toml"),
            "{sub}: {}",
            text(&o)
        );
    }
    // Without --config, check reads the default path (absent here, or the installed one).
    let o = portcullis(&["check"]);
    assert!(
        text(&o).contains("/etc/portcullis/portcullis.toml"),
        "{}",
        text(&o)
    );
}

#[test]
fn manual_pages_and_completions_come_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let o = portcullis(&["man", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(out.join("portcullis.1")).unwrap();
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH portcullis 1"),
        "{page}"
    );
    assert!(page.contains("POP3") && page.contains("SMTP"), "{page}");
    let scan = std::fs::read_to_string(out.join("portcullis-scan.1")).unwrap();
    assert!(
        scan.contains("FILE|\\-") || scan.contains("FILE|-"),
        "{scan}"
    );
    assert!(out.join("portcullis-sessions-list.1").is_file());

    for shell in ["bash", "zsh", "fish"] {
        let o = portcullis(&["completions", shell]);
        assert!(o.status.success(), "{}", text(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(
            s.contains("quarantine") && s.contains("verdict"),
            "{shell}: {s}"
        );
    }
}
