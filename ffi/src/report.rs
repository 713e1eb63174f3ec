//! Reports and statuses in the C ABI: the outcome word of a status, and a report as text for people.

use std::ffi::{CStr, c_char};
use std::ptr;

use syncwright::{Error, Status, SyncReport};

use crate::engine::clear_out;
use crate::{guard, guard_or, put_string, str_arg, sw_error};

/// The outcome word of a status, for documents that know only success and error (document 5's `lastStatus`):
/// "success" for "completed", "running" for "queued" and "running", "error" for "partial", "failed", "cancelled"
/// and "interrupted". A static string: do not free it. NULL when `status` is NULL, not UTF-8 or not a status word.
///
/// Blocking: no.
///
/// # Safety
/// `status` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_status_outcome(status: *const c_char) -> *const c_char {
    guard_or(ptr::null(), || {
        let Ok(word) = (unsafe { str_arg(status, "status") }) else { return ptr::null() };
        match serde_json::from_value::<Status>(serde_json::Value::String(word.to_string())) {
            Ok(s) => outcome_name(s.outcome()).as_ptr(),
            Err(_) => ptr::null(),
        }
    })
}

/// The static C string of an outcome word of `Status::outcome`.
fn outcome_name(word: &str) -> &'static CStr {
    match word {
        "success" => c"success",
        "running" => c"running",
        _ => c"error",
    }
}

/// A report (the canonical JSON `sw_job_wait` gives) as the short text for people that document 1 calls its
/// `output`, in `*out_text` (free it with `sw_string_free`): the summary line
/// (`completed: 3 created, 0 updated, 0 deleted, 0 unchanged, 0 skipped, 0 errors, 0 warnings; 1.20 MB in 0.42 s`,
/// then `: <error>` for a run that failed as a whole), then the first errors one per line (at most 10, and how many
/// more); a command profile's output after its summary; for a run-all (`"type":"run_all"`) one line per profile
/// (`<name>: <summary>`), then `N of M profiles completed`.
/// Errors: `invalid_input` for NULL arguments, text that is not UTF-8, or JSON that is not a report.
///
/// Blocking: no.
///
/// # Safety
/// `report_json` is NULL or a NUL-terminated string; `out_text` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_report_text(
    report_json: *const c_char,
    out_text: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_text, "out_text") }?;
        let json = unsafe { str_arg(report_json, "report_json") }?;
        let report: SyncReport = serde_json::from_str(json)
            .map_err(|e| Error::invalid(format!("report_json is not a report: {e}")))?;
        unsafe { put_string(out_text, report.text()) }
    })
}
