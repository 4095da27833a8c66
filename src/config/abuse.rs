//! `[abuse]`: rate limits (`[[abuse.rate]]`), the login lockout and the alert command.
use serde::Deserialize;

use super::ConfigError;
use super::error::{at_least_one, seconds};

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RateScope {
    /// Per authenticated user name (sessions without a login are not counted here).
    User,
    /// Per client IP address.
    Client,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RateWhat {
    Messages,
    Recipients,
    Bytes,
}

/// At most `max` of `what` per `scope` within any `window_secs`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateRule {
    pub scope: RateScope,
    pub what: RateWhat,
    pub max: u64,
    pub window_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lockout {
    /// Failed logins (SMTP AUTH, POP3 PASS/APOP/AUTH) per client address and per user
    /// within `window_secs` that start a block; 0 disables the lockout.
    pub max_failures: u64,
    pub window_secs: u64,
    pub block_secs: u64,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout {
            max_failures: 5,
            window_secs: 1800,
            block_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Alert {
    /// Absolute path of a program run for every limit hit or lockout, with the details in
    /// PORTCULLIS_* environment variables. None = log only.
    pub command: Option<String>,
    /// One alert per incident (kind, scope, key) within this time.
    pub cooldown_secs: u64,
    /// The command is killed after this long.
    pub timeout_secs: u64,
}

impl Default for Alert {
    fn default() -> Self {
        Alert {
            command: None,
            cooldown_secs: 300,
            timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Abuse {
    pub rate: Vec<RateRule>,
    pub lockout: Lockout,
    pub alert: Alert,
    /// Users and addresses tracked at once; the least recently seen are forgotten first.
    pub max_tracked_keys: usize,
    /// A rate limit hit or a lockout also ends the offender's live sessions (by user for a
    /// user-scope hit, by client address for a client-scope one).
    pub end_sessions: bool,
}

impl Default for Abuse {
    fn default() -> Self {
        let rule = |scope, what, max, window_secs| RateRule {
            scope,
            what,
            max,
            window_secs,
        };
        Abuse {
            rate: vec![
                rule(RateScope::User, RateWhat::Messages, 100, 3600),
                rule(RateScope::User, RateWhat::Messages, 500, 86_400),
                rule(RateScope::User, RateWhat::Recipients, 1000, 86_400),
                rule(RateScope::Client, RateWhat::Messages, 300, 3600),
            ],
            lockout: Lockout::default(),
            alert: Alert::default(),
            max_tracked_keys: 100_000,
            end_sessions: false,
        }
    }
}

impl Abuse {
    /// Whether the alert command exists and is executable is a file check
    /// (`Config::check_files`); here only that it is an absolute path.
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        for (i, r) in self.rate.iter().enumerate() {
            if r.max == 0 {
                errors.push(ConfigError::new(
                    format!("abuse.rate[{i}].max"),
                    0,
                    "must be at least 1 (remove the rule to disable it)",
                ));
            }
            seconds(
                errors,
                &format!("abuse.rate[{i}].window_secs"),
                r.window_secs,
                true,
            );
        }
        self.lockout.validate(errors);
        self.alert.validate(errors);
        at_least_one(
            errors,
            "abuse.max_tracked_keys",
            self.max_tracked_keys as u64,
        );
    }
}

impl Lockout {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.max_failures > 0 && (self.window_secs == 0 || self.block_secs == 0) {
            errors.push(ConfigError::new(
                "abuse.lockout",
                format!(
                    "window_secs = {}, block_secs = {}",
                    self.window_secs, self.block_secs
                ),
                "both must be at least 1 (or set max_failures = 0 to disable the lockout)",
            ));
        }
        seconds(errors, "abuse.lockout.window_secs", self.window_secs, false);
        seconds(errors, "abuse.lockout.block_secs", self.block_secs, false);
    }
}

impl Alert {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if let Some(c) = &self.command
            && !std::path::Path::new(c).is_absolute()
        {
            errors.push(ConfigError::new(
                "abuse.alert.command",
                c,
                "give the absolute path of an existing executable file",
            ));
        }
        seconds(
            errors,
            "abuse.alert.cooldown_secs",
            self.cooldown_secs,
            false,
        );
        seconds(errors, "abuse.alert.timeout_secs", self.timeout_secs, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(a: &Abuse) -> Vec<ConfigError> {
        let mut e = Vec::new();
        a.validate(&mut e);
        e
    }

    fn keys(a: &Abuse) -> Vec<String> {
        errors(a).into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(errors(&Abuse::default()), vec![]);
    }

    #[test]
    fn rate_rules_need_a_max_and_a_window() {
        let mut a = Abuse::default();
        a.rate[1].max = 0;
        a.rate[2].window_secs = 0;
        a.rate[3].window_secs = u64::MAX;
        assert_eq!(
            keys(&a),
            vec![
                "abuse.rate[1].max",
                "abuse.rate[2].window_secs",
                "abuse.rate[3].window_secs"
            ]
        );
    }

    #[test]
    fn lockout_windows_matter_only_when_enabled() {
        let mut a = Abuse::default();
        a.lockout.block_secs = 0;
        let e = errors(&a);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].key, "abuse.lockout");
        assert_eq!(e[0].value, "window_secs = 1800, block_secs = 0");
        assert!(e[0].fix.contains("max_failures = 0"), "{e:?}");
        a.lockout.max_failures = 0;
        assert_eq!(errors(&a), vec![]);
    }

    #[test]
    fn alert_command_must_be_absolute_but_need_not_exist_yet() {
        let mut a = Abuse::default();
        a.alert.command = Some("notify.sh".into());
        let e = errors(&a);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].key, "abuse.alert.command");
        assert_eq!(e[0].value, "notify.sh");
        a.alert.command = Some("/nonexistent/portcullis-alert".into());
        assert_eq!(errors(&a), vec![], "existence is a file check");
    }

    #[test]
    fn zero_tracked_keys_is_refused() {
        let a = Abuse {
            max_tracked_keys: 0,
            ..Abuse::default()
        };
        assert_eq!(keys(&a), vec!["abuse.max_tracked_keys"]);
    }
}
