//! The SFTP backend's own lock folder, `ROOT/.syncwright/locks/`, where the lock of a run writing this destination
//! lives (see [`crate::locks`]), so that a run over SFTP and a run on the host itself (a local path) exclude each
//! other.
//!
//! A lock is created with an exclusive open (`SSH_FXF_CREAT | SSH_FXF_EXCL`, O_CREAT|O_EXCL on the host): of two
//! racing creators exactly one succeeds. Its content follows in one write; a reader that comes in between sees an
//! empty file, which counts as held for a grace period (see [`crate::locks::LockDir`]). A renewal replaces it with
//! posix-rename. The folders on the way are checked like the rest of the state (a link is refused, never
//! followed), and those made for a lock are removed again when empty.

use super::Inner;
use crate::error::{Error, ErrorKind, Result};
use crate::locks::LockFiles;
use ssh2::{ErrorCode, OpenFlags, OpenType};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The lock folder, relative to the root.
const DIR: &str = ".syncwright/locks";

/// SFTP status codes met here (SFTP v3 servers say FAILURE for an existing file).
const NO_SUCH_FILE: i32 = 2;
const NO_SUCH_PATH: i32 = 10;
const FILE_ALREADY_EXISTS: i32 = 11;

#[derive(Debug)]
pub(super) struct SftpLockFiles {
    inner: Arc<Inner>,
    /// Folders (relative to the root, "" for the root) made for a lock, outermost first.
    made: Mutex<Vec<String>>,
}

impl SftpLockFiles {
    pub(super) fn new(inner: Arc<Inner>) -> SftpLockFiles {
        SftpLockFiles { inner, made: Mutex::new(Vec::new()) }
    }

    fn rel(file: &str) -> String {
        format!("{DIR}/{file}")
    }

    /// Checks the folder (making it when `create`); false when it is missing and not made.
    fn dir(&self, create: bool) -> Result<bool> {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        if create {
            let root_missing =
                !self.inner.checked_dirs.contains("") && self.inner.lstat("")?.is_none();
            self.inner.ensure_root()?;
            if root_missing {
                made.push(String::new());
            }
        }
        self.inner.check_state(&Self::rel("x"), create, Some(&mut made))
    }

    fn exclusive_create(&self, rel: &str, data: &[u8]) -> std::result::Result<bool, (Error, bool)> {
        let abs = self.inner.abs(rel);
        let lease = self.inner.pool.lease().map_err(|e| (e, false))?;
        let conn = lease.conn();
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
        let mut f = match conn.sftp.open_mode(Path::new(&abs), flags, 0o644, OpenType::File) {
            Ok(f) => f,
            Err(e) if e.code() == ErrorCode::SFTP(FILE_ALREADY_EXISTS) => return Ok(false),
            Err(e) => {
                let missing_dir = matches!(e.code(), ErrorCode::SFTP(NO_SUCH_FILE | NO_SUCH_PATH));
                return Err((self.inner.pool.fail(conn, &e, "cannot create", rel), missing_dir));
            }
        };
        let written = f
            .write_all(data)
            .map_err(|e| super::io_kind_error(conn, &self.inner.pool, &e, "cannot write", rel))
            .and_then(|()| match f.fsync() {
                Ok(()) => Ok(()),
                Err(e) if e.code() == ErrorCode::SFTP(8) => Ok(()),
                Err(e) => Err(self.inner.pool.fail(conn, &e, "cannot sync", rel)),
            });
        drop(f);
        match written {
            Ok(()) => Ok(true),
            Err(e) => {
                // Never leave an empty lock behind when it can be helped.
                drop(lease);
                let _ = self.inner.unlink(rel);
                Err((e, false))
            }
        }
    }
}

impl LockFiles for SftpLockFiles {
    fn location(&self) -> String {
        let root = self.inner.loc.to_string();
        format!("{}/{DIR}", root.trim_end_matches('/'))
    }

    fn create_new(&self, file: &str, data: &[u8]) -> Result<bool> {
        let rel = Self::rel(file);
        let mut attempt = 0;
        loop {
            if !self.dir(true)? {
                return Err(Error::internal("lock folder not made"));
            }
            match self.exclusive_create(&rel, data) {
                Ok(created) => return Ok(created),
                // Its folder removed meanwhile by a holder tidying up after itself: make it again.
                Err((_, true)) if attempt < 3 => {
                    attempt += 1;
                    for d in [DIR, ".syncwright", ""] {
                        self.inner.checked_dirs.remove(d);
                    }
                }
                // SFTP v3 says only "failure" when the file exists: look.
                Err((e, _)) => {
                    return match self.inner.lstat(&rel)? {
                        Some(_) => Ok(false),
                        None => Err(e),
                    };
                }
            }
        }
    }

    fn read(&self, file: &str) -> Result<Option<(Vec<u8>, Duration)>> {
        let rel = Self::rel(file);
        if !self.dir(false)? {
            return Ok(None);
        }
        let Some(st) = self.inner.lstat(&rel)? else { return Ok(None) };
        if st.file_type().is_symlink() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("{rel} is a symlink at the destination, not a lock file: remove it"),
            )
            .with_path(rel));
        }
        let mut data = Vec::new();
        if !self.inner.read_all(&rel, &mut data)? {
            return Ok(None);
        }
        // The host's clock against ours: only used to age an unreadable lock, with a grace longer than the skew.
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let age = Duration::from_secs(now.saturating_sub(st.mtime.unwrap_or(now)));
        Ok(Some((data, age)))
    }

    fn replace(&self, file: &str, data: &[u8]) -> Result<()> {
        if !self.dir(true)? {
            return Err(Error::internal("lock folder not made"));
        }
        self.inner.upload_atomic(&Self::rel(file), &mut &data[..])
    }

    fn rename(&self, from: &str, to: &str) -> Result<bool> {
        if !self.dir(false)? {
            return Ok(false);
        }
        let (a, b) = (self.inner.abs(&Self::rel(from)), self.inner.abs(&Self::rel(to)));
        match self.inner.pool.with("cannot rename", &Self::rel(from), |c| {
            c.sftp.rename(Path::new(&a), Path::new(&b), None)
        }) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn remove(&self, file: &str) -> Result<bool> {
        if !self.dir(false)? {
            return Ok(false);
        }
        let rel = Self::rel(file);
        let abs = self.inner.abs(&rel);
        match self.inner.pool.with("cannot remove", &rel, |c| c.sftp.unlink(Path::new(&abs))) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn list(&self) -> Result<Vec<String>> {
        if !self.dir(false)? {
            return Ok(vec![]);
        }
        let abs = self.inner.abs(DIR);
        match self.inner.pool.with("cannot list", DIR, |c| c.sftp.readdir(Path::new(&abs))) {
            Ok(entries) => Ok(entries
                .into_iter()
                .filter_map(|(p, _)| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
                .collect()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(vec![]),
            Err(e) => Err(e),
        }
    }

    fn tidy(&self) {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        // Innermost first; a folder that holds anything stays, and so do those above it.
        while let Some(rel) = made.pop() {
            let abs = self.inner.abs(&rel);
            if self
                .inner
                .pool
                .with("cannot remove", &rel, |c| c.sftp.rmdir(Path::new(&abs)))
                .is_err()
            {
                made.clear();
                break;
            }
            self.inner.checked_dirs.remove(&rel);
            self.inner.fresh_dirs.lock().unwrap_or_else(|p| p.into_inner()).remove(&rel);
        }
    }
}
