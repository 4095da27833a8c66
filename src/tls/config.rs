//! The `[tls]` config section: where the local CA lives, how upstream servers are verified,
//! which connections are intercepted, and the bounds of the TLS machinery.
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use rustls::pki_types::ServerName;
use serde::Deserialize;

use crate::config::{ConfigError, Listener};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsCfg {
    /// Holds `ca.pem` (certificate), `ca.key` (private key, mode 0600) and after a rotation
    /// `ca.old.pem`.
    pub ca_dir: PathBuf,
    /// Owner of the CA directory and key when `portcullis ca init` runs as root; empty
    /// keeps the invoking user as owner.
    pub service_user: String,
    /// Lifetime of a new CA certificate.
    pub ca_validity_days: u32,
    /// DNS name constraints written into a new CA (permitted subtrees); [] = none.
    pub ca_permitted_names: Vec<String>,
    /// DNS name constraints written into a new CA (excluded subtrees); [] = none.
    pub ca_excluded_names: Vec<String>,
    /// Longest lifetime of a minted leaf; it also never outlives the upstream certificate.
    pub leaf_max_days: u32,
    /// Minted leaves kept (least recently used is dropped first).
    pub leaf_cache_entries: usize,
    /// STARTTLS destinations whose server name is remembered from a client's verified SNI,
    /// so the next session verifies the server before the client is told to start TLS
    /// (least recently used is dropped first).
    pub learned_names: usize,
    /// Trust anchors for upstream servers: `webpki` (built-in Mozilla list) or `system`.
    pub upstream_roots: UpstreamRoots,
    /// Extra PEM file of CA certificates trusted for upstream servers; empty = none.
    pub extra_ca_file: Option<PathBuf>,
    /// Original destination (`ip` or `ip:port`) -> the server name to verify, for clients
    /// that send no SNI and for STARTTLS, where the name is needed before the ClientHello.
    pub sni_map: BTreeMap<String, String>,
    /// Clients without SNI and without a map entry: `passthrough` (end to end, unscanned,
    /// logged) or `refuse`.
    pub no_sni: NoSniPolicy,
    /// Destinations (`ip`, `ip:port`) or names (`host`, `.domain` for every subdomain) that
    /// always stay end to end, unscanned.
    pub bypass: Vec<String>,
    /// Per-listener mode, keyed by the listener's `listen` address.
    pub listener_mode: BTreeMap<String, TlsMode>,
    /// How long a client may take to send its ClientHello and to finish its handshake.
    pub handshake_timeout_secs: u64,
    /// Largest ClientHello read (and kept for replay when a session is passed through).
    pub max_client_hello_bytes: usize,
}

impl Default for TlsCfg {
    fn default() -> Self {
        TlsCfg {
            ca_dir: PathBuf::from("/var/lib/portcullis/ca"),
            service_user: String::new(),
            ca_validity_days: 3650,
            ca_permitted_names: Vec::new(),
            ca_excluded_names: Vec::new(),
            leaf_max_days: 30,
            leaf_cache_entries: 1024,
            learned_names: 1024,
            upstream_roots: UpstreamRoots::Webpki,
            extra_ca_file: None,
            sni_map: BTreeMap::new(),
            no_sni: NoSniPolicy::Passthrough,
            bypass: Vec::new(),
            listener_mode: BTreeMap::new(),
            handshake_timeout_secs: 15,
            max_client_hello_bytes: 65536,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamRoots {
    Webpki,
    System,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NoSniPolicy {
    Passthrough,
    Refuse,
}

/// What a listener does with TLS (implicit or after STARTTLS).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Terminate with a minted leaf, verify upstream, scan in between.
    Intercept,
    /// Relay the encrypted session end to end, unscanned (logged as such).
    Passthrough,
    /// Hide STARTTLS/STLS from the client so the session stays plaintext and scannable.
    Strip,
}

/// One parsed `bypass` or `sni_map` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Ip(IpAddr),
    Addr(SocketAddr),
}

impl Dest {
    pub fn parse(s: &str) -> Option<Dest> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Some(Dest::Addr(a));
        }
        let ip = s.trim_start_matches('[').trim_end_matches(']');
        ip.parse::<IpAddr>().ok().map(Dest::Ip)
    }

    pub fn matches(&self, dest: SocketAddr) -> bool {
        let ip = canonical(dest.ip());
        match self {
            Dest::Ip(i) => canonical(*i) == ip,
            Dest::Addr(a) => canonical(a.ip()) == ip && a.port() == dest.port(),
        }
    }
}

/// An IPv4 client on a dual-stack socket shows up as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A name in `bypass`: `host` matches itself, `.domain` every name below the domain.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let name = name.trim_end_matches('.');
    match pattern.strip_prefix('.') {
        Some(domain) => {
            name.len() > domain.len()
                && name[name.len() - domain.len()..].eq_ignore_ascii_case(domain)
                && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
        }
        None => pattern.eq_ignore_ascii_case(name),
    }
}

fn is_dns_name(s: &str) -> bool {
    matches!(ServerName::try_from(s), Ok(ServerName::DnsName(_)))
}

impl TlsCfg {
    /// The mode of the listener on `listen`: its `listener_mode` entry, else `intercept`
    /// once a CA exists, else `None` (the listener keeps its own `starttls` choice).
    pub fn mode_for(&self, listen: SocketAddr, ca_exists: bool) -> Option<TlsMode> {
        let explicit = self
            .listener_mode
            .iter()
            .find(|(k, _)| k.parse::<SocketAddr>().ok() == Some(listen))
            .map(|(_, m)| *m);
        explicit.or(ca_exists.then_some(TlsMode::Intercept))
    }

    /// The configured name for an original destination (`ip:port` entries win over `ip`).
    pub fn mapped_name(&self, dest: SocketAddr) -> Option<&str> {
        let mut by_ip = None;
        for (k, v) in &self.sni_map {
            match Dest::parse(k) {
                Some(d @ Dest::Addr(_)) if d.matches(dest) => return Some(v),
                Some(d @ Dest::Ip(_)) if d.matches(dest) => by_ip = Some(v.as_str()),
                _ => {}
            }
        }
        by_ip
    }

    pub fn bypass_dest(&self, dest: SocketAddr) -> bool {
        self.bypass
            .iter()
            .filter_map(|b| Dest::parse(b))
            .any(|d| d.matches(dest))
    }

    pub fn bypass_name(&self, name: &str) -> bool {
        self.bypass
            .iter()
            .filter(|b| Dest::parse(b).is_none())
            .any(|b| name_matches(b, name))
    }

    /// Every problem with the section, in the key/value/fix shape of the rest of the config.
    pub fn validate(&self, listeners: &[Listener]) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        let mut bad = |key: String, value: String, fix: &str| {
            errs.push(ConfigError {
                key,
                value,
                fix: fix.into(),
            })
        };
        for (key, v) in [
            ("tls.ca_validity_days", self.ca_validity_days as u64),
            ("tls.leaf_max_days", self.leaf_max_days as u64),
            ("tls.leaf_cache_entries", self.leaf_cache_entries as u64),
            ("tls.learned_names", self.learned_names as u64),
            ("tls.handshake_timeout_secs", self.handshake_timeout_secs),
        ] {
            if v == 0 {
                bad(key.into(), "0".into(), "give a positive number");
            }
        }
        if self.max_client_hello_bytes < 4096 || self.max_client_hello_bytes > 1 << 20 {
            let v = self.max_client_hello_bytes.to_string();
            bad(
                "tls.max_client_hello_bytes".into(),
                v,
                "give 4096..=1048576",
            );
        }
        if self.ca_validity_days > 3650 * 3 {
            let v = self.ca_validity_days.to_string();
            bad("tls.ca_validity_days".into(), v, "at most 10950 (30 years)");
        }
        if self.leaf_max_days > 397 {
            let v = self.leaf_max_days.to_string();
            bad(
                "tls.leaf_max_days".into(),
                v,
                "at most 397 (what clients accept for a server certificate)",
            );
        }
        for (key, names) in [
            ("tls.ca_permitted_names", &self.ca_permitted_names),
            ("tls.ca_excluded_names", &self.ca_excluded_names),
        ] {
            for n in names
                .iter()
                .filter(|n| !is_dns_name(n.trim_start_matches('.')))
            {
                bad(key.into(), n.clone(), "give a DNS name such as example.com");
            }
        }
        for (k, v) in &self.sni_map {
            if Dest::parse(k).is_none() {
                bad(
                    format!("tls.sni_map.\"{k}\""),
                    k.clone(),
                    "key must be ip or ip:port",
                );
            }
            if !is_dns_name(v) && v.parse::<IpAddr>().is_err() {
                bad(format!("tls.sni_map.\"{k}\""), v.clone(), "give a DNS name");
            }
        }
        for b in &self.bypass {
            if Dest::parse(b).is_none() && !is_dns_name(b.trim_start_matches('.')) {
                bad(
                    "tls.bypass".into(),
                    b.clone(),
                    "give ip, ip:port, a host name or .domain",
                );
            }
        }
        for (k, mode) in &self.listener_mode {
            let found = k
                .parse::<SocketAddr>()
                .map(|a| listeners.iter().find(|l| l.listen == a));
            match found {
                // Strip hides STARTTLS; a connection that is TLS from its first byte has
                // nothing to strip and would only be passed through unscanned.
                Ok(Some(l)) if l.implicit_tls && *mode == TlsMode::Strip => bad(
                    format!("tls.listener_mode.\"{k}\""),
                    "strip".into(),
                    "this listener has implicit_tls = true: use intercept or passthrough",
                ),
                Ok(Some(_)) => {}
                Ok(None) => bad(
                    format!("tls.listener_mode.\"{k}\""),
                    k.clone(),
                    "no [[listener]] listens there; use a listener's listen address",
                ),
                Err(_) => bad(
                    format!("tls.listener_mode.\"{k}\""),
                    k.clone(),
                    "key must be a listen address such as \"[::]:10995\"",
                ),
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> TlsCfg {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = TlsCfg::default();
        assert_eq!(c.leaf_cache_entries, 1024);
        assert_eq!(c.no_sni, NoSniPolicy::Passthrough);
        assert_eq!(c.upstream_roots, UpstreamRoots::Webpki);
        assert!(c.validate(&[]).is_empty());
    }

    #[test]
    fn bad_values_name_the_key() {
        let c = cfg(
            "leaf_cache_entries = 0\nbypass = [\"not a name!\"]\n[sni_map]\n\"198.18.0.1\" = \"bad name!\"\n\"x\" = \"a.example\"\n[listener_mode]\n\"[::]:1\" = \"intercept\"\n",
        );
        let keys: Vec<String> = c.validate(&[]).into_iter().map(|e| e.key).collect();
        assert!(keys.contains(&"tls.leaf_cache_entries".into()), "{keys:?}");
        assert!(keys.contains(&"tls.bypass".into()), "{keys:?}");
        assert!(
            keys.contains(&"tls.sni_map.\"198.18.0.1\"".into()),
            "{keys:?}"
        );
        assert!(keys.contains(&"tls.sni_map.\"x\"".into()), "{keys:?}");
        assert!(
            keys.contains(&"tls.listener_mode.\"[::]:1\"".into()),
            "{keys:?}"
        );
    }

    #[test]
    fn strip_is_refused_for_an_implicit_tls_listener() {
        let c = cfg(
            "learned_names = 0\n[listener_mode]\n\"[::]:10995\" = \"strip\"\n\"[::]:10110\" = \"strip\"\n",
        );
        let listener = |listen: &str, implicit_tls| Listener {
            protocol: crate::config::Protocol::Pop3,
            listen: listen.parse().unwrap(),
            intercept_ports: vec![110],
            upstream: None,
            starttls: crate::config::StartTls::Passthrough,
            implicit_tls,
        };
        let ls = [listener("[::]:10995", true), listener("[::]:10110", false)];
        let errs = c.validate(&ls);
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["tls.learned_names", "tls.listener_mode.\"[::]:10995\""],
            "{errs:?}"
        );
    }

    #[test]
    fn map_prefers_ip_and_port_and_sees_through_mapped_v4() {
        let c = cfg(
            "[sni_map]\n\"192.0.2.1\" = \"any.example\"\n\"192.0.2.1:995\" = \"pop.example\"\n",
        );
        let v6: SocketAddr = "[::ffff:192.0.2.1]:995".parse().unwrap();
        assert_eq!(c.mapped_name(v6), Some("pop.example"));
        assert_eq!(
            c.mapped_name("192.0.2.1:465".parse().unwrap()),
            Some("any.example")
        );
        assert_eq!(c.mapped_name("192.0.2.2:995".parse().unwrap()), None);
    }

    #[test]
    fn bypass_by_destination_and_name() {
        let c = cfg(
            "bypass = [\"192.0.2.7\", \"198.51.100.1:465\", \"bank.example\", \".corp.example\"]\n",
        );
        assert!(c.bypass_dest("192.0.2.7:995".parse().unwrap()));
        assert!(c.bypass_dest("198.51.100.1:465".parse().unwrap()));
        assert!(!c.bypass_dest("198.51.100.1:995".parse().unwrap()));
        assert!(c.bypass_name("BANK.example"));
        assert!(c.bypass_name("mail.corp.example"));
        assert!(!c.bypass_name("corp.example"));
        assert!(!c.bypass_name("xcorp.example"));
        assert!(!c.bypass_name("notbank.example"));
    }

    #[test]
    fn mode_defaults_to_intercept_once_a_ca_exists() {
        let c = cfg("[listener_mode]\n\"[::]:10110\" = \"strip\"\n");
        let a: SocketAddr = "[::]:10110".parse().unwrap();
        let b: SocketAddr = "[::]:10025".parse().unwrap();
        assert_eq!(c.mode_for(a, true), Some(TlsMode::Strip));
        assert_eq!(c.mode_for(b, true), Some(TlsMode::Intercept));
        assert_eq!(c.mode_for(b, false), None);
    }
}
