use super::*;
use crate::config::Builtin as Cfg;
use std::io::Write;

fn engine() -> BuiltinEngine {
    BuiltinEngine::new(&Cfg::default()).unwrap()
}

/// Base64 on one line.
fn b64(data: &[u8]) -> String {
    crate::message::decode::base64::encode(data, usize::MAX)
}

fn with_attachment(name: &str, data: &[u8]) -> Vec<u8> {
    format!(
        "From: a@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        b64(data)
    )
    .into_bytes()
}

pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn clean_mail_is_clean() {
    let v = engine().scan(&with_attachment("report.pdf", b"%PDF-1.4 harmless"));
    assert_eq!(v, Verdict::Clean);
}

#[test]
fn eicar_plain_base64_and_zipped() {
    let e = engine();
    let mut plain = b"Subject: t\r\n\r\n".to_vec();
    plain.extend_from_slice(signatures::EICAR);
    assert!(matches!(e.scan(&plain), Verdict::Infected { .. }));
    assert!(matches!(
        e.scan(&with_attachment("eicar.txt", signatures::EICAR)),
        Verdict::Infected { .. }
    ));
    let z = zip_of(&[("readme.txt", b"hi"), ("eicar.txt", signatures::EICAR)]);
    assert_eq!(
        e.scan(&with_attachment("files.zip", &z)),
        Verdict::Infected {
            name: "Eicar-Test-Signature".into()
        }
    );
}

#[test]
fn eicar_in_nested_zip_within_depth() {
    let inner = zip_of(&[("eicar.txt", signatures::EICAR)]);
    let outer = zip_of(&[("inner.zip", &inner)]);
    assert!(matches!(
        engine().scan(&with_attachment("outer.zip", &outer)),
        Verdict::Infected { .. }
    ));
}

#[test]
fn archive_depth_limit_makes_it_unscannable() {
    let mut z = zip_of(&[("a.txt", b"clean")]);
    for _ in 0..5 {
        z = zip_of(&[("next.zip", &z)]);
    }
    assert!(matches!(
        engine().scan(&with_attachment("deep.zip", &z)),
        Verdict::Unscannable { .. }
    ));
}

#[test]
fn gtube_is_spam() {
    let mut m = b"Subject: t\r\n\r\n".to_vec();
    m.extend_from_slice(signatures::GTUBE);
    assert!(matches!(engine().scan(&m), Verdict::Spam { .. }));
}

#[test]
fn blocked_extensions_including_double_and_in_zip() {
    let e = engine();
    assert_eq!(
        e.scan(&with_attachment("invoice.pdf.exe", b"data")),
        Verdict::Infected {
            name: "Portcullis.Blocked.DoubleExtension.exe".into()
        }
    );
    let z = zip_of(&[("setup.scr", b"data")]);
    assert!(matches!(
        e.scan(&with_attachment("a.zip", &z)),
        Verdict::Infected { .. }
    ));
    let z = zip_of(&[("notes.txt", b"MZ\x90\x00 pretend executable")]);
    assert_eq!(
        e.scan(&with_attachment("a.zip", &z)),
        Verdict::Infected {
            name: "Portcullis.Blocked.ExecutableInArchive".into()
        }
    );
}

#[test]
fn name_patterns_from_config() {
    let cfg = Cfg {
        blocked_name_patterns: vec!["(?i)^payroll.*\\.docm$".into()],
        ..Cfg::default()
    };
    let e = BuiltinEngine::new(&cfg).unwrap();
    assert!(matches!(
        e.scan(&with_attachment("Payroll-2026.docm", b"x")),
        Verdict::Infected { .. }
    ));
}

#[test]
fn too_many_parts_is_unscannable() {
    let cfg = Cfg {
        max_parts: 3,
        ..Cfg::default()
    };
    let e = BuiltinEngine::new(&cfg).unwrap();
    let mut m = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n".to_vec();
    for _ in 0..5 {
        m.extend_from_slice(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n");
    }
    m.extend_from_slice(b"--B--\r\n");
    assert!(matches!(e.scan(&m), Verdict::Unscannable { .. }));
}

#[test]
fn ambiguous_boundaries_hide_nothing() {
    // Two boundary parameters: a client may pick either; the payload is behind the second.
    let m = format!(
        "Content-Type: multipart/mixed; boundary=\"aa\"; boundary=\"bb\"\r\n\r\n--aa\r\nContent-Type: text/plain\r\n\r\nhello\r\n--aa--\r\n--bb\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--bb--\r\n",
        b64(signatures::EICAR)
    );
    assert!(matches!(
        engine().scan(m.as_bytes()),
        Verdict::Infected { .. }
    ));
}

#[test]
fn eicar_in_quoted_printable_uuencode_and_nested_messages() {
    let e = engine();
    // Quoted-printable hides the '=' free EICAR string behind soft line breaks.
    let eicar = std::str::from_utf8(signatures::EICAR).unwrap();
    let (a, b) = eicar.split_at(30);
    let qp = format!(
        "Subject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{a}=\r\n{b}\r\n"
    );
    assert!(!qp.contains(eicar));
    assert!(
        matches!(e.scan(qp.as_bytes()), Verdict::Infected { .. }),
        "quoted-printable"
    );

    // uuencoded inside a text body.
    let mut uu = String::from("Subject: uu\r\n\r\nhere it is\r\nbegin 644 eicar.com\r\n");
    for chunk in signatures::EICAR.chunks(45) {
        uu.push((b' ' + chunk.len() as u8) as char);
        for g in chunk.chunks(3) {
            let n = (g[0] as u32) << 16
                | (*g.get(1).unwrap_or(&0) as u32) << 8
                | *g.get(2).unwrap_or(&0) as u32;
            for k in 0..4 {
                let v = ((n >> (18 - 6 * k)) & 63) as u8;
                uu.push(if v == 0 { '`' } else { (b' ' + v) as char });
            }
        }
        uu.push_str("\r\n");
    }
    uu.push_str("`\r\nend\r\n");
    assert!(!uu.contains(eicar));
    assert!(
        matches!(e.scan(uu.as_bytes()), Verdict::Infected { .. }),
        "uuencode"
    );

    // message/rfc822 nested deeper than mail-parser decodes on its own.
    let mut m = String::from_utf8(with_attachment("x.bin", signatures::EICAR)).unwrap();
    assert!(!m.contains(eicar));
    for i in 0..6 {
        m = format!(
            "Subject: level {i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"n{i}\"\r\n\r\n--n{i}\r\nContent-Type: message/rfc822\r\n\r\n{m}\r\n--n{i}--\r\n"
        );
    }
    assert!(
        matches!(e.scan(m.as_bytes()), Verdict::Infected { .. }),
        "nested rfc822"
    );
}

#[test]
fn nesting_beyond_the_limit_is_unscannable() {
    let cfg = Cfg {
        max_depth: 2,
        ..Cfg::default()
    };
    let e = BuiltinEngine::new(&cfg).unwrap();
    let mut m = String::from("Subject: inner\r\n\r\nharmless\r\n");
    for i in 0..5 {
        m = format!(
            "Subject: level {i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"n{i}\"\r\n\r\n--n{i}\r\nContent-Type: message/rfc822\r\n\r\n{m}\r\n--n{i}--\r\n"
        );
    }
    assert!(matches!(e.scan(m.as_bytes()), Verdict::Unscannable { .. }));
}

#[test]
fn encrypted_zip_is_unscannable() {
    // A zip whose single entry has the "encrypted" flag (general purpose bit 0) set.
    let mut z = zip_of(&[("secret.txt", b"data")]);
    for sig in [&b"PK\x03\x04"[..], b"PK\x01\x02"] {
        let pos = z.windows(4).position(|w| w == sig).unwrap();
        let flag_at = pos + if sig == b"PK\x03\x04" { 6 } else { 8 };
        z[flag_at] |= 1;
    }
    assert!(matches!(
        engine().scan(&with_attachment("secret.zip", &z)),
        Verdict::Unscannable { .. }
    ));
}

/// A large message has its raw patterns matched on a second thread beside the readings:
/// the verdicts are those of one thread (a virus found raw or by a reading, spam, clean).
#[test]
fn large_messages_judged_with_the_raw_patterns_beside_the_readings() {
    use inspect::PARALLEL_RAW_BYTES;
    let e = engine();
    let mut text = b"From: a@example.test\r\nSubject: big\r\n\r\n".to_vec();
    while text.len() < PARALLEL_RAW_BYTES + 1000 {
        text.extend_from_slice(b"the quick brown fox jumps over the lazy dog 0123456789\r\n");
    }
    assert_eq!(e.scan(&text), Verdict::Clean);
    let mut raw = text.clone();
    raw.extend_from_slice(signatures::EICAR);
    assert!(matches!(e.scan(&raw), Verdict::Infected { .. }));
    let mut spam = text.clone();
    spam.extend_from_slice(signatures::GTUBE);
    assert!(matches!(e.scan(&spam), Verdict::Spam { .. }));
    // Only a reading finds this one: EICAR in a base64 run.
    let mut run = text.clone();
    run.extend_from_slice(b64(signatures::EICAR).as_bytes());
    run.extend_from_slice(b"\r\n");
    assert!(matches!(e.scan(&run), Verdict::Infected { .. }));
    // Spam raw and a virus in a reading: the virus decides.
    spam.extend_from_slice(b"\r\n");
    spam.extend_from_slice(b64(signatures::EICAR).as_bytes());
    spam.extend_from_slice(b"\r\n");
    assert!(matches!(e.scan(&spam), Verdict::Infected { .. }));
}
