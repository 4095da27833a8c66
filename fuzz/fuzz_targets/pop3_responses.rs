//! Whatever a server sends, the POP3 response decoder neither panics nor grows unbounded
//! lines, and the command parser takes any client line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::proto::pop3::codec::{Command, ResponseDecoder};

fuzz_target!(|data: &[u8]| {
    let _ = Command::parse(data);
    let mut dec = ResponseDecoder::new(512);
    let (a, b) = data.split_at(data.len() / 2);
    let mut out = Vec::new();
    for part in [a, b] {
        dec.push(part);
        while let Ok(Some(l)) = dec.line() {
            assert!(l.len() <= 512);
        }
        dec.block(&mut out);
    }
});
