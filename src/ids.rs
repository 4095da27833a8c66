//! Newtypes that keep addresses and identifiers from being mixed up: a client address can
//! never be passed where an upstream destination is expected.
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Address of the LAN client that opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

/// Where the client meant to connect before nftables redirected it, or the fixed upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrigDstAddr(pub SocketAddr);

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for OrigDstAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Identifies one proxied connection in logs, session files and quarantine records.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

static SESSION_COUNTER: AtomicU64 = AtomicU64::new(0);

impl SessionId {
    /// Unique across restarts: wall-clock milliseconds, process id and a per-process counter.
    pub fn new() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let n = SESSION_COUNTER.fetch_add(1, Ordering::Relaxed);
        SessionId(format!("{ms:x}-{:x}-{n}", std::process::id()))
    }

    /// Accepts only the characters `new` produces, so an id taken from a command line can
    /// be used as a file name without escaping the log directory.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'-' || b.is_ascii_digit());
        ok.then(|| SessionId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies a quarantined original.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuarantineId(String);

impl QuarantineId {
    pub fn new(session: &SessionId, seq: u64) -> Self {
        QuarantineId(format!("{session}-q{seq}"))
    }

    /// Same rule as `SessionId::parse`, plus the `q` separator.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 80
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'q');
        ok.then(|| QuarantineId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QuarantineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_unique_and_parse_back() {
        let a = SessionId::new();
        let b = SessionId::new();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Some(a));
        assert_eq!(SessionId::parse("../etc/passwd"), None);
        assert_eq!(QuarantineId::parse("a/b"), None);
    }
}
