//! The secrets vault in the C ABI (core's `vault_*` calls). A `passphrase` argument may be NULL: the engine then
//! uses the passphrase it holds from an earlier call, else `SYNCWRIGHT_SECRETS_KEY` from the environment. The
//! engine keeps the vault unlocked after a call that opened it (`sw_vault_lock` forgets it), and profile runs
//! whose remote options name a `credentials_key` read their credentials from it.

use std::ffi::c_char;

use syncwright::Error;
use syncwright::vault::Secret;

use crate::engine::clear_out;
use crate::front::{engine_arg, put_json};
use crate::{guard, opt_str_arg, str_arg, sw_engine, sw_error};

/// An optional passphrase argument.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn pass_arg(p: *const c_char, what: &str) -> syncwright::Result<Option<Secret>> {
    Ok(unsafe { opt_str_arg(p, what) }?.map(Secret::new))
}

/// Where the engine's vault is, in `*out_json` (free it with `sw_string_free`): `{"schema_version":1,"path",
/// "exists","unlocked","kdf":{"m_kib","t","p"},"passphrase_env","passphrase_env_set"}`. Reads no secret.
/// Errors: `invalid_input` for NULL arguments or bad `[settings.vault_kdf]`.
///
/// Blocking: no (one stat of the vault file).
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_status(
    engine: *mut sw_engine,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.vault_status()?)) }
    })
}

/// Creates an empty vault under `passphrase` (NULL: `SYNCWRIGHT_SECRETS_KEY`) and keeps it unlocked; its status
/// (as `sw_vault_status`) in `*out_json`. Errors: `conflict` when the vault exists; `auth` when no passphrase is
/// given or set; `invalid_input` for NULL arguments.
///
/// Blocking: yes: derives the key (Argon2id, by default 64 MiB and about a second) and writes the file.
///
/// # Safety
/// `engine` is NULL or a live engine; `passphrase` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_init(
    engine: *mut sw_engine,
    passphrase: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let pass = unsafe { pass_arg(passphrase, "passphrase") }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.vault_init(pass.as_ref())?)) }
    })
}

/// Unlocks the vault and keeps it so; its status in `*out_json`. Errors: `auth` for a wrong or missing
/// passphrase; `corrupt` for a damaged file (see `sw_vault_restore_backup`); `invalid_input` for a vault version
/// this library does not read; `not_found` when there is no vault.
///
/// Blocking: yes: derives the key (Argon2id) and reads the file.
///
/// # Safety
/// `engine` is NULL or a live engine; `passphrase` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_unlock(
    engine: *mut sw_engine,
    passphrase: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let pass = unsafe { pass_arg(passphrase, "passphrase") }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.vault_unlock(pass.as_ref())?)) }
    })
}

/// Forgets the unlocked vault (the next call that needs it unlocks it again); its status in `*out_json`.
/// Errors: `invalid_input` for NULL arguments.
///
/// Blocking: no.
///
/// # Safety
/// `engine` is NULL or a live engine; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_lock(
    engine: *mut sw_engine,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.vault_lock()?)) }
    })
}

/// The vault's keys (never their values) as a JSON array of strings in `*out_json`. Errors: as
/// `sw_vault_unlock`.
///
/// Blocking: yes: reads the file (and derives the key when the vault is not unlocked yet).
///
/// # Safety
/// `engine` is NULL or a live engine; `passphrase` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_keys(
    engine: *mut sw_engine,
    passphrase: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let pass = unsafe { pass_arg(passphrase, "passphrase") }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.vault_keys(pass.as_ref())?)) }
    })
}

/// The value of `key` (dotted keys reach into objects: `cloud_sync.gdrive.credentials`) in `*out_json`:
/// `{"key","value"}`, the value a string or an object. It is a secret: free it with `sw_string_free` as soon as
/// it is used. Errors: `not_found` when the vault has no such key; `invalid_input` for a key that is not dotted
/// names of letters, digits, `_` and `-`; otherwise as `sw_vault_unlock`.
///
/// Blocking: yes: reads the file (and derives the key when the vault is not unlocked yet).
///
/// # Safety
/// `engine` is NULL or a live engine; `key` and `passphrase` are NULL or NUL-terminated strings; `out_json` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_get(
    engine: *mut sw_engine,
    key: *const c_char,
    passphrase: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let key = unsafe { str_arg(key, "key") }?;
        let pass = unsafe { pass_arg(passphrase, "passphrase") }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.vault_get(key, pass.as_ref())?)) }
    })
}

/// Sets `key` to `value_json` (a JSON string or object: `"hunter2"`, `{"access_key_id":...}`) and writes the
/// vault (the replaced envelope becomes its newest inline backup); the keys after it in `*out_json` (a JSON
/// array). Errors: `invalid_input` for a bad key, or a value that is not a JSON string or object (the value is
/// never quoted in the message); otherwise as `sw_vault_unlock`.
///
/// Blocking: yes: reads and writes the file under its lock (and derives the key when the vault is not unlocked
/// yet, or when its parameters are weaker than the configured ones).
///
/// # Safety
/// `engine` is NULL or a live engine; `key`, `value_json` and `passphrase` are NULL or NUL-terminated strings;
/// `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_set(
    engine: *mut sw_engine,
    key: *const c_char,
    value_json: *const c_char,
    passphrase: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let key = unsafe { str_arg(key, "key") }?;
        let value: serde_json::Value =
            serde_json::from_str(unsafe { str_arg(value_json, "value_json") }?)
                .map_err(|_| Error::invalid("value_json is not JSON (a string or an object)"))?;
        let pass = unsafe { pass_arg(passphrase, "passphrase") }?;
        unsafe {
            put_json(out_json, serde_json::to_string(&engine.vault_set(key, value, pass.as_ref())?))
        }
    })
}

/// Removes `key`; the keys after it in `*out_json` (a JSON array). Errors: `not_found` when there is no such
/// key; otherwise as `sw_vault_set`.
///
/// Blocking: yes, as `sw_vault_set`.
///
/// # Safety
/// `engine` is NULL or a live engine; `key` and `passphrase` are NULL or NUL-terminated strings; `out_json` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_delete(
    engine: *mut sw_engine,
    key: *const c_char,
    passphrase: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let key = unsafe { str_arg(key, "key") }?;
        let pass = unsafe { pass_arg(passphrase, "passphrase") }?;
        unsafe {
            put_json(out_json, serde_json::to_string(&engine.vault_delete(key, pass.as_ref())?))
        }
    })
}

/// Re-encrypts the vault under `new_passphrase` (NULL: `SYNCWRIGHT_SECRETS_KEY_NEW`) with a new salt; earlier
/// envelopes stay as backups under their own passphrase. The engine keeps it unlocked under the new one; its
/// status in `*out_json`. Errors: `auth` for a wrong current passphrase or no new one; `invalid_input` for an
/// empty new one; otherwise as `sw_vault_unlock`.
///
/// Blocking: yes: derives the new key (Argon2id) and writes the file.
///
/// # Safety
/// `engine` is NULL or a live engine; `new_passphrase` and `passphrase` are NULL or NUL-terminated strings;
/// `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_change_passphrase(
    engine: *mut sw_engine,
    new_passphrase: *const c_char,
    passphrase: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let new = unsafe { pass_arg(new_passphrase, "new_passphrase") }?;
        let pass = unsafe { pass_arg(passphrase, "passphrase") }?;
        let st = engine.vault_change_passphrase(new.as_ref(), pass.as_ref())?;
        unsafe { put_json(out_json, serde_json::to_string(&st)) }
    })
}

/// When the vault's current envelope is damaged, writes back the newest inline backup that opens, in
/// `*out_json`: `{"restored":bool,"backup":1..5|null}` (false and null for an intact vault). Errors: `corrupt`
/// when no backup opens either; otherwise as `sw_vault_unlock`.
///
/// Blocking: yes: derives keys (Argon2id, per backup tried) and writes the file.
///
/// # Safety
/// `engine` is NULL or a live engine; `passphrase` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_restore_backup(
    engine: *mut sw_engine,
    passphrase: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let pass = unsafe { pass_arg(passphrase, "passphrase") }?;
        let r = engine.vault_restore_backup(pass.as_ref())?;
        unsafe { put_json(out_json, serde_json::to_string(&r)) }
    })
}

/// Imports an unencrypted rclone.conf at `path`: its `s3` sections with access keys, `drive` sections with a
/// service account and `sftp` sections with a key become vault entries `<prefix>.<section>` (`prefix` NULL:
/// `rclone`). The report in `*out_json`: `{"source","imported":[{"section","service","key","profile",
/// "profile_toml","notes"?}],"not_imported":[{"section","service","reason"}]}` (no secret in it). Errors:
/// `invalid_input` for an encrypted or malformed file (the line number is named, never its text); `not_found`
/// for a missing one; otherwise as `sw_vault_set`.
///
/// Blocking: yes: reads the conf and the files it names, and writes the vault.
///
/// # Safety
/// `engine` is NULL or a live engine; `path`, `prefix` and `passphrase` are NULL or NUL-terminated strings;
/// `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_vault_import_rclone(
    engine: *mut sw_engine,
    path: *const c_char,
    prefix: *const c_char,
    passphrase: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let path = unsafe { str_arg(path, "path") }?;
        let prefix = unsafe { opt_str_arg(prefix, "prefix") }?;
        let pass = unsafe { pass_arg(passphrase, "passphrase") }?;
        let r = engine.vault_import_rclone(std::path::Path::new(path), prefix, pass.as_ref())?;
        unsafe { put_json(out_json, serde_json::to_string(&r)) }
    })
}
