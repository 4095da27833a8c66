//! POP3 (RFC 1939, 2449, 5034): the sans-IO codec and the session driver.
pub mod codec;
pub mod session;
