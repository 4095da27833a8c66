use super::*;
use crate::proto::imap::framing::{Event, Framer, Sender};
use crate::proto::imap::testkit::LIMITS;

const ALL: CapabilityPolicy = CapabilityPolicy {
    starttls: true,
    binary: true,
    multiappend: true,
};

fn f(line: &str, policy: CapabilityPolicy) -> Option<String> {
    filter_line(line.as_bytes(), policy).map(|b| String::from_utf8(b).unwrap())
}

#[test]
fn dovecot_post_login_list_keeps_only_what_the_proxy_follows() {
    let line = "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY \
THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT \
CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES \
WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE \
SAVEDATE LITERAL+ NOTIFY COMPRESS=DEFLATE\r\n";
    assert_eq!(
        f(line, CapabilityPolicy::default()).unwrap(),
        "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY \
THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT UNSELECT CHILDREN NAMESPACE UIDPLUS \
LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH \
LIST-STATUS MOVE STATUS=SIZE SAVEDATE LITERAL-\r\n"
    );
    let flagged = f(line, ALL).unwrap();
    assert!(flagged.contains(" MULTIAPPEND ") && flagged.contains(" BINARY "));
    for never in [
        "COMPRESS",
        "CATENATE",
        "URL-PARTIAL",
        "NOTIFY",
        "PREVIEW",
        "SNIPPET",
    ] {
        assert!(!flagged.contains(never), "{never} in {flagged}");
    }
}

#[test]
fn auth_mechanisms_without_a_readable_user_are_dropped() {
    let got = f(
        "* CAPABILITY IMAP4rev1 AUTH=PLAIN auth=login AUTH=CRAM-MD5 AUTH=SCRAM-SHA-256 \
AUTH=SCRAM-SHA-256-PLUS AUTH=GSSAPI AUTH=XOAUTH2 AUTH=OAUTHBEARER STARTTLS LOGINDISABLED\n",
        CapabilityPolicy::default(),
    );
    assert_eq!(
        got.unwrap(),
        "* CAPABILITY IMAP4rev1 AUTH=PLAIN auth=login AUTH=XOAUTH2 AUTH=OAUTHBEARER LOGINDISABLED\n",
        "the OAuth mechanisms name their user in the initial response"
    );
    let got = f("* CAPABILITY IMAP4rev1 STARTTLS\r\n", ALL).unwrap();
    assert_eq!(got, "* CAPABILITY IMAP4rev1 STARTTLS\r\n");
}

#[test]
fn capability_codes_in_greeting_and_tagged_ok() {
    assert_eq!(
        f(
            "* OK [CAPABILITY IMAP4rev1 LITERAL+ COMPRESS=DEFLATE AUTH=PLAIN] Dovecot ready.\r\n",
            CapabilityPolicy::default()
        )
        .unwrap(),
        "* OK [CAPABILITY IMAP4rev1 LITERAL- AUTH=PLAIN] Dovecot ready.\r\n"
    );
    assert_eq!(
        f(
            "a2 ok [capability IMAP4rev2 X-UNKNOWN IDLE] Logged in\r\n",
            CapabilityPolicy::default()
        )
        .unwrap(),
        "a2 ok [capability IMAP4rev2 IDLE] Logged in\r\n"
    );
    assert_eq!(
        f(
            "* PREAUTH [CAPABILITY IMAP4rev1 NOTIFY]\r\n",
            CapabilityPolicy::default()
        )
        .unwrap(),
        "* PREAUTH [CAPABILITY IMAP4rev1]\r\n"
    );
}

#[test]
fn a_line_with_8_bit_text_is_filtered_and_its_text_kept_byte_for_byte() {
    let line =
        b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=SCRAM-SHA-256-PLUS STARTTLS] h\xe9llo\r\n";
    let got = filter_line(line, CapabilityPolicy::default()).expect("filtered");
    assert_eq!(
        got,
        b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] h\xe9llo\r\n".to_vec()
    );
    let line = b"* CAPABILITY IMAP4rev1 X-\xff AUTH=SCRAM-SHA-1-PLUS IDLE\r\n";
    let got = filter_line(line, CapabilityPolicy::default()).expect("filtered");
    assert_eq!(got, b"* CAPABILITY IMAP4rev1 IDLE\r\n".to_vec());
}

#[test]
fn lines_without_capabilities_pass_unchanged() {
    for l in [
        "* OK [UIDVALIDITY 3] UIDs valid\r\n",
        "a1 OK CAPABILITY completed\r\n",
        "* 1 FETCH (BODY[] {3}\r\n",
        "* SEARCH 1 2\r\n",
        "+ OK\r\n",
        "* CAPABILITYX IMAP4rev1\r\n",
    ] {
        assert_eq!(f(l, ALL), None, "{l}");
    }
}

#[test]
fn literal_plus_and_minus_become_one_literal_minus() {
    assert_eq!(
        filter(
            ["LITERAL+", "literal-", "IDLE"],
            CapabilityPolicy::default()
        ),
        vec!["LITERAL-", "IDLE"]
    );
}

/// The real dovecot session, framed at every split: every capability list that reaches the
/// client is filtered, the rest is byte for byte.
#[test]
fn dovecot_transcript_filtered_at_every_split() {
    let input = include_bytes!("../../../tests/fixtures/imap/dovecot-session.server");
    let run = |parts: &[&[u8]]| {
        let mut fr = Framer::new(Sender::Server, LIMITS);
        let mut out = Vec::new();
        for p in parts {
            fr.push(p);
            while let Some(ev) = fr.next_event().unwrap() {
                match ev {
                    Event::Line {
                        bytes,
                        first: true,
                        whole: true,
                        ..
                    } => match filter_line(bytes, CapabilityPolicy::default()) {
                        Some(l) => out.extend_from_slice(&l),
                        None => out.extend_from_slice(bytes),
                    },
                    Event::Line { bytes, .. }
                    | Event::LinePart { bytes, .. }
                    | Event::Literal { bytes }
                    | Event::LiteralChunk { bytes, .. } => out.extend_from_slice(bytes),
                    Event::Refused { .. } => panic!(),
                }
            }
        }
        out
    };
    let whole = run(&[input]);
    let text = String::from_utf8_lossy(&whole);
    assert!(!text.contains("COMPRESS") && !text.contains("CATENATE") && !text.contains("LITERAL+"));
    assert_eq!(text.matches("CAPABILITY IMAP4rev1").count(), 3);
    let tail = |b: &[u8]| {
        let at = b.windows(15).position(|w| w == b"a2 OK Logged in").unwrap();
        b[at..].to_vec()
    };
    assert_eq!(tail(&whole), tail(input), "the rest is byte for byte");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&bytes), whole);
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(run(&[a, b]), whole, "split at {i}");
    }
}
