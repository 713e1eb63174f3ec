//! Starting a job: its locks, its operation record, its attempts and retries, its events, its report.

use super::locks::DestLock;
use super::{EngineCore, SyncOptions, command};
use crate::backend::Backend;
use crate::cancel::CancelFlag;
use crate::error::{Error, Result};
use crate::events::{Event, EventBus};
use crate::jobs::{Job, JobInfo};
use crate::locks::LockGuard;
use crate::logs::{LogEntry, LogLevel, LogStore};
use crate::manifest::now_rfc3339;
use crate::progress::{ProgressCallback, ProgressTracker, Stage};
use crate::report::SyncReport;
use crate::state::Store;
use crate::state::history::RunRecord;
use crate::state::operations::{Operation, OperationState};
use crate::sync::{RunContext, run_sync};
use std::sync::Arc;
use std::time::Duration;

/// What a job does.
#[derive(Clone)]
pub(crate) enum Work {
    /// A sync between two backends.
    Sync { src: Arc<dyn Backend>, dst: Arc<dyn Backend>, opts: Box<SyncOptions> },
    /// An external command.
    Command { argv: Vec<String> },
}

impl EngineCore {
    /// Adds a job to those this engine knows; finished ones older than [`super::JOB_RETENTION`] go.
    pub(crate) fn register_job(&self, job: &Job) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        // Finished jobs stay queryable for a while, then go (the history keeps them).
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(super::JOB_RETENTION).unwrap_or_default();
        jobs.retain(|j| {
            j.report().is_none_or(|r| {
                chrono::DateTime::parse_from_rfc3339(&r.finished_at).is_ok_and(|t| t > cutoff)
            })
        });
        jobs.push(job.clone());
    }

    pub(crate) fn launch(
        &self,
        src: Arc<dyn Backend>,
        dst: Arc<dyn Backend>,
        opts: SyncOptions,
        on_progress: Option<ProgressCallback>,
        profile: Option<String>,
        guards: Vec<LockGuard>,
    ) -> Result<Job> {
        let info = JobInfo::new(profile, src.location(), dst.location());
        let dest_lock = (!opts.dry_run).then(|| {
            self.dest_lock(&*dst, None, info.profile.as_deref(), (&info.job_id, &info.started_at))
        });
        let work = Work::Sync { src, dst, opts: Box::new(opts) };
        self.launch_job(info, work, on_progress, guards, dest_lock, None, None)
    }

    /// Starts a job. `guards` are locks taken already; `dest_lock` is the destination lock the job takes as its
    /// first step (every writing sync has one): a held one fails the run at once with its conflict, one that
    /// cannot be reached fails the attempt (retried like the run's other failures), and the lock is kept across
    /// attempts and released when the job ends.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn launch_job(
        &self,
        info: JobInfo,
        work: Work,
        on_progress: Option<ProgressCallback>,
        guards: Vec<LockGuard>,
        dest_lock: Option<Arc<DestLock>>,
        timeout: Option<Duration>,
        prior: Option<Operation>,
    ) -> Result<Job> {
        self.check_open()?;
        let interval = match &work {
            Work::Sync { opts, .. } => {
                opts.validate()?;
                Duration::from_millis(opts.progress_interval_ms.max(10))
            }
            Work::Command { argv } if argv.is_empty() => {
                return Err(Error::invalid("an empty command"));
            }
            Work::Command { .. } => Duration::from_millis(200),
        };
        let ctx = RunContext {
            cancel: CancelFlag::new(),
            progress: Arc::new(ProgressTracker::default()),
            store: self.store.clone(),
            breakers: Some(self.breaker_registry().clone()),
        };
        let job = Job::new(info, ctx.cancel.clone(), ctx.progress.clone());
        // A lock found gone at renewal (unlocked with force from elsewhere) stops the run.
        let lost: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        for g in &guards {
            g.on_lost(lost_lock(&lost, &ctx.cancel));
        }
        self.register_job(&job);
        if let Some(store) = &self.store {
            let i = job.info();
            store.run_started(&RunRecord {
                job_id: i.job_id.clone(),
                sync_id: i.sync_id.clone(),
                profile: i.profile.clone(),
                source: i.source.clone(),
                destination: i.destination.clone(),
                status: crate::report::Status::Running,
                started_at: i.started_at.clone(),
                finished_at: None,
                duration_ms: None,
                error: None,
                stats: None,
                pid: std::process::id(),
                host: crate::locks::host_name(),
            })?;
        }
        let max_attempts = match &work {
            Work::Sync { opts, .. } => opts.max_attempts.max(1),
            Work::Command { .. } => 1,
        };
        let mut op = Operation {
            operation_id: job.id().to_string(),
            function_name: match (&work, &job.info().profile) {
                (Work::Command { .. }, _) => "command",
                (_, Some(_)) => "sync_profile",
                _ => "sync",
            }
            .to_string(),
            state: OperationState::Pending,
            attempt: prior.as_ref().map(|p| p.attempt).unwrap_or(0),
            max_attempts: max_attempts + prior.as_ref().map(|p| p.attempt).unwrap_or(0),
            error: None,
            created_at: prior
                .as_ref()
                .map(|p| p.created_at.clone())
                .unwrap_or_else(|| job.info().started_at.clone()),
            updated_at: now_rfc3339(),
            metadata: operation_metadata(job.info(), &work),
            pid: std::process::id(),
            host: crate::locks::host_name(),
        };
        if let Some(store) = &self.store {
            store.put_operation(&op)?;
        }
        let store = self.store.clone();
        let logs = self.logs.clone();
        let startup_warnings =
            std::mem::take(&mut *self.startup_warnings.lock().unwrap_or_else(|p| p.into_inner()));
        if let Some(p) = &job.info().profile {
            let i = job.info();
            let _ = logs.append(
                p,
                LogEntry::now(
                    LogLevel::Info,
                    format!("sync started: {} -> {}", i.source, i.destination),
                    serde_json::to_value(i).unwrap_or_default(),
                ),
            );
        }
        let (j, bus) = (job.clone(), self.events.clone());
        let job_id = job.id().to_string();
        // Its events (and its operation's) are about its profile until it finishes.
        bus.register_job(&job_id, job.info().profile.as_deref());
        bus.publish(Event::JobQueued {
            job_id: job_id.clone(),
            at: now_rfc3339(),
            source: job.info().source.clone(),
            destination: job.info().destination.clone(),
        });
        self.rt().spawn(async move {
            bus.publish(Event::JobStarted { job_id: job_id.clone(), at: now_rfc3339() });
            // Progress goes to the callback and the bus at most once per interval, and only when it moved, for as
            // long as the job runs (every attempt of it: between two, the stage is done and nothing is sent).
            let emit = {
                let (bus, job_id, cb) = (bus.clone(), job_id.clone(), on_progress.clone());
                move |s: &crate::progress::ProgressSnapshot| {
                    if let Some(cb) = &cb {
                        cb(s);
                    }
                    bus.publish(Event::Progress { job_id: job_id.clone(), progress: s.clone() });
                }
            };
            let ticker = {
                let (progress, emit) = (ctx.progress.clone(), emit.clone());
                let (store, op_id) = (store.clone(), job_id.clone());
                tokio::spawn(async move {
                    let mut last = None;
                    let mut stored = std::time::Instant::now();
                    loop {
                        tokio::time::sleep(interval).await;
                        let s = progress.snapshot();
                        if s.stage == Stage::Done {
                            continue;
                        }
                        let key = (s.stage, s.files_done, s.bytes_done, s.scanned);
                        if last != Some(key) {
                            last = Some(key);
                            emit(&s);
                            // The operation's progress, for whoever looks at the store (at most every 2 s).
                            if let Some(st) = &store
                                && stored.elapsed() >= Duration::from_secs(2)
                            {
                                stored = std::time::Instant::now();
                                let _ =
                                    st.set_operation_progress(&op_id, s.percent, &now_rfc3339());
                            }
                        }
                    }
                })
            };
            // A timeout cancels the run and turns it into a failure of kind timeout.
            let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let watchdog = timeout.map(|t| {
                let (cancel, flag) = (ctx.cancel.clone(), timed_out.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(t).await;
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    cancel.cancel();
                })
            });
            // The run is an operation: a failure that can recover (the source host down, the service busy)
            // runs it again after the policy's delay, up to max_attempts; every change is a recovery event.
            let op_started = std::time::Instant::now();
            let first_attempt = op.attempt + 1;
            let mut dest_guard: Option<LockGuard> = None;
            let mut report = loop {
                op.attempt += 1;
                if op.attempt > first_attempt {
                    // A new attempt counts its files and bytes afresh.
                    ctx.progress.restart();
                }
                set_op_state(&store, &bus, &mut op, OperationState::InProgress, None);
                let report = match &work {
                    Work::Sync { src, dst, opts } => {
                        let locked = match (&dest_lock, &dest_guard) {
                            (Some(l), None) => l.take_async(&ctx.cancel).await.map(|g| {
                                g.on_lost(lost_lock(&lost, &ctx.cancel));
                                dest_guard = Some(g);
                            }),
                            _ => Ok(()),
                        };
                        match locked {
                            Ok(()) => run_sync(src.clone(), dst.clone(), opts, &ctx).await,
                            Err(e) => refused(&**src, &**dst, opts, &e),
                        }
                    }
                    Work::Command { argv } => command::run_command(argv, None, &ctx.cancel).await,
                };
                let Some(f) = report.fatal.as_ref().filter(|_| !ctx.cancel.is_cancelled()) else {
                    break report;
                };
                // With its details: a retry-after (a service's, an open breaker's) sets the least wait.
                let c = crate::recovery::classify(&f.to_error());
                if !c.recoverable || op.attempt >= op.max_attempts {
                    break report;
                }
                set_op_state(
                    &store,
                    &bus,
                    &mut op,
                    OperationState::Recovering,
                    Some(f.error.clone()),
                );
                let policy = match &work {
                    Work::Sync { opts, .. } => opts.retry.get(c.category),
                    Work::Command { .. } => crate::recovery::RetryPolicy::NONE,
                };
                let wait = policy
                    .delay(op.attempt, &mut fastrand::Rng::new())
                    .max(c.retry_after.unwrap_or_default());
                tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => {
                        // Cancelled while waiting for the next attempt: the job is cancelled (the operation
                        // keeps the last attempt's error).
                        let mut report = report;
                        report.status = crate::report::Status::Cancelled;
                        report.fatal = None;
                        break report;
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
            };
            if let Some(w) = watchdog {
                w.abort();
            }
            if let Some(name) = lost.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                let e = Error::new(
                    crate::ErrorKind::Conflict,
                    format!(
                        "the lock {name} was removed while the run held it (an unlock); the run stopped so that \
                         two runs never write one destination"
                    ),
                )
                .with_details(serde_json::json!({ "lock": name }));
                report.status = crate::report::Status::Failed;
                report.fatal =
                    Some(crate::report::FileError::new(crate::report::ErrorAction::Run, "", &e));
            } else if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
                let t = timeout.unwrap_or_default().as_secs_f64();
                let e = Error::new(
                    crate::ErrorKind::Timeout,
                    format!("the run took longer than its timeout of {t:.0} s and was stopped"),
                );
                report.status = crate::report::Status::Failed;
                report.fatal =
                    Some(crate::report::FileError::new(crate::report::ErrorAction::Run, "", &e));
            }
            report.stats.warnings += startup_warnings.len() as u64;
            report.warnings.extend(startup_warnings);
            let report = report;
            let final_state = match report.status {
                crate::report::Status::Completed => OperationState::Success,
                crate::report::Status::Cancelled => OperationState::Cancelled,
                _ if report
                    .fatal
                    .as_ref()
                    .is_some_and(|f| crate::recovery::classify(&f.to_error()).recoverable)
                    && op.attempt >= op.max_attempts =>
                {
                    OperationState::Exhausted
                }
                _ => OperationState::Failed,
            };
            let error = report.fatal.as_ref().or(report.errors.first()).map(|e| e.error.clone());
            if let Some(m) = op.metadata.as_object_mut() {
                m.insert("progress".into(), serde_json::json!(ctx.progress.snapshot().percent));
            }
            set_op_state(&store, &bus, &mut op, final_state, error);
            bus.publish(Event::RecoveryCompleted {
                operation_id: op.operation_id.clone(),
                success: final_state == OperationState::Success,
                final_state,
                total_attempts: op.attempt,
                duration: op_started.elapsed().as_secs_f64(),
                timestamp: now_rfc3339(),
            });
            ticker.abort();
            let _ = ticker.await;
            emit(&ctx.progress.snapshot());
            if let Some(store) = &store {
                let error =
                    report.fatal.as_ref().or(report.errors.first()).map(|e| e.error.as_str());
                let _ = store.run_finished(
                    &job_id,
                    report.status,
                    &report.finished_at,
                    report.duration_ms,
                    error,
                    &report.stats,
                );
            }
            if let Some(p) = &j.info().profile {
                log_report(&logs, p, &report);
            }
            // The locks go before anyone waiting on the job wakes, so a follow-up run can take them at once (a
            // destination's over SFTP off the async threads).
            let mut released: Vec<String> = guards.iter().map(|g| g.info().name).collect();
            drop(guards);
            if let Some(g) = dest_guard {
                released.push(g.info().name);
                let _ = tokio::task::spawn_blocking(move || drop(g)).await;
            }
            for name in released {
                bus.publish(Event::LockReleased { name, job_id: Some(j.id().to_string()) });
            }
            bus.publish(Event::JobFinished {
                job_id,
                at: now_rfc3339(),
                status: report.status,
                stats: report.stats.clone(),
            });
            j.finish(report);
        });
        Ok(job)
    }
}

/// The callback of a held lock that was found gone: remembers which and cancels the run.
fn lost_lock(
    lost: &Arc<std::sync::Mutex<Option<String>>>,
    cancel: &CancelFlag,
) -> crate::locks::LostCallback {
    let (lost, cancel) = (lost.clone(), cancel.clone());
    Box::new(move |info: &crate::locks::LockInfo| {
        lost.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| info.name.clone());
        cancel.cancel();
    })
}

/// The report of a run refused before it began (its destination's lock held by another run, or not reachable).
fn refused(src: &dyn Backend, dst: &dyn Backend, opts: &SyncOptions, e: &Error) -> SyncReport {
    let now = now_rfc3339();
    let cancelled = e.kind() == crate::ErrorKind::Cancelled;
    let fatal =
        (!cancelled).then(|| crate::report::FileError::new(crate::report::ErrorAction::Run, "", e));
    SyncReport {
        schema_version: crate::manifest::SCHEMA_VERSION,
        run_id: uuid::Uuid::new_v4().to_string(),
        status: if cancelled {
            crate::report::Status::Cancelled
        } else {
            crate::report::Status::Failed
        },
        dry_run: opts.dry_run,
        source: src.location(),
        destination: dst.location(),
        started_at: now.clone(),
        finished_at: now,
        duration_ms: 0,
        stats: crate::report::SyncStats {
            errors: u64::from(fatal.is_some()),
            ..Default::default()
        },
        errors: Vec::new(),
        warnings: Vec::new(),
        plan: None,
        fatal,
        output: None,
        report_type: crate::report::ReportType::Sync,
        run_all: None,
    }
}

/// Most per-file errors and warnings written to a profile log for one run; the rest are counted.
const LOG_DETAIL_LIMIT: usize = 100;

/// Writes a finished run to its profile's log: its errors and warnings, then one line with the outcome.
fn log_report(logs: &LogStore, profile: &str, r: &SyncReport) {
    for e in r.errors.iter().take(LOG_DETAIL_LIMIT) {
        let data = serde_json::to_value(e).unwrap_or_default();
        let _ = logs.append(
            profile,
            LogEntry::now(LogLevel::Error, format!("{}: {}", e.path, e.error), data),
        );
    }
    for w in r.warnings.iter().take(LOG_DETAIL_LIMIT) {
        let data = serde_json::to_value(w).unwrap_or_default();
        let _ = logs.append(profile, LogEntry::now(LogLevel::Warning, w.message.clone(), data));
    }
    let more = r.errors.len().saturating_sub(LOG_DETAIL_LIMIT)
        + r.warnings.len().saturating_sub(LOG_DETAIL_LIMIT);
    if more > 0 {
        let _ = logs.append(
            profile,
            LogEntry::now(
                LogLevel::Warning,
                format!("{more} more errors and warnings are in the report"),
                Default::default(),
            ),
        );
    }
    let level = match r.status {
        crate::report::Status::Completed => LogLevel::Info,
        crate::report::Status::Partial | crate::report::Status::Cancelled => LogLevel::Warning,
        _ => LogLevel::Error,
    };
    let msg = format!("sync {}", r.summary());
    let data = serde_json::json!({ "run_id": r.run_id, "status": r.status, "stats": r.stats });
    let _ = logs.append(profile, LogEntry::now(level, msg, data));
}

/// What an operation needs to run again, and what it is about.
fn operation_metadata(info: &JobInfo, work: &Work) -> serde_json::Value {
    let mut m = serde_json::json!({
        "job_id": info.job_id,
        "sync_id": info.sync_id,
        "profile": info.profile,
        "source": info.source,
        "destination": info.destination,
    });
    match work {
        Work::Sync { opts, .. } => m["options"] = serde_json::to_value(opts).unwrap_or_default(),
        Work::Command { argv } => m["command"] = serde_json::json!(argv),
    }
    m
}

/// Moves an operation to `state`, stores it and announces it (`recovery_update`).
pub(crate) fn set_op_state(
    store: &Option<Arc<Store>>,
    bus: &EventBus,
    op: &mut Operation,
    state: OperationState,
    error: Option<String>,
) {
    op.state = state;
    if error.is_some() {
        op.error = error;
    }
    op.updated_at = now_rfc3339();
    if let Some(s) = store {
        let _ = s.put_operation(op);
    }
    let profile = op.metadata.get("profile").and_then(|p| p.as_str());
    bus.publish_about(
        Event::RecoveryUpdate {
            operation_id: op.operation_id.clone(),
            function_name: op.function_name.clone(),
            state,
            attempt: op.attempt,
            max_attempts: op.max_attempts,
            error: op.error.clone(),
            timestamp: op.updated_at.clone(),
        },
        profile,
    );
}
