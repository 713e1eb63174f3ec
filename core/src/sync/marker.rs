//! Run markers: `.syncwright/runs/<name>.inflight` at a destination says a run of snapshot `<name>` has not
//! finished cleanly, and lists the temporaries that run may create, written before any of them is. A file of a
//! temporary's form (`.<name>.swtmp-<16 hex>`) is one of syncwright's only when a marker at its root lists it:
//! only then is it ever removed or resumed; otherwise it is a user's file like any other.

use crate::backend::Backend;
use crate::error::Result;
use crate::manifest::now_rfc3339;
use crate::manifest::scan::ScanOutcome;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The folder of run markers under `.syncwright/`.
pub const RUNS_DIR: &str = "runs";

/// The state key of the marker that says a run on snapshot `name` has not finished cleanly.
pub fn inflight_key(name: &str) -> String {
    format!("{RUNS_DIR}/{name}.inflight")
}

/// What a run marker holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMarker {
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// Relative paths of the temporaries the run may create.
    #[serde(default)]
    pub temporaries: Vec<String>,
}

impl RunMarker {
    /// A marker for a run starting now.
    pub fn new(temporaries: Vec<String>) -> RunMarker {
        RunMarker { started_at: now_rfc3339(), temporaries }
    }

    /// Parses a marker; one from an older version (a bare timestamp) or a damaged one lists nothing.
    pub fn parse(bytes: &[u8]) -> RunMarker {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// The marker as JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The markers at a root: whether snapshot `name` has one (its last run did not finish cleanly), and every
/// temporary any marker there lists.
#[derive(Debug, Default)]
pub struct Markers {
    /// `name`'s own marker, when there is one.
    pub own: Option<RunMarker>,
    /// Temporaries listed by any marker at the root.
    pub listed: HashSet<String>,
}

/// Reads the markers of `b`'s root.
pub async fn read_markers(b: &dyn Backend, name: &str) -> Result<Markers> {
    let mut out = Markers::default();
    let own_key = inflight_key(name);
    let mut keys: Vec<String> = b
        .list_state(RUNS_DIR)
        .await?
        .into_iter()
        .filter(|k| k.ends_with(".inflight"))
        .map(|k| format!("{RUNS_DIR}/{k}"))
        .collect();
    if !keys.contains(&own_key) {
        // Backends that cannot list their state still say whether this snapshot's marker is there.
        keys.push(own_key.clone());
    }
    for k in keys {
        let Some(bytes) = b.read_state(&k).await? else { continue };
        let m = RunMarker::parse(&bytes);
        out.listed.extend(m.temporaries.iter().cloned());
        if k == own_key {
            out.own = Some(m);
        }
    }
    Ok(out)
}

/// Takes the temporaries the markers list out of a scan's tree (they stay in its `temporaries`); files of a
/// temporary's form that no marker lists stay in the tree as the user's files.
pub fn take_temporaries(scan: &mut ScanOutcome, listed: &HashSet<String>) {
    scan.temporaries.retain(|t| listed.contains(&t.path));
    if scan.temporaries.is_empty() {
        return;
    }
    let ours: HashSet<&str> = scan.temporaries.iter().map(|t| t.path.as_str()).collect();
    scan.manifest.entries.retain(|e| !ours.contains(e.path.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_damaged_markers_list_nothing() {
        assert_eq!(RunMarker::parse(b"2026-01-01T00:00:00Z").temporaries, Vec::<String>::new());
        assert_eq!(RunMarker::parse(b"\xff{").temporaries, Vec::<String>::new());
        let m = RunMarker::new(vec!["a/.b.swtmp-0123456789abcdef".into()]);
        assert_eq!(RunMarker::parse(&m.to_bytes()), m);
    }
}
