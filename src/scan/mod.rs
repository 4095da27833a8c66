//! Scanning: engines produce one `Verdict` per message, `policy` turns it into an action.
pub mod admission;
pub mod bayes;
pub mod builtin;
pub mod clamd;
pub mod pipeline;
pub mod policy;
pub mod spamd;
pub mod verdict;

pub use pipeline::{Pipeline, ScanOutcome};
pub use verdict::Verdict;
