//! The per-host embedded store (SQLite): the hash cache, the history of runs, the recovery operations and the
//! unfinished multipart uploads (the outbox comes with its issue).
//!
//! The store lives on local disk (never on a shared NFS/SMB volume). Its default place is
//! `$SYNCWRIGHT_STATE_DIR`, else `$XDG_STATE_HOME/syncwright`, else `~/.local/state/syncwright`.

use crate::error::{Error, ErrorKind, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File name of the store inside the state directory.
pub const STORE_FILE: &str = "state.db";

/// A cached content hash of a file, valid while size and mtime are unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedHash {
    /// Size when hashed.
    pub size: u64,
    /// Modification time when hashed.
    pub mtime_ns: i64,
    /// The digest, hex.
    pub digest: String,
}

/// The embedded store. Cheap to share behind an `Arc`; calls serialise on one connection.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// The default state directory (see the module docs).
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SYNCWRIGHT_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("syncwright");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => PathBuf::from(h).join(".local/state/syncwright"),
        None => std::env::temp_dir().join("syncwright-state"),
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hash_cache (
    root TEXT NOT NULL,
    algo TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (root, algo, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    job_id TEXT PRIMARY KEY,
    sync_id TEXT NOT NULL,
    profile TEXT,
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_ms INTEGER,
    error TEXT,
    stats TEXT,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_profile ON runs (profile, started_at);
CREATE TABLE IF NOT EXISTS operations (
    operation_id TEXT PRIMARY KEY,
    function_name TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    metadata TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS operations_by_state ON operations (state, created_at);
";

pub mod history;
pub mod operations;
pub mod uploads;

impl Store {
    /// Opens (creating) the store in `dir`.
    pub fn open_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::io(&e, "cannot create the state directory", dir.display().to_string())
        })?;
        Store::open(&dir.join(STORE_FILE))
    }

    /// Opens (creating) the store at the file `path`. Processes that open one store at the same moment (two CLI
    /// runs started together) wait for each other while the first sets it up.
    pub fn open(path: &Path) -> Result<Store> {
        let mut tries = 0;
        loop {
            match Store::try_open(path) {
                Err(e) if tries < 100 && e.message().contains("locked") => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20 + fastrand::u64(..20)));
                }
                r => return r,
            }
        }
    }

    fn try_open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("cannot open state store {}: {e}", path.display()),
            )
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(uploads::SCHEMA)?;
        Ok(Store { conn: Mutex::new(conn), path: path.to_path_buf() })
    }

    /// An in-memory store (for tests and one-off runs).
    pub fn in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(uploads::SCHEMA)?;
        Ok(Store { conn: Mutex::new(conn), path: PathBuf::from(":memory:") })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// All cached `algo` hashes under `root` (an absolute location), by relative path.
    pub fn cached_hashes(&self, root: &str, algo: &str) -> Result<HashMap<String, CachedHash>> {
        let conn = self.lock();
        let mut st = conn.prepare_cached(
            "SELECT path, size, mtime_ns, digest FROM hash_cache WHERE root = ?1 AND algo = ?2",
        )?;
        let rows = st.query_map(params![root, algo], |r| {
            Ok((
                r.get::<_, String>(0)?,
                CachedHash {
                    size: r.get::<_, i64>(1)? as u64,
                    mtime_ns: r.get(2)?,
                    digest: r.get(3)?,
                },
            ))
        })?;
        let mut out = HashMap::new();
        for r in rows {
            let (p, c) = r?;
            out.insert(p, c);
        }
        Ok(out)
    }

    /// One cached `algo` hash.
    pub fn cached_hash(&self, root: &str, algo: &str, path: &str) -> Result<Option<CachedHash>> {
        let conn = self.lock();
        let mut st = conn.prepare_cached(
            "SELECT size, mtime_ns, digest FROM hash_cache WHERE root = ?1 AND algo = ?2 AND path = ?3",
        )?;
        Ok(st
            .query_row(params![root, algo, path], |r| {
                Ok(CachedHash {
                    size: r.get::<_, i64>(0)? as u64,
                    mtime_ns: r.get(1)?,
                    digest: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Stores `algo` hashes under `root` in one transaction.
    pub fn put_hashes<'a>(
        &self,
        root: &str,
        algo: &str,
        items: impl IntoIterator<Item = (&'a str, &'a CachedHash)>,
    ) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO hash_cache (root, algo, path, size, mtime_ns, digest) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (p, c) in items {
                st.execute(params![root, algo, p, c.size as i64, c.mtime_ns, c.digest])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_cache_round_trip_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let c = CachedHash { size: 3, mtime_ns: 7, digest: "ab".into() };
        {
            let s = Store::open_dir(dir.path()).unwrap();
            s.put_hashes("/r", "sha256", [("a/b", &c)]).unwrap();
        }
        let s = Store::open_dir(dir.path()).unwrap();
        assert_eq!(s.cached_hash("/r", "sha256", "a/b").unwrap(), Some(c.clone()));
        assert_eq!(s.cached_hash("/r", "blake3", "a/b").unwrap(), None);
        assert_eq!(s.cached_hash("/other", "sha256", "a/b").unwrap(), None);
        assert_eq!(s.cached_hashes("/r", "sha256").unwrap().len(), 1);
    }
}
