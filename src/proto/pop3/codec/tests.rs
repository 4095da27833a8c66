use super::*;

fn unstuff_all(input: &[u8]) -> (Vec<u8>, Option<usize>) {
    let mut u = Unstuffer::default();
    let mut out = Vec::new();
    let end = u.feed(input, |s| out.extend_from_slice(s));
    (out, end)
}

#[test]
fn listing_entries_from_lists_and_one_line_answers() {
    assert_eq!(listing_entry(b"1 20522\r\n", false), Some((1, "20522")));
    assert_eq!(
        listing_entry(b"7 uid-7 extra\r\n", false),
        Some((7, "uid-7"))
    );
    assert_eq!(listing_entry(b"+OK 3 100\r\n", true), Some((3, "100")));
    assert_eq!(listing_entry(b"+OK 3 100\r\n", false), None);
    assert_eq!(listing_entry(b"0 100\r\n", false), None);
    assert_eq!(listing_entry(b"x 100\r\n", false), None);
    assert_eq!(listing_entry(b"4\r\n", false), None);
    assert_eq!(listing_entry(b"-ERR no such message\r\n", true), None);
}

#[test]
fn only_answers_that_blame_the_credentials_count_as_bad_credentials() {
    use LoginAnswer::*;
    assert_eq!(login_answer(Status::Ok, b"+OK logged in\r\n"), Accepted);
    assert_eq!(
        login_answer(Status::Err, b"-ERR invalid\r\n"),
        BadCredentials
    );
    assert_eq!(
        login_answer(Status::Err, b"-ERR [AUTH] Authentication failed.\r\n"),
        BadCredentials
    );
    for busy in [
        &b"-ERR [IN-USE] mailbox locked\r\n"[..],
        b"-ERR [SYS/TEMP] try later\r\n",
        b"-ERR [LOGIN-DELAY] wait\r\n",
        b"-ERR [SYS/PERM] broken\r\n",
    ] {
        assert_eq!(login_answer(Status::Err, busy), Refused);
    }
}

#[test]
fn parses_commands_case_insensitively() {
    let c = Command::parse(b"retr 3\r\n").unwrap();
    assert_eq!(c.verb, Verb::Retr);
    assert_eq!(c.msg_number(), Some(3));
    assert!(c.multiline_answer());
    let l = Command::parse(b"LIST 2\r\n").unwrap();
    assert!(!l.multiline_answer());
    assert!(Command::parse(b"LIST\r\n").unwrap().multiline_answer());
}

#[test]
fn refuses_unknown_and_malformed_commands() {
    assert_eq!(
        Command::parse(b"XTND XMIT\r\n"),
        Err(CommandError::Unknown("XTND".into()))
    );
    assert_eq!(
        Command::parse(b"USER a\0b\r\n"),
        Err(CommandError::Malformed)
    );
    assert_eq!(
        Command::parse(b"RETR x\r\n"),
        Err(CommandError::BadArgument("message number"))
    );
    assert_eq!(
        Command::parse(b"TOP 1\r\n"),
        Err(CommandError::BadArgument("line count"))
    );
}

#[test]
fn status_lines() {
    assert_eq!(parse_status(b"+OK 120 octets\r\n"), Some(Status::Ok));
    assert_eq!(parse_status(b"+OK\r\n"), Some(Status::Ok));
    assert_eq!(parse_status(b"-ERR no such message\r\n"), Some(Status::Err));
    assert_eq!(parse_status(b"+ \r\n"), Some(Status::Continue));
    assert_eq!(parse_status(b"+OKAY\r\n"), None);
    assert_eq!(parse_status(b"hello\r\n"), None);
}

#[test]
fn octet_count_is_read() {
    assert_eq!(octets(b"+OK 120 octets\r\n"), Some(120));
    assert_eq!(octets(b"+OK message follows\r\n"), None);
}

#[test]
fn octet_count_is_rewritten() {
    assert_eq!(
        rewrite_octets(b"+OK 120 octets\r\n", 99),
        b"+OK 99 octets\r\n"
    );
    assert_eq!(
        rewrite_octets(b"+OK message follows\r\n", 99),
        b"+OK message follows\r\n"
    );
}

#[test]
fn unstuffs_a_transcript() {
    let wire = b"Subject: x\r\n\r\n..leading dot\r\n.\r\n";
    let (out, end) = unstuff_all(wire);
    assert_eq!(out, b"Subject: x\r\n\r\n.leading dot\r\n");
    assert_eq!(end, Some(wire.len()));
}

#[test]
fn unstuffer_stops_at_terminator_and_leaves_the_rest() {
    let wire = b"a\r\n.\r\n+OK next\r\n";
    let (out, end) = unstuff_all(wire);
    assert_eq!(out, b"a\r\n");
    assert_eq!(&wire[end.unwrap()..], b"+OK next\r\n");
}

#[test]
fn a_dot_line_with_bare_lf_is_not_the_end() {
    let (out, end) = unstuff_all(b"a\r\n.\nb\r\n");
    assert_eq!(end, None);
    assert_eq!(out, b"a\r\n\nb\r\n");
    let (out, end) = unstuff_all(b".\rx\r\n.\r\n");
    assert_eq!(out, b"\rx\r\n");
    assert!(end.is_some());
}

#[test]
fn empty_block() {
    let (out, end) = unstuff_all(b".\r\n");
    assert!(out.is_empty());
    assert_eq!(end, Some(3));
}

#[test]
fn stuffer_adds_dots_and_terminator() {
    let mut s = Stuffer::default();
    let mut out = Vec::new();
    s.feed(b".a\r\nb\r", &mut out);
    s.feed(b"\n.", &mut out);
    s.feed(b"\r\n", &mut out);
    s.finish(&mut out);
    assert_eq!(out, b"..a\r\nb\r\n..\r\n.\r\n");
    let mut s = Stuffer::default();
    let mut out = Vec::new();
    s.feed(b"no newline", &mut out);
    s.finish(&mut out);
    assert_eq!(out, b"no newline\r\n.\r\n");
}

/// What the driver sees of a server's answers, given the commands it sent.
#[derive(Debug, PartialEq)]
enum Seen {
    Line(Vec<u8>),
    Block(Vec<u8>),
}

/// Runs a server transcript through the decoder as the driver does: a status line per
/// command, then a block for RETR/TOP or listing lines for LIST/UIDL/CAPA.
fn decode(chunks: &[&[u8]], commands: &[&str]) -> Vec<Seen> {
    let mut dec = ResponseDecoder::new(512);
    let mut seen = Vec::new();
    let mut chunks = chunks.iter();
    let mut feed = |dec: &mut ResponseDecoder| match chunks.next() {
        Some(c) => {
            dec.push(c);
            true
        }
        None => false,
    };
    let next_line = |dec: &mut ResponseDecoder,
                     feed: &mut dyn FnMut(&mut ResponseDecoder) -> bool| loop {
        if let Some(l) = dec.line().unwrap() {
            return Some(l.to_vec());
        }
        if !feed(dec) {
            return None;
        }
    };
    for cmd in commands {
        let c = Command::parse(format!("{cmd}\r\n").as_bytes()).unwrap();
        let status = next_line(&mut dec, &mut feed).unwrap();
        let ok = parse_status(&status) == Some(Status::Ok);
        seen.push(Seen::Line(status));
        if !(ok && c.multiline_answer()) {
            continue;
        }
        if matches!(c.verb, Verb::Retr | Verb::Top) {
            let mut body = Vec::new();
            while !dec.block(&mut body) {
                assert!(feed(&mut dec), "transcript ended inside a block");
            }
            seen.push(Seen::Block(body));
        } else {
            loop {
                let l = next_line(&mut dec, &mut feed).unwrap();
                let end = trim_eol(&l) == b".";
                seen.push(Seen::Line(l));
                if end {
                    break;
                }
            }
        }
    }
    seen
}

const SERVER: &[u8] = b"+OK Dovecot ready.\r\n+OK\r\n+OK Logged in.\r\n+OK 2 320\r\n+OK 2 messages:\r\n1 120\r\n2 200\r\n.\r\n+OK 120 octets\r\nSubject: a\r\n\r\n..dot\r\n.\r\n+OK\r\nSubject: b\r\n\r\n.\r\n-ERR no such message\r\n+OK Logging out.\r\n";
const COMMANDS: &[&str] = &[
    "NOOP",
    "USER alice",
    "PASS x",
    "STAT",
    "LIST",
    "RETR 1",
    "TOP 2 0",
    "RETR 9",
    "QUIT",
];

#[test]
fn session_transcript_decodes_into_answers() {
    let seen = decode(&[SERVER], COMMANDS);
    assert_eq!(seen.len(), 14);
    assert_eq!(seen[6], Seen::Line(b"2 200\r\n".to_vec()));
    assert_eq!(seen[9], Seen::Block(b"Subject: a\r\n\r\n.dot\r\n".to_vec()));
    assert_eq!(seen[11], Seen::Block(b"Subject: b\r\n\r\n".to_vec()));
    assert_eq!(seen[12], Seen::Line(b"-ERR no such message\r\n".to_vec()));
}

#[test]
fn the_same_session_split_at_every_boundary_decodes_the_same() {
    let whole = decode(&[SERVER], COMMANDS);
    for i in 1..SERVER.len() {
        assert_eq!(
            decode(&[&SERVER[..i], &SERVER[i..]], COMMANDS),
            whole,
            "split at {i}"
        );
    }
    let bytes: Vec<&[u8]> = SERVER.chunks(1).collect();
    assert_eq!(decode(&bytes, COMMANDS), whole, "one byte at a time");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn message() -> impl Strategy<Value = Vec<u8>> {
        // Lines of arbitrary bytes (no CR/LF inside), some starting with dots.
        proptest::collection::vec(
            (
                proptest::bool::ANY,
                proptest::collection::vec(
                    any::<u8>().prop_filter("no eol", |b| *b != b'\n' && *b != b'\r'),
                    0..40,
                ),
            ),
            0..30,
        )
        .prop_map(|lines| {
            let mut m = Vec::new();
            for (dot, l) in lines {
                if dot {
                    m.push(b'.');
                }
                m.extend_from_slice(&l);
                m.extend_from_slice(b"\r\n");
            }
            m
        })
    }

    proptest! {
        #[test]
        fn stuff_then_unstuff_round_trips(msg in message(), split in 0usize..2000) {
            let mut s = Stuffer::default();
            let mut wire = Vec::new();
            s.feed(&msg, &mut wire);
            s.finish(&mut wire);
            let cut = split % (wire.len() + 1);
            let mut u = Unstuffer::default();
            let mut out = Vec::new();
            let first = u.feed(&wire[..cut], |b| out.extend_from_slice(b));
            let end = match first {
                Some(n) => Some(n),
                None => u.feed(&wire[cut..], |b| out.extend_from_slice(b)).map(|n| n + cut),
            };
            prop_assert_eq!(end, Some(wire.len()));
            prop_assert_eq!(out, msg);
        }
    }
}
