//! Server names learned for STARTTLS destinations. A STARTTLS client is told to start TLS
//! before its ClientHello names the server, yet the server should be verified before that
//! answer: the name a client's SNI asked for, once verified, is remembered per original
//! destination so the next session to it verifies the server first.
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

/// At most `tls.learned_names` destinations, least recently used dropped first. A
/// destination whose clients asked for different names (shared hosting that picks a
/// certificate by SNI), or whose learned name stopped verifying, is remembered as having
/// none: its sessions go the SNI-first way.
pub struct LearnedNames {
    names: Mutex<LruCache<SocketAddr, Option<String>>>,
}

impl LearnedNames {
    pub fn new(entries: usize) -> LearnedNames {
        let entries = NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN);
        LearnedNames {
            names: Mutex::new(LruCache::new(entries)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<SocketAddr, Option<String>>> {
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The one name verified for `dest`, if it has one.
    pub fn get(&self, dest: SocketAddr) -> Option<String> {
        self.lock().get(&dest).cloned().flatten()
    }

    /// Remembers `name`, verified for the server at `dest`; a second, different name makes
    /// the destination one with no single name.
    pub fn learn(&self, dest: SocketAddr, name: String) {
        let mut names = self.lock();
        let kept = match names.get(&dest) {
            None => Some(name),
            Some(Some(n)) if n.eq_ignore_ascii_case(&name) => Some(name),
            Some(_) => None,
        };
        names.put(dest, kept);
    }

    /// The learned name for `dest` failed (the server no longer verifies for it, or a
    /// client asked for another name it does not hold): `dest` has no single name.
    pub fn unlearn(&self, dest: SocketAddr) {
        self.lock().put(dest, None);
    }

    /// Destinations remembered now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_per_destination_and_bounded() {
        let l = LearnedNames::new(2);
        let (a, b, c): (SocketAddr, SocketAddr, SocketAddr) = (
            "198.19.1.2:587".parse().unwrap(),
            "198.19.1.2:110".parse().unwrap(),
            "[2001:db8::2]:587".parse().unwrap(),
        );
        l.learn(a, "mail.example.test".into());
        l.learn(b, "pop.example.test".into());
        assert_eq!(l.get(a).as_deref(), Some("mail.example.test"));
        l.learn(c, "v6.example.test".into());
        assert_eq!(l.len(), 2);
        assert_eq!(l.get(b), None, "the least recently used is dropped");
        assert_eq!(l.get(c).as_deref(), Some("v6.example.test"));
        l.learn(a, "MAIL.example.test".into());
        assert_eq!(
            l.get(a).as_deref(),
            Some("MAIL.example.test"),
            "the same name"
        );
        l.learn(a, "other.example.test".into());
        assert_eq!(l.get(a), None, "two names: none");
        l.learn(a, "mail.example.test".into());
        assert_eq!(l.get(a), None, "and it stays so");
        l.unlearn(c);
        assert_eq!(l.get(c), None);
        l.learn(c, "v6.example.test".into());
        assert_eq!(l.get(c), None, "a name that failed is not taken up again");
    }
}
