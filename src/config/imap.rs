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
}

impl Default for Imap {
    fn default() -> Self {
        Imap {
            max_line_bytes: 65536,
            max_literal_bytes: 100 * 1024 * 1024,
            literal_memory_bytes: 16384,
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
        };
        bad.validate(&mut e);
        assert_eq!(e.len(), 3, "{e:?}");
    }
}
