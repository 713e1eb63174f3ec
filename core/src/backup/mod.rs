//! Local backups: zip archives of a project's folders (by default `data`, `assets` and `config`) in a backups
//! folder, with a manifest inside, rotation, verification and a restore that checks everything before it writes.
//!
//! ```toml
//! [backup]
//! root = "/workspace/project"      # default: the config file's folder
//! paths = ["data", "assets", "config"]
//! dir = "backups"                  # default: <root>/backups; relative to the config file's folder
//! max_backups = 5                  # 1 to 50
//! ```
//!
//! An archive is `<UTC %Y%m%dT%H%M%SZ>[-label][-N].zip`. Its entries are the files below the paths, named relative
//! to the root with `/` separators, and last the manifest, `__meta__/cloud_sync/manifest.json`:
//!
//! ```json
//! {"schema_version": 1, "format": "syncwright-backup", "created_at": "2025-12-15T08:05:30.123456789Z",
//!  "label": "pre-cloud-sync", "root": "/workspace/project", "paths": ["data", "assets", "config"],
//!  "entries": [{"path": "data/a.json", "size": 12, "mode": 420,
//!               "mtime": "2025-12-14T10:00:00.000000000Z", "sha256": "..."}],
//!  "entry_count": 1, "total_bytes": 12}
//! ```
//!
//! `mode` is the permission bits as a number (420 is `0o644`); `mtime` is RFC 3339 in UTC with nanoseconds.
//! Already-compressed media ([`STORED_EXTENSIONS`](crate::backup::STORED_EXTENSIONS)) is stored; the rest is
//! deflated, except a small file (under 1 MiB) that deflate does not make smaller, which is stored as Info-ZIP's
//! `zip` does. Zip64 is used for files of 4 GiB and more, offsets past 4 GiB and more than 65,535 entries.
//! Symbolic links are skipped with a warning, the backups folder is never archived, and folders are implied by
//! their files (empty ones are not kept). Reading skips the holes of sparse files and writing leaves aligned
//! 64 KiB blocks of zeros as holes, in the archive as in restored files.
//!
//! Only archives that both have a name of that pattern and hold a manifest of format `syncwright-backup` are
//! listed or rotated away: other zips in the folder are left alone.

mod create;
mod manifest;
mod names;
mod out;
mod restore;
mod rotation;
mod zip;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use create::STORED_EXTENSIONS;
pub use manifest::{FORMAT, MANIFEST_PATH, SCHEMA_VERSION};

/// The paths backed up by default (document 3's `data, data/scenes, assets, config`, `data/scenes` folded into
/// `data`).
pub const DEFAULT_PATHS: [&str; 3] = ["data", "assets", "config"];
/// The default of [`BackupConfig::max_backups`].
pub const DEFAULT_MAX_BACKUPS: usize = 5;
/// The most archives a folder may be set to keep.
pub const MAX_MAX_BACKUPS: usize = 50;

/// The `[backup]` table of a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// The folder the paths are relative to. Default: the config file's folder.
    pub root: Option<PathBuf>,
    /// The folders (or files) to back up, relative to the root.
    pub paths: Vec<String>,
    /// Where archives go. Default: `<root>/backups`.
    pub dir: Option<PathBuf>,
    /// How many archives rotation keeps (1 to 50).
    pub max_backups: usize,
}

impl Default for BackupConfig {
    fn default() -> BackupConfig {
        BackupConfig {
            root: None,
            paths: DEFAULT_PATHS.iter().map(|s| s.to_string()).collect(),
            dir: None,
            max_backups: DEFAULT_MAX_BACKUPS,
        }
    }
}

/// Checks a number of archives to keep: 1 to [`MAX_MAX_BACKUPS`].
pub fn check_max_backups(n: usize) -> Result<()> {
    if (1..=MAX_MAX_BACKUPS).contains(&n) {
        Ok(())
    } else {
        Err(Error::invalid(format!("max_backups is {n}: it must be 1 to {MAX_MAX_BACKUPS}")))
    }
}

impl BackupConfig {
    /// Checks the settings: `max_backups` in 1..=50 and every path relative without `..` (`invalid_input`).
    pub fn validate(&self) -> Result<()> {
        check_max_backups(self.max_backups)?;
        names::fold_paths(&self.paths)?;
        Ok(())
    }
}

/// Where backups are made from and to, resolved: absolute folders, the paths checked and folded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupPlace {
    /// The absolute folder the paths are relative to.
    pub root: PathBuf,
    /// The paths to back up, relative to `root`.
    pub paths: Vec<String>,
    /// The absolute backups folder.
    pub dir: PathBuf,
    /// How many archives rotation keeps.
    pub max_backups: usize,
}

impl BackupPlace {
    /// Resolves `cfg` against the folder of its config file: a relative `root` or `dir` is taken from
    /// `config_dir`, the root defaults to `config_dir` and the backups folder to `<root>/backups`.
    pub fn resolve(cfg: &BackupConfig, config_dir: &Path) -> Result<BackupPlace> {
        cfg.validate()?;
        let base = std::path::absolute(config_dir)
            .map_err(|e| Error::io(&e, "cannot resolve", config_dir.display().to_string()))?;
        let root = match &cfg.root {
            Some(r) => base.join(r),
            None => base.clone(),
        };
        let dir = match &cfg.dir {
            Some(d) => base.join(d),
            None => root.join("backups"),
        };
        Ok(BackupPlace {
            root,
            paths: names::fold_paths(&cfg.paths)?,
            dir,
            max_backups: cfg.max_backups,
        })
    }
}

/// What [`create`] made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupCreated {
    /// The archive's file name.
    pub name: String,
    /// The archive's path.
    pub path: PathBuf,
    /// The archive's size in bytes.
    pub size: u64,
    /// When it was made (RFC 3339, UTC; the same as in its manifest).
    pub created_at: String,
    /// The label, if any.
    pub label: Option<String>,
    /// Files archived.
    pub entries: u64,
    /// Their bytes, uncompressed.
    pub bytes: u64,
    /// Older archives removed by rotation.
    pub rotated: Vec<String>,
    /// What was skipped, and why (a missing path, a symbolic link, a file that could not be opened).
    pub warnings: Vec<String>,
}

/// One archive of a backups folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupInfo {
    /// The file name.
    pub name: String,
    /// The path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// When it was made (from its manifest).
    pub created_at: String,
    /// Its label, if any.
    pub label: Option<String>,
    /// Files in it.
    pub entries: u64,
}

/// A problem found in an archive: the entry and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The entry name (or the manifest's).
    pub path: String,
    /// What is wrong with it.
    pub problem: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The archive's file name.
    pub name: String,
    /// Files checked (the manifest not counted).
    pub entries: u64,
    /// Bytes read, uncompressed.
    pub bytes: u64,
    /// Whether every file matched its size, CRC-32 and SHA-256.
    pub ok: bool,
    /// The files that did not.
    pub problems: Vec<Problem>,
}

/// How a restore ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreStatus {
    /// Every file was restored or kept.
    Completed,
    /// Some files failed (see [`RestoreReport::failed`]).
    Partial,
}

/// A file a restore could not write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedFile {
    /// The entry name.
    pub path: String,
    /// Why.
    pub error: String,
}

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// The archive.
    pub archive: PathBuf,
    /// The folder restored into.
    pub target: PathBuf,
    /// `completed` or `partial`.
    pub status: RestoreStatus,
    /// Files written.
    pub restored: Vec<String>,
    /// Files that existed and were left as they were (`replace_existing` false).
    pub kept: Vec<String>,
    /// Files that failed; the file that was there, if any, is unchanged.
    pub failed: Vec<FailedFile>,
    /// Bytes written.
    pub bytes: u64,
}

/// Makes an archive of `place.paths` in `place.dir`, then rotates the folder down to `max_backups` (default
/// `place.max_backups`; 1 to 50) of our archives, the new one always kept.
///
/// `invalid_input` (and nothing written) for a bad label (1 to 64 of `[A-Za-z0-9._-]`, not `.` or `..`), a bad
/// `max_backups` or a path that is absolute or has `..`. A path that does not exist, a symbolic link and a file
/// that cannot be opened are skipped with a warning. The archive is written to `.<name>.partial-<random>` in
/// `dir`, fsynced and renamed to a name never taken before (`-1`, `-2`, ... when the name exists); on an error
/// or `cancel()` (`cancelled`) the temporary is removed. `cancel` is called on this thread only.
pub fn create(
    place: &BackupPlace,
    label: Option<&str>,
    max_backups: Option<usize>,
    cancel: &dyn Fn() -> bool,
) -> Result<BackupCreated> {
    create::create(place, label, max_backups, cancel)
}

/// Our archives in `dir`, newest first (an empty list when `dir` does not exist).
pub fn list(dir: &Path) -> Result<Vec<BackupInfo>> {
    rotation::list(dir)
}

/// Finds an archive: a bare name (`20251215T080530Z-label.zip`) in `dir`, or, when `name_or_path` has a `/`,
/// `\` or `..`, that path if it is an existing file. `invalid_input` for a name of another pattern, `not_found`
/// for a name not there.
pub fn locate(dir: &Path, name_or_path: &str) -> Result<PathBuf> {
    rotation::locate(dir, name_or_path)
}

/// Checks an archive: every entry name, the manifest, that the entries are the manifest's, and every file's
/// size, CRC-32 and SHA-256. An archive a restore would refuse (bad names, links, duplicates, no manifest,
/// entries that are not the manifest's) is a `corrupt` error whose details list the problems
/// (`{"archive": ..., "problems": [{"path": ..., "problem": ...}]}`); damaged files are problems of the report.
pub fn verify(archive: &Path) -> Result<VerifyReport> {
    restore::verify(archive)
}

/// Restores an archive into `target` (usually the root).
///
/// Before anything is written every entry is checked as by [`verify`] (except the files' contents); a refused
/// archive is a `corrupt` error and nothing is written. Then each file goes to a temporary beside its target, its
/// SHA-256 checked against the manifest's on the way (zero blocks of 64 KiB are left as holes), its mode and
/// mtime set, and after a flush to disk it is renamed into place. A file whose data does not match, or whose
/// folder in the target is a symbolic link or not a folder, fails (the old file stays) and the restore is
/// `partial`. An existing file is kept unless `replace_existing`. On `cancel()` the files finished so far stay
/// restored, no temporary is left, and the result is `cancelled`.
pub fn restore(
    archive: &Path,
    target: &Path,
    replace_existing: bool,
    cancel: &dyn Fn() -> bool,
) -> Result<RestoreReport> {
    restore::restore(archive, target, replace_existing, cancel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_validation() {
        let c: BackupConfig = toml::from_str("").unwrap();
        assert_eq!(c, BackupConfig::default());
        assert_eq!(c.paths, ["data", "assets", "config"]);
        assert_eq!(c.max_backups, 5);
        let c: BackupConfig = toml::from_str("max_backups = 51").unwrap();
        assert_eq!(c.validate().unwrap_err().kind(), crate::ErrorKind::InvalidInput);
        let c: BackupConfig = toml::from_str("max_backups = 0").unwrap();
        assert_eq!(c.validate().unwrap_err().kind(), crate::ErrorKind::InvalidInput);
        assert!(toml::from_str::<BackupConfig>("colour = 1").is_err());
        let c: BackupConfig = toml::from_str("paths = [\"../x\"]").unwrap();
        assert_eq!(c.validate().unwrap_err().kind(), crate::ErrorKind::InvalidInput);
    }

    #[test]
    fn places_resolve_against_the_config_folder() {
        let cfg = BackupConfig::default();
        let p = BackupPlace::resolve(&cfg, Path::new("/etc/app")).unwrap();
        assert_eq!(p.root, Path::new("/etc/app"));
        assert_eq!(p.dir, Path::new("/etc/app/backups"));
        let cfg = BackupConfig {
            root: Some("proj".into()),
            dir: Some("/var/bk".into()),
            paths: vec!["data".into(), "data/scenes".into()],
            ..BackupConfig::default()
        };
        let p = BackupPlace::resolve(&cfg, Path::new("/etc/app")).unwrap();
        assert_eq!(p.root, Path::new("/etc/app/proj"));
        assert_eq!(p.dir, Path::new("/var/bk"));
        assert_eq!(p.paths, ["data"]);
        let cfg = BackupConfig {
            root: Some("/r".into()),
            dir: Some("bk".into()),
            ..BackupConfig::default()
        };
        let p = BackupPlace::resolve(&cfg, Path::new("/etc/app")).unwrap();
        assert_eq!(p.dir, Path::new("/etc/app/bk"));
        let p =
            BackupPlace::resolve(&BackupConfig { root: Some("/r".into()), ..cfg }, Path::new("/c"))
                .unwrap();
        assert_eq!(p.dir, Path::new("/c/bk"));
    }
}
