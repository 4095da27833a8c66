//! POP3 (RFC 1939, 2449, 5034): the sans-IO codec and the driver on the session layer.
mod ahead;
pub mod codec;
pub mod driver;
pub mod listing;
mod lookahead;
mod mailbox;
mod retrieve;

pub use driver::Pop3;
