//! Lease lock files in a coordination folder (on the shared volume, next to the data), so that one sync of a
//! profile or destination runs at a time across every process and host that sees the folder.
//!
//! A lock is the file `<dir>/<name>.lock` holding `{name, profile, job_id, pid, host, started_at, lease_until,
//! token}`. It is created atomically (a complete temporary file hard-linked to the lock name: the link fails when
//! the lock exists, on local disks and NFS alike; where hard links are refused, an exclusive create), renewed while
//! its holder runs, and removed by its holder only (the token proves ownership). A lock is **stale** when its
//! holder's process is gone on the same host, or its lease expired (a crashed host stops renewing); a stale lock
//! is broken by the next taker, safely against a racing breaker.

use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The default lease: a holder that stops renewing for this long loses its lock.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// What a lock file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The lock's name (`profile-<name>`, `dest-<hash>`, ...).
    pub name: String,
    /// The profile whose run holds it.
    pub profile: Option<String>,
    /// The job that holds it.
    pub job_id: Option<String>,
    /// The holder's process id.
    pub pid: u32,
    /// The holder's host name.
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

/// A lock as found in the folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockStatus {
    /// The file's content.
    pub info: LockInfo,
    /// Held or stale.
    #[serde(flatten)]
    pub state: LockState,
}

/// Who takes a lock.
#[derive(Debug, Clone, Default)]
pub struct LockOwner {
    /// The profile.
    pub profile: Option<String>,
    /// The job.
    pub job_id: Option<String>,
}

/// A coordination folder of lock files.
#[derive(Debug, Clone)]
pub struct LockDir {
    dir: PathBuf,
    lease: Duration,
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

/// The lock name for a destination location (a short hash, so any URL or path fits a file name).
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

impl LockDir {
    /// The coordination folder `dir` (created on first use) with the default lease.
    pub fn new(dir: impl Into<PathBuf>) -> LockDir {
        LockDir { dir: dir.into(), lease: DEFAULT_LEASE }
    }

    /// The same folder with another lease.
    pub fn with_lease(mut self, lease: Duration) -> LockDir {
        self.lease = lease;
        self
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.lock"))
    }

    fn shown(&self, p: &Path) -> String {
        p.display().to_string()
    }

    /// Reads a lock; None when there is none.
    pub fn read(&self, name: &str) -> Result<Option<LockInfo>> {
        check_name(name)?;
        read_info(&self.path(name))
    }

    /// Whether `info` is stale, and why.
    pub fn state_of(&self, info: &LockInfo) -> LockState {
        if info.host == host_name() && !pid_alive(info.pid) {
            return LockState::Stale {
                reason: format!("process {} is not running on {}", info.pid, info.host),
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

    /// Takes the lock `name`, breaking it if stale. A lock in force is an error of kind `conflict` whose details
    /// name the holder (`job_id`, `started_at`, `pid`, `host`, `profile`).
    pub fn acquire(&self, name: &str, owner: &LockOwner) -> Result<LockGuard> {
        check_name(name)?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(&e, "cannot create", self.shown(&self.dir)))?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let started = now();
        let info = LockInfo {
            name: name.to_string(),
            profile: owner.profile.clone(),
            job_id: owner.job_id.clone(),
            pid: std::process::id(),
            host: host_name(),
            started_at: rfc3339(started),
            lease_until: rfc3339(started + self.lease),
            token: token.clone(),
        };
        let lock = self.path(name);
        let mut broken = None;
        for _ in 0..5 {
            if create_exclusive(&self.dir, &lock, &info)? {
                let mut g = LockGuard::new(self.clone(), info);
                g.broken = broken;
                return Ok(g);
            }
            let Some(held) = read_info(&lock)? else { continue };
            match self.state_of(&held) {
                LockState::Stale { reason } => {
                    self.break_lock(&lock, &held)?;
                    broken = Some((held, reason));
                }
                LockState::Held => {
                    let what = held
                        .profile
                        .as_deref()
                        .map(|p| format!("profile {p}"))
                        .unwrap_or(held.name.clone());
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "{what} is already running (job {}, since {}, pid {} on {})",
                            held.job_id.as_deref().unwrap_or("-"),
                            held.started_at,
                            held.pid,
                            held.host
                        ),
                    )
                    .with_details(serde_json::json!({
                        "lock": held.name,
                        "job_id": held.job_id,
                        "started_at": held.started_at,
                        "profile": held.profile,
                        "pid": held.pid,
                        "host": held.host,
                    })));
                }
            }
        }
        Err(Error::new(ErrorKind::Conflict, format!("lock {name} keeps changing hands: try again")))
    }

    /// Removes a stale lock whose content is `seen`, without removing a fresh one another taker put there.
    fn break_lock(&self, lock: &Path, seen: &LockInfo) -> Result<()> {
        let aside =
            self.dir.join(format!(".{}.broken-{}", seen.name, uuid::Uuid::new_v4().simple()));
        match std::fs::rename(lock, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&e, "cannot break", self.shown(lock))),
        }
        let moved = read_info(&aside)?;
        if moved.as_ref().is_some_and(|m| m.token != seen.token) {
            // Someone took the lock between our read and our rename: put theirs back (unless yet another holder
            // exists by now, which then wins).
            let _ = std::fs::hard_link(&aside, lock);
        }
        let _ = std::fs::remove_file(&aside);
        Ok(())
    }

    /// Every lock in the folder with its state.
    pub fn list(&self) -> Result<Vec<LockStatus>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::io(&e, "cannot list", self.shown(&self.dir))),
        };
        let mut out = Vec::new();
        for de in rd.flatten() {
            let p = de.path();
            if p.extension().and_then(|e| e.to_str()) != Some("lock") {
                continue;
            }
            if let Some(info) = read_info(&p)? {
                let state = self.state_of(&info);
                out.push(LockStatus { info, state });
            }
        }
        out.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        Ok(out)
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
            match std::fs::remove_file(self.path(&n)) {
                Ok(()) => removed.push(n),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&e, "cannot remove", self.shown(&self.path(&n)))),
            }
        }
        Ok(removed)
    }

    /// Checks that locking works in this folder: take `name`, see a second take refused, renew, release, see it
    /// gone. Returns the steps that passed; the first that fails is the error.
    pub fn self_test(&self, name: &str) -> Result<Vec<String>> {
        let mut steps = Vec::new();
        let owner = LockOwner { profile: Some(name.to_string()), job_id: Some("self-test".into()) };
        let guard = self.acquire(name, &owner)?;
        steps.push(format!("acquired {name} in {}", self.dir.display()));
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

fn read_info(p: &Path) -> Result<Option<LockInfo>> {
    match std::fs::read(p) {
        Ok(b) => match serde_json::from_slice::<LockInfo>(&b) {
            Ok(i) => Ok(Some(i)),
            // A lock being written by an exclusive create (no hard links) may be seen empty for a moment; an
            // unreadable one older than that is somebody's broken file and counts as stale.
            Err(_) => {
                let age = std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .unwrap_or_default();
                let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or("lock").to_string();
                let lease_until = if age > Duration::from_secs(5) {
                    rfc3339(now() - chrono::Duration::seconds(1))
                } else {
                    rfc3339(now() + chrono::Duration::seconds(5))
                };
                Ok(Some(LockInfo {
                    name,
                    profile: None,
                    job_id: None,
                    pid: 0,
                    host: String::new(),
                    started_at: String::new(),
                    lease_until,
                    token: format!("unreadable-{age:?}"),
                }))
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&e, "cannot read", p.display().to_string())),
    }
}

fn write_file(p: &Path, info: &LockInfo) -> Result<()> {
    let mut f = std::fs::File::create(p)
        .map_err(|e| Error::io(&e, "cannot create", p.display().to_string()))?;
    let body = serde_json::to_vec(info)?;
    f.write_all(&body).map_err(|e| Error::io(&e, "cannot write", p.display().to_string()))?;
    f.sync_all().map_err(|e| Error::io(&e, "cannot flush", p.display().to_string()))
}

/// Creates `lock` holding `info` if it does not exist; false when it does.
fn create_exclusive(dir: &Path, lock: &Path, info: &LockInfo) -> Result<bool> {
    let tmp = dir.join(format!(".{}.{}.tmp", info.name, info.token));
    write_file(&tmp, info)?;
    let r = std::fs::hard_link(&tmp, lock);
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
            // No hard links here (some SMB and FUSE mounts): an exclusive create, then the content.
            match std::fs::OpenOptions::new().write(true).create_new(true).open(lock) {
                Ok(mut f) => {
                    let body = serde_json::to_vec(info)?;
                    f.write_all(&body)
                        .map_err(|e| Error::io(&e, "cannot write", lock.display().to_string()))?;
                    f.sync_all()
                        .map_err(|e| Error::io(&e, "cannot flush", lock.display().to_string()))?;
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(Error::io(&e, "cannot create", lock.display().to_string())),
            }
        }
        Err(e) => Err(Error::io(&e, "cannot create", lock.display().to_string())),
    }
}

#[derive(Debug)]
struct GuardShared {
    dir: LockDir,
    info: Mutex<LockInfo>,
    stop: Mutex<bool>,
    cv: Condvar,
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
                    let _ = renew(&s);
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

    /// Extends the lease now. Fails with `conflict` if the lock was broken and taken by someone else.
    pub fn renew(&self) -> Result<()> {
        renew(&self.shared)
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
    let lock = s.dir.path(&info.name);
    match read_info(&lock)? {
        Some(cur) if cur.token == info.token => {}
        _ => {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("lock {} was taken over", info.name),
            ));
        }
    }
    info.lease_until = rfc3339(now() + s.dir.lease);
    let tmp = s.dir.dir.join(format!(".{}.{}.renew", info.name, info.token));
    write_file(&tmp, &info)?;
    std::fs::rename(&tmp, &lock)
        .map_err(|e| Error::io(&e, "cannot renew", lock.display().to_string()))
}

fn release(s: &GuardShared) -> Result<()> {
    let info = s.info.lock().unwrap_or_else(|p| p.into_inner());
    let lock = s.dir.path(&info.name);
    match read_info(&lock)? {
        Some(cur) if cur.token == info.token => std::fs::remove_file(&lock)
            .map_err(|e| Error::io(&e, "cannot release", lock.display().to_string())),
        // Broken and retaken by another holder: theirs now, leave it.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(job: &str) -> LockOwner {
        LockOwner { profile: Some("user_data".into()), job_id: Some(job.into()) }
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
        assert_eq!(locks.list().unwrap()[0].state, LockState::Held);
        drop(g);
        assert!(locks.read("profile-user_data").unwrap().is_none());
        locks.acquire("profile-user_data", &owner("job-2")).unwrap().release().unwrap();
    }

    #[test]
    fn dead_owner_and_expired_lease_make_a_lock_stale() {
        let d = tempfile::tempdir().unwrap();
        let locks = LockDir::new(d.path());
        let mut info = LockInfo {
            name: "x".into(),
            profile: None,
            job_id: Some("old".into()),
            pid: 999_999_999,
            host: host_name(),
            started_at: rfc3339(now()),
            lease_until: rfc3339(now() + chrono::Duration::hours(1)),
            token: "t".into(),
        };
        write_file(&d.path().join("x.lock"), &info).unwrap();
        assert!(matches!(locks.state_of(&info), LockState::Stale { .. }));
        let g = locks.acquire("x", &owner("new")).unwrap();
        assert_eq!(locks.read("x").unwrap().unwrap().job_id.as_deref(), Some("new"));
        drop(g);
        // Another host, live lease: held; expired lease: stale.
        info.host = "elsewhere".into();
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
}
