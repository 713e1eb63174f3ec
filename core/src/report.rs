//! The canonical outcome types every front end shows: [`SyncReport`], [`Status`], [`FileError`], [`Warning`].

use crate::error::{Error, ErrorKind};
use crate::manifest::plan::Plan;
use serde::{Deserialize, Serialize};

/// The one status enum of runs and jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting to start.
    Queued,
    /// Under way.
    Running,
    /// Finished with no error (warnings allowed).
    Completed,
    /// Finished, but some files failed.
    Partial,
    /// Could not run (source or destination unusable, bad options).
    Failed,
    /// Stopped on request.
    Cancelled,
    /// Its process died while it ran (found at start-up).
    Interrupted,
}

impl Status {
    /// True when the run has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Running)
    }

    /// The CLI's exit code for a final status (0 completed, 1 failed, 3 partial, 4 cancelled).
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Completed => 0,
            Status::Partial => 3,
            Status::Cancelled => 4,
            _ => 1,
        }
    }

    /// The outcome word of documents that know only success and error (document 5's `lastStatus`): `success`
    /// for completed, `running` while it runs, `error` for anything else.
    pub fn outcome(self) -> &'static str {
        match self {
            Status::Completed => "success",
            Status::Queued | Status::Running => "running",
            _ => "error",
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Partial => "partial",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Interrupted => "interrupted",
        }
    }
}

/// What a per-file error interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorAction {
    /// Reading the tree.
    Scan,
    /// Checking the plan (name collisions, limits).
    Plan,
    /// Copying a file (upload or download).
    Copy,
    /// Creating a directory.
    Mkdir,
    /// Creating a symlink.
    Symlink,
    /// Deleting at the destination.
    Delete,
    /// Writing the destination manifest.
    Commit,
    /// The run as a whole (a source that cannot be read, a timeout, a command that failed).
    Run,
}

impl ErrorAction {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorAction::Scan => "scan",
            ErrorAction::Plan => "plan",
            ErrorAction::Copy => "copy",
            ErrorAction::Mkdir => "mkdir",
            ErrorAction::Symlink => "symlink",
            ErrorAction::Delete => "delete",
            ErrorAction::Commit => "commit",
            ErrorAction::Run => "run",
        }
    }
}

/// One failed file or step: `{action, path, error, kind}`, and `details` when the error has any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    /// What was being done.
    pub action: ErrorAction,
    /// Relative path concerned ("" for the whole tree).
    pub path: String,
    /// The message.
    pub error: String,
    /// The stable kind.
    pub kind: ErrorKind,
    /// The error's structured details, when it has any (for a `conflict`: who holds the lock, which job runs and
    /// since when).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl FileError {
    /// From an [`Error`] about `path`.
    pub fn new(action: ErrorAction, path: impl Into<String>, e: &Error) -> FileError {
        FileError {
            action,
            path: path.into(),
            error: e.message().to_string(),
            kind: e.kind(),
            details: e.details().cloned(),
        }
    }

    /// The error again: kind, message, details, and the path when there is one.
    pub fn to_error(&self) -> Error {
        let mut e = Error::new(self.kind, self.error.clone());
        if !self.path.is_empty() {
            e = e.with_path(self.path.clone());
        }
        match &self.details {
            Some(d) => e.with_details(d.clone()),
            None => e,
        }
    }
}

/// Why something was left out without being an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningReason {
    /// A FIFO, socket or device: never opened.
    SpecialFile,
    /// A name that is not valid UTF-8 (shown lossily).
    NonUtf8Name,
    /// A symlink that leads back to one of its own ancestors, or that cannot be resolved (`links = follow`).
    SymlinkLoop,
    /// A symlink whose target does not exist (`links = follow`).
    DanglingSymlink,
    /// A symlink that the destination cannot hold.
    SymlinkSkipped,
    /// Modified within `min_age`: left for the next run.
    Busy,
    /// Changed during every attempt to copy it.
    StillChanging,
    /// The destination copy was edited since syncwright wrote it; the policy decided.
    DestChanged,
    /// Deletes were not done (an error occurred, or there were more than `max_delete`).
    DeletesSkipped,
    /// A stale temporary file was removed.
    TemporarySwept,
    /// A file the run replaced or deleted was moved to the backup folder.
    BackedUp,
    /// The remote could not be reached: the dry run planned against the manifest cached locally.
    RemoteUnreachable,
    /// `commit_manifest` was off: the destination manifest was left as it was.
    ManifestNotCommitted,
    /// `insecure_ignore_host_key` was on: the SSH host's identity was not checked.
    HostKeyNotChecked,
    /// A remote name that cannot be a path (empty, `.`, `..`, a `/` or NUL inside): skipped.
    UnusableName,
    /// A remote object with no content to copy (a Google Docs document): skipped.
    NoContent,
    /// Several remote files of one name in one folder (Drive allows it): the most recent one is used.
    DuplicateName,
    /// The embedded state store was damaged: it was moved aside (the message names the kept file) and a new one
    /// was started, so the hash cache and the run history start over.
    StateStoreRecovered,
}

/// Something a person may want to know that did not fail the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Relative path concerned ("" for the whole tree).
    pub path: String,
    /// Why.
    pub reason: WarningReason,
    /// Details.
    pub message: String,
}

impl Warning {
    /// A new warning.
    pub fn new(
        path: impl Into<String>,
        reason: WarningReason,
        message: impl Into<String>,
    ) -> Warning {
        Warning { path: path.into(), reason, message: message.into() }
    }
}

/// Counts of a run. `created`, `updated`, `deleted`, `skipped` and `errors` are the figures documents 1 and 5
/// show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStats {
    /// Files (and symlinks) that were new at the destination.
    pub created: u64,
    /// Files (and symlinks) replaced at the destination.
    pub updated: u64,
    /// Entries deleted at the destination.
    pub deleted: u64,
    /// Entries already identical.
    pub unchanged: u64,
    /// Entries left alone (busy, still changing, dest_changed with `skip`).
    pub skipped: u64,
    /// Empty directories created.
    pub dirs_created: u64,
    /// Per-file errors.
    pub errors: u64,
    /// Warnings.
    pub warnings: u64,
    /// Copies retried because the source changed while being read.
    pub retries: u64,
    /// Bytes written to the destination by this run.
    pub bytes_transferred: u64,
    /// Bytes the plan had to copy.
    pub bytes_planned: u64,
    /// Files the plan had to copy.
    pub files_planned: u64,
}

/// What a report is of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportType {
    /// A sync between two locations.
    #[default]
    Sync,
    /// An external-command profile.
    Command,
    /// Every profile, one after the other (its `results` hold one outcome per profile).
    RunAll,
}

/// The outcome of one profile in a run-all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProfileResult {
    /// It ran: its report.
    Report(Box<SyncReport>),
    /// It could not start (already running, bad profile).
    Error {
        /// The kind.
        kind: crate::ErrorKind,
        /// The message.
        error: String,
        /// Structured details (for a conflict: the running job and its start).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        details: Option<serde_json::Value>,
    },
}

impl ProfileResult {
    /// Whether the profile's run completed.
    pub fn completed(&self) -> bool {
        matches!(self, ProfileResult::Report(r) if r.status == Status::Completed)
    }
}

/// The per-profile part of a run-all report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunAllReport {
    /// Profiles in the config.
    pub total: usize,
    /// Profiles whose run completed.
    pub successful: Vec<String>,
    /// Profiles that failed, ended partial, or could not start.
    pub failed: Vec<String>,
    /// Per profile, in name order.
    pub results: std::collections::BTreeMap<String, ProfileResult>,
}

/// The outcome of a sync (or of a command profile, or of a run-all: see `type`), in canonical JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Version of this document's schema.
    pub schema_version: u32,
    /// What this is the report of.
    #[serde(rename = "type", default)]
    pub report_type: ReportType,
    /// A UUID for this run.
    pub run_id: String,
    /// Final status.
    pub status: Status,
    /// True when nothing was written.
    pub dry_run: bool,
    /// The source location (no credentials).
    pub source: String,
    /// The destination location (no credentials).
    pub destination: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time.
    pub finished_at: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Counts.
    pub stats: SyncStats,
    /// Per-file errors `{action, path, error, kind}`.
    pub errors: Vec<FileError>,
    /// Warnings.
    pub warnings: Vec<Warning>,
    /// The plan with every action (dry runs, and real runs with `report_plan`; otherwise a run reports counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// The error that failed the whole run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fatal: Option<FileError>,
    /// What an external-command profile printed (the last 64 KiB of stdout, then stderr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// A run-all's outcome per profile (`total`, `successful`, `failed`, `results`), at the top level.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub run_all: Option<RunAllReport>,
}

impl SyncReport {
    /// The report as canonical JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("reports always serialise")
    }

    /// One line for people: `completed: 3 created, 0 updated, ... 0 warnings; 1.20 MB in 0.42 s`, and the fatal
    /// error when there is one.
    pub fn summary(&self) -> String {
        let s = &self.stats;
        let mut line = format!(
            "{}: {} created, {} updated, {} deleted, {} unchanged, {} skipped, {} errors, {} warnings; {} in {:.2} s",
            self.status.as_str(),
            s.created,
            s.updated,
            s.deleted,
            s.unchanged,
            s.skipped,
            s.errors,
            s.warnings,
            crate::usage::human_size(s.bytes_transferred),
            self.duration_ms as f64 / 1000.0
        );
        if let Some(f) = &self.fatal {
            line.push_str(&format!(": {}", f.error));
        }
        line
    }

    /// The short human text of a result (document 1's `output`): the summary line, then the first errors (at most
    /// [`TEXT_DETAIL_LIMIT`], and how many more); a command profile's output after its summary; a run-all's line
    /// per profile, then how many completed.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if let Some(all) = &self.run_all {
            for (name, r) in &all.results {
                let line = match r {
                    ProfileResult::Report(rep) => rep.summary(),
                    ProfileResult::Error { kind, error, .. } => format!("{kind}: {error}"),
                };
                out.push_str(&format!("{name}: {line}\n"));
            }
            out.push_str(&format!("{} of {} profiles completed", all.successful.len(), all.total));
            return out;
        }
        out.push_str(&self.summary());
        for e in self.errors.iter().take(TEXT_DETAIL_LIMIT) {
            out.push_str(&format!("\n{} {}: {}", e.action.as_str(), e.path, e.error));
        }
        if self.errors.len() > TEXT_DETAIL_LIMIT {
            out.push_str(&format!(
                "\n... and {} more errors",
                self.errors.len() - TEXT_DETAIL_LIMIT
            ));
        }
        if let Some(o) = self.output.as_deref().filter(|o| !o.is_empty()) {
            out.push('\n');
            out.push_str(o.trim_end());
        }
        out
    }
}

/// Most errors [`SyncReport::text`] lists one by one.
pub const TEXT_DETAIL_LIMIT: usize = 10;
