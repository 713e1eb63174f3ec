//! Lease lock files, so that one run writes a destination (and one run of a profile runs) at a time across every
//! process and host that sees the lock.
//!
//! **Where a lock lives.**
//! - A destination on a local disk or over SFTP: `DEST/.syncwright/locks/dest.lock`, in the destination itself, so
//!   that every run writing it excludes the others whatever host it runs on, whatever config it was started from
//!   and whatever path or URL names the folder. The backend keeps it ([`crate::backend::Backend::lock_files`]).
//! - A destination on S3 or Google Drive: `dest-<hash of its location>.lock` in the coordination folder (the
//!   config's `coordination_dir` for profile runs, else `<state dir>/locks`).
//! - A profile: `profile-<name>.lock` in the coordination folder.
//!
//! Every writing run takes its destination's lock (dry runs and plans take none); a profile run takes its
//! profile's lock too. The engine does it for every entry point ([`crate::Engine`]).
//!
//! **One lease logic, several folders.** A folder of lock files is a [`LockFiles`]: a folder of the local file
//! system ([`FsLockFiles`], the coordination folder), or one a backend keeps under its own `.syncwright/`. The
//! lease logic on top is the same for all: [`LockDir`].
//!
//! A lock holds `{name, profile, job_id, destination, instance_id, pid, host, started_at, lease_until, token}`. It
//! is created atomically (locally a complete temporary hard-linked to the lock name, which fails when the lock
//! exists, on local disks and NFS alike, else an exclusive create; over SFTP an exclusive open), renewed while its
//! holder runs, and removed by its holder only (the token proves ownership).
//!
//! **Who holds it, and when it is stale.** The holder is named by an *instance id* (a random id created once and
//! kept in the state directory, see [`instance_id`]) and a pid; the host name is kept for people to read. A lock
//! is **stale** when its holder is this very instance (same instance id, same host) and its process is gone, or
//! when its lease expired (a crashed host, or a process of another instance, stops renewing). A host name alone
//! never decides: containers share host names and pids. A stale lock is broken by the next taker, safely against a
//! racing breaker.

use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// The default lease: a holder that stops renewing for this long loses its lock.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The name of a destination's lock in its own `.syncwright/locks/` (one per destination).
pub const DEST_LOCK: &str = "dest";

/// The file in a state directory that holds its instance id.
pub const INSTANCE_ID_FILE: &str = "instance-id";

/// How long a lock file that cannot be parsed (being written by an exclusive create, or somebody's broken file)
/// counts as held: longer than any write takes, and than the clocks of two hosts sharing a folder differ.
const UNREADABLE_GRACE: Duration = Duration::from_secs(30);

/// What a lock file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The lock's name (`profile-<name>`, `dest`, `dest-<hash>`, ...).
    pub name: String,
    /// The profile whose run holds it.
    pub profile: Option<String>,
    /// The job that holds it.
    pub job_id: Option<String>,
    /// The destination being written (destination locks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The holder's instance (see [`instance_id`]); empty in locks written before instances existed, which are
    /// then judged by their lease only.
    #[serde(default)]
    pub instance_id: String,
    /// The holder's process id.
    pub pid: u32,
    /// The holder's host name (for display; staleness never rests on it alone).
    pub host: String,
    /// RFC 3339 time the lock was taken.
    pub started_at: String,
    /// RFC 3339 time after which the lock is stale unless renewed.
    pub lease_until: String,
    /// A random token that identifies this holding.
    pub token: String,
}

/// Whether a lock is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LockState {
    /// Its holder runs.
    Held,
    /// Its holder is gone; the next taker breaks it.
    Stale {
        /// Why.
        reason: String,
    },
}

/// A lock as found in its folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockStatus {
    /// The file's content.
    pub info: LockInfo,
    /// Held or stale.
    #[serde(flatten)]
    pub state: LockState,
    /// The folder it is in (a path, or a destination's `.syncwright/locks` as a location).
    #[serde(default)]
    pub location: String,
}

/// Who takes a lock.
#[derive(Debug, Clone, Default)]
pub struct LockOwner {
    /// The profile.
    pub profile: Option<String>,
    /// The job.
    pub job_id: Option<String>,
    /// The destination written, for a destination lock (named in the conflict others get).
    pub destination: Option<String>,
    /// When the holder's work started (its job's `started_at`), so that the lock and the job name the same time;
    /// None: when the lock is taken.
    pub started_at: Option<String>,
}

/// A folder of lock files, wherever it is: the few operations the lease logic needs, each atomic on its own. Names
/// are plain file names inside the folder. Calls block (they may go over the network).
pub trait LockFiles: Send + Sync + std::fmt::Debug {
    /// Where the folder is, for messages and status.
    fn location(&self) -> String;
    /// Creates `file` holding `data` unless something has that name (false then), creating the folder when
    /// missing. Atomic: of two racing creators exactly one gets true.
    fn create_new(&self, file: &str, data: &[u8]) -> Result<bool>;
    /// The content of `file` and how long ago it was last written; None when there is no such file.
    fn read(&self, file: &str) -> Result<Option<(Vec<u8>, Duration)>>;
    /// Replaces `file` with `data` atomically (a renewal).
    fn replace(&self, file: &str, data: &[u8]) -> Result<()>;
    /// Renames `from` to the unused name `to`; false when `from` is gone.
    fn rename(&self, from: &str, to: &str) -> Result<bool>;
    /// Removes `file`; false when it was gone.
    fn remove(&self, file: &str) -> Result<bool>;
    /// The names of the files in the folder (none when there is no folder).
    fn list(&self) -> Result<Vec<String>>;
    /// Removes the folders this store created to hold a lock when they are empty again, so that a run that wrote
    /// nothing leaves nothing behind. By default nothing.
    fn tidy(&self) {}
}

/// A folder of lock files on the local file system (the coordination folder), created on first use.
#[derive(Debug, Clone)]
pub struct FsLockFiles {
    dir: PathBuf,
}

impl FsLockFiles {
    /// The folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> FsLockFiles {
        FsLockFiles { dir: dir.into() }
    }
}

impl LockFiles for FsLockFiles {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }
    fn create_new(&self, file: &str, data: &[u8]) -> Result<bool> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(&e, "cannot create", self.location()))?;
        fs::create_new(&self.dir, file, data)
    }
    fn read(&self, file: &str) -> Result<Option<(Vec<u8>, Duration)>> {
        fs::read(&self.dir, file)
    }
    fn replace(&self, file: &str, data: &[u8]) -> Result<()> {
        fs::replace(&self.dir, file, data)
    }
    fn rename(&self, from: &str, to: &str) -> Result<bool> {
        fs::rename(&self.dir, from, to)
    }
    fn remove(&self, file: &str) -> Result<bool> {
        fs::remove(&self.dir, file)
    }
    fn list(&self) -> Result<Vec<String>> {
        fs::list(&self.dir)
    }
}

/// Lock-file operations in a local folder, for [`FsLockFiles`] and for the local backend's own lock folder.
pub(crate) mod fs {
    use super::*;

    fn shown(p: &Path) -> String {
        p.display().to_string()
    }

    fn write_file(p: &Path, data: &[u8]) -> Result<()> {
        let mut f =
            std::fs::File::create(p).map_err(|e| Error::io(&e, "cannot create", shown(p)))?;
        f.write_all(data).map_err(|e| Error::io(&e, "cannot write", shown(p)))?;
        f.sync_all().map_err(|e| Error::io(&e, "cannot flush", shown(p)))
    }

    /// Creates `dir/file` holding `data` if it does not exist: a complete temporary hard-linked to the name (the
    /// link fails when the name exists); where hard links are refused, an exclusive create, then the content.
    pub fn create_new(dir: &Path, file: &str, data: &[u8]) -> Result<bool> {
        let lock = dir.join(file);
        let tmp = dir.join(format!(".{file}.{}.tmp", uuid::Uuid::new_v4().simple()));
        write_file(&tmp, data)?;
        let r = std::fs::hard_link(&tmp, &lock);
        let _ = std::fs::remove_file(&tmp);
        match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EPERM) | Some(libc::ENOTSUP) | Some(libc::EXDEV)
                ) =>
            {
                // No hard links here (some SMB and FUSE mounts).
                match std::fs::OpenOptions::new().write(true).create_new(true).open(&lock) {
                    Ok(mut f) => {
                        f.write_all(data)
                            .map_err(|e| Error::io(&e, "cannot write", shown(&lock)))?;
                        f.sync_all().map_err(|e| Error::io(&e, "cannot flush", shown(&lock)))?;
                        Ok(true)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(Error::io(&e, "cannot create", shown(&lock))),
                }
            }
            Err(e) => Err(Error::io(&e, "cannot create", shown(&lock))),
        }
    }

    /// The content of `dir/file` and its age; a symlink there is never followed.
    pub fn read(dir: &Path, file: &str) -> Result<Option<(Vec<u8>, Duration)>> {
        use std::os::unix::fs::OpenOptionsExt;
        let p = dir.join(file);
        let mut f =
            match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&p) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("{} is a symlink, not a lock file: remove it", shown(&p)),
                    )
                    .with_path(shown(&p)));
                }
                Err(e) => return Err(Error::io(&e, "cannot read", shown(&p))),
            };
        let mut data = Vec::new();
        f.read_to_end(&mut data).map_err(|e| Error::io(&e, "cannot read", shown(&p)))?;
        let age = f
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.elapsed().ok())
            .unwrap_or_default();
        Ok(Some((data, age)))
    }

    /// Replaces `dir/file` atomically: a complete temporary renamed over it.
    pub fn replace(dir: &Path, file: &str, data: &[u8]) -> Result<()> {
        let lock = dir.join(file);
        let tmp = dir.join(format!(".{file}.{}.renew", uuid::Uuid::new_v4().simple()));
        write_file(&tmp, data)?;
        std::fs::rename(&tmp, &lock).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&e, "cannot renew", shown(&lock))
        })
    }

    pub fn rename(dir: &Path, from: &str, to: &str) -> Result<bool> {
        match std::fs::rename(dir.join(from), dir.join(to)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&e, "cannot rename", shown(&dir.join(from)))),
        }
    }

    pub fn remove(dir: &Path, file: &str) -> Result<bool> {
        match std::fs::remove_file(dir.join(file)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&e, "cannot remove", shown(&dir.join(file)))),
        }
    }

    pub fn list(dir: &Path) -> Result<Vec<String>> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::io(&e, "cannot list", shown(dir))),
        };
        Ok(rd.flatten().filter_map(|de| de.file_name().to_str().map(str::to_string)).collect())
    }
}

/// A folder of lock files with the lease logic: acquire, renew, release, break stale locks, list, force.
#[derive(Debug, Clone)]
pub struct LockDir {
    files: Arc<dyn LockFiles>,
    lease: Duration,
    /// The instance this side is (see [`instance_id`]).
    instance: String,
}

/// This machine's host name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on success.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether process `pid` exists on this host.
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 checks for existence and permission only; nothing is sent.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn valid_instance_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// An instance id for this process alone, when none can be kept in a state directory.
pub fn process_instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| format!("process-{}", uuid::Uuid::new_v4().simple()))
}

/// The instance id of state directory `dir`: a random id created the first time and kept in
/// `dir/instance-id`, so that every process using that state directory on this machine is one instance, and two
/// containers (same host name, same pids) with their own state directories are two. When it cannot be kept (a
/// read-only folder), an id for this process alone ([`process_instance_id`]).
pub fn instance_id(dir: &Path) -> String {
    let p = dir.join(INSTANCE_ID_FILE);
    let read = || std::fs::read_to_string(&p).ok().map(|s| s.trim().to_string());
    if let Some(id) = read().filter(|s| valid_instance_id(s)) {
        return id;
    }
    let made = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{INSTANCE_ID_FILE}.{}.tmp", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, format!("{}\n", uuid::Uuid::new_v4().simple()))?;
        // A link never replaces an id another process just made; a broken file is replaced.
        let r = match std::fs::hard_link(&tmp, &p) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if read().is_some_and(|s| valid_instance_id(&s)) {
                    Ok(())
                } else {
                    std::fs::rename(&tmp, &p)
                }
            }
            r => r,
        };
        let _ = std::fs::remove_file(&tmp);
        r
    })();
    match (made, read()) {
        (Ok(()), Some(id)) if valid_instance_id(&id) => id,
        _ => process_instance_id().to_string(),
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("bad lock name {name:?}: use letters, digits, - _ .")))
    }
}

/// The lock name, in the coordination folder, of a destination that keeps no lock folder of its own (S3, Drive):
/// a short hash of its location, so that any URL fits a file name.
pub fn dest_lock_name(location: &str) -> String {
    let h = crate::manifest::hash::sha256_bytes(location.trim_end_matches('/').as_bytes());
    format!("dest-{}", &h[..16])
}

/// The lock name for a profile.
pub fn profile_lock_name(profile: &str) -> String {
    let safe: String = profile
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("profile-{safe}")
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn lock_file(name: &str) -> String {
    format!("{name}.lock")
}

impl LockDir {
    /// The coordination folder `dir` on the local file system (created on first use), with the default lease, as
    /// an instance of this process alone (see [`LockDir::with_instance`]).
    pub fn new(dir: impl Into<PathBuf>) -> LockDir {
        LockDir::on(Arc::new(FsLockFiles::new(dir)))
    }

    /// The lock folder `files` (a backend's own, say), with the default lease.
    pub fn on(files: Arc<dyn LockFiles>) -> LockDir {
        LockDir { files, lease: DEFAULT_LEASE, instance: process_instance_id().to_string() }
    }

    /// The same folder with another lease.
    pub fn with_lease(mut self, lease: Duration) -> LockDir {
        self.lease = lease;
        self
    }

    /// The same folder, taken and judged as instance `id` (see [`instance_id`]): locks of this instance whose
    /// process is gone are stale.
    pub fn with_instance(mut self, id: impl Into<String>) -> LockDir {
        self.instance = id.into();
        self
    }

    /// Where the folder is.
    pub fn location(&self) -> String {
        self.files.location()
    }

    /// Reads a lock; None when there is none.
    pub fn read(&self, name: &str) -> Result<Option<LockInfo>> {
        check_name(name)?;
        Ok(self.read_file(&lock_file(name))?.map(|(i, _)| i))
    }

    /// A lock file's content, and its bytes. One that cannot be parsed (being written by an exclusive create, or
    /// somebody's broken file) is held for a grace period after it was written, then stale.
    fn read_file(&self, file: &str) -> Result<Option<(LockInfo, Vec<u8>)>> {
        let Some((data, age)) = self.files.read(file)? else { return Ok(None) };
        if let Ok(mut i) = serde_json::from_slice::<LockInfo>(&data) {
            // The lock is the file: its name is the file's, whatever the content says.
            if let Some(stem) = file.strip_suffix(".lock") {
                i.name = stem.to_string();
            }
            return Ok(Some((i, data)));
        }
        let lease_until = match chrono::Duration::from_std(UNREADABLE_GRACE.saturating_sub(age)) {
            Ok(left) if !left.is_zero() => rfc3339(now() + left),
            _ => rfc3339(now() - chrono::Duration::seconds(1)),
        };
        let name = file.strip_suffix(".lock").unwrap_or(file).to_string();
        let token = format!("unreadable-{}", crate::manifest::hash::sha256_bytes(&data));
        Ok(Some((LockInfo { name, lease_until, token, ..Default::default() }, data)))
    }

    /// Whether `info` is stale, and why.
    pub fn state_of(&self, info: &LockInfo) -> LockState {
        if !info.instance_id.is_empty()
            && info.instance_id == self.instance
            && info.host == host_name()
            && !pid_alive(info.pid)
        {
            return LockState::Stale {
                reason: format!(
                    "process {} of this instance ({} on {}) is not running",
                    info.pid, info.instance_id, info.host
                ),
            };
        }
        match chrono::DateTime::parse_from_rfc3339(&info.lease_until) {
            Ok(t) if t < now() => {
                LockState::Stale { reason: format!("its lease expired at {}", info.lease_until) }
            }
            Ok(_) => LockState::Held,
            Err(_) => LockState::Stale {
                reason: format!("its lease_until {:?} is not a time", info.lease_until),
            },
        }
    }

    /// The conflict a held lock gives: its message and details name the holder (`job_id`, `started_at`, `pid`,
    /// `host`, `instance_id`, `profile`, `destination`, and where the lock is).
    fn conflict(&self, held: &LockInfo) -> Error {
        let since = format!(
            "job {}, since {}, pid {} on {}",
            held.job_id.as_deref().unwrap_or("-"),
            held.started_at,
            held.pid,
            held.host
        );
        let msg = if held.token.starts_with("unreadable-") {
            format!(
                "the lock {} in {} is being taken by another run: try again",
                held.name,
                self.location()
            )
        } else if let Some(d) = &held.destination {
            let by = held.profile.as_deref().map(|p| format!("profile {p}"));
            format!(
                "{d} is already being written by {} ({since}; lock in {})",
                by.as_deref().unwrap_or("another sync"),
                self.location()
            )
        } else if let Some(p) = &held.profile {
            format!("profile {p} is already running ({since})")
        } else {
            format!("lock {} is held ({since})", held.name)
        };
        Error::new(ErrorKind::Conflict, msg).with_details(serde_json::json!({
            "lock": held.name,
            "location": self.location(),
            "job_id": held.job_id,
            "started_at": held.started_at,
            "profile": held.profile,
            "destination": held.destination,
            "pid": held.pid,
            "host": held.host,
            "instance_id": held.instance_id,
        }))
    }

    /// Takes the lock `name`, breaking it if stale. A lock in force is an error of kind `conflict` whose details
    /// name the holder (`job_id`, `started_at`, `pid`, `host`, `instance_id`, `profile`, `destination`).
    pub fn acquire(&self, name: &str, owner: &LockOwner) -> Result<LockGuard> {
        let r = self.try_acquire(name, owner);
        if r.is_err() {
            self.files.tidy();
        }
        r
    }

    fn try_acquire(&self, name: &str, owner: &LockOwner) -> Result<LockGuard> {
        check_name(name)?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let started = now();
        let info = LockInfo {
            name: name.to_string(),
            profile: owner.profile.clone(),
            job_id: owner.job_id.clone(),
            destination: owner.destination.clone(),
            instance_id: self.instance.clone(),
            pid: std::process::id(),
            host: host_name(),
            started_at: owner.started_at.clone().unwrap_or_else(|| rfc3339(started)),
            lease_until: rfc3339(started + self.lease),
            token: token.clone(),
        };
        let body = serde_json::to_vec(&info)?;
        let file = lock_file(name);
        let mut broken = None;
        for _ in 0..5 {
            if self.files.create_new(&file, &body)? {
                let mut g = LockGuard::new(self.clone(), info);
                g.broken = broken;
                return Ok(g);
            }
            let Some((held, _)) = self.read_file(&file)? else { continue };
            match self.state_of(&held) {
                LockState::Stale { reason } => {
                    self.break_lock(&file, &held)?;
                    broken = Some((held, reason));
                }
                LockState::Held => return Err(self.conflict(&held)),
            }
        }
        Err(Error::new(ErrorKind::Conflict, format!("lock {name} keeps changing hands: try again")))
    }

    /// Removes a stale lock whose content is `seen`, without removing a fresh one another taker put there.
    fn break_lock(&self, file: &str, seen: &LockInfo) -> Result<()> {
        let aside = format!(".{}.broken-{}", seen.name, uuid::Uuid::new_v4().simple());
        if !self.files.rename(file, &aside)? {
            return Ok(());
        }
        if let Some((moved, bytes)) = self.read_file(&aside)?
            && moved.token != seen.token
        {
            // Someone took the lock between our read and our rename: put theirs back (unless yet another holder
            // exists by now, which then wins).
            let _ = self.files.create_new(file, &bytes);
        }
        let _ = self.files.remove(&aside);
        Ok(())
    }

    /// Every lock in the folder with its state.
    pub fn list(&self) -> Result<Vec<LockStatus>> {
        let mut out = Vec::new();
        for f in self.files.list()? {
            if f.starts_with('.') || !f.ends_with(".lock") {
                continue;
            }
            if let Some((info, _)) = self.read_file(&f)? {
                let state = self.state_of(&info);
                out.push(LockStatus { info, state, location: self.location() });
            }
        }
        out.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        Ok(out)
    }

    /// The lock `name` with its state, if there is one.
    pub fn status(&self, name: &str) -> Result<Option<LockStatus>> {
        Ok(self.read(name)?.map(|info| LockStatus {
            state: self.state_of(&info),
            info,
            location: self.location(),
        }))
    }

    /// Removes the lock `name` only if it is still the one `seen` describes (same token): a lock another taker put
    /// there since is left alone. True when it was removed.
    pub fn remove_seen(&self, seen: &LockInfo) -> Result<bool> {
        check_name(&seen.name)?;
        let file = lock_file(&seen.name);
        match self.read_file(&file)? {
            Some((cur, _)) if cur.token == seen.token => {}
            _ => return Ok(false),
        }
        self.break_lock(&file, seen)?;
        Ok(self.read_file(&file)?.is_none_or(|(cur, _)| cur.token != seen.token))
    }

    /// Removes the lock `name`, or every lock when None, whoever holds them; returns the names removed.
    pub fn force_unlock(&self, name: Option<&str>) -> Result<Vec<String>> {
        let names: Vec<String> = match name {
            Some(n) => {
                check_name(n)?;
                vec![n.to_string()]
            }
            None => self.list()?.into_iter().map(|l| l.info.name).collect(),
        };
        let mut removed = Vec::new();
        for n in names {
            if self.files.remove(&lock_file(&n))? {
                removed.push(n);
            }
        }
        Ok(removed)
    }

    /// Checks that locking works in this folder: take `name`, see a second take refused, renew, release, see it
    /// gone. Returns the steps that passed; the first that fails is the error.
    pub fn self_test(&self, name: &str) -> Result<Vec<String>> {
        let mut steps = Vec::new();
        let owner = LockOwner {
            profile: Some(name.to_string()),
            job_id: Some("self-test".into()),
            ..Default::default()
        };
        let guard = self.acquire(name, &owner)?;
        steps.push(format!("acquired {name} in {}", self.location()));
        match self.acquire(name, &owner) {
            Err(e) if e.kind() == ErrorKind::Conflict => {
                steps.push("a second acquire was refused".into())
            }
            Err(e) => return Err(e),
            Ok(_) => return Err(Error::internal("a second acquire of a held lock succeeded")),
        }
        guard.renew()?;
        steps.push("renewed the lease".into());
        guard.release()?;
        if self.read(name)?.is_some() {
            return Err(Error::internal("the lock file is still there after release"));
        }
        steps.push("released; the lock file is gone".into());
        Ok(steps)
    }
}

/// Called once when a held lock is found gone or taken over at renewal.
pub type LostCallback = Box<dyn Fn(&LockInfo) + Send + Sync>;

struct GuardShared {
    dir: LockDir,
    info: Mutex<LockInfo>,
    stop: Mutex<bool>,
    cv: Condvar,
    /// Set when a renewal found the lock removed or taken over.
    lost: std::sync::atomic::AtomicBool,
    /// The callback, and whether it was called.
    on_lost: Mutex<(Option<LostCallback>, bool)>,
}

impl std::fmt::Debug for GuardShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardShared").field("dir", &self.dir).field("info", &self.info).finish()
    }
}

impl GuardShared {
    fn mark_lost(&self) {
        self.lost.store(true, std::sync::atomic::Ordering::SeqCst);
        self.fire_lost();
    }

    /// Calls the lost callback, once, if the lock is lost and there is one.
    fn fire_lost(&self) {
        if !self.lost.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let info = self.info.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut cb = self.on_lost.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(f), false) = (&cb.0, cb.1) {
            f(&info);
            cb.1 = true;
        }
    }
}

/// A held lock. It renews its lease in the background (every third of the lease) and is released on drop.
#[derive(Debug)]
pub struct LockGuard {
    shared: Arc<GuardShared>,
    renewer: Option<std::thread::JoinHandle<()>>,
    broken: Option<(LockInfo, String)>,
}

impl LockGuard {
    fn new(dir: LockDir, info: LockInfo) -> LockGuard {
        let shared = Arc::new(GuardShared {
            dir,
            info: Mutex::new(info),
            stop: Mutex::new(false),
            cv: Condvar::new(),
            lost: std::sync::atomic::AtomicBool::new(false),
            on_lost: Mutex::new((None, false)),
        });
        let s = shared.clone();
        let every = shared.dir.lease / 3;
        let renewer = std::thread::Builder::new()
            .name("sw-lock-renew".into())
            .spawn(move || {
                let mut stop = s.stop.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    stop =
                        s.cv.wait_timeout_while(stop, every, |stop| !*stop)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    if *stop {
                        return;
                    }
                    // Removed by an unlock, or broken and retaken: the holder must stop; renewing ends.
                    if let Err(e) = renew(&s)
                        && e.kind() == ErrorKind::Conflict
                    {
                        drop(stop);
                        s.mark_lost();
                        return;
                    }
                }
            })
            .ok();
        LockGuard { shared, renewer, broken: None }
    }

    /// The stale lock this one replaced, and why it was stale.
    pub fn broken(&self) -> Option<&(LockInfo, String)> {
        self.broken.as_ref()
    }

    /// What the lock file says.
    pub fn info(&self) -> LockInfo {
        self.shared.info.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Where the lock is.
    pub fn location(&self) -> String {
        self.shared.dir.location()
    }

    /// Extends the lease now. Fails with `conflict` if the lock was removed, or broken and taken by someone else
    /// (the guard is then lost: see [`LockGuard::on_lost`]).
    pub fn renew(&self) -> Result<()> {
        let r = renew(&self.shared);
        if r.as_ref().is_err_and(|e| e.kind() == ErrorKind::Conflict) {
            self.shared.mark_lost();
        }
        r
    }

    /// Calls `f` once if the lock is found gone or taken over at a renewal (at once if it was already). The
    /// holder's work must then stop: someone unlocked it, and another run may take it.
    pub fn on_lost(&self, f: LostCallback) {
        self.shared.on_lost.lock().unwrap_or_else(|p| p.into_inner()).0 = Some(f);
        self.shared.fire_lost();
    }

    /// Whether a renewal found the lock gone or taken over.
    pub fn is_lost(&self) -> bool {
        self.shared.lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Releases the lock (also done on drop).
    pub fn release(mut self) -> Result<()> {
        self.stop_renewer();
        release(&self.shared)
    }

    fn stop_renewer(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.cv.notify_all();
        if let Some(h) = self.renewer.take() {
            let _ = h.join();
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.renewer.is_some() {
            self.stop_renewer();
            let _ = release(&self.shared);
        }
    }
}

fn renew(s: &GuardShared) -> Result<()> {
    let mut info = s.info.lock().unwrap_or_else(|p| p.into_inner());
    let file = lock_file(&info.name);
    match s.dir.read_file(&file)? {
        Some((cur, _)) if cur.token == info.token => {}
        _ => {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("lock {} was taken over", info.name),
            ));
        }
    }
    info.lease_until = rfc3339(now() + s.dir.lease);
    s.dir.files.replace(&file, &serde_json::to_vec(&*info)?)
}

fn release(s: &GuardShared) -> Result<()> {
    let info = s.info.lock().unwrap_or_else(|p| p.into_inner());
    let file = lock_file(&info.name);
    let r = match s.dir.read_file(&file)? {
        Some((cur, _)) if cur.token == info.token => s.dir.files.remove(&file).map(|_| ()),
        // Broken and retaken by another holder: theirs now, leave it.
        _ => Ok(()),
    };
    s.dir.files.tidy();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(job: &str) -> LockOwner {
        LockOwner {
            profile: Some("user_data".into()),
            job_id: Some(job.into()),
            ..Default::default()
        }
    }

    fn write_lock(dir: &Path, info: &LockInfo) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(lock_file(&info.name)), serde_json::to_vec(info).unwrap()).unwrap();
    }

    #[test]
    fn one_holder_at_a_time_with_the_holder_named_in_the_conflict() {
        let d = tempfile::tempdir().unwrap();
        let locks = LockDir::new(d.path());
        let g = locks.acquire("profile-user_data", &owner("job-1")).unwrap();
        let e = locks.acquire("profile-user_data", &owner("job-2")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        let det = e.details().unwrap();
        assert_eq!(det["job_id"], "job-1");
        assert_eq!(det["started_at"], g.info().started_at);
        assert_eq!(det["instance_id"], process_instance_id());
        assert_eq!(locks.list().unwrap()[0].state, LockState::Held);
        drop(g);
        assert!(locks.read("profile-user_data").unwrap().is_none());
        locks.acquire("profile-user_data", &owner("job-2")).unwrap().release().unwrap();
    }

    #[test]
    fn a_dead_process_counts_only_for_this_instance_and_an_expired_lease_for_all() {
        let d = tempfile::tempdir().unwrap();
        let locks = LockDir::new(d.path()).with_instance("me");
        let mut info = LockInfo {
            name: "x".into(),
            job_id: Some("old".into()),
            instance_id: "me".into(),
            pid: 999_999_999,
            host: host_name(),
            started_at: rfc3339(now()),
            lease_until: rfc3339(now() + chrono::Duration::hours(1)),
            token: "t".into(),
            ..Default::default()
        };
        write_lock(d.path(), &info);
        assert!(matches!(locks.state_of(&info), LockState::Stale { .. }));
        let g = locks.acquire("x", &owner("new")).unwrap();
        assert_eq!(locks.read("x").unwrap().unwrap().job_id.as_deref(), Some("new"));
        drop(g);
        // Same host name and a dead pid, but another instance (a container beside us): held while its lease runs.
        info.instance_id = "other".into();
        assert_eq!(locks.state_of(&info), LockState::Held);
        // Locks from before instance ids: never judged by host and pid.
        info.instance_id = String::new();
        assert_eq!(locks.state_of(&info), LockState::Held);
        info.lease_until = rfc3339(now() - chrono::Duration::seconds(1));
        assert!(matches!(locks.state_of(&info), LockState::Stale { .. }));
    }

    #[test]
    fn renew_extends_and_force_unlock_removes() {
        let d = tempfile::tempdir().unwrap();
        let locks = LockDir::new(d.path()).with_lease(Duration::from_secs(30));
        let g = locks.acquire("a", &owner("1")).unwrap();
        let before = locks.read("a").unwrap().unwrap();
        g.renew().unwrap();
        let after = locks.read("a").unwrap().unwrap();
        assert!(after.lease_until >= before.lease_until);
        assert_eq!((after.token, after.started_at), (before.token, before.started_at));
        let _b = locks.acquire("b", &owner("2")).unwrap();
        assert_eq!(locks.force_unlock(Some("a")).unwrap(), vec!["a".to_string()]);
        // The forced-out holder notices on renew and does not remove the next holder's lock.
        assert_eq!(g.renew().unwrap_err().kind(), ErrorKind::Conflict);
        let c = locks.acquire("a", &owner("3")).unwrap();
        drop(g);
        assert_eq!(locks.read("a").unwrap().unwrap().job_id.as_deref(), Some("3"));
        drop(c);
        assert_eq!(locks.force_unlock(None).unwrap(), vec!["b".to_string()]);
        assert!(locks.self_test("lock-self-test").unwrap().len() == 4);
        assert_eq!(locks.acquire("../x", &owner("1")).unwrap_err().kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn an_unreadable_lock_is_held_for_a_grace_period_and_a_symlink_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let locks = LockDir::new(d.path());
        std::fs::write(d.path().join("u.lock"), b"").unwrap();
        let e = locks.acquire("u", &owner("1")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert!(e.message().contains("being taken by another run"), "{}", e.message());
        std::fs::remove_file(d.path().join("u.lock")).unwrap();
        let outside = d.path().join("outside.json");
        std::fs::write(&outside, b"{}").unwrap();
        std::os::unix::fs::symlink(&outside, d.path().join("l.lock")).unwrap();
        assert_eq!(locks.acquire("l", &owner("1")).unwrap_err().kind(), ErrorKind::Conflict);
    }

    #[test]
    fn an_instance_id_is_made_once_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let a = instance_id(d.path());
        assert!(valid_instance_id(&a) && !a.starts_with("process-"), "{a}");
        assert_eq!(instance_id(d.path()), a);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(instance_id(other.path()), a);
        std::fs::write(d.path().join(INSTANCE_ID_FILE), b"not an id!\n").unwrap();
        let b = instance_id(d.path());
        assert!(valid_instance_id(&b) && b != a);
    }
}
