//! `[pop3]`: download-side choices: look-ahead of the next messages while the client is
//! busy (see `proto::pop3::lookahead` for exactly when it engages).
use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pop3 {
    /// Fetch the next messages ahead (with TOP, which changes nothing on the server)
    /// while a client downloads sequentially.
    pub lookahead: bool,
    /// How many messages ahead.
    pub lookahead_depth: usize,
    /// Bytes of looked-ahead messages one session may hold at once (in memory).
    pub lookahead_max_bytes: u64,
    /// Messages larger than this are never looked ahead: their transfer time dwarfs the
    /// round trip saved.
    pub lookahead_max_message_bytes: u64,
}

impl Default for Pop3 {
    fn default() -> Self {
        Pop3 {
            lookahead: true,
            lookahead_depth: 4,
            lookahead_max_bytes: 4 * 1024 * 1024,
            lookahead_max_message_bytes: 1024 * 1024,
        }
    }
}

impl Pop3 {
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.lookahead_depth > 64 {
            errors.push(ConfigError::new(
                "pop3.lookahead_depth",
                self.lookahead_depth,
                "use 0 to 64 (each message ahead is one more command the server answers)",
            ));
        }
        if self.lookahead_max_message_bytes > self.lookahead_max_bytes {
            errors.push(ConfigError::new(
                "pop3.lookahead_max_message_bytes",
                self.lookahead_max_message_bytes,
                "must not exceed pop3.lookahead_max_bytes",
            ));
        }
        if self.lookahead_max_bytes > 256 * 1024 * 1024 {
            errors.push(ConfigError::new(
                "pop3.lookahead_max_bytes",
                self.lookahead_max_bytes,
                "at most 268435456 (256 MiB): looked-ahead messages are held in memory",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookahead_limits_are_checked() {
        let mut e = Vec::new();
        Pop3::default().validate(&mut e);
        assert!(e.is_empty(), "{e:?}");
        let p = Pop3 {
            lookahead_depth: 65,
            lookahead_max_message_bytes: 10,
            lookahead_max_bytes: 5,
            ..Pop3::default()
        };
        p.validate(&mut e);
        let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["pop3.lookahead_depth", "pop3.lookahead_max_message_bytes"]
        );
    }
}
