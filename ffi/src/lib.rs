//! The C ABI of syncwright.
//!
//! Built as `libsyncwright_ffi.so` / `libsyncwright_ffi.a`; the header `include/syncwright.h` is generated from
//! this file by cbindgen (see `build.rs`) and opens with the rules every function follows: `sw_` prefix, a
//! fallible function returns `sw_error *` (NULL on success) and hands results through out-parameters, strings are
//! UTF-8 and NUL-terminated, a returned string is freed with [`sw_string_free`], every free function accepts NULL,
//! and every export runs under `catch_unwind` so that a panic becomes an `internal` error instead of an abort.
//!
//! This file holds the errors, strings, the version and the manifest; [`engine`] holds the engine, plans, jobs
//! (progress callback, cancel, wait) and event subscriptions; the other modules hold the rest of the front door,
//! one per capability as in core's `engine/` ([`profiles`], [`locks`], [`jobs`], [`logs`], [`usage`],
//! [`recovery`], [`report`]).

#![allow(non_camel_case_types)]

pub mod backup;
pub use backup::*;
pub mod cloud;
pub use cloud::*;
pub mod engine;
pub use engine::*;
mod front;
pub mod jobs;
pub use jobs::*;
pub mod locks;
pub use locks::*;
pub mod logs;
pub use logs::*;
pub mod media;
pub use media::*;
pub mod profiles;
pub use profiles::*;
pub mod recovery;
pub use recovery::*;
pub mod report;
pub use report::*;
pub mod usage;
pub use usage::*;
pub mod vault;
pub use vault::*;

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::ptr;
use std::sync::OnceLock;

use syncwright::{Error, ErrorKind};

/// The stable numeric code of an error, as `sw_error_code` returns it: one value per error kind, in the order of
/// the kinds (their numbers never change; a new kind gets the next number). `SW_OK` (0) is never an error.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum sw_error_code_t {
    /// Not an error: the value `sw_error_code` returns for NULL.
    SW_OK = 0,
    /// A path, job, profile or object does not exist.
    SW_ERR_NOT_FOUND = 1,
    /// Bad arguments (including NULL pointers and invalid UTF-8), a bad path or name, a malformed document.
    SW_ERR_INVALID_INPUT = 2,
    /// Already running, a lock held, a destination edited since the last run.
    SW_ERR_CONFLICT = 3,
    /// The operating system or the service refused access.
    SW_ERR_PERMISSION = 4,
    /// A connection failed or broke.
    SW_ERR_NETWORK = 5,
    /// Something took longer than allowed.
    SW_ERR_TIMEOUT = 6,
    /// Out of disk, memory or quota.
    SW_ERR_RESOURCE = 7,
    /// Credentials missing, wrong or expired.
    SW_ERR_AUTH = 8,
    /// Data did not match its checksum or could not be parsed.
    SW_ERR_CORRUPT = 9,
    /// The work was cancelled.
    SW_ERR_CANCELLED = 10,
    /// A service or backend is not available now.
    SW_ERR_UNAVAILABLE = 11,
    /// The feature is switched off by configuration.
    SW_ERR_FEATURE_DISABLED = 12,
    /// A bug or an unexpected state (including a panic inside the library).
    SW_ERR_INTERNAL = 13,
}

pub use sw_error_code_t::*;

impl sw_error_code_t {
    /// The code of an error kind (its number is `ErrorKind::code`; a test checks they agree).
    pub fn of(kind: ErrorKind) -> sw_error_code_t {
        match kind {
            ErrorKind::NotFound => SW_ERR_NOT_FOUND,
            ErrorKind::InvalidInput => SW_ERR_INVALID_INPUT,
            ErrorKind::Conflict => SW_ERR_CONFLICT,
            ErrorKind::Permission => SW_ERR_PERMISSION,
            ErrorKind::Network => SW_ERR_NETWORK,
            ErrorKind::Timeout => SW_ERR_TIMEOUT,
            ErrorKind::Resource => SW_ERR_RESOURCE,
            ErrorKind::Auth => SW_ERR_AUTH,
            ErrorKind::Corrupt => SW_ERR_CORRUPT,
            ErrorKind::Cancelled => SW_ERR_CANCELLED,
            ErrorKind::Unavailable => SW_ERR_UNAVAILABLE,
            ErrorKind::FeatureDisabled => SW_ERR_FEATURE_DISABLED,
            ErrorKind::Internal => SW_ERR_INTERNAL,
        }
    }
}

/// An error returned by a fallible function. Opaque: read it with `sw_error_code`, `sw_error_kind`,
/// `sw_error_message`, `sw_error_path` and `sw_error_details`; free it with `sw_error_free`.
pub struct sw_error {
    kind: ErrorKind,
    message: CString,
    path: Option<CString>,
    /// The core error's structured details as JSON, when it has any.
    details: Option<CString>,
}

impl sw_error {
    /// Everything the core error carries: kind, message, path and details.
    fn from_error(e: &Error) -> sw_error {
        sw_error {
            kind: e.kind(),
            message: c_string_lossy(e.message()),
            path: e.path().map(c_string_lossy),
            // A JSON text escapes control characters, so it never holds a NUL byte.
            details: e.details().map(|d| c_string_lossy(&d.to_string())),
        }
    }
}

/// A C string from Rust text; a NUL inside (which C cannot carry) becomes U+FFFD.
fn c_string_lossy(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

fn into_raw_error(e: &Error) -> *mut sw_error {
    Box::into_raw(Box::new(sw_error::from_error(e)))
}

/// Runs a fallible body under the panic guard and turns its outcome into the `sw_error *` convention.
fn guard(body: impl FnOnce() -> syncwright::Result<()>) -> *mut sw_error {
    match syncwright::error::catch_panic(body) {
        Ok(()) => ptr::null_mut(),
        // Building the error allocates; if even that panics, report "no error object" rather than abort.
        Err(e) => catch_unwind(AssertUnwindSafe(|| into_raw_error(&e))).unwrap_or(ptr::null_mut()),
    }
}

/// Runs an infallible body under the panic guard; a panic gives `fallback`.
fn guard_or<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Reads a required UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid for `'a`.
unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> syncwright::Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|e| Error::invalid(format!("{name} is not valid UTF-8: {e}")))
}

/// Reads an optional UTF-8 string argument (NULL gives `None`).
///
/// # Safety
/// As [`str_arg`].
unsafe fn opt_str_arg<'a>(p: *const c_char, name: &str) -> syncwright::Result<Option<&'a str>> {
    if p.is_null() { Ok(None) } else { unsafe { str_arg(p, name) }.map(Some) }
}

/// Hands a Rust string to C through an out-parameter.
///
/// # Safety
/// `out` is non-NULL and writable.
unsafe fn put_string(out: *mut *mut c_char, s: String) -> syncwright::Result<()> {
    let c = CString::new(s).map_err(|_| Error::internal("result contains a NUL byte"))?;
    // SAFETY: checked non-NULL by the caller.
    unsafe { *out = c.into_raw() };
    Ok(())
}

/// The static, NUL-terminated name of every kind, built once from `ErrorKind::ALL`.
fn kind_name(kind: ErrorKind) -> &'static CStr {
    static NAMES: OnceLock<Vec<(ErrorKind, CString)>> = OnceLock::new();
    let names = NAMES
        .get_or_init(|| ErrorKind::ALL.iter().map(|&k| (k, c_string_lossy(k.as_str()))).collect());
    names.iter().find(|(k, _)| *k == kind).map(|(_, n)| n.as_c_str()).unwrap_or(c"internal")
}

/// The version of the syncwright library, such as "0.1.0". A static string: do not free it.
/// NULL only if the library failed internally.
///
/// Blocking: no.
#[unsafe(no_mangle)]
pub extern "C" fn sw_version() -> *const c_char {
    static VERSION: OnceLock<CString> = OnceLock::new();
    guard_or(ptr::null(), || VERSION.get_or_init(|| c_string_lossy(syncwright::version())).as_ptr())
}

/// The stable numeric code of `err`: one of the `SW_ERR_*` values of `sw_error_code_t` (1..13); `SW_OK` (0)
/// when `err` is NULL.
///
/// Blocking: no.
///
/// # Safety
/// `err` is NULL or an error returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_error_code(err: *const sw_error) -> sw_error_code_t {
    guard_or(SW_ERR_INTERNAL, || match unsafe { err.as_ref() } {
        Some(e) => sw_error_code_t::of(e.kind),
        None => SW_OK,
    })
}

/// The stable snake_case name of the kind of `err` ("not_found", "invalid_input", ...). A static string: do
/// not free it. NULL when `err` is NULL.
///
/// Blocking: no.
///
/// # Safety
/// `err` is NULL or an error returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_error_kind(err: *const sw_error) -> *const c_char {
    guard_or(ptr::null(), || match unsafe { err.as_ref() } {
        Some(e) => kind_name(e.kind).as_ptr(),
        None => ptr::null(),
    })
}

/// The message of `err`, for a person. Borrowed: valid until `sw_error_free(err)`. NULL when `err` is NULL.
///
/// Blocking: no.
///
/// # Safety
/// `err` is NULL or an error returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_error_message(err: *const sw_error) -> *const c_char {
    guard_or(ptr::null(), || match unsafe { err.as_ref() } {
        Some(e) => e.message.as_ptr(),
        None => ptr::null(),
    })
}

/// The path the error concerns, when there is one. Borrowed: valid until `sw_error_free(err)`. NULL when
/// `err` is NULL or the error concerns no path.
///
/// Blocking: no.
///
/// # Safety
/// `err` is NULL or an error returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_error_path(err: *const sw_error) -> *const c_char {
    guard_or(ptr::null(), || match unsafe { err.as_ref() } {
        Some(sw_error { path: Some(p), .. }) => p.as_ptr(),
        _ => ptr::null(),
    })
}

/// The structured details of `err` as a JSON object, when it has any: the facts a program acts on, such as who
/// holds a lock for a `conflict` (`{"lock","location","job_id","started_at","profile","destination","pid",
/// "host","instance_id"}`) or how long to wait for a rate limit (`{"retry_after_secs": 30}`); the same object
/// as the `details` of the Rust `Error`, of a report's errors and of the Python and Node errors. Borrowed:
/// valid until `sw_error_free(err)`. NULL when `err` is NULL or the error has no details.
///
/// Blocking: no.
///
/// # Safety
/// `err` is NULL or an error returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_error_details(err: *const sw_error) -> *const c_char {
    guard_or(ptr::null(), || match unsafe { err.as_ref() } {
        Some(sw_error { details: Some(d), .. }) => d.as_ptr(),
        _ => ptr::null(),
    })
}

/// Frees an error. NULL is accepted and ignored.
///
/// Blocking: no.
///
/// # Safety
/// `err` is NULL or an error returned by this library, freed only once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_error_free(err: *mut sw_error) {
    if !err.is_null() {
        // SAFETY: `err` came from Box::into_raw in this library (caller's contract).
        guard_or((), || drop(unsafe { Box::from_raw(err) }));
    }
}

/// Frees a string returned by this library through an out-parameter. NULL is accepted and ignored.
/// Do not pass strings from `sw_version`, `sw_error_kind`, `sw_error_message`, `sw_error_path` or
/// `sw_error_details`.
///
/// Blocking: no.
///
/// # Safety
/// `s` is NULL or a string returned by this library through an out-parameter, freed only once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` came from CString::into_raw in this library (caller's contract).
        guard_or((), || drop(unsafe { CString::from_raw(s) }));
    }
}

/// Scans the local folder `root` and returns, in `*out_json` (free it with `sw_string_free`), the JSON object
/// `{"manifest": <canonical manifest>, "warnings": [...], "errors": [...]}`: files that could not be read are
/// listed in "errors" rather than silently left out.
///
/// `options_json` is optional (NULL for the defaults): a JSON object with any of `name`, `include`, `exclude`,
/// `links` ("preserve", "follow" or "skip"), `hash` (default true), `threads` and `state_dir` (whose hash cache
/// is reused), as in the Rust, Python and Node APIs. `*out_json` is set to NULL first and filled only on success.
/// Errors: `invalid_input` for a NULL `root` or `out_json`, text that is not UTF-8, or bad options;
/// `not_found` when `root` does not exist; `permission`, `internal` and others from the scan.
///
/// Blocking: yes, until the scan is done: it walks the whole tree and hashes every file the hash cache does not
/// know (on the calling thread and a pool of scan threads), then waits until those threads have exited.
///
/// # Safety
/// `root` and `options_json` are NULL or NUL-terminated strings; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_manifest_build(
    root: *const c_char,
    options_json: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        if out_json.is_null() {
            return Err(Error::invalid("out_json is NULL"));
        }
        // SAFETY: non-NULL, writable by the caller's contract.
        unsafe { *out_json = ptr::null_mut() };
        let root = unsafe { str_arg(root, "root") }?;
        let options = unsafe { opt_str_arg(options_json, "options_json") }?;
        let json = syncwright::manifest::build_manifest_json(Path::new(root), options);
        engine::settle_scan_threads();
        unsafe { put_string(out_json, json?) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_constants_match_core() {
        let consts = [
            ("not_found", SW_ERR_NOT_FOUND),
            ("invalid_input", SW_ERR_INVALID_INPUT),
            ("conflict", SW_ERR_CONFLICT),
            ("permission", SW_ERR_PERMISSION),
            ("network", SW_ERR_NETWORK),
            ("timeout", SW_ERR_TIMEOUT),
            ("resource", SW_ERR_RESOURCE),
            ("auth", SW_ERR_AUTH),
            ("corrupt", SW_ERR_CORRUPT),
            ("cancelled", SW_ERR_CANCELLED),
            ("unavailable", SW_ERR_UNAVAILABLE),
            ("feature_disabled", SW_ERR_FEATURE_DISABLED),
            ("internal", SW_ERR_INTERNAL),
        ];
        assert_eq!(
            consts.len(),
            ErrorKind::ALL.len(),
            "a new ErrorKind needs an SW_ERR_* constant"
        );
        for (k, (name, code)) in ErrorKind::ALL.iter().zip(consts) {
            assert_eq!(k.as_str(), name);
            assert_eq!(sw_error_code_t::of(*k), code, "{name}");
            assert_eq!(k.code(), code as i32, "{name}");
            assert_eq!(kind_name(*k).to_str().unwrap(), name);
        }
        assert_eq!(SW_OK as i32, 0);
        // The C enum is an `int`, as the `int32_t` the function returned before it was an enum.
        assert_eq!(std::mem::size_of::<sw_error_code_t>(), std::mem::size_of::<i32>());
    }

    #[test]
    fn null_handling() {
        unsafe {
            assert_eq!(sw_error_code(ptr::null()), SW_OK);
            assert!(sw_error_kind(ptr::null()).is_null());
            assert!(sw_error_message(ptr::null()).is_null());
            assert!(sw_error_path(ptr::null()).is_null());
            assert!(sw_error_details(ptr::null()).is_null());
            sw_error_free(ptr::null_mut());
            sw_string_free(ptr::null_mut());

            let mut out: *mut c_char = c"garbage".as_ptr() as *mut c_char;
            let err = sw_manifest_build(ptr::null(), ptr::null(), &mut out);
            assert!(out.is_null(), "out-parameter is cleared first");
            assert_eq!(sw_error_code(err), SW_ERR_INVALID_INPUT);
            assert_eq!(CStr::from_ptr(sw_error_kind(err)).to_str().unwrap(), "invalid_input");
            assert_eq!(CStr::from_ptr(sw_error_message(err)).to_str().unwrap(), "root is NULL");
            sw_error_free(err);

            let err = sw_manifest_build(c"/".as_ptr(), ptr::null(), ptr::null_mut());
            assert_eq!(sw_error_code(err), SW_ERR_INVALID_INPUT);
            sw_error_free(err);
        }
    }

    #[test]
    fn invalid_utf8_is_invalid_input() {
        let bad = [0x66u8, 0x6f, 0xff, 0x00];
        let mut out = ptr::null_mut();
        unsafe {
            let err = sw_manifest_build(bad.as_ptr().cast(), ptr::null(), &mut out);
            assert_eq!(sw_error_code(err), SW_ERR_INVALID_INPUT);
            let msg = CStr::from_ptr(sw_error_message(err)).to_str().unwrap();
            assert!(msg.starts_with("root is not valid UTF-8"), "{msg}");
            sw_error_free(err);
            let err = sw_manifest_build(c"/".as_ptr(), bad.as_ptr().cast(), &mut out);
            assert_eq!(sw_error_code(err), SW_ERR_INVALID_INPUT);
            sw_error_free(err);
        }
        assert!(out.is_null());
    }

    #[test]
    fn panic_becomes_internal_error() {
        let err = guard(|| panic!("boom"));
        unsafe {
            assert_eq!(sw_error_code(err), SW_ERR_INTERNAL);
            let msg = CStr::from_ptr(sw_error_message(err)).to_str().unwrap();
            assert_eq!(msg, "panic inside syncwright: boom");
            sw_error_free(err);
        }
        assert_eq!(guard_or(7, || panic!("boom")), 7);
    }

    #[test]
    fn messages_keep_text_and_path() {
        let e = Error::new(ErrorKind::NotFound, "no such folder: /x\0y").with_path("/x");
        let err = into_raw_error(&e);
        unsafe {
            assert_eq!(sw_error_code(err), SW_ERR_NOT_FOUND);
            assert_eq!(
                CStr::from_ptr(sw_error_message(err)).to_str().unwrap(),
                "no such folder: /x\u{FFFD}y"
            );
            assert_eq!(CStr::from_ptr(sw_error_path(err)).to_str().unwrap(), "/x");
            assert!(sw_error_details(err).is_null(), "no details, NULL");
            sw_error_free(err);
        }
    }

    /// A real conflict from core (a lock taken twice), converted as every failing export converts its error: the
    /// details cross as the same JSON object, borrowed from the error (the same pointer on every call).
    #[test]
    fn details_of_a_lock_conflict_cross_as_json() {
        use syncwright::locks::{LockDir, LockOwner};
        let tmp = tempfile::tempdir().unwrap();
        let dir = LockDir::new(tmp.path());
        let owner = LockOwner {
            profile: Some("photos".into()),
            job_id: Some("job-1".into()),
            destination: Some("/mnt/nas/photos".into()),
            started_at: None,
        };
        let _held = dir.acquire("photos", &owner).expect("first acquire");
        let err = guard(|| dir.acquire("photos", &owner).map(drop));
        let core = dir.acquire("photos", &owner).expect_err("still held");
        unsafe {
            assert_eq!(sw_error_code(err), SW_ERR_CONFLICT);
            let d = sw_error_details(err);
            assert!(!d.is_null(), "a conflict has details");
            assert_eq!(d, sw_error_details(err), "borrowed: the same string each time");
            let json: serde_json::Value = serde_json::from_str(CStr::from_ptr(d).to_str().unwrap())
                .expect("details are JSON");
            assert_eq!(Some(&json), core.details());
            assert_eq!(json["job_id"], "job-1");
            assert_eq!(json["profile"], "photos");
            assert_eq!(json["destination"], "/mnt/nas/photos");
            assert_eq!(json["pid"], std::process::id());
            sw_error_free(err);
        }
    }

    #[test]
    fn version_is_static() {
        let v = unsafe { CStr::from_ptr(sw_version()) };
        assert_eq!(v.to_str().unwrap(), syncwright::version());
        assert_eq!(sw_version(), sw_version());
    }
}
