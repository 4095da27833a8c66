//! `[general]`: where logs and spooled messages go, the log format, the host name.
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    /// One readable file per session lands here; `portcullis sessions` reads it.
    pub session_log_dir: PathBuf,
    /// Messages larger than `limits.spool_memory_bytes` are spooled to files here.
    pub spool_dir: PathBuf,
    /// `json` (one object per line, for log shippers) or `text`.
    pub log_format: LogFormat,
    /// Host name used in notices and the scan header.
    pub hostname: String,
}

impl Default for General {
    fn default() -> Self {
        General {
            session_log_dir: PathBuf::from("/var/log/portcullis/sessions"),
            spool_dir: PathBuf::from("/var/lib/portcullis/spool"),
            log_format: LogFormat::Json,
            hostname: "portcullis".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

impl General {
    /// The host name goes into a header line and notices: it must be one printable token.
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        let h = &self.hostname;
        if h.is_empty() || h.len() > 253 || !h.bytes().all(|b| b.is_ascii_graphic()) {
            errors.push(ConfigError::new(
                "general.hostname",
                format!("{h:?}"),
                "give a host name of 1 to 253 printable ASCII characters without spaces, for example \"gw.example.net\"",
            ));
        }
        for (key, dir) in [
            ("general.session_log_dir", &self.session_log_dir),
            ("general.spool_dir", &self.spool_dir),
        ] {
            if dir.as_os_str().is_empty() {
                errors.push(ConfigError::new(
                    key,
                    "\"\"",
                    "give the path of a directory, for example \"/var/lib/portcullis/spool\"",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(g: &General) -> Vec<ConfigError> {
        let mut e = Vec::new();
        g.validate(&mut e);
        e
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(errors(&General::default()), vec![]);
    }

    #[test]
    fn hostname_must_be_one_printable_token() {
        for bad in ["", "gw example", "gw\r\nX-Injected: 1", &"a".repeat(254)] {
            let g = General {
                hostname: bad.into(),
                ..General::default()
            };
            let e = errors(&g);
            assert_eq!(e.len(), 1, "{bad:?}: {e:?}");
            assert_eq!(e[0].key, "general.hostname");
            assert!(e[0].fix.contains("printable"), "{e:?}");
        }
    }

    #[test]
    fn empty_directories_are_refused() {
        let g = General {
            spool_dir: PathBuf::new(),
            ..General::default()
        };
        let e = errors(&g);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].key, "general.spool_dir");
    }
}
