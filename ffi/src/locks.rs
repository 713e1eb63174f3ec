//! Locks in the C ABI: unlocking a profile or every lock, and the lock self-test.

use std::ffi::c_char;

use crate::engine::clear_out;
use crate::front::{engine_arg, flag, put_json};
use crate::{guard, str_arg, sw_engine, sw_error};

/// Removes profile `name`'s locks (its own in the coordination folder, and its destination's wherever that lives)
/// without ever letting two runs write one destination, and stores what it did in `*out_json` as canonical JSON
/// (free it with `sw_string_free`): `{"removed":[{"name","location","reason":"stale"|"cancelled"|"forced",
/// "job_id"}],"cancelled_jobs":[job ids],"errors":[text]}`.
///
/// A stale lock (its holder gone, or its lease expired) is removed at once. One that a job of this engine holds
/// goes with that job, which is cancelled and waited for first. One that another process or host holds with a
/// fresh lease is an error of kind `conflict` naming the holders (details `{"holders":[{"lock","location",
/// "job_id","started_at","profile","pid","host","instance_id","lease_until"}]}`; nothing is removed), unless
/// `force` is non-zero: then it is removed and that run stops at its next lease renewal. A folder that cannot be
/// reached (an SFTP host that is down) is listed in "errors", not an error.
/// Errors: `not_found` when the engine has no profile `name`; `conflict` as above; `invalid_input` for NULL
/// arguments.
///
/// Blocking: yes: while a job of this engine that holds the lock is cancelled and waited for (a transfer stops
/// within one chunk), and for file I/O: the lock files in the coordination folder and at the destination (an
/// SFTP destination is reached over the network).
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_profile_unlock(
    engine: *mut sw_engine,
    name: *const c_char,
    force: i32,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let name = unsafe { str_arg(name, "name") }?;
        let report = engine.unlock_profile(name, flag(force))?;
        unsafe { put_json(out_json, serde_json::to_string(&report)) }
    })
}

/// `sw_profile_unlock` for every lock: those in the coordination folder, those of plain syncs to S3 and Drive
/// (`<state dir>/locks`), and every profile's destination lock, by the same rules (`force` non-zero removes
/// locks held elsewhere with a fresh lease). Stores what it did in `*out_json`, in the same shape as
/// `sw_profile_unlock` (free it with `sw_string_free`). Errors: `conflict` when a lock is held elsewhere and
/// `force` is 0 (nothing is removed then); `invalid_input` for NULL arguments.
///
/// Blocking: yes, as `sw_profile_unlock`: while the engine's own jobs that hold locks are cancelled and waited
/// for, and for the lock files of every profile's destination (SFTP ones over the network).
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_unlock_all(
    engine: *mut sw_engine,
    force: i32,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.unlock_all(flag(force))?)) }
    })
}

/// Checks that locking works in the coordination folder with a test lock named `name` (such as
/// "lock-self-test"): takes it, checks that a second take is refused, renews it and releases it. Stores
/// `{"name","location","steps":[text]}` in `*out_json` (free it with `sw_string_free`), every step having passed.
/// Errors: the error of the first step that failed (`permission` for a folder that cannot be written,
/// `internal` for a folder where a lock does not exclude, ...); `invalid_input` for NULL arguments or a name that is
/// not letters, digits, `-`, `_` and `.`.
///
/// Blocking: yes, briefly, for file I/O: it creates, renews and removes the test lock in the coordination folder
/// (often on a network volume).
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_lock_self_test(
    engine: *mut sw_engine,
    name: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let name = unsafe { str_arg(name, "name") }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.lock_self_test(name)?)) }
    })
}
