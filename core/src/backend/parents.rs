//! The folders above a path a backend writes: each must be a real directory inside the root, never a symlink
//! that could lead out of it (or a file), and missing ones are created. Backends with real folders (local disks,
//! SFTP) share this; each brings its own stat and mkdir.

use crate::error::{Error, ErrorKind, Result};
use std::collections::HashSet;
use std::sync::Mutex;

/// What is at a path, links not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Something else (a file, a FIFO...).
    Other,
    /// Nothing.
    Missing,
}

/// Makes a missing folder (relative to the root); a folder made meanwhile by someone else is no error.
pub(crate) type Mkdir<'a> = &'a mut dyn FnMut(&str) -> Result<()>;

/// Directories (relative to the root) found to be real directories, so each is checked once per backend.
#[derive(Debug, Default)]
pub(crate) struct CheckedDirs(Mutex<HashSet<String>>);

impl CheckedDirs {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `rel` is known to be a real directory.
    pub fn contains(&self, rel: &str) -> bool {
        self.set().contains(rel)
    }

    /// Records `rel` as a real directory.
    pub fn insert(&self, rel: &str) {
        self.set().insert(rel.to_string());
    }

    /// Forgets `rel` (it was removed).
    pub fn remove(&self, rel: &str) {
        self.set().remove(rel);
    }

    /// Checks every directory above `rel`, top down, with `stat`. A missing one is made with `mkdir` (which may
    /// find it made meanwhile); without `mkdir`, a missing one ends the check (nothing below it exists either). A
    /// symlink or a file on the way is a `conflict` naming it.
    pub fn check(
        &self,
        rel: &str,
        stat: impl FnMut(&str) -> Result<Found>,
        mkdir: Option<Mkdir<'_>>,
    ) -> Result<()> {
        self.walk(rel, stat, mkdir, |prefix, what| {
            format!("{prefix} is {what} at the destination, so {rel} cannot be written below it")
        })
        .map(|_| ())
    }

    /// Checks the folders of `rel`, a path of syncwright's own state (`.syncwright/...`), like
    /// [`CheckedDirs::check`]; true when they all exist (without `mkdir`, false at the first missing one).
    /// `.syncwright` or a folder below it that is a symlink, or not a folder, is refused and never followed: the
    /// manifests, run markers and locks written there would land outside the destination.
    ///
    /// The refusal is a `conflict`, not `invalid_input`: nothing the caller passed is wrong (the destination is a
    /// folder); what is in the way is at the destination, as with a symlink on the way to a file being written
    /// ([`CheckedDirs::check`]), and the fix is there (remove or rename it). A destination *root* that is not a
    /// folder is `invalid_input` instead: then the location given is wrong.
    pub fn check_state(
        &self,
        rel: &str,
        stat: impl FnMut(&str) -> Result<Found>,
        mkdir: Option<Mkdir<'_>>,
    ) -> Result<bool> {
        self.walk(rel, stat, mkdir, |prefix, what| {
            format!(
                "{prefix} is {what} at the destination: syncwright keeps its own state in a real folder there and \
                 never follows a link out of the destination; remove or rename it"
            )
        })
    }

    fn walk(
        &self,
        rel: &str,
        mut stat: impl FnMut(&str) -> Result<Found>,
        mut mkdir: Option<Mkdir<'_>>,
        refusal: impl Fn(&str, &str) -> String,
    ) -> Result<bool> {
        let Some((parent, _)) = rel.rsplit_once('/') else { return Ok(true) };
        if self.contains(parent) {
            return Ok(true);
        }
        let mut prefix = String::new();
        for comp in parent.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(comp);
            if self.contains(&prefix) {
                continue;
            }
            match stat(&prefix)? {
                Found::Dir => {}
                found @ (Found::Symlink | Found::Other) => {
                    let what =
                        if found == Found::Symlink { "a symlink" } else { "not a directory" };
                    return Err(
                        Error::new(ErrorKind::Conflict, refusal(&prefix, what)).with_path(rel)
                    );
                }
                Found::Missing => match mkdir.as_mut() {
                    Some(mkdir) => mkdir(&prefix)?,
                    None => return Ok(false),
                },
            }
            self.insert(&prefix);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_each_folder_once_creates_missing_ones_and_refuses_links() {
        let dirs = CheckedDirs::default();
        let mut stats = Vec::new();
        let mut made = Vec::new();
        let mut mk = |p: &str| -> Result<()> {
            made.push(p.to_string());
            Ok(())
        };
        dirs.check(
            "a/b/c.txt",
            |p| {
                stats.push(p.to_string());
                Ok(if p == "a" { Found::Dir } else { Found::Missing })
            },
            Some(&mut mk),
        )
        .unwrap();
        assert_eq!(stats, ["a", "a/b"]);
        assert_eq!(made, ["a/b"]);
        // Known now: no more stats.
        dirs.check("a/b/d.txt", |_| panic!("checked already"), None).unwrap();
        let e = dirs.check("x/y.txt", |_| Ok(Found::Symlink), None).unwrap_err();
        assert_eq!((e.kind(), e.path()), (ErrorKind::Conflict, Some("x/y.txt")));
        assert!(e.message().contains("x is a symlink"), "{}", e.message());
        // Without mkdir, a missing folder ends the check and is not recorded.
        dirs.check("m/n/o.txt", |_| Ok(Found::Missing), None).unwrap();
        assert!(!dirs.contains("m"));
    }
}
