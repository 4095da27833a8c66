//! Lenient, bounded decoders for every encoding a mail client may undo before a user
//! opens a file: base64 (junk ignored, padding restarts), quoted-printable, uuencode and
//! `begin-base64`, yEnc, BinHex 4.0, RFC 2047 encoded words and RFC 2231 parameters.
//!
//! Every decoder writes into a caller's buffer and stops at a caller's cap, so a hostile
//! input can never make one allocate more than the scan budget allows. They are written
//! here rather than taken from crates because scanning needs the lenient reading (what
//! the most forgiving client would decode) with a hard output cap, which the strict
//! decoders in the ecosystem do not offer.
pub mod base64;
pub mod binhex;
pub mod encoded_word;
pub mod qp;
pub mod uu;
pub mod yenc;

/// The output cap was reached; what was decoded so far is in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl std::fmt::Display for Truncated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decoded output reached its cap")
    }
}

/// Appends `bytes` unless that would pass `cap` total bytes in `out`.
#[inline]
pub(crate) fn push_capped(out: &mut Vec<u8>, bytes: &[u8], cap: usize) -> Result<(), Truncated> {
    if out.len() + bytes.len() > cap {
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&bytes[..room.min(bytes.len())]);
        return Err(Truncated);
    }
    out.extend_from_slice(bytes);
    Ok(())
}

/// Lines of `data` with their start offsets, without the line end (LF or CRLF).
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let start = pos;
        let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |e| pos + e);
        pos = end + 1;
        let line = &data[start..end];
        Some((start, line.strip_suffix(b"\r").unwrap_or(line)))
    })
}
