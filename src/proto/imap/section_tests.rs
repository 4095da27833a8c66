use super::*;
use crate::proto::imap::command::{Kind, classify as classify_command};
use crate::proto::imap::framing::Sender;
use crate::proto::imap::items::parse_item;
use crate::proto::imap::lex::Tok;
use crate::proto::imap::testkit::every_split;

const SERVER: &[u8] = include_bytes!("../../../tests/fixtures/imap/dovecot-sections.server");
const CLIENT: &[u8] = include_bytes!("../../../tests/fixtures/imap/dovecot-sections.client");

/// The literals of every FETCH response in the transcript, in order (tokens carry them).
fn literals(msgs: &[Vec<Tok>]) -> Vec<Vec<Vec<u8>>> {
    msgs.iter()
        .map(|m| {
            m.iter()
                .filter_map(|t| match t {
                    Tok::Literal { data: Some(d), .. } => Some(d.clone()),
                    _ => None,
                })
                .collect()
        })
        .filter(|l: &Vec<Vec<u8>>| !l.is_empty())
        .collect()
}

/// Every section dovecot served, served again by the proxy from the whole message: the
/// same bytes. The transcripts are framed at every split.
#[test]
fn sections_and_ranges_match_dovecot() {
    let server = every_split(Sender::Server, SERVER);
    let client = every_split(Sender::Client, CLIENT);
    let bodies = literals(&server);
    let whole = &bodies[0][0];
    assert_eq!(whole.len(), 578);
    let Kind::Fetch { items, .. } = classify_command(&client[1]).unwrap().kind else {
        panic!()
    };
    let asked: Vec<_> = items.iter().filter(|i| i.carries_content()).collect();
    assert_eq!(asked.len(), 21);
    assert_eq!(bodies[1].len(), 21);
    for (item, want) in asked.iter().zip(&bodies[1]) {
        let got = serve(whole, item, 100).unwrap_or_else(|e| panic!("{item:?}: {e:?}"));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "{item:?}"
        );
    }
}

#[test]
fn partial_ranges_are_clipped() {
    let p = |origin, count| Some(Partial { origin, count });
    assert_eq!(partial(b"0123456789", p(2, Some(3))), b"234");
    assert_eq!(partial(b"0123456789", p(8, Some(30))), b"89");
    assert_eq!(partial(b"0123456789", p(20, Some(3))), b"");
    assert_eq!(partial(b"0123456789", p(3, None)), b"3456789");
    assert_eq!(partial(b"0123456789", p(u64::MAX, Some(u64::MAX))), b"");
    assert_eq!(partial(b"01", None), b"01");
}

#[test]
fn missing_parts_and_non_content_items_are_errors() {
    let msg = b"Subject: x\r\n\r\nbody\r\n";
    assert_eq!(
        serve(msg, &parse_item(b"BODY[1]"), 10).unwrap().as_ref(),
        b"body\r\n"
    );
    assert_eq!(
        serve(msg, &parse_item(b"BODY[2]"), 10),
        Err(SectionError::NoSuchPart)
    );
    assert_eq!(
        serve(msg, &parse_item(b"BODY[1.HEADER]"), 10),
        Err(SectionError::NoSuchPart)
    );
    assert_eq!(
        serve(msg, &parse_item(b"UID"), 10),
        Err(SectionError::NotContent)
    );
    let many = b"Content-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\n\r\na\r\n--Z\r\n\r\nb\r\n--Z--\r\n";
    assert_eq!(
        serve(many, &parse_item(b"BODY[2]"), 10).unwrap().as_ref(),
        b"b"
    );
    assert_eq!(
        serve(many, &parse_item(b"BODY[2]"), 2),
        Err(SectionError::Unreadable),
        "part limit"
    );
}
