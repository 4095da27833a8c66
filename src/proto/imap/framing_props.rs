//! Properties of the framer over generated transcripts: the framing and the refusals do
//! not depend on how the input is split, and a server's bytes come out unchanged.
use super::*;

/// A message: lines, each optionally followed by a literal.
fn transcript() -> impl Strategy<Value = Vec<u8>> {
    let frag = (
        proptest::collection::vec(prop::sample::select(b"a1 {}+~*\r\nX".to_vec()), 0..12),
        proptest::option::of((proptest::collection::vec(any::<u8>(), 0..40), any::<bool>())),
    );
    proptest::collection::vec(frag, 1..8).prop_map(|frags| {
        let mut out = Vec::new();
        for (text, literal) in frags {
            out.extend(text.iter().filter(|&&b| b != b'\n'));
            match literal {
                Some((data, plus)) => {
                    let p = if plus { "+" } else { "" };
                    out.extend_from_slice(format!("{{{}{p}}}\r\n", data.len()).as_bytes());
                    out.extend_from_slice(&data);
                }
                None => out.extend_from_slice(b"\r\n"),
            }
        }
        out
    })
}

fn joined(events: &[N]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        if let N::Line { bytes, .. } | N::Literal { bytes, .. } = e {
            out.extend_from_slice(bytes);
        }
    }
    out
}

proptest! {
    #[test]
    fn server_bytes_come_out_unchanged_however_split(
        input in transcript(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        points.sort_unstable();
        let mut parts = Vec::new();
        let mut last = 0;
        for p in points {
            parts.push(&input[last..p]);
            last = p;
        }
        parts.push(&input[last..]);
        let split = run_parts(Sender::Server, LIMITS, &parts, true);
        let whole = run_parts(Sender::Server, LIMITS, &[&input], true);
        prop_assert_eq!(&split, &whole);
        // Everything up to the last complete fragment is delivered, byte for byte.
        let out = joined(&whole);
        prop_assert!(input.starts_with(&out));
    }

    /// Tight limits: refusals (long lines, large literals of both kinds) in random places
    /// are split-independent too, and what is delivered is the client's bytes in order.
    #[test]
    fn client_refusals_do_not_depend_on_the_split(
        input in transcript(),
        cut in any::<prop::sample::Index>(),
        accept in any::<bool>(),
    ) {
        let tight = FrameLimits { max_line: 8, max_literal: 10, inline_literal: 4 };
        let (a, b) = input.split_at(cut.index(input.len() + 1));
        let split = run_parts(Sender::Client, tight, &[a, b], accept);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&split, &run_parts(Sender::Client, tight, &bytes, accept));
        prop_assert_eq!(&split, &run_parts(Sender::Client, tight, &[&input], accept));
    }

    #[test]
    fn client_framing_does_not_depend_on_the_split(
        input in transcript(),
        cut in any::<prop::sample::Index>(),
        accept in any::<bool>(),
    ) {
        let (a, b) = input.split_at(cut.index(input.len() + 1));
        let split = run_parts(Sender::Client, LIMITS, &[a, b], accept);
        let whole = run_parts(Sender::Client, LIMITS, &[&input], accept);
        prop_assert_eq!(split, whole);
    }
}

#[test]
fn a_server_stream_cut_inside_a_streamed_literal_keeps_what_arrived_however_split() {
    // Found by the property test: an announce of 111 bytes of which 2 arrived.
    let input = b"{111}\r\n\r\n";
    let whole = run_parts(Sender::Server, LIMITS, &[input], true);
    for i in 0..=input.len() {
        let split = run_parts(Sender::Server, LIMITS, &[&input[..i], &input[i..]], true);
        assert_eq!(split, whole, "split at {i}");
    }
    assert_eq!(joined(&whole), input.to_vec());
}
