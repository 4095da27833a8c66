//! Looks inside the containers a recipient could open: zip (also prefixed, with lying
//! size fields, data descriptors or ZIP64), gzip, tar and any nesting of them. Containers
//! that cannot be opened here (7z, rar, cab, encrypted members, ...) are recognised by their
//! magic bytes and reported, never silently taken as clean.
//!
//! Every member is handed to a visitor, one at a time; limits on entries, decoded bytes,
//! compression ratio and nesting are applied before and while members are decoded.
mod gzip;
mod magic;
mod scan;
mod tar;
mod zip;

use std::io::Read;

pub use magic::{Container, detect};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Containers within containers; the outermost is depth 1.
    pub max_depth: usize,
    /// Members over the whole nest of containers.
    pub max_entries: usize,
    /// Bytes decoded out of the whole nest.
    pub max_bytes: u64,
    /// Decoded bytes per compressed byte, for members larger than [`RATIO_FLOOR`].
    pub max_ratio: u64,
}

/// Members smaller than this are never held to the ratio limit: small files of zeros
/// compress a thousandfold and are harmless.
pub const RATIO_FLOOR: u64 = 1024 * 1024;

/// Why an archive was not read completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    TooDeep {
        limit: usize,
    },
    TooManyEntries {
        limit: usize,
    },
    TooLarge {
        limit: u64,
    },
    Ratio {
        limit: u64,
    },
    /// The structure is broken where a reader would still extract something.
    Broken {
        what: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::TooDeep { limit } => write!(f, "archives nested deeper than {limit}"),
            Problem::TooManyEntries { limit } => {
                write!(f, "archive with more than {limit} entries")
            }
            Problem::TooLarge { limit } => write!(f, "archive expands to more than {limit} bytes"),
            Problem::Ratio { limit } => {
                write!(f, "archive member compressed more than {limit} to 1")
            }
            Problem::Broken { what } => write!(f, "broken archive: {what}"),
        }
    }
}

/// One member: its name inside the container and its decoded bytes (empty when it could
/// not be decoded, so its name is still checked).
#[derive(Debug)]
pub struct Member<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
}

/// What a walk saw besides the members it handed over.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub bytes: u64,
    pub problem: Option<Problem>,
    /// A container or member that cannot be opened here (format, method or encryption).
    pub unopenable: Option<String>,
}

/// Walks a container that [`detect`] recognised, and every container inside it.
pub fn walk(
    kind: Container,
    data: &[u8],
    limits: Limits,
    visit: &mut dyn FnMut(&Member) -> bool,
) -> Report {
    let mut w = Walk {
        limits,
        entries: 0,
        report: Report::default(),
        stop: false,
        visit,
    };
    w.container(kind, data, 1);
    w.report
}

pub(super) struct Walk<'v> {
    limits: Limits,
    entries: usize,
    report: Report,
    /// A verdict was found or a limit was hit: read nothing more.
    stop: bool,
    visit: &'v mut dyn FnMut(&Member) -> bool,
}

impl Walk<'_> {
    fn container(&mut self, kind: Container, data: &[u8], depth: usize) {
        if depth > self.limits.max_depth {
            self.problem(Problem::TooDeep {
                limit: self.limits.max_depth,
            });
            return;
        }
        match kind {
            Container::Zip => zip::walk(self, data, depth),
            Container::Gzip => gzip::walk(self, data, depth),
            Container::Tar => tar::walk(self, data, depth),
            Container::Opaque(what) => self.unopenable(format!("{what} archive")),
        }
    }

    /// Hands one member over, then opens it if it is itself a container.
    fn member(&mut self, name: &str, data: &[u8], depth: usize) {
        if self.stop {
            return;
        }
        if !(self.visit)(&Member { name, data }) {
            self.stop = true;
            return;
        }
        if let Some(kind) = detect(data) {
            self.container(kind, data, depth + 1);
        }
    }

    /// Counts one more member; false (and stop) past the entry limit.
    fn admit(&mut self) -> bool {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            self.problem(Problem::TooManyEntries {
                limit: self.limits.max_entries,
            });
        }
        !self.stop
    }

    /// Counts decoded bytes against the budget; false (and stop) past it.
    fn spend(&mut self, n: u64) -> bool {
        self.report.bytes = self.report.bytes.saturating_add(n);
        if self.report.bytes > self.limits.max_bytes {
            self.problem(Problem::TooLarge {
                limit: self.limits.max_bytes,
            });
        }
        !self.stop
    }

    fn remaining(&self) -> u64 {
        self.limits.max_bytes.saturating_sub(self.report.bytes)
    }

    fn check_ratio(&mut self, decoded: u64, compressed: u64) {
        if decoded > RATIO_FLOOR && decoded / compressed.max(1) > self.limits.max_ratio {
            self.problem(Problem::Ratio {
                limit: self.limits.max_ratio,
            });
        }
    }

    fn problem(&mut self, p: Problem) {
        let limit_hit = !matches!(p, Problem::Broken { .. });
        self.report.problem.get_or_insert(p);
        if limit_hit {
            self.stop = true;
        }
    }

    fn unopenable(&mut self, what: String) {
        self.report.unopenable.get_or_insert(what);
    }
}

/// Bytes read from a decoder, at most `limit`, and how the reading ended.
struct Decoded {
    data: Vec<u8>,
    error: Option<String>,
    /// More than `limit` bytes were there.
    over: bool,
}

/// Reads in 64 KiB steps, growing the buffer at most to `limit`: a declared size is never
/// trusted for an allocation.
fn read_bounded(r: &mut impl Read, limit: u64) -> Decoded {
    const STEP: usize = 64 * 1024;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut data: Vec<u8> = Vec::new();
    let mut chunk = [0u8; STEP];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Decoded {
                    data,
                    error: Some(e.to_string()),
                    over: false,
                };
            }
        };
        if data.len() + n > limit {
            let keep = limit - data.len();
            data.extend_from_slice(&chunk[..keep]);
            return Decoded {
                data,
                error: None,
                over: true,
            };
        }
        if data.capacity() - data.len() < n {
            let grow = data.len().max(STEP).min(limit - data.len());
            data.reserve_exact(grow.max(n));
        }
        data.extend_from_slice(&chunk[..n]);
    }
    Decoded {
        data,
        error: None,
        over: false,
    }
}

#[cfg(test)]
mod tests;
