//! portcullis: a transparent scanning proxy for mail protocols on a LAN gateway.
//!
//! The path of one message: `server` accepts a redirected connection through `net` (which
//! recovers its original destination) and runs a protocol driver from `proto` on the
//! `session` layer; the session holds each message (`session::hold`, `message::spool`)
//! while `scan` decides a `Verdict`, `session::disposition` maps it to an action,
//! `quarantine` keeps what the action hides, `message::rewrite` builds what the client
//! receives, and `session_log` records it all. `app` is what every session shares.
#![deny(unsafe_code)]

pub mod abuse;
pub mod admin;
pub mod app;
pub mod config;
pub mod control;
pub mod error;
pub mod ids;
pub mod live;
pub mod message;
pub mod metrics;
pub mod net;
pub mod nft;
pub mod proto;
pub mod quarantine;
pub mod reload;
pub mod scan;
pub mod server;
pub mod session;
pub mod session_log;
pub mod tls;
pub mod verdict_cache;
pub mod withheld;
