//! `Engine`, `Job` and `Subscription`: the front door of core (`syncwright::Engine`) for Node.
//!
//! Lifetimes, so that `node` exits by itself when the work is done and never earlier:
//! - a running job keeps the process alive (like a child process) until it finishes; it also keeps its engine
//!   alive, even after `engine.close()`;
//! - a progress callback is a thread-safe function that core drops, and so releases, when the job finishes;
//! - a pending `wait()`, `sync()` or subscription `next()` keeps the process alive until it settles, like any
//!   awaited I/O; an idle subscription does not;
//! - subscriptions end (their iterators finish) when their engine is released.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use syncwright::progress::{ProgressCallback, ProgressSnapshot};
use syncwright::{EngineConfig, Error, SyncOptions};

use crate::{JsonText, guarded, invalid, js_error, options_json, string_arg};

/// The core engine, shared by the `Engine` object and its jobs. Dropping it shuts core down: running jobs are
/// cancelled and waited for, subscriptions end, the runtime stops (from a thread of its own when the last
/// reference goes on one of the runtime's threads).
struct EngineInner {
    engine: syncwright::Engine,
}

impl EngineInner {
    fn engine(&self) -> &syncwright::Engine {
        &self.engine
    }
}

/// Counts progress snapshots queued for JavaScript and not yet delivered, so that `wait()` resolves only after the
/// callback has seen the last snapshot.
struct Delivery {
    pending: tokio::sync::watch::Sender<usize>,
}

impl Delivery {
    fn new() -> Arc<Delivery> {
        Arc::new(Delivery { pending: tokio::sync::watch::Sender::new(0) })
    }

    /// Resolves when every queued snapshot has been delivered (or dropped because Node is shutting down).
    async fn drained(&self) {
        let mut rx = self.pending.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// One queued snapshot: counted while it lives, whether it is delivered or dropped.
struct Queued(Arc<Delivery>);

impl Queued {
    fn new(d: &Arc<Delivery>) -> Queued {
        d.pending.send_modify(|n| *n += 1);
        Queued(d.clone())
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.pending.send_modify(|n| *n -= 1);
    }
}

type ProgressFn = ThreadsafeFunction<JsonText, Unknown<'static>, JsonText, Status, false>;

/// The core callback for a JavaScript `onProgress`: each snapshot is queued on a thread-safe function
/// (non-blocking) and delivered on the JavaScript thread. Core drops the callback, and so releases the function,
/// when the job has finished. An exception thrown by `onProgress` is reported like any uncaught exception.
fn progress_callback(
    env: &Env,
    on_progress: Option<Unknown>,
) -> napi::Result<Option<(ProgressCallback, Arc<Delivery>)>> {
    let Some(f) = on_progress else { return Ok(None) };
    match f.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(None),
        ValueType::Function => {}
        _ => return Err(invalid(env, "onProgress must be a function")),
    }
    let f: Function<JsonText, Unknown<'static>> = unsafe { f.cast()? };
    let tsfn: ProgressFn =
        f.build_threadsafe_function::<JsonText>().build_callback(|ctx| Ok(ctx.value))?;
    let delivery = Delivery::new();
    let d = delivery.clone();
    let cb: ProgressCallback = Arc::new(move |s: &ProgressSnapshot| {
        let Ok(text) = serde_json::to_string(s) else { return };
        let queued = Queued::new(&d);
        // When the call is refused (Node shutting down), the closure and its `queued` are dropped here.
        let _ = tsfn.call_with_return_value(
            JsonText(text),
            ThreadsafeFunctionCallMode::NonBlocking,
            move |returned, _env| {
                drop(queued);
                returned.map(|_| ())
            },
        );
    });
    Ok(Some((cb, delivery)))
}

/// A milliseconds argument: `undefined`, `null` or `Infinity` is no limit.
fn timeout_arg(env: &Env, value: Option<Unknown>) -> napi::Result<Option<Duration>> {
    let Some(value) = value else { return Ok(None) };
    match value.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Number => {
            let ms: f64 = unsafe { value.cast()? };
            if ms >= 0.0 {
                // Infinity, or more than a Duration holds: no limit.
                Ok(Duration::try_from_secs_f64(ms / 1000.0).ok())
            } else {
                Err(invalid(env, "timeoutMs must be a number >= 0"))
            }
        }
        _ => Err(invalid(env, "timeoutMs must be a number >= 0")),
    }
}

/// The report (core's canonical JSON) once the job finished within `timeout`, after the last progress snapshot
/// has been delivered; `None` on timeout.
async fn wait_report(
    job: syncwright::Job,
    delivery: Option<Arc<Delivery>>,
    timeout: Option<Duration>,
) -> Option<syncwright::SyncReport> {
    let report = match timeout {
        None => job.wait_async().await,
        Some(t) => tokio::time::timeout(t, job.wait_async()).await.ok()?,
    };
    if let Some(d) = delivery {
        d.drained().await;
    }
    Some(report)
}

/// The syncwright engine: owns an async runtime and the embedded state store (hash cache), and runs syncs as jobs.
///
/// ```js
/// const { Engine } = require('syncwright')
/// const engine = new Engine({ stateDir: '/tmp/sw-state' })
/// const report = await engine.sync('/data/src', '/mnt/nas/dst', { delete: true, max_delete: 10 },
///   (p) => console.error(`${p.percent}% ${p.stage}`))
/// ```
///
/// Options objects use core's snake_case names (`max_delete`); camelCase keys (`maxDelete`) are converted
/// mechanically at the top level. Core rejects unknown names with `invalid_input`.
#[napi]
pub struct Engine {
    inner: Option<Arc<EngineInner>>,
}

#[napi]
impl Engine {
    /// Creates an engine. `config` may set `state_dir` (default: `$SYNCWRIGHT_STATE_DIR`, else
    /// `$XDG_STATE_HOME/syncwright`, else `~/.local/state/syncwright`), `no_store` (no hash cache) and
    /// `worker_threads` (0: one per core); camelCase keys (`stateDir`) work too. Throws `invalid_input` for an
    /// unknown or ill-typed field, or the store's error when it cannot be opened.
    #[napi(constructor, ts_args_type = "config?: EngineConfig | null")]
    pub fn new(env: Env, config: Option<Unknown>) -> napi::Result<Self> {
        let json = options_json(&env, config, "config")?;
        let engine = guarded(|| syncwright::Engine::new(EngineConfig::from_json(json.as_deref())?))
            .map_err(|e| js_error(&env, &e))?;
        Ok(Engine { inner: Some(Arc::new(EngineInner { engine })) })
    }

    /// Releases the engine (optional: garbage collection does it too). Jobs already running go on to the end and
    /// keep the engine's runtime and store until then; after that, the engine's subscriptions end. Later calls on
    /// this object throw `invalid_input`. Calling `close()` again does nothing.
    #[napi]
    pub fn close(&mut self) {
        self.inner = None;
    }

    /// True after `close()`.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_none()
    }

    fn inner(&self, env: &Env) -> napi::Result<Arc<EngineInner>> {
        self.inner.clone().ok_or_else(|| invalid(env, "the engine is closed"))
    }

    /// Computes what a sync from `source` to `destination` would do, writing nothing: resolves to the plan
    /// (`{ schema_version, compare, actions: [{ op, path, reason, size, ... }], errors, totals }`). The scan runs
    /// on libuv's thread pool. Rejects with the error's kind as `code` (`invalid_input` for a bad option, the
    /// source's error when it cannot be read).
    #[napi(
        ts_args_type = "source: string, destination: string, options?: SyncOptions | null",
        ts_return_type = "Promise<Plan>"
    )]
    pub fn plan(
        &self,
        env: Env,
        source: Unknown,
        destination: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<AsyncTask<PlanTask>> {
        let source = string_arg(&env, source, "source")?;
        let destination = string_arg(&env, destination, "destination")?;
        let options = options_json(&env, options, "options")?;
        Ok(AsyncTask::new(PlanTask { inner: self.inner(&env)?, source, destination, options }))
    }

    /// Starts a sync from `source` to `destination` (paths or `file://` URLs) in the background and returns its
    /// `Job` at once. `onProgress`, when given, receives a progress snapshot on the JavaScript thread at most once
    /// per `progress_interval_ms` (default 200) while the job moves, and a last one with stage `"done"` and
    /// percent 100 before `job.wait()` resolves; an exception it throws is reported like any uncaught exception.
    /// The running job keeps the process alive until it finishes.
    /// Throws `invalid_input` for bad options or an unsupported location; a run that fails as a whole still
    /// finishes, with status `"failed"` and `fatal` set in its report.
    #[napi(
        ts_args_type = "source: string, destination: string, options?: SyncOptions | null, onProgress?: ((progress: ProgressSnapshot) => void) | null"
    )]
    pub fn start(
        &self,
        env: Env,
        source: Unknown,
        destination: Unknown,
        options: Option<Unknown>,
        on_progress: Option<Unknown>,
    ) -> napi::Result<Job> {
        self.start_job(&env, source, destination, options, on_progress)
            .and_then(|r| r.map_err(|e| js_error(&env, &e)))
    }

    /// Runs a sync to the end: `start()` then `wait()`. Resolves to the report (`status` is `"completed"`,
    /// `"partial"`, `"failed"` or `"cancelled"`; a failed run resolves too, with `fatal` set). Rejects with code
    /// `invalid_input` for bad options; throws it at once when an argument has the wrong type.
    #[napi(
        ts_args_type = "source: string, destination: string, options?: SyncOptions | null, onProgress?: ((progress: ProgressSnapshot) => void) | null",
        ts_return_type = "Promise<SyncReport>"
    )]
    pub fn sync<'env>(
        &self,
        env: &'env Env,
        source: Unknown,
        destination: Unknown,
        options: Option<Unknown>,
        on_progress: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let started = self.start_job(env, source, destination, options, on_progress)?;
        let waiting = started.map(|job| (job.job, job.delivery));
        env.spawn_future_with_callback(
            async move {
                Ok(match waiting {
                    Ok((job, delivery)) => wait_report(job, delivery, None)
                        .await
                        .ok_or_else(|| Error::internal("job ended without a report")),
                    Err(e) => Err(e),
                })
            },
            |env, r: syncwright::Result<syncwright::SyncReport>| {
                r.map(|r| JsonText(r.to_json())).map_err(|e| js_error(env, &e))
            },
        )
    }

    /// Arguments are checked (thrown); core's refusals (bad options, unsupported locations) are returned.
    fn start_job(
        &self,
        env: &Env,
        source: Unknown,
        destination: Unknown,
        options: Option<Unknown>,
        on_progress: Option<Unknown>,
    ) -> napi::Result<syncwright::Result<Job>> {
        let source = string_arg(env, source, "source")?;
        let destination = string_arg(env, destination, "destination")?;
        let options = options_json(env, options, "options")?;
        let inner = self.inner(env)?;
        let progress = progress_callback(env, on_progress)?;
        let (callback, delivery) = match progress {
            Some((c, d)) => (Some(c), Some(d)),
            None => (None, None),
        };
        let started = guarded(|| {
            let opts = SyncOptions::from_json(options.as_deref())?;
            inner.engine().start_sync(&source, &destination, opts, callback)
        });
        let job = match started {
            Ok(job) => job,
            Err(e) => return Ok(Err(e)),
        };
        // Keeps the process and the engine alive until the job finishes; the engine is handed back to the
        // JavaScript thread to be dropped there.
        let keep = (job.clone(), inner);
        env.spawn_future_with_callback(
            async move {
                keep.0.wait_async().await;
                Ok(keep.1)
            },
            |_env, inner| {
                drop(inner);
                Ok(())
            },
        )?;
        Ok(Ok(Job { job, delivery }))
    }

    /// A new subscription to this engine's events; iterate it with `for await`. Events are plain objects with
    /// `seq` (their number: from 1, only growing, across restarts too) and a `type`: a job goes `{ seq, type:
    /// "job_queued", job_id, at, source, destination }`, `{ type: "job_started", job_id, at }`, `{ type:
    /// "progress", job_id, progress }`..., `{ type: "job_finished", job_id, at, status, stats }`; locks,
    /// operations, breakers and profile logs add `lock_taken`, `lock_released`, `lock_broken`,
    /// `recovery_update`, `recovery_completed`, `breaker` and `log` (see `SyncEvent`).
    ///
    /// `options.since` is the last `seq` the caller saw (0: every event kept): the subscription first gives
    /// every kept event with a greater `seq`, in order, then the live ones, with no gap and no duplicate between
    /// the two; without it, the live events only. Events are kept for `[settings] event_retention` (default
    /// 24h), at most `event_retention_max` (default 100000). The kept events are read off the JavaScript thread:
    /// a `since` whose following events are no longer kept, or beyond the latest `seq`, rejects the first
    /// `next()` with code `invalid_input` (then the iteration ends; subscribe again from the latest `seq`).
    ///
    /// `options.filter` takes only some events (see `EventFilter`): those about a `job_id`, `profile` or
    /// `operation_id`, of the `types` listed; an event is taken when it matches every field given.
    /// Throws `invalid_input` at once for bad options (an unknown key, a `since` that is not an integer >= 0, an
    /// unknown event type).
    #[napi(ts_args_type = "options?: SubscribeOptions | null")]
    pub fn subscribe(&self, env: Env, options: Option<Unknown>) -> napi::Result<Subscription> {
        let inner = self.inner(&env)?;
        let json = options_json(&env, options, "options")?;
        let (since, filter) = subscribe_options(json.as_deref()).map_err(|e| js_error(&env, &e))?;
        let Some(since) = since else {
            let sub = guarded(|| inner.engine().subscribe_from(None, filter))
                .map_err(|e| js_error(&env, &e))?;
            return Ok(Subscription { sub: Opening::open(sub) });
        };
        // The replay reads the store: on a thread of its own, never the JavaScript thread.
        let opening = Opening::pending();
        let theirs = opening.clone();
        let spawned =
            std::thread::Builder::new().name("syncwright-subscribe".into()).spawn(move || {
                theirs.set(guarded(|| inner.engine().subscribe_from(Some(since), filter)));
            });
        if let Err(e) = spawned {
            return Err(js_error(&env, &Error::internal(format!("cannot start a thread: {e}"))));
        }
        Ok(Subscription { sub: opening })
    }
}

/// The `since` and filter of `engine.subscribe()` options (`{ since?, filter? }`, already snake_case).
fn subscribe_options(
    json: Option<&str>,
) -> syncwright::Result<(Option<u64>, syncwright::events::EventFilter)> {
    let Some(json) = json else { return Ok((None, Default::default())) };
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| Error::invalid(format!("options must be an object: {e}")))?;
    let mut since = None;
    let mut filter = None;
    for (k, v) in v {
        match (k.as_str(), v) {
            ("since", serde_json::Value::Null) | ("filter", serde_json::Value::Null) => {}
            ("since", v) => {
                since = Some(v.as_u64().ok_or_else(|| {
                    Error::invalid(format!("since must be an integer >= 0 (a seq), not {v}"))
                })?);
            }
            ("filter", serde_json::Value::Object(m)) => {
                // Its keys as core names them; camelCase (`jobId`) is converted like the options' own keys.
                let m: serde_json::Map<String, serde_json::Value> =
                    m.into_iter().map(|(k, v)| (crate::snake_case(&k), v)).collect();
                filter = Some(serde_json::Value::Object(m).to_string());
            }
            ("filter", v) => {
                return Err(Error::invalid(format!("filter must be an object, not {v}")));
            }
            (k, _) => {
                return Err(Error::invalid(format!(
                    "unknown subscribe option {k:?} (options: since, filter)"
                )));
            }
        }
    }
    Ok((since, syncwright::events::EventFilter::from_json(filter.as_deref())?))
}

/// Where a subscription is: being opened (its kept events read on a thread), open, or failed to open.
enum OpenState {
    Pending,
    Open(Arc<syncwright::events::Subscription>),
    /// Opening failed: the error, handed out by the first `next()` (then None: the iteration ends).
    Failed(Option<Error>),
}

/// A subscription, possibly still being opened.
struct Opening {
    state: std::sync::Mutex<OpenState>,
    ready: tokio::sync::Notify,
    /// `close()` was called (before it was open, too: then it is closed as soon as it opens).
    closed: std::sync::atomic::AtomicBool,
}

impl Opening {
    fn make(state: OpenState) -> Arc<Opening> {
        Arc::new(Opening {
            state: std::sync::Mutex::new(state),
            ready: tokio::sync::Notify::new(),
            closed: Default::default(),
        })
    }

    fn open(sub: syncwright::events::Subscription) -> Arc<Opening> {
        Opening::make(OpenState::Open(Arc::new(sub)))
    }

    fn pending() -> Arc<Opening> {
        Opening::make(OpenState::Pending)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OpenState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the opening with its result.
    fn set(&self, r: syncwright::Result<syncwright::events::Subscription>) {
        *self.lock() = match r {
            Ok(sub) => {
                if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                    sub.close();
                }
                OpenState::Open(Arc::new(sub))
            }
            Err(e) => OpenState::Failed(Some(e)),
        };
        self.ready.notify_waiters();
    }

    /// The open subscription, once it is; `Err(Some(e))` the first time after it failed to open, `Err(None)` when
    /// closed before it opened, and after a failure was handed out.
    async fn opened(
        &self,
    ) -> std::result::Result<Arc<syncwright::events::Subscription>, Option<Error>> {
        loop {
            let notified = self.ready.notified();
            match &mut *self.lock() {
                OpenState::Open(sub) => return Ok(sub.clone()),
                OpenState::Failed(e) => return Err(e.take()),
                OpenState::Pending if self.closed.load(std::sync::atomic::Ordering::SeqCst) => {
                    return Err(None);
                }
                OpenState::Pending => {}
            }
            notified.await;
        }
    }

    /// The subscription if it is open.
    fn now(&self) -> Option<Arc<syncwright::events::Subscription>> {
        match &*self.lock() {
            OpenState::Open(sub) => Some(sub.clone()),
            _ => None,
        }
    }

    fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(sub) = self.now() {
            sub.close();
        }
        self.ready.notify_waiters();
    }
}

pub struct PlanTask {
    inner: Arc<EngineInner>,
    source: String,
    destination: String,
    options: Option<String>,
}

impl Task for PlanTask {
    type Output = syncwright::Result<String>;
    type JsValue = JsonText;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guarded(|| {
            let opts = SyncOptions::from_json(self.options.as_deref())?;
            let plan = self.inner.engine().plan(&self.source, &self.destination, opts)?;
            serde_json::to_string(&plan).map_err(|e| Error::internal(format!("plan JSON: {e}")))
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output.map(JsonText).map_err(|e| js_error(&env, &e))
    }
}

/// A sync running in the background (from `engine.start()`).
#[napi]
pub struct Job {
    job: syncwright::Job,
    delivery: Option<Arc<Delivery>>,
}

#[napi]
impl Job {
    /// The job's id (a UUID), as in its events' `job_id`.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.job.id().to_string()
    }

    /// `"running"` until the job finishes, then its report's status: `"completed"`, `"partial"`, `"failed"` or
    /// `"cancelled"`.
    #[napi(getter, ts_return_type = "JobStatus")]
    pub fn status(&self) -> &'static str {
        self.job.status().as_str()
    }

    /// Progress now: `{ stage, current_file, files_done, files_total, bytes_done, bytes_total, scanned, rate_bps,
    /// eta_secs, percent, elapsed_ms }`.
    #[napi(ts_return_type = "ProgressSnapshot")]
    pub fn progress(&self) -> napi::Result<JsonText> {
        serde_json::to_string(&self.job.progress())
            .map(JsonText)
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// Asks the job to stop. Transfers stop within one chunk and remove their temporary files; the job then
    /// finishes with status `"cancelled"`. Does nothing once the job has finished.
    #[napi]
    pub fn cancel(&self) {
        self.job.cancel();
    }

    /// Resolves to the report when the job has finished, or to `null` when `timeoutMs` passes first (no
    /// `timeoutMs`, `null` or `Infinity`: no limit; `0`: only look). Never blocks the event loop. With an
    /// `onProgress` callback, the last snapshot has been delivered when this resolves. Throws `invalid_input`
    /// for a negative or non-numeric `timeoutMs`.
    #[napi(
        ts_args_type = "timeoutMs?: number | null",
        ts_return_type = "Promise<SyncReport | null>"
    )]
    pub fn wait<'env>(
        &self,
        env: &'env Env,
        timeout_ms: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, Option<JsonText>>> {
        let timeout = timeout_arg(env, timeout_ms)?;
        let (job, delivery) = (self.job.clone(), self.delivery.clone());
        env.spawn_future(async move {
            Ok(wait_report(job, delivery, timeout).await.map(|r| JsonText(r.to_json())))
        })
    }

    /// The report once the job has finished, else `null`.
    #[napi(ts_return_type = "SyncReport | null")]
    pub fn report(&self) -> Option<JsonText> {
        self.job.report().map(|r| JsonText(r.to_json()))
    }

    /// The report exactly as core wrote it (canonical JSON text, one line) once the job has finished, else
    /// `null`. Unlike `JSON.stringify(job.report())`, it keeps integers above 2^53 (such as `mtime_ns` in a dry
    /// run's plan) exact.
    #[napi]
    pub fn report_json(&self) -> Option<String> {
        self.job.report().map(|r| r.to_json())
    }
}

/// Events of an engine, in `seq` order, from the moment of `engine.subscribe()` (after the kept events it replays
/// when given `since`). An async iterable:
///
/// ```js
/// const sub = engine.subscribe({ since: lastSeq, filter: { profile: 'user_data' } })
/// for await (const event of sub) {
///   lastSeq = event.seq
///   if (event.type === 'job_finished') break   // `break` closes the subscription
/// }
/// ```
///
/// Live events queue in the library until read (up to 4096; beyond that the oldest are dropped and counted in
/// `lost`: subscribe again with `since` set to the last `seq` seen to get them back). A pending iteration keeps
/// the process alive until an event comes or the subscription is closed; it ends when `close()` is called, the
/// loop breaks, or the engine is released.
#[napi(async_iterator)]
pub struct Subscription {
    sub: Arc<Opening>,
}

/// An event as JavaScript sees it (the `SyncEvent` type of `index.d.ts`), or the error that kept the subscription
/// from opening (the iteration's promise rejects with it).
pub enum SyncEvent {
    Event(JsonText),
    Failed(Error),
}

impl ToNapiValue for SyncEvent {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        val: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        match val {
            SyncEvent::Event(json) => unsafe { JsonText::to_napi_value(env, json) },
            SyncEvent::Failed(e) => Err(js_error(&Env::from_raw(env), &e)),
        }
    }
}

#[napi]
impl AsyncGenerator for Subscription {
    type Yield = SyncEvent;
    type Next = ();
    type Return = ();

    fn next(
        &mut self,
        _value: Option<Self::Next>,
    ) -> impl Future<Output = napi::Result<Option<Self::Yield>>> + Send + 'static {
        let opening = self.sub.clone();
        async move {
            Ok(match opening.opened().await {
                Ok(sub) => sub.next().await.map(|e| SyncEvent::Event(JsonText(e.to_json()))),
                Err(failed) => failed.map(SyncEvent::Failed),
            })
        }
    }

    fn complete(
        &mut self,
        _value: Option<Self::Return>,
    ) -> impl Future<Output = napi::Result<Option<Self::Yield>>> + Send + 'static {
        self.sub.close();
        async move { Ok(None) }
    }
}

#[napi]
impl Subscription {
    /// The next queued event without waiting, or `null` when none is queued (also while the kept events are
    /// still being read, after a `since`).
    #[napi(ts_return_type = "SyncEvent | null")]
    pub fn try_next(&self) -> Option<JsonText> {
        self.sub.now()?.try_next().map(|e| JsonText(e.to_json()))
    }

    /// How many live events were dropped because this subscription fell more than 4096 events behind.
    #[napi(getter)]
    pub fn lost(&self) -> f64 {
        self.sub.now().map_or(0, |s| s.lost()) as f64
    }

    /// Ends the subscription: a pending iteration finishes, queued events can still be read with `tryNext()`.
    #[napi]
    pub fn close(&self) {
        self.sub.close();
    }
}
