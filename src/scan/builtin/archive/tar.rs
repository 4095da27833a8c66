//! tar through the `tar` crate; members are slices of the archive, never copies.
use super::{Problem, Walk};

/// A ustar/GNU magic, or an old-style header whose checksum holds.
pub(super) fn looks_like_tar(data: &[u8]) -> bool {
    let Some(h) = data.get(..512) else {
        return false;
    };
    if h[257..].starts_with(b"ustar") {
        return true;
    }
    if h[0] == 0 {
        return false;
    }
    let field = &h[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|c| *c == b' ')
        .take_while(|c| (b'0'..=b'7').contains(c))
        .collect();
    if digits.is_empty() {
        return false;
    }
    let stored = u32::from_str_radix(std::str::from_utf8(&digits).unwrap_or("x"), 8).ok();
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    stored == Some(sum)
}

pub(super) fn walk(w: &mut Walk, data: &[u8], depth: usize) {
    let mut archive = tar::Archive::new(data);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            w.problem(Problem::Broken {
                what: format!("tar: {e}"),
            });
            return;
        }
    };
    for entry in entries {
        if w.stop {
            return;
        }
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                w.problem(Problem::Broken {
                    what: format!("tar: {e}"),
                });
                return;
            }
        };
        if !w.admit() {
            return;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let start = usize::try_from(entry.raw_file_position()).unwrap_or(usize::MAX);
        let size = usize::try_from(entry.size()).unwrap_or(usize::MAX);
        let end = start.saturating_add(size).min(data.len());
        let body = data.get(start..end).unwrap_or(&[]);
        if body.len() < size {
            w.problem(Problem::Broken {
                what: format!("tar member {name} is cut short"),
            });
        }
        if !w.spend(body.len() as u64) {
            return;
        }
        w.member(&name, body, depth);
    }
}
