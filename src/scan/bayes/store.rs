//! The writer side of the token database: `portcullis train` loads it, learns or forgets
//! messages in memory and commits a new file atomically (temporary file, fsync, rename,
//! fsync of the directory). One writer at a time holds an exclusive lock on
//! `<db>.lock`; readers never wait for it.
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::db::{self, Counts, DbError, Header, Seen, Snapshot};

/// What learning one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    New,
    /// Learned before as the same class: nothing changed.
    Known,
    /// Learned before as the other class: moved over.
    Moved,
}

/// Learns after which an unrelearned token weighs half as much for expiry.
const EXPIRY_HALF_LIFE: f64 = 20_000.0;

#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub max_tokens: usize,
    pub max_seen: usize,
}

#[derive(Debug)]
pub struct Learner {
    path: PathBuf,
    limits: StoreLimits,
    tokens: HashMap<u64, Counts>,
    seen: HashMap<[u8; 16], Seen>,
    header: Header,
    _lock: File,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Learner {
    /// Takes the write lock and loads the database (an empty one if there is none).
    pub fn open(path: &Path, limits: StoreLimits) -> Result<Learner, DbError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(sibling(path, ".lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(DbError::Busy),
            Err(fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        // A temporary file left by a writer that died is garbage; the lock says none runs.
        let _ = fs::remove_file(sibling(path, ".tmp"));
        let mut l = Learner {
            path: path.to_owned(),
            limits,
            tokens: HashMap::new(),
            seen: HashMap::new(),
            header: Header::default(),
            _lock: lock,
        };
        if let Some(snap) = Snapshot::open(path)? {
            l.header = snap.header;
            l.tokens = snap.tokens().collect();
            l.seen = snap.seen().collect();
        }
        Ok(l)
    }

    pub fn header(&self) -> Header {
        Header {
            tokens: self.tokens.len() as u64,
            seen: self.seen.len() as u64,
            ..self.header
        }
    }

    fn apply(&mut self, spam: bool, hashes: &[u64], add: bool) {
        let now = self.header.clock as u32;
        for h in hashes {
            let c = self.tokens.entry(*h).or_default();
            let n = if spam { &mut c.spam } else { &mut c.ham };
            if add {
                *n = n.saturating_add(1);
                c.atime = now;
            } else {
                *n = n.saturating_sub(1);
            }
            if c.spam == 0 && c.ham == 0 {
                self.tokens.remove(h);
            }
        }
        let total = if spam {
            &mut self.header.nspam
        } else {
            &mut self.header.nham
        };
        *total = if add {
            *total + 1
        } else {
            total.saturating_sub(1)
        };
    }

    /// Learns one message given its digest and token hashes; a message learned before
    /// counts once.
    pub fn learn(&mut self, digest: [u8; 16], spam: bool, hashes: &[u64]) -> Learned {
        let outcome = match self.seen.get(&digest) {
            Some(s) if s.spam == spam => return Learned::Known,
            Some(s) => {
                let was = s.spam;
                self.apply(was, hashes, false);
                Learned::Moved
            }
            None => Learned::New,
        };
        self.header.clock += 1;
        self.apply(spam, hashes, true);
        let seq = self.header.clock as u32;
        self.seen.insert(digest, Seen { seq, spam });
        outcome
    }

    /// Unlearns a message learned before; false if it was not.
    pub fn forget(&mut self, digest: [u8; 16], hashes: &[u64]) -> bool {
        let Some(s) = self.seen.remove(&digest) else {
            return false;
        };
        self.apply(s.spam, hashes, false);
        true
    }

    /// Drops the tokens that weigh least down to the cap, and the oldest digests likewise.
    /// Returns the number of tokens dropped. A token weighs its count halved for every
    /// `EXPIRY_HALF_LIFE` learns since it was last learned: rare tokens go first, and
    /// among equally rare ones the oldest. Age alone would drop a whole class when an
    /// admin trains all spam first and then all ham.
    fn expire(&mut self) -> usize {
        let mut dropped = 0;
        if self.tokens.len() > self.limits.max_tokens {
            let clock = self.header.clock as u32;
            let mut order: Vec<(f64, u32, u64)> = self
                .tokens
                .iter()
                .map(|(h, c)| {
                    let age = clock.saturating_sub(c.atime) as f64;
                    let count = c.spam as f64 + c.ham as f64;
                    (count * (-age / EXPIRY_HALF_LIFE).exp2(), c.atime, *h)
                })
                .collect();
            dropped = self.tokens.len() - self.limits.max_tokens;
            order.select_nth_unstable_by(dropped - 1, |a, b| {
                a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
            });
            for (_, _, h) in &order[..dropped] {
                self.tokens.remove(h);
            }
        }
        if self.seen.len() > self.limits.max_seen {
            let mut order: Vec<(u32, [u8; 16])> =
                self.seen.iter().map(|(d, s)| (s.seq, *d)).collect();
            let n = self.seen.len() - self.limits.max_seen;
            order.select_nth_unstable(n - 1);
            for (_, d) in &order[..n] {
                self.seen.remove(d);
            }
        }
        dropped
    }

    /// Expires past the caps and replaces the database file atomically. Returns the
    /// number of tokens expired.
    pub fn commit(&mut self) -> Result<usize, DbError> {
        let dropped = self.expire();
        let mut tokens: Vec<(u64, Counts)> = self.tokens.iter().map(|(h, c)| (*h, *c)).collect();
        tokens.sort_unstable_by_key(|t| t.0);
        let mut seen: Vec<([u8; 16], Seen)> = self.seen.iter().map(|(d, s)| (*d, *s)).collect();
        seen.sort_unstable_by_key(|s| s.0);
        let image = db::encode(self.header, &tokens, &seen);
        let tmp = sibling(&self.path, ".tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&image)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &self.path)?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_tokens: usize) -> StoreLimits {
        StoreLimits {
            max_tokens,
            max_seen: 1000,
        }
    }

    #[test]
    fn learn_commit_reopen_and_look_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let mut l = Learner::open(&path, limits(100)).unwrap();
        assert_eq!(l.learn([1; 16], true, &[10, 20]), Learned::New);
        assert_eq!(l.learn([1; 16], true, &[10, 20]), Learned::Known);
        assert_eq!(l.learn([2; 16], false, &[20, 30]), Learned::New);
        l.commit().unwrap();
        let s = Snapshot::open(&path).unwrap().unwrap();
        assert_eq!((s.header.nspam, s.header.nham, s.header.tokens), (1, 1, 3));
        let c = s.get(20).unwrap();
        assert_eq!((c.spam, c.ham), (1, 1));
        assert!(s.get(11).is_none());
        // A second writer is refused while the first holds the lock.
        assert!(matches!(
            Learner::open(&path, limits(100)),
            Err(DbError::Busy)
        ));
        drop(l);
        let mut l = Learner::open(&path, limits(100)).unwrap();
        assert_eq!(l.learn([2; 16], true, &[20, 30]), Learned::Moved);
        assert!(l.forget([1; 16], &[10, 20]));
        assert!(!l.forget([9; 16], &[10]));
        l.commit().unwrap();
        let s = Snapshot::open(&path).unwrap().unwrap();
        assert_eq!((s.header.nspam, s.header.nham, s.header.tokens), (1, 0, 2));
        assert!(s.get(10).is_none());
    }

    #[test]
    fn a_database_at_its_cap_expires_the_oldest_rarest_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let mut l = Learner::open(&path, limits(50)).unwrap();
        // Token 7 is in every message; 1000.. are one-offs; 5 was common but long ago.
        for m in 0..10u64 {
            l.learn([m as u8; 16], true, &[5, 7]);
        }
        for m in 10..40u64 {
            let d = [m as u8; 16];
            l.learn(d, m % 2 == 0, &[7, 1000 + 2 * m, 1001 + 2 * m]);
        }
        assert_eq!(l.commit().unwrap(), 62 - 50);
        let s = Snapshot::open(&path).unwrap().unwrap();
        assert_eq!(s.header.tokens, 50);
        assert!(
            s.get(7).is_some() && s.get(5).is_some(),
            "frequent tokens stay"
        );
        assert!(s.get(1079).is_some(), "the newest one-off stays");
        assert!(s.get(1020).is_none(), "the oldest one-off went first");
        assert!(s.get(1031).is_none() && s.get(1032).is_some());
    }

    #[test]
    fn damaged_files_are_refused_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let mut l = Learner::open(&path, limits(50)).unwrap();
        l.learn([1; 16], true, &[1, 2, 3]);
        l.commit().unwrap();
        drop(l);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 30;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(Snapshot::open(&path), Err(DbError::Corrupt(_))));
        fs::write(&path, &bytes[..40]).unwrap();
        assert!(matches!(Snapshot::open(&path), Err(DbError::Corrupt(_))));
        assert!(Snapshot::open(&dir.path().join("none")).unwrap().is_none());
    }
}
