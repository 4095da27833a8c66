//! Protocol codecs (sans-IO: bytes in, events out) and the drivers that run them on the
//! session layer.
pub mod dot;
pub mod imap;
pub mod lines;
pub mod pop3;
pub mod sasl;
pub mod smtp;
