//! `portcullis train` and `portcullis bayes` as an admin uses them: learning from Maildir
//! folders, mbox files and directories of .eml files, once per message, unlearning, and a
//! database that survives a training process killed at any moment.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn spam(i: usize) -> String {
    format!(
        "From: Prize Desk <winner{i}@lottery.example>\nSubject: You won {i} dollars\nContent-Type: text/plain\n\nClaim your prize {i} now, send your bank details to claim the lottery money.\n"
    )
}

fn ham(i: usize) -> String {
    format!(
        "From: Carol <carol@office.example>\nSubject: minutes of meeting {i}\nContent-Type: text/plain\n\nThe minutes of today's meeting {i} are attached; next review on Monday.\n"
    )
}

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("portcullis.toml");
        std::fs::write(
            &config,
            format!(
                "[scan.bayes]\nenabled = true\ndb_path = \"{}\"\nmin_spam = 3\nmin_ham = 3\n\n[[listener]]\nprotocol = \"pop3\"\nlisten = \"127.0.0.1:10110\"\nintercept_ports = [110]\n",
                dir.path().join("db/bayes.db").display()
            ),
        )
        .unwrap();
        Env { dir, config }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn train(&self, args: &[&Path]) -> String {
        let mut a = vec!["train".to_string()];
        a.extend(args.iter().map(|p| p.to_str().unwrap().to_string()));
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        String::from_utf8(self.run(&refs).stdout).unwrap()
    }

    fn stat(&self, key: &str) -> u64 {
        let out = String::from_utf8(self.run(&["bayes", "stats"]).stdout).unwrap();
        let line = out
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} in {out}"));
        line[key.len() + 1..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A Maildir of spam (cur/ and new/; tmp/ holds a message still being delivered), a
/// directory of .eml spam with a subfolder, and an mbox of ham.
fn folders(env: &Env) -> (PathBuf, PathBuf, PathBuf) {
    let md = env.path("Maildir/.Junk");
    write(&md.join("cur/1.host:2,S"), &spam(1));
    write(&md.join("new/2.host"), &spam(2).replace('\n', "\r\n"));
    write(&md.join("tmp/3.host"), &spam(3));
    let eml = env.path("saved");
    write(&eml.join("a.eml"), &spam(4));
    write(&eml.join("older/b.eml"), &spam(5));
    let mbox = env.path("Inbox.mbox");
    let mut text = String::new();
    for i in 0..4 {
        text.push_str(&format!(
            "From carol@office.example Mon Jan  1 00:00:0{i} 2024\n"
        ));
        text.push_str(&ham(i));
        text.push('\n');
    }
    write(&mbox, &text);
    (md, eml, mbox)
}

#[test]
fn trains_from_maildir_eml_and_mbox_once_and_forgets() {
    let env = Env::new();
    let (md, eml, mbox) = folders(&env);
    let flag = |s: &str| PathBuf::from(s);
    let out = env.train(&[
        &flag("--spam"),
        &md,
        &flag("--spam"),
        &eml,
        &flag("--ham"),
        &mbox,
    ]);
    assert!(out.starts_with("learned 8,"), "{out}");
    assert_eq!(
        (env.stat("spam learned:"), env.stat("ham learned:")),
        (4, 4)
    );
    let tokens = env.stat("tokens:");

    // Learning the same mail again, even saved with other line endings, changes nothing.
    write(&env.path("again/x.eml"), &spam(1).replace('\n', "\r\n"));
    let out = env.train(&[&flag("--spam"), &md, &flag("--spam"), &env.path("again")]);
    assert!(
        out.contains("learned 0,") && out.contains("already known 3"),
        "{out}"
    );
    assert_eq!(
        (env.stat("spam learned:"), env.stat("tokens:")),
        (4, tokens)
    );

    // The classifier tells the two apart.
    write(&env.path("probe/s.eml"), &spam(99));
    write(&env.path("probe/h.eml"), &ham(99));
    let out = env.run(&["bayes", "classify", env.path("probe").to_str().unwrap()]);
    let out = String::from_utf8(out.stdout).unwrap();
    let p: Vec<f64> = out
        .lines()
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(p.len(), 2, "{out}");
    assert!(p[0] < 0.2 && p[1] > 0.8, "ham h.eml then spam s.eml: {out}");

    // Forgetting the ham unlearns exactly those messages.
    let out = env.train(&[&flag("--forget"), &flag("--ham"), &mbox]);
    assert!(out.contains("forgotten 4"), "{out}");
    assert_eq!(
        (env.stat("spam learned:"), env.stat("ham learned:")),
        (4, 0)
    );
    assert!(env.stat("tokens:") < tokens);
    let out = env.train(&[&flag("--forget"), &flag("--ham"), &mbox]);
    assert!(out.contains("not learned before 4"), "{out}");
}

#[test]
fn a_training_process_killed_mid_way_leaves_a_usable_database() {
    let env = Env::new();
    let dir = env.path("corpus");
    for i in 0..3000 {
        write(&dir.join(format!("{i:05}.eml")), &spam(i));
    }
    let db = env.path("db/bayes.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "train",
            "--commit-every",
            "7",
            "--spam",
            dir.to_str().unwrap(),
            "--config",
        ])
        .arg(&env.config)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !db.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Let it commit a few more times, then kill it without warning.
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the training finished before it was killed"
    );
    let learned = env.stat("spam learned:");
    assert!(learned > 0 && learned < 3000, "{learned}");
    assert_eq!(env.stat("message digests:"), learned);
    // Training again takes the lock, finishes the rest and counts each message once.
    let out = env.train(&[Path::new("--spam"), &dir]);
    assert!(out.contains(&format!("already known {learned}")), "{out}");
    assert_eq!(env.stat("spam learned:"), 3000);
}
