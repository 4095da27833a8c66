//! One configuration problem (key, bad value, fix) and the checks every section shares.
use std::fmt;

/// Longest duration any `*_secs` key accepts: one year. Longer waits mean nothing to a
/// mail proxy and would overflow the deadline arithmetic of the timers.
pub const MAX_SECS: u64 = 365 * 24 * 3600;

/// One validation problem: which key, what value, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The dotted key (`limits.max_connections`, `listener[1].listen`), or `(line N)` when
    /// the text itself could not be read as a config.
    pub key: String,
    /// The value as written (or the offending text for a syntax error).
    pub value: String,
    /// What to change, in words an admin can act on.
    pub fix: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, value: impl fmt::Display, fix: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            value: value.to_string(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}: {}", self.key, self.value, self.fix)
    }
}

impl std::error::Error for ConfigError {}

/// A count or size that must not be zero.
pub(super) fn at_least_one(errors: &mut Vec<ConfigError>, key: &str, v: u64) {
    if v == 0 {
        errors.push(ConfigError::new(key, 0, "must be at least 1"));
    }
}

/// A duration in seconds: at least 1 when `required`, never above [`MAX_SECS`].
pub(super) fn seconds(errors: &mut Vec<ConfigError>, key: &str, v: u64, required: bool) {
    if required {
        at_least_one(errors, key, v);
    }
    if v > MAX_SECS {
        errors.push(ConfigError::new(
            key,
            v,
            format!("must be at most {MAX_SECS} (one year)"),
        ));
    }
}

/// Turns a toml/serde error into the same key/value/fix shape as validation errors.
pub(super) fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let (key, snippet) = match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let snippet = text
                .get(span.clone())
                .unwrap_or("")
                .chars()
                .take(80)
                .collect::<String>();
            (format!("(line {line})"), snippet)
        }
        None => ("(config)".to_string(), String::new()),
    };
    let fix = match e.message().trim() {
        // The TOML parser names no reason for some bytes (a control character in a
        // comment): still say what to do.
        "" => "not valid TOML here: remove control characters and check the quoting",
        why => why,
    };
    ConfigError::new(key, snippet, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_error_without_a_reason_still_says_what_to_do() {
        // Found by the config fuzz target: the parser gives no message for this one.
        let errors = super::super::Config::parse("#\0").unwrap_err();
        assert_eq!(errors[0].key, "(line 1)");
        assert!(!errors[0].fix.is_empty(), "{errors:?}");
    }

    #[test]
    fn seconds_bounds() {
        let mut e = Vec::new();
        seconds(&mut e, "a", 0, false);
        seconds(&mut e, "b", MAX_SECS, true);
        assert!(e.is_empty(), "{e:?}");
        seconds(&mut e, "c", 0, true);
        seconds(&mut e, "d", MAX_SECS + 1, false);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].to_string(), "c = 0: must be at least 1");
        assert_eq!(e[1].key, "d");
        assert_eq!(e[1].value, (MAX_SECS + 1).to_string());
        assert!(e[1].fix.contains("at most"), "{e:?}");
    }
}
