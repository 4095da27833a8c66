//! Typed configuration, parsed and validated once at start. Every limit the proxy enforces
//! lives here with its default, so an admin can find and tune it in one place; every
//! validation error names the key, the bad value and the fix.
//!
//! One file per section, each with its types, defaults and `validate`. Parsing
//! ([`Config::parse`]) is pure: it reads only the text. The paths the config names are
//! looked at by a separate step, [`Config::check_files`] (`files.rs`).
use std::path::Path;

use serde::Deserialize;

mod abuse;
pub mod bayes;
mod builtin;
mod control;
mod error;
mod files;
mod general;
mod imap;
mod limits;
mod listener;
mod metrics;
mod nft;
mod policy;
mod pop3;
mod quarantine;
mod scan;
mod smtp;
mod socket;

pub use abuse::{Abuse, Alert, Lockout, RateRule, RateScope, RateWhat};
pub use builtin::{Builtin, UnopenableArchive};
pub use control::Control;
pub use error::{ConfigError, MAX_SECS};
pub use general::{General, LogFormat};
pub use imap::Imap;
pub use limits::{Limits, MAX_SHUTDOWN_DRAIN_SECS};
pub use listener::{Listener, Protocol, StartTls};
pub use metrics::MetricsCfg;
pub use nft::Nft;
pub use policy::{DownloadAction, DownloadPolicy, Policy, SubmissionPolicy, SubmitAction};
pub use pop3::Pop3;
pub use quarantine::QuarantineCfg;
pub use scan::{Clamd, Engine, Scan, Spamd};
pub use smtp::{BareLineEndings, Smtp};
pub use socket::{SocketSpec, parse_host_port};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub general: General,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub scan: Scan,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub quarantine: QuarantineCfg,
    #[serde(default)]
    pub nft: Nft,
    #[serde(default)]
    pub smtp: Smtp,
    #[serde(default)]
    pub pop3: Pop3,
    #[serde(default)]
    pub imap: Imap,
    #[serde(default)]
    pub abuse: Abuse,
    #[serde(default)]
    pub tls: crate::tls::TlsCfg,
    #[serde(default)]
    pub metrics: MetricsCfg,
    #[serde(default)]
    pub control: Control,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener>,
}

impl Config {
    /// Reads the file and parses it; the paths it names are not looked at (see
    /// [`Config::check_files`]).
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError::new(
                "(file)",
                path.display(),
                format!("cannot read the config file ({e}); give an existing readable path"),
            )]
        })?;
        Config::parse(&text)
    }

    /// Parses and validates config text. Pure: touches neither the filesystem nor the
    /// network, so any text can be fed to it.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        let cfg: Config = toml::from_str(text).map_err(|e| vec![error::toml_error(text, &e)])?;
        let errors = cfg.validate();
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// Every section checks itself; a rule that spans sections is checked by the section
    /// whose key it reports (`scan.max_scan_bytes` against `limits.max_message_bytes`).
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        self.general.validate(&mut errors);
        self.limits.validate(&mut errors);
        self.scan.validate(&self.limits, &mut errors);
        self.policy.validate(&mut errors);
        self.quarantine.validate(&mut errors);
        self.nft.validate(&mut errors);
        self.smtp.validate(&mut errors);
        self.pop3.validate(&mut errors);
        self.imap.validate(&mut errors);
        self.abuse.validate(&mut errors);
        self.metrics.validate(&mut errors);
        self.control.validate(&mut errors);
        Listener::validate_all(&self.listeners, &mut errors);
        errors.extend(self.tls.validate(&self.listeners));
        errors
    }
}

#[cfg(test)]
mod tests;
