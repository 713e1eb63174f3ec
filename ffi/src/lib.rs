//! The C ABI of syncwright.
//!
//! Built as `libsyncwright_ffi.so` / `libsyncwright_ffi.a`; the header `include/syncwright.h` is generated from
//! this file by cbindgen (see `build.rs`) and opens with the rules every function follows: `sw_` prefix, a
//! fallible function returns `sw_error *` (NULL on success) and hands results through out-parameters, strings are
//! UTF-8 and NUL-terminated, a returned string is freed with [`sw_string_free`], every free function accepts NULL,
//! and every export runs under `catch_unwind` so that a panic becomes an `internal` error instead of an abort.
//!
//! This file holds the errors, strings, the version and the manifest; [`engine`] holds the engine, plans, jobs
//! (progress callback, cancel, wait) and event subscriptions.

#![allow(non_camel_case_types)]

pub mod engine;
pub use engine::*;
mod front;
pub mod jobs;
pub use jobs::*;
pub mod locks;
pub use locks::*;
pub mod logs;
pub use logs::*;
pub mod profiles;
pub use profiles::*;
pub mod recovery;
pub use recovery::*;
pub mod report;
pub use report::*;
pub mod usage;
pub use usage::*;

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::ptr;
use std::sync::OnceLock;

use syncwright::{Error, ErrorKind};

/// Not an error: the value `sw_error_code` returns for NULL.
pub const SW_OK: i32 = 0;
/// A path, job, profile or object does not exist.
pub const SW_ERR_NOT_FOUND: i32 = 1;
/// Bad arguments (including NULL pointers and invalid UTF-8), a bad path or name, a malformed document.
pub const SW_ERR_INVALID_INPUT: i32 = 2;
/// Already running, a lock held, a destination edited since the last run.
pub const SW_ERR_CONFLICT: i32 = 3;
/// The operating system or the service refused access.
pub const SW_ERR_PERMISSION: i32 = 4;
/// A connection failed or broke.
pub const SW_ERR_NETWORK: i32 = 5;
/// Something took longer than allowed.
pub const SW_ERR_TIMEOUT: i32 = 6;
/// Out of disk, memory or quota.
pub const SW_ERR_RESOURCE: i32 = 7;
/// Credentials missing, wrong or expired.
pub const SW_ERR_AUTH: i32 = 8;
/// Data did not match its checksum or could not be parsed.
pub const SW_ERR_CORRUPT: i32 = 9;
/// The work was cancelled.
pub const SW_ERR_CANCELLED: i32 = 10;
/// A service or backend is not available now.
pub const SW_ERR_UNAVAILABLE: i32 = 11;
/// The feature is switched off by configuration.
pub const SW_ERR_FEATURE_DISABLED: i32 = 12;
/// A bug or an unexpected state (including a panic inside the library).
pub const SW_ERR_INTERNAL: i32 = 13;

/// An error returned by a fallible function. Opaque: read it with `sw_error_code`, `sw_error_kind`,
/// `sw_error_message` and `sw_error_path`; free it with `sw_error_free`.
pub struct sw_error {
    kind: ErrorKind,
    message: CString,
    path: Option<CString>,
}

impl sw_error {
    fn from_error(e: &Error) -> sw_error {
        sw_error {
            kind: e.kind(),
            message: c_string_lossy(e.message()),
            path: e.path().map(c_string_lossy),
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
#[unsafe(no_mangle)]
pub extern "C" fn sw_version() -> *const c_char {
    static VERSION: OnceLock<CString> = OnceLock::new();
    guard_or(ptr::null(), || VERSION.get_or_init(|| c_string_lossy(syncwright::version())).as_ptr())
}

/// The stable numeric code of `err` (one of the `SW_ERR_*` constants, 1..13); `SW_OK` (0) when `err` is NULL.
///
/// # Safety
/// `err` is NULL or an error returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_error_code(err: *const sw_error) -> i32 {
    guard_or(SW_ERR_INTERNAL, || match unsafe { err.as_ref() } {
        Some(e) => e.kind.code(),
        None => SW_OK,
    })
}

/// The stable snake_case name of the kind of `err` ("not_found", "invalid_input", ...). A static string: do
/// not free it. NULL when `err` is NULL.
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
/// # Safety
/// `err` is NULL or an error returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_error_path(err: *const sw_error) -> *const c_char {
    guard_or(ptr::null(), || match unsafe { err.as_ref() } {
        Some(sw_error { path: Some(p), .. }) => p.as_ptr(),
        _ => ptr::null(),
    })
}

/// Frees an error. NULL is accepted and ignored.
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
/// Do not pass strings from `sw_version`, `sw_error_kind`, `sw_error_message` or `sw_error_path`.
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
            assert_eq!(k.code(), code, "{name}");
            assert_eq!(kind_name(*k).to_str().unwrap(), name);
        }
    }

    #[test]
    fn null_handling() {
        unsafe {
            assert_eq!(sw_error_code(ptr::null()), SW_OK);
            assert!(sw_error_kind(ptr::null()).is_null());
            assert!(sw_error_message(ptr::null()).is_null());
            assert!(sw_error_path(ptr::null()).is_null());
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
