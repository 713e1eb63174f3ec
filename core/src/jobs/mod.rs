//! Jobs: a run started in the background, with progress, cancel and wait. (The registry of named jobs, profiles
//! and history comes with the jobs issue; this handle keeps its API then.)

pub mod schedule;

use crate::cancel::CancelFlag;
use crate::progress::{ProgressSnapshot, ProgressTracker};
use crate::report::{Status, SyncReport};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Who a job is and where it goes, in canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    /// UUID.
    pub job_id: String,
    /// `sync_YYYYMMDD_HHMMSS_<first 8 hex of the job id>`.
    pub sync_id: String,
    /// The profile, for profile runs.
    pub profile: Option<String>,
    /// Source location.
    pub source: String,
    /// Destination location.
    pub destination: String,
    /// RFC 3339 time the job was accepted.
    pub started_at: String,
}

impl JobInfo {
    /// A fresh identity for a job from `source` to `destination`.
    pub fn new(profile: Option<String>, source: String, destination: String) -> JobInfo {
        let job_id = uuid::Uuid::new_v4().to_string();
        let now = chrono::Utc::now();
        let sync_id = format!("sync_{}_{}", now.format("%Y%m%d_%H%M%S"), &job_id[..8]);
        JobInfo {
            job_id,
            sync_id,
            profile,
            source,
            destination,
            started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        }
    }
}

/// A job as it is now, in canonical JSON: who it is, its status and progress, and its report once it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSnapshot {
    /// Who the job is and where it goes.
    #[serde(flatten)]
    pub info: JobInfo,
    /// `running` until it ended, then its report's status.
    pub status: Status,
    /// Its progress now.
    pub progress: ProgressSnapshot,
    /// RFC 3339 end, once it ended.
    pub finished_at: Option<String>,
    /// Its report, once it ended (only when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<SyncReport>,
}

#[derive(Debug)]
struct JobShared {
    info: JobInfo,
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
    pub(crate) fn new(info: JobInfo, cancel: CancelFlag, progress: Arc<ProgressTracker>) -> Job {
        let (done_tx, _) = tokio::sync::watch::channel(false);
        Job(Arc::new(JobShared {
            info,
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
        &self.0.info.job_id
    }

    /// Who the job is and where it goes.
    pub fn info(&self) -> &JobInfo {
        &self.0.info
    }

    /// Progress now.
    pub fn progress(&self) -> ProgressSnapshot {
        self.0.progress.snapshot()
    }

    /// Asks the job to stop; transfers stop within one chunk and remove their temporaries.
    pub fn cancel(&self) {
        self.0.cancel.cancel();
    }

    /// Whether the job was asked to stop (by [`Job::cancel`], its engine shutting down, an unlock, or a lock it
    /// found removed at renewal).
    pub fn cancel_requested(&self) -> bool {
        self.0.cancel.is_cancelled()
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

    /// The job now; with its report (once it ended) when `with_report`.
    pub fn snapshot(&self, with_report: bool) -> JobSnapshot {
        let report = self.report();
        JobSnapshot {
            info: self.0.info.clone(),
            status: report.as_ref().map_or(Status::Running, |r| r.status),
            progress: self.progress(),
            finished_at: report.as_ref().map(|r| r.finished_at.clone()),
            report: report.filter(|_| with_report),
        }
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
