//! The Bayes classifier on real POP3 and SMTP paths: an admin trains it with
//! `portcullis train`, then mail downloaded from dovecot or submitted to postfix through the
//! gateway is tagged or passed by it, and the session log names the verdict and the tokens
//! that decided it.
mod common;

use std::fs;

use common::*;

const FETCH: &str = r#"
p = poplib.POP3(HOST, 110, timeout=120)
p.user('alice'); p.pass_('alicepw')
for i in range(1, len(p.list()[1]) + 1):
    resp, lines, octets = p.retr(i)
    open('%s/got-%d.eml' % (OUT, i), 'wb').write(b'\r\n'.join(lines) + b'\r\n')
p.quit()
"#;

fn spam(i: usize) -> String {
    format!(
        "From: Pharmacy <sales{i}@rx-deals.example>\r\nTo: alice@example.test\r\nSubject: cheap meds order {i}\r\nMessage-ID: <s{i}@rx-deals.example>\r\n\r\nOrder cheap meds online without prescription, discount {i} percent, visit http://rx-deals.example/{i}\r\n"
    )
}

fn ham(i: usize) -> String {
    format!(
        "From: Dave <dave@example.test>\r\nTo: alice@example.test\r\nSubject: build report {i}\r\nMessage-ID: <h{i}@example.test>\r\n\r\nThe nightly build {i} passed; the integration tests on the router image are green.\r\n"
    )
}

#[test]
fn downloaded_mail_is_classified_and_the_deciding_tokens_logged() {
    let mut t = Topology::new("bayes");
    t.start_dovecot();
    t.deliver("alice", "1", spam(100).as_bytes());
    t.deliver("alice", "2", ham(100).as_bytes());
    for i in 0..6 {
        fs::create_dir_all(t.path("train/spam")).unwrap();
        fs::create_dir_all(t.path("train/ham")).unwrap();
        fs::write(t.path(&format!("train/spam/{i}.eml")), spam(i)).unwrap();
        fs::write(t.path(&format!("train/ham/{i}.eml")), ham(i)).unwrap();
    }
    let queue = t.path("autolearn");
    let cfg = t.write_config(&format!(
        "[scan]\nengines = [\"builtin\"]\n[scan.bayes]\nenabled = true\ndb_path = \"{}\"\nmin_spam = 6\nmin_ham = 6\nautolearn = true\nautolearn_dir = \"{}\"\n\n[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n",
        t.path("bayes.db").display(),
        queue.display()
    ));
    let cfg_s = cfg.to_str().unwrap();
    let spam_dir = t.path("train/spam");
    let ham_dir = t.path("train/ham");
    let out = t.portcullis(&[
        "train",
        "--spam",
        spam_dir.to_str().unwrap(),
        "--ham",
        ham_dir.to_str().unwrap(),
        "--config",
        cfg_s,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.start_portcullis(&cfg);
    t.python_client(
        SERVER_V4,
        &format!("OUT = {:?}\n{FETCH}", t.dir.path().display().to_string()),
    );
    let got1 = fs::read_to_string(t.path("got-1.eml")).unwrap();
    let got2 = fs::read_to_string(t.path("got-2.eml")).unwrap();
    assert!(
        got1.contains("Subject: [SPAM] cheap meds order 100"),
        "{got1}"
    );
    assert!(got2.contains("Subject: build report 100"), "{got2}");
    assert!(!got2.contains("[SPAM]"), "{got2}");
    let log = t.session_logs();
    let line = log
        .lines()
        .find(|l| l.contains("message=1 bayes: spam probability"))
        .unwrap_or_else(|| panic!("no Bayes line for message 1 in {log}"));
    let deciding = line.split_once("deciding: ").map_or("", |d| d.1);
    assert!(
        ["rx-deals", "cheap", "meds", "prescription", "discount"]
            .iter()
            .any(|w| deciding.contains(w)),
        "{line}"
    );
    assert!(
        !deciding.contains("build") && !deciding.contains("green"),
        "{line}"
    );
    assert!(
        log.contains("message=2 bayes: spam probability 0.0"),
        "{log}"
    );

    // Autolearn: both were judged with confidence, so both wait in the queue (the
    // downloaded bytes, as the server sent them), and training learns and removes them.
    let queued = |class: &str| -> Vec<Vec<u8>> {
        fs::read_dir(queue.join(class))
            .map(|rd| rd.flatten().map(|e| fs::read(e.path()).unwrap()).collect())
            .unwrap_or_default()
    };
    assert_eq!(queued("spam"), vec![spam(100).into_bytes()], "{log}");
    assert_eq!(queued("ham"), vec![ham(100).into_bytes()], "{log}");
    assert!(log.contains("bayes: queued for autolearn as spam"), "{log}");
    let out = t.portcullis(&["train", "--autolearn", "--config", cfg_s]);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.starts_with("learned 2,"), "{report}");
    assert!(queued("spam").is_empty() && queued("ham").is_empty());
    let stats = t.portcullis(&["bayes", "stats", "--config", cfg_s]);
    let stats = String::from_utf8_lossy(&stats.stdout).to_string();
    assert!(
        stats.contains("spam learned: 7") && stats.contains("ham learned: 7"),
        "{stats}"
    );
    // Fetched again, they are known: queued again, learned once.
    t.python_client(
        SERVER_V4,
        &format!("OUT = {:?}\n{FETCH}", t.dir.path().display().to_string()),
    );
    let out = t.portcullis(&["train", "--autolearn", "--config", cfg_s]);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        report.starts_with("learned 0, moved to the other class 0, already known 2"),
        "{report}"
    );
}

#[test]
fn submitted_mail_is_classified_over_smtp_and_the_verdict_logged() {
    let mut t = Topology::new("sbayes");
    t.start_dovecot();
    t.start_postfix();
    for i in 0..6 {
        fs::create_dir_all(t.path("train/spam")).unwrap();
        fs::create_dir_all(t.path("train/ham")).unwrap();
        fs::write(t.path(&format!("train/spam/{i}.eml")), spam(i)).unwrap();
        fs::write(t.path(&format!("train/ham/{i}.eml")), ham(i)).unwrap();
    }
    let cfg = t.write_config(&format!(
        "[scan]\nengines = [\"builtin\"]\n[scan.bayes]\nenabled = true\ndb_path = \"{}\"\nmin_spam = 6\nmin_ham = 6\n\n[[listener]]\nprotocol = \"smtp\"\nlisten = \"[::]:10025\"\nintercept_ports = [25, 587]\n",
        t.path("bayes.db").display()
    ));
    let (spam_dir, ham_dir) = (t.path("train/spam"), t.path("train/ham"));
    let out = t.portcullis(&[
        "train",
        "--spam",
        spam_dir.to_str().unwrap(),
        "--ham",
        ham_dir.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.start_portcullis(&cfg);
    let send = format!(
        r#"
import smtplib
s = smtplib.SMTP(HOST, 25, timeout=60)
s.sendmail('sales@rx-deals.example', ['alice@example.test'], {:?}.encode())
s.quit()
out.write(b'sent')
"#,
        spam(200)
    );
    assert_eq!(t.python_client(SERVER_V4, &send), b"sent");
    let stored = t.wait_stored("alice", 1);
    let text = String::from_utf8_lossy(&stored[0]).to_string();
    assert!(
        text.contains("Subject: [SPAM] cheap meds order 200"),
        "{text}"
    );
    let log = t.session_logs();
    let line = log
        .lines()
        .find(|l| l.contains("bayes: spam probability"))
        .unwrap_or_else(|| panic!("no Bayes line in {log}"));
    assert!(line.contains("deciding: \""), "{line}");
    assert!(log.contains("verdict=\"spam (score"), "{log}");
}
