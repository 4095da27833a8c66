//! `[smtp]`: submission-side choices (bare line endings, recipients per message).
use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BareLineEndings {
    /// 554 for a message with a bare CR or LF.
    Reject,
    /// Turn every bare CR or LF into CRLF and re-stuff before relaying.
    Normalise,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smtp {
    pub bare_line_endings: BareLineEndings,
    /// RCPT commands accepted per message (RFC 5321 asks servers to take at least 100).
    pub max_recipients: usize,
    /// Commands of a client's pipelined group sent to the server in one write (RFC 2920).
    pub max_pipelined_commands: usize,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            bare_line_endings: BareLineEndings::Reject,
            max_recipients: 100,
            max_pipelined_commands: 500,
        }
    }
}

impl Smtp {
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.max_recipients == 0 {
            errors.push(ConfigError::new(
                "smtp.max_recipients",
                0,
                "must be at least 1 (RFC 5321 suggests 100)",
            ));
        }
        if self.max_pipelined_commands == 0 {
            errors.push(ConfigError::new(
                "smtp.max_pipelined_commands",
                0,
                "must be at least 1 (1 relays one command at a time)",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_must_be_allowed() {
        let mut e = Vec::new();
        Smtp::default().validate(&mut e);
        assert_eq!(e, vec![]);
        let s = Smtp {
            max_recipients: 0,
            ..Smtp::default()
        };
        s.validate(&mut e);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].key, "smtp.max_recipients");
        assert!(e[0].fix.contains("RFC 5321"), "{e:?}");
        let s = Smtp {
            max_pipelined_commands: 0,
            ..Smtp::default()
        };
        s.validate(&mut e);
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].key, "smtp.max_pipelined_commands");
    }
}
