use super::*;
use crate::proto::imap::framing::{Event, Framer, Sender};
use crate::proto::imap::items::{ItemKind, Partial, Section, SectionText};
use crate::proto::imap::response::{Response, classify};
use crate::proto::imap::testkit::LIMITS;

const DOVECOT: &[u8] = include_bytes!("../../../tests/fixtures/imap/dovecot-session.server");

/// What the tracker said about one content literal, with the bytes it covered.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    seq: u32,
    role: Role,
    size: u64,
    binary: bool,
    body: Vec<u8>,
}

#[derive(Debug, Default, PartialEq)]
struct Outcome {
    literals: Vec<Seen>,
    inline: Vec<(Role, Vec<u8>)>,
    summaries: Vec<FetchSummary>,
}

fn follow(parts: &[&[u8]]) -> Outcome {
    let mut fr = Framer::new(Sender::Server, LIMITS);
    let mut out = Outcome::default();
    let mut tracker: Option<FetchTracker> = None;
    let mut pending: Option<LiteralValue> = None;
    let mut body = Vec::new();
    for p in parts {
        fr.push(p);
        while let Some(ev) = fr.next_event().unwrap() {
            match ev {
                Event::Line {
                    bytes,
                    first,
                    announce,
                    ..
                } => {
                    if first {
                        tracker = match classify(bytes) {
                            Response::Fetch(n) => Some(FetchTracker::new(n)),
                            _ => None,
                        };
                    }
                    if let Some(t) = tracker.as_mut() {
                        let r = t.line(bytes, first);
                        for v in r.inline {
                            out.inline.push((v.role, bytes[v.range].to_vec()));
                        }
                        assert_eq!(r.literal.is_some(), announce.is_some());
                        pending = r.literal;
                        if announce.is_none() {
                            out.summaries.push(t.summary());
                        }
                    }
                }
                Event::Literal { bytes } | Event::LiteralChunk { bytes, .. } => {
                    body.extend_from_slice(bytes);
                    if matches!(ev, Event::LiteralChunk { last: false, .. }) {
                        continue;
                    }
                    let v = pending.take().expect("a literal after an announce");
                    let seq = tracker.as_ref().unwrap().summary().seq;
                    out.literals.push(Seen {
                        seq,
                        role: v.role,
                        size: v.size,
                        binary: v.binary,
                        body: std::mem::take(&mut body),
                    });
                }
                Event::LinePart { .. } | Event::Refused { .. } => panic!("{ev:?}"),
            }
        }
    }
    out
}

fn content(kind: ItemKind, parts: &[u32], text: Option<SectionText>, origin: Option<u64>) -> Role {
    Role::Content(Item {
        kind,
        section: Some(Section {
            parts: parts.to_vec(),
            text,
        }),
        partial: origin.map(|origin| Partial {
            origin,
            count: None,
        }),
    })
}

#[test]
fn dovecot_fetches_every_body_form_at_every_split() {
    let whole = follow(&[DOVECOT]);
    let bytes: Vec<&[u8]> = DOVECOT.chunks(1).collect();
    assert_eq!(follow(&bytes), whole, "byte by byte");
    for i in 0..=DOVECOT.len() {
        let (a, b) = DOVECOT.split_at(i);
        assert_eq!(follow(&[a, b]), whole, "split at {i}");
    }
    let got: Vec<(u32, Role, u64, bool)> = whole
        .literals
        .iter()
        .map(|s| (s.seq, s.role.clone(), s.size, s.binary))
        .collect();
    let body = |parts: &[u32], text| content(ItemKind::Body, parts, text, None);
    let rfc822 = Role::Content(Item {
        kind: ItemKind::Rfc822,
        section: None,
        partial: None,
    });
    assert_eq!(
        got,
        vec![
            (1, body(&[], None), 116, false),
            (2, body(&[], None), 298, false),
            (3, body(&[], None), 51, false),
            (2, body(&[1], None), 10, false),
            (2, body(&[2], Some(SectionText::Mime)), 91, false),
            (2, body(&[], Some(SectionText::Header)), 127, false),
            (
                2,
                content(ItemKind::Body, &[], Some(SectionText::Text), Some(0)),
                20,
                false
            ),
            (3, content(ItemKind::Binary, &[], None, None), 51, true),
            (3, body(&[], None), 51, false),
            (1, rfc822, 116, false),
        ]
    );
    assert!(
        whole.literals[7].body.contains(&0),
        "BINARY[] keeps its NUL"
    );
    assert!(whole.inline.is_empty());
    let uids: Vec<_> = whole
        .summaries
        .iter()
        .map(|s| (s.seq, s.uid, s.rfc822_size))
        .collect();
    assert_eq!(
        &uids[..3],
        &[
            (1, Some(1), Some(116)),
            (2, Some(2), Some(298)),
            (3, Some(3), Some(51))
        ]
    );
    assert!(whole.summaries.iter().all(|s| s.complete));
    assert!(
        uids.contains(&(4, Some(4), None)),
        "the STORE answer: {uids:?}"
    );
}

#[test]
fn strings_inside_structures_are_not_content_but_unknown_items_are() {
    let input: &[u8] = b"* 1 FETCH (ENVELOPE (NIL {5}\r\nhello NIL NIL NIL NIL NIL NIL NIL NIL) X-NEW {3}\r\nabc BODY[1] \"inline\" PREVIEW \"snip\" BODY[2] NIL UID 9)\r\n";
    for i in 0..=input.len() {
        let got = follow(&[&input[..i], &input[i..]]);
        assert_eq!(got.literals[0].role, Role::NotContent);
        assert_eq!(got.literals[1].role, Role::Unknown("X-NEW".into()));
        let inline: Vec<_> = got
            .inline
            .iter()
            .map(|(r, b)| (matches!(r, Role::Content(_)), b.clone()))
            .collect();
        assert_eq!(
            inline,
            vec![
                (true, b"\"inline\"".to_vec()),
                (false, b"\"snip\"".to_vec()),
                (true, b"NIL".to_vec())
            ]
        );
        assert_eq!(got.summaries[0].uid, Some(9));
    }
}

#[test]
fn an_unread_line_makes_every_later_value_unknown() {
    let mut t = FetchTracker::new(1);
    t.unread_line();
    let r = t.line(b" UID 3 BODY[] {5}\r\n", false);
    assert!(matches!(r.literal.unwrap().role, Role::Unknown(_)));
}

#[test]
fn replacing_a_body_rewrites_only_the_announce() {
    let line = b"* 1 FETCH (UID 1 RFC822.SIZE 116 FLAGS (\\Recent) BODY[] {116}\r\n";
    let mut t = FetchTracker::new(1);
    let v = t.line(line, true).literal.unwrap();
    assert_eq!(
        &line[..v.announce_at],
        b"* 1 FETCH (UID 1 RFC822.SIZE 116 FLAGS (\\Recent) BODY[] "
    );
    let out = replace_body(line, &v, b"notice\r\n", b")\r\n");
    assert_eq!(
        out,
        b"* 1 FETCH (UID 1 RFC822.SIZE 116 FLAGS (\\Recent) BODY[] {8}\r\nnotice\r\n)\r\n"
    );
    let bin = b"* 3 FETCH (BINARY[] ~{51}\n";
    let v = FetchTracker::new(3).line(bin, true).literal.unwrap();
    assert_eq!(
        rewrite_announce(bin, v.announce_at, 7, v.binary),
        b"* 3 FETCH (BINARY[] ~{7}\n"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a FETCH line holds, inline values lie inside it, a literal announce is
        /// reported where the line's text ends, and nothing panics.
        #[test]
        fn any_fetch_line_is_followed(lines in proptest::collection::vec(any::<Vec<u8>>(), 1..5)) {
            let mut t = FetchTracker::new(1);
            for (i, mut line) in lines.into_iter().enumerate() {
                line.extend_from_slice(b" BODY[] {3}\r\n");
                let r = t.line(&line, i == 0);
                for v in &r.inline {
                    prop_assert!(v.range.end <= line.len());
                }
                let lit = r.literal.expect("the announce");
                prop_assert_eq!(&line[lit.announce_at..], b"{3}\r\n");
            }
        }
    }
}

#[test]
fn strings_nested_in_an_unknown_item_are_unknown_at_every_split() {
    let input: &[u8] = b"* 1 FETCH (UID 4 SNIPPET (FUZZY \"body text\") X-EXT ((\"a\" {3}\r\nabc)) BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7bit\" 3 1) FLAGS (\\Seen))\r\n";
    for i in 0..=input.len() {
        let got = follow(&[&input[..i], &input[i..]]);
        let inline: Vec<_> = got
            .inline
            .iter()
            .map(|(r, b)| (r.clone(), String::from_utf8_lossy(b).to_string()))
            .collect();
        assert_eq!(
            inline,
            vec![
                (Role::Unknown("SNIPPET".into()), "\"body text\"".into()),
                (Role::Unknown("X-EXT".into()), "\"a\"".into()),
            ],
            "split at {i}"
        );
        assert_eq!(got.literals[0].role, Role::Unknown("X-EXT".into()));
        assert_eq!(got.summaries[0].uid, Some(4));
        assert!(got.summaries[0].complete);
    }
}
