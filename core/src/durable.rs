//! Durable file operations shared by the modules that write whole files (backups, sidecars).

use std::fs::File;
use std::path::Path;

/// Links `from` to `to` unless `to` exists (then `AlreadyExists`), and removes `from`: a rename that never
/// replaces. Where hard links are not to be had, a check and a rename.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(from, to) {
        Ok(()) => {
            let _ = std::fs::remove_file(from);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
            }
            std::fs::rename(from, to)
        }
    }
}

/// Makes a folder's entries durable (after a rename into it); best effort.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
