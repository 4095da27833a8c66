//! The control socket: a Unix socket (`control.socket`, mode 0600) on which the running
//! proxy takes admin commands, one JSON request line per connection and one JSON answer
//! line: end live sessions by user or client (`portcullis sessions kill`), list them, and
//! reload the configuration (`portcullis reload`). Only root and the user the proxy runs
//! as may connect; a request is at most `control.max_request_bytes` and must arrive within
//! `control.timeout_secs`.
pub mod client;
mod server;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::live::Info;
pub use server::{bind, serve};

/// One command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// End the live sessions of a user or a client address.
    Kill {
        #[serde(default)]
        user: Option<String>,
        #[serde(default)]
        client: Option<IpAddr>,
    },
    /// The live sessions.
    List,
    /// Re-read the configuration, as SIGHUP does.
    Reload,
}

/// The answer to one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<Info>,
}

impl Answer {
    pub fn ok(message: impl Into<String>) -> Answer {
        Answer {
            ok: true,
            message: message.into(),
            sessions: Vec::new(),
        }
    }

    pub fn err(message: impl Into<String>) -> Answer {
        Answer {
            ok: false,
            ..Answer::ok(message)
        }
    }
}
