//! The token database file, and its read-only view.
//!
//! Own format, because a message's tokens are looked up thousands of times per second by
//! every session while `portcullis train` may be rewriting the database: an immutable,
//! sorted, memory-mapped table answers a lookup with one or two cache misses, costs no
//! anonymous memory however large the database is (the page cache holds it, shared by
//! all sessions), needs no locking by readers, and is replaced whole by the writer with
//! write-to-temporary, fsync, rename, fsync of the directory. A crash at any point leaves
//! either the old or the new file, never a torn one. An embedded store (redb, sled,
//! LMDB) would add pages, a free list and a lock to do the same.
//!
//! Layout, little-endian: a 64-byte header; a bucket index of 65,537 u32 (entry `b` is
//! the position of the first token whose hash's top 16 bits are >= `b`, so a lookup reads
//! one index entry and a bucket of a few tokens); `tokens` entries of 20 bytes sorted by
//! hash (hash u64, spam u32, ham u32, last-learned u32); `seen` entries of 24 bytes sorted
//! by digest (digest [u8; 16], sequence u32, class u8, 3 zero bytes). The header carries
//! a CRC-32 of everything after it.
use std::fs::File;
use std::io;
use std::path::Path;

use memmap2::Mmap;

pub const MAGIC: &[u8; 8] = b"PCBAYES1";
pub const HEADER_BYTES: usize = 64;
pub const TOKEN_BYTES: usize = 20;
const BUCKET_BITS: u32 = 16;
const BUCKETS: usize = 1 << BUCKET_BITS;
/// Where the token table starts, after the header and the bucket index.
const TABLE_AT: usize = HEADER_BYTES + (BUCKETS + 1) * 4;
pub const SEEN_BYTES: usize = 24;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header {
    pub nspam: u64,
    pub nham: u64,
    pub tokens: u64,
    pub seen: u64,
    /// Learn operations so far; stamps tokens and digests for expiry.
    pub clock: u64,
    pub crc: u32,
}

/// Why a database file cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum DbError {
    Io(io::Error),
    /// Not a database of this format, or damaged (the CRC or a length does not match).
    Corrupt(&'static str),
    /// Another `portcullis train` holds the write lock.
    Busy,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Io(e) => write!(f, "{e}"),
            DbError::Corrupt(why) => write!(f, "damaged database: {why}"),
            DbError::Busy => f.write_str("another training process holds the database lock"),
        }
    }
}

impl std::error::Error for DbError {}

impl From<io::Error> for DbError {
    fn from(e: io::Error) -> Self {
        DbError::Io(e)
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        h[..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&1u32.to_le_bytes());
        for (i, v) in [self.nspam, self.nham, self.tokens, self.seen, self.clock]
            .into_iter()
            .enumerate()
        {
            h[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        h[56..60].copy_from_slice(&self.crc.to_le_bytes());
        h
    }

    /// Parses and checks a whole file image: header, lengths and CRC.
    pub fn check(file: &[u8]) -> Result<Header, DbError> {
        if file.len() < HEADER_BYTES || &file[..8] != MAGIC {
            return Err(DbError::Corrupt("not a portcullis Bayes database"));
        }
        if u32_at(file, 8) != 1 {
            return Err(DbError::Corrupt("unknown format version"));
        }
        let h = Header {
            nspam: u64_at(file, 16),
            nham: u64_at(file, 24),
            tokens: u64_at(file, 32),
            seen: u64_at(file, 40),
            clock: u64_at(file, 48),
            crc: u32_at(file, 56),
        };
        let want = (TABLE_AT as u64)
            .checked_add(h.tokens.saturating_mul(TOKEN_BYTES as u64))
            .and_then(|n| n.checked_add(h.seen.checked_mul(SEEN_BYTES as u64)?));
        if want != Some(file.len() as u64) {
            return Err(DbError::Corrupt("length does not match the header"));
        }
        if crc32fast::hash(&file[HEADER_BYTES..]) != h.crc {
            return Err(DbError::Corrupt("checksum mismatch"));
        }
        // Lookups trust the index to stay inside the table: check it once here.
        let mut prev = 0;
        for b in 0..=BUCKETS {
            let at = u32_at(file, HEADER_BYTES + 4 * b);
            if at < prev || u64::from(at) > h.tokens {
                return Err(DbError::Corrupt("bucket index out of order"));
            }
            prev = at;
        }
        if u64::from(prev) != h.tokens {
            return Err(DbError::Corrupt("bucket index does not cover the table"));
        }
        Ok(h)
    }
}

/// Token counts as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub spam: u32,
    pub ham: u32,
    pub atime: u32,
}

/// A learned message's digest record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub seq: u32,
    pub spam: bool,
}

/// A read-only, memory-mapped database file. The file is never changed in place (the
/// writer renames a new one over it), so the mapping stays valid and consistent.
#[derive(Debug)]
pub struct Snapshot {
    map: Mmap,
    pub header: Header,
}

impl Snapshot {
    /// Maps and checks the file; `Ok(None)` when there is none yet.
    pub fn open(path: &Path) -> Result<Option<Snapshot>, DbError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let map = crate::net::map_readonly(&file)?;
        let header = Header::check(&map)?;
        Ok(Some(Snapshot { map, header }))
    }

    fn token(&self, i: usize) -> (u64, Counts) {
        let at = TABLE_AT + i * TOKEN_BYTES;
        let b = &self.map[at..at + TOKEN_BYTES];
        let c = Counts {
            spam: u32_at(b, 8),
            ham: u32_at(b, 12),
            atime: u32_at(b, 16),
        };
        (u64_at(b, 0), c)
    }

    fn hash_at(&self, i: usize) -> u64 {
        u64_at(&self.map, TABLE_AT + i * TOKEN_BYTES)
    }

    /// The counts of one token: its bucket from the index, then a binary search in the
    /// bucket (a few entries, usually within one cache line or two).
    pub fn get(&self, hash: u64) -> Option<Counts> {
        let b = (hash >> (64 - BUCKET_BITS)) as usize;
        let mut lo = u32_at(&self.map, HEADER_BYTES + 4 * b) as usize;
        let mut hi = u32_at(&self.map, HEADER_BYTES + 4 * (b + 1)) as usize;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let h = self.hash_at(mid);
            if h == hash {
                return Some(self.token(mid).1);
            }
            if h < hash {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        None
    }

    pub fn tokens(&self) -> impl Iterator<Item = (u64, Counts)> + '_ {
        (0..self.header.tokens as usize).map(|i| self.token(i))
    }

    pub fn seen(&self) -> impl Iterator<Item = ([u8; 16], Seen)> + '_ {
        let base = TABLE_AT + self.header.tokens as usize * TOKEN_BYTES;
        (0..self.header.seen as usize).map(move |i| {
            let b = &self.map[base + i * SEEN_BYTES..base + (i + 1) * SEEN_BYTES];
            let digest: [u8; 16] = b[..16].try_into().expect("16 bytes");
            let seen = Seen {
                seq: u32_at(b, 16),
                spam: b[20] == 1,
            };
            (digest, seen)
        })
    }

    pub fn file_bytes(&self) -> usize {
        self.map.len()
    }
}

/// Encodes a whole database image from sorted tokens and digests.
pub fn encode(mut header: Header, tokens: &[(u64, Counts)], seen: &[([u8; 16], Seen)]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(TABLE_AT + tokens.len() * TOKEN_BYTES + seen.len() * SEEN_BYTES);
    out.extend_from_slice(&[0u8; HEADER_BYTES]);
    let mut t = 0;
    for b in 0..=BUCKETS {
        while t < tokens.len() && ((tokens[t].0 >> (64 - BUCKET_BITS)) as usize) < b {
            t += 1;
        }
        out.extend_from_slice(&(t as u32).to_le_bytes());
    }
    for (h, c) in tokens {
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&c.spam.to_le_bytes());
        out.extend_from_slice(&c.ham.to_le_bytes());
        out.extend_from_slice(&c.atime.to_le_bytes());
    }
    for (d, s) in seen {
        out.extend_from_slice(d);
        out.extend_from_slice(&s.seq.to_le_bytes());
        out.extend_from_slice(&[u8::from(s.spam), 0, 0, 0]);
    }
    header.tokens = tokens.len() as u64;
    header.seen = seen.len() as u64;
    header.crc = crc32fast::hash(&out[HEADER_BYTES..]);
    out[..HEADER_BYTES].copy_from_slice(&header.encode());
    out
}
