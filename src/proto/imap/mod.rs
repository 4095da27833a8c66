//! IMAP (RFC 3501, RFC 9051): the sans-IO heart a driver runs on.
//!
//! - [`framing`]: lines and literals in both directions, bounded, streaming large literals
//!   (its vocabulary in [`frame`]);
//! - [`lex`] and [`items`]: tokens of a line, FETCH item names and sections;
//! - [`command`]: what a client command is, as far as the proxy acts on it ([`reader`]
//!   gathers a command from framer events);
//! - [`response`]: what a server response is; [`fetch`]: where message content sits in a
//!   FETCH response, and rewriting a body literal;
//! - [`capability`]: the allow-list applied to every capability list;
//! - [`section`]: serving sections and partial ranges from a whole message.
mod append;
pub mod capability;
mod client;
pub mod command;
mod copy;
mod driver;
mod events;
pub mod fetch;
mod forward;
pub mod frame;
pub mod framing;
mod held;
mod held_text;
pub mod items;
pub mod lex;
pub mod plan;
pub mod reader;
pub mod response;
mod safe;
pub mod section;
mod serve;
mod server;

pub use driver::Imap;

#[cfg(test)]
mod testkit;
