//! The native module `syncwright._native`, wrapped by the Python package `syncwright` (python/syncwright).
//!
//! Values cross as canonical JSON strings made by core (`SyncReport::to_json`, `Event::to_json`, serde of `Plan`
//! and `ProgressSnapshot`); the Python layer turns them into dicts. The one exception is the progress callback,
//! which is the user's own callable and receives the dict directly (parsed by Python's `json.loads`). Errors
//! become instances of the classes in `syncwright.errors`, chosen by `ErrorKind`, with the error's `details`.
//!
//! Threads and the GIL:
//! - every call that can block (engine creation and shutdown, plan, waits, scans) runs without the GIL
//!   (`Python::detach`); blocking waits wake every 200 ms to let Python handle signals (Ctrl-C), and return the
//!   moment their event arrives;
//! - the progress callback runs on a library thread, which attaches to the interpreter for the call; an exception
//!   it raises goes to `sys.unraisablehook` and the job goes on;
//! - asyncio support is callback-based: `on_done` / `on_next` run the runtime-agnostic futures of core
//!   (`Job::wait_async`, `Subscription::next`) on a small one-thread runtime of this module and hand the result
//!   to a Python callable, which completes an asyncio future with `loop.call_soon_threadsafe`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use syncwright::engine::calls::{CallOutput, report_text, status_outcome};
use syncwright::events::{EventFilter, Subscription};
use syncwright::progress::{ProgressCallback, ProgressSnapshot};
use syncwright::{EngineConfig, Error, ErrorKind, Job, SyncOptions};

/// Turns a syncwright error into the matching `syncwright.errors` exception, with its kind, path and structured
/// details (the canonical JSON of `Error::details`, parsed by the package into a dict).
fn to_py_err(py: Python<'_>, e: &Error) -> PyErr {
    let details = e.details().map(|d| d.to_string());
    let made = py
        .import("syncwright.errors")
        .and_then(|m| m.getattr("_from_native"))
        .and_then(|f| f.call1((e.kind().as_str(), e.message(), e.path(), details)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        // Only when the native module is used without its package.
        Err(_) => PyRuntimeError::new_err(format!("{}: {}", e.kind(), e.message())),
    }
}

/// Runs `f` without the GIL; a panic becomes an `internal` error instead of pyo3's PanicException.
fn call<T: Send>(py: Python<'_>, f: impl FnOnce() -> syncwright::Result<T> + Send) -> PyResult<T> {
    py.detach(|| syncwright::error::catch_panic(f)).map_err(|e| to_py_err(py, &e))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Python's `json.loads(s)`.
fn loads<'py>(py: Python<'py>, s: &str) -> PyResult<Bound<'py, PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LOADS.import(py, "json", "loads")?.call1((s,))
}

/// A Python timeout in seconds: None, infinity or a negative number for no limit (as in C and Node, and as
/// `threading.Lock.acquire`), 0 only looks; NaN is invalid.
fn timeout(py: Python<'_>, seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_nan() => Err(to_py_err(py, &Error::invalid("timeout must be a number"))),
        Some(s) if s < 0.0 => Ok(None),
        Some(s) => Ok(Duration::try_from_secs_f64(s).ok()),
    }
}

/// How often a blocking wait without a deadline wakes to let Python run its signal handlers (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(200);

/// Calls `wait(slice)` without the GIL until it returns a value or `limit` passes (None: no limit), checking for
/// signals between slices. `wait` must return as soon as its value is there.
fn wait_interruptible<T: Send>(
    py: Python<'_>,
    limit: Option<Duration>,
    wait: impl Fn(Duration) -> Option<T> + Sync,
) -> PyResult<Option<T>> {
    let deadline = limit.and_then(|l| Instant::now().checked_add(l));
    loop {
        // (A limit too large for Instant counts as none.)
        let slice = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(SIGNAL_CHECK),
            None => SIGNAL_CHECK,
        };
        if let Some(v) = py.detach(|| wait(slice)) {
            return Ok(Some(v));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        py.check_signals()?;
    }
}

fn ensure_callable(py: Python<'_>, f: &Py<PyAny>, what: &str) -> PyResult<()> {
    if f.bind(py).is_callable() {
        Ok(())
    } else {
        Err(PyTypeError::new_err(format!("{what} must be callable")))
    }
}

/// Calls `callback(value)` from a library thread; an exception goes to `sys.unraisablehook`. Nothing happens
/// while the interpreter shuts down.
fn deliver(callback: Py<PyAny>, value: Option<String>) {
    Python::try_attach(move |py| {
        let f = callback.bind(py);
        if let Err(e) = f.call1((value,)) {
            e.write_unraisable(py, Some(f));
        }
    });
}

/// The progress callback of core that calls a Python callable with the snapshot as a dict.
fn progress_callback(f: Py<PyAny>) -> ProgressCallback {
    Arc::new(move |s: &ProgressSnapshot| {
        let Ok(json) = serde_json::to_string(s) else { return };
        Python::try_attach(|py| {
            let f = f.bind(py);
            if let Err(e) = loads(py, &json).and_then(|d| f.call1((d,))) {
                e.write_unraisable(py, Some(f));
            }
        });
    })
}

/// The runtime that drives core's async waits for asyncio (one thread, made on first use).
fn bridge(py: Python<'_>) -> PyResult<&'static tokio::runtime::Runtime> {
    static BRIDGE: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = BRIDGE.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("syncwright-asyncio")
        .build()
        .map_err(|e| to_py_err(py, &Error::internal(format!("cannot start a runtime: {e}"))))?;
    Ok(BRIDGE.get_or_init(|| rt))
}

fn closed_error() -> Error {
    Error::invalid("the engine is closed")
}

// ---------------------------------------------------------------------------------------------------------------
// Engine

/// What the Python objects of one engine share: the core engine, taken out by `close()`. Jobs keep this alive, so
/// a job whose engine object was dropped still finishes.
///
/// The slot's lock is only held to clone or take the `Arc` (never across work, never while holding the GIL:
/// every caller is inside `Python::detach`); the work runs on the clone.
struct Inner {
    engine: Mutex<Option<Arc<syncwright::Engine>>>,
}

impl Inner {
    /// The engine, or `invalid_input` once closed. Call without the GIL.
    fn get(&self) -> syncwright::Result<Arc<syncwright::Engine>> {
        lock(&self.engine).clone().ok_or_else(closed_error)
    }

    /// Closes the engine (core's `Engine::close`: no new job, running jobs cancelled and waited for,
    /// subscriptions ended) and lets it go; nothing when that was done already. Call without the GIL.
    fn close(&self) {
        let taken = lock(&self.engine).take();
        if let Some(e) = taken {
            e.close();
            drop(e);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // No other reference is left, so nobody else can hold the slot's lock: taking it cannot wait.
        let taken = self.engine.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(e) = taken {
            shut_down(e);
        }
    }
}

/// Drops `engine` without the GIL: core cancels the running jobs and waits for them (their progress callbacks
/// need the GIL), ends the subscriptions and stops the runtime (from a thread of its own when this runs on one of
/// the runtime's threads, as in a progress callback).
fn shut_down(engine: Arc<syncwright::Engine>) {
    let mut slot = Some(engine);
    Python::try_attach(|py| py.detach(|| drop(slot.take())));
    // The interpreter is shutting down: no callback can run any more.
    drop(slot);
}

/// The native engine (use `syncwright.Engine` or `syncwright.AsyncEngine`).
#[pyclass(frozen, module = "syncwright._native")]
struct NativeEngine {
    inner: Arc<Inner>,
}

impl NativeEngine {
    /// The engine (GIL released while the slot is looked at).
    fn engine(&self, py: Python<'_>) -> PyResult<Arc<syncwright::Engine>> {
        let inner = &self.inner;
        py.detach(|| inner.get()).map_err(|e| to_py_err(py, &e))
    }

    fn job(&self, job: Job) -> NativeJob {
        NativeJob { job, _engine: self.inner.clone() }
    }
}

/// What a front-door call gave, as Python sees it: canonical JSON text, or a job.
enum Given {
    Json(String),
    Job(NativeJob),
}

impl<'py> IntoPyObject<'py> for Given {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Given::Json(s) => Ok(s.into_pyobject(py)?.into_any()),
            Given::Job(j) => Ok(Bound::new(py, j)?.into_any()),
        }
    }
}

#[pymethods]
impl NativeEngine {
    /// An engine with the configuration `config_json` (canonical EngineConfig JSON, or None for the defaults).
    /// Blocks (GIL released) while the config is read and the store opened.
    #[new]
    #[pyo3(signature = (config_json=None))]
    fn new(py: Python<'_>, config_json: Option<String>) -> PyResult<Self> {
        let engine = call(py, move || {
            syncwright::Engine::new(EngineConfig::from_json(config_json.as_deref())?)
        })?;
        let inner = Inner { engine: Mutex::new(Some(Arc::new(engine))) };
        Ok(NativeEngine { inner: Arc::new(inner) })
    }

    /// Opens an engine on a library thread and calls `callback(error, engine)` there when it is open (for
    /// asyncio: the event loop never waits on the disk).
    #[staticmethod]
    #[pyo3(signature = (config_json, callback))]
    fn open_async(
        py: Python<'_>,
        config_json: Option<String>,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        ensure_callable(py, &callback, "callback")?;
        std::thread::Builder::new()
            .name("syncwright-open".into())
            .spawn(move || {
                let r = syncwright::error::catch_panic(|| {
                    syncwright::Engine::new(EngineConfig::from_json(config_json.as_deref())?)
                });
                settle(
                    callback,
                    r.map(|e| {
                        let inner = Inner { engine: Mutex::new(Some(Arc::new(e))) };
                        NativeEngine { inner: Arc::new(inner) }
                    }),
                );
            })
            .map_err(|e| to_py_err(py, &Error::internal(format!("cannot start a thread: {e}"))))?;
        Ok(())
    }

    /// True after close().
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        let inner = &self.inner;
        py.detach(|| lock(&inner.engine).is_none())
    }

    /// Cancels running jobs, waits for them to stop, closes subscriptions (GIL released). Called from a progress
    /// callback, it returns at once and the engine stops in the background.
    fn close(&self, py: Python<'_>) {
        let inner = &self.inner;
        py.detach(|| inner.close());
    }

    /// `close()` on a library thread, then `callback(error, None)` (for asyncio).
    fn close_async(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        ensure_callable(py, &callback, "callback")?;
        let inner = self.inner.clone();
        std::thread::Builder::new()
            .name("syncwright-close".into())
            .spawn(move || {
                inner.close();
                settle(callback, Ok(()));
            })
            .map_err(|e| to_py_err(py, &Error::internal(format!("cannot start a thread: {e}"))))?;
        Ok(())
    }

    /// The front-door call `name` with `args_json` (a JSON object of its arguments, or None), GIL released: its
    /// canonical JSON, or a `NativeJob` for the calls that start or find a job. `on_progress(dict)` goes to
    /// `run_profile` and `run_all`.
    #[pyo3(signature = (name, args_json=None, on_progress=None))]
    fn call(
        &self,
        py: Python<'_>,
        name: String,
        args_json: Option<String>,
        on_progress: Option<Py<PyAny>>,
    ) -> PyResult<Given> {
        if let Some(f) = &on_progress {
            ensure_callable(py, f, "on_progress")?;
        }
        let engine = self.engine(py)?;
        let cb = on_progress.map(progress_callback);
        let out = call(py, move || engine.call_json(&name, args_json.as_deref(), cb))?;
        Ok(match out {
            CallOutput::Json(s) => Given::Json(s),
            CallOutput::Job(j) => Given::Job(self.job(j)),
        })
    }

    /// The call of `call()` on the engine's threads; `callback(error, result)` is called from a library thread
    /// with its exception or its result (JSON text or a `NativeJob`). Returns at once.
    #[pyo3(signature = (name, args_json, on_progress, callback))]
    fn call_async(
        &self,
        py: Python<'_>,
        name: String,
        args_json: Option<String>,
        on_progress: Option<Py<PyAny>>,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        ensure_callable(py, &callback, "callback")?;
        if let Some(f) = &on_progress {
            ensure_callable(py, f, "on_progress")?;
        }
        let engine = self.engine(py)?;
        let cb = on_progress.map(progress_callback);
        let keep = self.inner.clone();
        let fut = engine.call_json_async(name, args_json, cb);
        bridge(py)?.spawn(async move {
            let r = fut.await.map(|out| match out {
                CallOutput::Json(s) => Given::Json(s),
                CallOutput::Job(j) => Given::Job(NativeJob { job: j, _engine: keep }),
            });
            settle(callback, r);
        });
        Ok(())
    }

    /// The plan of a sync as canonical JSON (a dry run; nothing is written). GIL released.
    #[pyo3(signature = (source, dest, options_json=None))]
    fn plan_json(
        &self,
        py: Python<'_>,
        source: String,
        dest: String,
        options_json: Option<String>,
    ) -> PyResult<String> {
        let engine = self.engine(py)?;
        call(py, move || {
            let opts = SyncOptions::from_json(options_json.as_deref())?;
            Ok(serde_json::to_string(&engine.plan(&source, &dest, opts)?)?)
        })
    }

    /// `plan_json` on the engine's threads; `callback(error, plan_json)` from a library thread.
    #[pyo3(signature = (source, dest, options_json, callback))]
    fn plan_async(
        &self,
        py: Python<'_>,
        source: String,
        dest: String,
        options_json: Option<String>,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        ensure_callable(py, &callback, "callback")?;
        let engine = self.engine(py)?;
        let runs = engine.clone();
        let work = runs.spawn_blocking(move || {
            syncwright::error::catch_panic(|| {
                let opts = SyncOptions::from_json(options_json.as_deref())?;
                Ok(serde_json::to_string(&engine.plan(&source, &dest, opts)?)?)
            })
        });
        bridge(py)?.spawn(async move {
            let r = work.await.unwrap_or_else(|_| Err(Error::internal("the plan did not finish")));
            settle(callback, r);
        });
        Ok(())
    }

    /// Starts a sync job; `on_progress(dict)` is called from a library thread. GIL released while it starts.
    #[pyo3(signature = (source, dest, options_json=None, on_progress=None))]
    fn start(
        &self,
        py: Python<'_>,
        source: String,
        dest: String,
        options_json: Option<String>,
        on_progress: Option<Py<PyAny>>,
    ) -> PyResult<NativeJob> {
        if let Some(f) = &on_progress {
            ensure_callable(py, f, "on_progress")?;
        }
        let engine = self.engine(py)?;
        let cb = on_progress.map(progress_callback);
        let job = call(py, move || {
            let opts = SyncOptions::from_json(options_json.as_deref())?;
            engine.start_sync(&source, &dest, opts, cb)
        })?;
        Ok(self.job(job))
    }

    /// A subscription to this engine's events that `filter_json` takes (canonical EventFilter JSON, or None for
    /// all): with `since` (the last seq seen, 0 for all kept), the kept events after it first, then the live ones;
    /// without, the live ones only (GIL released while the kept events are read).
    #[pyo3(signature = (since=None, filter_json=None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        since: Option<i64>,
        filter_json: Option<String>,
    ) -> PyResult<NativeSubscription> {
        let engine = self.engine(py)?;
        let sub = call(py, move || {
            let since = since
                .map(|n| {
                    u64::try_from(n)
                        .map_err(|_| Error::invalid("since must be a seq (>= 0) or None"))
                })
                .transpose()?;
            let filter = EventFilter::from_json(filter_json.as_deref())?;
            Ok(Arc::new(engine.subscribe_from(since, filter)?))
        })?;
        Ok(NativeSubscription { sub })
    }
}

/// Calls `callback(error, value)` from a library thread: `(None, value)` on success, `(exception, None)` on
/// failure; an exception the callback raises goes to `sys.unraisablehook`. Nothing happens while the interpreter
/// shuts down.
fn settle<T: for<'py> IntoPyObject<'py>>(callback: Py<PyAny>, r: syncwright::Result<T>) {
    Python::try_attach(move |py| {
        let f = callback.bind(py);
        let args = match r {
            Ok(v) => match v.into_py_any(py) {
                Ok(v) => (py.None(), v),
                Err(e) => (e.into_value(py).into_any(), py.None()),
            },
            Err(e) => (to_py_err(py, &e).into_value(py).into_any(), py.None()),
        };
        if let Err(e) = f.call1(args) {
            e.write_unraisable(py, Some(f));
        }
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Job

/// The native job handle (use `syncwright.Job`).
#[pyclass(frozen, module = "syncwright._native")]
struct NativeJob {
    job: Job,
    /// Keeps the engine's runtime alive while this handle exists.
    _engine: Arc<Inner>,
}

#[pymethods]
impl NativeJob {
    /// The job's id (a UUID).
    #[getter]
    fn id(&self) -> &str {
        self.job.id()
    }

    /// "running" until the job has a report, then the report's status.
    #[getter]
    fn status(&self) -> &'static str {
        self.job.status().as_str()
    }

    /// The progress snapshot now, as JSON.
    fn progress_json(&self, py: Python<'_>) -> PyResult<String> {
        serde_json::to_string(&self.job.progress())
            .map_err(|e| to_py_err(py, &Error::internal(format!("cannot serialise progress: {e}"))))
    }

    /// The job as it is now, as JSON: `{job_id, sync_id, profile, source, destination, started_at, status,
    /// progress, finished_at}`, with `report` once it ended when `with_report`.
    #[pyo3(signature = (with_report=false))]
    fn snapshot_json(&self, py: Python<'_>, with_report: bool) -> PyResult<String> {
        let job = &self.job;
        call(py, || Ok(serde_json::to_string(&job.snapshot(with_report))?))
    }

    /// Asks the job to stop.
    fn cancel(&self) {
        self.job.cancel();
    }

    /// The canonical report JSON once the job has finished, else None.
    fn report_json(&self, py: Python<'_>) -> Option<String> {
        let job = &self.job;
        py.detach(|| job.report().map(|r| r.to_json()))
    }

    /// Waits (GIL released) until the job finishes or `timeout` seconds pass; the report JSON, or None on timeout.
    #[pyo3(signature = (timeout=None))]
    fn wait_json(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<String>> {
        let limit = self::timeout(py, timeout)?;
        let job = &self.job;
        wait_interruptible(py, limit, |d| job.wait(Some(d)).map(|r| r.to_json()))
    }

    /// Calls `callback(report_json)` from a library thread when the job finishes (at once if it has).
    fn on_done(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        ensure_callable(py, &callback, "callback")?;
        let job = self.job.clone();
        bridge(py)?.spawn(async move {
            let report = job.wait_async().await.to_json();
            deliver(callback, Some(report));
        });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Subscription

/// The native event subscription (use `syncwright.Subscription`).
#[pyclass(frozen, module = "syncwright._native")]
struct NativeSubscription {
    /// Closed by close(), by dropping this object, or by core when the engine shuts down.
    sub: Arc<Subscription>,
}

impl Drop for NativeSubscription {
    fn drop(&mut self) {
        // Wakes any pending on_next task.
        self.sub.close();
    }
}

#[pymethods]
impl NativeSubscription {
    /// The next event's JSON, waiting up to `timeout` seconds (None: until one comes); None on timeout or once
    /// the subscription is closed and drained.
    #[pyo3(signature = (timeout=None))]
    fn next_json(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<String>> {
        let limit = self::timeout(py, timeout)?;
        let sub = &self.sub;
        let got = wait_interruptible(py, limit, |d| {
            match sub.next_blocking(Some(d)) {
                Some(e) => Some(Some(e.to_json())),
                // Closed and drained: stop waiting.
                None if sub.is_closed() => Some(None),
                None => None,
            }
        })?;
        Ok(got.flatten())
    }

    /// Calls `callback(event_json)` from a library thread with the next event, or `callback(None)` once the
    /// subscription is closed and drained.
    fn on_next(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        ensure_callable(py, &callback, "callback")?;
        let sub = self.sub.clone();
        bridge(py)?.spawn(async move {
            let event = sub.next().await.map(|e| e.to_json());
            deliver(callback, event);
        });
        Ok(())
    }

    /// Events dropped because this subscriber fell too far behind.
    #[getter]
    fn lost(&self) -> u64 {
        self.sub.lost()
    }

    /// True after close() (or after the engine was closed).
    #[getter]
    fn closed(&self) -> bool {
        self.sub.is_closed()
    }

    /// Stops the subscription: waiters wake, queued events can still be read, then the end is reported.
    fn close(&self) {
        self.sub.close();
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Functions

/// The version of the syncwright library.
#[pyfunction]
fn version() -> &'static str {
    syncwright::version()
}

/// Scans the local folder `root` and returns its manifest as canonical JSON. `options_json` is a JSON object of
/// scan options, or None for the defaults.
#[pyfunction]
#[pyo3(signature = (root, options_json=None))]
fn build_manifest_json(
    py: Python<'_>,
    root: PathBuf,
    options_json: Option<String>,
) -> PyResult<String> {
    call(py, move || syncwright::manifest::build_manifest_json(&root, options_json.as_deref()))
}

/// The outcome word of a status word (`"completed"` -> `"success"`, `"partial"` -> `"error"`, `"running"` ->
/// `"running"`), or None for a word that is not a status.
#[pyfunction(name = "status_outcome")]
fn py_status_outcome(status: &str) -> Option<&'static str> {
    status_outcome(status)
}

/// A report's canonical JSON as the text for people (document 1's `output`).
#[pyfunction(name = "report_text")]
fn py_report_text(py: Python<'_>, report_json: String) -> PyResult<String> {
    call(py, move || report_text(&report_json))
}

/// Every front-door call `NativeEngine.call` knows: `(name, args, gives_job, blocking)`.
#[pyfunction]
fn calls() -> Vec<(&'static str, Vec<&'static str>, bool, bool)> {
    syncwright::engine::calls::CALLS
        .iter()
        .map(|c| (c.name, c.args.to_vec(), c.job, c.blocking))
        .collect()
}

/// Panics inside the library, so the tests can check that a panic is `InternalError`.
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    call(py, || -> syncwright::Result<()> { panic!("a panic for the test") })
}

/// Raises the exception of `kind` from Rust, so the tests can check every kind's class and attributes
/// (`details_json`: the error's details, as JSON).
#[pyfunction]
#[pyo3(signature = (kind, message, path=None, details_json=None))]
fn _raise_for_test(
    py: Python<'_>,
    kind: &str,
    message: &str,
    path: Option<&str>,
    details_json: Option<&str>,
) -> PyResult<()> {
    let kind = ErrorKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .ok_or_else(|| to_py_err(py, &Error::invalid(format!("unknown error kind {kind:?}"))))?;
    let mut e = Error::new(kind, message);
    if let Some(p) = path {
        e = e.with_path(p);
    }
    if let Some(d) = details_json {
        let v = serde_json::from_str(d)
            .map_err(|x| to_py_err(py, &Error::invalid(format!("details_json: {x}"))))?;
        e = e.with_details(v);
    }
    Err(to_py_err(py, &e))
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(build_manifest_json, m)?)?;
    m.add_function(wrap_pyfunction!(_raise_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(py_status_outcome, m)?)?;
    m.add_function(wrap_pyfunction!(py_report_text, m)?)?;
    m.add_function(wrap_pyfunction!(calls, m)?)?;
    m.add_class::<NativeEngine>()?;
    m.add_class::<NativeJob>()?;
    m.add_class::<NativeSubscription>()?;
    let kinds: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
    m.add("ERROR_KINDS", kinds)?;
    Ok(())
}
