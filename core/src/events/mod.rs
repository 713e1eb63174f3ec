//! Events: every state change of a job, lock, operation, breaker or profile log as a typed [`Event`] in canonical
//! JSON, published on an [`EventBus`] that any number of subscribers read, blocking (C, CLI) or async (Python,
//! Node, the server).
//!
//! Events are not lost silently:
//! - the bus numbers every event ([`EventRecord::seq`]: from 1, only growing, across restarts and a rebuilt
//!   store too, see [`seq`]);
//! - it keeps them for a retention window ([`Retention`]: `[settings] event_retention`, default 24 hours, and at
//!   most `event_retention_max`, default 100,000): in the embedded store ([`crate::state::events`]), written by a
//!   thread of its own in batches so that publishing never waits for the disk, or in memory for an engine without
//!   a store;
//! - a subscriber that lost events, or restarted, asks for what came after the last `seq` it saw
//!   ([`EventBus::subscribe_from`], [`crate::EngineCore::subscribe_from`]): the kept events after it, then the live
//!   ones, with no gap and no duplicate between the two. A `since` whose following events are no longer kept, or
//!   beyond the latest event, is `invalid_input` with the bounds in its details;
//! - a live subscriber that falls more than [`SUBSCRIBER_CAPACITY`] events behind loses the oldest, never blocks
//!   the engine, and is told how many it lost ([`Subscription::lost`]): it can subscribe again from its last
//!   `seq`.
//!
//! What a replay can promise after a crash: the kept events are complete above the floor (the highest `seq` not
//! kept). An engine that ended cleanly recorded its last `seq`, so everything it published is kept (retention
//! allowing). After a crash, events published shortly before it may never have reached the store, and which ones
//! cannot be known: the next engine raises the floor to the crashed engine's last reserved `seq`, so a `since`
//! from before the crash is refused (`invalid_input`, resynchronise) rather than answered with a silent gap. The
//! same holds when the store was rebuilt after damage: a `since` older than the last `seq` of the previous engine
//! is refused, since the events after it went with the damaged store.
//!
//! Several engines sharing a state directory (a CLI run while a server runs) number their events in disjoint
//! blocks and keep them in the same table: a replay returns the kept events of the range, whichever engine
//! published them, and the live part only this engine's. A crash is recognised only when no other engine of the
//! state directory lives at the next start (see [`seq`]); while one does, the crashed engine's last events may be
//! missing from a replay without the floor saying so.

mod bus;
mod filter;
mod keep;
mod record;
pub mod seq;
mod subscription;

pub use bus::EventBus;
pub use filter::EventFilter;
pub use keep::{DEFAULT_RETENTION, DEFAULT_RETENTION_MAX, Retention};
pub use record::{About, EventRecord};
pub use subscription::{SUBSCRIBER_CAPACITY, Subscription};

use crate::progress::ProgressSnapshot;
use crate::report::{Status, SyncStats};
use serde::{Deserialize, Serialize};

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A job was accepted and will start.
    JobQueued {
        /// The job.
        job_id: String,
        /// RFC 3339 time.
        at: String,
        /// Source location.
        source: String,
        /// Destination location.
        destination: String,
    },
    /// A job started running.
    JobStarted {
        /// The job.
        job_id: String,
        /// RFC 3339 time.
        at: String,
    },
    /// Progress of a running job (at most one per progress interval).
    Progress {
        /// The job.
        job_id: String,
        /// The snapshot.
        progress: ProgressSnapshot,
    },
    /// A lock was taken.
    LockTaken {
        /// The lock's content.
        lock: crate::locks::LockInfo,
    },
    /// A lock was released by its holder.
    LockReleased {
        /// The lock's name.
        name: String,
        /// The job that held it.
        job_id: Option<String>,
    },
    /// A stale lock was broken.
    LockBroken {
        /// What the stale lock said.
        lock: crate::locks::LockInfo,
        /// Why it was stale.
        reason: String,
    },
    /// An operation changed state (document 4's `recovery_update`).
    RecoveryUpdate {
        /// The operation.
        operation_id: String,
        /// What it does.
        function_name: String,
        /// Its state.
        state: crate::state::operations::OperationState,
        /// The attempt under way.
        attempt: u32,
        /// Attempts allowed.
        max_attempts: u32,
        /// The last error.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// RFC 3339.
        timestamp: String,
    },
    /// An operation ended (document 4's `recovery_completed`).
    RecoveryCompleted {
        /// The operation.
        operation_id: String,
        /// Whether it succeeded.
        success: bool,
        /// How it ended.
        final_state: crate::state::operations::OperationState,
        /// Attempts made.
        total_attempts: u32,
        /// Seconds from its first attempt to its end.
        duration: f64,
        /// RFC 3339.
        timestamp: String,
    },
    /// A circuit breaker changed state.
    Breaker {
        /// The transition.
        transition: crate::recovery::BreakerTransition,
    },
    /// An entry was written to a profile's log.
    Log {
        /// The profile.
        profile: String,
        /// The entry.
        log: crate::logs::LogEntry,
    },
    /// A job ended.
    JobFinished {
        /// The job.
        job_id: String,
        /// RFC 3339 time.
        at: String,
        /// Its final status.
        status: Status,
        /// Its counts.
        stats: SyncStats,
    },
}

impl Event {
    /// The `type` names of every event, as in their JSON.
    pub const TYPES: &'static [&'static str] = &[
        "job_queued",
        "job_started",
        "progress",
        "lock_taken",
        "lock_released",
        "lock_broken",
        "recovery_update",
        "recovery_completed",
        "breaker",
        "log",
        "job_finished",
    ];

    /// Its `type` name (one of [`Event::TYPES`]).
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::JobQueued { .. } => "job_queued",
            Event::JobStarted { .. } => "job_started",
            Event::Progress { .. } => "progress",
            Event::LockTaken { .. } => "lock_taken",
            Event::LockReleased { .. } => "lock_released",
            Event::LockBroken { .. } => "lock_broken",
            Event::RecoveryUpdate { .. } => "recovery_update",
            Event::RecoveryCompleted { .. } => "recovery_completed",
            Event::Breaker { .. } => "breaker",
            Event::Log { .. } => "log",
            Event::JobFinished { .. } => "job_finished",
        }
    }

    /// The operation the event is about (recovery events).
    pub fn operation_id(&self) -> Option<&str> {
        match self {
            Event::RecoveryUpdate { operation_id, .. }
            | Event::RecoveryCompleted { operation_id, .. } => Some(operation_id),
            _ => None,
        }
    }

    /// The profile the event names itself (a log entry's, a lock's); see [`About`] for the profile of a job's
    /// events.
    pub fn profile(&self) -> Option<&str> {
        match self {
            Event::Log { profile, .. } => Some(profile),
            Event::LockTaken { lock } | Event::LockBroken { lock, .. } => lock.profile.as_deref(),
            _ => None,
        }
    }

    /// The event as canonical JSON (without `seq`: see [`EventRecord::to_json`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always serialise")
    }

    /// The job the event is about, if any (for recovery events, the job that runs the operation: it has its id).
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Event::JobQueued { job_id, .. }
            | Event::JobStarted { job_id, .. }
            | Event::Progress { job_id, .. }
            | Event::JobFinished { job_id, .. } => Some(job_id),
            Event::LockTaken { lock } | Event::LockBroken { lock, .. } => lock.job_id.as_deref(),
            Event::LockReleased { job_id, .. } => job_id.as_deref(),
            Event::RecoveryUpdate { operation_id, .. }
            | Event::RecoveryCompleted { operation_id, .. } => Some(operation_id),
            Event::Log { .. } | Event::Breaker { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event of every type (a new variant must be added here, to [`Event::TYPES`] and to `type_name`).
    pub(crate) fn one_of_each() -> Vec<Event> {
        let progress = crate::progress::ProgressTracker::default().snapshot();
        let lock = crate::locks::LockInfo { profile: Some("p".into()), ..Default::default() };
        let op = crate::state::operations::OperationState::InProgress;
        vec![
            Event::JobQueued {
                job_id: "j".into(),
                at: "t".into(),
                source: "s".into(),
                destination: "d".into(),
            },
            Event::JobStarted { job_id: "j".into(), at: "t".into() },
            Event::Progress { job_id: "j".into(), progress },
            Event::LockTaken { lock: lock.clone() },
            Event::LockReleased { name: "n".into(), job_id: None },
            Event::LockBroken { lock, reason: "r".into() },
            Event::RecoveryUpdate {
                operation_id: "o".into(),
                function_name: "sync".into(),
                state: op,
                attempt: 1,
                max_attempts: 2,
                error: None,
                timestamp: "t".into(),
            },
            Event::RecoveryCompleted {
                operation_id: "o".into(),
                success: true,
                final_state: op,
                total_attempts: 1,
                duration: 0.5,
                timestamp: "t".into(),
            },
            Event::Breaker {
                transition: crate::recovery::BreakerTransition {
                    target: "h".into(),
                    from: crate::recovery::BreakerState::Closed,
                    to: crate::recovery::BreakerState::Open,
                    timeout_remaining: 1.0,
                },
            },
            Event::Log {
                profile: "p".into(),
                log: crate::logs::LogEntry::now(
                    crate::logs::LogLevel::Info,
                    "m",
                    serde_json::json!({}),
                ),
            },
            Event::JobFinished {
                job_id: "j".into(),
                at: "t".into(),
                status: Status::Completed,
                stats: SyncStats::default(),
            },
        ]
    }

    #[test]
    fn type_names_are_the_json_types_and_every_one_is_listed_once() {
        let all = one_of_each();
        let names: Vec<&str> = all.iter().map(Event::type_name).collect();
        assert_eq!(names, Event::TYPES);
        for e in &all {
            let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
            assert_eq!(v["type"], e.type_name());
            assert_eq!(serde_json::from_value::<Event>(v).unwrap(), *e);
        }
        assert_eq!(
            Event::JobStarted { job_id: "7".into(), at: "t".into() }.to_json(),
            r#"{"type":"job_started","job_id":"7","at":"t"}"#
        );
    }
}
