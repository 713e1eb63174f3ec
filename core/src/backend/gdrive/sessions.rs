//! Resumable upload sessions kept across attempts and runs.
//!
//! A large upload opens a session on Drive whose URI lets it continue where the server stopped. The URI is kept in
//! memory and, when the backend has a cache folder, in `<cache>/gdrive-<location hash>/uploads/<snapshot>/<key>.json`
//! (mode 0600: a session URI lets anyone holding it upload to that file). The key is the source version's
//! fingerprint ([`crate::manifest::hash::version_fingerprint`]: target path, size, mtime), so only an upload of the
//! very same version resumes. A committed or aborted upload forgets its session; Drive drops sessions after a
//! week, so records older than [`MAX_AGE_SECS`] are ignored and removed.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// Sessions older than this (six days; Drive keeps them for a week) are not resumed.
pub(super) const MAX_AGE_SECS: i64 = 6 * 24 * 3600;

/// One open upload session.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct SessionRecord {
    /// The session URI (a credential: never shown).
    pub uri: String,
    /// Relative path of the target.
    pub path: String,
    /// Bytes of the whole upload.
    pub size: u64,
    /// The metadata sent when the session was opened.
    pub meta: serde_json::Value,
    /// When it was opened (seconds since the epoch).
    pub created_at: i64,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("uri", &"[redacted]")
            .finish()
    }
}

/// The open sessions of one backend.
#[derive(Debug)]
pub(super) struct Sessions {
    dir: Option<PathBuf>,
    mem: Mutex<HashMap<String, SessionRecord>>,
}

fn fresh(r: &SessionRecord) -> bool {
    chrono::Utc::now().timestamp() - r.created_at < MAX_AGE_SECS
}

impl Sessions {
    /// Sessions kept in `dir` (None: in memory only).
    pub fn new(dir: Option<PathBuf>) -> Sessions {
        Sessions { dir, mem: Mutex::new(HashMap::new()) }
    }

    fn file(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{key}.json")))
    }

    /// The session of `key`, if one is open and young enough.
    pub fn get(&self, key: &str) -> Option<SessionRecord> {
        if let Some(r) = self.mem.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            return fresh(r).then(|| r.clone());
        }
        let f = self.file(key)?;
        let bytes = super::super::blocking(|| std::fs::read(&f)).ok()?;
        match serde_json::from_slice::<SessionRecord>(&bytes) {
            Ok(r) if fresh(&r) => {
                self.mem.lock().unwrap_or_else(|p| p.into_inner()).insert(key.into(), r.clone());
                Some(r)
            }
            _ => {
                let _ = std::fs::remove_file(&f);
                None
            }
        }
    }

    /// Keeps a new session (on disk first, so that a crash right after still lets the next run resume it).
    pub fn put(&self, key: &str, r: SessionRecord) -> Result<()> {
        if let (Some(dir), Some(f)) = (&self.dir, self.file(key)) {
            let json = serde_json::to_vec(&r)?;
            super::super::blocking(|| -> Result<()> {
                let io = |e: std::io::Error| {
                    Error::io(&e, "cannot save the upload session in", dir.display().to_string())
                };
                std::fs::create_dir_all(dir).map_err(io)?;
                self.sweep(dir);
                let tmp = f.with_extension("tmp");
                {
                    use std::io::Write;
                    use std::os::unix::fs::OpenOptionsExt;
                    let mut w = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&tmp)
                        .map_err(io)?;
                    w.write_all(&json).map_err(io)?;
                }
                std::fs::rename(&tmp, &f).map_err(io)
            })?;
        }
        self.mem.lock().unwrap_or_else(|p| p.into_inner()).insert(key.into(), r);
        Ok(())
    }

    /// Forgets the session of `key`.
    pub fn remove(&self, key: &str) {
        self.mem.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        if let Some(f) = self.file(key) {
            let _ = super::super::blocking(|| std::fs::remove_file(&f));
        }
    }

    /// Removes records too old to resume.
    fn sweep(&self, dir: &std::path::Path) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        let max_age = std::time::Duration::from_secs(MAX_AGE_SECS as u64);
        for e in rd.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > max_age);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
