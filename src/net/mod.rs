//! Sockets: accepting redirected connections, reaching the real server, the stream type
//! of a session's legs and the time limits on waiting for them.
pub mod deadline;
pub mod listener;
pub mod low_water;
pub mod orig_dst;
pub mod stream;
mod sys;
pub mod upstream;

pub use sys::{FileMap, release_free_memory, tune_allocator};
