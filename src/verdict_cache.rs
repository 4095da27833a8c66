//! Verdicts remembered per message, so a message fetched again (a second client, a
//! re-sync) or in pieces (a client that fetches large messages in ranges) is judged once.
//!
//! A message is named by the server, the user, the mailbox, its UIDVALIDITY and its UID:
//! IMAP promises that this names the same content for as long as the UIDVALIDITY holds.
//! The cache is bounded (the oldest entry goes first) and entries expire, because the
//! signatures of a running scanner change; a reload builds a new cache, so new
//! signatures loaded by a reload apply at once.
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ids::{OrigDstAddr, QuarantineId};
use crate::scan::Verdict;

/// One message, as IMAP names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageKey {
    pub server: OrigDstAddr,
    pub user: String,
    pub mailbox: String,
    pub uid_validity: u32,
    pub uid: u32,
}

/// What is remembered of a judged message.
#[derive(Debug, Clone)]
pub struct Remembered {
    pub verdict: Verdict,
    pub engines: Vec<&'static str>,
    /// Where the original was quarantined, when it was replaced.
    pub quarantine: Option<QuarantineId>,
    /// Whether the message's notice may quote its headers (see `safe_notice`); `None`
    /// when no notice was made.
    pub notice_quotes: Option<bool>,
}

#[derive(Debug)]
struct Inner {
    map: HashMap<MessageKey, (Remembered, Instant)>,
    order: VecDeque<MessageKey>,
}

#[derive(Debug)]
pub struct VerdictCache {
    inner: Mutex<Inner>,
    capacity: usize,
    ttl: Duration,
}

impl VerdictCache {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        VerdictCache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            capacity,
            ttl,
        }
    }

    /// The remembered verdict for `key`, if any and still fresh.
    pub fn get(&self, key: &MessageKey) -> Option<Remembered> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (r, at) = inner.map.get(key)?;
        (at.elapsed() < self.ttl).then(|| r.clone())
    }

    pub fn put(&self, key: MessageKey, r: Remembered) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.map.insert(key.clone(), (r, Instant::now())).is_none() {
            inner.order.push_back(key);
        }
        while inner.map.len() > self.capacity {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&old);
        }
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uid: u32) -> MessageKey {
        MessageKey {
            server: OrigDstAddr("198.18.0.2:143".parse().unwrap()),
            user: "alice".into(),
            mailbox: "INBOX".into(),
            uid_validity: 7,
            uid,
        }
    }

    fn clean() -> Remembered {
        Remembered {
            verdict: Verdict::Clean,
            engines: vec!["builtin"],
            quarantine: None,
            notice_quotes: None,
        }
    }

    #[test]
    fn bounded_oldest_first_and_named_by_every_part_of_the_key() {
        let c = VerdictCache::new(2, Duration::from_secs(60));
        c.put(key(1), clean());
        c.put(key(2), clean());
        c.put(key(1), clean());
        c.put(key(3), clean());
        assert_eq!(c.len(), 2);
        assert!(c.get(&key(1)).is_none(), "the oldest entry went first");
        assert!(c.get(&key(3)).is_some());
        let mut other = key(3);
        other.uid_validity = 8;
        assert!(
            c.get(&other).is_none(),
            "a new UIDVALIDITY is another message"
        );
    }

    #[test]
    fn entries_expire_and_zero_capacity_keeps_nothing() {
        let c = VerdictCache::new(10, Duration::ZERO);
        c.put(key(1), clean());
        assert!(c.get(&key(1)).is_none());
        let off = VerdictCache::new(0, Duration::from_secs(60));
        off.put(key(1), clean());
        assert!(off.is_empty());
    }
}
