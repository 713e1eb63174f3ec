//! The one error type of syncwright, with a stable [`ErrorKind`] that every front end maps (C codes, Python
//! exception classes, Node `code`, HTTP statuses).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The stable category of an [`Error`]. Its snake_case name is part of the public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(i32)]
pub enum ErrorKind {
    /// A path, job, profile or object does not exist.
    NotFound = 1,
    /// Bad arguments, a bad path or name, a malformed document.
    InvalidInput = 2,
    /// Already running, a lock held, a destination edited since the last run.
    Conflict = 3,
    /// The operating system or the service refused access.
    Permission = 4,
    /// A connection failed or broke.
    Network = 5,
    /// Something took longer than allowed.
    Timeout = 6,
    /// Out of disk, memory or quota.
    Resource = 7,
    /// Credentials missing, wrong or expired.
    Auth = 8,
    /// Data did not match its checksum or could not be parsed.
    Corrupt = 9,
    /// The work was cancelled.
    Cancelled = 10,
    /// A service or backend is not available now.
    Unavailable = 11,
    /// The feature is switched off by configuration.
    FeatureDisabled = 12,
    /// A bug or an unexpected state.
    Internal = 13,
}

impl ErrorKind {
    /// Every kind, in code order.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::NotFound,
        ErrorKind::InvalidInput,
        ErrorKind::Conflict,
        ErrorKind::Permission,
        ErrorKind::Network,
        ErrorKind::Timeout,
        ErrorKind::Resource,
        ErrorKind::Auth,
        ErrorKind::Corrupt,
        ErrorKind::Cancelled,
        ErrorKind::Unavailable,
        ErrorKind::FeatureDisabled,
        ErrorKind::Internal,
    ];

    /// The stable snake_case name (`not_found`, `invalid_input`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Permission => "permission",
            ErrorKind::Network => "network",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Resource => "resource",
            ErrorKind::Auth => "auth",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::FeatureDisabled => "feature_disabled",
            ErrorKind::Internal => "internal",
        }
    }

    /// The stable numeric code used by the C ABI (1..=13; 0 means success there).
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Maps an operating-system error to a kind.
    pub fn from_io(e: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::PermissionDenied | K::ReadOnlyFilesystem => ErrorKind::Permission,
            K::AlreadyExists | K::DirectoryNotEmpty | K::IsADirectory | K::NotADirectory => {
                ErrorKind::Conflict
            }
            K::InvalidInput | K::InvalidFilename => ErrorKind::InvalidInput,
            K::InvalidData | K::UnexpectedEof => ErrorKind::Corrupt,
            K::TimedOut => ErrorKind::Timeout,
            K::StorageFull | K::QuotaExceeded | K::OutOfMemory | K::FileTooLarge => {
                ErrorKind::Resource
            }
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::BrokenPipe
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::AddrNotAvailable => ErrorKind::Network,
            K::Interrupted => ErrorKind::Cancelled,
            _ => match e.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EDQUOT) => ErrorKind::Resource,
                Some(libc::ELOOP) => ErrorKind::InvalidInput,
                Some(libc::EACCES) | Some(libc::EPERM) => ErrorKind::Permission,
                _ => ErrorKind::Internal,
            },
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of syncwright: a kind, a message a person can act on, and where known the path concerned.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    path: Option<String>,
    details: Option<Box<serde_json::Value>>,
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), path: None, details: None }
    }

    /// Attaches the path concerned (relative to a root, or a location given by the user).
    pub fn with_path(mut self, path: impl Into<String>) -> Error {
        self.path = Some(path.into());
        self
    }

    /// Attaches structured details (for a `conflict`: who holds the lock, which job runs and since when).
    pub fn with_details(mut self, details: serde_json::Value) -> Error {
        self.details = Some(Box::new(details));
        self
    }

    /// Structured details, if any.
    pub fn details(&self) -> Option<&serde_json::Value> {
        self.details.as_deref()
    }

    /// An error from an operating-system error, with what was being done and on which path.
    pub fn io(e: &std::io::Error, doing: &str, path: impl AsRef<str>) -> Error {
        let path = path.as_ref();
        Error::new(ErrorKind::from_io(e), format!("{doing} {path}: {e}")).with_path(path)
    }

    /// Shorthand for an [`ErrorKind::InvalidInput`] error.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    /// Shorthand for an [`ErrorKind::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    /// Shorthand for an [`ErrorKind::Cancelled`] error.
    pub fn cancelled() -> Error {
        Error::new(ErrorKind::Cancelled, "cancelled")
    }

    /// The stable kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The path concerned, if any.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }
}

/// Runs `f`; a panic in it becomes an `internal` error ("panic inside syncwright: ..."). The front doors (C,
/// Python, Node) run every call through this, so that a bug never unwinds into the host language.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic payload".to_string());
        Err(Error::internal(format!("panic inside syncwright: {what}")))
    })
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        let kind = if e.is_io() { ErrorKind::Internal } else { ErrorKind::InvalidInput };
        Error::new(kind, format!("JSON: {e}"))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::new(ErrorKind::Internal, format!("state store: {e}"))
    }
}

/// The result type of syncwright.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_error() {
        assert_eq!(catch_panic(|| Ok(3)).unwrap(), 3);
        let e = catch_panic::<()>(|| panic!("bad {}", 7)).unwrap_err();
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::Internal, "panic inside syncwright: bad 7")
        );
        let e = catch_panic::<()>(|| std::panic::panic_any(5u8)).unwrap_err();
        assert_eq!(e.message(), "panic inside syncwright: unknown panic payload");
        let e = catch_panic::<()>(|| Err(Error::invalid("no"))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn kinds_serialise_to_their_names() {
        for k in ErrorKind::ALL {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
        }
        assert_eq!(ErrorKind::NotFound.code(), 1);
        assert_eq!(ErrorKind::Internal.code(), 13);
    }
}
