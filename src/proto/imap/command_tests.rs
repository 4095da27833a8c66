use super::*;
use crate::proto::imap::framing::Sender;
use crate::proto::imap::items::{ItemKind, Partial, Section};
use crate::proto::imap::testkit::every_split;

fn kinds(input: &[u8]) -> Vec<Command> {
    every_split(Sender::Client, input)
        .iter()
        .map(|m| classify(m).expect("a command"))
        .collect()
}

#[test]
fn login_forms_give_the_user() {
    let got = kinds(b"a LOGIN alice secret\r\nb login \"bob smith\" \"x\\\"y\"\r\nc LOGIN {5}\r\ncarol {3}\r\npw!\r\n");
    let users: Vec<_> = got
        .iter()
        .map(|c| match &c.kind {
            Kind::Login { user } => user.clone(),
            k => panic!("{k:?}"),
        })
        .collect();
    assert_eq!(
        users,
        vec![
            Some("alice".into()),
            Some("bob smith".into()),
            Some("carol".into())
        ]
    );
    assert_eq!(got[2].tag, "c");
}

#[test]
fn authenticate_mechanisms_and_initial_responses() {
    let got = kinds(b"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\nb AUTHENTICATE cram-md5\r\nc AUTHENTICATE SCRAM-SHA-256-PLUS biws\r\n");
    assert_eq!(
        got[0].kind,
        Kind::Authenticate {
            mechanism: "PLAIN".into(),
            user_readable: true,
            user: Some("alice".into()),
            initial_response: true
        }
    );
    assert!(
        matches!(&got[1].kind, Kind::Authenticate { mechanism, user_readable: false, user: None, initial_response: false } if mechanism == "CRAM-MD5")
    );
    assert!(matches!(
        &got[2].kind,
        Kind::Authenticate {
            user_readable: false,
            ..
        }
    ));
}

#[test]
fn session_commands() {
    let got = kinds(b"1 STARTTLS\r\n2 COMPRESS DEFLATE\r\n3 IDLE\r\n4 CAPABILITY\r\n5 ENABLE QRESYNC condstore\r\n6 LOGOUT\r\n7 NOOP\r\n");
    assert_eq!(got[0].kind, Kind::StartTls);
    assert_eq!(
        got[1].kind,
        Kind::Compress {
            mechanism: "DEFLATE".into()
        }
    );
    assert_eq!(got[2].kind, Kind::Idle);
    assert_eq!(got[3].kind, Kind::Capability);
    assert_eq!(
        got[4].kind,
        Kind::Enable {
            capabilities: vec!["QRESYNC".into(), "CONDSTORE".into()]
        }
    );
    assert_eq!(got[5].kind, Kind::Logout);
    assert_eq!(got[6].kind, Kind::Other);
    assert_eq!(got[6].name, "NOOP");
    assert!(is_idle_done(b"done\r\n") && !is_idle_done(b"a DONE\r\n"));
}

#[test]
fn select_and_examine_name_the_mailbox() {
    let got = kinds(
        b"a SELECT inbox\r\nb EXAMINE \"Sent Items\" (CONDSTORE)\r\nc SELECT {6}\r\nDrafts\r\n",
    );
    let want = [("INBOX", false), ("Sent Items", true), ("Drafts", false)];
    for (c, (m, ro)) in got.iter().zip(want) {
        assert_eq!(
            c.kind,
            Kind::Select {
                mailbox: m.into(),
                read_only: ro
            }
        );
    }
}

#[test]
fn append_reads_mailbox_flags_date_and_size() {
    let got = kinds(b"a APPEND Sent (\\Seen $Label) \"05-Nov-2024 10:00:00 +0000\" {11}\r\nHello world\r\nb APPEND Drafts ~{3+}\r\na\x00b\r\nc APPEND Sent CATENATE (URL \"/x\")\r\n");
    assert_eq!(
        got[0].kind,
        Kind::Append {
            mailbox: "Sent".into(),
            flags: vec!["\\Seen".into(), "$Label".into()],
            date: Some("05-Nov-2024 10:00:00 +0000".into()),
            size: Some(11),
            binary: false
        }
    );
    assert!(matches!(
        got[1].kind,
        Kind::Append {
            size: Some(3),
            binary: true,
            ..
        }
    ));
    assert!(
        matches!(got[2].kind, Kind::Append { size: None, .. }),
        "CATENATE cannot be scanned"
    );
}

#[test]
fn fetch_reads_the_set_and_every_item() {
    let got = kinds(b"a UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[]<0.32768> BODY[2.1] BINARY[] BODY.PEEK[HEADER.FIELDS (From)])\r\nb FETCH 5 RFC822\r\nc FETCH 1,3 (FLAGS) (CHANGEDSINCE 9)\r\n");
    let Kind::Fetch { set, items } = &got[0].kind else {
        panic!("{got:?}")
    };
    assert!(got[0].uid);
    assert_eq!(set, "1:*");
    let content: Vec<_> = items.iter().filter(|i| i.carries_content()).collect();
    assert_eq!(content.len(), 4);
    assert_eq!(
        content[0].partial,
        Some(Partial {
            origin: 0,
            count: Some(32768)
        })
    );
    assert_eq!(
        content[1].section,
        Some(Section {
            parts: vec![2, 1],
            text: None
        })
    );
    assert_eq!(content[2].kind, ItemKind::Binary);
    let Kind::Fetch { items, .. } = &got[1].kind else {
        panic!()
    };
    assert!(items[0].is_whole_message());
    let Kind::Fetch { items, .. } = &got[2].kind else {
        panic!()
    };
    assert_eq!(items.len(), 1, "modifiers are not items");
}

#[test]
fn store_expunge_move() {
    let got = kinds(b"a STORE 1:3 +FLAGS.SILENT (\\Deleted)\r\nb UID STORE 7 -FLAGS (\\Deleted)\r\nc STORE 2 FLAGS \\Seen \\deleted\r\nd UID STORE 4 (UNCHANGEDSINCE 3) +FLAGS (\\Seen)\r\ne EXPUNGE\r\nf UID EXPUNGE 4:5\r\ng UID MOVE 4 Trash\r\nh STORE 1 +X\r\n");
    assert!(matches!(
        &got[0].kind,
        Kind::Store {
            sets_deleted: true,
            silent: true,
            op: StoreOp::Add,
            ..
        }
    ));
    assert!(matches!(
        &got[1].kind,
        Kind::Store {
            sets_deleted: false,
            op: StoreOp::Remove,
            ..
        }
    ));
    assert!(matches!(
        &got[2].kind,
        Kind::Store {
            sets_deleted: true,
            op: StoreOp::Replace,
            ..
        }
    ));
    assert!(matches!(
        &got[3].kind,
        Kind::Store {
            sets_deleted: false,
            ..
        }
    ));
    assert_eq!(got[4].kind, Kind::Expunge { set: None });
    assert_eq!(
        got[5].kind,
        Kind::Expunge {
            set: Some("4:5".into())
        }
    );
    assert_eq!(
        got[6].kind,
        Kind::Move {
            set: "4".into(),
            mailbox: "Trash".into()
        }
    );
    assert_eq!(
        got[7].kind,
        Kind::Unreadable,
        "a STORE it cannot follow is not forwarded"
    );
}

#[test]
fn lines_without_tag_and_name_are_not_commands() {
    assert_eq!(classify(&[]), None);
    let mut t = Vec::new();
    crate::proto::imap::lex::tokenize_line(b"YWxpY2U=\r\n", &mut t);
    assert_eq!(classify(&t), None);
}

mod props {
    use super::*;
    use crate::proto::imap::lex::tokenize_line;
    use proptest::prelude::*;

    fn word() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "a1",
            "UID",
            "FETCH",
            "STORE",
            "APPEND",
            "LOGIN",
            "SELECT",
            "1:*",
            "(",
            ")",
            "\"q\"",
            "BODY[]",
            "+FLAGS",
            "\\Deleted",
            "{3}",
            "INBOX",
            "AUTHENTICATE",
            "PLAIN",
            "MOVE",
        ])
        .prop_map(String::from)
    }

    proptest! {
        /// Any line classifies without panicking, and a command's tag is its first word.
        #[test]
        fn any_line_classifies(words in proptest::collection::vec(word(), 0..10), raw in any::<Vec<u8>>()) {
            let mut line = words.join(" ").into_bytes();
            line.extend_from_slice(b"\r\n");
            for input in [line, raw] {
                let mut toks = Vec::new();
                tokenize_line(&input, &mut toks);
                if let Some(c) = classify(&toks) {
                    let lossless = !c.tag.contains(char::REPLACEMENT_CHARACTER);
                    prop_assert!(input.starts_with(c.tag.as_bytes()) || !lossless);
                }
            }
        }
    }
}
