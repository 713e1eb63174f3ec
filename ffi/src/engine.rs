//! Engines, jobs and event subscriptions: the asynchronous half of the C ABI.
//!
//! Lifetimes. An `sw_engine` handle holds a reference to a shared engine (its runtime, store and event bus); every
//! `sw_job` and `sw_subscription` holds one too, so a job or subscription may outlive the handle it came from.
//! When the last reference goes, jobs whose handles were already freed are cancelled and waited for, then the
//! runtime shuts down and its threads are joined: after that no thread of the engine runs and no callback of it is
//! called.
//!
//! Callbacks. The C progress function and its `user` pointer live in one `Callback`; `user` is released (its
//! `free_user` called) exactly once: right after the final callback, or when the library drops the callback
//! without having called it to the end (a failed start, no callback function).

use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use syncwright::events::{EventFilter, Subscription};
use syncwright::progress::{ProgressCallback, ProgressSnapshot, Stage};
use syncwright::{Engine, EngineConfig, Error, ErrorKind, Job, Status, SyncOptions};

use crate::{c_string_lossy, guard, guard_or, opt_str_arg, put_string, str_arg, sw_error};

/// A progress callback: `progress_json` is one progress snapshot as canonical JSON
/// (`{"stage":"transferring","current_file":...,"files_done":..,"files_total":..,"bytes_done":..,
/// "bytes_total":..,"scanned":..,"rate_bps":..,"eta_secs":..,"percent":..,"elapsed_ms":..}`), borrowed: valid
/// only during the call (copy it to keep it). `user` is the pointer given to `sw_sync_start` (or `sw_profile_run`,
/// `sw_run_all`).
///
/// Called on a library thread, never the thread that started the job; calls for one job never overlap and come
/// at most once per `progress_interval_ms` (option, default 200), plus a final call with stage "done" just
/// before the job finishes. Keep it quick: the job's progress waits for it. It must not unwind or longjmp out,
/// and must not wait for its own job (`sw_job_wait` on it would never return).
pub type sw_progress_fn =
    Option<unsafe extern "C" fn(progress_json: *const c_char, user: *mut c_void)>;

/// A finaliser for a callback's `user` pointer: called exactly once with that pointer when the library no longer
/// needs it (see `sw_sync_start` for when). Possibly on a library thread.
pub type sw_free_user_fn = Option<unsafe extern "C" fn(user: *mut c_void)>;

/// The engine every handle of one `sw_engine_new` shares; the last reference to go shuts it down (see `Drop`).
pub(crate) struct EngineShared {
    /// `Some` until dropped.
    engine: Option<Engine>,
}

impl EngineShared {
    pub(crate) fn engine(&self) -> syncwright::Result<&Engine> {
        self.engine.as_ref().ok_or_else(|| Error::internal("engine already shut down"))
    }
}

impl Drop for EngineShared {
    /// Core cancels the jobs still running (those whose handles are gone: a live `sw_job` keeps the engine),
    /// waits for them, ends the subscriptions and stops the runtime; when the last handle is freed inside a
    /// callback, on one of the engine's own threads, core does that on a thread of its own and returns at once.
    fn drop(&mut self) {
        let on_runtime = tokio::runtime::Handle::try_current().is_ok();
        drop(self.engine.take());
        if !on_runtime {
            settle_scan_threads();
        }
    }
}

/// Leaves no trace of the scan threads once the engine has shut down (or `sw_manifest_build` is done), so that a
/// program that frees its last handle and exits is clean under valgrind (no "possibly lost" blocks).
///
/// The runtime's own threads are joined when the engine drops. A scan, though, runs on a rayon pool of threads
/// named "sw-scan-N" that core drops without joining, so one may in theory still be exiting when the program
/// exits. And rayon's work queues use crossbeam-epoch, whose global list keeps the registration of every exited
/// thread, behind a tagged pointer valgrind cannot follow, until another thread walks the list
/// (crossbeam-rs/crossbeam#285): that is what valgrind reported as "possibly lost" after every sync. So: wait
/// (Linux only; at most 500 ms in 1 ms steps, normally not at all) until no scan thread is alive, then pin and
/// flush the default collector a few times, which unlinks and frees those registrations. If core joined its scan
/// threads, the wait could go; the flush would stay.
pub(crate) fn settle_scan_threads() {
    #[cfg(target_os = "linux")]
    {
        fn scan_threads_alive() -> bool {
            let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return false };
            tasks.filter_map(|t| t.ok()).any(|t| {
                std::fs::read(t.path().join("comm")).is_ok_and(|c| c.starts_with(b"sw-scan-"))
            })
        }
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        while scan_threads_alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    for _ in 0..4 {
        crossbeam_epoch::pin().flush();
    }
}

/// An engine: the async runtime, the embedded store (hash cache) and the event bus that jobs and subscriptions
/// use. Opaque; create it with `sw_engine_new`, free it with `sw_engine_free`. Thread-safe.
pub struct sw_engine {
    pub(crate) shared: Arc<EngineShared>,
}

/// A sync running (or finished) in the background. Opaque; from `sw_sync_start`, `sw_profile_run`, `sw_run_all`,
/// `sw_operation_retry` or `sw_job_get`, freed with `sw_job_free`.
/// Thread-safe: any thread may query, cancel or wait on it, several at once.
pub struct sw_job {
    pub(crate) job: Job,
    pub(crate) id: CString,
    /// Keeps the engine (and so the runtime that runs the job) alive while this handle lives.
    pub(crate) _engine: Arc<EngineShared>,
}

/// A queue of the engine's events. Opaque; from `sw_subscribe`, freed with `sw_subscription_free`.
/// Thread-safe: `sw_subscription_close` may be called from another thread to wake a waiting
/// `sw_subscription_next`.
pub struct sw_subscription {
    sub: Subscription,
    /// Keeps the engine alive: its events keep coming while this handle lives.
    _engine: Arc<EngineShared>,
}

// The header promises that every handle may be used from any thread.
const _: fn() = || {
    fn thread_safe<T: Send + Sync>() {}
    thread_safe::<sw_engine>();
    thread_safe::<sw_job>();
    thread_safe::<sw_subscription>();
};

/// The caller's `user` pointer and its finaliser; dropping it calls the finaliser.
pub(crate) struct UserData {
    pub(crate) user: *mut c_void,
    pub(crate) free_user: sw_free_user_fn,
}

// SAFETY: the header requires `user` and `free_user` to be usable from any thread (callbacks and the finaliser may
// run on a library thread); the library never dereferences `user` itself.
unsafe impl Send for UserData {}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(f) = self.free_user {
            // SAFETY: the caller's finaliser, called once with the pointer it was given for.
            unsafe { f(self.user) };
        }
    }
}

/// A C progress callback and its user data.
pub(crate) struct Callback {
    pub(crate) cb: unsafe extern "C" fn(*const c_char, *mut c_void),
    /// `Some` until released; released after the final call ("done"), or when the callback is dropped.
    pub(crate) user: Mutex<Option<UserData>>,
}

impl Callback {
    pub(crate) fn deliver(&self, snapshot: &ProgressSnapshot) {
        let user = self.user.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|u| u.user);
        let Some(user) = user else { return };
        if let Ok(json) = serde_json::to_string(snapshot).map(|s| c_string_lossy(&s)) {
            // SAFETY: the caller's callback with its own pointer; the string lives until it returns.
            unsafe { (self.cb)(json.as_ptr(), user) };
        }
        if snapshot.stage == Stage::Done {
            // The final snapshot: the job will not call back again, so `user` is released now, before the job
            // counts as finished. The lock is not held while the finaliser runs.
            let released = self.user.lock().unwrap_or_else(|p| p.into_inner()).take();
            drop(released);
        }
    }
}

fn timeout_arg(timeout_ms: i64) -> Option<Duration> {
    u64::try_from(timeout_ms).ok().map(Duration::from_millis)
}

/// The static name of a status, as in the report's "status" field.
fn status_name(s: Status) -> &'static CStr {
    match s {
        Status::Queued => c"queued",
        Status::Running => c"running",
        Status::Completed => c"completed",
        Status::Partial => c"partial",
        Status::Failed => c"failed",
        Status::Cancelled => c"cancelled",
        Status::Interrupted => c"interrupted",
    }
}

/// Checks a required out-parameter and sets it to NULL.
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn clear_out<T>(out: *mut *mut T, name: &str) -> syncwright::Result<()> {
    if out.is_null() {
        return Err(Error::invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL and writable by the caller's contract.
    unsafe { *out = ptr::null_mut() };
    Ok(())
}

/// Reads a required handle argument.
///
/// # Safety
/// `p` is NULL or a live handle of this library.
pub(crate) unsafe fn handle<'a, T>(p: *const T, name: &str) -> syncwright::Result<&'a T> {
    // SAFETY: NULL or live by the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| Error::invalid(format!("{name} is NULL")))
}

/// Creates an engine and stores it in `*out_engine` (free it with `sw_engine_free`).
///
/// `config_json` is optional (NULL or "" for the defaults, and no profiles): a JSON object with any of
///  - `config_file`: a config file (TOML) whose profiles and settings the engine then owns (relative paths in its
///    `[settings]` resolve from the file's folder), or `config`: the same document as a JSON value (relative
///    paths resolve from the working folder); not both;
///  - `state_dir`: where the embedded store (hash cache, run history, operations) lives; default: the config's
///    `[settings] state_dir`, else `$SYNCWRIGHT_STATE_DIR`, else `$XDG_STATE_HOME/syncwright`, else
///    `~/.local/state/syncwright`;
///  - `no_store` (true: no store, so no hash cache and no history), `worker_threads` (0: one per core);
///  - `log_dir` (profile logs; default `[settings] log_dir`, else `logs` in the state folder) and `log_max_size`
///    (bytes at which a profile log is rotated; default `[settings] log_max_size`, else 10 MiB).
///
/// The fields given override the config's `[settings]`. For example `{"config_file":"/etc/syncwright/pod.toml"}`,
/// that file holding
///
/// ```toml
/// [settings]
/// coordination_dir = "/network/.syncwright/locks"   # profile locks, on the shared volume
/// state_dir = "/workspace/.syncwright-state"        # the embedded store, on local disk
///
/// [profiles.user_data]
/// source = "/workspace/ComfyUI/user"
/// destination = "/network/users/alice/user_data"
/// min_age = "10s"
/// ```
///
/// or the same as a value: `{"config":{"settings":{"coordination_dir":"/network/.syncwright/locks"},"profiles":
/// {"user_data":{"source":"/workspace/ComfyUI/user","destination":"/network/users/alice/user_data",
/// "min_age":"10s"}}}}`. The profiles are then listed by `sw_profiles`, run by `sw_profile_run` and `sw_run_all`
/// (examples/c/profiles.c). A config file that cannot be read gives `not_found` or `permission`; a bad config (in
/// the file or the value, or both given) `invalid_input`. The engine starts its worker threads here.
/// Errors: `invalid_input` for a NULL `out_engine`, text that is not UTF-8 or a bad config (unknown fields
/// included); `permission`, `resource`, `corrupt` and others when the store cannot be opened.
///
/// Blocking: yes, on local disk only: it reads the config file, opens (creating, and if damaged replacing) the
/// embedded store, waiting up to 10 s while another process sets the same store up, and starts the worker threads.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out_engine` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_engine_new(
    config_json: *const c_char,
    out_engine: *mut *mut sw_engine,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_engine, "out_engine") }?;
        let config = EngineConfig::from_json(unsafe { opt_str_arg(config_json, "config_json") }?)?;
        let engine = Engine::new(config)?;
        let shared = Arc::new(EngineShared { engine: Some(engine) });
        let handle = Box::new(sw_engine { shared });
        // SAFETY: checked non-NULL above.
        unsafe { *out_engine = Box::into_raw(handle) };
        Ok(())
    })
}

/// Frees an engine handle. NULL is accepted and ignored.
///
/// Jobs and subscriptions of the engine stay valid: each keeps the engine alive, and its jobs keep running. When
/// the last of them (and this handle) is freed, the engine shuts down: jobs still running whose `sw_job` was
/// already freed are cancelled and waited for, then the engine's threads are stopped and joined, so the last free
/// returns only when no thread of the engine runs and no callback of it can come. (Freed from inside a callback,
/// the shutdown happens on a helper thread instead, since the calling thread is one of the engine's own.)
///
/// Blocking: only when this is the engine's last handle: then until its jobs left running are cancelled and have
/// stopped (a transfer stops within one chunk) and its threads are joined. Otherwise no.
///
/// # Safety
/// `engine` is NULL or a handle from `sw_engine_new`, freed only once, and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_engine_free(engine: *mut sw_engine) {
    if !engine.is_null() {
        // SAFETY: `engine` came from Box::into_raw in `sw_engine_new` (caller's contract).
        guard_or((), || drop(unsafe { Box::from_raw(engine) }));
    }
}

/// Computes the plan of a sync from `source` to `dest` without writing anything, and stores it in
/// `*out_plan_json` as canonical JSON (free it with `sw_string_free`):
/// `{"schema_version":..,"compare":..,"actions":[{"op","path","reason","size",...}],"errors":[...],"totals":{...}}`.
///
/// `source` and `dest` are local paths or `file://` URLs. `options_json` is optional (NULL for the defaults):
/// the canonical sync options, as for `sw_sync_start` (`dry_run` is forced on).
/// Errors: `invalid_input` for NULL arguments, text that is not UTF-8, bad options or an unsupported URL;
/// `not_found`, `permission` and others when the run cannot scan its source or destination.
///
/// Blocking: yes, until the plan is ready: the run scans the source and the destination (over the network for
/// remote locations) and hashes what the comparison needs.
///
/// # Safety
/// `engine` is NULL or a live engine; the strings are NULL or NUL-terminated; `out_plan_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_plan(
    engine: *mut sw_engine,
    source: *const c_char,
    dest: *const c_char,
    options_json: *const c_char,
    out_plan_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_plan_json, "out_plan_json") }?;
        let engine = unsafe { handle(engine, "engine") }?;
        let source = unsafe { str_arg(source, "source") }?;
        let dest = unsafe { str_arg(dest, "dest") }?;
        let options =
            SyncOptions::from_json(unsafe { opt_str_arg(options_json, "options_json") }?)?;
        let plan = engine.shared.engine()?.plan(source, dest, options)?;
        let json = serde_json::to_string(&plan)
            .map_err(|e| Error::internal(format!("cannot serialise the plan: {e}")))?;
        unsafe { put_string(out_plan_json, json) }
    })
}

/// Starts a sync from `source` to `dest` in the background and stores its handle in `*out_job` (free it with
/// `sw_job_free`). Returns as soon as the job is queued; follow it with `sw_job_progress`, `sw_job_wait`,
/// `sw_job_cancel`, the progress callback or a subscription.
///
/// `source` and `dest` are local paths or `file://` URLs. `options_json` is optional (NULL for the defaults): the
/// canonical sync options, a JSON object with any of `name`, `compare` ("size_mtime", "checksum", "size_only"),
/// `modify_window_ms`, `include`, `exclude`, `links` ("preserve", "follow", "skip"), `min_age_secs`, `delete`,
/// `max_delete`, `dry_run`, `transfers`, `verify`, `bwlimit` (bytes per second), `dest_changed` ("overwrite",
/// "skip", "keep_both"), `rescan_dest`, `chunk_size`, `still_changing_retries`, `progress_interval_ms`,
/// `list_identical`, `scan_threads`; an unknown field is an error.
///
/// `on_progress` is optional: see `sw_progress_fn` (library thread, no overlapping calls, a final call with stage
/// "done"). `user` is passed to it untouched.
///
/// Ownership of `user`: from the moment this function is called, the library owns `user` on behalf of
/// `free_user`. If `free_user` is not NULL, it is called exactly once with `user`, whatever happens:
///  - when this function fails (any error, including bad arguments), or `on_progress` is NULL: before this
///    function returns, on the calling thread;
///  - otherwise right after the final call of `on_progress` (stage "done"), on the same library thread, and
///    before the job counts as finished: when `sw_job_wait` returns the report or `sw_job_status` gives a final
///    status, it has already been called. It is called even if the job handle was freed.
///
/// Errors do not come from the run itself (a run that fails as a whole still finishes with a report whose status
/// is "failed" and whose "fatal" says why) but from bad input: `invalid_input` for NULL arguments, text that is
/// not UTF-8, bad options or an unsupported URL scheme.
///
/// Blocking: on local disk only: it records the run in the embedded store (waiting up to 10 s while another
/// process writes there). The sync itself, network included, runs on the engine's threads.
///
/// # Safety
/// `engine` is NULL or a live engine; the strings are NULL or NUL-terminated; `on_progress` and `free_user` are
/// NULL or functions callable from any thread with `user`; `out_job` is NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn sw_sync_start(
    engine: *mut sw_engine,
    source: *const c_char,
    dest: *const c_char,
    options_json: *const c_char,
    on_progress: sw_progress_fn,
    user: *mut c_void,
    free_user: sw_free_user_fn,
    out_job: *mut *mut sw_job,
) -> *mut sw_error {
    // Owned from here on: any early return, error or panic drops it, which calls `free_user` before we return.
    let user = UserData { user, free_user };
    guard(move || {
        unsafe { clear_out(out_job, "out_job") }?;
        let engine = unsafe { handle(engine, "engine") }?;
        let source = unsafe { str_arg(source, "source") }?;
        let dest = unsafe { str_arg(dest, "dest") }?;
        let options =
            SyncOptions::from_json(unsafe { opt_str_arg(options_json, "options_json") }?)?;
        let progress: Option<ProgressCallback> = match on_progress {
            None => {
                drop(user);
                None
            }
            Some(cb) => {
                let callback = Callback { cb, user: Mutex::new(Some(user)) };
                Some(Arc::new(move |s: &ProgressSnapshot| {
                    // Never let a panic unwind into the engine's task: the job would never finish.
                    let _ = catch_unwind(AssertUnwindSafe(|| callback.deliver(s)));
                }))
            }
        };
        let shared = &engine.shared;
        // On error the engine drops `progress`, and with it `user`.
        let job = shared.engine()?.start_sync(source, dest, options, progress)?;
        let handle =
            Box::new(sw_job { id: c_string_lossy(job.id()), job, _engine: shared.clone() });
        // SAFETY: checked non-NULL above.
        unsafe { *out_job = Box::into_raw(handle) };
        Ok(())
    })
}

/// The job's id (a UUID, as in its events). Borrowed: valid as long as the job handle. NULL when `job` is NULL.
///
/// Blocking: no.
///
/// # Safety
/// `job` is NULL or a live job handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_job_id(job: *const sw_job) -> *const c_char {
    guard_or(ptr::null(), || match unsafe { job.as_ref() } {
        Some(j) => j.id.as_ptr(),
        None => ptr::null(),
    })
}

/// The job's status as a static snake_case string (do not free it), the same word as the report's "status":
/// "running" until the job has finished, then its final status: "completed", "partial" (some files failed),
/// "failed" (the run could not be done; see the report's "fatal") or "cancelled". (The other words of the status
/// vocabulary, "queued" and "interrupted", belong to stored jobs and do not occur here today.) NULL when `job` is
/// NULL.
///
/// Blocking: no.
///
/// # Safety
/// `job` is NULL or a live job handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_job_status(job: *const sw_job) -> *const c_char {
    guard_or(ptr::null(), || match unsafe { job.as_ref() } {
        Some(j) => status_name(j.job.status()).as_ptr(),
        None => ptr::null(),
    })
}

/// The job's progress now, in `*out_json` as canonical JSON (the same snapshot as the progress callback gets;
/// free it with `sw_string_free`). Errors: `invalid_input` for NULL arguments.
///
/// Blocking: no.
///
/// # Safety
/// `job` is NULL or a live job handle; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_job_progress(
    job: *const sw_job,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let job = unsafe { handle(job, "job") }?;
        let json = serde_json::to_string(&job.job.progress())
            .map_err(|e| Error::internal(format!("cannot serialise progress: {e}")))?;
        unsafe { put_string(out_json, json) }
    })
}

/// Asks the job to stop and returns at once; transfers stop within one chunk and remove their temporary files.
/// The job then finishes with status "cancelled" (wait for it with `sw_job_wait`). Cancelling a finished job does
/// nothing. Errors: `invalid_input` when `job` is NULL.
///
/// Blocking: no: it asks and returns; wait for the job to end with `sw_job_wait`.
///
/// # Safety
/// `job` is NULL or a live job handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_job_cancel(job: *mut sw_job) -> *mut sw_error {
    guard(|| {
        unsafe { handle(job, "job") }?.job.cancel();
        Ok(())
    })
}

/// Waits until the job has finished, at most `timeout_ms` milliseconds (negative: no limit; 0: just look), and
/// stores its report in `*out_report_json` (free it with `sw_string_free`): the canonical report JSON,
/// `{"schema_version","run_id","status","dry_run","source","destination","started_at","finished_at",
/// "duration_ms","stats":{...},"errors":[{"action","path","error","kind"}],"warnings":[{"path","reason",
/// "message"}]}` plus "plan" (dry runs) and "fatal" (a run that failed as a whole). A finished job may be waited
/// on any number of times, from several threads at once.
///
/// Errors: `timeout` when the job is still running after `timeout_ms` (`*out_report_json` stays NULL; the job
/// goes on); `invalid_input` for NULL arguments. A failed or cancelled run is not an error here: read its
/// status in the report (or with `sw_job_status`).
///
/// Blocking: yes, until the job has finished or `timeout_ms` has passed (0: not at all).
///
/// # Safety
/// `job` is NULL or a live job handle; `out_report_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_job_wait(
    job: *mut sw_job,
    timeout_ms: i64,
    out_report_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_report_json, "out_report_json") }?;
        let job = unsafe { handle(job, "job") }?;
        match job.job.wait(timeout_arg(timeout_ms)) {
            Some(report) => unsafe { put_string(out_report_json, report.to_json()) },
            None => Err(Error::new(
                ErrorKind::Timeout,
                format!("job {} still running after {timeout_ms} ms", job.job.id()),
            )),
        }
    })
}

/// Frees a job handle. NULL is accepted and ignored.
///
/// This does NOT cancel the job: a running job keeps running inside its engine (its progress callback keeps being
/// called, its events keep coming) until it finishes or the engine shuts down (see `sw_engine_free`, which
/// cancels such jobs). Call `sw_job_cancel` first to stop it.
///
/// Blocking: only when this is the engine's last handle (see `sw_engine_free`). Otherwise no.
///
/// # Safety
/// `job` is NULL or a job handle from this library, freed only once, and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_job_free(job: *mut sw_job) {
    if !job.is_null() {
        // SAFETY: `job` came from Box::into_raw in this library (caller's contract).
        guard_or((), || drop(unsafe { Box::from_raw(job) }));
    }
}

/// Subscribes to the engine's events and stores the subscription in `*out_subscription` (free it with
/// `sw_subscription_free`).
///
/// `since` is the last `seq` the caller saw (0: every event kept): the subscription first delivers every kept
/// event with a greater `seq`, in order, then the live ones, with no gap and no duplicate between the two. A
/// negative `since` gives the live events only. Events are kept for `[settings] event_retention` (default 24h),
/// at most `event_retention_max` (default 100000), in the engine's store (in memory without one); `seq` only
/// grows, across restarts too.
///
/// Blocking: with a `since` (0 or more), while it waits for the events published so far to be stored and reads
/// the kept ones (milliseconds; longer for a large replay on a slow disk). With a negative `since`, no.
///
/// `filter_json` (NULL or "" for all events) is a JSON object with any of `job_id`, `profile`, `operation_id`
/// (the events about that job, profile or operation) and `types` (an array of event `type` names); an event is
/// delivered when it matches every field given.
///
/// Live events are queued for the subscription in order; one that falls more than 4096 live events behind loses
/// the oldest (see `sw_subscription_lost`) and never slows a job: subscribe again with `since` = the last `seq`
/// seen to get them back.
///
/// Errors: `invalid_input` for a NULL `engine` or `out_subscription`, a bad filter (unknown field or type), or a
/// `since` whose following events are no longer kept or that is beyond the latest `seq`; then
/// `sw_error_details` gives `{"since":N,"oldest_seq":<oldest kept or null>,"latest_seq":<latest>}` (subscribing
/// from `latest_seq` always works).
///
/// # Safety
/// `engine` is NULL or a live engine; `filter_json` is NULL or a NUL-terminated string; `out_subscription` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_subscribe(
    engine: *mut sw_engine,
    since: i64,
    filter_json: *const c_char,
    out_subscription: *mut *mut sw_subscription,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_subscription, "out_subscription") }?;
        let engine = unsafe { handle(engine, "engine") }?;
        let filter = EventFilter::from_json(unsafe { opt_str_arg(filter_json, "filter_json") }?)?;
        let since = u64::try_from(since).ok();
        let sub = engine.shared.engine()?.subscribe_from(since, filter)?;
        let handle = Box::new(sw_subscription { sub, _engine: engine.shared.clone() });
        // SAFETY: checked non-NULL above.
        unsafe { *out_subscription = Box::into_raw(handle) };
        Ok(())
    })
}

/// Takes the next event, waiting at most `timeout_ms` milliseconds for one (negative: no limit; 0: just look),
/// and stores it in `*out_event_json` as canonical JSON (free it with `sw_string_free`), its `seq` first:
/// `{"seq":1,"type":"job_queued","job_id","at","source","destination"}`, `{"seq":2,"type":"job_started",
/// "job_id","at"}`, `{"seq":..,"type":"progress","job_id","progress":{...snapshot...}}`,
/// `{"seq":..,"type":"job_finished","job_id","at","status","stats":{...}}`; locks, operations, breakers and
/// profile logs add `lock_taken`, `lock_released`, `lock_broken`, `recovery_update`, `recovery_completed`,
/// `breaker` and `log`.
///
/// No event in time is not an error: `*out_event_json` is NULL and the function returns NULL. After
/// `sw_subscription_close`, queued events are still returned, then NULL at once.
/// Errors: `invalid_input` for NULL arguments.
///
/// Blocking: yes, until an event comes, the subscription is closed or `timeout_ms` has passed (0: not at
/// all).
///
/// # Safety
/// `subscription` is NULL or a live subscription; `out_event_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_subscription_next(
    subscription: *mut sw_subscription,
    timeout_ms: i64,
    out_event_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_event_json, "out_event_json") }?;
        let sub = unsafe { handle(subscription, "subscription") }?;
        match sub.sub.next_blocking(timeout_arg(timeout_ms)) {
            Some(event) => unsafe { put_string(out_event_json, event.to_json()) },
            None => Ok(()),
        }
    })
}

/// How many events this subscription lost because it fell more than 4096 events behind. 0 when `subscription`
/// is NULL.
///
/// Blocking: no.
///
/// # Safety
/// `subscription` is NULL or a live subscription.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_subscription_lost(subscription: *const sw_subscription) -> u64 {
    guard_or(0, || unsafe { subscription.as_ref() }.map_or(0, |s| s.sub.lost()))
}

/// Closes the subscription: a `sw_subscription_next` waiting in another thread returns at once, and later calls
/// return the events still queued, then nothing without waiting. The handle must still be freed with
/// `sw_subscription_free` (once no other thread uses it). Errors: `invalid_input` when `subscription` is NULL.
///
/// Blocking: no.
///
/// # Safety
/// `subscription` is NULL or a live subscription.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_subscription_close(
    subscription: *mut sw_subscription,
) -> *mut sw_error {
    guard(|| {
        unsafe { handle(subscription, "subscription") }?.sub.close();
        Ok(())
    })
}

/// Frees a subscription. NULL is accepted and ignored.
///
/// Blocking: only when this is the engine's last handle (see `sw_engine_free`). Otherwise no.
///
/// # Safety
/// `subscription` is NULL or a handle from `sw_subscribe`, freed only once, and not in use by another thread
/// (wake a waiting thread with `sw_subscription_close` first).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_subscription_free(subscription: *mut sw_subscription) {
    if !subscription.is_null() {
        // SAFETY: `subscription` came from Box::into_raw in `sw_subscribe` (caller's contract).
        guard_or((), || drop(unsafe { Box::from_raw(subscription) }));
    }
}
