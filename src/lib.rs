//! portcullis: a transparent scanning proxy for mail protocols on a LAN gateway.
//!
//! The path of one message: `net` accepts a redirected connection and recovers its
//! original destination, `proto::pop3` relays the session and hands each downloaded
//! message to `message::spool` while `scan` decides a `Verdict`, `scan::policy` maps it to
//! an `Action`, `quarantine` keeps what the action hides, `message::rewrite` builds what
//! the client receives, and `session_log` records it all.
#![deny(unsafe_code)]

pub mod abuse;
pub mod config;
pub mod error;
pub mod ids;
pub mod message;
pub mod net;
pub mod nft;
pub mod proto;
pub mod quarantine;
pub mod scan;
pub mod session_log;
pub mod tls;
pub mod withheld;
