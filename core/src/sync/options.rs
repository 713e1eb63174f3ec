//! The options of a sync, in canonical JSON (every field optional: `{}` is a plain one-way copy).

use crate::error::{Error, Result};
use crate::manifest::plan::{CompareMode, DestChangedPolicy};
use crate::manifest::scan::LinkMode;
use serde::{Deserialize, Serialize};

/// How a sync runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncOptions {
    /// Snapshot name: the destination manifest is `.syncwright/manifests/<name>.json`.
    pub name: String,
    /// How files are compared.
    pub compare: CompareMode,
    /// mtimes closer than this many milliseconds are equal.
    pub modify_window_ms: u64,
    /// Patterns of files to take (none: all).
    pub include: Vec<String>,
    /// Patterns of files and folders to leave out.
    pub exclude: Vec<String>,
    /// Symlink handling.
    pub links: LinkMode,
    /// Files modified less than this many seconds ago are left for the next run.
    pub min_age_secs: f64,
    /// Mirror mode: delete at the destination what the source does not have (never after an error).
    pub delete: bool,
    /// Refuse all deletes when more than this many are planned. Unset, a run refuses its deletes when they are
    /// more than half of the destination's files.
    pub max_delete: Option<u64>,
    /// Mirror mode also deletes destination entries the filters exclude (otherwise excluded paths are protected
    /// on the destination side too, as rsync does).
    pub delete_excluded: bool,
    /// Allow mirror deletes when the source root is empty (otherwise an empty or missing source while the
    /// destination holds files refuses every delete: an unmounted disk must not empty the mirror).
    pub allow_empty_source: bool,
    /// Files a run deletes or overwrites are moved here (same relative path, a numbered suffix when taken)
    /// instead of lost: a path on the destination's own backend, relative to the destination root (where it must
    /// be excluded by the filters), or absolute on local and SFTP destinations.
    pub backup_dir: Option<String>,
    /// Plan only; write nothing.
    pub dry_run: bool,
    /// Files copied at once.
    pub transfers: usize,
    /// Read back what was written and compare its SHA-256 with the source's before making it visible.
    pub verify: bool,
    /// Bandwidth limit in bytes per second, for all transfers together.
    pub bwlimit: Option<u64>,
    /// What to do with destination files edited since syncwright wrote them.
    pub dest_changed: DestChangedPolicy,
    /// Ignore the manifest syncwright wrote at the destination (its hashes and recorded versions); the listing
    /// alone is compared.
    pub rescan_dest: bool,
    /// Plan against the destination manifest without listing the destination (faster on huge remote trees):
    /// only for destinations that nothing but syncwright writes, since changes made there are not seen.
    pub trust_dest_manifest: bool,
    /// Bytes read and written per step (cancel takes effect within one chunk).
    pub chunk_size: usize,
    /// Further attempts at a file that changed while being copied, before it is skipped as still_changing.
    pub still_changing_retries: u32,
    /// Least time between two progress callbacks, in milliseconds.
    pub progress_interval_ms: u64,
    /// List identical entries in dry-run plans.
    pub list_identical: bool,
    /// Keep the plan in the report of a real run too (a dry run's report always has it): what was to be done,
    /// beside the counts of what was done.
    pub report_plan: bool,
    /// Threads for scanning and hashing (0: automatic).
    pub scan_threads: usize,
    /// Attempts at the whole run when it fails with something that can recover (the source host unreachable,
    /// the service busy); per-file retries are the `retry` policies'.
    pub max_attempts: u32,
    /// Retry policies by error category (see `recovery::policy` for the defaults table). (Circuit breakers are
    /// not options of a sync: the engine keeps one per remote target, set in the config's `[settings.breaker]`.)
    pub retry: crate::recovery::RetryPolicies,
    /// Replace the destination manifest (and its cached copy) after a clean run. Off, the run changes only files
    /// and the next run looks at the destination itself instead of trusting the old manifest.
    pub commit_manifest: bool,
    /// How to reach remote sources and destinations (keys, known hosts, endpoints).
    pub remote: crate::backend::remote::RemoteOptions,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            name: "default".into(),
            compare: CompareMode::SizeMtime,
            modify_window_ms: 0,
            include: vec![],
            exclude: vec![],
            links: LinkMode::Preserve,
            min_age_secs: 0.0,
            delete: false,
            max_delete: None,
            delete_excluded: false,
            allow_empty_source: false,
            backup_dir: None,
            dry_run: false,
            transfers: 4,
            verify: false,
            bwlimit: None,
            dest_changed: DestChangedPolicy::Overwrite,
            rescan_dest: false,
            trust_dest_manifest: false,
            chunk_size: 1 << 20,
            still_changing_retries: 2,
            progress_interval_ms: 200,
            list_identical: false,
            report_plan: false,
            scan_threads: 0,
            max_attempts: 3,
            retry: Default::default(),
            commit_manifest: true,
            remote: Default::default(),
        }
    }
}

/// What `breaker` in sync options (which moved to the engine's settings) is refused with.
pub const BREAKER_MOVED: &str = "breaker is not an option of a sync: circuit breakers belong to the engine, one per \
     remote target shared by all its jobs; set them in the config's [settings.breaker] (per target in \
     [settings.breaker.targets.\"sftp://user@host:22\"])";

impl SyncOptions {
    /// Parses options from JSON (empty or missing: defaults). Unknown fields are errors, so typos are not silent;
    /// `breaker` is refused with a message naming `[settings.breaker]`, where it moved.
    pub fn from_json(s: Option<&str>) -> Result<SyncOptions> {
        let o: SyncOptions = match s {
            Some(s) if !s.trim().is_empty() => serde_json::from_str(s).map_err(|e| {
                let moved = serde_json::from_str::<serde_json::Value>(s)
                    .is_ok_and(|v| v.get("breaker").is_some());
                if moved {
                    Error::invalid(format!("bad sync options: {BREAKER_MOVED}"))
                } else {
                    Error::invalid(format!("bad sync options: {e}"))
                }
            })?,
            _ => SyncOptions::default(),
        };
        o.validate()?;
        Ok(o)
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        if self.transfers == 0 || self.transfers > 256 {
            return Err(Error::invalid("transfers must be between 1 and 256"));
        }
        if self.chunk_size < 4096 || self.chunk_size > 64 << 20 {
            return Err(Error::invalid("chunk_size must be between 4 KiB and 64 MiB"));
        }
        if !(self.min_age_secs >= 0.0 && self.min_age_secs.is_finite()) {
            return Err(Error::invalid("min_age_secs must be a non-negative number"));
        }
        if self.bwlimit == Some(0) {
            return Err(Error::invalid("bwlimit must be more than 0 bytes per second"));
        }
        if let Some(b) = &self.backup_dir {
            if b.trim().is_empty() || b.contains('\0') {
                return Err(Error::invalid("backup_dir must be a path"));
            }
            let rel = b.strip_prefix('/').unwrap_or(b).trim_end_matches('/');
            if !rel.is_empty() {
                crate::manifest::validate_rel_path(rel)
                    .map_err(|_| Error::invalid(format!("bad backup_dir {b:?}")))?;
            }
        }
        crate::manifest::validate_rel_path(&self.name)
            .map_err(|_| Error::invalid(format!("bad snapshot name {:?}", self.name)))?;
        if self.name.contains('/') {
            return Err(Error::invalid(format!(
                "bad snapshot name {:?}: no '/' allowed",
                self.name
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_defaults_and_typos() {
        assert_eq!(SyncOptions::from_json(None).unwrap(), SyncOptions::default());
        let o = SyncOptions::from_json(Some(r#"{"delete": true, "compare": "checksum"}"#)).unwrap();
        assert!(o.delete);
        assert_eq!(o.compare, CompareMode::Checksum);
        let e = SyncOptions::from_json(Some(r#"{"delet": true}"#)).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.message().contains("delet"));
        assert!(SyncOptions::from_json(Some(r#"{"transfers": 0}"#)).is_err());
        assert!(SyncOptions::from_json(Some(r#"{"name": "../x"}"#)).is_err());
    }

    #[test]
    fn breaker_is_refused_naming_settings_breaker() {
        let e = SyncOptions::from_json(Some(r#"{"breaker": {"cooldown_secs": 5}}"#)).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.message().contains("[settings.breaker]"), "{}", e.message());
        assert!(!e.message().contains("unknown field"), "{}", e.message());
    }
}
