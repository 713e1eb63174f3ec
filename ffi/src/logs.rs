//! Profile logs in the C ABI: the last entries, or a page, with a level filter.

use std::ffi::c_char;

use crate::engine::clear_out;
use crate::front::{engine_arg, level_arg, put_json};
use crate::{guard, str_arg, sw_engine, sw_error};

/// The last `lines` entries of profile `profile`'s log, oldest first, of `level` only when it is not NULL
/// ("debug", "info", "warning" or "error"), in `*out_json` as a canonical JSON array (free it with
/// `sw_string_free`): `[{"timestamp","level","message","data":{...}}]`. Every run writes entries (started,
/// finished with its counts, locks broken, errors). Errors: `not_found` when the engine has no profile `profile`;
/// `invalid_input` for NULL arguments or an unknown level.
///
/// Blocking: yes, for local disk only: it reads the profile's log files (in the engine's log folder).
///
/// # Safety
/// `engine` is NULL or a live engine; `profile` and `level` are NULL or NUL-terminated strings; `out_json` is NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_profile_logs(
    engine: *mut sw_engine,
    profile: *const c_char,
    lines: usize,
    level: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let profile = unsafe { str_arg(profile, "profile") }?;
        let level = unsafe { level_arg(level) }?;
        let entries = engine.profile_log_tail(profile, lines, level)?;
        unsafe { put_json(out_json, serde_json::to_string(&entries)) }
    })
}

/// Page `page` (from 1) of `per_page` (from 1) entries of profile `profile`'s log, oldest first, of `level` only
/// when it is not NULL, in `*out_json` as canonical JSON (free it with `sw_string_free`):
/// `{"logs":[{"timestamp","level","message","data"}],"pagination":{"page","per_page","total","pages"}}`.
/// Errors: `not_found` when the engine has no profile `profile`; `invalid_input` for NULL arguments, page or
/// per_page 0, or an unknown level.
///
/// Blocking: yes, for local disk only: it reads the profile's log files.
///
/// # Safety
/// `engine` is NULL or a live engine; `profile` and `level` are NULL or NUL-terminated strings; `out_json` is NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_profile_logs_page(
    engine: *mut sw_engine,
    profile: *const c_char,
    page: usize,
    per_page: usize,
    level: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let profile = unsafe { str_arg(profile, "profile") }?;
        let level = unsafe { level_arg(level) }?;
        let logs = engine.profile_log_page(profile, page, per_page, level)?;
        unsafe { put_json(out_json, serde_json::to_string(&logs)) }
    })
}
