//! A throughput probe for the engine on the benchmark's clean message shape. Ignored by
//! default (it asserts nothing about time); run it in release mode:
//! `cargo test --release --lib speed -- --ignored --nocapture`.
use super::corpus::b64;
use super::*;
use crate::config::Builtin as Cfg;

fn clean_message() -> Vec<u8> {
    let mut rnd = Vec::with_capacity(17 * 1024 * 1024);
    let mut x: u64 = 0x9e3779b97f4a7c15;
    while rnd.len() < 17 * 1024 * 1024 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rnd.extend_from_slice(&x.to_le_bytes());
    }
    let mut text = Vec::new();
    let mut i = 0u64;
    while text.len() < 1024 * 1024 {
        if i.is_multiple_of(97) {
            text.extend_from_slice(b".dot-led line\r\n");
        }
        text.extend_from_slice(
            format!("{i:010} the quick brown fox jumps over the lazy dog ").as_bytes(),
        );
        text.extend_from_slice(b"\xe4\xf6\xfc 0123456789\r\n");
        i += 1;
    }
    let mut m = b"From: sender@example.test\r\nSubject: bench\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b-1\"\r\n\r\n--b-1\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    m.extend_from_slice(&text);
    m.extend_from_slice(b"\r\n--b-1\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    m.extend_from_slice(b64(&rnd).as_bytes());
    m.extend_from_slice(b"\r\n--b-1--\r\n");
    m
}

#[test]
#[ignore]
fn speed_on_a_clean_25mb_message() {
    let msg = clean_message();
    let e = BuiltinEngine::new(&Cfg::default()).unwrap();
    let mb = msg.len() as f64 / 1e6;
    let (mut best, mut best_cpu) = (f64::MAX, f64::MAX);
    for _ in 0..7 {
        let (t0, c0) = (std::time::Instant::now(), on_cpu());
        assert_eq!(e.scan(&msg), Verdict::Clean);
        best = best.min(t0.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(on_cpu() - c0);
    }
    println!(
        "builtin engine: {mb:.1} MB: wall {:.0} MB/s, on-CPU {:.0} MB/s",
        mb / best,
        mb / best_cpu
    );
}

/// Seconds this thread spent on a CPU (a shared machine makes wall time noisy).
fn on_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    s.split_whitespace()
        .next()
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e9
}

/// The benchmark's 20 KB submission: plain text, 8-bit, dot-led lines.
fn small_plain_message() -> Vec<u8> {
    let mut m = b"From: big@example.test\r\nTo: alice@example.test\r\nSubject: large\r\nMessage-ID: <large@example.test>\r\n\r\n".to_vec();
    let mut i = 0u64;
    while m.len() < 20 * 1024 {
        if i.is_multiple_of(97) {
            m.extend_from_slice(b".dot-led line\r\n");
        }
        m.extend_from_slice(
            format!("{i:010} the quick brown fox jumps over the lazy dog ").as_bytes(),
        );
        m.extend_from_slice(b"\xe4\xf6\xfc 0123456789\r\n");
        i += 1;
    }
    m
}

/// The SMTP benchmark's 20 KB submission: 256 lines of 78 `y`, which read as base64 too.
fn small_smtp_bench_message() -> Vec<u8> {
    let mut m =
        b"From: a@example.test\r\nTo: alice@example.test\r\nSubject: bench\r\n\r\n".to_vec();
    for _ in 0..256 {
        m.extend_from_slice(&[b'y'; 78]);
        m.extend_from_slice(b"\r\n");
    }
    m
}

fn per_message_cost(what: &str, msg: &[u8]) {
    let e = BuiltinEngine::new(&Cfg::default()).unwrap();
    let n = 20_000;
    let c0 = on_cpu();
    for _ in 0..n {
        assert_eq!(e.scan(msg), Verdict::Clean);
    }
    println!(
        "builtin engine: {what}: {:.1} µs on-CPU each",
        (on_cpu() - c0) * 1e6 / n as f64
    );
}

#[test]
#[ignore]
fn speed_on_small_plain_messages() {
    per_message_cost("20 KB plain message", &small_plain_message());
}

#[test]
#[ignore]
fn speed_on_small_smtp_bench_messages() {
    per_message_cost(
        "20 KB SMTP bench message (base64-like lines)",
        &small_smtp_bench_message(),
    );
}
