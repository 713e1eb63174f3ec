//! The sync engine: executes a Plan with N parallel transfers, safe writes, an optional bandwidth limit and
//! verify, cancel, and progress; and the [`Engine`] front door every binding uses.

pub mod bandwidth;
pub mod cancel;
pub mod options;
pub mod run;
pub(crate) mod transfer;

pub use cancel::CancelFlag;
pub use options::SyncOptions;
pub use run::{RunContext, run_sync};

use crate::backend::{self, Backend};
use crate::error::{Error, Result};
use crate::events::{Event, EventBus, Subscription};
use crate::jobs::Job;
use crate::manifest::now_rfc3339;
use crate::manifest::plan::Plan;
use crate::progress::{ProgressCallback, ProgressTracker, Stage};
use crate::report::SyncReport;
use crate::state::Store;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
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

/// The front door: owns the async runtime and the embedded store, starts jobs.
#[derive(Debug)]
pub struct Engine {
    runtime: tokio::runtime::Runtime,
    store: Option<Arc<Store>>,
    events: Arc<EventBus>,
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
        let store = if config.no_store {
            None
        } else {
            let dir = config.state_dir.clone().unwrap_or_else(crate::state::default_state_dir);
            Some(Arc::new(Store::open_dir(&dir)?))
        };
        Ok(Engine { runtime, store, events: Arc::new(EventBus::new()) })
    }

    /// A subscription to every event of this engine's jobs from now on.
    pub fn subscribe(&self) -> Subscription {
        self.events.subscribe()
    }

    /// The embedded store, if any.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Starts a sync from `source` to `dest` (paths or URLs) in the background.
    pub fn start_sync(
        &self,
        source: &str,
        dest: &str,
        opts: SyncOptions,
        on_progress: Option<ProgressCallback>,
    ) -> Result<Job> {
        let (src, dst) = (backend::open(source)?, backend::open(dest)?);
        self.start_sync_with(src, dst, opts, on_progress)
    }

    /// Starts a sync between two backends in the background.
    pub fn start_sync_with(
        &self,
        src: Arc<dyn Backend>,
        dst: Arc<dyn Backend>,
        opts: SyncOptions,
        on_progress: Option<ProgressCallback>,
    ) -> Result<Job> {
        opts.validate()?;
        let ctx = RunContext {
            cancel: CancelFlag::new(),
            progress: Arc::new(ProgressTracker::default()),
            store: self.store.clone(),
        };
        let job = Job::new(ctx.cancel.clone(), ctx.progress.clone());
        let interval = Duration::from_millis(opts.progress_interval_ms.max(10));
        let (j, bus) = (job.clone(), self.events.clone());
        let job_id = job.id().to_string();
        bus.publish(Event::JobQueued {
            job_id: job_id.clone(),
            at: now_rfc3339(),
            source: src.location(),
            destination: dst.location(),
        });
        self.runtime.spawn(async move {
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
                tokio::spawn(async move {
                    let mut last = None;
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
                        }
                    }
                })
            };
            let report = run_sync(src, dst, &opts, &ctx).await;
            ticker.abort();
            let _ = ticker.await;
            emit(&ctx.progress.snapshot());
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

    /// Runs a future on the engine's runtime and waits for it (for blocking front ends).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}
