//! `[metrics]`: where the Prometheus scrape endpoint listens (off unless set), and the
//! bounds on its requests. An address off loopback needs `allow_non_loopback = true`, so a
//! typo never exposes the gateway's counters on the LAN.
use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;
use super::error::{at_least_one, seconds};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsCfg {
    /// Address of the `GET /metrics` endpoint; none = no endpoint.
    pub listen: Option<SocketAddr>,
    /// Must be true for a `listen` address other than loopback.
    pub allow_non_loopback: bool,
    /// A scrape must send its request and take the answer within this time.
    pub timeout_secs: u64,
    /// Longest request head (request line and headers) read.
    pub max_request_bytes: usize,
    /// Scrapes served at once; more are closed at once.
    pub max_connections: usize,
}

impl Default for MetricsCfg {
    fn default() -> Self {
        MetricsCfg {
            listen: None,
            allow_non_loopback: false,
            timeout_secs: 5,
            max_request_bytes: 8192,
            max_connections: 4,
        }
    }
}

impl MetricsCfg {
    pub fn validate(&self, errors: &mut Vec<ConfigError>) {
        if let Some(a) = self.listen
            && !a.ip().is_loopback()
            && !self.allow_non_loopback
        {
            errors.push(ConfigError::new(
                "metrics.listen",
                a,
                "is not a loopback address: use 127.0.0.1 or [::1], or set metrics.allow_non_loopback = true to serve it there on purpose",
            ));
        }
        seconds(errors, "metrics.timeout_secs", self.timeout_secs, true);
        at_least_one(
            errors,
            "metrics.max_connections",
            self.max_connections as u64,
        );
        if !(256..=65536).contains(&self.max_request_bytes) {
            errors.push(ConfigError::new(
                "metrics.max_request_bytes",
                self.max_request_bytes,
                "must be between 256 and 65536",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &MetricsCfg) -> Vec<String> {
        let mut e = Vec::new();
        m.validate(&mut e);
        e.into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn loopback_only_unless_allowed() {
        assert!(keys(&MetricsCfg::default()).is_empty());
        let mut m = MetricsCfg {
            listen: Some("127.0.0.1:9325".parse().unwrap()),
            ..MetricsCfg::default()
        };
        assert!(keys(&m).is_empty());
        m.listen = Some("[::1]:9325".parse().unwrap());
        assert!(keys(&m).is_empty());
        m.listen = Some("0.0.0.0:9325".parse().unwrap());
        assert_eq!(keys(&m), vec!["metrics.listen"]);
        m.listen = Some("192.0.2.1:9325".parse().unwrap());
        assert_eq!(keys(&m), vec!["metrics.listen"]);
        m.allow_non_loopback = true;
        assert!(keys(&m).is_empty());
    }

    #[test]
    fn bounds_are_checked() {
        let m = MetricsCfg {
            timeout_secs: 0,
            max_request_bytes: 10,
            max_connections: 0,
            ..MetricsCfg::default()
        };
        assert_eq!(
            keys(&m),
            vec![
                "metrics.timeout_secs",
                "metrics.max_connections",
                "metrics.max_request_bytes"
            ]
        );
    }
}
