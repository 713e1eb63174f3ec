//! Local backups in the C ABI (core's `backup_*` calls): zip archives of the config's `[backup]` paths with a
//! manifest inside, rotation, verification and a checked restore. A `dir` argument may be NULL (the configured
//! backups folder, `[backup] dir`, default `<root>/backups`).

use std::ffi::c_char;
use std::path::Path;

use crate::engine::clear_out;
use crate::front::{engine_arg, flag, put_json};
use crate::{guard, opt_str_arg, str_arg, sw_engine, sw_error};

/// Makes a backup: a zip of the configured paths named `<UTC %Y%m%dT%H%M%SZ>[-label].zip` (`label` NULL for
/// none; letters, digits, `.`, `_`, `-`, at most 64) with `__meta__/cloud_sync/manifest.json` inside, then keeps
/// the `max_backups` newest archives (0: `[backup] max_backups`; 1 to 50). The result in `*out_json`:
/// `{"name","path","size","created_at","label","entries","bytes","rotated":[names],"warnings":[text]}`.
/// Errors: `invalid_input` for a bad label or count (nothing is written); `permission` and others from the
/// files; `cancelled` when the engine closes meanwhile (no archive is left).
///
/// Blocking: yes: reads every file of the paths and writes the archive (fsynced before it is renamed).
///
/// # Safety
/// `engine` is NULL or a live engine; `label` and `dir` are NULL or NUL-terminated strings; `out_json` is NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_backup_create(
    engine: *mut sw_engine,
    label: *const c_char,
    max_backups: u32,
    dir: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let label = unsafe { opt_str_arg(label, "label") }?;
        let dir = unsafe { opt_str_arg(dir, "dir") }?.map(Path::new);
        let max = (max_backups > 0).then_some(max_backups as usize);
        unsafe {
            put_json(out_json, serde_json::to_string(&engine.backup_create(label, max, dir)?))
        }
    })
}

/// The archives of the backups folder, newest first, in `*out_json`: `[{"name","path","size","created_at",
/// "label","entries"}]` (only syncwright's: a user's own zips there are not listed). A missing folder is an
/// empty list. Errors: `invalid_input` for NULL arguments.
///
/// Blocking: yes: opens each archive's central directory.
///
/// # Safety
/// `engine` is NULL or a live engine; `dir` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_backup_list(
    engine: *mut sw_engine,
    dir: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let dir = unsafe { opt_str_arg(dir, "dir") }?.map(Path::new);
        unsafe { put_json(out_json, serde_json::to_string(&engine.backup_list(dir)?)) }
    })
}

/// Verifies archive `name` (a name in the backups folder, or a path) without restoring it, in `*out_json`:
/// `{"name","entries","bytes","ok","problems":[{"path","problem"}]}`. Errors: `not_found` for a missing archive;
/// `corrupt` for one that is refused as a whole (an unsafe entry name, no manifest, damage), with details naming
/// the entry.
///
/// Blocking: yes: reads the whole archive.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` and `dir` are NULL or NUL-terminated strings; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_backup_verify(
    engine: *mut sw_engine,
    name: *const c_char,
    dir: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let name = unsafe { str_arg(name, "name") }?;
        let dir = unsafe { opt_str_arg(dir, "dir") }?.map(Path::new);
        unsafe { put_json(out_json, serde_json::to_string(&engine.backup_verify(name, dir)?)) }
    })
}

/// Restores archive `name` (a name in the backups folder, or a path) into `target` (NULL: the `[backup]` root).
/// Every entry name is checked before anything is written (no absolute path, `..`, drive letter, backslash, NUL,
/// symlink entry, duplicate, or entry outside the manifest): a refused archive writes nothing. Each file is
/// checked against the manifest's SHA-256 while it is extracted and renamed into place; existing files are kept
/// unless `replace_existing` is non-zero. The result in `*out_json`: `{"archive","target","status":"completed"|
/// "partial","restored":[paths],"kept":[paths],"failed":[{"path","error"}],"bytes"}`. Errors: `not_found`;
/// `corrupt` for a refused archive; `cancelled` when the engine closes meanwhile.
///
/// Blocking: yes: reads the archive and writes every file (each fsynced before its rename).
///
/// # Safety
/// `engine` is NULL or a live engine; `name`, `target` and `dir` are NULL or NUL-terminated strings; `out_json`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_backup_restore(
    engine: *mut sw_engine,
    name: *const c_char,
    target: *const c_char,
    replace_existing: i32,
    dir: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let name = unsafe { str_arg(name, "name") }?;
        let target = unsafe { opt_str_arg(target, "target") }?.map(Path::new);
        let dir = unsafe { opt_str_arg(dir, "dir") }?.map(Path::new);
        let r = engine.backup_restore(name, target, flag(replace_existing), dir)?;
        unsafe { put_json(out_json, serde_json::to_string(&r)) }
    })
}
