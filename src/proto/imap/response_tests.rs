use super::*;
use crate::proto::imap::framing::{Event, Framer, Sender};
use crate::proto::imap::testkit::LIMITS;

#[test]
fn status_and_untagged_responses() {
    let cases: Vec<(&[u8], Response)> = vec![
        (b"+ OK\r\n", Response::Continuation),
        (b"+\r\n", Response::Continuation),
        (
            b"a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n",
            Response::Tagged {
                tag: "a1".into(),
                status: Status::Ok,
                code: Some(Code::Capability),
            },
        ),
        (
            b"b4 no [TOOBIG] too big\r\n",
            Response::Tagged {
                tag: "b4".into(),
                status: Status::No,
                code: Some(Code::Other("TOOBIG".into())),
            },
        ),
        (
            b"a9 OK [APPENDUID 1796081133 4] Append completed\r\n",
            Response::Tagged {
                tag: "a9".into(),
                status: Status::Ok,
                code: Some(Code::AppendUid {
                    uid_validity: 1796081133,
                    uids: "4".into(),
                }),
            },
        ),
        (
            b"x BAD\r\n",
            Response::Tagged {
                tag: "x".into(),
                status: Status::Bad,
                code: None,
            },
        ),
        (
            b"* OK [UIDVALIDITY 1796081133] UIDs valid\r\n",
            Response::Status {
                status: Status::Ok,
                code: Some(Code::UidValidity(1796081133)),
            },
        ),
        (
            b"* OK [UIDNEXT 4] Predicted next UID\r\n",
            Response::Status {
                status: Status::Ok,
                code: Some(Code::UidNext(4)),
            },
        ),
        (
            b"* BYE Logging out\r\n",
            Response::Status {
                status: Status::Bye,
                code: None,
            },
        ),
        (b"* CAPABILITY IMAP4rev1\r\n", Response::Capability),
        (b"* 3 EXISTS\r\n", Response::Exists(3)),
        (b"* 4 expunge\r\n", Response::Expunge(4)),
        (b"* 4 RECENT\r\n", Response::Other("RECENT".into())),
        (b"* 12 FETCH (BODY[] {5}\r\n", Response::Fetch(12)),
        (
            b"* VANISHED (EARLIER) 3:5,9\r\n",
            Response::Vanished {
                earlier: true,
                uids: "3:5,9".into(),
            },
        ),
        (b"* SEARCH 1 2\r\n", Response::Other("SEARCH".into())),
        (b"garbage\r\n", Response::Other(String::new())),
        (b"\r\n", Response::Other(String::new())),
    ];
    for (line, want) in cases {
        assert_eq!(classify(line), want, "{}", String::from_utf8_lossy(line));
    }
}

fn first_lines(parts: &[&[u8]]) -> Vec<Response> {
    let mut fr = Framer::new(Sender::Server, LIMITS);
    let mut out = Vec::new();
    for p in parts {
        fr.push(p);
        while let Some(ev) = fr.next_event().unwrap() {
            if let Event::Line {
                bytes, first: true, ..
            } = ev
            {
                out.push(classify(bytes));
            }
        }
    }
    out
}

#[test]
fn dovecot_session_classified_at_every_split() {
    let input = include_bytes!("../../../tests/fixtures/imap/dovecot-session.server");
    let whole = first_lines(&[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(first_lines(&bytes), whole);
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(first_lines(&[a, b]), whole, "split at {i}");
    }
    let count = |f: &dyn Fn(&Response) -> bool| whole.iter().filter(|r| f(r)).count();
    assert_eq!(
        count(&|r| matches!(
            r,
            Response::Tagged {
                status: Status::Ok,
                ..
            }
        )),
        13
    );
    assert_eq!(count(&|r| matches!(r, Response::Fetch(_))), 8);
    assert_eq!(count(&|r| matches!(r, Response::Continuation)), 2);
    assert_eq!(count(&|r| matches!(r, Response::Capability)), 2);
    assert!(whole.contains(&Response::Status {
        status: Status::Ok,
        code: Some(Code::UidValidity(1796081133))
    }));
    assert!(whole.contains(&Response::Expunge(4)) && whole.contains(&Response::Exists(5)));
    assert!(matches!(
        whole[0],
        Response::Status {
            status: Status::Ok,
            code: Some(Code::Capability)
        }
    ));
}

#[test]
fn a_code_cut_off_by_the_line_limit_is_still_named() {
    assert_eq!(
        classify(b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SORT THREAD=REFS"),
        Response::Status {
            status: Status::Ok,
            code: Some(Code::Capability)
        }
    );
    assert_eq!(
        classify(b"a1 OK [CAPABILITY IMAP4rev1"),
        Response::Tagged {
            tag: "a1".into(),
            status: Status::Ok,
            code: Some(Code::Capability)
        }
    );
}
