//! Accepting redirected connections and reaching the real server.
pub mod listener;
pub mod orig_dst;
pub mod upstream;
