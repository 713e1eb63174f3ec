//! Recovery: classification of errors, retry policies per category, circuit breakers per target, and a self-test
//! that runs named fault scenarios for real. The engine runs every per-file step under [`policy::retry`] and the
//! breakers of remote ends (one per target, shared by all of an engine's jobs: [`registry`]); whole runs are
//! persisted operations (`state::operations`) retried at job level.

pub mod breaker;
pub mod classify;
pub mod policy;
pub mod registry;

pub use breaker::{BreakerConfig, BreakerState, BreakerStatus, BreakerTransition, CircuitBreaker};
pub use classify::{Category, Classification, classify};
pub use policy::{Backoff, RetryPolicies, RetryPolicy, retry};
pub use registry::{BreakerRegistry, BreakerSettings};
