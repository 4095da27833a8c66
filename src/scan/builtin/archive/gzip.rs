//! gzip through flate2, member after member as gunzip reads them; bytes after the last
//! member are ignored, as gunzip does.
use flate2::bufread::GzDecoder;

use super::{Problem, Walk, read_bounded};

pub(super) fn walk(w: &mut Walk, data: &[u8], depth: usize) {
    let mut rest = data;
    let mut first = true;
    while rest.starts_with(b"\x1f\x8b") && !w.stop {
        if !first && !w.admit() {
            return;
        }
        first = false;
        let before = rest.len();
        let mut dec = GzDecoder::new(rest);
        let got = read_bounded(&mut dec, w.remaining().saturating_add(1));
        let name = dec
            .header()
            .and_then(|h| h.filename())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        rest = dec.into_inner();
        let consumed = (before - rest.len()) as u64;
        let ok = w.spend(got.data.len() as u64);
        w.check_ratio(got.data.len() as u64, consumed);
        if let Some(e) = &got.error {
            w.problem(Problem::Broken {
                what: format!("gzip: {e}"),
            });
        }
        w.member(&name, &got.data, depth);
        if !ok || got.over || got.error.is_some() {
            return;
        }
    }
}
