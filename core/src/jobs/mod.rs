//! Jobs: a run started in the background, with progress, cancel and wait. (The registry of named jobs, profiles
//! and history comes with the jobs issue; this handle keeps its API then.)

use crate::engine::cancel::CancelFlag;
use crate::progress::{ProgressSnapshot, ProgressTracker};
use crate::report::{Status, SyncReport};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug)]
struct JobShared {
    id: String,
    cancel: CancelFlag,
    progress: Arc<ProgressTracker>,
    report: Mutex<Option<SyncReport>>,
    done: Condvar,
    done_tx: tokio::sync::watch::Sender<bool>,
}

/// A handle on a running or finished sync. Cloning it gives another handle on the same job.
#[derive(Debug, Clone)]
pub struct Job(Arc<JobShared>);

impl Job {
    /// A job with a fresh id, its cancel flag and progress tracker.
    pub(crate) fn new(cancel: CancelFlag, progress: Arc<ProgressTracker>) -> Job {
        let (done_tx, _) = tokio::sync::watch::channel(false);
        Job(Arc::new(JobShared {
            id: uuid::Uuid::new_v4().to_string(),
            cancel,
            progress,
            report: Mutex::new(None),
            done: Condvar::new(),
            done_tx,
        }))
    }

    /// Records the final report and wakes every waiter.
    pub(crate) fn finish(&self, report: SyncReport) {
        *self.0.report.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
        self.0.done.notify_all();
        self.0.done_tx.send_replace(true);
    }

    /// The job's id (a UUID).
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// Progress now.
    pub fn progress(&self) -> ProgressSnapshot {
        self.0.progress.snapshot()
    }

    /// Asks the job to stop; transfers stop within one chunk and remove their temporaries.
    pub fn cancel(&self) {
        self.0.cancel.cancel();
    }

    /// Running until it has a report, then the report's status.
    pub fn status(&self) -> Status {
        match &*self.0.report.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(r) => r.status,
            None => Status::Running,
        }
    }

    /// The final report, once the job has finished.
    pub fn report(&self) -> Option<SyncReport> {
        self.0.report.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Blocks until the job finishes or `timeout` passes (None: no limit); the report if it finished.
    pub fn wait(&self, timeout: Option<Duration>) -> Option<SyncReport> {
        let g = self.0.report.lock().unwrap_or_else(|p| p.into_inner());
        let g = match timeout {
            None => self.0.done.wait_while(g, |r| r.is_none()).unwrap_or_else(|p| p.into_inner()),
            Some(t) => {
                self.0
                    .done
                    .wait_timeout_while(g, t, |r| r.is_none())
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
        };
        g.clone()
    }

    /// Waits without blocking a thread (for async front ends).
    pub async fn wait_async(&self) -> SyncReport {
        let mut rx = self.0.done_tx.subscribe();
        loop {
            if let Some(r) = self.report() {
                return r;
            }
            if rx.changed().await.is_err() {
                // The sender lives in the job itself, so this does not happen; check once more.
                if let Some(r) = self.report() {
                    return r;
                }
            }
        }
    }
}
