//! `[quarantine]`: where originals are kept and for how long.
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

/// Longest retention accepted: ten years, far past any mail retention rule.
const MAX_RETENTION_DAYS: u64 = 3650;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuarantineCfg {
    pub dir: PathBuf,
    /// `portcullis quarantine purge` removes entries older than this.
    pub retention_days: u64,
}

impl Default for QuarantineCfg {
    fn default() -> Self {
        QuarantineCfg {
            dir: PathBuf::from("/var/lib/portcullis/quarantine"),
            retention_days: 30,
        }
    }
}

impl QuarantineCfg {
    /// Whether `dir` can be created and written is a file check (`Config::check_files`).
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.dir.as_os_str().is_empty() {
            errors.push(ConfigError::new(
                "quarantine.dir",
                "\"\"",
                "give the path of a directory, for example \"/var/lib/portcullis/quarantine\"",
            ));
        }
        if self.retention_days > MAX_RETENTION_DAYS {
            errors.push(ConfigError::new(
                "quarantine.retention_days",
                self.retention_days,
                format!("must be at most {MAX_RETENTION_DAYS} (ten years)"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(q: &QuarantineCfg) -> Vec<String> {
        let mut e = Vec::new();
        q.validate(&mut e);
        e.into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn dir_and_retention() {
        assert!(keys(&QuarantineCfg::default()).is_empty());
        let q = QuarantineCfg {
            dir: "".into(),
            retention_days: u64::MAX,
        };
        assert_eq!(
            keys(&q),
            vec!["quarantine.dir", "quarantine.retention_days"]
        );
        let q = QuarantineCfg {
            dir: "/nonexistent/portcullis/quarantine".into(),
            retention_days: 0,
        };
        assert!(
            keys(&q).is_empty(),
            "existence is a file check, 0 purges all"
        );
    }
}
