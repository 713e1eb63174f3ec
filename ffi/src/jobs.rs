//! Jobs in the C ABI: a job of the engine by id, the active and recent ones, a job's snapshot, and a profile's
//! run history.

use std::ffi::c_char;

use syncwright::{Error, ErrorKind};

use crate::engine::{clear_out, handle};
use crate::front::{engine_arg, flag, put_job, put_json};
use crate::{guard, str_arg, sw_engine, sw_error, sw_job};

/// A handle on the job `id` of this engine (running, or finished within the last hour), in `*out_job` (free it
/// with `sw_job_free`; it is another handle on the same job: freeing it neither cancels the job nor touches other
/// handles). Errors: `not_found` when the engine has no such job (a job of another process, or one that ended
/// more than an hour ago: see `sw_run_history`); `invalid_input` for NULL arguments.
///
/// Blocking: no.
///
/// # Safety
/// `engine` is NULL or a live engine; `id` is NULL or a NUL-terminated string; `out_job` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_job_get(
    engine: *mut sw_engine,
    id: *const c_char,
    out_job: *mut *mut sw_job,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_job, "out_job") }?;
        let handle = unsafe { handle(engine, "engine") }?;
        let id = unsafe { str_arg(id, "id") }?;
        let job = handle.shared.engine()?.job(id).ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("no job {id} in this engine"))
        })?;
        unsafe { put_job(out_job, handle, job) };
        Ok(())
    })
}

/// The jobs of this engine still running, oldest first, in `*out_json` as a canonical JSON array of job
/// snapshots (free it with `sw_string_free`): `[{"job_id","sync_id","profile","source","destination","started_at",
/// "status":"running","progress":{...},"finished_at":null}]` (the objects of `sw_job_snapshot`, without report).
/// Errors: `invalid_input` for NULL arguments.
///
/// Blocking: no.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_jobs_active(
    engine: *mut sw_engine,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let jobs: Vec<_> = engine.active_jobs().iter().map(|j| j.snapshot(false)).collect();
        unsafe { put_json(out_json, serde_json::to_string(&jobs)) }
    })
}

/// The `limit` most recent jobs of this engine (running, or finished within the last hour), newest first, in
/// `*out_json` as a canonical JSON array of job snapshots without report, as `sw_jobs_active` (free it with
/// `sw_string_free`). Errors: `invalid_input` for NULL arguments.
///
/// Blocking: no.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_jobs_recent(
    engine: *mut sw_engine,
    limit: usize,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let jobs: Vec<_> = engine.recent_jobs(limit).iter().map(|j| j.snapshot(false)).collect();
        unsafe { put_json(out_json, serde_json::to_string(&jobs)) }
    })
}

/// The job as it is now, in `*out_json` as canonical JSON (free it with `sw_string_free`):
/// `{"job_id","sync_id","profile","source","destination","started_at","status","progress":{...},"finished_at"}`,
/// "status" being "running" until it ended, and with `"report":{...}` (its report, as `sw_job_wait` gives it) once
/// it ended when `with_report` is non-zero. Errors: `invalid_input` for NULL arguments.
///
/// Blocking: no.
///
/// # Safety
/// `job` is NULL or a live job handle; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_job_snapshot(
    job: *const sw_job,
    with_report: i32,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let job = unsafe { handle(job, "job") }?;
        unsafe { put_json(out_json, serde_json::to_string(&job.job.snapshot(flag(with_report)))) }
    })
}

/// Page `page` (from 1) of `per_page` (1 to 1000) runs of profile `profile`, newest first, from the embedded store
/// (so runs of earlier processes too), in `*out_json` as canonical JSON (free it with `sw_string_free`):
/// `{"profile","runs":[{"job_id","sync_id","profile","source","destination","status","started_at","finished_at",
/// "duration_ms","error","stats","pid","host"}],"pagination":{"page","per_page","total","pages"}}`.
/// Errors: `not_found` when the engine has no profile `profile`; `invalid_input` for NULL arguments, page 0 or a
/// per_page out of range; `feature_disabled` for an engine without a store (`no_store`).
///
/// Blocking: yes, for local disk only: it reads the embedded store.
///
/// # Safety
/// `engine` is NULL or a live engine; `profile` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_run_history(
    engine: *mut sw_engine,
    profile: *const c_char,
    page: usize,
    per_page: usize,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let profile = unsafe { str_arg(profile, "profile") }?;
        let runs = engine.run_history(profile, page, per_page)?;
        unsafe { put_json(out_json, serde_json::to_string(&runs)) }
    })
}
