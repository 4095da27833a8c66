use super::store::{Learner, StoreLimits};
use super::*;
use crate::config::bayes::Bayes as Cfg;

pub(crate) fn spam_msg(i: usize) -> Vec<u8> {
    format!(
        "From: Deals {i} <offer{i}@cheap-pills.example>\r\nSubject: cheap pills offer {i}\r\nContent-Type: text/html\r\n\r\n<p>Buy cheap <b>pills</b> now, limited offer, click <a href=\"http://pills.example/{i}\">here</a> casino winner</p>\r\n"
    )
    .into_bytes()
}

pub(crate) fn ham_msg(i: usize) -> Vec<u8> {
    format!(
        "From: Alice <alice@team.example>\r\nSubject: meeting notes {i}\r\nContent-Type: text/plain\r\n\r\nHi Bob, the build is green again; the release meeting moves to Thursday. Agenda item {i}.\r\n"
    )
    .into_bytes()
}

/// A database with `n` spam and `n` ham learned.
pub(crate) fn trained(path: &std::path::Path, n: usize) {
    let cfg = Cfg::default();
    let limits = Limits {
        max_parts: 100,
        max_depth: 5,
        max_decoded_bytes: 1 << 20,
    };
    let mut l = Learner::open(
        path,
        StoreLimits {
            max_tokens: 10_000,
            max_seen: 10_000,
        },
    )
    .unwrap();
    for i in 0..n {
        for (spam, m) in [(true, spam_msg(i)), (false, ham_msg(i))] {
            let t = tokens::tokenize(&m, limits, cfg.max_tokens_per_message);
            let h: Vec<u64> = t.hashes().collect();
            l.learn(train::digest(&m), spam, &h);
        }
    }
    l.commit().unwrap();
}

pub(crate) fn cfg(path: &std::path::Path, min: u64) -> Cfg {
    Cfg {
        enabled: true,
        db_path: path.to_owned(),
        min_spam: min,
        min_ham: min,
        ..Cfg::default()
    }
}

#[test]
fn no_verdict_before_the_minimum_learns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bayes.db");
    let b = Bayes::new(&cfg(&path, 20), &Builtin::default());
    let j = b.classify(&spam_msg(999));
    assert_eq!((j.verdict, j.probability), (Verdict::Clean, None));
    assert!(j.note.contains("learned 0 spam and 0 ham"), "{}", j.note);
    trained(&path, 19);
    let j = b.classify(&spam_msg(999));
    assert_eq!((j.verdict, j.probability), (Verdict::Clean, None));
    assert!(j.note.contains("learned 19 spam and 19 ham"), "{}", j.note);
    // Training replaced the file: the classifier sees the new one without a restart.
    trained(&path, 20);
    let j = b.classify(&spam_msg(999));
    assert!(matches!(j.verdict, Verdict::Spam { .. }), "{j:?}");
}

#[test]
fn spam_and_ham_are_told_apart_and_the_deciding_tokens_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bayes.db");
    trained(&path, 30);
    let b = Bayes::new(&cfg(&path, 30), &Builtin::default());
    let j = b.classify(&spam_msg(1234));
    let Verdict::Spam { score, threshold } = j.verdict else {
        panic!("{j:?}")
    };
    assert!(score >= threshold && score <= 10.0);
    let deciding = j.note.split_once("deciding: ").unwrap().1;
    let listed: Vec<&str> = deciding.split(", ").collect();
    assert_eq!(listed.len(), 8, "{}", j.note);
    for d in listed {
        let (tok, p) = d.rsplit_once(' ').unwrap();
        assert!(p.parse::<f64>().unwrap() > 0.9, "{d}");
        assert!(!tok.contains("meeting") && !tok.contains("href"), "{d}");
    }
    let j = b.classify(&ham_msg(1234));
    assert_eq!(j.verdict, Verdict::Clean, "{}", j.note);
    assert!(j.probability.unwrap() < 0.1, "{}", j.note);
    let deciding = j.note.split_once("deciding: ").unwrap().1;
    for d in deciding.split(", ") {
        let (tok, p) = d.rsplit_once(' ').unwrap();
        assert!(p.parse::<f64>().unwrap() < 0.1, "{d}");
        assert!(!tok.contains("pills"), "{d}");
    }
}

#[test]
fn a_damaged_database_is_a_failure_not_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bayes.db");
    std::fs::write(&path, b"PCBAYES1 but not really").unwrap();
    let b = Bayes::new(&cfg(&path, 1), &Builtin::default());
    let j = b.classify(&spam_msg(1));
    assert!(
        matches!(j.verdict, Verdict::Failed { ref scanner, .. } if scanner == "bayes"),
        "{j:?}"
    );
}

async fn scan_through_pipeline(cfg: &crate::config::Scan, raw: &[u8]) -> crate::scan::ScanOutcome {
    let pipeline = crate::scan::Pipeline::new(cfg, &std::env::temp_dir()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut spool = crate::message::spool::Spool::new(1 << 20, dir.path());
    spool.write(raw).unwrap();
    let mut scan = pipeline.begin().await;
    scan.feed(raw).await;
    scan.finish(&mut spool).await
}

#[tokio::test]
async fn the_pipeline_gives_a_spam_verdict_and_logs_the_deciding_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bayes.db");
    trained(&path, 30);
    let mut scan = crate::config::Scan {
        engines: vec![crate::config::Engine::Builtin],
        ..crate::config::Scan::default()
    };
    scan.bayes = cfg(&path, 30);
    let o = scan_through_pipeline(&scan, &spam_msg(77)).await;
    assert!(matches!(o.verdict, Verdict::Spam { .. }), "{o:?}");
    assert!(o.engines.contains(&"bayes"));
    assert!(o.notes.iter().any(|n| n.contains("deciding: \"")), "{o:?}");
    let o = scan_through_pipeline(&scan, &ham_msg(77)).await;
    assert_eq!(o.verdict, Verdict::Clean, "{o:?}");
    // Disabled, the same database and message give no Bayes opinion at all.
    scan.bayes.enabled = false;
    let o = scan_through_pipeline(&scan, &spam_msg(77)).await;
    assert_eq!(o.verdict, Verdict::Clean);
    assert!(!o.engines.contains(&"bayes") && o.notes.is_empty());
}
