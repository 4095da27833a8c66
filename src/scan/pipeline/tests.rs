//! Whole-pipeline runs over a spooled message: hostile shapes end in a verdict, and the
//! admission limit turns into the `failed` verdict instead of a scan over budget.
use super::*;
use crate::config::Scan as Cfg;

async fn run(p: &Pipeline, message: &[u8]) -> Verdict {
    let dir = tempfile::tempdir().unwrap();
    // A small memory threshold: big messages are scanned through the file mapping.
    let mut spool = Spool::new(64 * 1024, dir.path());
    let mut scan = p.begin().await;
    for chunk in message.chunks(16 * 1024) {
        spool.write(chunk).unwrap();
        scan.feed(chunk).await;
    }
    scan.finish(&mut spool).await.verdict
}

fn pipeline(cfg: Cfg) -> Pipeline {
    Pipeline::new(&cfg, &std::env::temp_dir()).unwrap()
}

fn why(v: &Verdict) -> &str {
    match v {
        Verdict::Unscannable { why } | Verdict::Failed { why, .. } => why,
        _ => "",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spooled_message_is_scanned_through_its_mapping() {
    let mut m = b"Subject: x\r\n\r\n".to_vec();
    m.extend_from_slice(&b"filler line of text\r\n".repeat(20_000));
    m.extend_from_slice(crate::scan::builtin::signatures::EICAR);
    let v = run(&pipeline(Cfg::default()), &m).await;
    assert!(matches!(v, Verdict::Infected { .. }), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabytes_of_header_lines_are_unscannable() {
    let mut m = b"From: a@example.test\r\nContent-Type: multipart/mixed; boundary=b\r\n".to_vec();
    m.extend_from_slice(&b"X-Filler: a\r\n".repeat(300_000));
    m.extend_from_slice(b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n");
    let v = run(&pipeline(Cfg::default()), &m).await;
    assert!(
        matches!(&v, Verdict::Unscannable { why } if why.contains("header bytes")),
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_empty_parts_never_reaches_the_parser() {
    let mut m =
        b"From: a@example.test\r\nContent-Type: multipart/mixed; boundary=\"q\"\r\n\r\n".to_vec();
    m.extend_from_slice(&b"--q\r\n\r\n".repeat(400_000));
    let v = run(&pipeline(Cfg::default()), &m).await;
    assert!(why(&v).contains("pre-check"), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_room_among_the_scans_in_flight_is_a_failed_verdict() {
    let p = pipeline(Cfg {
        max_concurrent_scans: 1,
        admission_timeout_secs: 1,
        ..Cfg::default()
    });
    let held = p.admission.admit(1).await.unwrap();
    let v = run(&p, b"Subject: x\r\n\r\nclean text\r\n").await;
    assert!(
        matches!(&v, Verdict::Failed { scanner, .. } if scanner == "admission"),
        "{v:?}"
    );
    drop(held);
    assert_eq!(
        run(&p, b"Subject: x\r\n\r\nclean text\r\n").await,
        Verdict::Clean
    );
}
