//! The executor: runs one sync (scan -> diff -> plan -> execute -> commit) between two backends with N parallel
//! transfers, safe writes, an optional bandwidth limit, verify, cancel and progress. It knows no profiles, jobs or
//! engine: [`crate::engine::Engine`] drives it.

pub mod bandwidth;
pub mod command;
pub mod marker;
pub mod options;
pub mod run;
pub(crate) mod transfer;

pub use options::SyncOptions;
pub use run::{RunContext, run_sync};
