//! Profiles at the front door: list them, their status, run one, run them all.

use super::EngineCore;
use super::launch::Work;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::jobs::{Job, JobInfo};
use crate::locks::{LockDir, LockGuard, LockOwner, LockState, LockStatus, profile_lock_name};
use crate::manifest::now_rfc3339;
use crate::progress::{ProgressCallback, ProgressTracker, Stage};
use crate::report::{ProfileResult, ReportType, RunAllReport, Status, SyncReport, SyncStats};
use serde::Serialize;
use std::sync::Arc;

/// What a profile does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// A sync from `source` to `destination`.
    Sync,
    /// An external command.
    Command,
}

/// A profile as configured (canonical JSON): what a list of the named syncs shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileInfo {
    /// Its name.
    pub name: String,
    /// What it does.
    pub kind: ProfileKind,
    /// Where it syncs from (no credentials).
    pub source: Option<String>,
    /// Where it syncs to (no credentials).
    pub destination: Option<String>,
    /// The command of a command profile.
    pub command: Option<Vec<String>>,
    /// Seconds between scheduled runs, when it has an interval.
    pub interval_secs: Option<f64>,
    /// Whether it deletes at the destination what the source no longer has.
    pub delete: bool,
}

/// The job a profile is running now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningJob {
    /// The job (from the profile's lock, so also when another process or host runs it).
    pub job_id: Option<String>,
    /// RFC 3339 time it started.
    pub started_at: String,
    /// Its process.
    pub pid: u32,
    /// Its host.
    pub host: String,
    /// Whether this engine runs it (then [`EngineCore::job`] has it).
    pub this_engine: bool,
}

/// A profile's last ended run, from the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastRun {
    /// Its job.
    pub job_id: String,
    /// How it ended.
    pub status: Status,
    /// `success` or `error` (see [`Status::outcome`]).
    pub outcome: &'static str,
    /// RFC 3339 start.
    pub started_at: String,
    /// RFC 3339 end.
    pub finished_at: Option<String>,
    /// Wall time in milliseconds.
    pub duration_ms: Option<u64>,
    /// Its error, if it had one.
    pub error: Option<String>,
    /// Its counts (created, updated, deleted, skipped, errors, ...).
    pub stats: Option<SyncStats>,
}

/// A profile's status now (canonical JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileStatus {
    /// The profile.
    pub profile: String,
    /// Whether a run of it holds its lock now (here or anywhere that shares the coordination folder).
    pub running: bool,
    /// That run.
    pub job: Option<RunningJob>,
    /// One word: `running`, else the last run's outcome (`success`, `error`), else `idle` (document 5's
    /// `lastStatus`).
    pub state: &'static str,
    /// Its profile lock, if there is one (held or stale).
    pub lock: Option<LockStatus>,
    /// Its destination's lock, wherever it lives, if there is one: held while any run writes there.
    pub destination_lock: Option<LockStatus>,
    /// Why the destination's lock could not be looked at (an SFTP host that is down).
    pub destination_lock_error: Option<String>,
    /// Its last ended run (none without a store, or before its first).
    pub last_run: Option<LastRun>,
    /// The profile as configured.
    pub config: ProfileInfo,
    /// The status in one line for people ([`ProfileStatus::text`]; document 1's `output`).
    pub summary: String,
}

impl ProfileStatus {
    /// One line for people: `running (job J, since T)` or `idle`, the destination's lock when another run holds
    /// it, and the last run.
    pub fn text(&self) -> String {
        let holder = |l: &LockStatus| {
            let i = &l.info;
            let by = match (&i.profile, &i.job_id) {
                (Some(p), Some(j)) => format!("profile {p}, job {j}"),
                (None, Some(j)) => format!("job {j}"),
                _ => "a run".to_string(),
            };
            format!("{by}, since {}, pid {} on {}", i.started_at, i.pid, i.host)
        };
        let mut state = match (&self.job, &self.lock) {
            (Some(j), _) => format!(
                "running (job {}, since {})",
                j.job_id.as_deref().unwrap_or("-"),
                j.started_at
            ),
            (None, Some(LockStatus { state: LockState::Stale { reason }, .. })) => {
                format!("idle (stale lock: {reason})")
            }
            _ => "idle".to_string(),
        };
        let mine = self.job.as_ref().and_then(|j| j.job_id.clone());
        match &self.destination_lock {
            Some(d) if d.state == LockState::Held && d.info.job_id != mine => {
                state += &format!("; destination busy ({})", holder(d));
            }
            Some(LockStatus { state: LockState::Stale { reason }, .. }) => {
                state += &format!("; stale destination lock ({reason})");
            }
            _ => {}
        }
        if let Some(e) = &self.destination_lock_error {
            state += &format!("; destination lock unknown ({e})");
        }
        let last = match &self.last_run {
            Some(r) => format!(
                "last run {} at {} ({} ms){}",
                r.status.as_str(),
                r.started_at,
                r.duration_ms.unwrap_or(0),
                r.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
            None => "never run".to_string(),
        };
        format!("{}: {state}; {last}", self.profile)
    }
}

impl EngineCore {
    /// Runs profile `name` of `config` in the background, one run at a time: a profile already running (in this
    /// process or any other that sees the coordination folder) is an error of kind `conflict` whose details name
    /// the running job and its start time. Its destination is locked like any writing run's
    /// ([`EngineCore::start_sync`](super::EngineCore::start_sync)): a destination another run writes makes the job fail at once with that conflict.
    pub fn run_profile(&self, name: &str, on_progress: Option<ProgressCallback>) -> Result<Job> {
        let config = self.config.clone();
        let profile = config.profile(name)?;
        let (Some(source), Some(dest)) = (&profile.source, &profile.destination) else {
            let argv = profile.command.clone().unwrap_or_default();
            let timeout = profile.timeout.as_ref().map(|t| t.get()).transpose()?;
            let info = JobInfo::new(Some(name.to_string()), argv.join(" "), String::new());
            let locks = self.lock_dir(config.coordination_dir());
            let owner = LockOwner {
                profile: Some(name.to_string()),
                job_id: Some(info.job_id.clone()),
                started_at: Some(info.started_at.clone()),
                ..Default::default()
            };
            let guard = self.take_lock(&locks, &profile_lock_name(name), &owner, name)?;
            return self.launch_job(
                info,
                Work::Command { argv },
                on_progress,
                vec![guard],
                None,
                timeout,
                None,
            );
        };
        config.features.require_for(&[source, dest], &format!("profile {name}"))?;
        let (src, dst) = self.open_backends(source, dest, &profile.sync_options(name)?)?;
        self.run_profile_with(name, src, dst, on_progress)
    }

    /// [`EngineCore::run_profile`](super::EngineCore::run_profile) with the backends given (tests use instrumented ones).
    pub fn run_profile_with(
        &self,
        name: &str,
        src: Arc<dyn Backend>,
        dst: Arc<dyn Backend>,
        on_progress: Option<ProgressCallback>,
    ) -> Result<Job> {
        let config = self.config.clone();
        let profile = config.profile(name)?;
        let opts = profile.sync_options(name)?;
        config
            .features
            .require_for(&[&src.location(), &dst.location()], &format!("profile {name}"))?;
        let timeout = profile.timeout.as_ref().map(|t| t.get()).transpose()?;
        let info = JobInfo::new(Some(name.to_string()), src.location(), dst.location());
        let locks = self.lock_dir(config.coordination_dir());
        let owner = LockOwner {
            profile: Some(name.to_string()),
            job_id: Some(info.job_id.clone()),
            started_at: Some(info.started_at.clone()),
            ..Default::default()
        };
        // Per profile here; per destination root by the job, like every writing run's.
        let profile_lock = self.take_lock(&locks, &profile_lock_name(name), &owner, name)?;
        let dest_lock = (!opts.dry_run).then(|| {
            self.dest_lock(
                &*dst,
                Some(&config.coordination_dir()),
                Some(name),
                (&info.job_id, &info.started_at),
            )
        });
        let work = Work::Sync { src, dst, opts: Box::new(opts) };
        self.launch_job(info, work, on_progress, vec![profile_lock], dest_lock, timeout, None)
    }

    /// Takes a lock and announces it (and the stale lock it broke, if any) on the bus and in the profile's log.
    pub(crate) fn take_lock(
        &self,
        locks: &LockDir,
        lock: &str,
        owner: &LockOwner,
        profile: &str,
    ) -> Result<LockGuard> {
        let g = locks.acquire(lock, owner)?;
        super::locks::announce(&self.events, &self.logs, Some(profile), &g);
        Ok(g)
    }

    /// The profiles of this engine's config, in name order.
    pub fn profiles(&self) -> Vec<ProfileInfo> {
        self.config.profiles.iter().map(|(name, p)| profile_info(name, p)).collect()
    }

    /// The status of profile `name` (`not_found` when there is none): whether it runs (its lock, so also a run of
    /// another process or host), its locks, its last run. A destination over SFTP is reached to look at its lock.
    pub fn profile_status(&self, name: &str) -> Result<ProfileStatus> {
        self.config.profile(name)?;
        let held = self.lock_dir(self.config.coordination_dir()).list()?;
        Ok(self.status_of(name, &held))
    }

    /// The status of every profile, in name order.
    pub fn profiles_status(&self) -> Result<Vec<ProfileStatus>> {
        let held = self.lock_dir(self.config.coordination_dir()).list()?;
        Ok(self.config.profiles.keys().map(|n| self.status_of(n, &held)).collect())
    }

    fn status_of(&self, name: &str, held: &[LockStatus]) -> ProfileStatus {
        let locks = self.locks_of(name, held);
        let running_lock =
            locks.lock.as_ref().filter(|l| l.state == LockState::Held).map(|l| &l.info);
        let job = running_lock.map(|i| RunningJob {
            job_id: i.job_id.clone(),
            started_at: i.started_at.clone(),
            pid: i.pid,
            host: i.host.clone(),
            this_engine: i
                .job_id
                .as_deref()
                .and_then(|j| self.job(j))
                .is_some_and(|j| j.report().is_none()),
        });
        let last_run = self
            .store
            .as_ref()
            .and_then(|s| s.runs(Some(name), 8).ok())
            .and_then(|runs| runs.into_iter().find(|r| r.status.is_final()))
            .map(|r| LastRun {
                job_id: r.job_id,
                status: r.status,
                outcome: r.status.outcome(),
                started_at: r.started_at,
                finished_at: r.finished_at,
                duration_ms: r.duration_ms,
                error: r.error,
                stats: r.stats,
            });
        let state = match (&job, &last_run) {
            (Some(_), _) => "running",
            (None, Some(r)) => r.outcome,
            (None, None) => "idle",
        };
        let config = self
            .config
            .profiles
            .get(name)
            .map(|p| profile_info(name, p))
            .expect("the profile exists");
        let mut st = ProfileStatus {
            profile: name.to_string(),
            running: job.is_some(),
            job,
            state,
            lock: locks.lock,
            destination_lock: locks.destination_lock,
            destination_lock_error: locks.destination_error,
            last_run,
            config,
            summary: String::new(),
        };
        st.summary = st.text();
        st
    }

    /// Runs every profile one after the other, as one job whose report has `type` `run_all` and one result per
    /// profile (`total`, `successful`, `failed`, `results`); returns the job at once. A profile that cannot start
    /// (already running, a bad profile) is a result of its own; the others still run. Cancelling the job cancels
    /// the profile running then and skips the rest (their results say `cancelled`). Its status: completed when
    /// every profile completed, failed when none did, partial otherwise (cancelled when cancelled).
    pub fn run_all(&self, on_progress: Option<ProgressCallback>) -> Result<Job> {
        let names: Vec<String> = self.config.profiles.keys().cloned().collect();
        let info = JobInfo::new(None, "all profiles".into(), String::new());
        let cancel = crate::cancel::CancelFlag::new();
        let progress = Arc::new(ProgressTracker::default());
        progress.set_totals(names.len() as u64, 0);
        let job = Job::new(info, cancel.clone(), progress.clone());
        self.register_job(&job);
        let (bus, job_id) = (self.events.clone(), job.id().to_string());
        bus.publish(Event::JobQueued {
            job_id: job_id.clone(),
            at: now_rfc3339(),
            source: job.info().source.clone(),
            destination: String::new(),
        });
        let weak = self.me.clone();
        let parent = job.clone();
        self.rt.spawn(async move {
            bus.publish(Event::JobStarted { job_id: job_id.clone(), at: now_rfc3339() });
            progress.set_stage(Stage::Transferring);
            let started = std::time::Instant::now();
            let started_at = now_rfc3339();
            let mut out = RunAllReport { total: names.len(), ..Default::default() };
            let mut stats = SyncStats::default();
            for name in &names {
                progress.set_current(name);
                let result = match weak.upgrade() {
                    _ if cancel.is_cancelled() => Err(Error::cancelled()),
                    None => Err(Error::cancelled()),
                    Some(engine) => engine.run_profile(name, on_progress.clone()),
                };
                let result = match result {
                    Ok(child) => {
                        let r = tokio::select! {
                            r = child.wait_async() => r,
                            _ = cancel.cancelled() => { child.cancel(); child.wait_async().await }
                        };
                        add_stats(&mut stats, &r.stats);
                        ProfileResult::Report(Box::new(r))
                    }
                    Err(e) => ProfileResult::Error {
                        kind: e.kind(),
                        error: e.message().to_string(),
                        details: e.details().cloned(),
                    },
                };
                if result.completed() {
                    out.successful.push(name.clone());
                } else {
                    out.failed.push(name.clone());
                }
                out.results.insert(name.clone(), result);
                progress.file_done();
            }
            let status = if cancel.is_cancelled() {
                Status::Cancelled
            } else if out.failed.is_empty() {
                Status::Completed
            } else if out.successful.is_empty() {
                Status::Failed
            } else {
                Status::Partial
            };
            progress.set_stage(Stage::Done);
            let report = SyncReport {
                schema_version: crate::manifest::SCHEMA_VERSION,
                report_type: ReportType::RunAll,
                run_id: job_id.clone(),
                status,
                dry_run: false,
                source: String::new(),
                destination: String::new(),
                started_at,
                finished_at: now_rfc3339(),
                duration_ms: started.elapsed().as_millis() as u64,
                stats,
                errors: Vec::new(),
                warnings: Vec::new(),
                plan: None,
                fatal: None,
                output: None,
                run_all: Some(out),
            };
            bus.publish(Event::JobFinished {
                job_id,
                at: now_rfc3339(),
                status,
                stats: report.stats.clone(),
            });
            parent.finish(report);
        });
        Ok(job)
    }
}

/// A profile's configured shape.
fn profile_info(name: &str, p: &crate::config::Profile) -> ProfileInfo {
    ProfileInfo {
        name: name.to_string(),
        kind: if p.source.is_some() && p.destination.is_some() {
            ProfileKind::Sync
        } else {
            ProfileKind::Command
        },
        // Locations never hold secrets (passwords in URLs are refused).
        source: p.source.clone(),
        destination: p.destination.clone(),
        command: p.command.clone(),
        interval_secs: p.interval.as_ref().and_then(|i| i.get().ok()).map(|d| d.as_secs_f64()),
        delete: p.delete,
    }
}

/// Adds one run's counts to a run-all's.
fn add_stats(to: &mut SyncStats, s: &SyncStats) {
    to.created += s.created;
    to.updated += s.updated;
    to.deleted += s.deleted;
    to.unchanged += s.unchanged;
    to.skipped += s.skipped;
    to.dirs_created += s.dirs_created;
    to.errors += s.errors;
    to.warnings += s.warnings;
    to.retries += s.retries;
    to.bytes_transferred += s.bytes_transferred;
    to.bytes_planned += s.bytes_planned;
    to.files_planned += s.files_planned;
}
