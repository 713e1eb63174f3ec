//! Classification: every [`Error`] maps to a [`Category`] with a recoverable flag, and a `Retry-After` when the
//! service gave one (in the error's details as `retry_after_secs`).

use crate::error::{Error, ErrorKind};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What kind of failure an error is, for deciding whether and how to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// An operation on the network took too long.
    NetworkTimeout,
    /// A connection was refused, reset or broken.
    NetworkConnection,
    /// A host name could not be resolved.
    NetworkDns,
    /// A TLS handshake or certificate failed.
    NetworkTls,
    /// The service said it is unavailable (5xx, maintenance).
    ServiceUnavailable,
    /// The service asked to slow down (429, 403 rate limit, SlowDown).
    RateLimited,
    /// Out of disk space.
    ResourceDisk,
    /// Out of memory.
    ResourceMemory,
    /// Over a quota.
    ResourceQuota,
    /// Access refused.
    Permission,
    /// Credentials missing, wrong or expired.
    Auth,
    /// Bad input: a bad path, a missing file, a refused option.
    Validation,
    /// Data that does not match its checksum.
    Corruption,
    /// Something switched off or set up wrongly.
    Configuration,
    /// Anything else.
    Unknown,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 15] = [
        Category::NetworkTimeout,
        Category::NetworkConnection,
        Category::NetworkDns,
        Category::NetworkTls,
        Category::ServiceUnavailable,
        Category::RateLimited,
        Category::ResourceDisk,
        Category::ResourceMemory,
        Category::ResourceQuota,
        Category::Permission,
        Category::Auth,
        Category::Validation,
        Category::Corruption,
        Category::Configuration,
        Category::Unknown,
    ];

    /// Whether trying again can help.
    pub fn recoverable(self) -> bool {
        !matches!(
            self,
            Category::NetworkTls
                | Category::Permission
                | Category::Auth
                | Category::Validation
                | Category::Corruption
                | Category::Configuration
        )
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::NetworkTimeout => "network_timeout",
            Category::NetworkConnection => "network_connection",
            Category::NetworkDns => "network_dns",
            Category::NetworkTls => "network_tls",
            Category::ServiceUnavailable => "service_unavailable",
            Category::RateLimited => "rate_limited",
            Category::ResourceDisk => "resource_disk",
            Category::ResourceMemory => "resource_memory",
            Category::ResourceQuota => "resource_quota",
            Category::Permission => "permission",
            Category::Auth => "auth",
            Category::Validation => "validation",
            Category::Corruption => "corruption",
            Category::Configuration => "configuration",
            Category::Unknown => "unknown",
        }
    }
}

/// How an error classifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// The category.
    pub category: Category,
    /// Whether a retry can help.
    pub recoverable: bool,
    /// How long the service asked to wait, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<Duration>,
}

fn mentions(msg: &str, words: &[&str]) -> bool {
    words.iter().any(|w| msg.contains(w))
}

/// Classifies an error by its kind, refined by what its message says (backends report what their service said).
pub fn classify(e: &Error) -> Classification {
    let msg = e.message().to_ascii_lowercase();
    let category = match e.kind() {
        ErrorKind::Timeout => Category::NetworkTimeout,
        ErrorKind::Network => {
            if mentions(&msg, &["dns", "resolve", "name or service", "no such host", "lookup"]) {
                Category::NetworkDns
            } else if mentions(&msg, &["banner", "disconnect"]) {
                // The host dropped the connection (during an SSH handshake, say): not a TLS matter.
                Category::NetworkConnection
            } else if mentions(&msg, &["tls", "ssl", "certificate", "handshake"]) {
                Category::NetworkTls
            } else if mentions(&msg, &["timed out", "timeout"]) {
                Category::NetworkTimeout
            } else {
                Category::NetworkConnection
            }
        }
        ErrorKind::Unavailable => {
            if mentions(
                &msg,
                &["rate", "429", "slow down", "slowdown", "throttl", "too many requests"],
            ) {
                Category::RateLimited
            } else {
                Category::ServiceUnavailable
            }
        }
        ErrorKind::Resource => {
            if mentions(&msg, &["memory", "oom"]) {
                Category::ResourceMemory
            } else if mentions(&msg, &["quota"]) {
                Category::ResourceQuota
            } else {
                Category::ResourceDisk
            }
        }
        ErrorKind::Permission => Category::Permission,
        ErrorKind::Auth => {
            if mentions(&msg, &["ratelimit", "rate limit", "userratelimitexceeded"]) {
                Category::RateLimited
            } else {
                Category::Auth
            }
        }
        ErrorKind::InvalidInput | ErrorKind::NotFound | ErrorKind::Conflict => Category::Validation,
        ErrorKind::Corrupt => Category::Corruption,
        ErrorKind::FeatureDisabled => Category::Configuration,
        ErrorKind::Cancelled => Category::Validation,
        ErrorKind::Internal => Category::Unknown,
    };
    let retry_after = e
        .details()
        .and_then(|d| d.get("retry_after_secs"))
        .and_then(|v| v.as_f64())
        .filter(|s| *s >= 0.0)
        .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
        .map(|d| d.min(crate::config::MAX_DURATION));
    Classification { category, recoverable: category.recoverable(), retry_after }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_messages_classify() {
        let c = |k, m: &str| classify(&Error::new(k, m)).category;
        assert_eq!(c(ErrorKind::Timeout, "read timed out"), Category::NetworkTimeout);
        assert_eq!(c(ErrorKind::Network, "connection reset by peer"), Category::NetworkConnection);
        assert_eq!(
            c(ErrorKind::Network, "failed to lookup address: Name or service not known"),
            Category::NetworkDns
        );
        assert_eq!(c(ErrorKind::Network, "invalid peer certificate"), Category::NetworkTls);
        assert_eq!(
            c(
                ErrorKind::Network,
                "SSH handshake with nas:22: connection error (Failed getting banner; libssh2 -13)"
            ),
            Category::NetworkConnection,
            "a host that drops the connection"
        );
        assert_eq!(
            c(ErrorKind::Unavailable, "503 Service Unavailable"),
            Category::ServiceUnavailable
        );
        assert_eq!(c(ErrorKind::Unavailable, "429 Too Many Requests"), Category::RateLimited);
        assert_eq!(c(ErrorKind::Auth, "403 userRateLimitExceeded"), Category::RateLimited);
        assert_eq!(c(ErrorKind::Resource, "No space left on device"), Category::ResourceDisk);
        assert_eq!(c(ErrorKind::Resource, "quota exceeded"), Category::ResourceQuota);
        assert_eq!(c(ErrorKind::Permission, "denied"), Category::Permission);
        assert_eq!(c(ErrorKind::InvalidInput, "bad"), Category::Validation);
        assert_eq!(c(ErrorKind::Corrupt, "checksum"), Category::Corruption);
        assert_eq!(c(ErrorKind::FeatureDisabled, "off"), Category::Configuration);
        for cat in [
            Category::Validation,
            Category::Permission,
            Category::Configuration,
            Category::Corruption,
        ] {
            assert!(!cat.recoverable());
        }
        let e = Error::new(ErrorKind::Unavailable, "slow down")
            .with_details(serde_json::json!({"retry_after_secs": 7}));
        assert_eq!(classify(&e).retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn a_retry_after_out_of_range_is_capped_or_ignored() {
        let ra = |v: serde_json::Value| {
            classify(
                &Error::new(ErrorKind::Unavailable, "busy")
                    .with_details(serde_json::json!({ "retry_after_secs": v })),
            )
            .retry_after
        };
        assert_eq!(ra(serde_json::json!(1e30)), Some(crate::config::MAX_DURATION));
        assert_eq!(ra(serde_json::json!(-3)), None);
        assert_eq!(ra(serde_json::json!("soon")), None);
        assert_eq!(ra(serde_json::json!(0.5)), Some(Duration::from_millis(500)));
    }
}
