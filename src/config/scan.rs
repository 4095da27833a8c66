//! `[scan]`: which engines run, the scan size and deadline, and the clamd and spamd
//! daemons (`[scan.clamd]`, `[scan.spamd]`). The built-in engine is in `builtin.rs`.
use serde::Deserialize;

use super::error::{at_least_one, seconds};
use super::{Builtin, ConfigError, Limits, SocketSpec};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scan {
    /// Engines run on every message, in order; all must agree a message is clean.
    pub engines: Vec<Engine>,
    /// Messages above this size are not scanned: they get the `unscannable` verdict.
    pub max_scan_bytes: u64,
    /// Whole-pipeline deadline per message; past it the verdict is `failed`.
    pub timeout_secs: u64,
    /// Scans running at once; more wait for a turn.
    pub max_concurrent_scans: usize,
    /// Estimated memory of all scans running at once (twice each message's size, a message
    /// larger than the budget runs alone); more wait for room.
    pub memory_budget_bytes: u64,
    /// Longest wait for a turn; past it the verdict is `failed`.
    pub admission_timeout_secs: u64,
    pub builtin: Builtin,
    /// The builtin engine's Bayes classifier.
    pub bayes: super::bayes::Bayes,
    pub clamd: Clamd,
    pub spamd: Spamd,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            engines: vec![Engine::Builtin],
            max_scan_bytes: 50 * 1024 * 1024,
            timeout_secs: 120,
            max_concurrent_scans: 4,
            memory_budget_bytes: 48 * 1024 * 1024,
            admission_timeout_secs: 60,
            builtin: Builtin::default(),
            bayes: super::bayes::Bayes::default(),
            clamd: Clamd::default(),
            spamd: Spamd::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Builtin,
    Clamd,
    Spamd,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Clamd {
    /// `unix:/path/to/socket` or `tcp:host:port`.
    pub address: String,
    pub timeout_secs: u64,
    /// Must stay below clamd's StreamMaxLength: past it clamd may cut the stream and the
    /// result would mean nothing. Larger messages get the `unscannable` verdict.
    pub max_stream_bytes: u64,
    pub chunk_bytes: usize,
}

impl Default for Clamd {
    fn default() -> Self {
        Clamd {
            address: "unix:/run/clamav/clamd.ctl".into(),
            timeout_secs: 60,
            max_stream_bytes: 24 * 1024 * 1024,
            chunk_bytes: 64 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spamd {
    /// `unix:/path` or `tcp:host:port`.
    pub address: String,
    pub timeout_secs: u64,
    /// Larger messages are not sent to spamd (as spamc does); the session log says so.
    pub max_bytes: u64,
    /// SpamAssassin user whose preferences apply.
    pub user: String,
}

impl Default for Spamd {
    fn default() -> Self {
        Spamd {
            address: "tcp:127.0.0.1:783".into(),
            timeout_secs: 30,
            max_bytes: 512 * 1024,
            user: "portcullis".into(),
        }
    }
}

impl Scan {
    /// `limits` is needed because nothing larger than a held message can be scanned.
    pub fn validate(&self, limits: &Limits, errors: &mut Vec<ConfigError>) {
        seconds(errors, "scan.timeout_secs", self.timeout_secs, true);
        seconds(
            errors,
            "scan.admission_timeout_secs",
            self.admission_timeout_secs,
            true,
        );
        at_least_one(
            errors,
            "scan.max_concurrent_scans",
            self.max_concurrent_scans as u64,
        );
        at_least_one(errors, "scan.memory_budget_bytes", self.memory_budget_bytes);
        if self.engines.is_empty() {
            errors.push(ConfigError::new(
                "scan.engines",
                "[]",
                "list at least one engine: \"builtin\", \"clamd\" or \"spamd\"",
            ));
        }
        if self.max_scan_bytes > limits.max_message_bytes {
            errors.push(ConfigError::new(
                "scan.max_scan_bytes",
                self.max_scan_bytes,
                "must not exceed limits.max_message_bytes",
            ));
        }
        self.builtin.validate(errors);
        for (key, value, fix) in self.bayes.problems() {
            errors.push(ConfigError::new(key, value, fix));
        }
        self.clamd
            .validate(self.engines.contains(&Engine::Clamd), errors);
        self.spamd
            .validate(self.engines.contains(&Engine::Spamd), errors);
    }
}

impl Clamd {
    /// The address and chunk size matter only when the engine is used.
    pub fn validate(&self, used: bool, errors: &mut Vec<ConfigError>) {
        seconds(errors, "scan.clamd.timeout_secs", self.timeout_secs, true);
        if !used {
            return;
        }
        if let Err(fix) = SocketSpec::parse(&self.address) {
            errors.push(ConfigError::new("scan.clamd.address", &self.address, fix));
        }
        if self.chunk_bytes == 0 || self.chunk_bytes > 1 << 24 {
            errors.push(ConfigError::new(
                "scan.clamd.chunk_bytes",
                self.chunk_bytes,
                "must be between 1 and 16777216",
            ));
        }
    }
}

impl Spamd {
    /// The address matters only when the engine is used.
    pub fn validate(&self, used: bool, errors: &mut Vec<ConfigError>) {
        seconds(errors, "scan.spamd.timeout_secs", self.timeout_secs, true);
        if used && let Err(fix) = SocketSpec::parse(&self.address) {
            errors.push(ConfigError::new("scan.spamd.address", &self.address, fix));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &Scan) -> Vec<String> {
        let mut e = Vec::new();
        s.validate(&Limits::default(), &mut e);
        e.into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(keys(&Scan::default()).is_empty());
    }

    #[test]
    fn no_engine_and_zero_timeouts_are_refused() {
        let mut s = Scan {
            engines: vec![],
            timeout_secs: 0,
            ..Scan::default()
        };
        s.clamd.timeout_secs = 0;
        s.spamd.timeout_secs = 0;
        assert_eq!(
            keys(&s),
            vec![
                "scan.timeout_secs",
                "scan.engines",
                "scan.clamd.timeout_secs",
                "scan.spamd.timeout_secs"
            ]
        );
    }

    #[test]
    fn scan_size_fits_in_the_held_message() {
        let s = Scan {
            max_scan_bytes: Limits::default().max_message_bytes + 1,
            ..Scan::default()
        };
        assert_eq!(keys(&s), vec!["scan.max_scan_bytes"]);
    }

    #[test]
    fn daemon_addresses_are_checked_only_for_engines_in_use() {
        let mut s = Scan::default();
        s.clamd.address = "clamd.ctl".into();
        s.clamd.chunk_bytes = 0;
        s.spamd.address = "unix:spamd.sock".into();
        assert!(keys(&s).is_empty(), "engines not listed are not checked");
        s.engines = vec![Engine::Clamd, Engine::Spamd];
        let mut e = Vec::new();
        s.validate(&Limits::default(), &mut e);
        let k: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            k,
            vec![
                "scan.clamd.address",
                "scan.clamd.chunk_bytes",
                "scan.spamd.address"
            ]
        );
        assert_eq!(e[0].value, "clamd.ctl");
        assert!(e[0].fix.contains("unix:/path"), "{e:?}");
        assert!(e[2].fix.contains("absolute path"), "{e:?}");
    }
}
