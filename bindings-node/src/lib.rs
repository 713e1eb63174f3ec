//! Node.js bindings of syncwright (napi-rs): a thin layer over the `syncwright` crate.
//!
//! - Values cross as canonical JSON: core's string is handed to `JSON.parse`, so JavaScript sees exactly the
//!   document core wrote (same keys, same order), never a re-shaped copy.
//! - Options go the other way through `JSON.stringify`; top-level camelCase keys become snake_case mechanically
//!   (`maxDelete` -> `max_delete`), and core checks everything else (unknown fields are `invalid_input`).
//! - A failed call rejects (or throws) an `Error` whose `code` is the stable `ErrorKind` name (`"not_found"`,
//!   `"invalid_input"`, ...), with `kind` (the same), `path` when the error concerns one and `details` (an object:
//!   a lock holder, a retry-after) when it has any.
//! - Nothing blocks the JavaScript thread: waits are futures on napi's Tokio runtime, scans run on libuv's pool,
//!   progress comes back through a thread-safe function.

mod engine;

use std::path::PathBuf;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use syncwright::{Error, ErrorKind};

pub use engine::{Engine, Job, Subscription};

/// A JavaScript `Error` for a syncwright error: `code` and `kind` are the kind's name, `path` is set when known,
/// `details` (the error's structured details, as `JSON.parse` makes them) when it has any.
pub(crate) fn js_error(env: &Env, e: &Error) -> napi::Error {
    let plain: napi::Error<String> =
        napi::Error::new(e.kind().as_str().to_string(), e.message().to_string());
    let value = JsError::from(plain).into_unknown(*env);
    if let Ok(mut obj) = value.coerce_to_object() {
        let _ = obj.set_named_property("kind", e.kind().as_str());
        if let Some(p) = e.path() {
            let _ = obj.set_named_property("path", p);
        }
        if let Some(d) = e.details() {
            let _ = obj.set_named_property("details", JsonText(d.to_string()));
        }
    }
    napi::Error::from(value)
}

/// An `invalid_input` JavaScript error.
pub(crate) fn invalid(env: &Env, message: impl Into<String>) -> napi::Error {
    js_error(env, &Error::invalid(message.into()))
}

/// Runs `f` and turns a panic into an `internal` error.
pub(crate) fn guarded<T>(f: impl FnOnce() -> syncwright::Result<T>) -> syncwright::Result<T> {
    syncwright::error::catch_panic(f)
}

/// Canonical JSON text from core, handed to JavaScript as the value `JSON.parse` makes of it.
pub struct JsonText(pub String);

impl TypeName for JsonText {
    fn type_name() -> &'static str {
        "Object"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for JsonText {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        val: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        let env = Env::from_raw(env);
        let json: Object = env.get_global()?.get_named_property("JSON")?;
        let parse: Function<String, Unknown> = json.get_named_property("parse")?;
        Ok(parse.call(val.0)?.raw())
    }
}

/// `value` as the JSON object core reads: `undefined` and `null` are `None`; anything but a plain object is
/// `invalid_input`. The object goes through `JSON.stringify` (so `undefined` members are absent, as in JSON) and its
/// field names are turned to snake_case at every depth (`maxDelete` -> `max_delete`; the keys of maps that are
/// data, such as profile names, are kept: core's `naming::snake_case_keys`). `what` names the argument in
/// messages.
pub(crate) fn options_value(
    env: &Env,
    value: Option<Unknown>,
    what: &str,
) -> napi::Result<Option<serde_json::Map<String, serde_json::Value>>> {
    let Some(value) = value else { return Ok(None) };
    match value.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(None),
        ValueType::Object if !value.is_array()? => {}
        _ => return Err(invalid(env, format!("{what} must be an object"))),
    }
    let parsed = json_of(env, value, what)?;
    match syncwright::naming::snake_case_keys(parsed) {
        Ok(serde_json::Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(invalid(env, format!("{what} must be an object"))),
        Err(e) => Err(invalid(env, format!("{what}: {}", e.message()))),
    }
}

/// [`options_value`] as JSON text.
pub(crate) fn options_json(
    env: &Env,
    value: Option<Unknown>,
    what: &str,
) -> napi::Result<Option<String>> {
    Ok(options_value(env, value, what)?.map(|m| serde_json::Value::Object(m).to_string()))
}

/// `maxDelete` -> `max_delete` (core's `naming::snake_case`).
pub(crate) fn snake_case(key: &str) -> String {
    syncwright::naming::snake_case(key)
}

/// `value` as a string, or an `invalid_input` error naming `what`.
/// A JavaScript value as JSON, as `JSON.stringify` writes it, keys as they are (data, not options).
pub(crate) fn json_of(env: &Env, value: Unknown, what: &str) -> napi::Result<serde_json::Value> {
    let json: Object = env.get_global()?.get_named_property("JSON")?;
    let stringify: Function<Unknown, Unknown> = json.get_named_property("stringify")?;
    let text = match stringify.call(value) {
        Ok(t) if t.get_type()? == ValueType::String => unsafe { t.cast::<String>()? },
        Ok(_) => return Err(invalid(env, format!("{what} cannot be written as JSON"))),
        Err(e) => {
            return Err(invalid(env, format!("{what} cannot be written as JSON: {}", e.reason)));
        }
    };
    serde_json::from_str(&text).map_err(|_| invalid(env, format!("{what} is not JSON")))
}

pub(crate) fn string_arg(env: &Env, value: Unknown, what: &str) -> napi::Result<String> {
    if value.get_type()? != ValueType::String {
        return Err(invalid(env, format!("{what} must be a string")));
    }
    unsafe { value.cast::<String>() }
}

/// The version of the syncwright library.
#[napi(catch_unwind)]
pub fn version() -> &'static str {
    syncwright::version()
}

/// The outcome word of a status, for documents that know only success and error (document 5's `lastStatus`):
/// `'success'` for `'completed'`, `'running'` for `'queued'` and `'running'`, `'error'` for `'partial'`,
/// `'failed'`, `'cancelled'` and `'interrupted'`; `null` for a word that is not a status.
#[napi(
    catch_unwind,
    ts_args_type = "status: string",
    ts_return_type = "'success' | 'running' | 'error' | null"
)]
pub fn status_outcome(status: String) -> Option<&'static str> {
    syncwright::engine::calls::status_outcome(&status)
}

/// A report (the object a job gives, or its JSON text) as the short text for people that document 1 calls its
/// `output`: the summary line, the first errors, a command's output, a run-all's line per profile. Throws
/// `invalid_input` for something that is not a report.
#[napi(catch_unwind, ts_args_type = "report: SyncReport | string")]
pub fn report_text(env: Env, report: Unknown) -> napi::Result<String> {
    let text = if report.get_type()? == ValueType::String {
        unsafe { report.cast::<String>()? }
    } else {
        options_json(&env, Some(report), "report")?.unwrap_or_default()
    };
    guarded(|| syncwright::engine::calls::report_text(&text)).map_err(|e| js_error(&env, &e))
}

/// Every stable error kind name, in code order (1..13): the values an error's `code` can take.
#[napi(catch_unwind, ts_return_type = "ErrorKind[]")]
pub fn error_kinds() -> Vec<&'static str> {
    ErrorKind::ALL.iter().map(|k| k.as_str()).collect()
}

/// Scans the local folder `root` and resolves to `{ manifest, warnings, errors }`: the canonical manifest (entries
/// sorted by path) and what could not be read. The scan runs on a thread of its own (never the JavaScript thread,
/// and no libuv pool thread is held while it runs).
///
/// `options` may set `name`, `include`, `exclude`, `links` (`"preserve"`, `"follow"` or `"skip"`), `hash`
/// (default true), `threads` and `state_dir` (camelCase keys are accepted too); omit it for the defaults.
/// Throws `invalid_input` at once when `root` is not a string or `options` not an object; rejects with an Error
/// whose `code` is the kind's name otherwise (`"not_found"` for a missing root, `"invalid_input"` for an unknown
/// option).
#[napi(
    catch_unwind,
    ts_args_type = "root: string, options?: ManifestOptions | null",
    ts_return_type = "Promise<ManifestResult>"
)]
pub fn build_manifest<'env>(
    env: &'env Env,
    root: Unknown,
    options: Option<Unknown>,
) -> napi::Result<PromiseRaw<'env, JsonText>> {
    let root = PathBuf::from(string_arg(env, root, "root")?);
    let options_json = options_json(env, options, "options")?;
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("syncwright-manifest".into())
        .spawn(move || {
            let _ = done.send(guarded(|| {
                syncwright::manifest::build_manifest_json(&root, options_json.as_deref())
            }));
        })
        .map_err(|e| js_error(env, &Error::internal(format!("cannot start a thread: {e}"))))?;
    env.spawn_future_with_callback(
        async move {
            Ok(result.await.unwrap_or_else(|_| Err(Error::internal("the scan's thread ended"))))
        },
        |env, r| r.map(JsonText).map_err(|e| js_error(env, &e)),
    )
}

/// Throws the error of `kind` built in Rust, so the tests can check every kind's `code`, `kind`, `path` and
/// `details` (given as JSON text).
#[napi(catch_unwind, js_name = "_throwForTest")]
pub fn throw_for_test(
    env: Env,
    kind: String,
    message: String,
    path: Option<String>,
    details_json: Option<String>,
) -> napi::Result<()> {
    let kind =
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == kind).unwrap_or(ErrorKind::Internal);
    let mut e = Error::new(kind, message);
    if let Some(p) = path {
        e = e.with_path(p);
    }
    if let Some(d) = details_json {
        let v =
            serde_json::from_str(&d).map_err(|x| invalid(&env, format!("details_json: {x}")))?;
        e = e.with_details(v);
    }
    Err(js_error(&env, &e))
}

/// The snake_case option names core accepts, with their defaults (for the test that keeps `index.d.ts` in step).
#[napi(
    catch_unwind,
    js_name = "_defaultSyncOptionsForTest",
    ts_return_type = "Record<string, unknown>"
)]
pub fn default_sync_options_for_test() -> napi::Result<JsonText> {
    serde_json::to_string(&syncwright::SyncOptions::default())
        .map(JsonText)
        .map_err(|e| napi::Error::from_reason(e.to_string()))
}

/// Panics in the binding's own code, so the tests can check that a panic is a thrown `Error`, never an abort.
#[napi(catch_unwind, js_name = "_panicForTest")]
pub fn panic_for_test() {
    panic!("a panic for the test")
}
