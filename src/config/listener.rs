//! `[[listener]]`: where the proxy listens, for which protocol, and where it forwards.
use std::fmt;
use std::net::SocketAddr;

use serde::Deserialize;

use super::{ConfigError, parse_host_port};

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Pop3,
    Smtp,
    Imap,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Pop3 => "pop3",
            Protocol::Smtp => "smtp",
            Protocol::Imap => "imap",
        })
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartTls {
    /// Relay STLS and splice the encrypted session unscanned (logged as such).
    Passthrough,
    /// Hide STLS from CAPA and refuse it, so every session stays scannable.
    Strip,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub protocol: Protocol,
    /// Where the proxy listens; `[::]:port` also accepts IPv4.
    pub listen: SocketAddr,
    /// Destination ports nftables redirects here; empty for fixed-upstream listeners.
    #[serde(default)]
    pub intercept_ports: Vec<u16>,
    /// Fixed upstream `host:port` for clients that are not redirected.
    #[serde(default)]
    pub upstream: Option<String>,
    #[serde(default = "default_starttls")]
    pub starttls: StartTls,
    /// Clients speak TLS from the first byte (POP3S 995, SMTPS 465): the session is
    /// intercepted per `tls.listener_mode` once a CA exists, else passed through unscanned.
    #[serde(default)]
    pub implicit_tls: bool,
}

fn default_starttls() -> StartTls {
    StartTls::Passthrough
}

impl Listener {
    /// One listener on its own; `i` is its index in the config, for the key names.
    pub fn validate(&self, i: usize, errors: &mut Vec<ConfigError>) {
        let key = |k: &str| format!("listener[{i}].{k}");
        match &self.upstream {
            Some(up) => {
                if parse_host_port(up).is_none() {
                    errors.push(ConfigError::new(
                        key("upstream"),
                        up,
                        "write host:port, for example \"mail.example.net:110\" or \"[2001:db8::1]:110\"",
                    ));
                }
                if !self.intercept_ports.is_empty() {
                    errors.push(ConfigError::new(
                        key("intercept_ports"),
                        format!("{:?}", self.intercept_ports),
                        "a fixed-upstream listener is not redirected to; remove intercept_ports or upstream",
                    ));
                }
            }
            None if self.intercept_ports.is_empty() => errors.push(ConfigError::new(
                key("intercept_ports"),
                "[]",
                "a transparent listener needs the ports to redirect, for example [110]; or set upstream",
            )),
            None => {}
        }
        if self.intercept_ports.contains(&0) {
            errors.push(ConfigError::new(
                key("intercept_ports"),
                format!("{:?}", self.intercept_ports),
                "port 0 is not a port; list the real destination ports, for example [110]",
            ));
        }
        if self.listen.port() == 0 {
            errors.push(ConfigError::new(
                key("listen"),
                self.listen,
                "give a fixed port",
            ));
        }
    }

    /// All listeners: at least one, each valid, no listen address or intercepted port twice.
    pub fn validate_all(listeners: &[Listener], errors: &mut Vec<ConfigError>) {
        if listeners.is_empty() {
            errors.push(ConfigError::new(
                "listener",
                "(none)",
                "add at least one [[listener]] table with protocol and listen",
            ));
        }
        for (i, ln) in listeners.iter().enumerate() {
            ln.validate(i, errors);
            for (j, other) in listeners.iter().enumerate().skip(i + 1) {
                if other.listen == ln.listen {
                    errors.push(ConfigError::new(
                        format!("listener[{j}].listen"),
                        other.listen,
                        format!("already used by listener[{i}]; give each listener its own port"),
                    ));
                }
                for p in &other.intercept_ports {
                    if ln.intercept_ports.contains(p) {
                        errors.push(ConfigError::new(
                            format!("listener[{j}].intercept_ports"),
                            p,
                            format!("port {p} is already redirected to listener[{i}]"),
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transparent(listen: &str, ports: &[u16]) -> Listener {
        Listener {
            protocol: Protocol::Pop3,
            listen: listen.parse().unwrap(),
            intercept_ports: ports.to_vec(),
            upstream: None,
            starttls: StartTls::Passthrough,
            implicit_tls: false,
        }
    }

    fn errors(ls: &[Listener]) -> Vec<ConfigError> {
        let mut e = Vec::new();
        Listener::validate_all(ls, &mut e);
        e
    }

    #[test]
    fn at_least_one_listener() {
        let e = errors(&[]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].key, "listener");
        assert_eq!(errors(&[transparent("[::]:10110", &[110])]), vec![]);
    }

    #[test]
    fn transparent_or_fixed_upstream() {
        let mut fixed = transparent("[::]:10111", &[110]);
        fixed.upstream = Some("nohostport".into());
        let e = errors(&[transparent("[::]:10110", &[]), fixed]);
        let k: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            k,
            vec![
                "listener[0].intercept_ports",
                "listener[1].upstream",
                "listener[1].intercept_ports"
            ]
        );
        assert_eq!(e[1].value, "nohostport");
        assert!(e[1].fix.contains("host:port"), "{e:?}");
    }

    #[test]
    fn ports_must_be_real() {
        let e = errors(&[transparent("[::]:0", &[0])]);
        let k: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(k, vec!["listener[0].intercept_ports", "listener[0].listen"]);
    }

    #[test]
    fn duplicate_ports_are_refused() {
        let e = errors(&[
            transparent("[::]:1", &[110]),
            transparent("[::]:1", &[110, 995]),
        ]);
        let k: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(k, vec!["listener[1].listen", "listener[1].intercept_ports"]);
        assert_eq!(e[1].value, "110");
        assert!(e[1].fix.contains("listener[0]"), "{e:?}");
    }
}
