//! `Engine`, `Job` and `Subscription`: the front door of core (`syncwright::Engine`) for Node.
//!
//! Nothing here does I/O on the JavaScript thread or holds a libuv pool thread for a run: an engine opens on a
//! thread of its own (`new Engine()` returns at once, `Engine.open()` resolves once it is open), every call runs
//! on the engine's threads (core's `call_json_async`, `spawn_blocking`) and its promise resolves on the
//! JavaScript thread from napi's Tokio runtime, which only waits.
//!
//! Lifetimes, so that `node` exits by itself when the work is done and never earlier:
//! - a running job keeps the process alive (like a child process) until it finishes; it also keeps its engine
//!   alive;
//! - a progress callback is a thread-safe function that core drops, and so releases, when the job finishes;
//! - a pending promise or subscription `next()` keeps the process alive until it settles, like any awaited I/O;
//!   an idle subscription does not;
//! - `await engine.close()` cancels the running jobs, waits for them and ends the subscriptions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::{Map, Value};
use syncwright::engine::calls::CallOutput;
use syncwright::progress::{ProgressCallback, ProgressSnapshot};
use syncwright::{EngineConfig, Error, SyncOptions};

use crate::{JsonText, guarded, invalid, js_error, options_json, options_value, string_arg};

type Opened = std::result::Result<Arc<syncwright::Engine>, Error>;

/// The core engine being opened, open, or failed to open, shared by the `Engine` object, its jobs and the calls
/// under way. When the last reference goes, the engine is dropped on a thread of its own (dropping waits for the
/// event writer and stops the runtime).
struct EngineInner {
    state: tokio::sync::watch::Sender<Option<Opened>>,
    /// Live subscriptions asked for while the engine was opening: made by the opening thread the moment the
    /// engine is open, before any call can start a job, so they miss nothing. Locked around setting `state`.
    waiting: Mutex<Vec<(Arc<Opening>, syncwright::events::EventFilter)>>,
}

impl EngineInner {
    /// Starts opening an engine with `config_json` on a thread of its own.
    fn open(config_json: Option<String>) -> std::result::Result<Arc<EngineInner>, Error> {
        let inner = Arc::new(EngineInner {
            state: tokio::sync::watch::Sender::new(None),
            waiting: Mutex::new(Vec::new()),
        });
        let theirs = inner.clone();
        std::thread::Builder::new()
            .name("syncwright-open".into())
            .spawn(move || {
                let r = guarded(|| {
                    syncwright::Engine::new(EngineConfig::from_json(config_json.as_deref())?)
                })
                .map(Arc::new);
                let mut waiting = theirs.waiting.lock().unwrap_or_else(|p| p.into_inner());
                for (opening, filter) in waiting.drain(..) {
                    opening.set(match &r {
                        Ok(e) => guarded(|| e.subscribe_from(None, filter)),
                        Err(e) => Err(e.clone()),
                    });
                }
                theirs.state.send_replace(Some(r));
            })
            .map_err(|e| Error::internal(format!("cannot start a thread: {e}")))?;
        Ok(inner)
    }

    /// The engine once it is open, or the error that kept it from opening.
    async fn engine(&self) -> Opened {
        let mut rx = self.state.subscribe();
        let got = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Error::internal("the engine's opening was lost"))?;
        got.clone().unwrap_or_else(|| Err(Error::internal("the engine's opening was lost")))
    }
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        if let Some(Ok(engine)) = self.state.send_replace(None) {
            // Dropping shuts core down (joins its threads): never on the JavaScript thread.
            let _ = std::thread::Builder::new()
                .name("syncwright-drop".into())
                .spawn(move || drop(engine));
        }
    }
}

/// The `'error'` listeners of a job (`job.on('error', fn)`), called on the JavaScript thread when its
/// `onProgress` throws.
#[derive(Default)]
struct Listeners(Mutex<Vec<FunctionRef<Unknown<'static>, Unknown<'static>>>>);

impl Listeners {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, Vec<FunctionRef<Unknown<'static>, Unknown<'static>>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An exception `onProgress` threw: a process warning, and an `'error'` event on the job when it has listeners.
/// Never an uncaught exception: the job goes on.
fn report_throw(env: &Env, listeners: &Listeners, e: napi::Error) -> napi::Result<()> {
    let message = format!("syncwright: onProgress threw: {}", e.reason);
    let process: Object = env.get_global()?.get_named_property("process")?;
    let warn: Function<FnArgs<(String, String)>, Unknown> =
        process.get_named_property("emitWarning")?;
    warn.call(FnArgs::from((message, "SyncwrightWarning".to_string())))?;
    let value = JsError::from(e).into_unknown(*env);
    // SAFETY: an Unknown is a handle in the current scope; the lifetime is only a marker, and the listeners are
    // called here, within that scope.
    let value: Unknown<'static> =
        unsafe { std::mem::transmute::<Unknown<'_>, Unknown<'static>>(value) };
    for f in listeners.lock().iter() {
        let f = f.borrow_back(env)?;
        // A listener that throws is reported like any uncaught exception (it is the user's own handler).
        f.call(value)?;
    }
    Ok(())
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
/// when the job has finished. An exception thrown by `onProgress` goes to [`report_throw`].
fn progress_callback(
    env: &Env,
    on_progress: Option<Unknown>,
    listeners: &Arc<Listeners>,
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
    let listeners = listeners.clone();
    let cb: ProgressCallback = Arc::new(move |s: &ProgressSnapshot| {
        let Ok(text) = serde_json::to_string(s) else { return };
        let queued = Queued::new(&d);
        let listeners = listeners.clone();
        // When the call is refused (Node shutting down), the closure and its `queued` are dropped here.
        let _ = tsfn.call_with_return_value(
            JsonText(text),
            ThreadsafeFunctionCallMode::NonBlocking,
            move |returned, env| {
                drop(queued);
                match returned {
                    Ok(_) => Ok(()),
                    Err(e) => report_throw(&env, &listeners, e),
                }
            },
        );
    });
    Ok(Some((cb, delivery)))
}

/// A milliseconds argument: `undefined`, `null`, `Infinity` or a negative number is no limit (as in C and
/// Python), 0 only looks; NaN or a non-number is `invalid_input`.
fn timeout_arg(env: &Env, value: Option<Unknown>) -> napi::Result<Option<Duration>> {
    let Some(value) = value else { return Ok(None) };
    match value.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Number => {
            let ms: f64 = unsafe { value.cast()? };
            if ms.is_nan() {
                return Err(invalid(env, "timeoutMs must be a number"));
            }
            if ms < 0.0 {
                return Ok(None);
            }
            // Infinity, or more than a Duration holds: no limit.
            Ok(Duration::try_from_secs_f64(ms / 1000.0).ok())
        }
        _ => Err(invalid(env, "timeoutMs must be a number")),
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

/// Runs `f` with the engine on the engine's blocking threads, once the engine is open.
async fn on_engine<T: Send + 'static>(
    inner: Arc<EngineInner>,
    f: impl FnOnce(&syncwright::Engine) -> syncwright::Result<T> + Send + 'static,
) -> syncwright::Result<T> {
    let engine = inner.engine().await?;
    let runs = engine.clone();
    runs.spawn_blocking(move || guarded(|| f(&engine)))
        .await
        .unwrap_or_else(|_| Err(Error::internal("the call did not finish")))
}

/// A job handed to JavaScript: it keeps the process and the engine alive until it finishes (the engine is handed
/// back to the JavaScript thread to be let go there).
fn hand_out(
    env: &Env,
    inner: Arc<EngineInner>,
    job: syncwright::Job,
    delivery: Option<Arc<Delivery>>,
    listeners: Arc<Listeners>,
) -> napi::Result<Job> {
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
    Ok(Job { job, delivery, listeners })
}

/// The syncwright engine: owns an async runtime and the embedded state store, and runs syncs and profiles as
/// jobs.
///
/// ```js
/// const { Engine } = require('syncwright')
/// const engine = await Engine.open({ configFile: '/etc/syncwright.toml' })
/// const job = await engine.runProfile('user_data', (p) => console.error(`${p.percent}% ${p.stage}`))
/// const report = await job.wait()
/// await engine.close()
/// ```
///
/// Options may be given in core's snake_case names (`max_delete`) or in camelCase (`maxDelete`), at every
/// depth (field names only: the keys of maps that are data, such as profile names, are kept). Results are
/// core's snake_case documents, as in every language. Core rejects unknown names with `invalid_input`.
#[napi]
pub struct Engine {
    inner: Option<Arc<EngineInner>>,
}

#[napi]
impl Engine {
    /// Creates an engine and starts opening it on a thread of its own: returns at once, without I/O. The first
    /// call waits for the opening; when it failed (a bad config file, a store that cannot be opened), every call
    /// rejects with its error. `Engine.open()` is the same and resolves once the engine is open.
    ///
    /// `config` may set `config_file` (a TOML file of profiles and settings; relative paths resolve from its
    /// folder), `config` (the same document as an object), `state_dir` (default: `$SYNCWRIGHT_STATE_DIR`, else
    /// `$XDG_STATE_HOME/syncwright`, else `~/.local/state/syncwright`), `no_store` (no hash cache, no history),
    /// `worker_threads` (0: one per core), `log_dir` and `log_max_size`; camelCase works too. Throws
    /// `invalid_input` at once when `config` is not an object.
    #[napi(catch_unwind, constructor, ts_args_type = "config?: EngineConfig | null")]
    pub fn new(env: Env, config: Option<Unknown>) -> napi::Result<Self> {
        let json = options_json(&env, config, "config")?;
        // Checked here (no I/O): a bad field throws at once.
        EngineConfig::from_json(json.as_deref()).map_err(|e| js_error(&env, &e))?;
        let inner = EngineInner::open(json).map_err(|e| js_error(&env, &e))?;
        Ok(Engine { inner: Some(inner) })
    }

    /// Opens an engine (see the constructor) and resolves to it once it is open; rejects with the error that
    /// kept it from opening (`invalid_input` for a bad config, `not_found` for a missing config file, ...).
    #[napi(
        catch_unwind,
        ts_args_type = "config?: EngineConfig | null",
        ts_return_type = "Promise<Engine>"
    )]
    pub fn open<'env>(
        env: &'env Env,
        config: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, Engine>> {
        let json = options_json(env, config, "config")?;
        EngineConfig::from_json(json.as_deref()).map_err(|e| js_error(env, &e))?;
        let inner = EngineInner::open(json).map_err(|e| js_error(env, &e))?;
        let waiting = inner.clone();
        env.spawn_future_with_callback(
            async move { Ok(waiting.engine().await.map(|_| ())) },
            move |env, opened| match opened {
                Ok(()) => Ok(Engine { inner: Some(inner) }),
                Err(e) => Err(js_error(env, &e)),
            },
        )
    }

    /// Closes the engine: no job starts any more, the running ones are cancelled and waited for (their
    /// temporaries removed, their reports `cancelled`), and every subscription ends. Resolves when that is done.
    /// Later calls on this object throw `invalid_input`; calling `close()` again resolves at once.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close<'env>(&mut self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.take();
        env.spawn_future(async move {
            if let Some(inner) = inner {
                // An engine that failed to open has nothing to close.
                if let Ok(engine) = inner.engine().await {
                    // On a plain thread: on one of the engine's own, core's close could not wait for the jobs.
                    let (done, closed) = tokio::sync::oneshot::channel();
                    let spawned = std::thread::Builder::new()
                        .name("syncwright-close".into())
                        .spawn(move || {
                            engine.close();
                            let _ = done.send(());
                        });
                    if spawned.is_ok() {
                        let _ = closed.await;
                    }
                }
            }
            Ok(())
        })
    }

    /// True after `close()`.
    #[napi(catch_unwind, getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_none()
    }

    fn inner(&self, env: &Env) -> napi::Result<Arc<EngineInner>> {
        self.inner.clone().ok_or_else(|| invalid(env, "the engine is closed"))
    }

    /// A front-door call that gives a document.
    fn doc<'env>(
        &self,
        env: &'env Env,
        name: &'static str,
        args: Map<String, Value>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let inner = self.inner(env)?;
        let args = (!args.is_empty()).then(|| Value::Object(args).to_string());
        env.spawn_future_with_callback(
            async move {
                let engine = inner.engine().await;
                Ok(match engine {
                    Ok(e) => e.call_json_async(name.to_string(), args, None).await,
                    Err(e) => Err(e),
                })
            },
            |env, r| match r.and_then(CallOutput::into_json) {
                Ok(s) => Ok(JsonText(s)),
                Err(e) => Err(js_error(env, &e)),
            },
        )
    }

    /// A front-door call that gives a job.
    fn job_call<'env>(
        &self,
        env: &'env Env,
        name: &'static str,
        args: Map<String, Value>,
        on_progress: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, Job>> {
        let inner = self.inner(env)?;
        let listeners = Arc::new(Listeners::default());
        let (callback, delivery) = match progress_callback(env, on_progress, &listeners)? {
            Some((c, d)) => (Some(c), Some(d)),
            None => (None, None),
        };
        let args = (!args.is_empty()).then(|| Value::Object(args).to_string());
        let keep = inner.clone();
        env.spawn_future_with_callback(
            async move {
                let engine = inner.engine().await;
                Ok(match engine {
                    Ok(e) => e.call_json_async(name.to_string(), args, callback).await,
                    Err(e) => Err(e),
                })
            },
            move |env, r| match r.and_then(CallOutput::into_job) {
                Ok(job) => hand_out(env, keep, job, delivery, listeners),
                Err(e) => Err(js_error(env, &e)),
            },
        )
    }

    /// Computes what a sync from `source` to `destination` would do, writing nothing: resolves to the plan
    /// (`{ schema_version, compare, actions: [{ op, path, reason, size, ... }], errors, totals }`). Runs on the
    /// engine's threads. Rejects with the error's kind as `code` (`invalid_input` for a bad option, the source's
    /// error when it cannot be read).
    #[napi(
        catch_unwind,
        ts_args_type = "source: string, destination: string, options?: SyncOptions | null",
        ts_return_type = "Promise<Plan>"
    )]
    pub fn plan<'env>(
        &self,
        env: &'env Env,
        source: Unknown,
        destination: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let source = string_arg(env, source, "source")?;
        let destination = string_arg(env, destination, "destination")?;
        let opts = sync_options(env, options)?;
        let inner = self.inner(env)?;
        env.spawn_future_with_callback(
            async move {
                Ok(on_engine(inner, move |e| {
                    let plan = e.plan(&source, &destination, opts)?;
                    Ok(serde_json::to_string(&plan)?)
                })
                .await)
            },
            |env, r| r.map(JsonText).map_err(|e| js_error(env, &e)),
        )
    }

    /// Starts a sync from `source` to `destination` (paths or URLs) in the background and resolves to its `Job`
    /// once it is started (starting records it in the store, on the engine's threads). `onProgress`, when given,
    /// receives a progress snapshot on the JavaScript thread at most once per `progress_interval_ms` (default
    /// 200) while the job moves, and a last one with stage `"done"` and percent 100 before `job.wait()`
    /// resolves. An exception it throws is a process warning (`process.emitWarning`) and an `'error'` event on
    /// the job when it has listeners (`job.on('error', fn)`); the job goes on. The running job keeps the process
    /// alive until it finishes. Rejects with `invalid_input` for bad options or an unsupported location; a run
    /// that fails as a whole still finishes, with status `"failed"` and `fatal` set in its report.
    #[napi(
        catch_unwind,
        ts_args_type = "source: string, destination: string, options?: SyncOptions | null, onProgress?: ((progress: ProgressSnapshot) => void) | null",
        ts_return_type = "Promise<Job>"
    )]
    pub fn start<'env>(
        &self,
        env: &'env Env,
        source: Unknown,
        destination: Unknown,
        options: Option<Unknown>,
        on_progress: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, Job>> {
        let source = string_arg(env, source, "source")?;
        let destination = string_arg(env, destination, "destination")?;
        let opts = sync_options(env, options)?;
        let inner = self.inner(env)?;
        let listeners = Arc::new(Listeners::default());
        let (callback, delivery) = match progress_callback(env, on_progress, &listeners)? {
            Some((c, d)) => (Some(c), Some(d)),
            None => (None, None),
        };
        let keep = inner.clone();
        env.spawn_future_with_callback(
            async move {
                Ok(on_engine(inner, move |e| e.start_sync(&source, &destination, opts, callback))
                    .await)
            },
            move |env, r| match r {
                Ok(job) => hand_out(env, keep, job, delivery, listeners),
                Err(e) => Err(js_error(env, &e)),
            },
        )
    }

    /// Runs a sync to the end: `start()` then `wait()`. Resolves to the report (`status` is `"completed"`,
    /// `"partial"`, `"failed"` or `"cancelled"`; a failed run resolves too, with `fatal` set). Rejects with code
    /// `invalid_input` for bad options; throws it at once when an argument has the wrong type.
    #[napi(
        catch_unwind,
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
        let source = string_arg(env, source, "source")?;
        let destination = string_arg(env, destination, "destination")?;
        let opts = sync_options(env, options)?;
        let inner = self.inner(env)?;
        let listeners = Arc::new(Listeners::default());
        let (callback, delivery) = match progress_callback(env, on_progress, &listeners)? {
            Some((c, d)) => (Some(c), Some(d)),
            None => (None, None),
        };
        env.spawn_future_with_callback(
            async move {
                let started =
                    on_engine(inner, move |e| e.start_sync(&source, &destination, opts, callback))
                        .await;
                Ok(match started {
                    Ok(job) => wait_report(job, delivery, None)
                        .await
                        .ok_or_else(|| Error::internal("job ended without a report")),
                    Err(e) => Err(e),
                })
            },
            move |env, r: syncwright::Result<syncwright::SyncReport>| {
                // Kept until the report is out, so a throwing onProgress can still reach them.
                drop(listeners);
                r.map(|r| JsonText(r.to_json())).map_err(|e| js_error(env, &e))
            },
        )
    }

    /// The profiles and settings the engine owns (the config file's schema; secrets come out as `null`).
    #[napi(catch_unwind, ts_return_type = "Promise<Config>")]
    pub fn config<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "config", Map::new())
    }

    /// The profiles, in name order: `{ name, kind, source, destination, command, interval_secs, delete }`.
    #[napi(catch_unwind, ts_return_type = "Promise<ProfileInfo[]>")]
    pub fn profiles<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "profiles", Map::new())
    }

    /// Profile `name` now: whether it runs (from its lock, so a run of another process or host too), its
    /// `state` (`'running'`, `'success'`, `'error'`, `'idle'`), its locks, its last run and a one-line
    /// `summary`. Rejects with `not_found` for a profile the engine does not have.
    #[napi(catch_unwind, ts_args_type = "name: string", ts_return_type = "Promise<ProfileStatus>")]
    pub fn profile_status<'env>(
        &self,
        env: &'env Env,
        name: Unknown,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("name", name)], None)?;
        self.doc(env, "profile_status", args)
    }

    /// `profileStatus()` of every profile, in name order.
    #[napi(catch_unwind, ts_return_type = "Promise<ProfileStatus[]>")]
    pub fn profiles_status<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "profiles_status", Map::new())
    }

    /// Every profile's locks: `{ profile, lock, destination_lock, destination_lock_error }`.
    #[napi(catch_unwind, ts_return_type = "Promise<ProfileLocks[]>")]
    pub fn profile_locks<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "profile_locks", Map::new())
    }

    /// Starts profile `name` (a sync, or its command) and resolves to its `Job`. Rejects with `conflict` when it
    /// is already running (`details`: `job_id`, `started_at`), `not_found` for an unknown profile.
    /// `onProgress` as in `start()`.
    #[napi(
        catch_unwind,
        ts_args_type = "name: string, onProgress?: ((progress: ProgressSnapshot) => void) | null",
        ts_return_type = "Promise<Job>"
    )]
    pub fn run_profile<'env>(
        &self,
        env: &'env Env,
        name: Unknown,
        on_progress: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, Job>> {
        let args = named(env, &[("name", name)], None)?;
        self.job_call(env, "run_profile", args, on_progress)
    }

    /// Runs every profile in turn as one job, whose report has `type: 'run_all'` and one result per profile.
    /// Cancelling it cancels the running profile and skips the rest.
    #[napi(
        catch_unwind,
        ts_args_type = "onProgress?: ((progress: ProgressSnapshot) => void) | null",
        ts_return_type = "Promise<Job>"
    )]
    pub fn run_all<'env>(
        &self,
        env: &'env Env,
        on_progress: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, Job>> {
        self.job_call(env, "run_all", Map::new(), on_progress)
    }

    /// Removes profile `name`'s locks without ever letting two runs write one destination: a stale lock goes at
    /// once; one a job of this engine holds goes with the job (cancelled and waited for); one held elsewhere with
    /// a fresh lease rejects with `conflict` (`details.holders`) unless `force`. Resolves to `{ removed,
    /// cancelled_jobs, errors }`.
    #[napi(
        catch_unwind,
        ts_args_type = "name: string, options?: { force?: boolean } | null",
        ts_return_type = "Promise<UnlockReport>"
    )]
    pub fn unlock_profile<'env>(
        &self,
        env: &'env Env,
        name: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("name", name)], options)?;
        self.doc(env, "unlock_profile", args)
    }

    /// `unlockProfile()` for every lock the engine can see.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { force?: boolean } | null",
        ts_return_type = "Promise<UnlockReport>"
    )]
    pub fn unlock_all<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "unlock_all", args)
    }

    /// Checks that locking works in the coordination folder with a test lock `name` (default `'test_sync'`):
    /// take, a second take refused, renew, release. Resolves to `{ name, location, steps }`.
    #[napi(
        catch_unwind,
        ts_args_type = "name?: string | null",
        ts_return_type = "Promise<LockSelfTest>"
    )]
    pub fn lock_self_test<'env>(
        &self,
        env: &'env Env,
        name: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = optional_named(env, "name", name)?;
        self.doc(env, "lock_self_test", args)
    }

    /// A handle on job `id` of this engine (running, or ended within the last hour). Rejects with `not_found`
    /// otherwise (see `runHistory()`).
    #[napi(catch_unwind, ts_args_type = "id: string", ts_return_type = "Promise<Job>")]
    pub fn job<'env>(&self, env: &'env Env, id: Unknown) -> napi::Result<PromiseRaw<'env, Job>> {
        let args = named(env, &[("id", id)], None)?;
        self.job_call(env, "job", args, None)
    }

    /// Every job this engine knows (running, or ended within the last hour), oldest first.
    #[napi(catch_unwind, ts_return_type = "Promise<JobSnapshot[]>")]
    pub fn jobs<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "jobs", Map::new())
    }

    /// The jobs still running, oldest first.
    #[napi(catch_unwind, ts_return_type = "Promise<JobSnapshot[]>")]
    pub fn active_jobs<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "active_jobs", Map::new())
    }

    /// The `limit` (default 50) most recent jobs, newest first.
    #[napi(
        catch_unwind,
        ts_args_type = "limit?: number | null",
        ts_return_type = "Promise<JobSnapshot[]>"
    )]
    pub fn recent_jobs<'env>(
        &self,
        env: &'env Env,
        limit: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = optional_named(env, "limit", limit)?;
        self.doc(env, "recent_jobs", args)
    }

    /// A page of `profile`'s runs from the store, newest first: `{ profile, runs, pagination }` (`page` from 1,
    /// `perPage` 1 to 1000, default 50). Rejects with `feature_disabled` without a store.
    #[napi(
        catch_unwind,
        ts_args_type = "profile: string, options?: { page?: number, perPage?: number, per_page?: number } | null",
        ts_return_type = "Promise<RunPage>"
    )]
    pub fn run_history<'env>(
        &self,
        env: &'env Env,
        profile: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("profile", profile)], options)?;
        self.doc(env, "run_history", args)
    }

    /// The last `lines` (default 20) entries of `profile`'s log (of `level` only, when given), oldest first.
    #[napi(
        catch_unwind,
        ts_args_type = "profile: string, options?: { lines?: number, level?: LogLevel } | null",
        ts_return_type = "Promise<LogEntry[]>"
    )]
    pub fn profile_log_tail<'env>(
        &self,
        env: &'env Env,
        profile: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("profile", profile)], options)?;
        self.doc(env, "profile_log_tail", args)
    }

    /// A page of `profile`'s log, oldest first: `{ logs, pagination }`.
    #[napi(
        catch_unwind,
        ts_args_type = "profile: string, options?: { page?: number, perPage?: number, per_page?: number, level?: LogLevel } | null",
        ts_return_type = "Promise<LogPage>"
    )]
    pub fn profile_log_page<'env>(
        &self,
        env: &'env Env,
        profile: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("profile", profile)], options)?;
        self.doc(env, "profile_log_page", args)
    }

    /// What folders hold: `total_size`, `by_type` (the subfolders of `modelsRoot`), `by_project` (the profiles'
    /// destinations), `by_folder` (the top-level folders of `root`) and `disk`.
    #[napi(
        catch_unwind,
        ts_args_type = "query?: UsageQuery | null",
        ts_return_type = "Promise<StorageUsage>"
    )]
    pub fn storage_usage<'env>(
        &self,
        env: &'env Env,
        query: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], query)?;
        self.doc(env, "storage_usage", args)
    }

    /// The stored operations (one per job), newest first.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { activeOnly?: boolean, active_only?: boolean, limit?: number } | null",
        ts_return_type = "Promise<Operation[]>"
    )]
    pub fn operations<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "operations", args)
    }

    /// Operation `id` (the id of the job that runs or ran it).
    #[napi(catch_unwind, ts_args_type = "id: string", ts_return_type = "Promise<Operation>")]
    pub fn operation<'env>(
        &self,
        env: &'env Env,
        id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("id", id)], None)?;
        self.doc(env, "operation", args)
    }

    /// The operations a restart interrupted (a crash or a kill while they ran).
    #[napi(catch_unwind, ts_return_type = "Promise<Operation[]>")]
    pub fn interrupted_operations<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "interrupted_operations", Map::new())
    }

    /// Cancels operation `id` (its job here is cancelled and waited for). Rejects with `conflict` when it has
    /// already ended.
    #[napi(catch_unwind, ts_args_type = "id: string", ts_return_type = "Promise<Operation>")]
    pub fn cancel_operation<'env>(
        &self,
        env: &'env Env,
        id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("id", id)], None)?;
        self.doc(env, "cancel_operation", args)
    }

    /// Runs operation `id` again as a new job with the same id (any ended one with `force`).
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, options?: { force?: boolean, maxAttempts?: number, max_attempts?: number } | null",
        ts_return_type = "Promise<Job>"
    )]
    pub fn retry_operation<'env>(
        &self,
        env: &'env Env,
        id: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, Job>> {
        let args = named(env, &[("id", id)], options)?;
        self.job_call(env, "retry_operation", args, None)
    }

    /// Recovery figures over the stored operations, breaker trips and the settings in effect.
    #[napi(catch_unwind, ts_return_type = "Promise<RecoveryMetrics>")]
    pub fn recovery_metrics<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "recovery_metrics", Map::new())
    }

    /// The scenarios of the recovery self-test.
    #[napi(catch_unwind, ts_return_type = "Promise<ScenarioInfo[]>")]
    pub fn recovery_scenarios<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "recovery_scenarios", Map::new())
    }

    /// Runs the recovery self-test (the named scenarios, all by default, `runs` times each) for real, in a
    /// scratch folder; about a second per scenario and run, on the engine's threads.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { scenarios?: string[], runs?: number } | null",
        ts_return_type = "Promise<SelfTestReport>"
    )]
    pub fn recovery_self_test<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "recovery_self_test", args)
    }

    /// The circuit breakers of the remote targets this engine's jobs used so far.
    #[napi(catch_unwind, ts_return_type = "Promise<BreakerStatus[]>")]
    pub fn breakers<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "breakers", Map::new())
    }

    /// The circuit breakers' settings (the config's `[settings.breaker]`).
    #[napi(catch_unwind, ts_return_type = "Promise<BreakerSettings>")]
    pub fn breaker_settings<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "breaker_settings", Map::new())
    }

    /// Makes a zip of the config's `[backup]` paths named `<UTC time>[-label].zip` with its manifest inside,
    /// then keeps the `maxBackups` newest archives (a user's own zips are never removed); on the engine's
    /// threads.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { label?: string, maxBackups?: number, max_backups?: number, dir?: string } | null",
        ts_return_type = "Promise<BackupCreated>"
    )]
    pub fn backup_create<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "backup_create", args)
    }

    /// The archives of the backups folder, newest first (only syncwright's).
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { dir?: string } | null",
        ts_return_type = "Promise<BackupInfo[]>"
    )]
    pub fn backup_list<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "backup_list", args)
    }

    /// Verifies an archive (a name in the backups folder, or a path) without restoring it; rejects with
    /// `corrupt` for one refused as a whole.
    #[napi(
        catch_unwind,
        ts_args_type = "name: string, options?: { dir?: string } | null",
        ts_return_type = "Promise<BackupVerify>"
    )]
    pub fn backup_verify<'env>(
        &self,
        env: &'env Env,
        name: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("name", name)], options)?;
        self.doc(env, "backup_verify", args)
    }

    /// Restores an archive into `options.target` (default the `[backup]` root): every entry name is checked
    /// before anything is written, every file against the manifest; existing files are kept unless
    /// `replaceExisting`. `status` is `'partial'` when a file failed (the old one is kept).
    #[napi(
        catch_unwind,
        ts_args_type = "name: string, options?: { target?: string, replaceExisting?: boolean, replace_existing?: boolean, dir?: string } | null",
        ts_return_type = "Promise<BackupRestoreReport>"
    )]
    pub fn backup_restore<'env>(
        &self,
        env: &'env Env,
        name: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("name", name)], options)?;
        self.doc(env, "backup_restore", args)
    }

    /// The format, size and generation metadata (A1111 parameters, ComfyUI prompt and workflow, parsed fields) of
    /// each image, in order, read without decoding pixels on the engine's threads; a file that cannot be read
    /// carries its `error`.
    #[napi(catch_unwind, ts_args_type = "paths: string[]", ts_return_type = "Promise<MediaInfo[]>")]
    pub fn media_info<'env>(
        &self,
        env: &'env Env,
        paths: Unknown,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        if !paths.is_array()? {
            return Err(invalid(env, "paths must be an array of strings"));
        }
        let mut args = Map::new();
        args.insert("paths".into(), crate::json_of(env, paths, "paths")?);
        self.doc(env, "media_info", args)
    }

    /// Where the engine's vault is, whether it exists and whether this engine holds it unlocked (reads no secret).
    #[napi(catch_unwind, ts_return_type = "Promise<VaultStatus>")]
    pub fn vault_status<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "vault_status", Map::new())
    }

    /// Creates an empty vault under `options.passphrase` (else `SYNCWRIGHT_SECRETS_KEY`) and keeps it unlocked; rejects with `conflict` when one exists.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { passphrase?: string } | null",
        ts_return_type = "Promise<VaultStatus>"
    )]
    pub fn vault_init<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "vault_init", args)
    }

    /// Unlocks the vault (`options.passphrase`, else `SYNCWRIGHT_SECRETS_KEY`) and keeps it so: later calls, and runs whose remote options name a `credentialsKey`, need no passphrase. Rejects with `auth` for a wrong one, `corrupt` for a damaged file.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { passphrase?: string } | null",
        ts_return_type = "Promise<VaultStatus>"
    )]
    pub fn vault_unlock<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "vault_unlock", args)
    }

    /// Forgets the unlocked vault; the next call that needs it unlocks it again.
    #[napi(catch_unwind, ts_return_type = "Promise<VaultStatus>")]
    pub fn vault_lock<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, JsonText>> {
        self.doc(env, "vault_lock", Map::new())
    }

    /// The vault's keys, in order (never their values).
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { passphrase?: string } | null",
        ts_return_type = "Promise<string[]>"
    )]
    pub fn vault_keys<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "vault_keys", args)
    }

    /// The value of `key` (dotted keys reach into objects: `cloud_sync.gdrive.credentials`): `{ key, value }`; rejects with `not_found` when there is none.
    #[napi(
        catch_unwind,
        ts_args_type = "key: string, options?: { passphrase?: string } | null",
        ts_return_type = "Promise<VaultValue>"
    )]
    pub fn vault_get<'env>(
        &self,
        env: &'env Env,
        key: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("key", key)], options)?;
        self.doc(env, "vault_get", args)
    }

    /// Sets `key` to `value` (a string, or an object kept as given: its keys are data) and writes the vault;
    /// resolves to the keys after it.
    #[napi(
        catch_unwind,
        ts_args_type = "key: string, value: string | Record<string, unknown>, options?: { passphrase?: string } | null",
        ts_return_type = "Promise<string[]>"
    )]
    pub fn vault_set<'env>(
        &self,
        env: &'env Env,
        key: Unknown,
        value: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let mut args = named(env, &[("key", key)], options)?;
        let value = match value.get_type()? {
            ValueType::String => Value::String(unsafe { value.cast::<String>()? }),
            ValueType::Object if !value.is_array()? => crate::json_of(env, value, "value")?,
            _ => return Err(invalid(env, "value must be a string or an object")),
        };
        args.insert("value".into(), value);
        self.doc(env, "vault_set", args)
    }

    /// Removes `key` (rejects with `not_found` when there is none); resolves to the keys after it.
    #[napi(
        catch_unwind,
        ts_args_type = "key: string, options?: { passphrase?: string } | null",
        ts_return_type = "Promise<string[]>"
    )]
    pub fn vault_delete<'env>(
        &self,
        env: &'env Env,
        key: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("key", key)], options)?;
        self.doc(env, "vault_delete", args)
    }

    /// Re-encrypts the vault under `options.newPassphrase` (else `SYNCWRIGHT_SECRETS_KEY_NEW`); earlier envelopes stay as backups.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { newPassphrase?: string, new_passphrase?: string, passphrase?: string } | null",
        ts_return_type = "Promise<VaultStatus>"
    )]
    pub fn vault_change_passphrase<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "vault_change_passphrase", args)
    }

    /// When the vault's current envelope is damaged, writes back the newest inline backup that opens: `{ restored, backup }`.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { passphrase?: string } | null",
        ts_return_type = "Promise<VaultRestore>"
    )]
    pub fn vault_restore_backup<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "vault_restore_backup", args)
    }

    /// Imports the S3, Drive (service account) and SFTP (key) sections of an unencrypted rclone.conf as vault entries `<prefix>.<section>` (default prefix `rclone`), with a profile stub each; says why other sections were left.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, options?: { prefix?: string, passphrase?: string } | null",
        ts_return_type = "Promise<RcloneImport>"
    )]
    pub fn vault_import_rclone<'env>(
        &self,
        env: &'env Env,
        path: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[("path", path)], options)?;
        self.doc(env, "vault_import_rclone", args)
    }

    /// The manifest of the config's `[cloud_sync]` tree (document 3's `GET /api/sync/manifest`), touching no remote; rejects with `feature_disabled` unless `[features] enable_cloud_sync`.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { snapshot?: string, include?: string[] } | null",
        ts_return_type = "Promise<CloudManifest>"
    )]
    pub fn cloud_manifest<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], options)?;
        self.doc(env, "cloud_manifest", args)
    }

    /// The plan of mirroring the tree to `request.service` (`'s3'` or `'gdrive'`) without writing (document 3's dry run); rejects with `feature_disabled` unless `[features]` turns the service on. Endpoints come only from the config.
    #[napi(
        catch_unwind,
        ts_args_type = "request: CloudRequest",
        ts_return_type = "Promise<CloudSyncResult>"
    )]
    pub fn cloud_dry_run<'env>(
        &self,
        env: &'env Env,
        request: Unknown,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], Some(request))?;
        self.doc(env, "cloud_dry_run", args)
    }

    /// Mirrors the tree to `request.service` (document 3's run), on the engine's threads: goes on past files that fail (`summary.status` `'partial'` with `errors`); the remote manifest is replaced only after a clean run (and `commitManifest` not false).
    #[napi(
        catch_unwind,
        ts_args_type = "request: CloudRequest",
        ts_return_type = "Promise<CloudSyncResult>"
    )]
    pub fn cloud_run<'env>(
        &self,
        env: &'env Env,
        request: Unknown,
    ) -> napi::Result<PromiseRaw<'env, JsonText>> {
        let args = named(env, &[], Some(request))?;
        self.doc(env, "cloud_run", args)
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
    #[napi(catch_unwind, ts_args_type = "options?: SubscribeOptions | null")]
    pub fn subscribe(&self, env: Env, options: Option<Unknown>) -> napi::Result<Subscription> {
        let inner = self.inner(&env)?;
        let json = options_json(&env, options, "options")?;
        let (since, filter) = subscribe_options(json.as_deref()).map_err(|e| js_error(&env, &e))?;
        let Some(since) = since else {
            let mut waiting = inner.waiting.lock().unwrap_or_else(|p| p.into_inner());
            let opened = inner.state.borrow().clone();
            return match opened {
                Some(Ok(engine)) => {
                    drop(waiting);
                    let sub = guarded(|| engine.subscribe_from(None, filter))
                        .map_err(|e| js_error(&env, &e))?;
                    Ok(Subscription { sub: Opening::open(sub) })
                }
                Some(Err(e)) => {
                    let opening = Opening::pending();
                    opening.set(Err(e));
                    Ok(Subscription { sub: opening })
                }
                None => {
                    // Made by the opening thread the moment the engine is open.
                    let opening = Opening::pending();
                    waiting.push((opening.clone(), filter));
                    Ok(Subscription { sub: opening })
                }
            };
        };
        let since = Some(since);
        // The replay reads the store: on a thread of its own, never the JavaScript thread.
        let opening = Opening::pending();
        let theirs = opening.clone();
        let spawned =
            std::thread::Builder::new().name("syncwright-subscribe".into()).spawn(move || {
                let engine = futures_block_on(inner.engine());
                theirs.set(engine.and_then(|e| guarded(|| e.subscribe_from(since, filter))));
            });
        if let Err(e) = spawned {
            return Err(js_error(&env, &Error::internal(format!("cannot start a thread: {e}"))));
        }
        Ok(Subscription { sub: opening })
    }
}

/// Sync options, checked here (parsing is no I/O): a bad option throws `invalid_input` at once.
fn sync_options(env: &Env, options: Option<Unknown>) -> napi::Result<SyncOptions> {
    let json = options_json(env, options, "options")?;
    SyncOptions::from_json(json.as_deref()).map_err(|e| js_error(env, &e))
}

/// Waits for `f` on this (plain) thread.
fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map(|rt| rt.block_on(f))
        .unwrap_or_else(|e| panic!("cannot make a runtime to wait on: {e}"))
}

/// The arguments of a call: the required string arguments `required` (checked: `invalid_input` when not a
/// string) and the members of the options object `options` (camelCase or snake_case; core checks the names).
fn named(
    env: &Env,
    required: &[(&str, Unknown)],
    options: Option<Unknown>,
) -> napi::Result<Map<String, Value>> {
    let mut args = options_value(env, options, "options")?.unwrap_or_default();
    for (name, value) in required {
        let v = string_arg(env, *value, name)?;
        if args.insert((*name).to_string(), Value::String(v)).is_some() {
            return Err(invalid(env, format!("{name} is given twice")));
        }
    }
    Ok(args)
}

/// One optional argument (`undefined` and `null`: left out); its type is checked by core.
fn optional_named(
    env: &Env,
    name: &str,
    value: Option<Unknown>,
) -> napi::Result<Map<String, Value>> {
    let mut args = Map::new();
    let Some(value) = value else { return Ok(args) };
    match value.get_type()? {
        ValueType::Undefined | ValueType::Null => {}
        ValueType::String => {
            args.insert(name.to_string(), Value::String(unsafe { value.cast::<String>()? }));
        }
        ValueType::Number => {
            let n: f64 = unsafe { value.cast()? };
            let v = serde_json::Number::from_f64(n)
                .ok_or_else(|| invalid(env, format!("{name} must be a finite number")))?;
            // Integers as integers, so core's integer arguments take them.
            let v = if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Value::from(n as i64)
            } else {
                Value::Number(v)
            };
            args.insert(name.to_string(), v);
        }
        _ => return Err(invalid(env, format!("{name} must be a string or a number"))),
    }
    Ok(args)
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

/// A sync running in the background (from `engine.start()`, `engine.runProfile()`, ...).
#[napi]
pub struct Job {
    job: syncwright::Job,
    delivery: Option<Arc<Delivery>>,
    listeners: Arc<Listeners>,
}

#[napi]
impl Job {
    /// The job's id (a UUID), as in its events' `job_id`.
    #[napi(catch_unwind, getter)]
    pub fn id(&self) -> String {
        self.job.id().to_string()
    }

    /// `"running"` until the job finishes, then its report's status: `"completed"`, `"partial"`, `"failed"` or
    /// `"cancelled"`.
    #[napi(catch_unwind, getter, ts_return_type = "JobStatus")]
    pub fn status(&self) -> &'static str {
        self.job.status().as_str()
    }

    /// Progress now: `{ stage, current_file, files_done, files_total, bytes_done, bytes_total, scanned, rate_bps,
    /// eta_secs, percent, elapsed_ms }`.
    #[napi(catch_unwind, ts_return_type = "ProgressSnapshot")]
    pub fn progress(&self) -> napi::Result<JsonText> {
        serde_json::to_string(&self.job.progress())
            .map(JsonText)
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// The job as it is now: `{ job_id, sync_id, profile, source, destination, started_at, status, progress,
    /// finished_at }`, and `report` once it ended when `withReport` is true.
    #[napi(
        catch_unwind,
        ts_args_type = "withReport?: boolean | null",
        ts_return_type = "JobSnapshot"
    )]
    pub fn snapshot(&self, with_report: Option<bool>) -> napi::Result<JsonText> {
        serde_json::to_string(&self.job.snapshot(with_report.unwrap_or(false)))
            .map(JsonText)
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// Asks the job to stop. Transfers stop within one chunk and remove their temporary files; the job then
    /// finishes with status `"cancelled"`. Does nothing once the job has finished.
    #[napi(catch_unwind)]
    pub fn cancel(&self) {
        self.job.cancel();
    }

    /// Adds a listener for `'error'`: called with the exception when the job's `onProgress` throws (the job goes
    /// on; a process warning is emitted either way). Other event names are `invalid_input`.
    #[napi(catch_unwind, ts_args_type = "event: 'error', listener: (error: Error) => void")]
    pub fn on(
        &self,
        env: Env,
        event: String,
        listener: Function<'_, Unknown<'static>, Unknown<'static>>,
    ) -> napi::Result<()> {
        if event != "error" {
            return Err(invalid(&env, format!("a job has no {event:?} event (events: error)")));
        }
        self.listeners.lock().push(listener.create_ref()?);
        Ok(())
    }

    /// Resolves to the report when the job has finished, or to `null` when `timeoutMs` passes first (no
    /// `timeoutMs`, `null`, `Infinity` or negative: no limit; `0`: only look). Never blocks the event loop. With
    /// an `onProgress` callback, the last snapshot has been delivered when this resolves. Throws `invalid_input`
    /// for a `timeoutMs` that is not a number (or NaN).
    #[napi(
        catch_unwind,
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
    #[napi(catch_unwind, ts_return_type = "SyncReport | null")]
    pub fn report(&self) -> Option<JsonText> {
        self.job.report().map(|r| JsonText(r.to_json()))
    }

    /// The report exactly as core wrote it (canonical JSON text, one line) once the job has finished, else
    /// `null`. Unlike `JSON.stringify(job.report())`, it keeps integers above 2^53 (such as `mtime_ns` in a dry
    /// run's plan) exact.
    #[napi(catch_unwind)]
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
    #[napi(catch_unwind, ts_return_type = "SyncEvent | null")]
    pub fn try_next(&self) -> Option<JsonText> {
        self.sub.now()?.try_next().map(|e| JsonText(e.to_json()))
    }

    /// How many live events were dropped because this subscription fell more than 4096 events behind.
    #[napi(catch_unwind, getter)]
    pub fn lost(&self) -> f64 {
        self.sub.now().map_or(0, |s| s.lost()) as f64
    }

    /// Ends the subscription: a pending iteration finishes, queued events can still be read with `tryNext()`.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.sub.close();
    }
}
