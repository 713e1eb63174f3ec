//! Generation metadata in the C ABI (core's `media_info`).

use std::ffi::c_char;
use std::path::PathBuf;

use syncwright::Error;

use crate::engine::clear_out;
use crate::front::{engine_arg, put_json};
use crate::{guard, str_arg, sw_engine, sw_error};

/// The format, size and generation metadata of each path of `paths_json` (a JSON array of path strings), in
/// `*out_json` (free it with `sw_string_free`): `[{"schema_version":1,"path","format":"png"|"jpeg"|"webp"|null,
/// "size","metadata":{"generator":"a1111"|"comfyui","format","parameters","prompt","negative_prompt","steps",
/// "sampler","scheduler","cfg_scale","seed","width","height","model","model_hash","loras":[{"name","weight",
/// "hash"}],"extra":{...},"comfy_prompt","comfy_workflow","warnings"?}|null,"error":{"kind","message"}|null}]`.
/// Pixels are never decoded. A file that is not an image has no metadata and no error; one that cannot be read
/// carries its error. Errors: `invalid_input` for NULL arguments, JSON that is not an array of strings, no path
/// or more than 100,000.
///
/// Blocking: yes: reads each file's headers and metadata chunks.
///
/// # Safety
/// `engine` is NULL or a live engine; `paths_json` is NULL or a NUL-terminated string; `out_json` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sw_media_info(
    engine: *mut sw_engine,
    paths_json: *const c_char,
    out_json: *mut *mut c_char,
) -> *mut sw_error {
    guard(|| {
        unsafe { clear_out(out_json, "out_json") }?;
        let engine = unsafe { engine_arg(engine) }?;
        let paths: Vec<PathBuf> =
            serde_json::from_str(unsafe { str_arg(paths_json, "paths_json") }?)
                .map_err(|e| Error::invalid(format!("paths_json is not an array of paths: {e}")))?;
        unsafe { put_json(out_json, serde_json::to_string(&engine.media_info(&paths)?)) }
    })
}
