//! Memory rows: what the proxy's resident set does under a burst of large downloads and
//! with single hostile messages, from /proc/PID/status (VmRSS) sampled every 20 ms.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::common::*;
use super::{Bench, Row, curl_time};

/// (VmRSS, RssAnon) in KiB: all resident pages, and those not backed by a file (the heap;
/// a mapped spool file is page cache and counts only in the first).
fn rss(pid: u32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("RssAnon:"))
}

/// Peak (VmRSS, RssAnon) while `run` runs.
fn peak_during(pid: u32, run: impl FnOnce()) -> (f64, f64) {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let sampler = std::thread::spawn(move || {
        let (mut all, mut anon) = (0.0f64, 0.0f64);
        loop {
            let (a, n) = rss(pid);
            all = all.max(a);
            anon = anon.max(n);
            if d.load(Ordering::Relaxed) {
                return (all, anon);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    run();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap()
}

fn retr_all(t: &Topology, clients: usize, messages: usize) {
    let script = format!(
        "for c in $(seq {clients}); do (for n in $(seq {messages}); do \
         curl -sS --max-time 300 -o /dev/null -u bob:bobpw pop3://{SERVER_V4}/$n || echo fail; done) & done; wait"
    );
    let out = t.ns_output(&t.client_ns, &["bash", "-c", &script]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("fail"),
        "every download finished: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

/// A row on the whole resident set (with the target) and one on the heap alone.
fn rows(b: &mut Bench, case: &str, rise: (f64, f64), target: f64) {
    for (what, v, t) in [
        ("RSS", rise.0, Some(target)),
        ("anonymous RSS", rise.1, None),
    ] {
        b.rows.push(Row {
            case: format!("{case}: {what}"),
            unit: "MiB",
            better: "lower",
            direct: Vec::new(),
            proxied: vec![mib(v)],
            target: t.map(|t| ("<=", t)),
        });
    }
}

/// A 30 MB message with a base64 attachment, 7 and 5 MB text ones, and ten small ones.
fn mailbox(t: &Topology) -> usize {
    let mut rnd = Vec::with_capacity(22 * 1024 * 1024);
    let mut x: u64 = 0x2545f4914f6cdd1d;
    while rnd.len() < 22 * 1024 * 1024 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rnd.extend_from_slice(&x.to_le_bytes());
    }
    t.deliver("bob", "01", &with_attachment("big", "data.bin", &rnd));
    t.deliver("bob", "02", &large_message(7 * 1024 * 1024));
    t.deliver("bob", "03", &large_message(5 * 1024 * 1024));
    for i in 0..10 {
        t.deliver("bob", &format!("1{i}"), &large_message(20 * 1024));
    }
    13
}

fn hostile() -> Vec<(&'static str, Vec<u8>)> {
    let head = b"From: x@example.test\r\nTo: bob@example.test\r\nSubject: hostile\r\n".to_vec();
    let mut parts = head.clone();
    parts.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
    while parts.len() < 48 << 20 {
        parts.extend_from_slice(b"--b\r\n\r\n");
    }
    let mut headers = head.clone();
    while headers.len() < 48 << 20 {
        headers.extend_from_slice(b"X-H: a\r\n");
    }
    headers.extend_from_slice(b"\r\nbody\r\n");
    let mut ff = head.clone();
    ff.extend_from_slice(
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    ff.extend_from_slice(base64(&vec![0xff; 36 << 20]).as_bytes());
    vec![
        ("7 M empty MIME parts in 48 MiB", parts),
        ("48 MiB of header lines", headers),
        ("a 48 MB base64 text part of 0xFF bytes", ff),
        (
            "a 27 MB zip whose central directory lists 400k entries",
            with_attachment("zip", "many.zip", &big_directory_zip(400_000)),
        ),
        (
            "16 MB uuencoded, 16 MB yEnc, 0.4 MB BinHex of 40 MB",
            blocks(head),
        ),
    ]
}

/// A text body holding a 16 MB uuencode block, a 16 MB yEnc block and a BinHex block
/// whose run-length code expands 0.4 MB of text to 40 MB: every one is decoded.
fn blocks(mut m: Vec<u8>) -> Vec<u8> {
    let data: Vec<u8> = (0..16u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    m.extend_from_slice(b"\r\nHere they are.\r\n\r\nbegin 644 one.bin\r\n");
    for line in data.chunks(45) {
        m.push(b' ' + line.len() as u8);
        for g in line.chunks(3) {
            let w = g
                .iter()
                .chain([0, 0].iter())
                .take(3)
                .fold(0u32, |a, &b| a << 8 | b as u32);
            m.extend((0..4).rev().map(|k| match ((w >> (6 * k)) & 63) as u8 {
                0 => b'`',
                v => b' ' + v,
            }));
        }
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"`\r\nend\r\n=ybegin line=128 size=16777216 name=two.bin\r\n");
    for line in data.chunks(128) {
        for &b in line {
            match b.wrapping_add(42) {
                c @ (0 | b'\n' | b'\r' | b'=') => m.extend_from_slice(&[b'=', c.wrapping_add(64)]),
                c => m.push(c),
            }
        }
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(
        b"=yend size=16777216\r\n(This file must be converted with BinHex 4.0)\r\n:",
    );
    // Header (name "x", data length 40 MB), then 'A' and 160k runs of 254 more.
    let mut stream = vec![1, b'x', 0];
    stream.extend_from_slice(b"TEXTttxt\0\0");
    stream.extend_from_slice(&(40u32 << 20).to_be_bytes());
    stream.extend_from_slice(&[0; 6]);
    stream.push(b'A');
    for _ in 0..160_000 {
        stream.extend_from_slice(&[0x90, 0xff]);
    }
    const ALPHABET: &[u8; 64] =
        b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
    for (i, g) in stream.chunks(3).enumerate() {
        let w = g
            .iter()
            .chain([0, 0].iter())
            .take(3)
            .fold(0u32, |a, &b| a << 8 | b as u32);
        m.extend(
            (0..4)
                .rev()
                .map(|k| ALPHABET[((w >> (6 * k)) & 63) as usize]),
        );
        if i % 16 == 15 {
            m.extend_from_slice(b"\r\n");
        }
    }
    m.extend_from_slice(b":\r\n");
    m
}

/// A zip whose central directory lists `n` entries (ZIP64 end records), one local header.
fn big_directory_zip(n: u64) -> Vec<u8> {
    let mut z =
        b"PK\x03\x04\x14\x00\x00\x00\x00\x00\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x05\x00\x00\x00a.txt"
            .to_vec();
    let cd_at = z.len() as u64;
    for i in 0..n {
        let name = format!("{i:08}");
        z.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00");
        z.extend_from_slice(&[0; 16]);
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0; 16]);
        z.extend_from_slice(name.as_bytes());
    }
    let cd_len = z.len() as u64 - cd_at;
    let rec = z.len() as u64;
    z.extend_from_slice(b"PK\x06\x06");
    z.extend_from_slice(&44u64.to_le_bytes());
    z.extend_from_slice(&[0x2d, 0, 0x2d, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for v in [n, n, cd_len, cd_at] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    z.extend_from_slice(b"PK\x06\x07\0\0\0\0");
    z.extend_from_slice(&rec.to_le_bytes());
    z.extend_from_slice(&1u32.to_le_bytes());
    z.extend_from_slice(b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\0\0");
    z
}

pub fn cases(b: &mut Bench) {
    let mut t = Topology::new("bmem");
    t.start_dovecot_with(
        "service_count = 0\n  client_limit = 5000\n  process_min_avail = 2",
        "default_client_limit = 5000\ndefault_process_limit = 1000\nprotocol pop3 {\n  mail_max_userip_connections = 10000\n}\n",
    );
    let messages = mailbox(&t);
    sh(&[
        "chown",
        "-R",
        "nobody:nogroup",
        &t.path("dovecot/mail").display().to_string(),
    ]);
    let cfg = t.write_config(
        "[limits]\nmax_connections = 5000\nmax_connections_per_client = 5000\n\
         [[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n",
    );
    let pi = t.start_portcullis(&cfg);
    let pid = t.proc(pi).pid();
    // Idle: after one small download, so what is set up on first use is counted in it.
    let warm = format!("curl -sS -o /dev/null -u bob:bobpw pop3://{SERVER_V4}/{messages}");
    t.ns_output(&t.client_ns, &["bash", "-c", &warm]);
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss(pid);
    let peak = peak_during(pid, || retr_all(&t, 20, messages));
    let ended = Instant::now();
    std::thread::sleep(Duration::from_secs(30).saturating_sub(ended.elapsed()));
    let after = rss(pid);
    let label = "20 clients downloading a mailbox with 30/7/5 MB messages";
    let rise = |x: (f64, f64)| (x.0 - idle.0, x.1 - idle.1);
    rows(b, &format!("{label}: peak above idle"), rise(peak), 64.0);
    rows(
        b,
        &format!("{label}: above idle 30 s after"),
        rise(after),
        16.0,
    );

    // One hostile message at a time, alone in alice's mailbox.
    let maildir = t.path("dovecot/mail/alice/Maildir");
    for (what, msg) in hostile() {
        for sub in ["new", "cur"] {
            let _ = std::fs::remove_dir_all(maildir.join(sub));
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        t.deliver("alice", "h", &msg);
        sh(&[
            "chown",
            "-R",
            "nobody:nogroup",
            &maildir.display().to_string(),
        ]);
        drop(msg);
        std::thread::sleep(Duration::from_millis(300));
        let before = rss(pid);
        let peak = peak_during(pid, || {
            curl_time(&t, "alice:alicepw", &format!("pop3://{SERVER_V4}/1"), &[]);
        });
        let rise = (peak.0 - before.0, peak.1 - before.1);
        rows(
            b,
            &format!("one hostile message ({what}): peak rise"),
            rise,
            32.0,
        );
    }
}
