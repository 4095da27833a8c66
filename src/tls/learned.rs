//! Server names learned for STARTTLS destinations. A STARTTLS client is told to start TLS
//! before its ClientHello names the server, yet the server should be verified before that
//! answer: the name a client's SNI asked for, once verified, is remembered per original
//! destination so the next session to it verifies the server first.
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

/// At most `tls.learned_names` destinations, least recently used dropped first.
pub struct LearnedNames {
    names: Mutex<LruCache<SocketAddr, String>>,
}

impl LearnedNames {
    pub fn new(entries: usize) -> LearnedNames {
        let entries = NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN);
        LearnedNames {
            names: Mutex::new(LruCache::new(entries)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<SocketAddr, String>> {
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The name last verified for `dest`.
    pub fn get(&self, dest: SocketAddr) -> Option<String> {
        self.lock().get(&dest).cloned()
    }

    /// Remembers `name`, verified for the server at `dest`.
    pub fn learn(&self, dest: SocketAddr, name: String) {
        self.lock().put(dest, name);
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
        l.learn(a, "other.example.test".into());
        assert_eq!(l.get(a).as_deref(), Some("other.example.test"));
    }
}
