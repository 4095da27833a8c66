//! Sockets: accepting redirected connections, reaching the real server, the stream type
//! of a session's legs and the time limits on waiting for them.
pub mod deadline;
pub mod listener;
pub mod low_water;
pub mod orig_dst;
pub mod stream;
mod sys;
pub mod upstream;

/// The one unsafe call outside networking lives in `sys` too: mapping the Bayes database.
pub(crate) use sys::map_readonly;
pub use sys::{FileMap, PAGE_INTERVAL, release_free_memory, tune_allocator};
