//! Durable store for originals that policy kept from the client. A message counts as
//! quarantined only once both its bytes and its record are on disk: each is written to a
//! temporary file, fsynced, renamed into place, and the directory fsynced. Only then may a
//! POP3 DELE of the replaced message go upstream.
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{ClientAddr, OrigDstAddr, QuarantineId, SessionId};
use crate::message::spool::Spool;
use crate::scan::Verdict;
use crate::session_log::SessionLog;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub id: String,
    pub time: String,
    pub epoch_secs: u64,
    pub session: String,
    pub protocol: String,
    pub user: String,
    pub client: String,
    pub server: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub verdict: String,
    pub sha256: String,
    pub size: u64,
    #[serde(default)]
    pub released: bool,
}

/// Where a quarantined message came from and what it was.
pub struct Origin<'a> {
    pub session: &'a SessionId,
    pub protocol: &'static str,
    pub user: Option<&'a str>,
    pub client: ClientAddr,
    pub server: OrigDstAddr,
    pub from: String,
    pub to: String,
    pub subject: String,
}

#[derive(Debug, Clone)]
pub struct Quarantine {
    dir: PathBuf,
}

impl Quarantine {
    pub fn open(dir: &Path) -> io::Result<Quarantine> {
        fs::create_dir_all(dir.join("tmp"))?;
        Ok(Quarantine {
            dir: dir.to_path_buf(),
        })
    }

    fn eml(&self, id: &QuarantineId) -> PathBuf {
        self.dir.join(format!("{id}.eml"))
    }

    fn meta(&self, id: &QuarantineId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Stores the spooled original; `rec` is completed with the time, hash and size.
    pub fn store(
        &self,
        id: &QuarantineId,
        mut rec: Record,
        spool: &mut Spool,
    ) -> io::Result<Record> {
        let tmp = self.dir.join("tmp").join(format!("{id}.eml"));
        let mut hasher = Sha256::new();
        {
            let mut f = File::create(&tmp)?;
            let mut buf = vec![0u8; 256 * 1024];
            let mut pos = 0u64;
            loop {
                let n = spool.read_at(pos, &mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                f.write_all(&buf[..n])?;
                pos += n as u64;
            }
            f.sync_all()?;
        }
        fs::rename(&tmp, self.eml(id))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        rec.id = id.to_string();
        rec.epoch_secs = now.as_secs();
        rec.time = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        rec.sha256 = format!("{:x}", hasher.finalize());
        rec.size = spool.len();
        self.write_meta(id, &rec)?;
        Ok(rec)
    }

    /// Quarantines a session's spooled original, numbering entries per session (`seq`).
    /// Runs the blocking writes off the reactor; a failure goes to the session log and
    /// gives `None`, and the caller keeps the mail some other way.
    pub fn keep(
        &self,
        log: &mut SessionLog,
        seq: &mut u64,
        origin: Origin,
        verdict: &Verdict,
        spool: &mut Spool,
    ) -> Option<QuarantineId> {
        *seq += 1;
        let id = QuarantineId::new(origin.session, *seq);
        let rec = Record {
            id: String::new(),
            time: String::new(),
            epoch_secs: 0,
            session: origin.session.to_string(),
            protocol: origin.protocol.into(),
            user: origin.user.unwrap_or("").into(),
            client: origin.client.to_string(),
            server: origin.server.to_string(),
            from: origin.from,
            to: origin.to,
            subject: origin.subject,
            verdict: verdict.to_string(),
            sha256: String::new(),
            size: 0,
            released: false,
        };
        match tokio::task::block_in_place(|| self.store(&id, rec, spool)) {
            Ok(_) => Some(id),
            Err(e) => {
                log.event("quarantine", &format!("local: store failed: {e}"));
                None
            }
        }
    }

    fn write_meta(&self, id: &QuarantineId, rec: &Record) -> io::Result<()> {
        let tmp = self.dir.join("tmp").join(format!("{id}.json"));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(rec).map_err(io::Error::other)?)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.meta(id))?;
        File::open(&self.dir)?.sync_all()
    }

    pub fn list(&self) -> io::Result<Vec<Record>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let p = e?.path();
            if p.extension().and_then(|e| e.to_str()) == Some("json")
                && let Ok(r) = serde_json::from_slice::<Record>(&fs::read(&p)?)
            {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.epoch_secs.cmp(&b.epoch_secs).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub fn get(&self, id: &QuarantineId) -> io::Result<Record> {
        let data = fs::read(self.meta(id))?;
        serde_json::from_slice(&data).map_err(io::Error::other)
    }

    /// Writes the original to `out` and marks the record released.
    pub fn release(&self, id: &QuarantineId, out: &mut dyn Write) -> io::Result<Record> {
        let mut rec = self.get(id)?;
        let mut f = File::open(self.eml(id))?;
        io::copy(&mut f, out)?;
        out.flush()?;
        rec.released = true;
        self.write_meta(id, &rec)?;
        Ok(rec)
    }

    /// Removes entries older than `days`; returns how many.
    pub fn purge(&self, days: u64) -> io::Result<usize> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let cutoff = now.saturating_sub(days * 86_400);
        let mut n = 0;
        for r in self.list()? {
            if r.epoch_secs < cutoff || days == 0 {
                let Some(id) = QuarantineId::parse(&r.id) else {
                    continue;
                };
                let _ = fs::remove_file(self.eml(&id));
                fs::remove_file(self.meta(&id))?;
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SessionId;

    fn blank() -> Record {
        Record {
            id: String::new(),
            time: String::new(),
            epoch_secs: 0,
            session: "s".into(),
            protocol: "pop3".into(),
            user: "alice".into(),
            client: "c".into(),
            server: "s".into(),
            from: "f".into(),
            to: "t".into(),
            subject: "subj".into(),
            verdict: "infected (X)".into(),
            sha256: String::new(),
            size: 0,
            released: false,
        }
    }

    #[test]
    fn store_list_release_purge() {
        let dir = tempfile::tempdir().unwrap();
        let q = Quarantine::open(dir.path()).unwrap();
        let mut spool = Spool::new(4, dir.path());
        spool.write(b"original message bytes").unwrap();
        let id = QuarantineId::new(&SessionId::new(), 1);
        let rec = q.store(&id, blank(), &mut spool).unwrap();
        assert_eq!(rec.size, 22);
        assert_eq!(
            rec.sha256,
            format!("{:x}", Sha256::digest(b"original message bytes"))
        );
        assert_eq!(q.list().unwrap(), vec![rec.clone()]);
        assert!(
            fs::read_dir(dir.path().join("tmp"))
                .unwrap()
                .next()
                .is_none()
        );
        let mut out = Vec::new();
        let released = q.release(&id, &mut out).unwrap();
        assert_eq!(out, b"original message bytes");
        assert!(released.released);
        assert_eq!(q.purge(30).unwrap(), 0);
        assert_eq!(q.purge(0).unwrap(), 1);
        assert!(q.list().unwrap().is_empty());
    }
}
