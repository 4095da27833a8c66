//! Whatever either side sends, the IMAP framer neither panics nor holds more than its
//! limits; a server's bytes come out unchanged and in order, however they are split and
//! whether or not the buffers are given back between the pieces; the classifiers take
//! every line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::proto::imap::fetch::FetchTracker;
use portcullis::proto::imap::framing::{Event, FrameLimits, Framer, Sender};
use portcullis::proto::imap::{command, lex, response};

const LIMITS: FrameLimits = FrameLimits {
    max_line: 256,
    max_literal: 1024,
    inline_literal: 32,
};

fn run(sender: Sender, parts: &[&[u8]]) -> Vec<u8> {
    let mut f = Framer::new(sender, LIMITS);
    let mut out = Vec::new();
    let mut toks = Vec::new();
    let mut tracker: Option<FetchTracker> = None;
    for p in parts {
        f.push(p);
        loop {
            if f.awaiting_continuation() {
                f.continue_literal();
            }
            let ev = match f.next_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                // An error ends the session (the driver's `server_frame`): nothing after it
                // is framed, whichever way the input was split.
                Err(_) => return out,
            };
            match ev {
                Event::Line { bytes, first, .. } => {
                    out.extend_from_slice(bytes);
                    if sender == Sender::Client {
                        lex::tokenize_line(bytes, &mut toks);
                        let _ = command::classify(&toks);
                        toks.clear();
                    } else {
                        if first {
                            tracker = match response::classify(bytes) {
                                response::Response::Fetch(n) => Some(FetchTracker::new(n)),
                                _ => None,
                            };
                        }
                        if let Some(t) = tracker.as_mut() {
                            let r = t.line(bytes, first);
                            for v in r.inline {
                                assert!(v.range.end <= bytes.len());
                            }
                        }
                    }
                }
                Event::LinePart { bytes, .. }
                | Event::Literal { bytes }
                | Event::LiteralChunk { bytes, .. } => out.extend_from_slice(bytes),
                Event::Refused { .. } => {}
            }
        }
        assert!(f.buffered() <= p.len() + LIMITS.max_line + 16 * 1024 + 64);
        // As the driver does before it waits: the split runs must still read the same.
        f.release();
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let (a, b) = data.split_at(cut);
    let whole = run(Sender::Server, &[data]);
    assert!(data.starts_with(&whole));
    assert_eq!(run(Sender::Server, &[a, b]), whole);
    let _ = run(Sender::Client, &[a, b]);
});
