//! Hostile messages a client decodes but a naive scanner would not, each next to a
//! harmless message of the same shape: the first must be caught, the second stay clean.
use super::corpus::*;
use super::*;
use crate::config::Builtin as Cfg;

/// Runs every shape with EICAR (must be infected) and with a harmless payload (must be
/// clean); returns the shapes that failed either way.
fn check_carriers(shapes: &[(&str, Shape)]) -> Vec<String> {
    misjudged(shapes, eicar(), "report.pdf", "EICAR carrier")
}

fn s(v: impl Into<Vec<u8>>) -> Vec<u8> {
    v.into()
}

const BROKEN_STRUCTURE: &[(&str, Shape)] = &[
    ("no closing boundary", |p, n| {
        let mut m = mixed(&attachment(
            &format!("Content-Type: application/octet-stream; name=\"{n}\""),
            p,
        ));
        m.truncate(m.len() - "\r\n--=_b1--\r\n".len());
        m
    }),
    ("no closing boundary, no final line end", |p, _| {
        s(format!(
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            b64(p)
        ))
    }),
    ("base64 with junk characters", |p, n| {
        mixed(&format!(
            "Content-Type: application/octet-stream; name=\"{n}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            b64_junk(p)
        ))
    }),
    ("base64; with a trailing semicolon", |p, _| {
        mixed(&format!(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64;\r\n\r\n{}",
            b64(p)
        ))
    }),
    ("base64 with parameters and a comment", |p, _| {
        mixed(&format!(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: BASE64 (encoded); x=y\r\n\r\n{}",
            b64(p)
        ))
    }),
    ("quoted base64 and a folded encoding header", |p, _| {
        mixed(&format!(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding:\r\n \"base64\"\r\n\r\n{}",
            b64(p)
        ))
    }),
    ("comments around header names and values", |p, n| {
        s(format!(
            "From: a@example.test\r\nMIME-Version: 1.0\r\nContent-Type (x) : multipart/mixed (y); boundary=(z)\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type (a) : application/octet-stream; name=\"{n}\"\r\nContent-Transfer-Encoding (c) : base64\r\n\r\n{}\r\n--b--\r\n",
            b64(p)
        ))
    }),
    ("spaces around the boundary parameter", |p, _| {
        s(format!(
            "Content-Type: multipart/mixed;\r\n\tboundary = \"sp ace\"\r\n\r\n--sp ace\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--sp ace--\r\n",
            b64(p)
        ))
    }),
    ("bare LF line ends", |p, _| {
        s(format!(
            "Content-Type: multipart/mixed; boundary=lf\n\n--lf\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n{}\n--lf--\n",
            b64(p).replace("\r\n", "\n")
        ))
    }),
    ("two transfer encodings", |p, _| {
        mixed(&format!(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            b64(p)
        ))
    }),
    ("an encoding no client knows", |p, _| {
        mixed(&format!(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-gzip64\r\n\r\n{}",
            b64(p)
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
    ("no blank line after the part header", |p, _| {
        mixed(&format!(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n{}",
            b64(p)
        ))
    }),
    ("boundary in RFC 2231 extended form", |p, _| {
        s(format!(
            "Content-Type: multipart/mixed; boundary*=us-ascii''xyz\r\n\r\n--xyz\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--xyz--\r\n",
            b64(p)
        ))
    }),
    ("boundary declared in RFC 2231 form", |p, _| {
        s(format!(
            "Content-Type: multipart/mixed; boundary*0=\"ab\"\r\n\r\n--ab\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--ab--\r\n",
            b64(p)
        ))
    }),
];

const ENCODINGS: &[(&str, Shape)] = &[
    ("single-part base64 text", |p, _| {
        s(format!(
            "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(p)
        ))
    }),
    ("utf-16 text part in base64", |p, _| {
        mixed(&format!(
            "Content-Type: text/plain; charset=utf-16\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            b64(p)
        ))
    }),
    ("utf-7 text part in base64", |p, _| {
        mixed(&format!(
            "Content-Type: text/plain; charset=\"UTF-7\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            b64(p)
        ))
    }),
    (
        "quoted-printable, lowercase hex, padded soft breaks",
        |p, _| {
            mixed(&format!(
                "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}",
                qp_all(p)
            ))
        },
    ),
    ("quoted-printable declared with a comment", |p, _| {
        mixed(&format!(
            "Content-Type: text/html\r\nContent-Transfer-Encoding: (x) Quoted-Printable\r\n\r\n{}",
            qp_all(p)
        ))
    }),
    ("uuencode in a text body", |p, _| {
        s(format!(
            "Subject: uu\r\n\r\nhere:\r\n{}",
            uuencode("a.txt", p)
        ))
    }),
    ("uuencode inside a base64 attachment", |p, _| {
        mixed(&attachment(
            "Content-Type: application/octet-stream",
            uuencode("a.txt", p).as_bytes(),
        ))
    }),
    ("begin-base64 in a text body", |p, _| {
        s(format!("Subject: b\r\n\r\n{}", begin_base64("a.txt", p)))
    }),
    ("yEnc in a text body", |p, _| {
        let mut m = b"Subject: y\r\n\r\nfile follows\r\n".to_vec();
        m.extend_from_slice(&yenc("a.txt", p));
        m
    }),
    ("yEnc in an 8bit part", |p, _| {
        let mut m = mixed(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: 8bit\r\n\r\n@@",
        );
        let at = m.windows(2).position(|w| w == b"@@").unwrap();
        m.splice(at..at + 2, yenc("a.txt", p));
        m
    }),
    ("BinHex in a text body", |p, _| {
        s(format!("Subject: h\r\n\r\n{}", binhex("a.txt", p)))
    }),
    ("BinHex as application/mac-binhex40", |p, _| {
        mixed(&format!(
            "Content-Type: application/mac-binhex40\r\n\r\n{}",
            binhex("a.txt", p)
        ))
    }),
    ("base64 run in a plain text body", |p, _| {
        s(format!(
            "Subject: t\r\n\r\nDecode this:\r\n\r\n{}\r\n\r\nthanks\r\n",
            b64(p)
        ))
    }),
    ("base64 inside base64", |p, _| {
        mixed(&attachment("Content-Type: text/plain", b64(p).as_bytes()))
    }),
    ("data URI in HTML", |p, _| {
        mixed(&format!(
            "Content-Type: text/html\r\n\r\n<a href=\"data:application/octet-stream;base64,{}\">x</a>",
            b64(p).replace("\r\n", "")
        ))
    }),
    ("encoded word in the subject", |p, _| {
        s(format!(
            "Subject: =?utf-8?B?{}?=\r\n\r\nhello\r\n",
            b64(p).replace("\r\n", "")
        ))
    }),
    ("encoded words split across a folded header", |p, _| {
        let (a, b) = p.split_at(30);
        let q = |x: &[u8]| x.iter().map(|c| format!("={c:02X}")).collect::<String>();
        s(format!(
            "Subject: =?us-ascii?Q?{}?=\r\n =?us-ascii?Q?{}?=\r\n\r\nhello\r\n",
            q(a),
            q(b)
        ))
    }),
    ("base64 four levels deep", |p, _| {
        let mut data = p.to_vec();
        for _ in 0..3 {
            data = b64(&data).into_bytes();
        }
        mixed(&attachment("Content-Type: text/plain", &data))
    }),
    ("padding in the middle (concatenated base64)", |p, _| {
        let (a, b) = p.split_at(p.len().min(10));
        mixed(&format!(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n{}",
            b64(a),
            b64(b)
        ))
    }),
];

const CONTAINERS: &[(&str, Shape)] = &[
    (".eml attached as application/octet-stream", |p, n| {
        let inner = mixed(&attachment(
            &format!("Content-Type: application/octet-stream; name=\"{n}\""),
            p,
        ));
        mixed(&attachment(
            "Content-Type: application/octet-stream; name=\"fwd.eml\"",
            &inner,
        ))
    }),
    (".eml with an mbox From line", |p, n| {
        let mut inner = b"From someone@example.test Mon Nov 30 23:13:21 2026\r\n".to_vec();
        inner.extend_from_slice(&mixed(&attachment(
            &format!("Content-Type: application/octet-stream; name=\"{n}\""),
            p,
        )));
        mixed(&attachment(
            "Content-Type: application/octet-stream; name=\"saved.eml\"",
            &inner,
        ))
    }),
    (".eml attached as octet-stream, 7bit", |p, n| {
        let inner = mixed(&attachment(
            &format!("Content-Type: application/octet-stream; name=\"{n}\""),
            p,
        ));
        let inner = String::from_utf8(inner).unwrap().replace("=_b1", "=_inner");
        mixed(&format!(
            "Content-Type: application/octet-stream; name=\"fwd.eml\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{inner}"
        ))
    }),
    ("message/rfc822 in base64", |p, n| {
        let inner = mixed(&attachment(
            &format!("Content-Type: application/octet-stream; name=\"{n}\""),
            p,
        ));
        mixed(&attachment("Content-Type: message/rfc822", &inner))
    }),
    (
        "message/rfc822 inline without a closing boundary",
        |p, _| {
            let inner = mixed(&attachment("Content-Type: application/octet-stream", p));
            let mut m = b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n".to_vec();
            m.extend_from_slice(&inner[..inner.len() - 12]);
            m
        },
    ),
    (".eml in quoted-printable in base64", |p, _| {
        let inner = format!(
            "Subject: in\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}",
            qp_all(p)
        );
        mixed(&attachment(
            "Content-Type: application/octet-stream",
            inner.as_bytes(),
        ))
    }),
    ("GTUBE whose last X starts EICAR", |p, _| {
        let mut m = b"Subject: spam\r\n\r\n".to_vec();
        m.extend_from_slice(signatures::GTUBE);
        m.extend_from_slice(&p[1..]);
        m
    }),
];

#[test]
fn the_decoding_budget_ends_in_unscannable_not_clean() {
    let cfg = Cfg {
        max_decoded_bytes: 1000,
        ..Cfg::default()
    };
    let e = BuiltinEngine::new(&cfg).unwrap();
    let mut data = vec![b'a'; 5000];
    data.extend_from_slice(eicar());
    for m in [
        mixed(&attachment("Content-Type: application/octet-stream", &data)),
        s(format!("Subject: t\r\n\r\n{}", uuencode("a", &data))),
    ] {
        let v = e.scan(&m);
        assert!(
            matches!(v, Verdict::Unscannable { .. } | Verdict::Infected { .. }),
            "{v}"
        );
    }
}

#[test]
fn broken_structures_hide_nothing() {
    let bad = check_carriers(BROKEN_STRUCTURE);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn every_encoding_is_decoded() {
    let bad = check_carriers(ENCODINGS);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn nested_messages_and_overlaps_are_opened() {
    // The GTUBE shape's harmless twin is spam, not clean; check its carrier alone.
    let (gtube, rest) = CONTAINERS.split_last().unwrap();
    let bad = check_carriers(rest);
    assert!(bad.is_empty(), "{bad:#?}");
    let v = engine().scan(&(gtube.1)(eicar(), ""));
    assert!(matches!(v, Verdict::Infected { .. }), "{v}");
    assert!(matches!(
        engine().scan(&(gtube.1)(b"X harmless", "")),
        Verdict::Spam { .. }
    ));
}
