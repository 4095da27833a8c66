//! Protocol codecs (sans-IO: bytes in, events out) and the tokio drivers that run them.
pub mod conn;
pub mod deadline;
pub mod dot;
pub mod imap;
pub mod lines;
pub mod pop3;
pub mod sasl;
pub mod smtp;
