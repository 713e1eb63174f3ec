//! Local backups as calls of the engine (see [`crate::backup`]): the config's `[backup]` resolved from the config
//! file's folder, and create, list, verify and restore over it. The server's `/api/backup/{create,restore}` only
//! adapt these.

use std::path::{Path, PathBuf};

use super::EngineCore;
use crate::backup::{self, BackupCreated, BackupInfo, BackupPlace, RestoreReport, VerifyReport};
use crate::error::Result;

impl EngineCore {
    /// The folder relative `[backup]` paths are taken from: the config file's, else the working folder.
    fn config_dir(&self) -> PathBuf {
        self.config
            .origin
            .as_deref()
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Where backups are made from and kept (`[backup]`, resolved), with `dir` instead of the configured folder
    /// when given.
    pub(crate) fn backup_place(&self, dir: Option<&Path>) -> Result<BackupPlace> {
        let mut place = BackupPlace::resolve(&self.config.backup, &self.config_dir())?;
        if let Some(d) = dir {
            place.dir = std::path::absolute(d)
                .map_err(|e| crate::Error::io(&e, "cannot resolve", d.display().to_string()))?;
        }
        Ok(place)
    }

    fn closing_flag(&self) -> impl Fn() -> bool + '_ {
        || self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Makes a zip of the configured paths named `<UTC time>[-label].zip` in the backups folder (or `dir`), with
    /// the manifest inside, then rotates the folder to `max_backups` (default `[backup] max_backups`) of its
    /// archives; a user's own zips there are never removed. `invalid_input` for a bad label or count.
    pub fn backup_create(
        &self,
        label: Option<&str>,
        max_backups: Option<usize>,
        dir: Option<&Path>,
    ) -> Result<BackupCreated> {
        let place = self.backup_place(dir)?;
        backup::create(&place, label, max_backups, &self.closing_flag())
    }

    /// The archives of the backups folder (or `dir`), newest first (only syncwright's: named by the pattern and
    /// holding the manifest).
    pub fn backup_list(&self, dir: Option<&Path>) -> Result<Vec<BackupInfo>> {
        backup::list(&self.backup_place(dir)?.dir)
    }

    /// Verifies an archive (a name in the backups folder, or a path) without restoring it: every entry name,
    /// the manifest, and every file's size and SHA-256.
    pub fn backup_verify(&self, name: &str, dir: Option<&Path>) -> Result<VerifyReport> {
        let place = self.backup_place(dir)?;
        backup::verify(&backup::locate(&place.dir, name)?)
    }

    /// Restores an archive (a name in the backups folder, or a path) into `target` (default the root): every
    /// entry name is checked before anything is written (a refused archive writes nothing); each file is
    /// checked against the manifest while it is extracted and put in place atomically. Existing files are kept
    /// and reported unless `replace_existing`. A file that fails keeps the old one and the restore is `partial`.
    pub fn backup_restore(
        &self,
        name: &str,
        target: Option<&Path>,
        replace_existing: bool,
        dir: Option<&Path>,
    ) -> Result<RestoreReport> {
        let place = self.backup_place(dir)?;
        let archive = backup::locate(&place.dir, name)?;
        let target = match target {
            Some(t) => std::path::absolute(t)
                .map_err(|e| crate::Error::io(&e, "cannot resolve", t.display().to_string()))?,
            None => place.root.clone(),
        };
        backup::restore(&archive, &target, replace_existing, &self.closing_flag())
    }
}
