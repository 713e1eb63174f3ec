//! Recovery: classification of errors, retry policies per category, circuit breakers per target. (Persisted
//! operations, metrics and the self-test runner of document 4 come next, and every backend call of the engine goes
//! through [`policy::retry`] and a breaker then.)

pub mod breaker;
pub mod classify;
pub mod policy;

pub use breaker::{BreakerConfig, BreakerState, BreakerTransition, Breakers, CircuitBreaker};
pub use classify::{Category, Classification, classify};
pub use policy::{Backoff, RetryPolicies, RetryPolicy, retry};
