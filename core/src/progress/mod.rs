//! Progress: live counters of a run turned into one snapshot type (percent, rate, ETA) for every front end.

use crate::manifest::scan::ScanCounters;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Stage {
    /// Not started.
    Queued = 0,
    /// Listing source and destination.
    Scanning = 1,
    /// Comparing them.
    Planning = 2,
    /// Copying.
    Transferring = 3,
    /// Deleting (mirror mode).
    Deleting = 4,
    /// Writing the destination manifest.
    Committing = 5,
    /// Finished.
    Done = 6,
}

impl Stage {
    fn from_u8(v: u8) -> Stage {
        match v {
            1 => Stage::Scanning,
            2 => Stage::Planning,
            3 => Stage::Transferring,
            4 => Stage::Deleting,
            5 => Stage::Committing,
            6 => Stage::Done,
            _ => Stage::Queued,
        }
    }
}

/// A point-in-time view of a run's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressSnapshot {
    /// Current stage.
    pub stage: Stage,
    /// The file most recently started, if any.
    pub current_file: Option<String>,
    /// Entries handled (copied, linked, created, skipped or failed).
    pub files_done: u64,
    /// Entries to handle.
    pub files_total: u64,
    /// Bytes copied.
    pub bytes_done: u64,
    /// Bytes to copy.
    pub bytes_total: u64,
    /// Entries found so far while scanning.
    pub scanned: u64,
    /// Recent transfer rate, bytes per second.
    pub rate_bps: f64,
    /// Estimated seconds left in the transfer, when a rate is known.
    pub eta_secs: Option<f64>,
    /// 0 to 100: by bytes when there are bytes to copy, else by files.
    pub percent: f64,
    /// Milliseconds since the run started.
    pub elapsed_ms: u64,
}

/// Live counters of a run; cheap to update from many transfers at once.
#[derive(Debug)]
pub struct ProgressTracker {
    stage: AtomicU8,
    files_done: AtomicU64,
    files_total: AtomicU64,
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
    /// Counters the scans update.
    pub scan: Arc<ScanCounters>,
    current: Mutex<Option<String>>,
    started: Instant,
    samples: Mutex<VecDeque<(Instant, u64)>>,
}

/// The window over which the rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(5);

impl Default for ProgressTracker {
    fn default() -> Self {
        ProgressTracker {
            stage: AtomicU8::new(0),
            files_done: AtomicU64::new(0),
            files_total: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            scan: Arc::default(),
            current: Mutex::new(None),
            started: Instant::now(),
            samples: Mutex::new(VecDeque::new()),
        }
    }
}

impl ProgressTracker {
    /// Moves to `stage`.
    pub fn set_stage(&self, stage: Stage) {
        self.stage.store(stage as u8, Ordering::SeqCst);
    }
    /// The current stage.
    pub fn stage(&self) -> Stage {
        Stage::from_u8(self.stage.load(Ordering::SeqCst))
    }
    /// Sets the totals of the transfer.
    pub fn set_totals(&self, files: u64, bytes: u64) {
        self.files_total.store(files, Ordering::SeqCst);
        self.bytes_total.store(bytes, Ordering::SeqCst);
    }
    /// Adds to the bytes to copy (a retried copy moves its bytes again).
    pub fn add_bytes_total(&self, n: u64) {
        self.bytes_total.fetch_add(n, Ordering::SeqCst);
    }
    /// Counts copied bytes.
    pub fn add_bytes(&self, n: u64) {
        self.bytes_done.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts a handled entry.
    pub fn file_done(&self) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
    }
    /// Starts counting again for a new attempt at the run: stage, files, bytes, scanned entries and the current
    /// file go back to zero (the elapsed time goes on from the job's start).
    pub fn restart(&self) {
        self.set_stage(Stage::Queued);
        for c in [
            &self.files_done,
            &self.files_total,
            &self.bytes_done,
            &self.bytes_total,
            &self.scan.entries,
            &self.scan.hashed,
        ] {
            c.store(0, Ordering::SeqCst);
        }
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Names the file being worked on.
    pub fn set_current(&self, path: &str) {
        let mut c = self.current.lock().unwrap_or_else(|p| p.into_inner());
        match c.as_mut() {
            Some(s) => {
                s.clear();
                s.push_str(path);
            }
            None => *c = Some(path.to_string()),
        }
    }

    /// A snapshot now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let now = Instant::now();
        let stage = self.stage();
        let bytes_done = self.bytes_done.load(Ordering::Relaxed);
        let bytes_total = self.bytes_total.load(Ordering::SeqCst).max(bytes_done);
        let files_done = self.files_done.load(Ordering::Relaxed);
        let files_total = self.files_total.load(Ordering::SeqCst).max(files_done);
        let rate_bps = {
            let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
            if s.back().is_none_or(|(t, _)| now.duration_since(*t) >= Duration::from_millis(100)) {
                s.push_back((now, bytes_done));
            }
            while s.len() > 2
                && s.front().is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
            {
                s.pop_front();
            }
            match (s.front(), s.back()) {
                (Some((t0, b0)), Some((t1, b1))) if t1 > t0 => {
                    (b1 - b0) as f64 / t1.duration_since(*t0).as_secs_f64()
                }
                _ => 0.0,
            }
        };
        let percent = match stage {
            Stage::Done => 100.0,
            Stage::Queued | Stage::Scanning | Stage::Planning => 0.0,
            _ if bytes_total > 0 => 100.0 * bytes_done as f64 / bytes_total as f64,
            _ if files_total > 0 => 100.0 * files_done as f64 / files_total as f64,
            _ => 100.0,
        };
        let eta_secs = (stage == Stage::Transferring && rate_bps > 0.0)
            .then(|| bytes_total.saturating_sub(bytes_done) as f64 / rate_bps);
        ProgressSnapshot {
            stage,
            current_file: self.current.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            files_done,
            files_total,
            bytes_done,
            bytes_total,
            scanned: self.scan.entries.load(Ordering::Relaxed),
            rate_bps,
            eta_secs,
            percent: (percent * 100.0).round() / 100.0,
            elapsed_ms: now.duration_since(self.started).as_millis() as u64,
        }
    }
}

/// A progress callback; it may be called from a library thread.
pub type ProgressCallback = Arc<dyn Fn(&ProgressSnapshot) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_follows_bytes_then_files() {
        let t = ProgressTracker::default();
        assert_eq!(t.snapshot().percent, 0.0);
        t.set_stage(Stage::Transferring);
        t.set_totals(4, 200);
        t.add_bytes(50);
        t.file_done();
        let s = t.snapshot();
        assert_eq!((s.percent, s.files_done, s.bytes_done), (25.0, 1, 50));
        t.set_totals(4, 0);
        t.add_bytes_total(0);
        let t2 = ProgressTracker::default();
        t2.set_stage(Stage::Transferring);
        t2.set_totals(4, 0);
        t2.file_done();
        assert_eq!(t2.snapshot().percent, 25.0);
        t2.set_stage(Stage::Done);
        assert_eq!(t2.snapshot().percent, 100.0);
        // A new attempt counts from zero.
        t.set_current("a");
        t.scan.entries.store(9, Ordering::SeqCst);
        t.restart();
        let s = t.snapshot();
        assert_eq!(
            (s.stage, s.files_done, s.files_total, s.bytes_done, s.bytes_total),
            (Stage::Queued, 0, 0, 0, 0)
        );
        assert_eq!((s.scanned, s.current_file), (0, None));
    }
}
