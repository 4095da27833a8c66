//! Accepting redirected connections and reaching the real server.
pub mod listener;
pub mod low_water;
pub mod orig_dst;
mod sys;
pub mod upstream;

pub use sys::{FileMap, release_free_memory, tune_allocator};
