//! The readings that do not depend on a MIME parser agreeing with the sender: the raw
//! bytes, the loose MIME reading (every boundary, forgiving headers, every name), and
//! every encoded run wherever it appears. Decoded text is read the same way again, to
//! a bounded depth, so an .eml attached as base64 or a uuencoded block inside a
//! base64 attachment is opened like a client would open it.
use std::cell::Cell;
use std::ops::Range;

use super::{BuiltinEngine, Findings};
use crate::message::decode::encoded_word::percent_decode;
use crate::message::loose::{self, Encoding, Part};
use crate::message::mime::{self, PartView};
use crate::message::precheck;
use crate::message::runs;
use crate::message::spill::{PIECE, Stop};
use crate::message::spool::Spool;

/// Messages from this size have their raw patterns matched beside the other readings.
pub(super) const PARALLEL_RAW_BYTES: usize = 4 << 20;

/// Cores this process may run on (read once).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl BuiltinEngine {
    /// Scans `data` and every reading of it: the raw bytes, at the top mail-parser's
    /// reading, the loose reading, and the encoded runs.
    pub(super) fn inspect(&self, data: &[u8], depth: usize, f: &mut Findings, budget: &mut u64) {
        if depth == 0
            && data.len() >= PARALLEL_RAW_BYTES
            && cores() > 1
            && self.beside(data, f, budget)
        {
            return;
        }
        self.check_data(data, f);
        if f.infected.is_some() || (depth > 0 && !textual(data)) {
            return;
        }
        if depth > self.cfg.max_depth + 1 {
            f.unscannable.get_or_insert_with(|| {
                format!("encodings nested deeper than {}", self.cfg.max_depth)
            });
            return;
        }
        self.readings(data, depth, f, budget);
    }

    /// The raw patterns on a thread of their own while this one does the readings, for a
    /// large message: the client waits for the verdict after the last byte came in, and a
    /// router has a second core. The raw match decides as it does alone (a virus name
    /// from the raw bytes comes first). `false` when no thread could be started.
    fn beside(&self, data: &[u8], f: &mut Findings, budget: &mut u64) -> bool {
        std::thread::scope(|s| {
            let raw = std::thread::Builder::new()
                .name("scan-raw".into())
                .spawn_scoped(s, || {
                    let mut raw = Findings::default();
                    self.check_data(data, &mut raw);
                    raw
                });
            let Ok(raw) = raw else {
                return false;
            };
            self.readings(data, 0, f, budget);
            let raw = raw.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            if raw.infected.is_some() {
                f.infected = raw.infected;
            }
            f.spam |= raw.spam;
            true
        })
    }

    /// Every reading but the raw patterns.
    fn readings(&self, data: &[u8], depth: usize, f: &mut Findings, budget: &mut u64) {
        let mut exact = if depth == 0 && !mime::is_plain_single_part(data) {
            // The parser decodes every part before any limit applies: its input is
            // checked cheaply first (part delimiters, header bytes, nesting). Past
            // `max_parser_bytes` only the limits apply: the parser holds every decoded
            // part at once, and the readings below read every part without it.
            match precheck::check(data, self.precheck_limits()) {
                Ok(()) if data.len() <= self.cfg.max_parser_bytes => {
                    self.walk_reading(data, f, budget)
                }
                Ok(()) => Vec::new(),
                Err(p) => {
                    f.unscannable.get_or_insert_with(|| p.to_string());
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        exact.sort_by_key(|r| r.start);
        let exact = merge(exact);
        if f.infected.is_some() {
            return;
        }
        let decoded = self.loose_reading(data, &exact, depth, f, budget);
        if f.infected.is_none() {
            self.run_reading(data, &decoded, depth, f, budget);
        }
        if f.infected.is_none() && has_bare_cr(data) {
            self.bare_cr_reading(data, depth, f, budget);
        }
    }

    /// Some clients end lines at a bare CR too: read the message again with every bare
    /// CR as a line end (no bare CR is left, so this happens once).
    fn bare_cr_reading(&self, data: &[u8], depth: usize, f: &mut Findings, budget: &mut u64) {
        if *budget < data.len() as u64 {
            self.too_much(f);
            return;
        }
        *budget -= data.len() as u64;
        let mut copy = Spool::new(self.spill.mem_limit, &self.spill.dir);
        match bare_cr_as_lf(data, &mut copy).and_then(|()| copy.to_bytes()) {
            Ok(held) => held.watch(|bytes| self.inspect(bytes, depth, f, budget)),
            Err(e) => {
                f.failed
                    .get_or_insert_with(|| format!("bare-CR reading not spilled: {e}"));
            }
        }
    }

    /// The loose MIME reading. Returns the body ranges decoded as pure base64 or as
    /// quoted-printable (no line-by-line reading needed there). Bodies the parser
    /// already decoded as exact base64 (`exact`) are not decoded again.
    fn loose_reading(
        &self,
        data: &[u8],
        exact: &[Range<usize>],
        depth: usize,
        f: &mut Findings,
        budget: &mut u64,
    ) -> Vec<Range<usize>> {
        let mut decoded = Vec::new();
        let remaining = Cell::new(to_usize(*budget));
        let mut truncated = false;
        let read = loose::read(
            data,
            exact,
            self.cfg.max_parts,
            self.cfg.max_depth,
            &mime::charset_text,
            &mut |part: &Part| {
                let span = part.body_at..part.body_at + part.body.len();
                self.check_names(part.names.iter().map(|n| n.as_str()), f);
                for w in &part.words {
                    if f.infected.is_none() {
                        self.check_data(w.as_bytes(), f);
                    }
                }
                if part.types.iter().any(|t| t == "message/partial") {
                    self.partial(f);
                }
                let ctype = part.types.first().map_or("text/plain", |t| t.as_str());
                if f.infected.is_none() && part.encoding != Encoding::Base64 {
                    *budget = remaining.get() as u64;
                    self.check_part(&view(part, ctype, part.body, depth, false), f, budget);
                    remaining.set(to_usize(*budget));
                }
                if f.infected.is_some() || part.encoding == Encoding::Identity {
                    return f.infected.is_none();
                }
                if part.encoding == Encoding::Base64 && same_body(data, &span, exact) {
                    decoded.push(span);
                    return true;
                }
                let r = loose::decode(part, &remaining, &self.spill, &mut |d| {
                    if d.pure || part.encoding == Encoding::QuotedPrintable {
                        decoded.push(span.clone());
                    }
                    *budget = remaining.get() as u64;
                    d.data.watch(|bytes| {
                        self.check_part(&view(part, ctype, bytes, depth, true), f, budget)
                    });
                    remaining.set(to_usize(*budget));
                    f.infected.is_none()
                });
                match r {
                    Ok(()) => {}
                    Err(Stop::Truncated) => truncated = true,
                    Err(Stop::Spill(e)) => {
                        f.failed
                            .get_or_insert_with(|| format!("decoded part not spilled: {e}"));
                    }
                }
                f.infected.is_none() && f.failed.is_none() && !truncated
            },
        );
        *budget = remaining.get() as u64;
        if truncated {
            self.too_much(f);
        }
        if let Err(problem) = read {
            f.unscannable.get_or_insert_with(|| problem.to_string());
        }
        decoded.sort_by_key(|r| r.start);
        merge(decoded)
    }

    /// Every encoded run outside the ranges already decoded.
    fn run_reading(
        &self,
        data: &[u8],
        skip: &[Range<usize>],
        depth: usize,
        f: &mut Findings,
        budget: &mut u64,
    ) {
        let remaining = Cell::new(to_usize(*budget));
        let r = runs::find(
            data,
            skip,
            &remaining,
            &self.spill,
            &mut |run: runs::Run| {
                let names: Vec<String> = run.name.into_iter().collect();
                // An unnamed run is an executable only if it starts like a binary one.
                let content_type = if names.is_empty() {
                    "text/plain"
                } else {
                    "application/octet-stream"
                };
                *budget = remaining.get() as u64;
                self.check_part(
                    &PartView {
                        content_type,
                        data: run.data,
                        depth,
                        names,
                        decoded: true,
                        ..PartView::default()
                    },
                    f,
                    budget,
                );
                remaining.set(to_usize(*budget));
                f.infected.is_none()
            },
        );
        *budget = remaining.get() as u64;
        match r {
            Ok(()) => {}
            Err(Stop::Truncated) => self.too_much(f),
            Err(Stop::Spill(e)) => {
                f.failed
                    .get_or_insert_with(|| format!("decoded run not spilled: {e}"));
            }
        }
    }

    fn too_much(&self, f: &mut Findings) {
        f.unscannable.get_or_insert_with(|| {
            format!("more than {} decoded bytes", self.cfg.max_decoded_bytes)
        });
    }
}

fn view<'a>(
    part: &Part,
    ctype: &'a str,
    data: &'a [u8],
    depth: usize,
    decoded: bool,
) -> PartView<'a> {
    PartView {
        name: None,
        content_type: ctype,
        data,
        depth,
        names: part.names.clone(),
        decoded,
        ..PartView::default()
    }
}

/// Whether one of the parser's exact spans is this body (ends may differ by blanks).
fn same_body(data: &[u8], span: &Range<usize>, exact: &[Range<usize>]) -> bool {
    exact.iter().any(|e| {
        let (lo, hi) = (e.end.min(span.end), e.end.max(span.end).min(data.len()));
        e.start == span.start && lo <= hi && data[lo..hi].iter().all(|c| c.is_ascii_whitespace())
    })
}

/// `data` with every bare CR turned into LF, written to `copy` a piece at a time.
fn bare_cr_as_lf(data: &[u8], copy: &mut Spool) -> std::io::Result<()> {
    let mut piece = Vec::new();
    for (n, chunk) in data.chunks(PIECE).enumerate() {
        piece.clear();
        piece.extend_from_slice(chunk);
        for i in memchr::memchr_iter(b'\r', chunk) {
            if data.get(n * PIECE + i + 1) != Some(&b'\n') {
                piece[i] = b'\n';
            }
        }
        copy.write(&piece)?;
    }
    Ok(())
}

/// Whether a CR that is not followed by LF appears. CRLF text has a CR on every line, so
/// rather than stop at each one the pairs are compared in branch-free blocks.
fn has_bare_cr(data: &[u8]) -> bool {
    const BLOCK: usize = 4096;
    if data.last() == Some(&b'\r') {
        return true;
    }
    let pairs = data.len().saturating_sub(1);
    (0..pairs).step_by(BLOCK).any(|s| {
        let e = (s + BLOCK).min(pairs);
        data[s..e]
            .iter()
            .zip(&data[s + 1..e + 1])
            .fold(0u8, |acc, (&a, &b)| {
                acc | ((a == b'\r') & (b != b'\n')) as u8
            })
            != 0
    })
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn merge(sorted: Vec<Range<usize>>) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Whether decoded bytes could hold text a client reads again (a message, an encoded
/// block): hardly any control bytes near the start (binary data has one in eight,
/// UTF-16 text one in two).
fn textual(data: &[u8]) -> bool {
    let head = &data[..data.len().min(4096)];
    let controls = head
        .iter()
        .filter(|&&c| c < 0x20 && !matches!(c, b'\t' | b'\r' | b'\n' | 0x0c | 0x1b))
        .count();
    !head.is_empty() && controls * 100 <= head.len()
}

/// A file name as every client might read it: as given, without control and format
/// characters (right-to-left overrides), cut at a NUL, trailing dots and spaces gone.
pub(super) fn name_variants(name: &str) -> impl Iterator<Item = String> + '_ {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control() && !is_format_char(*c))
        .collect();
    let before_nul = name.split('\0').next().unwrap_or(name).to_string();
    let unquoted = cleaned.trim().trim_matches(['"', '\'']).to_string();
    let unescaped = String::from_utf8_lossy(&percent_decode(&unquoted)).into_owned();
    [name.to_string(), cleaned, before_nul, unquoted, unescaped].into_iter()
}

fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::has_bare_cr;

    #[test]
    fn bare_cr_is_found_anywhere_even_across_blocks() {
        let mut crlf = b"line\r\n".repeat(2000);
        assert!(!has_bare_cr(&crlf));
        assert!(!has_bare_cr(b""));
        assert!(has_bare_cr(b"\r"));
        for at in [0, 4095, 4096, 4097, 8191, crlf.len() - 1] {
            let mut m = crlf.clone();
            m.insert(at, b'\r');
            // Inserted before an LF it would make a CRCRLF: still one bare CR.
            assert!(has_bare_cr(&m), "bare CR at {at}");
        }
        crlf.push(b'\r');
        assert!(has_bare_cr(&crlf));
    }
}
