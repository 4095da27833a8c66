//! Messages a client was shown a notice for while the original could not be quarantined
//! (too large to hold, the quarantine failed, or only TOP was seen). Such a message must
//! stay on the server, also when the client deletes it in a later session, as clients that
//! leave mail on the server do days afterwards. Each is a marker file named by a hash of
//! the mailbox and the message's UIDL, written durably before the notice is sent.
//!
//! The mailbox is identified by its user, not by the server's address (a server name
//! that resolves to several or rotating addresses is still one mailbox) and not by the
//! user name exactly as typed: `Alice`, `alice` and `alice@example.org` log in to the
//! same mailbox on the servers this proxy fronts. Folding them can only make the guard
//! wider (a DELE refused that was safe), never narrower.
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ids::OrigDstAddr;

/// What identifies a mailbox for the withheld registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxKey(String);

impl MailboxKey {
    /// The key of the mailbox `user` logs in to: lower case, without an `@domain` part.
    pub fn for_user(user: &str) -> MailboxKey {
        let user = user.trim();
        let local = user.rsplit_once('@').map_or(user, |(l, _)| l);
        MailboxKey(local.to_lowercase())
    }
}

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

    fn prefix(key: &MailboxKey) -> String {
        format!("{}-", hash(&key.0))
    }

    fn path(&self, key: &MailboxKey, uidl: &str) -> PathBuf {
        self.dir
            .join(format!("{}{}", Self::prefix(key), hash(uidl)))
    }

    /// Records durably that message `uidl` of mailbox `key` must stay on the server; the
    /// file says where it was seen, for an administrator.
    pub fn mark(&self, key: &MailboxKey, uidl: &str, seen_on: &OrigDstAddr) -> io::Result<()> {
        let mut f = File::create(self.path(key, uidl))?;
        writeln!(f, "mailbox={} uidl={uidl} server={seen_on}", key.0)?;
        f.sync_all()?;
        File::open(&self.dir)?.sync_all()
    }

    pub fn clear(&self, key: &MailboxKey, uidl: &str) -> io::Result<()> {
        match fs::remove_file(self.path(key, uidl)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn contains(&self, key: &MailboxKey, uidl: &str) -> bool {
        self.path(key, uidl).exists()
    }

    /// Whether this mailbox has any withheld message, so DELE needs a UIDL look-up.
    pub fn any_for(&self, key: &MailboxKey) -> io::Result<bool> {
        let prefix = Self::prefix(key);
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
    fn marks_are_per_mailbox_and_uidl() {
        let dir = tempfile::tempdir().unwrap();
        let w = Withheld::open(dir.path()).unwrap();
        let server = OrigDstAddr("198.19.1.2:110".parse().unwrap());
        let alice = MailboxKey::for_user("alice");
        let bob = MailboxKey::for_user("bob");
        assert!(!w.any_for(&alice).unwrap());
        w.mark(&alice, "0001", &server).unwrap();
        assert!(w.any_for(&alice).unwrap());
        assert!(!w.any_for(&bob).unwrap());
        assert!(w.contains(&alice, "0001"));
        assert!(!w.contains(&alice, "0002"));
        w.clear(&alice, "0001").unwrap();
        w.clear(&alice, "0001").unwrap();
        assert!(!w.any_for(&alice).unwrap());
    }

    #[test]
    fn the_same_mailbox_however_the_user_typed_it_and_whichever_address_served_it() {
        let dir = tempfile::tempdir().unwrap();
        let w = Withheld::open(dir.path()).unwrap();
        let first = OrigDstAddr("198.19.1.2:110".parse().unwrap());
        w.mark(&MailboxKey::for_user("Alice"), "0001", &first)
            .unwrap();
        for typed in ["alice", "alice@example.org", " ALICE@Example.org"] {
            let key = MailboxKey::for_user(typed);
            assert!(w.contains(&key, "0001"), "{typed}");
            assert!(w.any_for(&key).unwrap(), "{typed}");
        }
    }
}
