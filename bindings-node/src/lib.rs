//! Node.js bindings of syncwright (napi-rs).
//!
//! Values cross as canonical JSON and arrive as plain objects. A failed call rejects (or throws) an `Error` whose
//! `code` is the stable `ErrorKind` name (`"not_found"`, `"invalid_input"`, ...), with `kind` (the same) and
//! `path` when the error concerns one. Work runs on libuv's thread pool, never on the JavaScript thread.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use syncwright::{Error, ErrorKind};

/// A JavaScript `Error` for a syncwright error: `code` and `kind` are the kind's name, `path` is set when known.
fn js_error(env: Env, e: &Error) -> napi::Error {
    let plain: napi::Error<String> =
        napi::Error::new(e.kind().as_str().to_string(), e.message().to_string());
    let value = JsError::from(plain).into_unknown(env);
    if let Ok(mut obj) = value.coerce_to_object() {
        let _ = obj.set_named_property("kind", e.kind().as_str());
        if let Some(p) = e.path() {
            let _ = obj.set_named_property("path", p);
        }
    }
    napi::Error::from(value)
}

/// Runs `f` and turns a panic into an `internal` error.
fn guarded<T>(f: impl FnOnce() -> syncwright::Result<T>) -> syncwright::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic payload".to_string());
        Err(Error::internal(format!("panic inside syncwright: {what}")))
    })
}

/// The version of the syncwright library.
#[napi]
pub fn version() -> &'static str {
    syncwright::version()
}

/// Every stable error kind name, in code order (1..13): the values an error's `code` can take.
#[napi]
pub fn error_kinds() -> Vec<&'static str> {
    ErrorKind::ALL.iter().map(|k| k.as_str()).collect()
}

/// A JSON value handed to JavaScript as a plain object (serde_json::Value has no `TypeName` of its own).
pub struct Json(serde_json::Value);

impl TypeName for Json {
    fn type_name() -> &'static str {
        "Object"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Json {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        val: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        // SAFETY: same contract as the caller's.
        unsafe { serde_json::Value::to_napi_value(env, val.0) }
    }
}

pub struct BuildManifest {
    root: PathBuf,
    options_json: Option<String>,
}

impl Task for BuildManifest {
    type Output = syncwright::Result<String>;
    type JsValue = Json;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guarded(|| {
            syncwright::manifest::build_manifest_json(&self.root, self.options_json.as_deref())
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        let parsed = output.and_then(|json| {
            serde_json::from_str(&json)
                .map_err(|e| Error::internal(format!("manifest JSON from core: {e}")))
        });
        parsed.map(Json).map_err(|e| js_error(env, &e))
    }
}

/// Scans the local folder `root` and resolves to `{ manifest, warnings, errors }`: the canonical manifest (entries
/// sorted by path) and what could not be read. `options` may set `name`, `include`, `exclude`, `links`
/// (`"preserve"`, `"follow"` or `"skip"`), `hash` (default true), `threads` and `state_dir`; omit it for the
/// defaults. Rejects with an Error whose `code` is the kind's name (`"not_found"` for a missing root).
#[napi(
    ts_args_type = "root: string, options?: Record<string, unknown> | null",
    ts_return_type = "Promise<Record<string, unknown>>"
)]
pub fn build_manifest(
    env: Env,
    root: String,
    options: Option<serde_json::Value>,
) -> napi::Result<AsyncTask<BuildManifest>> {
    let options_json = match options {
        None | Some(serde_json::Value::Null) => None,
        Some(v @ serde_json::Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(js_error(env, &Error::invalid("options must be an object"))),
    };
    Ok(AsyncTask::new(BuildManifest { root: PathBuf::from(root), options_json }))
}

/// Throws the error of `kind` built in Rust, so the tests can check every kind's `code`, `kind` and `path`.
#[napi(js_name = "_throwForTest")]
pub fn throw_for_test(
    env: Env,
    kind: String,
    message: String,
    path: Option<String>,
) -> napi::Result<()> {
    let kind =
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == kind).unwrap_or(ErrorKind::Internal);
    let mut e = Error::new(kind, message);
    if let Some(p) = path {
        e = e.with_path(p);
    }
    Err(js_error(env, &e))
}
