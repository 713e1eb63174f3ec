//! Keeping events for replay: [`Retention`], the in-memory ring of an engine without a store, and the writer
//! thread that stores them in batches (publishing never waits for it).

use super::EventRecord;
use crate::error::{Error, Result};
use crate::state::Store;
use crate::state::events::{EventRetention, StoredEvent};
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long events are kept by default (`[settings] event_retention`).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How many events are kept at most by default (`[settings] event_retention_max`).
pub const DEFAULT_RETENTION_MAX: u64 = 100_000;
/// Most events stored in one transaction.
const MAX_BATCH: usize = 2048;

/// How long and how many events are kept for replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Events older than this go.
    pub max_age: Duration,
    /// At most this many are kept (the oldest go first).
    pub max_count: u64,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention { max_age: DEFAULT_RETENTION, max_count: DEFAULT_RETENTION_MAX }
    }
}

impl Retention {
    /// The publication time before which events go, as [`EventRecord::at`] writes times ("" when the window
    /// reaches before the calendar: nothing goes for its age).
    pub(super) fn cutoff(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        chrono::Duration::from_std(self.max_age)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .map(stamp)
            .unwrap_or_default()
    }
}

/// A time as events record it: RFC 3339, UTC, milliseconds (so that text order is time order).
pub(super) fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The events an engine without a store keeps.
#[derive(Debug)]
pub(super) struct Ring {
    pub records: VecDeque<Arc<EventRecord>>,
    /// The highest `seq` no longer kept.
    pub floor: u64,
    pub retention: Retention,
}

impl Ring {
    /// Keeps `r`, then lets go what the retention no longer covers.
    pub fn push(&mut self, r: Arc<EventRecord>, cutoff: &str) {
        self.records.push_back(r);
        self.prune(cutoff);
    }

    /// Lets go of the events beyond the count or older than `cutoff`.
    pub fn prune(&mut self, cutoff: &str) {
        while let Some(front) = self.records.front() {
            if (self.records.len() as u64) <= self.retention.max_count && front.at() >= cutoff {
                break;
            }
            self.floor = self.floor.max(front.seq());
            self.records.pop_front();
        }
    }
}

/// What the writer has done, for the barrier of a replay.
#[derive(Debug, Default)]
struct Progress {
    /// Every event up to this `seq` was handled (stored, or failed to be).
    written: u64,
    /// The last `seq` of a batch that could not be stored (the events up to it cannot be replayed).
    lost_through: u64,
    /// The thread has ended.
    stopped: bool,
}

/// The writer's state, shared with the bus.
#[derive(Debug, Default)]
pub(super) struct Writer {
    progress: Mutex<Progress>,
    cv: Condvar,
}

impl Writer {
    /// A writer whose events up to `written` are stored already.
    pub fn new(written: u64) -> Writer {
        Writer {
            progress: Mutex::new(Progress { written, ..Default::default() }),
            cv: Condvar::new(),
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until every event up to `seq` is stored (or failed to be); returns the last `seq` that failed.
    pub fn wait_written(&self, seq: u64) -> Result<u64> {
        let p = self.progress();
        let p = self
            .cv
            .wait_while(p, |p| p.written < seq && !p.stopped)
            .unwrap_or_else(|p| p.into_inner());
        if p.written < seq {
            return Err(Error::new(
                crate::ErrorKind::Unavailable,
                "the events are no longer stored: the event writer has stopped",
            ));
        }
        Ok(p.lost_through)
    }

    /// Stores what `rx` brings until every sender is gone, pruning by `retention` (also when idle, at least
    /// once a minute).
    pub fn run(&self, store: &Store, rx: Receiver<Arc<EventRecord>>, retention: Retention) {
        struct Stopped<'a>(&'a Writer);
        impl Drop for Stopped<'_> {
            fn drop(&mut self) {
                self.0.progress().stopped = true;
                self.0.cv.notify_all();
            }
        }
        let _stopped = Stopped(self);
        let tick = (retention.max_age / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let mut count = None;
        loop {
            let mut batch = Vec::new();
            match rx.recv_timeout(tick) {
                Ok(r) => batch.push(r),
                // Idle: prune by age, and count again (another process may store events too).
                Err(RecvTimeoutError::Timeout) => count = None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let rows: Vec<StoredEvent> = batch.iter().map(|r| stored(r)).collect();
            let cutoff = retention.cutoff(chrono::Utc::now());
            let keep = EventRetention { max_count: retention.max_count, older_than: &cutoff };
            let last = batch.last().map(|r| r.seq());
            let failed = match store.keep_events(&rows, keep, count) {
                Ok(b) => {
                    count = Some(b.count);
                    false
                }
                Err(e) => {
                    tracing::warn!(error = %e, events = rows.len(), "cannot store events; they cannot be replayed");
                    count = None;
                    true
                }
            };
            if let Some(last) = last {
                let mut p = self.progress();
                p.written = p.written.max(last);
                if failed {
                    p.lost_through = p.lost_through.max(last);
                }
                drop(p);
                self.cv.notify_all();
            }
        }
    }
}

/// The row of a record.
fn stored(r: &EventRecord) -> StoredEvent {
    StoredEvent {
        seq: r.seq(),
        at: r.at().to_string(),
        kind: r.type_name().to_string(),
        job_id: r.job_id().map(str::to_string),
        profile: r.profile().map(str::to_string),
        operation_id: r.operation_id().map(str::to_string),
        json: r.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{About, Event};

    fn record(seq: u64, at: &str) -> Arc<EventRecord> {
        let e = Event::JobStarted { job_id: "j".into(), at: at.into() };
        Arc::new(EventRecord::new(seq, e, About::default(), at.into()))
    }

    #[test]
    fn the_ring_lets_go_of_the_oldest_by_count_and_by_age_and_raises_its_floor() {
        let retention = Retention { max_age: Duration::from_secs(3600), max_count: 3 };
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z").unwrap().to_utc();
        let cutoff = retention.cutoff(now);
        assert_eq!(cutoff, "2026-01-01T11:00:00.000Z");
        let mut ring = Ring { records: VecDeque::new(), floor: 0, retention };
        for seq in 1..=5 {
            ring.push(record(seq, "2026-01-01T11:30:00.000Z"), &cutoff);
        }
        let kept = |r: &Ring| r.records.iter().map(|r| r.seq()).collect::<Vec<_>>();
        assert_eq!((kept(&ring), ring.floor), (vec![3, 4, 5], 2));
        // An hour later everything published before 12:00 is too old.
        ring.push(
            record(6, "2026-01-01T12:30:00.000Z"),
            &retention.cutoff(now + chrono::Duration::hours(1)),
        );
        assert_eq!((kept(&ring), ring.floor), (vec![6], 5));
        // A window reaching before the calendar keeps everything by age.
        let forever = Retention { max_age: Duration::from_secs(u64::MAX / 4), max_count: 10 };
        assert_eq!(forever.cutoff(now), "");
    }
}
