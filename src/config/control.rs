//! `[control]`: the Unix socket the running proxy answers admin commands on
//! (`portcullis sessions kill`, `portcullis reload`); off unless `socket` is set.
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use super::error::seconds;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Control {
    /// Path of the control socket (created mode 0600, owned by the service user); none =
    /// no socket.
    pub socket: Option<PathBuf>,
    /// A command must arrive and be answered within this time.
    pub timeout_secs: u64,
    /// Longest command line read.
    pub max_request_bytes: usize,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: None,
            timeout_secs: 5,
            max_request_bytes: 1024,
        }
    }
}

impl Control {
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        if let Some(p) = &self.socket
            && (!p.is_absolute() || p.as_os_str().len() > 100)
        {
            errors.push(ConfigError::new(
                "control.socket",
                p.display(),
                "give an absolute path of at most 100 bytes, for example \"/run/portcullis/control.sock\"",
            ));
        }
        seconds(errors, "control.timeout_secs", self.timeout_secs, true);
        if !(64..=65536).contains(&self.max_request_bytes) {
            errors.push(ConfigError::new(
                "control.max_request_bytes",
                self.max_request_bytes,
                "must be between 64 and 65536",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_and_bounds() {
        let mut e = Vec::new();
        Control::default().validate(&mut e);
        assert!(e.is_empty());
        let c = Control {
            socket: Some("run/x.sock".into()),
            timeout_secs: 0,
            max_request_bytes: 1,
        };
        c.validate(&mut e);
        let keys: Vec<_> = e.into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            vec![
                "control.socket",
                "control.timeout_secs",
                "control.max_request_bytes"
            ]
        );
    }
}
