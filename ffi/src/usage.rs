//! Storage usage in the C ABI.

use std::ffi::c_char;

use syncwright::Error;
use syncwright::usage::UsageQuery;

use crate::engine::clear_out;
use crate::front::{engine_arg, put_json};
use crate::{guard, opt_str_arg, sw_engine, sw_error};

/// What folders hold, by type, by profile and by folder, with the disk's figures, in `*out_json` as canonical
/// JSON (free it with `sw_string_free`): `{"total_size","total_human_readable","by_type":{"<category>":{"size",
/// "human_readable"}},"by_project":{"<profile>":{...}},"by_folder":{"<folder>":{...}},"disk":{"total","used",
/// "free","percent","total_human_readable","used_human_readable","free_human_readable"}|null}`.
///
/// `query_json` is optional (NULL or "" for none): `{"models_root":"/path","root":"/path"}`, both optional: a
/// models folder whose subfolders are the categories ("by_type"), a tree whose top-level folders are counted
/// ("by_folder"). The destinations of the engine's profiles give "by_project". Sizes come from the manifest
/// syncwright keeps at a destination when it is there and clean, else from a scan (no hashing).
/// Errors: `invalid_input` for NULL arguments or a bad query (unknown fields included); `not_found` for a folder
/// that does not exist; `permission` and others from the scan.
///
/// Blocking: yes, for file I/O: it reads manifests or scans the folders (possibly large, possibly on a network
/// volume).
///
/// # Safety
/// `engine` is NULL or a live engine; `query_json` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_storage_usage(
    engine: *mut sw_engine,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let query: UsageQuery = match unsafe { opt_str_arg(query_json, "query_json") }? {
            Some(q) if !q.trim().is_empty() => serde_json::from_str(q)
                .map_err(|e| Error::invalid(format!("bad usage query: {e}")))?,
            _ => UsageQuery::default(),
        };
        unsafe { put_json(out_json, serde_json::to_string(&engine.storage_usage(&query)?)) }
    })
}
