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
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
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

/// A Python timeout in seconds: None or infinity for no limit, negative as zero; NaN is invalid.
fn timeout(py: Python<'_>, seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_nan() => Err(to_py_err(py, &Error::invalid("timeout must be a number"))),
        Some(s) => Ok(Duration::try_from_secs_f64(s.max(0.0)).ok()),
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

/// What the Python objects of one engine share. The core engine is taken out on shutdown; jobs keep this alive so
/// that a job whose engine object was dropped still finishes.
struct Inner {
    engine: RwLock<Option<syncwright::Engine>>,
}

impl Inner {
    /// Runs `f` with the engine, or fails when it was shut down. Call without the GIL.
    fn with<T>(
        &self,
        f: impl FnOnce(&syncwright::Engine) -> syncwright::Result<T>,
    ) -> syncwright::Result<T> {
        let g = self.engine.read().unwrap_or_else(|p| p.into_inner());
        f(g.as_ref().ok_or_else(closed_error)?)
    }

    /// Takes the engine out (from then on nothing new starts); None when that was done already. Call without the
    /// GIL: a plan under way holds the engine until it ends.
    fn take(&self) -> Option<syncwright::Engine> {
        self.engine.write().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(e) = self.take() {
            shut_down(e);
        }
    }
}

/// Drops `engine` without the GIL: core cancels the running jobs and waits for them (their progress callbacks
/// need the GIL), ends the subscriptions and stops the runtime (from a thread of its own when this runs on one of
/// the runtime's threads, as in a progress callback).
fn shut_down(engine: syncwright::Engine) {
    let mut slot = Some(engine);
    Python::try_attach(|py| py.detach(|| drop(slot.take())));
    // The interpreter is shutting down: no callback can run any more.
    drop(slot);
}

/// The native engine (use `syncwright.Engine`).
#[pyclass(frozen, module = "syncwright._native")]
struct NativeEngine {
    inner: Mutex<Option<Arc<Inner>>>,
}

impl NativeEngine {
    fn inner(&self, py: Python<'_>) -> PyResult<Arc<Inner>> {
        lock(&self.inner).clone().ok_or_else(|| to_py_err(py, &closed_error()))
    }
}

#[pymethods]
impl NativeEngine {
    /// An engine with the configuration `config_json` (canonical EngineConfig JSON, or None for the defaults).
    #[new]
    #[pyo3(signature = (config_json=None))]
    fn new(py: Python<'_>, config_json: Option<String>) -> PyResult<Self> {
        let engine = call(py, move || {
            syncwright::Engine::new(EngineConfig::from_json(config_json.as_deref())?)
        })?;
        let inner = Inner { engine: RwLock::new(Some(engine)) };
        Ok(NativeEngine { inner: Mutex::new(Some(Arc::new(inner))) })
    }

    /// True after close().
    #[getter]
    fn closed(&self) -> bool {
        lock(&self.inner).is_none()
    }

    /// Cancels running jobs, waits for them to stop, closes subscriptions and stops the runtime (GIL released).
    fn close(&self, py: Python<'_>) {
        let inner = lock(&self.inner).take();
        if let Some(e) = inner.and_then(|inner| py.detach(|| inner.take())) {
            shut_down(e);
        }
    }

    /// The plan of a sync as canonical JSON (a dry run; nothing is written).
    #[pyo3(signature = (source, dest, options_json=None))]
    fn plan_json(
        &self,
        py: Python<'_>,
        source: String,
        dest: String,
        options_json: Option<String>,
    ) -> PyResult<String> {
        let inner = self.inner(py)?;
        call(py, move || {
            let opts = SyncOptions::from_json(options_json.as_deref())?;
            let plan = inner.with(|e| e.plan(&source, &dest, opts))?;
            Ok(serde_json::to_string(&plan)?)
        })
    }

    /// Starts a sync job; `on_progress(dict)` is called from a library thread.
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
        let inner = self.inner(py)?;
        let engine = inner.clone();
        let cb = on_progress.map(progress_callback);
        let job = call(py, move || {
            let opts = SyncOptions::from_json(options_json.as_deref())?;
            // Started while the engine is held, so a concurrent shutdown sees (and stops) this job.
            engine.with(|e| e.start_sync(&source, &dest, opts, cb))
        })?;
        Ok(NativeJob { job, _engine: inner })
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
        let inner = self.inner(py)?;
        let sub = call(py, move || {
            let since = since
                .map(|n| {
                    u64::try_from(n)
                        .map_err(|_| Error::invalid("since must be a seq (>= 0) or None"))
                })
                .transpose()?;
            let filter = EventFilter::from_json(filter_json.as_deref())?;
            inner.with(|e| Ok(Arc::new(e.subscribe_from(since, filter)?)))
        })?;
        Ok(NativeSubscription { sub })
    }
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
    m.add_class::<NativeEngine>()?;
    m.add_class::<NativeJob>()?;
    m.add_class::<NativeSubscription>()?;
    let kinds: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
    m.add("ERROR_KINDS", kinds)?;
    Ok(())
}
