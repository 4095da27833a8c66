//! Accepting redirected connections and reaching the real server.
pub mod listener;
pub mod low_water;
pub mod orig_dst;
mod sys;
pub mod upstream;

/// The one unsafe call outside networking lives in `sys` too: mapping the Bayes database.
pub(crate) use sys::map_readonly;
