//! The native module `syncwright._native`, wrapped by the Python package `syncwright` (python/syncwright).
//!
//! Values cross as canonical JSON strings; the Python layer turns them into dicts. Errors become instances of
//! the classes in `syncwright.errors`, chosen by `ErrorKind`. Long calls release the GIL (`Python::detach`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use syncwright::{Error, ErrorKind};

/// Turns a syncwright error into the matching `syncwright.errors` exception.
fn to_py_err(py: Python<'_>, e: &Error) -> PyErr {
    let made = py
        .import("syncwright.errors")
        .and_then(|m| m.getattr("_from_native"))
        .and_then(|f| f.call1((e.kind().as_str(), e.message(), e.path())));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        // Only when the native module is used without its package.
        Err(_) => PyRuntimeError::new_err(format!("{}: {}", e.kind(), e.message())),
    }
}

/// Runs `f` without the GIL; a panic becomes an `internal` error instead of pyo3's PanicException.
fn call<T: Send>(py: Python<'_>, f: impl FnOnce() -> syncwright::Result<T> + Send) -> PyResult<T> {
    let result = py.detach(|| {
        catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".to_string());
            Err(Error::internal(format!("panic inside syncwright: {what}")))
        })
    });
    result.map_err(|e| to_py_err(py, &e))
}

/// The version of the syncwright library.
#[pyfunction]
fn version() -> &'static str {
    syncwright::version()
}

/// Scans the local folder `root` and returns its manifest as canonical JSON. `options_json` is a JSON object of
/// scan options, or None for the defaults.
#[pyfunction]
#[pyo3(signature = (root, options_json=None))]
fn build_manifest_json(
    py: Python<'_>,
    root: PathBuf,
    options_json: Option<String>,
) -> PyResult<String> {
    call(py, move || syncwright::manifest::build_manifest_json(&root, options_json.as_deref()))
}

/// Raises the exception of `kind` from Rust, so the tests can check every kind's class and attributes.
#[pyfunction]
#[pyo3(signature = (kind, message, path=None))]
fn _raise_for_test(py: Python<'_>, kind: &str, message: &str, path: Option<&str>) -> PyResult<()> {
    let kind = ErrorKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .ok_or_else(|| to_py_err(py, &Error::invalid(format!("unknown error kind {kind:?}"))))?;
    let mut e = Error::new(kind, message);
    if let Some(p) = path {
        e = e.with_path(p);
    }
    Err(to_py_err(py, &e))
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(build_manifest_json, m)?)?;
    m.add_function(wrap_pyfunction!(_raise_for_test, m)?)?;
    let kinds: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
    m.add("ERROR_KINDS", kinds)?;
    Ok(())
}
