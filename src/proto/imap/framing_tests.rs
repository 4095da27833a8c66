use super::*;
use proptest::prelude::*;

const LIMITS: FrameLimits = FrameLimits {
    max_line: 64,
    max_literal: 1000,
    inline_literal: 16,
};

/// An event with its pieces joined, so runs split differently compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum N {
    Line {
        bytes: Vec<u8>,
        first: bool,
        whole: bool,
        announce: Option<Announce>,
    },
    Literal {
        bytes: Vec<u8>,
        streamed: bool,
    },
    Refused {
        tag: Option<String>,
        reason: Refusal,
    },
}

fn line(b: &[u8], first: bool, announce: Option<Announce>) -> N {
    N::Line {
        bytes: b.to_vec(),
        first,
        whole: true,
        announce,
    }
}

fn lit(b: &[u8], streamed: bool) -> N {
    N::Literal {
        bytes: b.to_vec(),
        streamed,
    }
}

fn ann(size: u64, sync: bool) -> Option<Announce> {
    Some(Announce {
        size,
        sync,
        binary: false,
    })
}

fn refused(tag: &str, reason: Refusal) -> N {
    N::Refused {
        tag: Some(tag.into()),
        reason,
    }
}

/// Feeds `parts` one after the other, draining events after each; a paused framer gets
/// `accept` as the continuation decision.
fn run_parts(sender: Sender, limits: FrameLimits, parts: &[&[u8]], accept: bool) -> Vec<N> {
    let mut f = Framer::new(sender, limits);
    let mut got: Vec<N> = Vec::new();
    let mut part_line: Option<(Vec<u8>, bool)> = None;
    let mut chunks: Vec<u8> = Vec::new();
    for p in parts {
        f.push(p);
        loop {
            if f.awaiting_continuation() {
                assert_eq!(f.next_event(), Ok(None), "paused");
                assert!(if accept {
                    f.continue_literal()
                } else {
                    f.refuse_literal()
                });
            }
            let Some(ev) = f.next_event().expect("no framing error") else {
                break;
            };
            match ev {
                Event::LinePart { bytes, first } => {
                    let e = part_line.get_or_insert((Vec::new(), first));
                    e.0.extend_from_slice(bytes);
                }
                Event::Line {
                    bytes,
                    first,
                    whole,
                    announce,
                } => {
                    let (mut b, first) = part_line.take().unwrap_or((Vec::new(), first));
                    b.extend_from_slice(bytes);
                    assert_eq!(whole, b.len() <= limits.max_line, "whole flag");
                    got.push(N::Line {
                        bytes: b,
                        first,
                        whole,
                        announce,
                    });
                }
                Event::Literal { bytes } => {
                    assert!(bytes.len() <= limits.inline_literal);
                    got.push(lit(bytes, false));
                }
                Event::LiteralChunk { bytes, last } => {
                    assert!(!bytes.is_empty(), "no empty chunks");
                    chunks.extend_from_slice(bytes);
                    if last {
                        got.push(lit(&std::mem::take(&mut chunks), true));
                    }
                }
                Event::Refused { tag, reason } => got.push(N::Refused { tag, reason }),
            }
            let bound = limits.max_line.max(limits.inline_literal) + FEED_STEP;
            assert!(f.fed.len() <= bound, "held {} > {bound}", f.fed.len());
        }
        // The driver gives the buffers back before it waits for more: every split of
        // every transcript reads the same with that in between.
        f.release();
    }
    // Input that ends inside a literal or an overlong line (a connection cut there) leaves
    // a piece: it must be the same however the input was split.
    if !chunks.is_empty() {
        got.push(lit(&chunks, true));
    }
    if let Some((b, first)) = part_line {
        got.push(N::Line {
            bytes: b,
            first,
            whole: false,
            announce: None,
        });
    }
    got
}

/// The same transcript whole, one byte at a time, and split in two at every point.
fn every_split(sender: Sender, limits: FrameLimits, input: &[u8], accept: bool) -> Vec<N> {
    let whole = run_parts(sender, limits, &[input], accept);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        run_parts(sender, limits, &bytes, accept),
        whole,
        "byte by byte"
    );
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(
            run_parts(sender, limits, &[a, b], accept),
            whole,
            "split {i}"
        );
    }
    whole
}

#[test]
fn client_commands_with_literals_of_every_kind() {
    let input = b"a1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\na2 SELECT INBOX\n\
a3 APPEND Drafts ~{20}\r\n0123456789\x00123456789\r\na4 NOOP\r\n";
    let got = every_split(Sender::Client, LIMITS, input, true);
    let bin = Some(Announce {
        size: 20,
        sync: true,
        binary: true,
    });
    assert_eq!(
        got,
        vec![
            line(b"a1 LOGIN {5}\r\n", true, ann(5, true)),
            lit(b"alice", false),
            line(b" {6+}\r\n", false, ann(6, false)),
            lit(b"secret", false),
            line(b"\r\n", false, None),
            line(b"a2 SELECT INBOX\n", true, None),
            line(b"a3 APPEND Drafts ~{20}\r\n", true, bin),
            lit(b"0123456789\x00123456789", true),
            line(b"\r\n", false, None),
            line(b"a4 NOOP\r\n", true, None),
        ]
    );
}

#[test]
fn server_literals_with_nul_and_streamed_bodies_come_out_byte_for_byte() {
    let body = b"Subject: x\r\n\r\nNUL \x00 inside {3}\r\n* 9 EXISTS\r\n";
    let mut input = b"* OK [CAPABILITY IMAP4rev1] ready\r\n* 1 FETCH (UID 7 BODY[] {".to_vec();
    input.extend_from_slice(format!("{}}}\r\n", body.len()).as_bytes());
    input.extend_from_slice(body);
    input.extend_from_slice(b" FLAGS (\\Seen))\r\n* 2 FETCH (BODY[1] {0}\r\n)\r\nt OK done\r\n");
    let got = every_split(Sender::Server, LIMITS, &input, true);
    let mut joined = Vec::new();
    for e in &got {
        match e {
            N::Line { bytes, .. } | N::Literal { bytes, .. } => joined.extend_from_slice(bytes),
            N::Refused { .. } => panic!("servers are not refused"),
        }
    }
    assert_eq!(joined, input);
    assert_eq!(
        got[2],
        lit(body, true),
        "the body, NUL and all, not parsed as lines"
    );
    assert_eq!(got[5], lit(b"", false));
    assert_eq!(got.len(), 8);
}

#[test]
fn huge_synchronising_announce_is_refused_at_once_and_nothing_waits_for_it() {
    let limits = FrameLimits {
        max_literal: 10 * 1024 * 1024,
        ..LIMITS
    };
    let input = b"a1 APPEND INBOX {2147483648}\r\na2 NOOP\r\n";
    let got = every_split(Sender::Client, limits, input, true);
    let reason = Refusal::LiteralTooLarge {
        size: 2147483648,
        limit: 10 * 1024 * 1024,
    };
    assert_eq!(
        got,
        vec![refused("a1", reason), line(b"a2 NOOP\r\n", true, None)]
    );
}

#[test]
fn oversized_literal_plus_is_consumed_and_never_read_as_commands() {
    let mut input = b"a1 APPEND INBOX {1500+}\r\n".to_vec();
    let smuggled = b"a9 DELETE INBOX\r\n".repeat(1500 / 17 + 1);
    input.extend_from_slice(&smuggled[..1500]);
    input.extend_from_slice(b" {3+}\r\nabc\r\na2 NOOP\r\n");
    let got = every_split(Sender::Client, LIMITS, &input, true);
    let reason = Refusal::LiteralTooLarge {
        size: 1500,
        limit: 1000,
    };
    assert_eq!(
        got,
        vec![refused("a1", reason), line(b"a2 NOOP\r\n", true, None)]
    );
}

#[test]
fn literal_plus_above_four_gib_is_skipped_outside_the_fragmentizer() {
    // The Fragmentizer reads this announce as text; the framer still skips its bytes.
    let mut f = Framer::new(Sender::Client, LIMITS);
    f.push(b"a1 APPEND INBOX {4294967301+}\r\nb1 DELETE INBOX\r\n");
    assert_eq!(f.next_event(), Ok(None));
    assert!(matches!(f.phase, Phase::Skip { left } if left == 4294967301 - 17));
    // Pretend the rest of the literal arrived, then the end of the command.
    f.phase = Phase::Skip { left: 3 };
    f.push(b"xyz\r\nz NOOP\r\n");
    let reason = Refusal::LiteralTooLarge {
        size: 4294967301,
        limit: 1000,
    };
    assert_eq!(
        f.next_event(),
        Ok(Some(Event::Refused {
            tag: Some("a1".into()),
            reason
        }))
    );
    assert!(matches!(
        f.next_event(),
        Ok(Some(Event::Line {
            bytes: b"z NOOP\r\n",
            first: true,
            ..
        }))
    ));
}

#[test]
fn overlong_client_line_is_refused_and_the_next_command_is_read() {
    let mut input = b"a1 UID STORE ".to_vec();
    input.extend_from_slice(&b"1,".repeat(100));
    input.extend_from_slice(b"2 +FLAGS (\\Deleted)\r\na2 NOOP\r\na3 X {2}\r\nab\r\n");
    let got = every_split(Sender::Client, LIMITS, &input, true);
    let reason = Refusal::LineTooLong { limit: 64 };
    assert_eq!(got[0], refused("a1", reason));
    assert_eq!(got[1], line(b"a2 NOOP\r\n", true, None));
    assert_eq!(got.len(), 5);
}

#[test]
fn overlong_line_with_a_literal_plus_skips_the_literal_too() {
    let mut input = b"a1 LOGIN ".to_vec();
    input.extend_from_slice(&[b'x'; 80]);
    input.extend_from_slice(b" {17+}\r\nb2 DELETE INBOX\r\n\r\na2 NOOP\r\n");
    let got = every_split(Sender::Client, LIMITS, &input, true);
    assert_eq!(
        got,
        vec![
            refused("a1", Refusal::LineTooLong { limit: 64 }),
            line(b"a2 NOOP\r\n", true, None)
        ]
    );
}

#[test]
fn overlong_server_line_is_forwarded_in_pieces() {
    let mut search = b"* SEARCH".to_vec();
    for i in 0..40 {
        search.extend_from_slice(format!(" {i}").as_bytes());
    }
    search.extend_from_slice(b"\r\n");
    let mut input = search.clone();
    input.extend_from_slice(b"t OK\r\n");
    let got = every_split(Sender::Server, LIMITS, &input, true);
    assert_eq!(
        got,
        vec![
            N::Line {
                bytes: search,
                first: true,
                whole: false,
                announce: None
            },
            line(b"t OK\r\n", true, None)
        ]
    );
}

#[test]
fn refused_synchronising_literal_leaves_early_bytes_to_be_read_as_commands() {
    // A client that does not wait for `+`: if the server refuses the literal, the server
    // reads these bytes as commands, so the proxy must too.
    let input = b"a1 APPEND INBOX {16}\r\nb1 DELETE Junk\r\n";
    let got = every_split(Sender::Client, LIMITS, input, false);
    assert_eq!(
        got,
        vec![
            line(b"a1 APPEND INBOX {16}\r\n", true, ann(16, true)),
            line(b"b1 DELETE Junk\r\n", true, None),
        ]
    );
    let got = every_split(Sender::Client, LIMITS, input, true);
    assert_eq!(got[1], lit(b"b1 DELETE Junk\r\n", false));
}

#[test]
fn server_announce_above_four_gib_is_an_error() {
    let mut f = Framer::new(Sender::Server, LIMITS);
    f.push(b"* 1 FETCH (BODY[] {4294967296}\r\n");
    assert_eq!(
        f.next_event(),
        Err(FrameError::ServerLiteralTooLarge { size: 4294967296 })
    );
}

#[test]
fn literal_ending_exactly_at_a_feed_step() {
    let head = b"* 1 FETCH (BODY[] {16360}\r\n";
    let n = FEED_STEP - head.len();
    let mut input = format!("* 1 FETCH (BODY[] {{{n}}}\r\n").into_bytes();
    assert_eq!(input.len(), head.len());
    input.extend(std::iter::repeat_n(b'x', n));
    input.extend_from_slice(b")\r\n");
    for parts in [
        vec![&input[..FEED_STEP], &input[FEED_STEP..]],
        vec![&input[..]],
    ] {
        let got = run_parts(Sender::Server, LIMITS, &parts, true);
        assert_eq!(got[1], lit(&input[head.len()..FEED_STEP], true));
        assert_eq!(got[2], line(b")\r\n", false, None));
    }
}

#[test]
fn reset_drops_plaintext_sent_before_the_handshake() {
    let mut f = Framer::new(Sender::Client, LIMITS);
    f.push(b"a STARTTLS\r\nb LOGIN x y\r\n");
    assert!(matches!(f.next_event(), Ok(Some(Event::Line { .. }))));
    assert_eq!(f.reset(), 13);
    assert_eq!(f.next_event(), Ok(None));
}

#[test]
fn tags_are_parsed_only_when_they_can_be_tags() {
    assert_eq!(parse_tag(b"a.1 NOOP\r\n"), Some("a.1".into()));
    assert_eq!(parse_tag(b"+ NOOP\r\n"), None);
    assert_eq!(parse_tag(b"NOOP\r\n"), None);
    assert_eq!(parse_tag(b"a{ NOOP\r\n"), None);
}

#[test]
fn overlong_server_line_still_shows_its_binary_announce() {
    let mut input =
        b"* 1 FETCH (UID 1 BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"8bit\" 3 1) ".to_vec();
    input.extend_from_slice(b"BINARY[1] ~{3}\r\na\x00c)\r\n");
    let got = every_split(Sender::Server, LIMITS, &input, true);
    let bin = Some(Announce {
        size: 3,
        sync: true,
        binary: true,
    });
    assert!(matches!(&got[0], N::Line { whole: false, announce, .. } if *announce == bin));
    assert_eq!(got[1], lit(b"a\x00c", false));
}

#[test]
fn limits_come_from_the_imap_config_section() {
    use crate::config::{Config, Imap};
    let example = Config::parse(include_str!("../../../config/portcullis.toml")).unwrap();
    let d = Imap::default();
    assert_eq!(
        (
            example.imap.max_line_bytes,
            example.imap.max_literal_bytes,
            example.imap.literal_memory_bytes
        ),
        (
            d.max_line_bytes,
            d.max_literal_bytes,
            d.literal_memory_bytes
        ),
        "the example shows the defaults"
    );
    let l = FrameLimits::from_config(&example.imap);
    assert_eq!(
        (l.max_line, l.max_literal, l.inline_literal),
        (65536, 104857600, 16384)
    );
    let listener =
        "[[listener]]\nprotocol = \"pop3\"\nlisten = \"[::]:10110\"\nintercept_ports = [110]\n";
    let bad = format!(
        "[imap]\nmax_line_bytes = 10\nmax_literal_bytes = 4294967296\nliteral_memory_bytes = 0\n{listener}"
    );
    let keys: Vec<String> = Config::parse(&bad)
        .unwrap_err()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(
        keys,
        vec![
            "imap.max_line_bytes",
            "imap.max_literal_bytes",
            "imap.literal_memory_bytes"
        ]
    );
}

#[path = "framing_props.rs"]
mod props;
