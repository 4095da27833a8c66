//! One error type for a proxied session, saying which side failed so the session log can
//! blame the client, the real server, a scanner or the gateway itself.
use std::fmt;
use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
    Scanner,
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

#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyError {
    Io { side: Side, source: io::Error },
    Timeout { side: Side, what: &'static str },
    Protocol { side: Side, why: String },
    Closed { side: Side },
}

impl ProxyError {
    pub fn side(&self) -> Side {
        match self {
            ProxyError::Io { side, .. }
            | ProxyError::Timeout { side, .. }
            | ProxyError::Protocol { side, .. }
            | ProxyError::Closed { side } => *side,
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
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Io { side, source } => write!(f, "{side} I/O error: {source}"),
            ProxyError::Timeout { side, what } => write!(f, "{side} timed out: {what}"),
            ProxyError::Protocol { side, why } => write!(f, "{side} protocol error: {why}"),
            ProxyError::Closed { side } => write!(f, "{side} closed the connection"),
        }
    }
}

impl std::error::Error for ProxyError {}
