//! zip, read as unzip and other extractors would: through the central directory (found
//! behind any prefix, ZIP64 aware) and by every local header in the data, so that neither a
//! prefix, nor size fields that lie, nor a member only one of the two structures lists can
//! hide a member. Deflate streams are inflated to their own end, whatever the sizes say.
//!
//! Written here rather than through the `zip` crate: that crate reads the whole central
//! directory before its entry count can be checked, trusts the size fields, and refuses a
//! member whose checksum does not match, which unzip still extracts.
use std::collections::HashSet;

use flate2::bufread::DeflateDecoder;
use memchr::memmem;

use super::{Problem, Walk, read_bounded};

const LOCAL: &[u8] = b"PK\x03\x04";
const CENTRAL: &[u8] = b"PK\x01\x02";
const END: &[u8] = b"PK\x05\x06";
const END64: &[u8] = b"PK\x06\x06";
const LOCATOR64: &[u8] = b"PK\x06\x07";
const DESCRIPTOR: &[u8] = b"PK\x07\x08";
/// How far from the end the end record may sit (its comment is at most 64 KiB).
const END_SEARCH: usize = 22 + 0xffff;
/// Local headers looked at to decide whether data holds a zip at some offset.
const PROBES: usize = 16;

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        d.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        d.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        d.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// One member as one of the two structures describes it.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    flags: u16,
    method: u16,
    data_start: usize,
    /// The compressed size, when the structure states one.
    csize: Option<u64>,
}

/// The central directory as the end record places it.
struct Directory {
    claimed: u64,
    start: usize,
    /// Where the archive really starts minus where it says it starts (a prefix).
    shift: i64,
}

pub(super) fn looks_like_zip(data: &[u8]) -> bool {
    if data.starts_with(LOCAL) || data.starts_with(END) || data.starts_with(DESCRIPTOR) {
        return true;
    }
    // Both readings below need a local header or an end record somewhere: one forward
    // pass for either rules out almost every part that is no zip.
    if !has_record(data) {
        return false;
    }
    directory(data).is_some()
        || memmem::find_iter(data, LOCAL)
            .take(PROBES)
            .any(|p| local_header(data, p).is_some())
}

/// Whether a local header or an end record signature appears anywhere in `data`.
fn has_record(data: &[u8]) -> bool {
    memmem::find_iter(data, b"PK").any(|p| {
        let tail = &data[p..];
        tail.starts_with(LOCAL) || tail.starts_with(END)
    })
}

pub(super) fn walk(w: &mut Walk, data: &[u8], depth: usize) {
    let mut entries = Vec::new();
    if let Some(dir) = directory(data) {
        if dir.claimed > w.limits.max_entries as u64 {
            w.problem(Problem::TooManyEntries {
                limit: w.limits.max_entries,
            });
            return;
        }
        central_entries(data, &dir, &mut entries);
    }
    let listed: HashSet<(usize, String)> = entries
        .iter()
        .map(|e| (e.data_start, e.name.clone()))
        .collect();
    for p in memmem::find_iter(data, LOCAL) {
        if let Some(e) = local_header(data, p)
            && !listed.contains(&(e.data_start, e.name.clone()))
        {
            entries.push(e);
        }
        if entries.len() > w.limits.max_entries {
            break;
        }
    }
    if entries.is_empty() && !data.starts_with(END) {
        w.problem(Problem::Broken {
            what: "zip without a readable member".into(),
        });
    }
    let marks = Marks::new(data);
    let mut decoded: HashSet<(usize, u16)> = HashSet::new();
    for e in &entries {
        if w.stop || !w.admit() {
            return;
        }
        let fresh = decoded.insert((e.data_start, e.method));
        if !fresh {
            // Same bytes read before under another name: check the name only.
            w.member(&e.name, &[], depth);
            continue;
        }
        member(w, data, &marks, e, depth);
    }
}

/// Where zip structures start, found in one pass (at most `MAX_MARKS` of them), so that
/// finding the end of each stored member costs a binary search, not a scan.
struct Marks(Vec<usize>);

const MAX_MARKS: usize = 64 * 1024;

impl Marks {
    fn new(data: &[u8]) -> Marks {
        let mut v = Vec::new();
        for p in memmem::find_iter(data, b"PK") {
            let sig = &data[p..data.len().min(p + 4)];
            if [LOCAL, CENTRAL, DESCRIPTOR, END].contains(&sig) {
                v.push(p);
                if v.len() == MAX_MARKS {
                    break;
                }
            }
        }
        Marks(v)
    }

    /// The first structure at or after `from`; past the last one known, the last known
    /// or the end.
    fn next(&self, from: usize, len: usize) -> usize {
        let i = self.0.partition_point(|&p| p < from);
        match self.0.get(i) {
            Some(&p) => p,
            None if self.0.len() == MAX_MARKS => from,
            None => len,
        }
    }
}

fn member(w: &mut Walk, data: &[u8], marks: &Marks, e: &Entry, depth: usize) {
    if e.flags & 1 != 0 || e.method == 99 {
        w.unopenable(format!("encrypted zip member {}", e.name));
        w.member(&e.name, &[], depth);
        return;
    }
    match e.method {
        0 => {
            for body in stored_readings(data, marks, e) {
                if !w.spend(body.len() as u64) {
                    return;
                }
                w.member(&e.name, body, depth);
            }
        }
        8 => {
            let input = &data[e.data_start.min(data.len())..];
            let mut dec = DeflateDecoder::new(input);
            let got = read_bounded(&mut dec, w.remaining().saturating_add(1));
            let consumed = (input.len() - dec.get_ref().len()) as u64;
            let ok = w.spend(got.data.len() as u64);
            w.check_ratio(got.data.len() as u64, consumed);
            if let Some(err) = &got.error {
                w.problem(Problem::Broken {
                    what: format!("zip member {}: {err}", e.name),
                });
            }
            if ok {
                w.member(&e.name, &got.data, depth);
            }
        }
        m => {
            w.unopenable(format!("zip member {} compressed with method {m}", e.name));
            w.member(&e.name, &[], depth);
        }
    }
}

/// A stored member's bytes as its size field says and up to the next zip structure: a
/// size that lies makes the two differ, and both are read.
fn stored_readings<'d>(data: &'d [u8], marks: &Marks, e: &Entry) -> Vec<&'d [u8]> {
    let start = e.data_start.min(data.len());
    let rest = &data[start..];
    let to_next = marks.next(start, data.len()) - start;
    let declared = e.csize.and_then(|c| usize::try_from(c).ok());
    let mut out = Vec::new();
    if to_next > 0 || declared.is_none() {
        out.push(&rest[..to_next]);
    }
    if let Some(c) = declared
        && c != to_next
        && c > 0
    {
        out.push(&rest[..c.min(rest.len())]);
    }
    out
}

/// Finds the end record in the last 64 KiB and the central directory it points at.
fn directory(data: &[u8]) -> Option<Directory> {
    let floor = data.len().saturating_sub(END_SEARCH);
    let mut end = data.len();
    for _ in 0..PROBES {
        let p = floor + memmem::rfind(&data[floor..end], END)?;
        if let Some(d) = directory_at(data, p) {
            return Some(d);
        }
        end = p + END.len() - 1;
    }
    None
}

fn directory_at(data: &[u8], p: usize) -> Option<Directory> {
    let mut claimed = u64::from(u16_at(data, p + 10)?);
    let mut size = u64::from(u32_at(data, p + 12)?);
    let mut offset = u64::from(u32_at(data, p + 16)?);
    let mut record = p;
    let zip64 = claimed == 0xffff || size == 0xffff_ffff || offset == 0xffff_ffff;
    if zip64 && p >= 20 && data[p - 20..].starts_with(LOCATOR64) {
        let at = zip64_record(data, p - 20)?;
        claimed = u64_at(data, at + 32)?;
        size = u64_at(data, at + 40)?;
        offset = u64_at(data, at + 48)?;
        record = at;
    }
    let by_size = (record as u64).checked_sub(size);
    for start in [Some(offset), by_size].into_iter().flatten() {
        let Ok(s) = usize::try_from(start) else {
            continue;
        };
        let fits = s <= record;
        if fits && (data[s..].starts_with(CENTRAL) || (claimed == 0 && size == 0)) {
            let shift = i64::try_from(s).ok()? - i64::try_from(offset).ok()?;
            return Some(Directory {
                claimed,
                start: s,
                shift,
            });
        }
    }
    None
}

/// The ZIP64 end record: where the locator says, or right before the locator.
fn zip64_record(data: &[u8], locator: usize) -> Option<usize> {
    let declared = usize::try_from(u64_at(data, locator + 8)?).ok()?;
    if data.get(declared..)?.starts_with(END64) {
        return Some(declared);
    }
    let before = locator.checked_sub(56)?;
    data[before..].starts_with(END64).then_some(before)
}

fn central_entries(data: &[u8], dir: &Directory, out: &mut Vec<Entry>) {
    let mut at = dir.start;
    for _ in 0..dir.claimed {
        let Some(e) = central_entry(data, at, dir.shift) else {
            return;
        };
        at = e.1;
        out.extend(e.0);
    }
}

/// One central record: the member it points at (if its local header is there) and where
/// the next record starts.
fn central_entry(data: &[u8], at: usize, shift: i64) -> Option<(Option<Entry>, usize)> {
    if !data.get(at..)?.starts_with(CENTRAL) {
        return None;
    }
    let flags = u16_at(data, at + 8)?;
    let method = u16_at(data, at + 10)?;
    let csize = u32_at(data, at + 20)?;
    let usize_ = u32_at(data, at + 24)?;
    let nlen = usize::from(u16_at(data, at + 28)?);
    let xlen = usize::from(u16_at(data, at + 30)?);
    let clen = usize::from(u16_at(data, at + 32)?);
    let lho = u32_at(data, at + 42)?;
    let name = data.get(at + 46..at + 46 + nlen)?;
    let extra = data
        .get(at + 46 + nlen..at + 46 + nlen + xlen)
        .unwrap_or(&[]);
    let next = at + 46 + nlen + xlen + clen;
    let big = zip64_fields(extra, &[usize_, csize, lho]);
    let csize = if csize == 0xffff_ffff {
        big[1]
    } else {
        Some(u64::from(csize))
    };
    let lho = if lho == 0xffff_ffff {
        big[2]
    } else {
        Some(u64::from(lho))
    };
    let local = lho.and_then(|o| {
        let shifted = i64::try_from(o).ok()?.checked_add(shift)?;
        [usize::try_from(shifted).ok(), usize::try_from(o).ok()]
            .into_iter()
            .flatten()
            .find_map(|p| local_header(data, p))
    });
    let entry = local.map(|l| Entry {
        name: String::from_utf8_lossy(name).into_owned(),
        flags,
        method,
        data_start: l.data_start,
        csize: csize.filter(|c| *c > 0 || flags & 8 == 0),
    });
    Some((entry, next))
}

/// A local header at `p` that looks real: its fields are in range and its name is there.
fn local_header(data: &[u8], p: usize) -> Option<Entry> {
    if !data.get(p..)?.starts_with(LOCAL) {
        return None;
    }
    let version = u16_at(data, p + 4)?;
    let flags = u16_at(data, p + 6)?;
    let method = u16_at(data, p + 8)?;
    let csize = u32_at(data, p + 18)?;
    let usize_ = u32_at(data, p + 22)?;
    let nlen = usize::from(u16_at(data, p + 26)?);
    let xlen = usize::from(u16_at(data, p + 28)?);
    if version > 100 || method > 99 || nlen == 0 || nlen > 4096 {
        return None;
    }
    let name = data.get(p + 30..p + 30 + nlen)?;
    let extra = data.get(p + 30 + nlen..p + 30 + nlen + xlen).unwrap_or(&[]);
    let big = zip64_fields(extra, &[usize_, csize]);
    let csize = if csize == 0xffff_ffff {
        big[1]
    } else {
        Some(u64::from(csize))
    };
    Some(Entry {
        name: String::from_utf8_lossy(name).into_owned(),
        flags,
        method,
        data_start: (p + 30 + nlen + xlen).min(data.len()),
        csize: csize.filter(|c| *c > 0 || flags & 8 == 0),
    })
}

/// The ZIP64 extra field's values for those of `small` that are 0xffffffff, in order.
fn zip64_fields(extra: &[u8], small: &[u32]) -> [Option<u64>; 3] {
    let mut out = [None; 3];
    let mut at = 0;
    while let (Some(id), Some(len)) = (u16_at(extra, at), u16_at(extra, at + 2)) {
        let body = extra.get(at + 4..at + 4 + usize::from(len)).unwrap_or(&[]);
        if id == 1 {
            let mut k = 0;
            for (i, v) in small.iter().enumerate() {
                if *v == 0xffff_ffff {
                    out[i] = u64_at(body, k);
                    k += 8;
                }
            }
            break;
        }
        at += 4 + usize::from(len);
    }
    out
}
