//! Addresses written in the config: scanner daemons (`unix:/path`, `tcp:host:port`) and
//! fixed upstreams (`host:port`).
use std::path::PathBuf;

/// A scanner daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketSpec {
    Unix(PathBuf),
    Tcp(String),
}

impl SocketSpec {
    /// The error is the fix to show the admin.
    pub fn parse(s: &str) -> Result<SocketSpec, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.starts_with('/') {
                return Ok(SocketSpec::Unix(PathBuf::from(p)));
            }
            return Err(
                "a unix socket needs an absolute path, for example unix:/run/clamav/clamd.ctl"
                    .into(),
            );
        }
        if let Some(hp) = s.strip_prefix("tcp:")
            && parse_host_port(hp).is_some()
        {
            return Ok(SocketSpec::Tcp(hp.to_string()));
        }
        Err("write unix:/path/to/socket or tcp:host:port".into())
    }
}

/// `host:port` with a numeric port; IPv6 literals in brackets.
pub fn parse_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(['/', ' ']) {
        return None;
    }
    Some((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_specs() {
        assert_eq!(
            SocketSpec::parse("tcp:127.0.0.1:3310"),
            Ok(SocketSpec::Tcp("127.0.0.1:3310".into()))
        );
        assert_eq!(
            SocketSpec::parse("unix:/run/clamav/clamd.ctl"),
            Ok(SocketSpec::Unix("/run/clamav/clamd.ctl".into()))
        );
        assert!(SocketSpec::parse("unix:relative").is_err());
        assert!(SocketSpec::parse("127.0.0.1:3310").is_err());
        assert!(SocketSpec::parse("tcp:127.0.0.1").is_err());
        assert_eq!(
            parse_host_port("[2001:db8::1]:110"),
            Some(("2001:db8::1".into(), 110))
        );
    }

    #[test]
    fn host_port_refusals() {
        for bad in [
            "host",
            "host:0",
            ":110",
            "host:port",
            "a b:110",
            "a/b:110",
            "[]:110",
        ] {
            assert_eq!(parse_host_port(bad), None, "{bad}");
        }
        assert_eq!(
            parse_host_port("mail.example.net:110"),
            Some(("mail.example.net".into(), 110))
        );
    }
}
