//! One error type for a proxied session, saying which side failed so the session log can
//! blame the client, the real server, a scanner or the gateway itself. Each variant is a
//! distinct outcome: a protocol driver chooses what the client is told by matching on the
//! variant, never by reading the message text.
use std::fmt;
use std::io;

/// Who caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The LAN client.
    Client,
    /// The real mail server.
    Server,
    /// A scanning engine.
    Scanner,
    /// The gateway itself (disk, spool, configuration).
    Local,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
            Side::Scanner => "scanner",
            Side::Local => "local",
        })
    }
}

/// Why a session could not go on.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyError {
    /// A read or write on `side`'s connection (or the local disk) failed.
    Io { side: Side, source: io::Error },
    /// `side` made no progress within the limit named by `what`.
    Timeout { side: Side, what: &'static str },
    /// `side` sent a line longer than `limits.max_line_bytes` (`limit`).
    LineTooLong { side: Side, limit: usize },
    /// `side` announced or sent more than the limit named by `what` allows.
    TooLarge {
        side: Side,
        what: &'static str,
        limit: u64,
    },
    /// `side` broke the protocol's grammar; `why` is for the log only.
    Protocol { side: Side, why: String },
    /// `side` closed the connection where the protocol did not allow it.
    Closed { side: Side },
    /// A TLS handshake with `side` failed or was refused (upstream verification, client
    /// handshake); the client got a TLS alert, never a certificate for an unverified server.
    Tls { side: Side, why: String },
    /// The gateway is shutting down and the session was idle (or its drain time ran out).
    Shutdown,
    /// The session was ended on request (`portcullis sessions kill`, `abuse.end_sessions`).
    Killed,
}

impl ProxyError {
    pub fn side(&self) -> Side {
        match self {
            ProxyError::Io { side, .. }
            | ProxyError::Timeout { side, .. }
            | ProxyError::LineTooLong { side, .. }
            | ProxyError::TooLarge { side, .. }
            | ProxyError::Protocol { side, .. }
            | ProxyError::Closed { side }
            | ProxyError::Tls { side, .. } => *side,
            ProxyError::Shutdown | ProxyError::Killed => Side::Local,
        }
    }

    pub fn io(side: Side) -> impl FnOnce(io::Error) -> ProxyError {
        move |source| ProxyError::Io { side, source }
    }

    pub fn protocol(side: Side, why: impl Into<String>) -> ProxyError {
        ProxyError::Protocol {
            side,
            why: why.into(),
        }
    }

    /// The client broke the protocol in a way that ends the session (an overlong line, an
    /// impossible size, a grammar error the session cannot recover from).
    pub fn is_client_fault(&self) -> bool {
        self.side() == Side::Client
            && matches!(
                self,
                ProxyError::LineTooLong { .. }
                    | ProxyError::TooLarge { .. }
                    | ProxyError::Protocol { .. }
            )
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Io { side, source } => write!(f, "{side} I/O error: {source}"),
            ProxyError::Timeout { side, what } => write!(f, "{side} timed out: {what}"),
            ProxyError::LineTooLong { side, limit } => {
                write!(
                    f,
                    "{side} sent a line longer than limits.max_line_bytes ({limit})"
                )
            }
            ProxyError::TooLarge { side, what, limit } => {
                write!(f, "{side} sent more than {what} ({limit})")
            }
            ProxyError::Protocol { side, why } => write!(f, "{side} protocol error: {why}"),
            ProxyError::Closed { side } => write!(f, "{side} closed the connection"),
            ProxyError::Tls { side, why } => write!(f, "{side} TLS: {why}"),
            ProxyError::Shutdown => f.write_str("local: the gateway is shutting down"),
            ProxyError::Killed => f.write_str("local: the session was ended on request"),
        }
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProxyError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn io_errors_expose_their_source_and_blame_a_side() {
        let e = ProxyError::io(Side::Server)(io::Error::other("reset"));
        assert_eq!(e.side(), Side::Server);
        assert!(e.source().is_some());
        assert!(!e.is_client_fault());
        let long = ProxyError::LineTooLong {
            side: Side::Client,
            limit: 10,
        };
        assert!(long.is_client_fault());
        assert!(long.source().is_none());
        assert_eq!(ProxyError::Shutdown.side(), Side::Local);
    }
}
