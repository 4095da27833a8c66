//! IMAP (RFC 3501, RFC 9051): the sans-IO heart a driver runs on.
//!
//! - [`framing`]: lines and literals in both directions, bounded, streaming large literals;
//! - [`command`]: what a client command is, as far as the proxy acts on it;
//! - [`response`]: what a server response is, and where a message body sits in it;
//! - [`capability`]: the allow-list applied to every capability list;
//! - [`fetch`] and [`section`]: rewriting a FETCH body literal and serving partial or
//!   section fetches from a whole message.
pub mod command;
pub mod framing;
pub mod items;
pub mod lex;

pub mod capability;
pub mod fetch;
pub mod response;
pub mod section;
#[cfg(test)]
mod testkit;
