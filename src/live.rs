//! The sessions open right now (user, client, server, protocol, start), each with a cancel
//! signal: `portcullis sessions kill` and `abuse.end_sessions` end a compromised account's
//! live sessions through it. The session layer watches the signal on every read from the
//! client, so a session ends between commands, and a message in flight is refused, never
//! half-sent. Entries leave when their session ends; there are never more than
//! `limits.max_connections`.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::ids::{ClientAddr, OrigDstAddr, SessionId};

/// Which live sessions a kill is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Sessions logged in as this user (compared without regard to ASCII case).
    User(String),
    /// Sessions from this client address.
    Client(IpAddr),
}

/// What is known about one live session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Info {
    pub session: String,
    pub protocol: String,
    pub user: Option<String>,
    pub client: String,
    pub server: String,
    /// Seconds since the Unix epoch.
    pub started: u64,
}

struct Entry {
    info: Info,
    ip: IpAddr,
    cancel: watch::Sender<bool>,
}

/// Every live session.
#[derive(Default)]
pub struct Live {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Entry>>,
}

/// One session's place in [`Live`]; dropping it removes the entry.
pub struct Registration {
    live: Arc<Live>,
    key: u64,
    cancel: watch::Receiver<bool>,
}

impl Live {
    /// Registers a session that just started.
    pub fn register(
        self: &Arc<Self>,
        id: &SessionId,
        protocol: &str,
        client: ClientAddr,
        server: OrigDstAddr,
    ) -> Registration {
        let (tx, rx) = watch::channel(false);
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let started = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let info = Info {
            session: id.to_string(),
            protocol: protocol.to_string(),
            user: None,
            client: client.to_string(),
            server: server.to_string(),
            started,
        };
        let entry = Entry {
            info,
            ip: client.0.ip(),
            cancel: tx,
        };
        self.lock().insert(key, entry);
        Registration {
            live: self.clone(),
            key,
            cancel: rx,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signals every session `sel` matches to end; returns how many were signalled.
    pub fn kill(&self, sel: &Selector) -> usize {
        let m = self.lock();
        let mut n = 0;
        for e in m.values() {
            let hit = match sel {
                Selector::User(u) => e
                    .info
                    .user
                    .as_ref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(u)),
                Selector::Client(ip) => e.ip == *ip,
            };
            if hit && !*e.cancel.borrow() {
                e.cancel.send_replace(true);
                n += 1;
            }
        }
        n
    }

    /// The live sessions, oldest first.
    pub fn list(&self) -> Vec<Info> {
        let mut v: Vec<Info> = self.lock().values().map(|e| e.info.clone()).collect();
        v.sort_by(|a, b| (a.started, &a.session).cmp(&(b.started, &b.session)));
        v
    }
}

impl Registration {
    /// Records the user the server accepted a login for.
    pub fn set_user(&self, user: Option<&str>) {
        if let Some(e) = self.live.lock().get_mut(&self.key) {
            e.info.user = user.map(str::to_string);
        }
    }

    /// A receiver that turns true when the session is to end.
    pub fn cancel(&self) -> watch::Receiver<bool> {
        self.cancel.clone()
    }

    /// Whether the session was asked to end.
    pub fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.live.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(live: &Arc<Live>, port: u16) -> Registration {
        live.register(
            &SessionId::new(),
            "smtp",
            ClientAddr(format!("192.0.2.7:{port}").parse().unwrap()),
            OrigDstAddr("198.51.100.1:25".parse().unwrap()),
        )
    }

    #[test]
    fn kills_match_user_or_client_and_entries_leave_with_their_session() {
        let live = Arc::new(Live::default());
        let a = reg(&live, 1000);
        let b = reg(&live, 1001);
        a.set_user(Some("Mallory"));
        assert_eq!(live.list().len(), 2);
        assert_eq!(live.kill(&Selector::User("mallory".into())), 1);
        assert!(a.cancelled() && !b.cancelled());
        assert_eq!(live.kill(&Selector::User("mallory".into())), 0, "once");
        assert_eq!(
            live.kill(&Selector::Client("192.0.2.7".parse().unwrap())),
            1
        );
        assert!(b.cancelled());
        assert_eq!(
            live.kill(&Selector::Client("192.0.2.8".parse().unwrap())),
            0
        );
        drop(a);
        assert_eq!(live.list().len(), 1);
        drop(b);
        assert!(live.list().is_empty());
    }
}
