//! Decoded output too large for the heap: decoded a piece at a time into a spool that
//! keeps a threshold of bytes in memory and the rest in an unlinked file, which the scan
//! then reads through a watched mapping (see `crate::net::FileMap::watch`).
use std::cell::Cell;
use std::path::PathBuf;

use crate::message::decode::Truncated;
use crate::message::spool::Spool;

/// Where decoded bodies too large for the heap go: an unlinked file in `dir`, mapped.
#[derive(Debug, Clone)]
pub struct Spill {
    pub dir: PathBuf,
    /// Decoded bytes kept on the heap; a larger part goes to the file.
    pub mem_limit: usize,
}

/// Why decoding stopped short.
#[derive(Debug)]
pub enum Stop {
    /// The shared output budget ran out.
    Truncated,
    /// A large part could not be written to its spill file.
    Spill(std::io::Error),
}

impl From<Truncated> for Stop {
    fn from(_: Truncated) -> Self {
        Stop::Truncated
    }
}

/// Input bytes decoded (or rewritten, for the bare-CR reading) between two writes to a
/// spill file.
pub const PIECE: usize = 256 * 1024;

/// Decodes `body` a piece at a time (`cut` says how much of a piece may be decoded
/// alone; the rest is decoded with what follows). The output stays in the heap buffer it
/// is handed over in while it holds at most `spill.mem_limit` bytes; past that it goes
/// through a spool that keeps the rest in a file, written after every piece, so the heap
/// holds at most the threshold or one piece's output. Returns the output and how decoding
/// ended; only a failure to write the spill file is an error of its own.
pub fn decode_pieces(
    body: &[u8],
    remaining: &Cell<usize>,
    spill: &Spill,
    cut: impl Fn(&[u8]) -> usize,
    mut step: impl FnMut(&[u8], &mut Vec<u8>, usize) -> Result<(), Truncated>,
) -> Result<(Spool, Result<(), Stop>), Stop> {
    let mut spool: Option<Spool> = None;
    let mut out = Vec::with_capacity(body.len().min(spill.mem_limit));
    let mut ended = Ok(());
    let mut rest = body;
    while !rest.is_empty() {
        let piece = &rest[..rest.len().min(PIECE)];
        let n = cut(piece).clamp(1, piece.len());
        let before = out.len();
        let r = step(&rest[..n], &mut out, before + remaining.get());
        remaining.set(remaining.get() - (out.len() - before));
        if spool.is_none() && out.len() > spill.mem_limit {
            spool = Some(Spool::new(spill.mem_limit, &spill.dir));
        }
        if let Some(s) = &mut spool {
            s.write(&out).map_err(Stop::Spill)?;
            out.clear();
        }
        if r.is_err() {
            ended = Err(Stop::Truncated);
            break;
        }
        rest = &rest[n..];
    }
    let spool = spool.unwrap_or_else(|| Spool::holding(out, spill.mem_limit, &spill.dir));
    Ok((spool, ended))
}

/// How much of a quoted-printable piece decodes alone: up to its last line end, else up
/// to an `=` whose escape or soft break may go on in the next piece.
pub fn qp_cut(piece: &[u8]) -> usize {
    if let Some(nl) = memchr::memrchr(b'\n', piece) {
        return nl + 1;
    }
    match memchr::memrchr(b'=', piece) {
        Some(eq)
            if eq > 0
                && piece[eq + 1..]
                    .iter()
                    .all(|c| c.is_ascii_hexdigit() || *c == b' ' || *c == b'\t' || *c == b'\r') =>
        {
            eq
        }
        _ => piece.len(),
    }
}

/// `body` decoded as lenient base64 (see `decode::base64`). The inner result holds how
/// many junk characters were skipped, or why decoding stopped short.
pub fn base64(
    body: &[u8],
    remaining: &Cell<usize>,
    spill: &Spill,
) -> Result<(Spool, Result<usize, Stop>), Stop> {
    let mut d = crate::message::decode::base64::Decoder::new();
    let (mut out, r) = decode_pieces(
        body,
        remaining,
        spill,
        |p| p.len(),
        |p, o, cap| d.feed(p, o, cap),
    )?;
    if r.is_err() {
        return Ok((out, r.map(|()| d.junk)));
    }
    let mut tail = Vec::new();
    let r = d.finish(&mut tail, remaining.get());
    remaining.set(remaining.get() - tail.len());
    out.write(&tail).map_err(Stop::Spill)?;
    Ok((out, r.map(|()| d.junk).map_err(Stop::from)))
}

/// `body` decoded as lenient quoted-printable (see `decode::qp`). The inner result says
/// whether anything was decoded (an escape or a soft break), or why decoding stopped.
pub fn qp(
    body: &[u8],
    remaining: &Cell<usize>,
    spill: &Spill,
) -> Result<(Spool, Result<bool, Stop>), Stop> {
    let mut changed = false;
    let (out, r) = decode_pieces(body, remaining, spill, qp_cut, |p, o, cap| {
        changed |= crate::message::decode::qp::decode(p, o, cap)?;
        Ok(())
    })?;
    Ok((out, r.map(|()| changed)))
}
