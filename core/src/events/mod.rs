//! Events: every state change of a job as a typed [`Event`] in canonical JSON, published on an [`EventBus`] that
//! any number of subscribers read, blocking (C, CLI) or async (Python, Node, the server).
//!
//! A subscriber that falls behind loses the oldest events, never blocks the engine, and is told how many it lost.

use crate::progress::ProgressSnapshot;
use crate::report::{Status, SyncStats};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

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
    /// The event as canonical JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always serialise")
    }

    /// The job the event is about, if any.
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

/// How many events a subscriber holds before the oldest are dropped.
pub const SUBSCRIBER_CAPACITY: usize = 4096;

#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<Arc<Event>>,
    lost: u64,
    closed: bool,
}

#[derive(Debug, Default)]
struct SubscriberShared {
    queue: Mutex<Queue>,
    cv: Condvar,
    notify: tokio::sync::Notify,
}

/// Publishes events to every live subscriber.
#[derive(Debug, Default)]
pub struct EventBus {
    subscribers: Mutex<Vec<Weak<SubscriberShared>>>,
}

impl EventBus {
    /// A bus without subscribers.
    pub fn new() -> EventBus {
        EventBus::default()
    }

    /// Sends `event` to every subscriber; never blocks on a slow one.
    pub fn publish(&self, event: Event) {
        let event = Arc::new(event);
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|w| {
            let Some(s) = w.upgrade() else { return false };
            {
                let mut q = s.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.events.len() >= SUBSCRIBER_CAPACITY {
                    q.events.pop_front();
                    q.lost += 1;
                }
                q.events.push_back(event.clone());
            }
            s.cv.notify_all();
            s.notify.notify_one();
            true
        });
    }

    /// A new subscription that sees every event published from now on.
    pub fn subscribe(&self) -> Subscription {
        let shared = Arc::new(SubscriberShared::default());
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::downgrade(&shared));
        Subscription { shared }
    }

    /// Ends every subscription: each returns what is queued, then None (the engine is shutting down).
    pub fn close_all(&self) {
        let subs = std::mem::take(&mut *self.subscribers.lock().unwrap_or_else(|p| p.into_inner()));
        for s in subs.iter().filter_map(Weak::upgrade) {
            Subscription { shared: s }.close();
        }
    }

    /// Whether anyone listens.
    pub fn has_subscribers(&self) -> bool {
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|w| w.strong_count() > 0)
    }
}

/// One subscriber's queue of events.
#[derive(Debug)]
pub struct Subscription {
    shared: Arc<SubscriberShared>,
}

impl Subscription {
    /// The next event, waiting up to `timeout` (None: no limit); None on timeout or after `close`.
    pub fn next_blocking(&self, timeout: Option<Duration>) -> Option<Arc<Event>> {
        let q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        let mut q = match timeout {
            None => self
                .shared
                .cv
                .wait_while(q, |q| q.events.is_empty() && !q.closed)
                .unwrap_or_else(|p| p.into_inner()),
            Some(t) => {
                self.shared
                    .cv
                    .wait_timeout_while(q, t, |q| q.events.is_empty() && !q.closed)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
        };
        q.events.pop_front()
    }

    /// The next event without waiting.
    pub fn try_next(&self) -> Option<Arc<Event>> {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).events.pop_front()
    }

    /// The next event; None after `close`.
    pub async fn next(&self) -> Option<Arc<Event>> {
        loop {
            let notified = self.shared.notify.notified();
            {
                let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(e) = q.events.pop_front() {
                    return Some(e);
                }
                if q.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Events dropped because this subscriber fell more than [`SUBSCRIBER_CAPACITY`] behind.
    pub fn lost(&self) -> u64 {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).lost
    }

    /// Whether it was closed (by [`Subscription::close`] or because its engine shut down).
    pub fn is_closed(&self) -> bool {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).closed
    }

    /// Wakes every waiter; later calls return what is queued, then None.
    pub fn close(&self) {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.shared.cv.notify_all();
        self.shared.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(id: &str) -> Event {
        Event::JobStarted { job_id: id.into(), at: "t".into() }
    }

    #[test]
    fn every_subscriber_sees_every_event_and_slow_ones_lose_the_oldest() {
        let bus = EventBus::new();
        let a = bus.subscribe();
        let b = bus.subscribe();
        bus.publish(started("1"));
        assert_eq!(a.next_blocking(Some(Duration::from_secs(1))).unwrap().job_id(), Some("1"));
        assert_eq!(b.try_next().unwrap().job_id(), Some("1"));
        assert!(a.next_blocking(Some(Duration::from_millis(1))).is_none());
        for i in 0..SUBSCRIBER_CAPACITY + 3 {
            bus.publish(started(&i.to_string()));
        }
        assert_eq!(a.lost(), 3);
        assert_eq!(a.try_next().unwrap().job_id(), Some("3"));
        drop(b);
        bus.publish(started("x"));
        assert_eq!(bus.subscribers.lock().unwrap().len(), 1);
        assert_eq!(started("7").to_json(), r#"{"type":"job_started","job_id":"7","at":"t"}"#);
        a.close();
    }
}
