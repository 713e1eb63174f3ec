//! The per-host embedded store (SQLite): the hash cache, the history of runs, the recovery operations, the
//! unfinished multipart uploads and the events kept for replay (the outbox comes with its issue).
//!
//! The store lives on local disk (never on a shared NFS/SMB volume). Its default place is
//! `$SYNCWRIGHT_STATE_DIR`, else `$XDG_STATE_HOME/syncwright`, else `~/.local/state/syncwright`.
//!
//! The store is a cache and a history, never the only copy of anything: a damaged one must not block syncs. When
//! opening finds that the file is not a database, fails SQLite's `quick_check`, or holds one of the tables with
//! columns missing, the file (and its `-wal`, `-shm` and `-journal` files) is moved aside to
//! `state.db.corrupt-<UTC time>` and a new store is started; [`Store::recovered`] says so, and the engine turns it
//! into a `state_store_recovered` warning. A store that cannot be opened for other reasons (a state directory
//! that is not writable, a file locked by another process, a full disk) is an error and is left as it is.

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
    recovered: Option<StoreRecovery>,
}

/// A damaged store found when opening: where it was kept and why. The store opened in its place is new and empty.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoreRecovery {
    /// The store's file (now a new store).
    pub path: PathBuf,
    /// Where the damaged file was kept; its `-wal`, `-shm` and `-journal` files, if it had any, are beside it with
    /// the same suffixes (`<kept>-wal`), so it can still be opened as it was.
    pub kept: PathBuf,
    /// What was wrong with it.
    pub reason: String,
}

impl StoreRecovery {
    /// One sentence for people, naming the kept file.
    pub fn message(&self) -> String {
        format!(
            "the state store {} was damaged ({}): it was moved aside to {} and a new, empty store was started \
             (the hash cache and the run history start over)",
            self.path.display(),
            self.reason,
            self.kept.display()
        )
    }

    /// The `state_store_recovered` warning of a report (path "": it concerns no file of the tree).
    pub fn warning(&self) -> crate::report::Warning {
        crate::report::Warning::new(
            "",
            crate::report::WarningReason::StateStoreRecovered,
            self.message(),
        )
    }
}

/// Why a store could not be opened.
enum OpenFailure {
    /// The file is damaged: not a database, failing its integrity check, or with a schema that is not ours.
    Damaged(String),
    /// Anything else (permissions, locks, disk full): not the file's fault.
    Other(Error),
}

impl OpenFailure {
    /// Damage for SQLite's "not a database" and "malformed" codes, otherwise an error of the store.
    fn of(e: rusqlite::Error) -> OpenFailure {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match e.sqlite_error_code() {
            Some(NotADatabase | DatabaseCorrupt) => OpenFailure::Damaged(e.to_string()),
            _ => OpenFailure::Other(e.into()),
        }
    }
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

pub mod events;
pub mod history;
pub mod operations;
pub mod uploads;

/// The suffixes of the files SQLite keeps beside a database.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// How long an open waits for another process's lock before it fails ("database is locked").
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The columns of every table of the schema, read from a store made in memory (so they never drift from it).
fn expected_columns() -> &'static [(String, Vec<String>)] {
    static COLUMNS: std::sync::OnceLock<Vec<(String, Vec<String>)>> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(|| {
        let read = || -> rusqlite::Result<Vec<(String, Vec<String>)>> {
            let conn = Connection::open_in_memory()?;
            conn.execute_batch(SCHEMA)?;
            conn.execute_batch(uploads::SCHEMA)?;
            conn.execute_batch(events::SCHEMA)?;
            let mut st = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
            let tables: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            tables.into_iter().map(|t| Ok((t.clone(), table_columns(&conn, &t)?))).collect()
        };
        read().unwrap_or_default()
    })
}

fn table_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare_cached("SELECT name FROM pragma_table_info(?1)")?;
    st.query_map([table], |r| r.get(0))?.collect()
}

/// SQLite's `quick_check` (every page, every index entry: about 0.3 s for a million cached hashes), then the
/// tables of our schema that exist must be tables holding at least our columns (a newer version may add some).
fn check_store(conn: &Connection) -> Result<(), OpenFailure> {
    let mut st = conn.prepare("PRAGMA quick_check").map_err(OpenFailure::of)?;
    let problems: Vec<String> = st
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(OpenFailure::of)?;
    if problems.first().map(String::as_str) != Some("ok") {
        let mut why = problems.into_iter().take(3).collect::<Vec<_>>().join("; ");
        if why.is_empty() {
            why = "the integrity check gave no answer".into();
        }
        return Err(OpenFailure::Damaged(format!("integrity check: {why}")));
    }
    for (table, want) in expected_columns() {
        let kind: Option<String> = conn
            .query_row("SELECT type FROM sqlite_master WHERE name = ?1", [table], |r| r.get(0))
            .optional()
            .map_err(OpenFailure::of)?;
        match kind.as_deref() {
            None => continue,
            Some("table") => {}
            Some(other) => {
                return Err(OpenFailure::Damaged(format!("{table} is a {other}, not a table")));
            }
        }
        let have = table_columns(conn, table).map_err(OpenFailure::of)?;
        if let Some(c) = want.iter().find(|c| !have.contains(c)) {
            return Err(OpenFailure::Damaged(format!("table {table} has no column {c}")));
        }
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Store {
    /// Opens (creating) the store in `dir`. A damaged store is moved aside and replaced (see the module docs and
    /// [`Store::recovered`]).
    pub fn open_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::io(&e, "cannot create the state directory", dir.display().to_string())
        })?;
        Store::open(&dir.join(STORE_FILE))
    }

    /// Opens (creating) the store at the file `path`. Processes that open one store at the same moment (two CLI
    /// runs started together) wait for each other while the first sets it up. A damaged store is moved aside and
    /// replaced (see the module docs and [`Store::recovered`]).
    pub fn open(path: &Path) -> Result<Store> {
        match Store::open_waiting(path, BUSY_TIMEOUT) {
            Ok(s) => Ok(s),
            Err(OpenFailure::Other(e)) => Err(e),
            Err(OpenFailure::Damaged(why)) => Store::recover(path, why),
        }
    }

    /// What opening found damaged and moved aside, if anything.
    pub fn recovered(&self) -> Option<&StoreRecovery> {
        self.recovered.as_ref()
    }

    fn open_waiting(path: &Path, busy: std::time::Duration) -> Result<Store, OpenFailure> {
        let mut tries = 0;
        loop {
            match Store::try_open(path, busy) {
                Err(OpenFailure::Other(e)) if tries < 100 && e.message().contains("locked") => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20 + fastrand::u64(..20)));
                }
                r => return r,
            }
        }
    }

    /// Moves the damaged store at `path` aside and opens a new one. Processes doing it at the same moment take
    /// turns on a lock of the state directory; one that finds a healthy store once it has the lock (another moved
    /// the damaged one) just opens it.
    fn recover(path: &Path, why: String) -> Result<Store> {
        let fail = |doing: &str, e: &std::io::Error, p: &Path| {
            Error::new(
                ErrorKind::from_io(e),
                format!("the state store {} is damaged ({why}), and {doing}: {e}", path.display()),
            )
            .with_path(p.display().to_string())
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let guard = std::fs::File::open(dir)
            .map_err(|e| fail("its directory cannot be opened", &e, dir))?;
        guard.lock().map_err(|e| fail("its directory cannot be locked", &e, dir))?;
        match Store::open_waiting(path, BUSY_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(OpenFailure::Other(e)) => return Err(e),
            Err(OpenFailure::Damaged(_)) => {}
        }
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let taken = |p: &Path| {
            std::iter::once("")
                .chain(SIDE_FILES)
                .any(|s| with_suffix(p, s).symlink_metadata().is_ok())
        };
        let mut kept = with_suffix(path, &format!(".corrupt-{stamp}"));
        let mut n = 1;
        while taken(&kept) {
            n += 1;
            kept = with_suffix(path, &format!(".corrupt-{stamp}-{n}"));
        }
        // The side files first: an old -wal left beside a new database would be replayed into it.
        for s in SIDE_FILES {
            match std::fs::rename(with_suffix(path, s), with_suffix(&kept, s)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(fail(
                        "its side file cannot be moved aside",
                        &e,
                        &with_suffix(path, s),
                    ));
                }
                _ => {}
            }
        }
        std::fs::rename(path, &kept).map_err(|e| fail("it cannot be moved aside", &e, path))?;
        let recovery = StoreRecovery { path: path.to_path_buf(), kept, reason: why };
        tracing::warn!(store = %path.display(), kept = %recovery.kept.display(), reason = %recovery.reason,
            "damaged state store moved aside; a new one was started");
        let mut store = match Store::open_waiting(path, BUSY_TIMEOUT) {
            Ok(s) => s,
            Err(OpenFailure::Other(e)) => return Err(e),
            Err(OpenFailure::Damaged(w)) => {
                return Err(Error::internal(format!(
                    "the new state store {} is damaged too: {w}",
                    path.display()
                )));
            }
        };
        drop(guard);
        store.recovered = Some(recovery);
        Ok(store)
    }

    fn try_open(path: &Path, busy: std::time::Duration) -> Result<Store, OpenFailure> {
        let conn = Connection::open(path).map_err(|e| {
            OpenFailure::Other(Error::new(
                ErrorKind::Unavailable,
                format!("cannot open state store {}: {e}", path.display()),
            ))
        })?;
        conn.busy_timeout(busy).map_err(OpenFailure::of)?;
        // Checked before anything is written, and without the checkpoint SQLite does when the last connection
        // closes (it would write a -wal into the file and delete it), so that a damaged store is kept exactly as
        // it was found.
        use rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE as NO_CHECKPOINT_ON_CLOSE;
        conn.set_db_config(NO_CHECKPOINT_ON_CLOSE, true).map_err(OpenFailure::of)?;
        check_store(&conn)?;
        conn.set_db_config(NO_CHECKPOINT_ON_CLOSE, false).map_err(OpenFailure::of)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(OpenFailure::of)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(OpenFailure::of)?;
        conn.execute_batch(SCHEMA).map_err(OpenFailure::of)?;
        conn.execute_batch(uploads::SCHEMA).map_err(OpenFailure::of)?;
        conn.execute_batch(events::SCHEMA).map_err(OpenFailure::of)?;
        Ok(Store { conn: Mutex::new(conn), path: path.to_path_buf(), recovered: None })
    }

    /// An in-memory store (for tests and one-off runs).
    pub fn in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(uploads::SCHEMA)?;
        conn.execute_batch(events::SCHEMA)?;
        Ok(Store { conn: Mutex::new(conn), path: PathBuf::from(":memory:"), recovered: None })
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

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..len).map(|_| rng.u8(..)).collect()
    }

    /// Opens the store in `dir`, checks that it was recovered from a damaged file holding `damaged` (and its side
    /// files), and that the new store works.
    fn expect_recovered(dir: &Path, damaged: &[u8], reason_has: &str) -> StoreRecovery {
        let s = Store::open_dir(dir).unwrap();
        let r = s.recovered().expect("the damaged store was not recovered").clone();
        assert_eq!(r.path, dir.join(STORE_FILE));
        assert!(r.reason.contains(reason_has), "{r:?}");
        let kept_name = r.kept.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            kept_name.starts_with("state.db.corrupt-") && kept_name.contains('Z'),
            "{kept_name}"
        );
        assert_eq!(r.kept.parent(), Some(dir));
        assert_eq!(
            std::fs::read(&r.kept).unwrap(),
            damaged,
            "the kept file is not the damaged one"
        );
        assert!(r.message().contains(&r.kept.display().to_string()));
        let w = r.warning();
        assert_eq!(w.reason, crate::report::WarningReason::StateStoreRecovered);
        // The new store works and is a healthy one the next time.
        let c = CachedHash { size: 1, mtime_ns: 2, digest: "cd".into() };
        s.put_hashes("/r", "sha256", [("x", &c)]).unwrap();
        drop(s);
        let s = Store::open_dir(dir).unwrap();
        assert_eq!(s.recovered(), None);
        assert_eq!(s.cached_hash("/r", "sha256", "x").unwrap(), Some(c));
        r
    }

    #[test]
    fn random_bytes_are_moved_aside_with_their_side_files() {
        let dir = tempfile::tempdir().unwrap();
        let junk = noise(1, 64 << 10);
        std::fs::write(dir.path().join(STORE_FILE), &junk).unwrap();
        std::fs::write(dir.path().join("state.db-wal"), b"old wal").unwrap();
        std::fs::write(dir.path().join("state.db-shm"), b"old shm").unwrap();
        let r = expect_recovered(dir.path(), &junk, "not a database");
        assert_eq!(std::fs::read(with_suffix(&r.kept, "-wal")).unwrap(), b"old wal");
        // The -shm is only an index of the -wal, which SQLite rebuilds on opening: it goes along, as it is now.
        assert!(with_suffix(&r.kept, "-shm").is_file());
        let kept = r.kept.file_name().unwrap().to_string_lossy().into_owned();
        let n = names(dir.path());
        for want in [kept.clone(), format!("{kept}-shm"), format!("{kept}-wal"), STORE_FILE.into()]
        {
            assert!(n.contains(&want), "{want} missing: {n:?}");
        }
        // A second damaged store in the same second gets a name of its own.
        let junk2 = noise(2, 4096);
        std::fs::write(dir.path().join(STORE_FILE), &junk2).unwrap();
        let r2 = expect_recovered(dir.path(), &junk2, "not a database");
        assert_ne!(r2.kept, r.kept);
        assert!(std::fs::read(&r.kept).unwrap() == junk, "the first kept file was overwritten");
    }

    #[test]
    fn damaged_pages_behind_a_good_header_are_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open_dir(dir.path()).unwrap();
            let c = CachedHash { size: 3, mtime_ns: 7, digest: "ab".repeat(32) };
            let paths: Vec<String> = (0..5000).map(|i| format!("dir/file-{i:05}")).collect();
            s.put_hashes("/r", "sha256", paths.iter().map(|p| (p.as_str(), &c))).unwrap();
        }
        let path = dir.path().join(STORE_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 64 << 10, "{}", bytes.len());
        assert!(!dir.path().join("state.db-wal").exists(), "closing checkpoints the WAL");
        // Keep the header and the first pages (the schema); overwrite the middle of the file.
        let (a, b) = (bytes.len() / 3, bytes.len() * 2 / 3);
        bytes[a..b].copy_from_slice(&noise(3, b - a));
        std::fs::write(&path, &bytes).unwrap();
        let r = expect_recovered(dir.path(), &bytes, "");
        assert!(r.reason.contains("integrity") || r.reason.contains("malformed"), "{r:?}");
    }

    #[test]
    fn a_foreign_schema_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE runs (job_id TEXT PRIMARY KEY, x INTEGER); PRAGMA user_version = 3;",
            )
            .unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        expect_recovered(dir.path(), &bytes, "table runs has no column");
        // A store with extra columns and tables (a newer version's) is not damaged.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(SCHEMA).unwrap();
            c.execute_batch("ALTER TABLE runs ADD COLUMN later TEXT; CREATE TABLE newer (a);")
                .unwrap();
        }
        let s = Store::open_dir(dir.path()).unwrap();
        assert_eq!(s.recovered(), None);
        assert_eq!(names(dir.path()).iter().filter(|n| n.contains("corrupt")).count(), 0);
    }

    #[test]
    fn a_store_locked_by_another_process_is_an_error_and_stays_put() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        drop(Store::open_dir(dir.path()).unwrap());
        // Another connection holds the file exclusively (as another process would).
        let other = Connection::open(&path).unwrap();
        other.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;").unwrap();
        let before = names(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        let e = match Store::open_waiting(&path, std::time::Duration::ZERO) {
            Err(OpenFailure::Other(e)) => e,
            Err(OpenFailure::Damaged(why)) => panic!("a locked store was taken for damaged: {why}"),
            Ok(_) => panic!("opened a store another connection holds exclusively"),
        };
        assert!(e.message().contains("locked"), "{}", e.message());
        assert_eq!(names(dir.path()), before);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        drop(other);
        assert_eq!(Store::open_dir(dir.path()).unwrap().recovered(), None);
    }

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
