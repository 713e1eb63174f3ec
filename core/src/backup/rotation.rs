//! The archives of a backups folder: which files are ours (a name of the pattern and our manifest inside), their
//! order, rotation, listing and looking one up by name.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::BackupInfo;
use super::manifest::{self, ManifestHead};
use super::names::{ArchiveName, parse_archive_name};
use super::zip::ZipReader;
use crate::error::{Error, ErrorKind, Result};

/// One of our archives in a folder.
pub(crate) struct Ours {
    pub key: ArchiveName,
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub head: ManifestHead,
}

/// Whether `path` holds our manifest (its head, or None for another file).
fn our_head(path: &Path) -> Option<ManifestHead> {
    let f = File::open(path).ok()?;
    let r = ZipReader::new(f).ok()?;
    manifest::read_head(&r).ok()
}

/// Our archives in `dir`, oldest first (by the name's timestamp, then its suffix, then `created_at`).
pub(crate) fn ours(dir: &Path) -> Result<Vec<Ours>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&e, "cannot list", dir.display().to_string())),
    };
    let mut out = Vec::new();
    for de in rd {
        let de = de.map_err(|e| Error::io(&e, "cannot list", dir.display().to_string()))?;
        let Ok(name) = de.file_name().into_string() else { continue };
        let Some(key) = parse_archive_name(&name) else { continue };
        // A regular file only: a link is someone else's.
        let Ok(ft) = de.file_type() else { continue };
        if !ft.is_file() {
            continue;
        }
        let path = de.path();
        let Some(head) = our_head(&path) else { continue };
        let size = de.metadata().map(|m| m.len()).unwrap_or(0);
        out.push(Ours { key, name, path, size, head });
    }
    out.sort_by(|a, b| {
        (&a.key.stamp, a.key.suffix, &a.head.created_at, &a.name).cmp(&(
            &b.key.stamp,
            b.key.suffix,
            &b.head.created_at,
            &b.name,
        ))
    });
    Ok(out)
}

/// Removes our oldest archives in `dir` until `keep` are left; `just_made` is never removed (a clock set back
/// must not rotate the new archive away). Returns the names removed; a failure to list or remove is a warning.
pub(crate) fn rotate(
    dir: &Path,
    keep: usize,
    just_made: &str,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let all = match ours(dir) {
        Ok(a) => a,
        Err(e) => {
            warnings.push(format!("rotation: {e}"));
            return Vec::new();
        }
    };
    // Newest first; the new one takes its slot first.
    let mut kept = 1usize;
    let mut removed = Vec::new();
    for o in all.iter().rev() {
        if o.name == just_made {
            continue;
        }
        if kept < keep {
            kept += 1;
            continue;
        }
        match std::fs::remove_file(&o.path) {
            Ok(()) => removed.push(o.name.clone()),
            Err(e) => warnings.push(format!("rotation: cannot remove {}: {e}", o.name)),
        }
    }
    removed.reverse();
    removed
}

/// See [`super::list`].
pub fn list(dir: &Path) -> Result<Vec<BackupInfo>> {
    let mut v: Vec<BackupInfo> = ours(dir)?
        .into_iter()
        .map(|o| BackupInfo {
            name: o.name,
            path: o.path,
            size: o.size,
            created_at: o.head.created_at,
            label: o.head.label,
            entries: o.head.entry_count,
        })
        .collect();
    v.reverse();
    Ok(v)
}

/// See [`super::locate`].
pub fn locate(dir: &Path, name_or_path: &str) -> Result<PathBuf> {
    let looks_like_path =
        name_or_path.contains('/') || name_or_path.contains('\\') || name_or_path.contains("..");
    if looks_like_path {
        let p = Path::new(name_or_path);
        if std::fs::metadata(p).is_ok_and(|m| m.is_file()) {
            return Ok(p.to_path_buf());
        }
    }
    if parse_archive_name(name_or_path).is_none() {
        return Err(Error::invalid(format!(
            "{name_or_path:?} is neither a backup name (like 20251215T080530Z-label.zip) nor an existing archive"
        )));
    }
    let p = dir.join(name_or_path);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_file() => Ok(p),
        Ok(_) => Err(Error::invalid(format!("{} is not a file", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::new(
            ErrorKind::NotFound,
            format!("no backup {name_or_path} in {}", dir.display()),
        )
        .with_path(p.display().to_string())),
        Err(e) => Err(Error::io(&e, "cannot open", p.display().to_string())),
    }
}
