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

/// The line of `data` that starts at `pos`: its start, the line without its end (LF or
/// CRLF), and where the next line starts.
pub(crate) fn line_at(data: &[u8], pos: usize) -> Option<(usize, &[u8], usize)> {
    if pos >= data.len() {
        return None;
    }
    let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |e| pos + e);
    let line = &data[pos..end];
    Some((pos, line.strip_suffix(b"\r").unwrap_or(line), end + 1))
}

/// Lines of `data` with their start offsets, without the line end (LF or CRLF).
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let (start, line, next) = line_at(data, pos)?;
        pos = next;
        Some((start, line))
    })
}

/// How much of a piece of a line-based body decodes alone: up to its last line end (a
/// line is split between pieces only when it is longer than a piece).
pub fn line_cut(piece: &[u8]) -> usize {
    memchr::memrchr(b'\n', piece).map_or(piece.len(), |nl| nl + 1)
}

/// A line-based body fed a piece at a time: hands each line (or part of a line) to a
/// decoder with whether it goes on from the previous piece, so a decoder reads exactly
/// the lines it would read in one go.
#[derive(Debug, Default)]
pub(crate) struct LineFeed {
    mid_line: bool,
}

impl LineFeed {
    pub(crate) fn each(
        &mut self,
        piece: &[u8],
        mut line: impl FnMut(&[u8], bool, bool) -> Result<(), Truncated>,
    ) -> Result<(), Truncated> {
        let mut pos = 0;
        while let Some((_, l, next)) = line_at(piece, pos) {
            let ends = next <= piece.len();
            line(l, self.mid_line, ends)?;
            self.mid_line = !ends;
            pos = next;
        }
        Ok(())
    }
}
