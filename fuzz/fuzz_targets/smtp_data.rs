//! Whatever a client sends after DATA, what goes upstream (normalised and re-stuffed)
//! contains exactly one end-of-data sequence, at its end: no smuggled second message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::proto::dot::Stuffer;
use portcullis::proto::smtp::data::DataReader;

fuzz_target!(|data: &[u8]| {
    let mut r = DataReader::new(true);
    let mut msg = Vec::new();
    r.feed(data, |d| msg.extend_from_slice(d));
    let mut up = Vec::new();
    let mut s = Stuffer::default();
    s.feed(&msg, &mut up);
    s.finish(&mut up);
    let ends = up.windows(5).filter(|w| *w == b"\r\n.\r\n").count()
        + usize::from(up.starts_with(b".\r\n"));
    assert_eq!(ends, 1, "{up:?}");
    assert!(up.ends_with(b".\r\n"));
});
