//! What the front-door calls of the C ABI share (profiles, locks, jobs, logs, usage, recovery, reports): the
//! engine of a handle, results as canonical JSON, flags, job handles and progress callbacks.
//!
//! Each of those calls is a thin adapter over one call of core's `EngineCore`: it checks its arguments, calls, and
//! hands the canonical type back as JSON; no logic lives here.

use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use syncwright::logs::LogLevel;
use syncwright::progress::{ProgressCallback, ProgressSnapshot};
use syncwright::{Engine, Error, Job, Result};

use crate::engine::{Callback, UserData, handle, sw_free_user_fn, sw_progress_fn};
use crate::{c_string_lossy, opt_str_arg, put_string, sw_engine, sw_job};

/// The engine behind a required `sw_engine *` argument.
///
/// # Safety
/// `p` is NULL or a live engine handle.
pub(crate) unsafe fn engine_arg<'a>(p: *const sw_engine) -> Result<&'a Engine> {
    unsafe { handle(p, "engine") }?.shared.engine()
}

/// Hands a result serialised by serde_json to C through an out-parameter (set to NULL beforehand).
///
/// # Safety
/// `out` is non-NULL and writable.
pub(crate) unsafe fn put_json(
    out: *mut *mut c_char,
    json: serde_json::Result<String>,
) -> Result<()> {
    let json = json.map_err(|e| Error::internal(format!("cannot serialise the result: {e}")))?;
    unsafe { put_string(out, json) }
}

/// A C boolean (`int32_t`: 0 is false, anything else true).
pub(crate) fn flag(v: i32) -> bool {
    v != 0
}

/// Reads an optional log level ("debug", "info", "warning", "error"; NULL: every level).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub(crate) unsafe fn level_arg(p: *const c_char) -> Result<Option<LogLevel>> {
    let Some(l) = (unsafe { opt_str_arg(p, "level") })? else { return Ok(None) };
    serde_json::from_value(serde_json::Value::String(l.to_string()))
        .map(Some)
        .map_err(|_| Error::invalid(format!("{l:?} is not a level (debug, info, warning, error)")))
}

/// Stores a new handle on `job` of `engine` in `*out` (checked non-NULL and cleared by the caller).
///
/// # Safety
/// `out` is non-NULL and writable.
pub(crate) unsafe fn put_job(out: *mut *mut sw_job, engine: &sw_engine, job: Job) {
    let handle =
        Box::new(sw_job { id: c_string_lossy(job.id()), job, _engine: engine.shared.clone() });
    // SAFETY: non-NULL and writable by the caller's contract.
    unsafe { *out = Box::into_raw(handle) };
}

/// When the `user` of a progress callback is released (its `free_user` called).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Right after the call with stage "done", as `sw_sync_start` does: a job that makes one run.
    AfterDone,
    /// When the library drops the callback: a run-all, whose every profile run ends with a "done" of its own.
    WhenDropped,
}

/// The core progress callback for a C callback and its `user`, made as `sw_sync_start` makes its own: `user` is
/// owned from the start (dropped at once, which calls `free_user`, when there is no callback), and a panic never
/// unwinds into the engine.
pub(crate) fn progress_callback(
    on_progress: sw_progress_fn,
    user: *mut c_void,
    free_user: sw_free_user_fn,
    release: Release,
) -> Option<ProgressCallback> {
    let user = UserData { user, free_user };
    let cb = match on_progress {
        None => {
            drop(user);
            return None;
        }
        Some(cb) => cb,
    };
    let callback = Callback { cb, user: Mutex::new(Some(user)) };
    Some(match release {
        Release::AfterDone => Arc::new(move |s: &ProgressSnapshot| {
            let _ = catch_unwind(AssertUnwindSafe(|| callback.deliver(s)));
        }),
        Release::WhenDropped => Arc::new(move |s: &ProgressSnapshot| {
            let _ = catch_unwind(AssertUnwindSafe(|| deliver_keeping_user(&callback, s)));
        }),
    })
}

/// Calls the C callback with `snapshot`, never releasing `user` (it goes when the callback is dropped).
fn deliver_keeping_user(callback: &Callback, snapshot: &ProgressSnapshot) {
    let user = callback.user.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|u| u.user);
    let Some(user) = user else { return };
    if let Ok(json) = serde_json::to_string(snapshot).map(|s| c_string_lossy(&s)) {
        // SAFETY: the caller's callback with its own pointer; the string lives until it returns.
        unsafe { (callback.cb)(json.as_ptr(), user) };
    }
}
