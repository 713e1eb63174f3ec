//! The front door: [`Engine`], which every binding, the CLI and the server use. Each capability it offers sits in
//! a file of its own here and delegates to its module below; the executor is [`crate::sync`].

pub mod locks;
pub mod selftest;

pub use crate::cancel::CancelFlag;
pub use crate::sync::{RunContext, SyncOptions, command, run_sync};
pub use locks::{ProfileLocks, RemovedLock, UnlockReport};

use crate::backend::{self, Backend};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{Event, EventBus, Subscription};
use crate::jobs::Job;
use crate::jobs::JobInfo;
use crate::locks::{LockDir, LockGuard, LockOwner, profile_lock_name};
use crate::logs::{LogEntry, LogLevel, LogStore};
use crate::manifest::now_rfc3339;
use crate::manifest::plan::Plan;
use crate::progress::{ProgressCallback, ProgressTracker, Stage};
use crate::report::SyncReport;
use crate::state::Store;
use crate::state::history::RunRecord;
use crate::state::operations::{Operation, OperationState};
use serde::Deserialize;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// How an [`Engine`] is set up (canonical JSON; every field optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Where the embedded store lives (default: see [`crate::state::default_state_dir`]).
    pub state_dir: Option<PathBuf>,
    /// Run without an embedded store (no hash cache).
    pub no_store: bool,
    /// Async worker threads (0: the number of cores).
    pub worker_threads: usize,
    /// Where profile logs go (default: `logs` in the state directory).
    pub log_dir: Option<PathBuf>,
    /// Size at which a profile log is rotated (default 10 MiB).
    pub log_max_size: Option<u64>,
}

impl EngineConfig {
    /// Parses a config from JSON (empty or missing: defaults).
    pub fn from_json(s: Option<&str>) -> Result<EngineConfig> {
        match s {
            Some(s) if !s.trim().is_empty() => serde_json::from_str(s)
                .map_err(|e| Error::invalid(format!("bad engine config: {e}"))),
            _ => Ok(EngineConfig::default()),
        }
    }
}

/// The front door: owns the async runtime and the embedded store, starts jobs. Dropping it shuts it down
/// cleanly: running jobs are cancelled and waited for, subscriptions end, the runtime stops (see its `Drop`).
#[derive(Debug)]
pub struct Engine {
    /// Taken out only by `Drop`.
    runtime: Option<tokio::runtime::Runtime>,
    store: Option<Arc<Store>>,
    events: Arc<EventBus>,
    logs: LogStore,
    jobs: Mutex<Vec<Job>>,
    breaker_trips: Arc<std::sync::atomic::AtomicU64>,
    /// Local copies of remote manifests (`cache/<service>/<snapshot>.json`).
    cache_dir: PathBuf,
    /// The state directory (its instance id, `locks/` for plain syncs to S3 and Drive).
    state_dir: PathBuf,
    /// The instance id, read or made at the first lock.
    instance: std::sync::OnceLock<String>,
    /// Warnings from opening the engine (a damaged store replaced), for the report of its first job.
    startup_warnings: Mutex<Vec<crate::report::Warning>>,
}

/// Recovery figures: the stored operations' and this engine's breaker trips.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecoveryMetrics {
    /// Counts over the operations.
    #[serde(flatten)]
    pub operations: crate::state::operations::OperationMetrics,
    /// Times a circuit breaker opened.
    pub circuit_breaker_trips: u64,
}

/// What a job does.
#[derive(Clone)]
enum Work {
    /// A sync between two backends.
    Sync { src: Arc<dyn Backend>, dst: Arc<dyn Backend>, opts: Box<SyncOptions> },
    /// An external command.
    Command { argv: Vec<String> },
}

/// How long an ended operation stays in the store (pruned when an engine starts).
pub const OPERATION_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a finished job stays in [`Engine::jobs`] (its record stays in the history).
pub const JOB_RETENTION: Duration = Duration::from_secs(3600);

/// The outcome of one profile in [`Engine::run_all`].
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    },
}

/// The outcome of [`Engine::run_all`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunAllReport {
    /// Profiles in the config.
    pub total: usize,
    /// Profiles whose run completed.
    pub successful: Vec<String>,
    /// Profiles that failed, ended partial, or could not start.
    pub failed: Vec<String>,
    /// Per profile.
    pub results: std::collections::BTreeMap<String, ProfileResult>,
}

impl Engine {
    /// An engine with `config`.
    pub fn new(config: EngineConfig) -> Result<Engine> {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.enable_all().thread_name("syncwright");
        if config.worker_threads > 0 {
            b.worker_threads(config.worker_threads);
        }
        let runtime =
            b.build().map_err(|e| Error::internal(format!("cannot start the runtime: {e}")))?;
        let state_dir = config.state_dir.clone().unwrap_or_else(crate::state::default_state_dir);
        let store =
            if config.no_store { None } else { Some(Arc::new(Store::open_dir(&state_dir)?)) };
        let events = Arc::new(EventBus::new());
        let logs = LogStore::new(
            config.log_dir.clone().unwrap_or_else(|| state_dir.join("logs")),
            config.log_max_size.unwrap_or(crate::logs::DEFAULT_MAX_SIZE),
            Some(events.clone()),
        );
        if let Some(s) = &store {
            // Runs whose process died while they ran are interrupted, not "running" forever.
            s.mark_interrupted(&crate::locks::host_name(), crate::locks::pid_alive)?;
            // Ended operations are kept for a week.
            let cutoff = chrono::Utc::now()
                - chrono::Duration::from_std(OPERATION_RETENTION).unwrap_or_default();
            s.prune_operations(&cutoff.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))?;
        }
        let startup_warnings =
            store.as_deref().and_then(Store::recovered).map(|r| r.warning()).into_iter().collect();
        Ok(Engine {
            runtime: Some(runtime),
            store,
            events,
            logs,
            jobs: Mutex::new(Vec::new()),
            breaker_trips: Arc::default(),
            cache_dir: state_dir.join("cache"),
            state_dir,
            instance: std::sync::OnceLock::new(),
            startup_warnings: Mutex::new(startup_warnings),
        })
    }

    /// The damaged store this engine found when it opened, moved aside and replaced, if any. The first job the
    /// engine runs also carries it as a `state_store_recovered` warning in its report (and its profile's log).
    pub fn store_recovery(&self) -> Option<&crate::state::StoreRecovery> {
        self.store.as_deref().and_then(Store::recovered)
    }

    /// Opens the backends of a sync: remote ones with the sync's remote options, their manifests cached under
    /// `<state dir>/cache/`.
    pub fn open_backends(
        &self,
        source: &str,
        dest: &str,
        opts: &SyncOptions,
    ) -> Result<(Arc<dyn Backend>, Arc<dyn Backend>)> {
        let o = backend::OpenOptions {
            snapshot: Some(opts.name.clone()),
            remote: opts.remote.clone(),
            cache_dir: Some(self.cache_dir.clone()),
            store: self.store.clone(),
        };
        Ok((backend::open_with(source, &o)?, backend::open_with(dest, &o)?))
    }

    /// A subscription to every event of this engine's jobs from now on.
    pub fn subscribe(&self) -> Subscription {
        self.events.subscribe()
    }

    /// The profile logs.
    pub fn logs(&self) -> &LogStore {
        &self.logs
    }

    /// The embedded store, if any.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Starts a sync from `source` to `dest` (paths or URLs) in the background. A run that writes (not a dry
    /// run) takes the destination's lock as its first step (see [`crate::locks`]): while another run (of any
    /// process, host or config) writes there, this one fails before doing anything with a `conflict` whose
    /// details (in the report's `fatal`) name the holder.
    pub fn start_sync(
        &self,
        source: &str,
        dest: &str,
        opts: SyncOptions,
        on_progress: Option<ProgressCallback>,
    ) -> Result<Job> {
        let (src, dst) = self.open_backends(source, dest, &opts)?;
        self.start_sync_with(src, dst, opts, on_progress)
    }

    /// Starts a sync between two backends in the background; locks like [`Engine::start_sync`].
    pub fn start_sync_with(
        &self,
        src: Arc<dyn Backend>,
        dst: Arc<dyn Backend>,
        opts: SyncOptions,
        on_progress: Option<ProgressCallback>,
    ) -> Result<Job> {
        self.launch(src, dst, opts, on_progress, None, Vec::new())
    }

    /// Runs profile `name` of `config` in the background, one run at a time: a profile already running (in this
    /// process or any other that sees the coordination folder) is an error of kind `conflict` whose details name
    /// the running job and its start time. Its destination is locked like any writing run's
    /// ([`Engine::start_sync`]): a destination another run writes makes the job fail at once with that conflict.
    pub fn run_profile(
        &self,
        config: &Config,
        name: &str,
        on_progress: Option<ProgressCallback>,
    ) -> Result<Job> {
        let profile = config.profile(name)?;
        let (Some(source), Some(dest)) = (&profile.source, &profile.destination) else {
            let argv = profile.command.clone().unwrap_or_default();
            let timeout = profile.timeout.as_ref().map(|t| t.get()).transpose()?;
            let info = JobInfo::new(Some(name.to_string()), argv.join(" "), String::new());
            let locks = self.lock_dir(config.coordination_dir());
            let owner = LockOwner {
                profile: Some(name.to_string()),
                job_id: Some(info.job_id.clone()),
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
        let (src, dst) = self.open_backends(source, dest, &profile.sync_options(name)?)?;
        self.run_profile_with(config, name, src, dst, on_progress)
    }

    /// [`Engine::run_profile`] with the backends given (tests use instrumented ones).
    pub fn run_profile_with(
        &self,
        config: &Config,
        name: &str,
        src: Arc<dyn Backend>,
        dst: Arc<dyn Backend>,
        on_progress: Option<ProgressCallback>,
    ) -> Result<Job> {
        let profile = config.profile(name)?;
        let opts = profile.sync_options(name)?;
        let timeout = profile.timeout.as_ref().map(|t| t.get()).transpose()?;
        let info = JobInfo::new(Some(name.to_string()), src.location(), dst.location());
        let locks = self.lock_dir(config.coordination_dir());
        let owner = LockOwner {
            profile: Some(name.to_string()),
            job_id: Some(info.job_id.clone()),
            ..Default::default()
        };
        // Per profile here; per destination root by the job, like every writing run's.
        let profile_lock = self.take_lock(&locks, &profile_lock_name(name), &owner, name)?;
        let dest_lock = (!opts.dry_run).then(|| {
            self.dest_lock(&*dst, Some(&config.coordination_dir()), Some(name), &info.job_id)
        });
        let work = Work::Sync { src, dst, opts: Box::new(opts) };
        self.launch_job(info, work, on_progress, vec![profile_lock], dest_lock, timeout, None)
    }

    /// Takes a lock and announces it (and the stale lock it broke, if any) on the bus and in the profile's log.
    fn take_lock(
        &self,
        locks: &LockDir,
        lock: &str,
        owner: &LockOwner,
        profile: &str,
    ) -> Result<LockGuard> {
        let g = locks.acquire(lock, owner)?;
        locks::announce(&self.events, &self.logs, Some(profile), &g);
        Ok(g)
    }

    /// Runs every profile of `config` one after the other (external-command profiles are reported as failed);
    /// blocks until all ended.
    pub fn run_all(&self, config: &Config) -> RunAllReport {
        let mut out = RunAllReport::default();
        for name in config.profiles.keys() {
            let r = self.run_profile(config, name, None).and_then(|j| {
                j.wait(None).ok_or_else(|| Error::internal("job ended without a report"))
            });
            match r {
                Ok(rep) => {
                    if rep.status == crate::report::Status::Completed {
                        out.successful.push(name.clone());
                    } else {
                        out.failed.push(name.clone());
                    }
                    out.results.insert(name.clone(), ProfileResult::Report(Box::new(rep)));
                }
                Err(e) => {
                    out.failed.push(name.clone());
                    out.results.insert(
                        name.clone(),
                        ProfileResult::Error { kind: e.kind(), error: e.message().to_string() },
                    );
                }
            }
        }
        out.total = config.profiles.len();
        out
    }

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
    pub fn retry_operation(
        &self,
        id: &str,
        force: bool,
        max_attempts: Option<u32>,
        config: Option<&Config>,
    ) -> Result<Job> {
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
            let cfg = config.ok_or_else(|| {
                Error::invalid(format!("operation {id} runs profile {p}: pass its config"))
            })?;
            coord = Some(cfg.coordination_dir());
            let locks = self.lock_dir(cfg.coordination_dir());
            let owner = LockOwner {
                profile: Some(p.clone()),
                job_id: Some(info.job_id.clone()),
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
                let mut opts: SyncOptions =
                    serde_json::from_value(m.get("options").cloned().unwrap_or_default()).map_err(
                        |e| Error::new(crate::ErrorKind::Corrupt, format!("operation {id}: {e}")),
                    )?;
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
                &info.job_id,
            )),
            _ => None,
        };
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).retain(|j| j.id() != id);
        self.launch_job(info, work, None, guards, dest_lock, None, Some(op))
    }

    /// Figures over the stored operations, with the circuit breaker trips of this engine.
    pub fn recovery_metrics(&self) -> Result<RecoveryMetrics> {
        Ok(RecoveryMetrics {
            operations: self.store_or_err()?.operation_metrics()?,
            circuit_breaker_trips: self.breaker_trips.load(std::sync::atomic::Ordering::Relaxed),
        })
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

    fn store_or_err(&self) -> Result<&Arc<Store>> {
        self.store.as_ref().ok_or_else(|| {
            Error::new(
                crate::ErrorKind::FeatureDisabled,
                "this engine runs without a state store (no_store)",
            )
        })
    }

    /// A job of this engine by id (running, or finished within the retention time).
    pub fn job(&self, id: &str) -> Option<Job> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|j| j.id() == id).cloned()
    }

    /// Every job this engine knows, oldest first.
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The jobs still running.
    pub fn active_jobs(&self) -> Vec<Job> {
        self.jobs().into_iter().filter(|j| j.report().is_none()).collect()
    }

    fn launch(
        &self,
        src: Arc<dyn Backend>,
        dst: Arc<dyn Backend>,
        opts: SyncOptions,
        on_progress: Option<ProgressCallback>,
        profile: Option<String>,
        guards: Vec<LockGuard>,
    ) -> Result<Job> {
        let info = JobInfo::new(profile, src.location(), dst.location());
        let dest_lock = (!opts.dry_run)
            .then(|| self.dest_lock(&*dst, None, info.profile.as_deref(), &info.job_id));
        let work = Work::Sync { src, dst, opts: Box::new(opts) };
        self.launch_job(info, work, on_progress, guards, dest_lock, None, None)
    }

    /// Starts a job. `guards` are locks taken already; `dest_lock` is the destination lock the job takes as its
    /// first step (every writing sync has one): a held one fails the run at once with its conflict, one that
    /// cannot be reached fails the attempt (retried like the run's other failures), and the lock is kept across
    /// attempts and released when the job ends.
    #[allow(clippy::too_many_arguments)]
    fn launch_job(
        &self,
        info: JobInfo,
        work: Work,
        on_progress: Option<ProgressCallback>,
        guards: Vec<LockGuard>,
        dest_lock: Option<Arc<locks::DestLock>>,
        timeout: Option<Duration>,
        prior: Option<Operation>,
    ) -> Result<Job> {
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
        let on_breaker: crate::recovery::breaker::TransitionCallback = {
            let (bus, trips) = (self.events.clone(), self.breaker_trips.clone());
            Arc::new(move |t: &crate::recovery::BreakerTransition| {
                if t.to == crate::recovery::BreakerState::Open {
                    trips.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                bus.publish(Event::Breaker { transition: t.clone() });
            })
        };
        let ctx = RunContext {
            cancel: CancelFlag::new(),
            progress: Arc::new(ProgressTracker::default()),
            store: self.store.clone(),
            on_breaker: Some(on_breaker),
        };
        let job = Job::new(info, ctx.cancel.clone(), ctx.progress.clone());
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            // Finished jobs stay queryable for a while, then go (the history keeps them).
            let cutoff =
                chrono::Utc::now() - chrono::Duration::from_std(JOB_RETENTION).unwrap_or_default();
            jobs.retain(|j| {
                j.report().is_none_or(|r| {
                    chrono::DateTime::parse_from_rfc3339(&r.finished_at).is_ok_and(|t| t > cutoff)
                })
            });
            jobs.push(job.clone());
        }
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
        bus.publish(Event::JobQueued {
            job_id: job_id.clone(),
            at: now_rfc3339(),
            source: job.info().source.clone(),
            destination: job.info().destination.clone(),
        });
        self.rt().spawn(async move {
            bus.publish(Event::JobStarted { job_id: job_id.clone(), at: now_rfc3339() });
            // Progress goes to the callback and the bus at most once per interval, and only when it moved.
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
                            break;
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
            let mut dest_guard: Option<LockGuard> = None;
            let mut report = loop {
                op.attempt += 1;
                set_op_state(&store, &bus, &mut op, OperationState::InProgress, None);
                let report = match &work {
                    Work::Sync { src, dst, opts } => {
                        let locked = match (&dest_lock, &dest_guard) {
                            (Some(l), None) => l.take_async(&ctx.cancel).await.map(|g| {
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
                let c = crate::recovery::classify(&Error::new(f.kind, f.error.clone()));
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
                    _ = ctx.cancel.cancelled() => break report,
                    _ = tokio::time::sleep(wait) => {}
                }
            };
            if let Some(w) = watchdog {
                w.abort();
            }
            if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
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
                _ if report.fatal.as_ref().is_some_and(|f| {
                    crate::recovery::classify(&Error::new(f.kind, f.error.clone())).recoverable
                }) && op.attempt >= op.max_attempts =>
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

    /// Runs a sync and waits for its report.
    pub fn sync(&self, source: &str, dest: &str, opts: SyncOptions) -> Result<SyncReport> {
        let job = self.start_sync(source, dest, opts, None)?;
        job.wait(None).ok_or_else(|| Error::internal("job ended without a report"))
    }

    /// Computes the plan of a sync without writing anything.
    pub fn plan(&self, source: &str, dest: &str, mut opts: SyncOptions) -> Result<Plan> {
        opts.dry_run = true;
        let report = self.sync(source, dest, opts)?;
        match (report.plan, report.fatal) {
            (Some(p), _) => Ok(p),
            (None, Some(f)) => Err(Error::new(f.kind, f.error)),
            (None, None) => Err(Error::internal("dry run without a plan")),
        }
    }

    /// Runs a future on the engine's runtime in the background.
    pub fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt().spawn(f)
    }

    /// Runs a future on the engine's runtime and waits for it (for blocking front ends).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt().block_on(f)
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives until the engine is dropped")
    }
}

impl Drop for Engine {
    /// Shuts the engine down: the jobs still running are cancelled and waited for (a transfer stops within one
    /// chunk and removes its temporary; the job's report and stored record say `cancelled`), every subscription
    /// then ends (after the events already queued), and the runtime stops. Dropped on a thread of a runtime (a
    /// progress callback that drops its engine), it returns at once and a thread of its own does the waiting:
    /// there it could wait for its own job, and tokio cannot stop a runtime from inside one.
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else { return };
        let jobs = self.active_jobs();
        for j in &jobs {
            j.cancel();
        }
        let events = self.events.clone();
        let finish = move || {
            for j in &jobs {
                j.wait(None);
            }
            events.close_all();
            drop(runtime);
        };
        if tokio::runtime::Handle::try_current().is_err() {
            finish();
            return;
        }
        let slot = Arc::new(Mutex::new(Some(finish)));
        let theirs = slot.clone();
        let spawned =
            std::thread::Builder::new().name("syncwright-shutdown".into()).spawn(move || {
                let f = theirs.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(f) = f {
                    f();
                }
            });
        if spawned.is_err() {
            // No thread to be had: leave the runtime running rather than panic or deadlock here.
            std::mem::forget(slot.lock().unwrap_or_else(|p| p.into_inner()).take());
        }
    }
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
fn set_op_state(
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
    bus.publish(Event::RecoveryUpdate {
        operation_id: op.operation_id.clone(),
        function_name: op.function_name.clone(),
        state,
        attempt: op.attempt,
        max_attempts: op.max_attempts,
        error: op.error.clone(),
        timestamp: op.updated_at.clone(),
    });
}
