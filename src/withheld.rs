//! Messages a client was shown a notice for while the original could not be quarantined
//! (too large to hold, the quarantine failed, or only TOP was seen). Such a message must
//! stay on the server, also when the client deletes it in a later session, as clients that
//! leave mail on the server do days afterwards. Each is a marker file named by a hash of
//! the server, the user and the message's UIDL, written durably before the notice is sent.
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ids::OrigDstAddr;

#[derive(Debug, Clone)]
pub struct Withheld {
    dir: PathBuf,
}

fn hash(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

impl Withheld {
    pub fn open(dir: &Path) -> io::Result<Withheld> {
        fs::create_dir_all(dir)?;
        Ok(Withheld {
            dir: dir.to_path_buf(),
        })
    }

    fn mailbox(server: &OrigDstAddr, user: &str) -> String {
        hash(&format!("{}\0{user}", server.0))
    }

    fn path(&self, server: &OrigDstAddr, user: &str, uidl: &str) -> PathBuf {
        self.dir
            .join(format!("{}-{}", Self::mailbox(server, user), hash(uidl)))
    }

    pub fn mark(&self, server: &OrigDstAddr, user: &str, uidl: &str) -> io::Result<()> {
        let p = self.path(server, user, uidl);
        File::create(&p)?.sync_all()?;
        File::open(&self.dir)?.sync_all()
    }

    pub fn clear(&self, server: &OrigDstAddr, user: &str, uidl: &str) -> io::Result<()> {
        match fs::remove_file(self.path(server, user, uidl)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn contains(&self, server: &OrigDstAddr, user: &str, uidl: &str) -> bool {
        self.path(server, user, uidl).exists()
    }

    /// Whether this mailbox has any withheld message, so DELE needs a UIDL look-up.
    pub fn any_for(&self, server: &OrigDstAddr, user: &str) -> io::Result<bool> {
        let prefix = format!("{}-", Self::mailbox(server, user));
        for e in fs::read_dir(&self.dir)? {
            if e?.file_name().to_string_lossy().starts_with(&prefix) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_per_server_user_and_uidl() {
        let dir = tempfile::tempdir().unwrap();
        let w = Withheld::open(dir.path()).unwrap();
        let a = OrigDstAddr("198.19.1.2:110".parse().unwrap());
        let b = OrigDstAddr("198.19.1.3:110".parse().unwrap());
        assert!(!w.any_for(&a, "alice").unwrap());
        w.mark(&a, "alice", "0001").unwrap();
        assert!(w.any_for(&a, "alice").unwrap());
        assert!(!w.any_for(&a, "bob").unwrap());
        assert!(!w.any_for(&b, "alice").unwrap());
        assert!(w.contains(&a, "alice", "0001"));
        assert!(!w.contains(&a, "alice", "0002"));
        w.clear(&a, "alice", "0001").unwrap();
        w.clear(&a, "alice", "0001").unwrap();
        assert!(!w.any_for(&a, "alice").unwrap());
    }
}
