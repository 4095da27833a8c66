//! The lenient decoders and the loose readings: any input, bounded output, no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::message::decode::{self, Truncated, binhex, uu, yenc};
use portcullis::message::{header, loose, runs};
use std::cell::Cell;

/// `data` in pieces of at most `k` bytes, each cut after its last line end when `lines`.
fn pieces(data: &[u8], k: usize, lines: bool) -> Vec<&[u8]> {
    let mut v = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let p = &rest[..rest.len().min(k)];
        let n = if lines { decode::line_cut(p) } else { p.len() };
        v.push(&rest[..n]);
        rest = &rest[n..];
    }
    v
}

/// Decoded in one go and a piece at a time: the same bytes.
fn same_in_pieces<D: Default>(
    data: &[u8],
    parts: &[&[u8]],
    cap: usize,
    feed: fn(&mut D, &[u8], &mut Vec<u8>, usize) -> Result<(), Truncated>,
) {
    let mut whole = Vec::new();
    let _ = feed(&mut D::default(), data, &mut whole, cap);
    let mut d = D::default();
    let mut out = Vec::new();
    for p in parts {
        let _ = feed(&mut d, p, &mut out, cap);
    }
    assert_eq!(whole, out);
}

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
    // The block decoders read the same fed in pieces: BinHex cut anywhere, uuencode and
    // yEnc after line ends whenever every line fits in a piece.
    let k = 1 + data.first().map_or(0, |&b| b as usize % 64);
    same_in_pieces(data, &pieces(data, k, false), cap, binhex::Decoder::feed);
    if data.split(|&c| c == b'\n').all(|l| l.len() < k) {
        let parts = pieces(data, k, true);
        same_in_pieces(data, &parts, cap, uu::Decoder::feed);
        same_in_pieces(data, &parts, cap, yenc::Decoder::feed);
    }
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
