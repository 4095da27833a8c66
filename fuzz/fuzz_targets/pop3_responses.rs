//! Whatever a server sends, the POP3 response decoder neither panics nor grows unbounded
//! lines, the command parser takes any client line, and a listing line (CAPA, LIST,
//! UIDL, AUTH, LANG) is either refused or re-emitted as one CRLF-ended line holding no
//! other line end and no control character that could end the listing early for a client.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::proto::pop3::codec::{Command, ResponseDecoder, Verb};
use portcullis::proto::pop3::listing::{self, Line};

const LISTINGS: [Verb; 5] = [Verb::Capa, Verb::List, Verb::Uidl, Verb::Auth, Verb::Lang];

fuzz_target!(|data: &[u8]| {
    let _ = Command::parse(data);
    let mut dec = ResponseDecoder::new(512);
    let (a, b) = data.split_at(data.len() / 2);
    let mut out = Vec::new();
    for part in [a, b] {
        dec.push(part);
        while let Ok(Some(l)) = dec.line() {
            assert!(l.len() <= 512);
            for verb in LISTINGS {
                for stls in [false, true] {
                    if let Ok(Line::Keep(kept)) = listing::check(verb, &l, stls) {
                        let body = kept.strip_suffix(b"\r\n").expect("kept lines end in CRLF");
                        assert!(!body.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0));
                        assert!(body != b".", "a kept line is never the end marker");
                    }
                }
            }
            let status = listing::clean_status(l.to_vec());
            assert!(status.ends_with(b"\r\n"));
            assert!(
                !status[..status.len() - 2]
                    .iter()
                    .any(|&c| c == b'\r' || c == b'\n')
            );
        }
        dec.block(&mut out);
    }
});
