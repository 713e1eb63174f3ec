//! Document 3's cloud sync in the C ABI (core's `cloud_*` calls): the manifest of the config's `[cloud_sync]`
//! tree, and a dry run or run to S3 or Drive. `[features]` must turn cloud sync (and the service) on.

use std::ffi::c_char;

use syncwright::Error;
use syncwright::engine::cloud::CloudRequest;

use crate::engine::clear_out;
use crate::front::{engine_arg, put_json};
use crate::{guard, opt_str_arg, str_arg, sw_engine, sw_error};

/// A request from JSON.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn request_arg(p: *const c_char) -> syncwright::Result<CloudRequest> {
    serde_json::from_str(unsafe { str_arg(p, "request_json") }?)
        .map_err(|e| Error::invalid(format!("bad cloud sync request: {e}")))
}

/// The manifest of the configured tree for `snapshot` (NULL: `[cloud_sync] default_snapshot`), taking only the
/// paths of `include_json` (a JSON array of relative paths; NULL: `[cloud_sync] include`), in `*out_json`:
/// `{"schema_version":1,"manifest":{"name","root","created_at","entries","checksum"},"include","exclude",
/// "checksum","errors"}`. Touches no remote. Errors: `feature_disabled` unless `[features] enable_cloud_sync`;
/// `invalid_input` for a bad snapshot or path.
///
/// Blocking: yes: walks the tree and hashes every file not in the hash cache.
///
/// # Safety
/// `engine` is NULL or a live engine; `snapshot` and `include_json` are NULL or NUL-terminated strings;
/// `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_cloud_manifest(
    engine: *mut sw_engine,
    snapshot: *const c_char,
    include_json: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let snapshot = unsafe { opt_str_arg(snapshot, "snapshot") }?;
        let include: Option<Vec<String>> =
            match unsafe { opt_str_arg(include_json, "include_json") }? {
                Some(t) if !t.trim().is_empty() => Some(
                    serde_json::from_str(t)
                        .map_err(|e| Error::invalid(format!("include_json: {e}")))?,
                ),
                _ => None,
            };
        let m = engine.cloud_manifest(snapshot, include.as_deref())?;
        unsafe { put_json(out_json, serde_json::to_string(&m)) }
    })
}

/// The plan of mirroring the tree to a service, writing nothing. `request_json`: `{"service":"s3"|"gdrive",
/// "snapshot"?,"paths"?:[...],"credentials_key"?,"service_config"?:{"bucket","prefix","region","parent_id",
/// "manifest_parent_id"}}` (endpoints come only from the config). The result in `*out_json`:
/// `{"schema_version":1,"manifest":{...},"plan":{...},"summary":{"status":"dry_run","service","snapshot",
/// "uploads":[{"path","size","reason"}],"deletes":[...],"skipped":[...],"bytes","unchanged"},"remote_manifest",
/// "errors":[],"job_id","manifest_committed":false}`. Errors: `feature_disabled` unless `[features]` turns the
/// service on; `invalid_input` for a bad request; `not_found` for a vault key that is not there; `auth`,
/// `network` and others from the service.
///
/// Blocking: yes: walks and hashes the tree and lists the remote (network I/O).
///
/// # Safety
/// `engine` is NULL or a live engine; `request_json` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_cloud_dry_run(
    engine: *mut sw_engine,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let req = unsafe { request_arg(request_json) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.cloud_dry_run(&req)?)) }
    })
}

/// Mirrors the tree to a service: `sw_cloud_dry_run`'s request with `"commit_manifest"?: bool` (default true:
/// the remote manifest is replaced after a clean run). The result as `sw_cloud_dry_run`'s with `summary.status`
/// `"completed"`, or `"partial"` with `errors: [{"action","path","error","kind"}]` when some files failed (the run
/// goes on past them). Errors: as `sw_cloud_dry_run`; `conflict` when another run writes the destination;
/// `cancelled` when its job is cancelled.
///
/// Blocking: yes: for the whole run (uploads over the network); the run is a job of the engine, listed by
/// `sw_jobs_active` and cancellable from another thread.
///
/// # Safety
/// `engine` is NULL or a live engine; `request_json` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_cloud_run(
    engine: *mut sw_engine,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let req = unsafe { request_arg(request_json) }?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.cloud_run(&req)?)) }
    })
}
