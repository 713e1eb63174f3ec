//! Recovery at the front door: the stored operations (list, get, retry, cancel), metrics, the self-test.

use super::launch::{Work, set_op_state};
use super::{EngineCore, SyncOptions, selftest};
use crate::error::{Error, Result};
use crate::jobs::{Job, JobInfo};
use crate::locks::{LockOwner, profile_lock_name};
use crate::recovery::{Category, RetryPolicy};
use crate::state::Store;
use crate::state::operations::{Operation, OperationState};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Recovery figures: the stored operations', this engine's breaker trips, and the settings in effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryMetrics {
    /// Counts over the operations (all zero without a store).
    #[serde(flatten)]
    pub operations: crate::state::operations::OperationMetrics,
    /// Times a circuit breaker opened.
    pub circuit_breaker_trips: u64,
    /// Whether operations are kept in the embedded store (and so survive a restart and can be retried).
    pub persistence: bool,
    /// Attempts a run gets by default (a profile's `max_attempts` overrides it).
    pub max_attempts: u32,
    /// The retry policy of each error category in effect by default (a profile's `retry` overrides them).
    pub retry: BTreeMap<Category, RetryPolicy>,
    /// The circuit breakers' settings in effect (`[settings.breaker]`: defaults and per-target overrides).
    pub breaker: crate::recovery::BreakerSettings,
}

impl EngineCore {
    /// Operations in the store, newest first (only those not ended when `active_only`).
    pub fn operations(&self, active_only: bool, limit: usize) -> Result<Vec<Operation>> {
        self.store_or_err()?.operations(active_only, limit)
    }

    /// One operation, or `not_found`.
    pub fn operation(&self, id: &str) -> Result<Operation> {
        self.store_or_err()?
            .operation(id)?
            .ok_or_else(|| Error::new(crate::ErrorKind::NotFound, format!("no operation {id}")))
    }

    /// Operations a restart interrupted: not ended, and their process is gone from this host.
    pub fn interrupted_operations(&self) -> Result<Vec<Operation>> {
        self.store_or_err()?
            .interrupted_operations(&crate::locks::host_name(), crate::locks::pid_alive)
    }

    /// Cancels an operation: its running job stops (the operation ends `cancelled`), or a stored operation that is
    /// not running here is marked cancelled. An operation that has ended is a `conflict`.
    pub fn cancel_operation(&self, id: &str) -> Result<Operation> {
        let op = self.operation(id)?;
        if let Some(job) = self.job(id).filter(|j| j.report().is_none()) {
            job.cancel();
            job.wait(None);
            return self.operation(id);
        }
        if op.state.is_final() {
            return Err(Error::new(
                crate::ErrorKind::Conflict,
                format!("operation {id} already ended ({})", op.state.as_str()),
            ));
        }
        let mut op = op;
        set_op_state(&self.store, &self.events, &mut op, OperationState::Cancelled, None);
        Ok(op)
    }

    /// Runs an operation again: one that failed, ran out of attempts, was cancelled or was interrupted by a restart
    /// (any ended one with `force`), with `max_attempts` more attempts (default: its own). A profile run takes its
    /// locks again, so `config` is needed for it; a sync locks its destination like any writing run. The new job
    /// has the operation's id.
    pub fn retry_operation(&self, id: &str, force: bool, max_attempts: Option<u32>) -> Result<Job> {
        let op = self.operation(id)?;
        if self.job(id).is_some_and(|j| j.report().is_none()) {
            return Err(Error::new(
                crate::ErrorKind::Conflict,
                format!("operation {id} is running"),
            ));
        }
        let owner_alive = op.host == crate::locks::host_name() && crate::locks::pid_alive(op.pid);
        let interrupted = !op.state.is_final() && !owner_alive;
        let retryable = matches!(
            op.state,
            OperationState::Failed | OperationState::Exhausted | OperationState::Cancelled
        );
        if !(retryable || interrupted || (force && op.state.is_final())) {
            return Err(Error::new(
                crate::ErrorKind::Conflict,
                format!(
                    "operation {id} is {} (force retries one that succeeded)",
                    op.state.as_str()
                ),
            ));
        }
        let m = &op.metadata;
        let text = |k: &str| m.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let mut info = JobInfo::new(
            text("profile"),
            text("source").unwrap_or_default(),
            text("destination").unwrap_or_default(),
        );
        info.job_id = op.operation_id.clone();
        let mut guards = Vec::new();
        let mut coord = None;
        if let Some(p) = &info.profile {
            let cfg = self.config.clone();
            cfg.profile(p).map_err(|_| {
                Error::invalid(format!(
                    "operation {id} runs profile {p}, which this engine's config does not have"
                ))
            })?;
            cfg.features
                .require_for(&[&info.source, &info.destination], &format!("profile {p}"))?;
            coord = Some(cfg.coordination_dir());
            let locks = self.lock_dir(cfg.coordination_dir());
            let owner = LockOwner {
                profile: Some(p.clone()),
                job_id: Some(info.job_id.clone()),
                started_at: Some(info.started_at.clone()),
                ..Default::default()
            };
            guards.push(self.take_lock(&locks, &profile_lock_name(p), &owner, p)?);
        }
        let work = match m
            .get("command")
            .and_then(|c| serde_json::from_value::<Vec<String>>(c.clone()).ok())
        {
            Some(argv) => Work::Command { argv },
            None => {
                let mut stored = m.get("options").cloned().unwrap_or_default();
                // Records from before breakers moved to the engine's settings still carry theirs: ignored.
                if let Some(o) = stored.as_object_mut() {
                    o.remove("breaker");
                }
                let mut opts: SyncOptions = serde_json::from_value(stored).map_err(|e| {
                    Error::new(crate::ErrorKind::Corrupt, format!("operation {id}: {e}"))
                })?;
                if let Some(n) = max_attempts {
                    opts.max_attempts = n.max(1);
                }
                let (src, dst) = self.open_backends(&info.source, &info.destination, &opts)?;
                Work::Sync { src, dst, opts: Box::new(opts) }
            }
        };
        let dest_lock = match &work {
            Work::Sync { dst, opts, .. } if !opts.dry_run => Some(self.dest_lock(
                &**dst,
                coord.as_deref(),
                info.profile.as_deref(),
                (&info.job_id, &info.started_at),
            )),
            _ => None,
        };
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).retain(|j| j.id() != id);
        self.launch_job(info, work, None, guards, dest_lock, None, Some(op))
    }

    /// Figures over the stored operations, with the circuit breaker trips of this engine.
    pub fn recovery_metrics(&self) -> Result<RecoveryMetrics> {
        let defaults = SyncOptions::default();
        Ok(RecoveryMetrics {
            operations: match &self.store {
                Some(s) => s.operation_metrics()?,
                None => Default::default(),
            },
            circuit_breaker_trips: self.breakers.trips(),
            persistence: self.store.is_some(),
            max_attempts: defaults.max_attempts,
            retry: Category::ALL.iter().map(|&c| (c, defaults.retry.get(c))).collect(),
            breaker: self.breakers.settings().clone(),
        })
    }

    /// The scenarios of the recovery self-test.
    pub fn recovery_scenarios(&self) -> Vec<selftest::ScenarioInfo> {
        selftest::SCENARIOS.iter().map(selftest::Scenario::info).collect()
    }

    /// Runs the recovery self-test (named scenarios, all when empty; `runs` each) in a scratch folder that is
    /// removed afterwards.
    pub fn recovery_self_test(
        &self,
        scenarios: &[String],
        runs: u32,
    ) -> Result<selftest::SelfTestReport> {
        let scratch = std::env::temp_dir()
            .join(format!("syncwright-selftest-{}", uuid::Uuid::new_v4().simple()));
        let r = self.rt().block_on(selftest::run_self_test(scenarios, runs, &scratch));
        let _ = std::fs::remove_dir_all(&scratch);
        r
    }

    pub(crate) fn store_or_err(&self) -> Result<&Arc<Store>> {
        self.store.as_ref().ok_or_else(|| {
            Error::new(
                crate::ErrorKind::FeatureDisabled,
                "this engine runs without a state store (no_store)",
            )
        })
    }
}
