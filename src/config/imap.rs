//! `[imap]`: IMAP framing limits (the rest of the session shares `limits`).
use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Imap {
    /// Longest command or response line handled whole. A longer client command is refused
    /// with a tagged BAD; a longer server line passes in pieces, and a message body
    /// announced after one is treated as unreadable content.
    pub max_line_bytes: usize,
    /// Largest literal a client may send (an APPEND message, a name). A larger announce is
    /// answered with a tagged NO and never buffered; a larger `{n+}` literal is consumed.
    pub max_literal_bytes: u64,
    /// Literals up to this size are held whole in memory; larger ones are streamed in
    /// pieces (to the spool for message bodies).
    pub literal_memory_bytes: usize,
    /// How long a client may stay silent (IMAP clients idle for up to 29 minutes in IDLE
    /// before they renew it); replaces `limits.idle_timeout_secs` for IMAP sessions.
    pub idle_timeout_secs: u64,
    /// Verdicts remembered per (server, user, mailbox, UIDVALIDITY, UID), so a message
    /// fetched again or in pieces is not scanned again. 0 turns the cache off.
    pub verdict_cache_entries: usize,
    /// How long a remembered verdict stays valid (signatures change under a running
    /// scanner; a reload empties the cache at once).
    pub verdict_cache_secs: u64,
    /// Largest FETCH response held in memory around its message content (the items
    /// that are not content: flags, envelope, structure).
    pub max_held_response_bytes: usize,
}

impl Default for Imap {
    fn default() -> Self {
        Imap {
            max_line_bytes: 65536,
            max_literal_bytes: 100 * 1024 * 1024,
            literal_memory_bytes: 16384,
            idle_timeout_secs: 1860,
            verdict_cache_entries: 10000,
            verdict_cache_secs: 3600,
            max_held_response_bytes: 1 << 20,
        }
    }
}

impl Imap {
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.max_line_bytes < 1024 {
            errors.push(ConfigError::new(
                "imap.max_line_bytes",
                self.max_line_bytes,
                "must be at least 1024",
            ));
        }
        if !(1024..=u64::from(u32::MAX)).contains(&self.max_literal_bytes) {
            errors.push(ConfigError::new(
                "imap.max_literal_bytes",
                self.max_literal_bytes,
                "must be between 1024 and 4294967295",
            ));
        }
        if self.literal_memory_bytes == 0 || self.literal_memory_bytes > 1 << 20 {
            errors.push(ConfigError::new(
                "imap.literal_memory_bytes",
                self.literal_memory_bytes,
                "must be between 1 and 1048576",
            ));
        }
        if self.idle_timeout_secs == 0 {
            errors.push(ConfigError::new(
                "imap.idle_timeout_secs",
                self.idle_timeout_secs,
                "must be at least 1 (RFC 9051 asks for at least 1800)",
            ));
        }
        if self.max_held_response_bytes < 4096 {
            errors.push(ConfigError::new(
                "imap.max_held_response_bytes",
                self.max_held_response_bytes,
                "must be at least 4096",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_limits_are_checked() {
        let mut e = Vec::new();
        Imap::default().validate(&mut e);
        assert!(e.is_empty(), "{e:?}");
        let bad = Imap {
            max_line_bytes: 10,
            max_literal_bytes: 1 << 40,
            literal_memory_bytes: 0,
            ..Imap::default()
        };
        bad.validate(&mut e);
        assert_eq!(e.len(), 3, "{e:?}");
    }
}
