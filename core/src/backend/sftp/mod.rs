//! A tree on an SSH host, reached over SFTP (`sftp://USER@HOST:PORT/ABS/PATH`).
//!
//! - **Connections** (module `conn`): opened on first use (a host that is down fails the run, which the recovery
//!   layer retries, not the opening), host key checked against a known_hosts file, key file or ssh-agent. Every
//!   call runs on a session it has to itself (a file stream keeps one while it runs); idle sessions are reused.
//! - **Writes** go to the same temporary names as local ones (`.<name>.swtmp-<fingerprint>` beside the target),
//!   get their mode and mtime, and replace the target with posix-rename@openssh.com (module `posix`: ssh2 does
//!   not wrap it); a partial temporary of the same source version is resumed. Content is made durable before the
//!   rename: per batch with one `sync -f ROOT` on the host when it allows commands (module `shell`: one `sh`
//!   kept open for the run), else with fsync@openssh.com per file.
//! - **State** (manifests, run markers, the destination's lock in `locks/`: module `locks`) lives under
//!   `ROOT/.syncwright/`, like on local disks; a `.syncwright` (or a folder below it) that is a symlink or not a
//!   folder is refused, never followed. The engine keeps a local copy of each manifest (`backend::cached`), so a
//!   no-change push reads one file instead of walking the host.
//! - SFTP v3 carries mtimes in whole seconds: [`Backend::mtime_precision_ns`] says so and comparisons allow it.

mod conn;
mod locks;
mod posix;
mod scan;
mod shell;

use super::parents::{CheckedDirs, Found};
use super::remote::{SftpLocation, SftpOptions};
use super::{Backend, PreparedWrite, ReadStream, StateWriteFn, WriteSink, blocking};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::diff::NameRules;
use crate::manifest::filter::STATE_DIR;
use crate::manifest::hash::{Hasher, version_fingerprint};
use crate::manifest::scan::{ScanOptions, ScanOutcome};
use crate::manifest::{Entry, EntryKind, validate_rel_path};
use async_trait::async_trait;
use conn::{Conn, Lease, Pool};
use shell::HostShell;
use ssh2::{FileStat, OpenFlags, OpenType};
use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// Whether the host runs `sync -f` for us: not tried yet, yes, no.
const EXEC_UNKNOWN: u8 = 0;
const EXEC_YES: u8 = 1;
const EXEC_NO: u8 = 2;

/// A tree on an SSH host.
#[derive(Debug)]
pub struct SftpBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    loc: SftpLocation,
    pool: Arc<Pool>,
    /// Relative directories known to be real directories (not links) below the root.
    checked_dirs: CheckedDirs,
    /// Relative directories this backend created ("" for the root): no temporary can wait in them, so writes
    /// there skip looking for one.
    fresh_dirs: Mutex<HashSet<String>>,
    /// Temporaries complete but not yet durable (waiting for [`Backend::flush`]).
    unsynced: Mutex<Vec<String>>,
    /// Renames since the last `sync -f`.
    renamed: std::sync::atomic::AtomicBool,
    exec_sync: AtomicU8,
    /// The shell that runs `sync -f` once the host has shown it runs commands (module `shell`).
    shell: Mutex<Option<HostShell>>,
}

fn io_kind_error(
    conn: &Arc<Conn>,
    pool: &Pool,
    e: &std::io::Error,
    doing: &str,
    path: &str,
) -> Error {
    match e.kind() {
        std::io::ErrorKind::TimedOut => {
            pool.discard(conn);
            Error::new(ErrorKind::Timeout, format!("{doing} {path}: timed out")).with_path(path)
        }
        std::io::ErrorKind::NotFound => {
            Error::new(ErrorKind::NotFound, format!("{doing} {path}: no such file")).with_path(path)
        }
        _ => {
            // A status from the server (the session is fine) or a broken connection.
            let sftp_status = ssh2::Error::last_session_error(&conn.sess)
                .is_some_and(|le| le.code() == ssh2::ErrorCode::Session(-31));
            if sftp_status {
                Error::new(ErrorKind::Internal, format!("{doing} {path}: the server reported: {e}"))
                    .with_path(path)
            } else {
                pool.discard(conn);
                Error::new(ErrorKind::Network, format!("{doing} {path}: connection error ({e})"))
                    .with_path(path)
            }
        }
    }
}

fn stat_entry(rel: &str, st: &FileStat, target: Option<String>) -> Entry {
    let perm = st.perm.unwrap_or(0);
    let kind = match perm & 0o170000 {
        0o040000 => EntryKind::Dir,
        0o120000 => EntryKind::Symlink,
        _ => EntryKind::File,
    };
    Entry {
        path: rel.to_string(),
        kind,
        size: match kind {
            EntryKind::Dir => 0,
            EntryKind::Symlink => target.as_ref().map(|t| t.len() as u64).unwrap_or(0),
            EntryKind::File => st.size.unwrap_or(0),
        },
        mtime_ns: st.mtime.unwrap_or(0) as i64 * 1_000_000_000,
        mode: perm & 0o7777,
        target,
        hashes: Default::default(),
    }
}

fn meta_stat(entry: &Entry) -> FileStat {
    let secs = entry.mtime_ns.div_euclid(1_000_000_000).max(0) as u64;
    let mode = if entry.mode == 0 {
        if entry.kind == EntryKind::Dir { 0o755 } else { 0o644 }
    } else {
        entry.mode & 0o7777
    };
    FileStat {
        size: None,
        uid: None,
        gid: None,
        perm: Some(mode),
        atime: Some(secs),
        mtime: Some(secs),
    }
}

/// Quotes `s` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl SftpBackend {
    /// Opens `loc`; nothing is connected until the first call.
    pub fn open(loc: SftpLocation, o: &SftpOptions) -> Result<Arc<dyn Backend>> {
        Ok(Arc::new(SftpBackend::new(loc, o)))
    }

    /// The backend itself (tests and tools that need the concrete type).
    pub fn new(loc: SftpLocation, o: &SftpOptions) -> SftpBackend {
        SftpBackend {
            inner: Arc::new(Inner {
                pool: Arc::new(Pool::new(loc.clone(), o.clone())),
                loc,
                checked_dirs: CheckedDirs::default(),
                fresh_dirs: Mutex::new(HashSet::new()),
                unsynced: Mutex::new(Vec::new()),
                renamed: Default::default(),
                exec_sync: AtomicU8::new(EXEC_UNKNOWN),
                shell: Mutex::new(None),
            }),
        }
    }
}

impl Inner {
    fn abs(&self, rel: &str) -> String {
        let root = self.loc.path.as_str();
        if rel.is_empty() {
            root.to_string()
        } else if root.ends_with('/') {
            format!("{root}{rel}")
        } else {
            format!("{root}/{rel}")
        }
    }

    fn checked_abs(&self, rel: &str) -> Result<String> {
        validate_rel_path(rel)?;
        Ok(self.abs(rel))
    }

    fn state_rel(key: &str) -> Result<String> {
        validate_rel_path(key)?;
        Ok(format!("{STATE_DIR}/{key}"))
    }

    fn lstat(&self, rel: &str) -> Result<Option<FileStat>> {
        let abs = self.abs(rel);
        match self.pool.with("cannot stat", rel, |c| c.sftp.lstat(Path::new(&abs))) {
            Ok(st) => Ok(Some(st)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the root (and its parents) when missing.
    fn ensure_root(&self) -> Result<()> {
        if self.checked_dirs.contains("") {
            return Ok(());
        }
        let mut prefix = String::new();
        for comp in self.loc.path.split('/').filter(|c| !c.is_empty()) {
            prefix.push('/');
            prefix.push_str(comp);
            let p = prefix.clone();
            match self.pool.with("cannot stat", &p, |c| c.sftp.stat(Path::new(&p))) {
                Ok(st) if st.is_dir() => continue,
                Ok(st) => {
                    let what = if st.is_file() { "a file" } else { "a special file" };
                    let msg = if p == self.loc.path.trim_end_matches('/') {
                        format!("the destination {} is {what}, not a folder", self.loc)
                    } else {
                        format!("{p}, on the way to {}, is {what}, not a folder", self.loc)
                    };
                    return Err(Error::invalid(msg).with_path(p));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    let r = self.pool.with("cannot create directory", &p, |c| {
                        c.sftp.mkdir(Path::new(&p), 0o755)
                    });
                    match r {
                        Ok(()) if p == self.loc.path => self.mark_fresh(""),
                        Ok(()) => {}
                        // Created meanwhile by another transfer: fine.
                        Err(e) if !self.lstat_abs_is_dir(&p) => return Err(e),
                        Err(_) => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.checked_dirs.insert("");
        Ok(())
    }

    fn mark_fresh(&self, rel: &str) {
        self.fresh_dirs.lock().unwrap_or_else(|p| p.into_inner()).insert(rel.to_string());
    }

    fn is_fresh(&self, rel: &str) -> bool {
        self.fresh_dirs.lock().unwrap_or_else(|p| p.into_inner()).contains(rel)
    }

    fn lstat_abs_is_dir(&self, abs: &str) -> bool {
        self.pool
            .with("cannot stat", abs, |c| c.sftp.lstat(Path::new(abs)))
            .is_ok_and(|s| s.is_dir())
    }

    /// Makes sure every directory above `rel` is a real directory inside the root (never a symlink that could
    /// lead out of it), creating missing ones.
    fn check_parents(&self, rel: &str) -> Result<()> {
        self.ensure_root()?;
        let stat = |prefix: &str| {
            Ok(match self.lstat(prefix)? {
                Some(st) if st.file_type().is_dir() => Found::Dir,
                Some(st) if st.file_type().is_symlink() => Found::Symlink,
                Some(_) => Found::Other,
                None => Found::Missing,
            })
        };
        let mut mkdir = |prefix: &str| {
            let abs = self.abs(prefix);
            let r = self
                .pool
                .with("cannot create directory", prefix, |c| c.sftp.mkdir(Path::new(&abs), 0o755));
            match r {
                Ok(()) => {
                    self.mark_fresh(prefix);
                    Ok(())
                }
                Err(e) if !self.lstat_abs_is_dir(&abs) => Err(e),
                Err(_) => Ok(()),
            }
        };
        self.checked_dirs.check(rel, stat, Some(&mut mkdir))
    }

    /// Checks the folders of state path `rel` (`.syncwright/...`): real folders inside the root, never followed if a
    /// link (see [`CheckedDirs::check_state`]); made when `create` (the root too), each recorded in `made`. False
    /// when one is missing and not made.
    fn check_state(&self, rel: &str, create: bool, made: Option<&mut Vec<String>>) -> Result<bool> {
        if create {
            self.ensure_root()?;
        }
        let stat = |prefix: &str| {
            Ok(match self.lstat(prefix)? {
                Some(st) if st.file_type().is_dir() => Found::Dir,
                Some(st) if st.file_type().is_symlink() => Found::Symlink,
                Some(_) => Found::Other,
                None => Found::Missing,
            })
        };
        let mut made = made;
        let mut mkdir = |prefix: &str| {
            let abs = self.abs(prefix);
            let r = self
                .pool
                .with("cannot create directory", prefix, |c| c.sftp.mkdir(Path::new(&abs), 0o755));
            match r {
                Ok(()) => {
                    self.mark_fresh(prefix);
                    if let Some(m) = made.as_deref_mut() {
                        m.push(prefix.to_string());
                    }
                    Ok(())
                }
                // Made meanwhile; if as something else, the check refuses it next time.
                Err(e) if !self.lstat_abs_is_dir(&abs) => Err(e),
                Err(_) => Ok(()),
            }
        };
        self.checked_dirs.check_state(rel, stat, if create { Some(&mut mkdir) } else { None })
    }

    /// Whether state file `rel` exists, after checking its folders; one that is a symlink is refused (it would be
    /// read from outside the destination).
    fn state_exists(&self, rel: &str) -> Result<bool> {
        if !self.check_state(rel, false, None)? {
            return Ok(false);
        }
        match self.lstat(rel)? {
            None => Ok(false),
            Some(st) if st.file_type().is_symlink() => Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "{rel} is a symlink at the destination: syncwright never follows a link out of the \
                     destination for its own state; remove it"
                ),
            )
            .with_path(rel)),
            Some(_) => Ok(true),
        }
    }

    /// Replaces `to` with `from` atomically (posix-rename); on servers without the extension, a plain rename
    /// after removing the target (not atomic; said in the log once).
    fn replace(&self, from_rel: &str, to_rel: &str) -> Result<()> {
        let (from, to) = (self.abs(from_rel), self.abs(to_rel));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let lease = self.pool.lease()?;
            let conn = lease.conn();
            let r = match &conn.posix {
                Some(p) => p.rename(&from, &to),
                None => Err(ssh2::Error::new(ssh2::ErrorCode::SFTP(8), "no posix-rename channel")),
            };
            match r {
                Ok(()) => {
                    self.renamed.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) if e.code() == ssh2::ErrorCode::SFTP(8) => {
                    tracing::warn!(
                        location = self.loc.to_string(),
                        "the SFTP server lacks posix-rename@openssh.com: replacing {to_rel} is not atomic"
                    );
                    let _ = conn.sftp.unlink(Path::new(&to));
                    conn.sftp
                        .rename(Path::new(&from), Path::new(&to), None)
                        .map_err(|e| self.pool.fail(conn, &e, "cannot rename", to_rel))?;
                    self.renamed.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                // The connection failed, not the request: once more on a new session, unless it happened.
                Err(e) if conn::breaks_session(&e) && attempt < 3 => {
                    self.pool.discard(conn);
                    if self.lstat(from_rel)?.is_none() && self.lstat(to_rel)?.is_some() {
                        self.renamed.store(true, Ordering::Relaxed);
                        return Ok(());
                    }
                }
                Err(e) => return Err(self.pool.fail(conn, &e, "cannot rename", to_rel)),
            }
        }
    }

    fn unlink(&self, rel: &str) -> Result<()> {
        let abs = self.abs(rel);
        match self.pool.with("cannot delete", rel, |c| c.sftp.unlink(Path::new(&abs))) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Runs `sync -f ROOT` on the host; false when the host does not run commands for us (an sftp-only account)
    /// or the command failed (then each file is synced over SFTP, which reports the error).
    fn exec_sync(&self) -> bool {
        if self.exec_sync.load(Ordering::Relaxed) == EXEC_NO {
            return false;
        }
        let cmd = format!("sync -f {}", shell_quote(&self.loc.path));
        let mut shell = self.shell.lock().unwrap_or_else(|p| p.into_inner());
        let ok = if self.exec_sync.load(Ordering::Relaxed) == EXEC_UNKNOWN {
            shell::exec_once(&self.pool, &cmd, "syncwright-synced")
        } else {
            // The shell kept open; one new one when it went away (a broken connection).
            let mut status = None;
            for _ in 0..2 {
                if shell.is_none() {
                    *shell = HostShell::open(&self.pool).ok();
                }
                match shell.as_mut().map(|s| s.run(&cmd)) {
                    Some(Ok(code)) => {
                        status = Some(code);
                        break;
                    }
                    Some(Err(_)) => *shell = None,
                    None => {}
                }
            }
            status == Some(0)
        };
        self.exec_sync.store(if ok { EXEC_YES } else { EXEC_NO }, Ordering::Relaxed);
        ok
    }

    /// fsync@openssh.com of each file, reopened (when the host runs no commands).
    fn fsync_each(&self, rels: &[String]) -> Result<()> {
        for rel in rels {
            let abs = self.abs(rel);
            let lease = self.pool.lease()?;
            let conn = lease.conn();
            let r = conn
                .sftp
                .open_mode(Path::new(&abs), OpenFlags::WRITE, 0o600, OpenType::File)
                .and_then(|mut f| f.fsync());
            match r {
                Ok(()) => {}
                Err(e) if e.code() == ssh2::ErrorCode::SFTP(8) => {
                    tracing::warn!(
                        location = self.loc.to_string(),
                        "the SFTP server supports neither commands nor fsync@openssh.com: \
                         written files are not forced to disk before they are renamed"
                    );
                    return Ok(());
                }
                Err(e) => return Err(self.pool.fail(conn, &e, "cannot sync", rel)),
            }
        }
        Ok(())
    }

    fn read_all(&self, rel: &str, mut out: impl Write) -> Result<bool> {
        let abs = self.abs(rel);
        let lease = self.pool.lease()?;
        let conn = lease.conn();
        let mut f = match conn.sftp.open(Path::new(&abs)) {
            Ok(f) => f,
            Err(e) if e.code() == ssh2::ErrorCode::SFTP(2) => return Ok(false),
            Err(e) => return Err(self.pool.fail(conn, &e, "cannot open", rel)),
        };
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| io_kind_error(conn, &self.pool, &e, "cannot read", rel))?;
            if n == 0 {
                return Ok(true);
            }
            out.write_all(&buf[..n])
                .map_err(|e| Error::io(&e, "cannot write the local copy of", rel))?;
        }
    }

    /// Uploads `data` to a temporary beside state file `rel` (its folders checked and made), makes it durable, and
    /// renames it over `rel`.
    fn upload_atomic(&self, rel: &str, data: &mut dyn Read) -> Result<()> {
        self.check_state(rel, true, None)?;
        let tmp = super::local::temp_name_for(rel, &format!("{:016x}", fastrand::u64(..)));
        let abs = self.abs(&tmp);
        let lease = self.pool.lease()?;
        let conn = lease.conn();
        let r = (|| -> Result<()> {
            let mut f = conn
                .sftp
                .open_mode(
                    Path::new(&abs),
                    OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
                    0o644,
                    OpenType::File,
                )
                .map_err(|e| self.pool.fail(conn, &e, "cannot create", &tmp))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = data.read(&mut buf).map_err(|e| Error::io(&e, "cannot read", rel))?;
                if n == 0 {
                    break;
                }
                f.write_all(&buf[..n])
                    .map_err(|e| io_kind_error(conn, &self.pool, &e, "cannot write", rel))?;
            }
            match f.fsync() {
                Ok(()) => {}
                Err(e) if e.code() == ssh2::ErrorCode::SFTP(8) => {}
                Err(e) => return Err(self.pool.fail(conn, &e, "cannot sync", rel)),
            }
            drop(f);
            self.replace(&tmp, rel)
        })();
        if r.is_err() {
            let _ = self.unlink(&tmp);
        }
        r
    }
}

#[async_trait]
impl Backend for SftpBackend {
    fn scheme(&self) -> &'static str {
        "sftp"
    }

    fn location(&self) -> String {
        self.inner.loc.to_string()
    }

    /// `sftp://user@host:port` (an IPv6 host in brackets): one breaker per login on a host.
    fn breaker_target(&self) -> Option<String> {
        let l = &self.inner.loc;
        let host = if l.host.contains(':') { format!("[{}]", l.host) } else { l.host.clone() };
        Some(format!("sftp://{}@{host}:{}", l.user, l.port))
    }

    fn rules(&self) -> NameRules {
        NameRules::default()
    }

    fn temp_path(&self, path: &str, version: &Entry) -> Option<String> {
        let fp = crate::manifest::hash::version_fingerprint(path, version.size, version.mtime_ns);
        Some(super::local::temp_name_for(path, &fp))
    }

    fn folder_metadata(&self) -> bool {
        true
    }

    fn root_id(&self) -> Option<super::RootId> {
        let l = &self.inner.loc;
        Some(super::RootId {
            service: format!("sftp://{}@{}:{}", l.user, l.host, l.port),
            path: l.path.trim_end_matches('/').to_string(),
        })
    }

    fn supports_absolute_backup(&self) -> bool {
        true
    }

    async fn backup(&self, path: &str, backup_dir: &str) -> Result<String> {
        let inner = &self.inner;
        let from = inner.checked_abs(path)?;
        let base = if backup_dir.starts_with('/') {
            backup_dir.trim_end_matches('/').to_string()
        } else {
            inner.abs(backup_dir.trim_end_matches('/'))
        };
        let target = format!("{base}/{path}");
        blocking(|| {
            // The folders of the backup path, created one at a time.
            let parent = target.rsplit_once('/').map(|(p, _)| p).unwrap_or("/");
            let mut at = String::new();
            for c in parent.split('/').filter(|c| !c.is_empty()) {
                at.push('/');
                at.push_str(c);
                if !inner.lstat_abs_is_dir(&at) {
                    let r = inner.pool.with("cannot create the backup folder", path, |c| {
                        c.sftp.mkdir(Path::new(&at), 0o755)
                    });
                    if let Err(e) = r
                        && !inner.lstat_abs_is_dir(&at)
                    {
                        return Err(e);
                    }
                }
            }
            let free = |p: &str| {
                inner.pool.with("cannot stat", path, |c| c.sftp.lstat(Path::new(p))).is_err()
            };
            let to = if free(&target) {
                target.clone()
            } else {
                (1u64..).map(|n| format!("{target}.~{n}~")).find(|p| free(p)).expect("a free name")
            };
            inner.pool.with("cannot move to the backup folder", path, |c| {
                c.sftp.rename(Path::new(&from), Path::new(&to), Some(ssh2::RenameFlags::empty()))
            })?;
            inner.renamed.store(true, Ordering::Relaxed);
            Ok(to)
        })
    }

    async fn list_state(&self, dir: &str) -> Result<Vec<String>> {
        // The folder is checked like the folders of a key inside it (a link is refused, never followed).
        let probe = Inner::state_rel(&format!("{dir}/x"))?;
        let abs = self.inner.abs(&Inner::state_rel(dir)?);
        blocking(|| {
            if !self.inner.check_state(&probe, false, None)? {
                return Ok(Vec::new());
            }
            match self.inner.pool.with("cannot list", dir, |c| c.sftp.readdir(Path::new(&abs))) {
                Ok(list) => Ok(list
                    .into_iter()
                    .filter(|(_, st)| st.file_type().is_file())
                    .filter_map(|(p, _)| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
                    .collect()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
    }

    fn mtime_precision_ns(&self) -> i64 {
        1_000_000_000
    }

    async fn scan(&self, opts: ScanOptions) -> Result<ScanOutcome> {
        let inner = self.inner.clone();
        blocking(move || scan::scan(&inner, &opts))
    }

    async fn stat(&self, path: &str) -> Result<Option<Entry>> {
        validate_rel_path(path)?;
        blocking(|| {
            let Some(st) = self.inner.lstat(path)? else { return Ok(None) };
            let target = if st.file_type().is_symlink() {
                let abs = self.inner.abs(path);
                let t = self
                    .inner
                    .pool
                    .with("cannot read link", path, |c| c.sftp.readlink(Path::new(&abs)))?;
                Some(t.to_string_lossy().into_owned())
            } else {
                None
            };
            Ok(Some(stat_entry(path, &st, target)))
        })
    }

    async fn stat_follow(&self, path: &str) -> Result<Option<Entry>> {
        let abs = self.inner.checked_abs(path)?;
        blocking(|| {
            match self.inner.pool.with("cannot stat", path, |c| c.sftp.stat(Path::new(&abs))) {
                Ok(st) => Ok(Some(stat_entry(path, &st, None))),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    async fn open_read(&self, path: &str, offset: u64) -> Result<Box<dyn ReadStream>> {
        let abs = self.inner.checked_abs(path)?;
        blocking(|| {
            let lease = self.inner.pool.lease()?;
            let conn = lease.conn();
            let mut file = conn
                .sftp
                .open(Path::new(&abs))
                .map_err(|e| self.inner.pool.fail(conn, &e, "cannot open", path))?;
            if offset > 0 {
                file.seek(SeekFrom::Start(offset)).map_err(|e| {
                    io_kind_error(conn, &self.inner.pool, &e, "cannot seek in", path)
                })?;
            }
            Ok(Box::new(SftpReader {
                inner: self.inner.clone(),
                file: Some(file),
                lease,
                path: path.to_string(),
            }) as Box<dyn ReadStream>)
        })
    }

    async fn open_write(&self, path: &str, version: &Entry) -> Result<Box<dyn WriteSink>> {
        validate_rel_path(path)?;
        let fp = version_fingerprint(path, version.size, version.mtime_ns);
        let tmp = super::local::temp_name_for(path, &fp);
        blocking(|| {
            let inner = &self.inner;
            inner.check_parents(path)?;
            // A temporary of the same source version, no longer than the source: continue it (not to be looked
            // for in a folder this backend just created).
            let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
            let existing = if inner.is_fresh(parent) { None } else { inner.lstat(&tmp)? };
            let resume = match existing {
                Some(st) if st.file_type().is_file() && st.size.unwrap_or(0) <= version.size => {
                    st.size.unwrap_or(0)
                }
                Some(_) => {
                    inner.unlink(&tmp)?;
                    0
                }
                None => 0,
            };
            let abs = inner.abs(&tmp);
            let lease = inner.pool.lease()?;
            let conn = lease.conn();
            let flags = if resume > 0 {
                OpenFlags::WRITE
            } else {
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE
            };
            let mut file = conn
                .sftp
                .open_mode(Path::new(&abs), flags, 0o600, OpenType::File)
                .map_err(|e| inner.pool.fail(conn, &e, "cannot create", &tmp))?;
            if resume > 0 {
                file.seek(SeekFrom::Start(resume))
                    .map_err(|e| io_kind_error(conn, &inner.pool, &e, "cannot seek in", &tmp))?;
            }
            Ok(Box::new(SftpWriter {
                inner: self.inner.clone(),
                lease,
                file: Some(file),
                target: path.to_string(),
                tmp,
                resume,
            }) as Box<dyn WriteSink>)
        })
    }

    async fn set_meta(&self, path: &str, entry: &Entry) -> Result<()> {
        let abs = self.inner.checked_abs(path)?;
        if entry.kind == EntryKind::Symlink {
            // SFTP v3 has no lsetstat: a link keeps the time the host gave it.
            return Ok(());
        }
        blocking(|| {
            self.inner.pool.with("cannot set the metadata of", path, |c| {
                c.sftp.setstat(Path::new(&abs), meta_stat(entry))
            })
        })
    }

    async fn create_dir(&self, path: &str, entry: &Entry) -> Result<()> {
        let abs = self.inner.checked_abs(path)?;
        blocking(|| {
            let inner = &self.inner;
            inner.check_parents(path)?;
            match inner.lstat(path)? {
                Some(st) if st.file_type().is_dir() => {}
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("{path} exists at the destination and is not a directory"),
                    )
                    .with_path(path));
                }
                None => {
                    let r = inner.pool.with("cannot create directory", path, |c| {
                        c.sftp.mkdir(Path::new(&abs), 0o755)
                    });
                    match r {
                        Ok(()) => inner.mark_fresh(path),
                        Err(e) if !inner.lstat_abs_is_dir(&abs) => return Err(e),
                        Err(_) => {}
                    }
                }
            }
            inner.checked_dirs.insert(path);
            inner.pool.with("cannot set the metadata of", path, |c| {
                c.sftp.setstat(Path::new(&abs), meta_stat(entry))
            })
        })
    }

    async fn create_symlink(&self, path: &str, entry: &Entry) -> Result<()> {
        validate_rel_path(path)?;
        let target = entry
            .target
            .clone()
            .ok_or_else(|| Error::invalid(format!("{path}: symlink without a target")))?;
        blocking(|| {
            let inner = &self.inner;
            inner.check_parents(path)?;
            // The version's temporary name, as the run marker lists it.
            let fp = crate::manifest::hash::version_fingerprint(path, entry.size, entry.mtime_ns);
            let tmp = super::local::temp_name_for(path, &fp);
            let _ = inner.unlink(&tmp);
            let abs_tmp = inner.abs(&tmp);
            // OpenSSH's server takes SSH_FXP_SYMLINK's arguments in the reverse order of the draft, and libssh2
            // sends them in the draft's: ssh2's `symlink(path, target)` makes `target` a link to `path` there.
            inner.pool.with("cannot create link", path, |c| {
                c.sftp.symlink(Path::new(&target), Path::new(&abs_tmp))
            })?;
            inner.replace(&tmp, path).inspect_err(|_| {
                let _ = inner.unlink(&tmp);
            })
        })
    }

    async fn delete(&self, path: &str, kind: EntryKind) -> Result<()> {
        let abs = self.inner.checked_abs(path)?;
        blocking(|| {
            let r = match kind {
                EntryKind::Dir => {
                    self.inner.pool.with("cannot delete", path, |c| c.sftp.rmdir(Path::new(&abs)))
                }
                _ => {
                    self.inner.pool.with("cannot delete", path, |c| c.sftp.unlink(Path::new(&abs)))
                }
            };
            match r {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    async fn remove_empty_dir(&self, path: &str) -> Result<bool> {
        let abs = self.inner.checked_abs(path)?;
        blocking(|| {
            match self.inner.pool.with("cannot remove", path, |c| c.sftp.rmdir(Path::new(&abs))) {
                Ok(()) => {
                    self.inner.checked_dirs.remove(path);
                    Ok(true)
                }
                // Not empty (SFTP v3 says "failure"), or gone already.
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Internal) => {
                    Ok(false)
                }
                Err(e) => Err(e),
            }
        })
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        validate_rel_path(from)?;
        validate_rel_path(to)?;
        blocking(|| {
            self.inner.check_parents(to)?;
            self.inner.replace(from, to)
        })
    }

    /// Makes the batch's temporaries durable: one `sync -f ROOT` on the host, or fsync of each when the host
    /// runs no commands. After renames, the same once more (for the manifest that vouches for them).
    async fn flush(&self) -> Result<()> {
        let pending =
            std::mem::take(&mut *self.inner.unsynced.lock().unwrap_or_else(|p| p.into_inner()));
        let renamed = self.inner.renamed.swap(false, Ordering::Relaxed);
        if pending.is_empty() && !renamed {
            return Ok(());
        }
        blocking(|| {
            if self.inner.exec_sync() {
                return Ok(());
            }
            self.inner.fsync_each(&pending)
        })
    }

    async fn read_state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let rel = Inner::state_rel(key)?;
        blocking(|| {
            if !self.inner.state_exists(&rel)? {
                return Ok(None);
            }
            let mut out = Vec::new();
            Ok(self.inner.read_all(&rel, &mut out)?.then_some(out))
        })
    }

    async fn read_state_to(&self, key: &str, dest: &Path) -> Result<bool> {
        let rel = Inner::state_rel(key)?;
        blocking(|| {
            if !self.inner.state_exists(&rel)? {
                return Ok(false);
            }
            let f = std::fs::File::create(dest)
                .map_err(|e| Error::io(&e, "cannot create", dest.display().to_string()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            let found = self.inner.read_all(&rel, &mut w)?;
            let f = w
                .into_inner()
                .map_err(|e| Error::io(e.error(), "cannot write", dest.display().to_string()))?;
            if !found {
                drop(f);
                let _ = std::fs::remove_file(dest);
            }
            Ok(found)
        })
    }

    async fn write_state(&self, key: &str, data: &[u8]) -> Result<()> {
        let rel = Inner::state_rel(key)?;
        blocking(|| self.inner.upload_atomic(&rel, &mut &data[..]))
    }

    async fn write_state_with(&self, key: &str, write: StateWriteFn<'_>) -> Result<()> {
        let mut buf = Vec::new();
        write(&mut buf)?;
        self.write_state(key, &buf).await
    }

    async fn write_state_from(&self, key: &str, src: &Path) -> Result<()> {
        let rel = Inner::state_rel(key)?;
        blocking(|| {
            let f = std::fs::File::open(src)
                .map_err(|e| Error::io(&e, "cannot open", src.display().to_string()))?;
            self.inner.upload_atomic(&rel, &mut std::io::BufReader::with_capacity(1 << 20, f))
        })
    }

    async fn delete_state(&self, key: &str) -> Result<()> {
        let rel = Inner::state_rel(key)?;
        blocking(|| {
            if !self.inner.check_state(&rel, false, None)? {
                return Ok(());
            }
            self.inner.unlink(&rel)
        })
    }

    fn lock_files(&self) -> Option<Arc<dyn crate::locks::LockFiles>> {
        Some(Arc::new(locks::SftpLockFiles::new(self.inner.clone())))
    }
}

struct SftpReader {
    inner: Arc<Inner>,
    /// Closed before the lease goes back to the pool.
    file: Option<ssh2::File>,
    lease: Lease,
    path: String,
}

impl Drop for SftpReader {
    fn drop(&mut self) {
        drop(self.file.take());
    }
}

#[async_trait]
impl ReadStream for SftpReader {
    async fn read_chunk(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<()> {
        blocking(|| {
            buf.clear();
            buf.resize(max, 0);
            let mut filled = 0;
            while filled < max {
                let f = self.file.as_mut().expect("open until dropped");
                let n = f.read(&mut buf[filled..]).map_err(|e| {
                    io_kind_error(
                        self.lease.conn(),
                        &self.inner.pool,
                        &e,
                        "cannot read",
                        &self.path,
                    )
                })?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            buf.truncate(filled);
            Ok(())
        })
    }
}

struct SftpWriter {
    inner: Arc<Inner>,
    /// Declared before the lease: the handle is closed before the session goes back to the pool.
    file: Option<ssh2::File>,
    lease: Lease,
    target: String,
    tmp: String,
    resume: u64,
}

impl SftpWriter {
    /// Sets mode and mtime, optionally syncs, closes, and checks the content against `verify_blake3`.
    fn finish(&mut self, entry: &Entry, verify_blake3: Option<&str>, fsync: bool) -> Result<()> {
        let Some(mut f) = self.file.take() else {
            return Err(Error::internal(format!("{}: written twice", self.target)));
        };
        let pool = &self.inner.pool;
        f.setstat(meta_stat(entry)).map_err(|e| {
            pool.fail(self.lease.conn(), &e, "cannot set the metadata of", &self.target)
        })?;
        if fsync {
            match f.fsync() {
                Ok(()) => {}
                Err(e) if e.code() == ssh2::ErrorCode::SFTP(8) => {}
                Err(e) => {
                    return Err(pool.fail(self.lease.conn(), &e, "cannot sync", &self.target));
                }
            }
        }
        drop(f);
        if let Some(want) = verify_blake3 {
            let mut h = Hasher::new();
            self.inner.read_all(&self.tmp, &mut h)?;
            let got = h.finish_hex();
            if got != want {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!("{}: what was written reads back differently (BLAKE3 {got}, expected {want})", self.target),
                )
                .with_path(&self.target));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl WriteSink for SftpWriter {
    fn resume_offset(&self) -> u64 {
        self.resume
    }

    async fn write_chunk(&mut self, data: &[u8]) -> Result<()> {
        blocking(|| {
            let f = self
                .file
                .as_mut()
                .ok_or_else(|| Error::internal(format!("{}: write after close", self.target)))?;
            f.write_all(data).map_err(|e| {
                io_kind_error(self.lease.conn(), &self.inner.pool, &e, "cannot write", &self.target)
            })
        })
    }

    async fn commit(mut self: Box<Self>, entry: &Entry, verify_blake3: Option<&str>) -> Result<()> {
        blocking(|| {
            let r = self
                .finish(entry, verify_blake3, true)
                .and_then(|()| self.inner.replace(&self.tmp, &self.target));
            if r.is_err() {
                let _ = self.inner.unlink(&self.tmp);
            }
            r
        })
    }

    async fn prepare(
        mut self: Box<Self>,
        entry: &Entry,
        verify_blake3: Option<&str>,
    ) -> Result<Box<dyn PreparedWrite>> {
        blocking(|| {
            // Durability comes with the batch's flush (one `sync -f`), unless the host is known to refuse
            // commands: then each file is synced now, while it is open.
            let sync_now = self.inner.exec_sync.load(Ordering::Relaxed) == EXEC_NO;
            match self.finish(entry, verify_blake3, sync_now) {
                Ok(()) => {
                    if !sync_now {
                        self.inner
                            .unsynced
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(self.tmp.clone());
                    }
                    Ok(Box::new(SftpPrepared {
                        inner: self.inner.clone(),
                        tmp: std::mem::take(&mut self.tmp),
                        target: std::mem::take(&mut self.target),
                    }) as Box<dyn PreparedWrite>)
                }
                Err(e) => {
                    let _ = self.inner.unlink(&self.tmp);
                    Err(e)
                }
            }
        })
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        blocking(|| {
            drop(self.file.take());
            self.inner.unlink(&self.tmp)
        })
    }

    async fn keep_partial(mut self: Box<Self>) -> Result<()> {
        drop(self.file.take());
        Ok(())
    }
}

struct SftpPrepared {
    inner: Arc<Inner>,
    tmp: String,
    target: String,
}

#[async_trait]
impl PreparedWrite for SftpPrepared {
    async fn commit(&self) -> Result<()> {
        // A rename that failed leaves the temporary for a retry, or for `abort`.
        blocking(|| self.inner.replace(&self.tmp, &self.target))
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        blocking(|| self.inner.unlink(&self.tmp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_metadata() {
        assert_eq!(shell_quote("/data/it's here"), "'/data/it'\\''s here'");
        let e = Entry::file("a", 3, 1_700_000_000_900_000_000, 0o640);
        let st = meta_stat(&e);
        assert_eq!((st.perm, st.mtime), (Some(0o640), Some(1_700_000_000)));
        let back = stat_entry(
            "a",
            &FileStat {
                size: Some(3),
                uid: None,
                gid: None,
                perm: Some(0o100640),
                atime: None,
                mtime: Some(1_700_000_000),
            },
            None,
        );
        assert_eq!(
            (back.kind, back.mode, back.mtime_ns),
            (EntryKind::File, 0o640, 1_700_000_000_000_000_000)
        );
    }
}
