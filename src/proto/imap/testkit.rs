//! Test helpers: run a transcript through the framer split at every point.
use super::framing::{Event, FrameLimits, Framer, Sender};
use super::lex::{Tok, attach_literal, tokenize_line};

pub const LIMITS: FrameLimits = FrameLimits {
    max_line: 8192,
    max_literal: 1 << 20,
    inline_literal: 64,
};

/// The tokens of every complete message, framed from `parts` in order (synchronising
/// literals accepted), literals with their data.
pub fn messages(sender: Sender, parts: &[&[u8]]) -> Vec<Vec<Tok>> {
    let mut f = Framer::new(sender, LIMITS);
    let mut done = Vec::new();
    let mut cur: Vec<Tok> = Vec::new();
    let mut big = Vec::new();
    for p in parts {
        f.push(p);
        loop {
            if f.awaiting_continuation() {
                f.continue_literal();
            }
            let Some(ev) = f.next_event().expect("framing") else {
                break;
            };
            match ev {
                Event::Line {
                    bytes, announce, ..
                } => {
                    tokenize_line(bytes, &mut cur);
                    if announce.is_none() {
                        done.push(std::mem::take(&mut cur));
                    }
                }
                Event::Literal { bytes } => attach_literal(&mut cur, bytes),
                Event::LiteralChunk { bytes, last } => {
                    big.extend_from_slice(bytes);
                    if last {
                        attach_literal(&mut cur, &std::mem::take(&mut big));
                    }
                }
                Event::LinePart { .. } => {}
                Event::Refused { .. } => cur.clear(),
            }
        }
    }
    done
}

/// Runs `check` on the messages of `input` fed whole, one byte at a time, and split in
/// two at every point; all runs must agree. Returns the messages.
pub fn every_split(sender: Sender, input: &[u8]) -> Vec<Vec<Tok>> {
    let whole = messages(sender, &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(messages(sender, &bytes), whole, "byte by byte");
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(messages(sender, &[a, b]), whole, "split at {i}");
    }
    whole
}
