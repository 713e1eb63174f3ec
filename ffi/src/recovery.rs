//! Recovery in the C ABI: the stored operations (list, get, retry, cancel), metrics, and the self-test.

use std::ffi::c_char;

use syncwright::Error;

use crate::engine::{clear_out, handle};
use crate::front::{engine_arg, flag, put_job, put_json};
use crate::{guard, opt_str_arg, str_arg, sw_engine, sw_error, sw_job};

/// The operations in the embedded store (one per job: its attempts, state and what it needs to run again), newest
/// first, at most `limit`, only those not ended when `active_only` is non-zero, in `*out_json` as a canonical
/// JSON array (free it with `sw_string_free`): `[{"operation_id","function_name":"sync"|"sync_profile"|"command",
/// "state":"pending"|"in_progress"|"recovering"|"success"|"failed"|"exhausted"|"cancelled","attempt",
/// "max_attempts","error","created_at","updated_at","metadata":{...}}]`. Ended operations are kept for a week.
/// Errors: `feature_disabled` for an engine without a store (`no_store`); `invalid_input` for NULL arguments.
///
/// Blocking: yes, for local disk only: it reads the embedded store.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_operations(
    engine: *mut sw_engine,
    active_only: i32,
    limit: usize,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let ops = engine.operations(flag(active_only), limit)?;
        unsafe { put_json(out_json, serde_json::to_string(&ops)) }
    })
}

/// The operations a restart interrupted (not ended, and their process is gone from this host: a crash or a
/// kill while they ran), newest first, in `*out_json` as a canonical JSON array of the objects of `sw_operations`
/// (free it with `sw_string_free`); retry one with `sw_operation_retry`. Errors: `feature_disabled` for an engine
/// without a store (`no_store`); `invalid_input` for NULL arguments.
///
/// Blocking: yes, for local disk only: it reads the embedded store.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_operations_interrupted(
    engine: *mut sw_engine,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.interrupted_operations()?)) }
    })
}

/// The operation `id` (the id of the job that runs or ran it), in `*out_json` as the canonical JSON object of
/// `sw_operations` (free it with `sw_string_free`). Errors: `not_found` when the store has no such operation;
/// `feature_disabled` without a store; `invalid_input` for NULL arguments.
///
/// Blocking: yes, for local disk only: it reads the embedded store.
///
/// # Safety
/// `engine` is NULL or a live engine; `id` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_operation(
    engine: *mut sw_engine,
    id: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let id = unsafe { str_arg(id, "id") }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.operation(id)?)) }
    })
}

/// Runs operation `id` again as a new job with the same id, and stores its handle in `*out_job` (free it with
/// `sw_job_free`; follow it as any job). An operation that failed, ran out of attempts, was cancelled or was
/// interrupted by a restart can be retried; any ended one when `force` is non-zero. It gets `max_attempts` more
/// attempts (0: as many as it had). A profile's operation takes the profile's lock again (the engine must have
/// that profile); a sync locks its destination like any writing run. There is no progress callback: follow the
/// job with `sw_job_progress` or a subscription.
/// Errors: `not_found` when the store has no such operation; `conflict` when it is running, or has succeeded and
/// `force` is 0, or its profile is running; `invalid_input` for NULL arguments or a profile the engine lacks;
/// `feature_disabled` without a store.
///
/// Blocking: for file I/O only: it reads the store, takes the profile's lock (coordination folder) and records the
/// run. The run itself, network included, is on the engine's threads.
///
/// # Safety
/// `engine` is NULL or a live engine; `id` is NULL or a NUL-terminated string; `out_job` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_operation_retry(
    engine: *mut sw_engine,
    id: *const c_char,
    force: i32,
    max_attempts: u32,
    out_job: *mut *mut sw_job,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_job, "out_job") }?;
        let handle = unsafe { handle(engine, "engine") }?;
        let id = unsafe { str_arg(id, "id") }?;
        let attempts = (max_attempts > 0).then_some(max_attempts);
        let job = handle.shared.engine()?.retry_operation(id, flag(force), attempts)?;
        unsafe { put_job(out_job, handle, job) };
        Ok(())
    })
}

/// Cancels operation `id`: its job in this engine is cancelled and waited for (the operation ends "cancelled"),
/// or a stored operation that does not run here is marked cancelled. Stores the operation as it is then in
/// `*out_json` (the object of `sw_operations`; free it with `sw_string_free`).
/// Errors: `not_found` when the store has no such operation; `conflict` when it has already ended;
/// `feature_disabled` without a store; `invalid_input` for NULL arguments.
///
/// Blocking: yes, when its job runs in this engine: until the job has stopped (a transfer stops within one
/// chunk); and for local disk: the embedded store.
///
/// # Safety
/// `engine` is NULL or a live engine; `id` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_operation_cancel(
    engine: *mut sw_engine,
    id: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let id = unsafe { str_arg(id, "id") }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.cancel_operation(id)?)) }
    })
}

/// Recovery figures in `*out_json` as canonical JSON (free it with `sw_string_free`): over the stored operations
/// (all zero without a store), this engine's circuit breaker trips, and the settings in effect:
/// `{"total_operations","active_operations","recovered_operations","failed_operations","average_recovery_time",
/// "retry_attempts","success_rate","average_attempts_per_recovery","circuit_breaker_trips","persistence",
/// "max_attempts","retry":{"<category>":{"backoff","max_attempts","initial_delay","max_delay","jitter"}},
/// "breaker":{"failure_threshold","failure_rate","window_secs","min_calls","cooldown_secs","half_open_probes",
/// "targets":{"<target>":{...}} (when there are overrides)}}` (the circuit breakers' `[settings.breaker]`).
/// Errors: `invalid_input` for NULL arguments.
///
/// Blocking: yes, for local disk only: it reads the embedded store.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_recovery_metrics(
    engine: *mut sw_engine,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.recovery_metrics()?)) }
    })
}

/// The circuit breakers of the remote targets this engine's jobs used so far, by target, in `*out_json` as a
/// canonical JSON array (free it with `sw_string_free`): `[{"target","state":"closed"|"open"|"half_open",
/// "consecutive_failures","trips","opened_at","next_probe_at","timeout_remaining","config":{"failure_threshold",
/// "failure_rate","window_secs","min_calls","cooldown_secs","half_open_probes"}}]` (`[]` before any remote run).
/// The settings they follow (`[settings.breaker]`) are in `sw_recovery_metrics`' "breaker".
/// Errors: `invalid_input` for NULL arguments.
///
/// Blocking: no.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_breakers(
    engine: *mut sw_engine,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.breakers())) }
    })
}

/// Runs the recovery self-test: each scenario named in `scenarios_json` (a JSON array of scenario ids such as
/// `["network_timeout","corruption"]`; NULL, "" or `[]` for all of them, see `sw_recovery_scenarios`) `runs` times
/// (0 counts as 1), for real: syncs of a small generated tree with injected faults, in a scratch folder under the
/// system's temporary folder that is removed afterwards. Stores what it measured in `*out_json` (free it with
/// `sw_string_free`): `{"baseline_ms","scenarios":[{"name","description","runs","as_expected","success_rate",
/// "retries","average_recovery_ms","overhead_percent","passed"}],"overall":"PASS"|"FAIL"}`.
/// Errors: `not_found` for an unknown scenario; `invalid_input` for NULL arguments or a `scenarios_json` that is
/// not an array of strings.
///
/// Blocking: yes, for seconds (about a second per scenario and run): it runs the syncs and waits for them.
///
/// # Safety
/// `engine` is NULL or a live engine; `scenarios_json` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_recovery_self_test(
    engine: *mut sw_engine,
    scenarios_json: *const c_char,
    runs: u32,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let shared = unsafe { handle(engine, "engine") }?.shared.clone();
        let scenarios: Vec<String> = match unsafe { opt_str_arg(scenarios_json, "scenarios_json") }?
        {
            Some(s) if !s.trim().is_empty() => serde_json::from_str(s).map_err(|e| {
                Error::invalid(format!("scenarios_json is not an array of scenario ids: {e}"))
            })?,
            _ => Vec::new(),
        };
        // The self-test drives its syncs from the calling thread, and they set up per-thread state of Rust's
        // standard library (the thread's handle) that a C thread keeps until it exits, which the main thread never
        // does (valgrind: "possibly lost"). On a thread of its own, joined here, that state goes with the thread.
        // (Not a scoped thread: a scope sets up that state on the calling thread too.)
        let report = std::thread::Builder::new()
            .name("syncwright-selftest".into())
            .spawn(move || {
                syncwright::error::catch_panic(|| {
                    shared.engine()?.recovery_self_test(&scenarios, runs)
                })
            })
            .map_err(|e| Error::internal(format!("cannot start the self-test's thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(Error::internal("the self-test's thread panicked")))?;
        unsafe { put_json(out_json, serde_json::to_string(&report)) }
    })
}

/// The scenarios of the recovery self-test, in `*out_json` as a canonical JSON array (free it with
/// `sw_string_free`): `[{"id","name","description","category":"network"|"service"|"resource"|"data",
/// "error_category","expect_recovery"}]`; `id` is what `sw_recovery_self_test` takes.
/// Errors: `invalid_input` for NULL arguments.
///
/// Blocking: no.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_recovery_scenarios(
    engine: *mut sw_engine,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.recovery_scenarios())) }
    })
}
