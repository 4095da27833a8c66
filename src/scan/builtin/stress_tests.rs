//! Pathological inputs for the readings: each must end in a verdict in bounded work.
//! Ignored by default (they print on-CPU time, they assert no time); run in release:
//! `cargo test --release --lib stress -- --ignored --nocapture`.
use super::*;
use crate::config::Builtin as Cfg;

fn on_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    s.split_whitespace()
        .next()
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e9
}

fn repeat(head: &str, unit: &str, size: usize) -> Vec<u8> {
    let mut m = head.as_bytes().to_vec();
    while m.len() < size {
        m.extend_from_slice(unit.as_bytes());
    }
    m
}

#[test]
#[ignore]
fn stress_pathological_messages() {
    let e = BuiltinEngine::new(&Cfg::default()).unwrap();
    let size = 25 * 1024 * 1024;
    let mut decoys = String::from("Subject: d\r\nContent-Type: multipart/mixed; boundary=b0\r\n");
    for i in 0..200 {
        decoys.push_str(&format!("X-D{i}: boundary=\"b{i}\"\r\n"));
    }
    decoys.push_str("\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "uu begin lines",
            repeat("Subject: u\r\n\r\n", "begin 644 a.txt\r\n", size),
        ),
        (
            "yEnc begin lines",
            repeat("Subject: y\r\n\r\n", "=ybegin name=a\r\n", size),
        ),
        (
            "qp soft breaks",
            repeat("Subject: q\r\n\r\n", "=\r\n", size),
        ),
        (
            "short base64 runs",
            repeat(
                "Subject: b\r\n\r\n",
                "QUFBQUFBQUFBQUFBQUFBQUFB\r\n\r\n",
                size,
            ),
        ),
        (
            "boundary words",
            repeat("Subject: w\r\n\r\n", "boundary boundary=x", size),
        ),
        (
            "dash lines, many boundaries",
            repeat(&decoys, "--zz\r\n", size),
        ),
        (
            "data uri markers",
            repeat("Subject: d\r\n\r\n", ";base64,", size),
        ),
        (
            "encoded words",
            repeat("Subject: ", "=?utf-8?B?QUFB?= ", size),
        ),
    ];
    for (what, m) in cases {
        let c0 = on_cpu();
        let v = e.scan(&m);
        println!("{what}: {:.2} s on CPU -> {v}", on_cpu() - c0);
    }
}
