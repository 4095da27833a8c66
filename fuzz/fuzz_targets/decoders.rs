//! The lenient decoders and the loose readings: any input, bounded output, no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::message::{decode, header, loose, runs};
use std::cell::Cell;

fuzz_target!(|data: &[u8]| {
    let cap = 4 * data.len() + 64;
    let mut out = Vec::new();
    let _ = decode::base64::decode(data, &mut out, cap);
    assert!(out.len() <= cap);
    out.clear();
    let _ = decode::qp::decode(data, &mut out, cap);
    assert!(out.len() <= cap);
    // Decoded parts and runs over 64 bytes go through a spill file, as large ones do in
    // the proxy.
    let spill = portcullis::message::spill::Spill {
        dir: std::env::temp_dir(),
        mem_limit: 64,
    };
    let budget = Cell::new(cap);
    let _ = runs::find(data, &[], &budget, &spill, &mut |r| {
        assert!(r.data.len() <= cap);
        true
    });
    let _ = header::parse_block(data);
    let text = String::from_utf8_lossy(data);
    let _ = decode::encoded_word::decode_words(&text, &|_: &str, b: &[u8]| {
        Some(String::from_utf8_lossy(b).into_owned())
    });
    let _ = loose::read(data, &[], 100, 5, &|_: &str, _: &[u8]| None, &mut |p| {
        let budget = Cell::new(cap);
        let _ = loose::decode(p, &budget, &spill, &mut |d| {
            assert!(d.data.len() <= cap);
            true
        });
        true
    });
});
