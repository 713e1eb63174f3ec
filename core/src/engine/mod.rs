//! The front door: [`Engine`], which every binding, the CLI and the server use. Each capability it offers sits in
//! a file of its own here and delegates to its module below; the executor is [`crate::sync`].

mod backup;
mod breakers;
pub mod calls;
pub mod cloud;
mod events;
pub mod jobs;
mod launch;
pub mod locks;
mod logs;
mod media;
mod profiles;
mod recovery;
pub mod selftest;
mod usage;
pub mod vault;

pub use crate::cancel::CancelFlag;
pub use crate::report::{ProfileResult, RunAllReport};
pub use crate::sync::{RunContext, SyncOptions, command, run_sync};
pub use locks::{LockSelfTest, ProfileLocks, Removal, RemovedLock, UnlockReport};
pub use profiles::{LastRun, ProfileInfo, ProfileKind, ProfileStatus, RunningJob};
pub use recovery::RecoveryMetrics;

use crate::backend::{self, Backend};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{EventBus, Subscription};
use crate::jobs::Job;
use crate::logs::LogStore;
use crate::manifest::plan::Plan;
use crate::progress::ProgressCallback;
use crate::report::SyncReport;
use crate::state::Store;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// How an [`Engine`] is set up (canonical JSON; every field optional). The profiles and settings come from
/// `config_file` (TOML) or `config` (the same document as a value), or there are none; the other fields override
/// the config's `[settings]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// A config file (TOML): its profiles and settings; relative paths in `[settings]` resolve from its folder.
    pub config_file: Option<PathBuf>,
    /// A config as a value (the TOML document's schema, as JSON); relative paths resolve from the working folder.
    pub config: Option<serde_json::Value>,
    /// Where the embedded store lives (default: `[settings] state_dir`, else
    /// [`crate::state::default_state_dir`]).
    pub state_dir: Option<PathBuf>,
    /// Run without an embedded store (no hash cache, no history; events are kept in memory for replay, and
    /// still numbered after those of earlier engines by the state directory's `events.seq`).
    pub no_store: bool,
    /// Async worker threads (0: the number of cores).
    pub worker_threads: usize,
    /// Where profile logs go (default: `[settings] log_dir`, else `logs` in the state directory).
    pub log_dir: Option<PathBuf>,
    /// Size at which a profile log is rotated (default: `[settings] log_max_size`, else 10 MiB).
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

    /// The profiles and settings this names: `config_file` read, or `config` parsed, or an empty config (both
    /// given is `invalid_input`).
    pub fn load_config(&self) -> Result<Config> {
        match (&self.config_file, &self.config) {
            (Some(_), Some(_)) => Err(Error::invalid("give config_file or config, not both")),
            (Some(f), None) => Config::load(f),
            (None, Some(v)) => Config::from_value(v.clone()),
            (None, None) => Ok(Config::default()),
        }
    }
}

/// The front door: owns the async runtime and the embedded store, starts jobs. Dropping it shuts it down
/// cleanly: running jobs are cancelled and waited for, subscriptions end, the runtime stops (see its `Drop`).
///
/// Its calls are those of [`EngineCore`] (through `Deref`), which jobs that start other jobs (a run-all) share.
#[derive(Debug)]
pub struct Engine {
    /// Taken out only by `Drop`.
    runtime: Option<tokio::runtime::Runtime>,
    core: Arc<EngineCore>,
}

/// What an [`Engine`] is, apart from its runtime: every front-door call is a method of this.
#[derive(Debug)]
pub struct EngineCore {
    /// The engine's runtime (owned by the [`Engine`]).
    rt: tokio::runtime::Handle,
    /// Itself, for work that must outlive a call (a run-all starting each profile in turn).
    me: std::sync::Weak<EngineCore>,
    store: Option<Arc<Store>>,
    events: Arc<EventBus>,
    logs: LogStore,
    jobs: Mutex<Vec<Job>>,
    /// The circuit breakers of remote targets, one per target, shared by every job (`[settings.breaker]`).
    breakers: Arc<crate::recovery::BreakerRegistry>,
    /// Local copies of remote manifests (`cache/<service>/<snapshot>.json`).
    cache_dir: PathBuf,
    /// The state directory (its instance id, `locks/` for plain syncs to S3 and Drive).
    state_dir: PathBuf,
    /// The instance id, read or made at the first lock.
    instance: std::sync::OnceLock<String>,
    /// Warnings from opening the engine (a damaged store replaced), for the report of its first job.
    startup_warnings: Mutex<Vec<crate::report::Warning>>,
    /// The profiles and settings.
    config: Arc<Config>,
    /// The lease of the locks it takes.
    lock_lease: Duration,
    /// Set by [`Engine::close`]: no job starts any more.
    closing: std::sync::atomic::AtomicBool,
    /// The secrets vault, once a call unlocked it (see [`vault`]).
    vault: Mutex<Option<crate::vault::Vault>>,
}

/// How long an ended operation stays in the store (pruned when an engine starts).
pub const OPERATION_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a finished job stays in [`EngineCore::jobs`](EngineCore::jobs) (its record stays in the history).
pub const JOB_RETENTION: Duration = Duration::from_secs(3600);

impl Engine {
    /// An engine set up by `config`: its config file or value read (see [`EngineConfig`]), its store opened.
    pub fn new(config: EngineConfig) -> Result<Engine> {
        let profiles = config.load_config()?;
        Engine::with_config(profiles, config)
    }

    /// An engine with the config file at `path` (TOML) and default overrides.
    pub fn open(path: impl Into<PathBuf>) -> Result<Engine> {
        Engine::new(EngineConfig { config_file: Some(path.into()), ..Default::default() })
    }

    /// An engine that owns `profiles` (its `config_file` and `config` are ignored; the other fields of `config`
    /// override its `[settings]`).
    pub fn with_config(profiles: Config, config: EngineConfig) -> Result<Engine> {
        let s = &profiles.settings;
        s.breaker.validate()?;
        let config = EngineConfig {
            state_dir: config
                .state_dir
                .or_else(|| s.state_dir.as_deref().map(|d| profiles.resolve(d))),
            log_dir: config.log_dir.or_else(|| s.log_dir.as_deref().map(|d| profiles.resolve(d))),
            log_max_size: match config.log_max_size {
                Some(n) => Some(n),
                None => s.log_max_size.as_ref().map(|r| r.get()).transpose()?,
            },
            ..config
        };
        let retention = profiles.settings.event_retention()?;
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
        if let Some(s) = &store {
            // Runs whose process died while they ran are interrupted, not "running" forever.
            s.mark_interrupted(&crate::locks::host_name(), crate::locks::pid_alive)?;
            // Ended operations are kept for a week.
            let cutoff = chrono::Utc::now()
                - chrono::Duration::from_std(OPERATION_RETENTION).unwrap_or_default();
            s.prune_operations(&cutoff.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))?;
        }
        // Events are numbered after those of earlier engines of this state directory and kept for replay (after
        // the store has shown it can be written: an engine that cannot open leaves the event mark as it was).
        let events = Arc::new(match &store {
            Some(s) => EventBus::in_store(s.clone(), &state_dir, retention)?,
            None => EventBus::in_memory(Some(&state_dir), retention),
        });
        let logs = LogStore::new(
            config.log_dir.clone().unwrap_or_else(|| state_dir.join("logs")),
            config.log_max_size.unwrap_or(crate::logs::DEFAULT_MAX_SIZE),
            Some(events.clone()),
        );
        let startup_warnings =
            store.as_deref().and_then(Store::recovered).map(|r| r.warning()).into_iter().collect();
        let lock_lease = match &profiles.settings.lock_lease {
            Some(d) => d.get()?,
            None => crate::locks::DEFAULT_LEASE,
        };
        let breakers = Arc::new(breakers::registry(&profiles.settings.breaker, events.clone()));
        let rt = runtime.handle().clone();
        let core = Arc::new_cyclic(|me| EngineCore {
            rt,
            me: me.clone(),
            store,
            events,
            logs,
            jobs: Mutex::new(Vec::new()),
            breakers,
            cache_dir: state_dir.join("cache"),
            state_dir,
            instance: std::sync::OnceLock::new(),
            startup_warnings: Mutex::new(startup_warnings),
            lock_lease,
            config: Arc::new(profiles),
            closing: Default::default(),
            vault: Mutex::new(None),
        });
        Ok(Engine { runtime: Some(runtime), core })
    }
}

impl std::ops::Deref for Engine {
    type Target = EngineCore;
    fn deref(&self) -> &EngineCore {
        &self.core
    }
}

impl EngineCore {
    /// The profiles and settings this engine owns.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The damaged store this engine found when it opened, moved aside and replaced, if any. The first job the
    /// engine runs also carries it as a `state_store_recovered` warning in its report (and its profile's log).
    pub fn store_recovery(&self) -> Option<&crate::state::StoreRecovery> {
        self.store.as_deref().and_then(Store::recovered)
    }

    /// Opens the backends of a sync: remote ones with the sync's remote options (and the vault's credentials
    /// their `credentials_key`s name), their manifests cached under `<state dir>/cache/`.
    pub fn open_backends(
        &self,
        source: &str,
        dest: &str,
        opts: &SyncOptions,
    ) -> Result<(Arc<dyn Backend>, Arc<dyn Backend>)> {
        let o = backend::OpenOptions {
            snapshot: Some(opts.name.clone()),
            remote: self.resolve_credentials(&opts.remote)?,
            cache_dir: Some(self.cache_dir.clone()),
            store: self.store.clone(),
        };
        Ok((backend::open_with(source, &o)?, backend::open_with(dest, &o)?))
    }

    /// A subscription to every event of this engine from now on (live only; see [`EngineCore::subscribe_from`](EngineCore::subscribe_from) for
    /// a replay and filters).
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

    /// Starts a sync between two backends in the background; locks like [`EngineCore::start_sync`](EngineCore::start_sync).
    pub fn start_sync_with(
        &self,
        src: Arc<dyn Backend>,
        dst: Arc<dyn Backend>,
        opts: SyncOptions,
        on_progress: Option<ProgressCallback>,
    ) -> Result<Job> {
        self.launch(src, dst, opts, on_progress, None, Vec::new())
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
            (None, Some(f)) => Err(f.to_error()),
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

    /// Runs blocking work on the engine's blocking threads (for front ends with an event loop: the handle is a
    /// future that only waits).
    pub fn spawn_blocking<F, R>(&self, f: F) -> tokio::task::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.rt().spawn_blocking(f)
    }

    /// Runs a future on the engine's runtime and waits for it (for blocking front ends).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt().block_on(f)
    }

    fn rt(&self) -> &tokio::runtime::Handle {
        &self.rt
    }
}

impl Engine {
    /// Stops the engine's work, as dropping it does, but keeps it to be dropped later: from then on no job starts
    /// (`invalid_input`, "the engine is closed"), the jobs still running are cancelled and waited for (a transfer
    /// stops within one chunk and removes its temporary; the job's report and stored record say `cancelled`), and
    /// every subscription then ends (after the events already queued). Calls that only read go on working.
    /// Called on a thread of the engine's runtime (a progress callback), it returns at once and a thread of its own
    /// does the waiting. Calling it again does nothing more.
    pub fn close(&self) {
        let finish = self.core.begin_close();
        run_off_runtime(finish);
    }

    /// True once [`Engine::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.core.closing.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl EngineCore {
    /// Refuses new jobs and cancels the running ones; the returned work waits for them and ends the
    /// subscriptions.
    fn begin_close(&self) -> impl FnOnce() + Send + 'static {
        self.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        let jobs = self.active_jobs();
        for j in &jobs {
            j.cancel();
        }
        let events = self.events.clone();
        move || {
            for j in &jobs {
                j.wait(None);
            }
            // Subscriptions end; the events published are stored and the last seq recorded.
            events.shutdown();
        }
    }

    /// `invalid_input` once the engine is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closing.load(std::sync::atomic::Ordering::SeqCst) {
            Err(Error::invalid("the engine is closed"))
        } else {
            Ok(())
        }
    }
}

/// Runs `f` here, or on a thread of its own when this is a thread of a runtime (where it could wait for its own
/// job, and tokio cannot stop a runtime from inside one).
fn run_off_runtime(f: impl FnOnce() + Send + 'static) {
    if tokio::runtime::Handle::try_current().is_err() {
        f();
        return;
    }
    let slot = Arc::new(Mutex::new(Some(f)));
    let theirs = slot.clone();
    let spawned = std::thread::Builder::new().name("syncwright-shutdown".into()).spawn(move || {
        let f = theirs.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(f) = f {
            f();
        }
    });
    if spawned.is_err() {
        // No thread to be had: leave the work undone rather than panic or deadlock here.
        std::mem::forget(slot.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}

impl Drop for Engine {
    /// Shuts the engine down: [`Engine::close`], then the runtime stops. Dropped on a thread of a runtime (a
    /// progress callback that drops its engine), it returns at once and a thread of its own does the waiting.
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else { return };
        let finish = self.core.begin_close();
        run_off_runtime(move || {
            finish();
            drop(runtime);
        });
    }
}
