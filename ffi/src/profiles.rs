//! Profiles in the C ABI: the engine's config, its profiles and their status, running one or all of them.

use std::ffi::{c_char, c_void};

use crate::engine::{clear_out, handle, sw_free_user_fn, sw_progress_fn};
use crate::front::{Release, engine_arg, progress_callback, put_job, put_json};
use crate::{guard, opt_str_arg, put_string, str_arg, sw_engine, sw_error, sw_job};

/// The profiles and settings the engine owns (read from the `config_file` or `config` given to `sw_engine_new`),
/// in `*out_json` as canonical JSON (free it with `sw_string_free`): the config file's schema,
/// `{"settings":{"coordination_dir","state_dir","log_dir","log_max_size","lock_lease",...},"profiles":{"<name>":
/// {"source","destination","command","preset","include","exclude","delete","interval",...}}}`. Secrets (passphrases,
/// keys, tokens) are never in it: they come out as null. An engine opened without a config has no profiles.
/// Errors: `invalid_input` for NULL arguments.
///
/// Blocking: no.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_engine_config(
    engine: *mut sw_engine,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        unsafe { put_json(out_json, serde_json::to_string(engine.config())) }
    })
}

/// The engine's profiles, in name order, in `*out_json` as a canonical JSON array (free it with
/// `sw_string_free`): `[{"name","kind":"sync"|"command","source","destination","command","interval_secs",
/// "delete"}]` (locations never carry credentials). Errors: `invalid_input` for NULL arguments.
///
/// Blocking: no.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_profiles(
    engine: *mut sw_engine,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.profiles())) }
    })
}

/// The status of profile `name` now, in `*out_json` as canonical JSON (free it with `sw_string_free`):
/// `{"profile","running","job":{"job_id","started_at","pid","host","this_engine"}|null,"state":"running"|"success"|
/// "error"|"idle","lock":<lock>|null,"destination_lock":<lock>|null,"destination_lock_error":text|null,
/// "last_run":{"job_id","status","outcome":"success"|"error","started_at","finished_at","duration_ms","error",
/// "stats"}|null,"config":<profile as in sw_profiles>,"summary":<the line sw_profile_status_text gives>}`, where a
/// lock is `{"info":{"name","profile","job_id","pid","host","started_at","lease_until",...},"state":"held"|
/// "stale","reason" (stale),"location"}`. "running" and "job" come from the profile's lock, so they show a run of
/// another process or host too; "last_run" is its last ended run in the embedded store (null without a store).
/// Errors: `not_found` when the engine has no profile `name`; `invalid_input` for NULL arguments; `permission`
/// and others when the coordination folder cannot be read.
///
/// Blocking: yes, for file I/O: it reads the lock files in the coordination folder (often on a network volume),
/// the destination's lock (an SFTP destination is reached over the network to look; one that cannot be reached is
/// `destination_lock_error`, not an error) and the embedded store.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_profile_status(
    engine: *mut sw_engine,
    name: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let name = unsafe { str_arg(name, "name") }?;
        let status = engine.profile_status(name)?;
        unsafe { put_json(out_json, serde_json::to_string(&status)) }
    })
}

/// The status of every profile, in name order, in `*out_json` as a canonical JSON array of the objects
/// `sw_profile_status` gives (free it with `sw_string_free`). Errors: `invalid_input` for NULL arguments;
/// `permission` and others when the coordination folder cannot be read.
///
/// Blocking: yes, for file I/O: as `sw_profile_status`, for every profile (each SFTP destination is reached over
/// the network to look at its lock).
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_profiles_status(
    engine: *mut sw_engine,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.profiles_status()?)) }
    })
}

/// The status of profile `name` (or of every profile when `name` is NULL, one line each, in name order) as text
/// for people, in `*out_text` (free it with `sw_string_free`), such as
/// `user_data: idle; last run completed at 2026-05-01T10:00:00Z (420 ms)` or
/// `user_data: running (job J, since T); never run`. Errors: as `sw_profile_status`.
///
/// Blocking: yes, for file I/O, as `sw_profile_status` (`sw_profiles_status` when `name` is NULL).
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a NUL-terminated string; `out_text` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_profile_status_text(
    engine: *mut sw_engine,
    name: *const c_char,
    out_text: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_text, "out_text") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let text = match unsafe { opt_str_arg(name, "name") }? {
            Some(name) => engine.profile_status(name)?.text(),
            None => {
                let lines: Vec<String> =
                    engine.profiles_status()?.iter().map(|s| s.text()).collect();
                lines.join("\n")
            }
        };
        unsafe { put_string(out_text, text) }
    })
}

/// Starts a run of profile `name` in the background and stores its handle in `*out_job` (free it with
/// `sw_job_free`); follow it as a job of `sw_sync_start` (`sw_job_wait` gives its report: a sync's, or for a
/// command profile `{"type":"command",...,"output"}`).
///
/// One run of a profile at a time, across processes and hosts that share the coordination folder: a profile
/// already running is an error of kind `conflict` (`SW_ERR_CONFLICT`) whose message names the running job and its
/// start (`profile P is already running (job J, since T, pid N on H)`) and whose details say the same as JSON
/// (`{"lock","location","job_id","started_at","profile","pid","host","instance_id"}`). The run then takes its
/// destination's lock as its first step, like every writing sync: a destination another run writes makes the job
/// fail at once (status "failed", the conflict in the report's "fatal").
///
/// `on_progress`, `user` and `free_user` are as for `sw_sync_start`, with the same ownership of `user`:
/// `free_user` is called exactly once, before this function returns when it fails or `on_progress` is NULL,
/// otherwise right after the final progress call (stage "done"), before the job counts as finished. (A command
/// profile's progress never reaches "done": then `free_user` is called when the engine drops the job's task, just
/// after the job finished, and at the latest when the engine shuts down.)
///
/// Errors: `not_found` when the engine has no profile `name`; `conflict` as above; `invalid_input` for NULL
/// arguments or text that is not UTF-8; `permission` and others when the lock cannot be written.
///
/// Blocking: for file I/O only: it takes the profile's lock in the coordination folder (often on a network
/// volume) and records the run in the embedded store. The sync itself, network included, runs on the engine's
/// threads.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a NUL-terminated string; `on_progress` and `free_user` are
/// NULL or functions callable from any thread with `user`; `out_job` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_profile_run(
    engine: *mut sw_engine,
    name: *const c_char,
    on_progress: sw_progress_fn,
    user: *mut c_void,
    free_user: sw_free_user_fn,
    out_job: *mut *mut sw_job,
) -> *mut sw_error {
    guard(move || {
        // Owned from here on: any early return, error or panic drops it, which calls `free_user`.
        let progress = progress_callback(on_progress, user, free_user, Release::AfterDone);
        unsafe { clear_out(out_job, "out_job") }?;
        let handle = unsafe { handle(engine, "engine") }?;
        let name = unsafe { str_arg(name, "name") }?;
        let job = handle.shared.engine()?.run_profile(name, progress)?;
        unsafe { put_job(out_job, handle, job) };
        Ok(())
    })
}

/// Starts a run of every profile, one after the other, as one job, and stores its handle in `*out_job` (free it
/// with `sw_job_free`); returns at once. Its report (from `sw_job_wait`) has `"type":"run_all"` and one result per
/// profile: `{"schema_version","type":"run_all","run_id","status","started_at","finished_at","duration_ms",
/// "stats":<sums>,"total","successful":[names],"failed":[names],"results":{"<name>":<report>|{"kind","error",
/// "details"}}}` (a profile that could not start, such as one already running, has the error object). Its status:
/// "completed" when every profile completed, "failed" when none did, "partial" otherwise; `sw_job_cancel` cancels
/// the profile running then and skips the rest ("cancelled"). `sw_report_text` makes it a line per profile.
///
/// `on_progress` gets the snapshots of each profile's run in turn (each ends with a stage "done" of its own).
/// Ownership of `user` is as for `sw_sync_start`, except when `free_user` is called: exactly once, before this
/// function returns when it fails or `on_progress` is NULL, otherwise once the run-all and every profile run are
/// done with it: just after the job finished (possibly after `sw_job_wait` returned), and at the latest when the
/// engine shuts down. So leave `user` to `free_user` once the job has started.
///
/// Errors: `invalid_input` for NULL arguments. (A profile that fails is a result in the report, not an error.)
///
/// Blocking: no: every profile, its locks included, runs on the engine's threads.
///
/// # Safety
/// `engine` is NULL or a live engine; `on_progress` and `free_user` are NULL or functions callable from any thread
/// with `user`; `out_job` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_run_all(
    engine: *mut sw_engine,
    on_progress: sw_progress_fn,
    user: *mut c_void,
    free_user: sw_free_user_fn,
    out_job: *mut *mut sw_job,
) -> *mut sw_error {
    guard(move || {
        let progress = progress_callback(on_progress, user, free_user, Release::WhenDropped);
        unsafe { clear_out(out_job, "out_job") }?;
        let handle = unsafe { handle(engine, "engine") }?;
        let job = handle.shared.engine()?.run_all(progress)?;
        unsafe { put_job(out_job, handle, job) };
        Ok(())
    })
}
