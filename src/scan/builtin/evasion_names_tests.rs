//! Blocked attachments behind every name source a client might use, single-part
//! attachments, executables without a name, message/partial, and hash signatures on
//! the bytes before charset conversion.
use super::corpus::*;
use super::*;
use crate::config::Builtin as Cfg;

/// Runs every shape with a harmless file named `blocked` (must be infected) and named
/// report.pdf (must be clean).
fn check(shapes: &[(&str, Shape)], blocked: &str) -> Vec<String> {
    misjudged(shapes, HARMLESS, blocked, blocked)
}

fn s(v: String) -> Vec<u8> {
    v.into_bytes()
}

fn b64_word(n: &str) -> String {
    format!("=?utf-8?B?{}?=", b64(n.as_bytes()))
}

fn pct(n: &str) -> String {
    n.bytes().map(|b| format!("%{b:02X}")).collect()
}

const NAME_SOURCES: &[(&str, Shape)] = &[
    ("second Content-Disposition", |p, n| {
        mixed(&attachment(
            &format!(
                "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\nContent-Disposition: attachment; filename=\"{n}\""
            ),
            p,
        ))
    }),
    ("second Content-Type", |p, n| {
        mixed(&attachment(
            &format!(
                "Content-Type: application/octet-stream; name=\"notes.txt\"\r\nContent-Type: application/octet-stream; name=\"{n}\""
            ),
            p,
        ))
    }),
    ("filename* next to filename", |p, n| {
        mixed(&attachment(
            &format!(
                "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"notes.txt\"; filename*=UTF-8''{}",
                pct(n)
            ),
            p,
        ))
    }),
    ("name next to filename", |p, n| {
        mixed(&attachment(
            &format!(
                "Content-Type: application/octet-stream; name=\"{n}\"\r\nContent-Disposition: attachment; filename=\"notes.txt\""
            ),
            p,
        ))
    }),
    ("RFC 2231 continuations", |p, n| {
        let (a, b) = n.split_at(n.len() / 2);
        mixed(&attachment(
            &format!(
                "Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*0=\"{a}\";\r\n filename*1=\"{b}\""
            ),
            p,
        ))
    }),
    ("RFC 2231 encoded continuations", |p, n| {
        let (a, b) = n.split_at(n.len() / 2);
        mixed(&attachment(
            &format!(
                "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*0*=utf-8''{}; filename*1*={}",
                pct(a),
                pct(b)
            ),
            p,
        ))
    }),
    ("encoded word in name", |p, n| {
        mixed(&attachment(
            &format!(
                "Content-Type: application/octet-stream; name=\"{}\"",
                b64_word(n)
            ),
            p,
        ))
    }),
    ("encoded word in filename, Q encoding", |p, n| {
        let q: String = n.bytes().map(|b| format!("={b:02X}")).collect();
        mixed(&attachment(
            &format!(
                "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"=?iso-8859-1?Q?{q}?=\""
            ),
            p,
        ))
    }),
    ("comments and spaces around the name", |p, n| {
        mixed(&attachment(
            &format!("Content-Type: application/octet-stream (file) ; name (the name) = \"{n}\""),
            p,
        ))
    }),
    ("unquoted name with trailing dots", |p, n| {
        mixed(&attachment(
            &format!("Content-Type: application/octet-stream; name={n}.."),
            p,
        ))
    }),
    ("Content-Location only", |p, n| {
        mixed(&attachment(
            &format!("Content-Type: application/octet-stream\r\nContent-Location: {n}"),
            p,
        ))
    }),
    ("percent-escaped name", |p, n| {
        mixed(&attachment(
            &format!(
                "Content-Type: application/octet-stream; name=\"{}\"",
                n.replace('.', "%2E")
            ),
            p,
        ))
    }),
    ("bare CR line ends", |p, n| {
        let m = mixed(&attachment(
            &format!("Content-Type: application/octet-stream; name=\"{n}\""),
            p,
        ));
        String::from_utf8(m)
            .unwrap()
            .replace("\r\n", "\r")
            .into_bytes()
    }),
    ("single-part text attachment", |p, n| {
        s(format!(
            "From: a@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; name=\"{n}\"\r\nContent-Disposition: attachment\r\n\r\n{}\r\n",
            String::from_utf8_lossy(p)
        ))
    }),
    ("single-part with filename only", |p, n| {
        s(format!(
            "Subject: x\r\nContent-Disposition: attachment; filename={n}\r\n\r\n{}\r\n",
            String::from_utf8_lossy(p)
        ))
    }),
    ("uuencode begin line name", |p, n| {
        s(format!("Subject: uu\r\n\r\n{}", uuencode(n, p)))
    }),
    ("yEnc name", |p, n| {
        let mut m = b"Subject: y\r\n\r\n".to_vec();
        m.extend_from_slice(&yenc(n, p));
        m
    }),
    ("BinHex name", |p, n| {
        s(format!("Subject: h\r\n\r\n{}", binhex(n, p)))
    }),
    ("name inside an attached .eml", |p, n| {
        let inner = mixed(&attachment(
            &format!("Content-Type: application/octet-stream; name=\"{n}\""),
            p,
        ));
        mixed(&attachment(
            "Content-Type: application/octet-stream; name=\"fwd.eml\"",
            &inner,
        ))
    }),
    ("name in a part with no closing boundary", |p, n| {
        s(format!(
            "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain; name=\"{n}\"\r\n\r\n{}",
            String::from_utf8_lossy(p)
        ))
    }),
];

#[test]
fn every_name_candidate_is_checked() {
    let bad = check(NAME_SOURCES, "run.bat");
    assert!(bad.is_empty(), "{bad:#?}");
    let bad = check(&NAME_SOURCES[..3], "Invoice.PDF.exe");
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn control_and_format_characters_in_names() {
    let e = engine();
    for name in [
        "run.exe\u{0}.txt",
        "run.exe\t",
        "run.\u{200b}exe",
        "\"run.exe\"",
    ] {
        let m = mixed(&attachment(
            &format!("Content-Type: application/octet-stream; name={name}"),
            HARMLESS,
        ));
        assert!(matches!(e.scan(&m), Verdict::Infected { .. }), "{name:?}");
    }
}

fn pe_like() -> Vec<u8> {
    let mut b = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    b.extend_from_slice(&[0u8; 48]);
    b.extend_from_slice(b"This program cannot be run in DOS mode.");
    b
}

#[test]
fn executable_single_part_bodies_are_blocked() {
    let e = engine();
    let mut binary =
        b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: binary\r\n\r\n".to_vec();
    binary.extend_from_slice(&pe_like());
    assert!(
        matches!(e.scan(&binary), Verdict::Infected { .. }),
        "CTE binary"
    );
    let b64 = format!(
        "Subject: x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(&pe_like())
    );
    assert!(
        matches!(e.scan(b64.as_bytes()), Verdict::Infected { .. }),
        "base64"
    );
    // Text that happens to start with "MZ" is not an executable.
    let text = b"Subject: x\r\n\r\nMZ stands for Mark Zbikowski.\r\n";
    assert_eq!(e.scan(text), Verdict::Clean);
}

#[test]
fn message_partial_is_unscannable_unless_configured() {
    let m = b"Subject: part 1\r\nMIME-Version: 1.0\r\nContent-Type: message/partial; id=\"abc@x\"; number=1; total=2\r\n\r\nSubject: inner\r\n\r\nfirst half\r\n";
    assert!(matches!(engine().scan(m), Verdict::Unscannable { .. }));
    let cfg = Cfg {
        partial_unscannable: false,
        ..Cfg::default()
    };
    assert_eq!(BuiltinEngine::new(&cfg).unwrap().scan(m), Verdict::Clean);
    let nested = mixed("Content-Type: message/partial; id=x; number=2\r\n\r\nrest");
    assert!(matches!(
        engine().scan(&nested),
        Verdict::Unscannable { .. }
    ));
}

#[test]
fn hash_signatures_match_the_bytes_before_charset_conversion() {
    use md5::{Digest as _, Md5};
    let payload = "h\u{e9}llo from a hashed file, in UTF-16"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect::<Vec<u8>>();
    let dir = tempfile::tempdir().unwrap();
    let sum = format!("{:x}", Md5::digest(&payload));
    std::fs::write(
        dir.path().join("t.hdb"),
        format!("{sum}:{}:Test.Utf16\n", payload.len()),
    )
    .unwrap();
    let cfg = Cfg {
        signature_dir: Some(dir.path().to_path_buf()),
        ..Cfg::default()
    };
    let e = BuiltinEngine::new(&cfg).unwrap();
    for charset in ["utf-16le", "utf-16", "utf-7"] {
        let m = mixed(&format!(
            "Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            b64(&payload)
        ));
        assert_eq!(
            e.scan(&m),
            Verdict::Infected {
                name: "Test.Utf16".into()
            },
            "{charset}"
        );
    }
    let other = mixed(&format!(
        "Content-Type: text/plain; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        b64(&payload[2..])
    ));
    assert_eq!(e.scan(&other), Verdict::Clean);
}

#[test]
fn an_unnamed_executable_run_is_blocked_but_look_alike_text_is_not() {
    let e = engine();
    let m = format!(
        "Subject: x\r\n\r\nthe tool:\r\n\r\n{}\r\n\r\nbye\r\n",
        b64(&pe_like())
    );
    assert!(matches!(e.scan(m.as_bytes()), Verdict::Infected { .. }));
    let text = "Subject: links\r\nContent-Type: text/plain\r\n\r\nhttps://example.test/a/very/long/path/TVqQAAMAAAAEAAAA\r\nTVqQ is how a base64 executable starts\r\nd41d8cd98f00b204e9800998ecf8427e\r\nMZ marks DOS executables\r\n-----BEGIN PGP SIGNATURE-----\r\niQEzBAEBCAAdFiEEabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ\r\n=AbCd\r\n-----END PGP SIGNATURE-----\r\n";
    assert_eq!(e.scan(text.as_bytes()), Verdict::Clean);
}
