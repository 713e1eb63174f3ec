//! Locks at the front door: the destination lock every writing run takes (whatever the entry point), and what
//! the status and unlock commands of every front end need — a profile's locks wherever they live, and removing
//! them. The lease logic is [`crate::locks`]'s.
//!
//! Where each lock lives: a profile's in the coordination folder (the config's `coordination_dir`); a destination's
//! in its own `.syncwright/locks/` when it is a local or SFTP folder ([`Backend::lock_files`]), else (S3, Drive) in
//! the coordination folder: the config's for profile runs, `<state dir>/locks` for plain syncs.

use super::{CancelFlag, Engine, SyncOptions};
use crate::backend::{self, Backend};
use crate::error::{Error, Result};
use crate::events::{Event, EventBus};
use crate::locks::{
    DEST_LOCK, LockDir, LockGuard, LockOwner, LockStatus, dest_lock_name, profile_lock_name,
};
use crate::logs::{LogEntry, LogLevel, LogStore};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The lock a writing run takes on its destination: prepared when the job is launched, taken by the job as its
/// first step (so that reaching an SFTP host is the run's work, retried like the rest of it, and never blocks the
/// caller), held across its attempts, released when it ends.
#[derive(Debug)]
pub(crate) struct DestLock {
    dir: LockDir,
    name: String,
    owner: LockOwner,
    events: Arc<EventBus>,
    logs: LogStore,
}

impl DestLock {
    /// Takes the lock (blocking), announcing it and any stale lock it broke.
    fn take(&self) -> Result<LockGuard> {
        let g = self.dir.acquire(&self.name, &self.owner)?;
        announce(&self.events, &self.logs, self.owner.profile.as_deref(), &g);
        Ok(g)
    }

    /// Takes the lock off the async threads; a cancel returns at once.
    pub(crate) async fn take_async(self: &Arc<Self>, cancel: &CancelFlag) -> Result<LockGuard> {
        let me = self.clone();
        let task = tokio::task::spawn_blocking(move || me.take());
        tokio::select! {
            biased;
            // The task goes on; a guard it still gets is dropped with its result, which releases it.
            _ = cancel.cancelled() => Err(Error::cancelled()),
            r = task => r.map_err(|e| Error::internal(format!("taking the destination lock failed: {e}")))?,
        }
    }
}

/// Announces a lock taken (and the stale lock it broke, if any) on the bus, and in the profile's log.
pub(crate) fn announce(events: &EventBus, logs: &LogStore, profile: Option<&str>, g: &LockGuard) {
    if let Some((old, reason)) = g.broken() {
        events.publish(Event::LockBroken { lock: old.clone(), reason: reason.clone() });
        if let Some(p) = profile {
            let _ = logs.append(
                p,
                LogEntry::now(
                    LogLevel::Warning,
                    format!("broke the stale lock {} in {} ({reason})", old.name, g.location()),
                    serde_json::to_value(old).unwrap_or_default(),
                ),
            );
        }
    }
    events.publish(Event::LockTaken { lock: g.info() });
}

/// A profile's locks as found now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileLocks {
    /// The profile.
    pub profile: String,
    /// Its own lock (in the coordination folder), if there is one: held while it runs.
    pub lock: Option<LockStatus>,
    /// Its destination's lock, wherever it lives, if there is one: held while any run writes there (this
    /// profile's, another profile's, a plain sync's).
    pub destination_lock: Option<LockStatus>,
    /// Why the destination's lock could not be looked at (an SFTP host that is down), if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_error: Option<String>,
}

/// A lock removed by [`Engine::unlock`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedLock {
    /// Its name.
    pub name: String,
    /// The folder it was in.
    pub location: String,
}

/// What [`Engine::unlock`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnlockReport {
    /// The locks removed.
    pub removed: Vec<RemovedLock>,
    /// Folders that could not be reached or cleared (an SFTP host that is down), with why.
    pub errors: Vec<String>,
}

impl Engine {
    /// This engine's instance id ([`crate::locks::instance_id`] of its state directory): the holder of its locks.
    pub fn instance_id(&self) -> &str {
        self.instance.get_or_init(|| crate::locks::instance_id(&self.state_dir))
    }

    /// The coordination folder of plain syncs (for destinations that keep no lock folder of their own, S3 and
    /// Drive): `<state dir>/locks`.
    pub fn plain_coordination_dir(&self) -> PathBuf {
        self.state_dir.join("locks")
    }

    /// A coordination folder, as this instance.
    pub(crate) fn lock_dir(&self, dir: impl Into<PathBuf>) -> LockDir {
        LockDir::new(dir).with_instance(self.instance_id())
    }

    /// Where the lock of destination `dst` lives, and its name there: the destination's own lock folder when it
    /// keeps one (local, SFTP), else the coordination folder `coord`.
    pub(crate) fn dest_lock_dir(&self, dst: &dyn Backend, coord: &Path) -> (LockDir, String) {
        match dst.lock_files() {
            Some(files) => {
                (LockDir::on(files).with_instance(self.instance_id()), DEST_LOCK.to_string())
            }
            None => (self.lock_dir(coord), dest_lock_name(&dst.location())),
        }
    }

    /// The destination lock a writing run of job `job_id` (of `profile`, with the coordination folder `coord`; a
    /// plain sync's when None) takes on `dst`.
    pub(crate) fn dest_lock(
        &self,
        dst: &dyn Backend,
        coord: Option<&Path>,
        profile: Option<&str>,
        job_id: &str,
    ) -> Arc<DestLock> {
        let coord = coord.map(Path::to_path_buf).unwrap_or_else(|| self.plain_coordination_dir());
        let (dir, name) = self.dest_lock_dir(dst, &coord);
        Arc::new(DestLock {
            dir,
            name,
            owner: LockOwner {
                profile: profile.map(str::to_string),
                job_id: Some(job_id.to_string()),
                destination: Some(dst.location()),
            },
            events: self.events.clone(),
            logs: self.logs.clone(),
        })
    }

    /// The destination of profile `name` of `config`, opened for its lock (remote ones with the profile's
    /// remote options; nothing is connected until the lock is looked at); None for a command profile.
    fn profile_destination(&self, name: &str) -> Result<Option<Arc<dyn Backend>>> {
        let profile = self.config.profile(name)?;
        let Some(dest) = &profile.destination else { return Ok(None) };
        let opts: SyncOptions = profile.sync_options(name)?;
        let o = backend::OpenOptions {
            snapshot: Some(opts.name.clone()),
            remote: opts.remote.clone(),
            cache_dir: None,
            store: None,
        };
        Ok(Some(backend::open_with(dest, &o)?))
    }

    /// Every profile of `config` with its lock and its destination's lock, wherever they live (a destination over
    /// SFTP is reached to look; one that cannot be says why in `destination_error`).
    pub fn profile_locks(&self) -> Result<Vec<ProfileLocks>> {
        let config = self.config.clone();
        let coord = self.lock_dir(config.coordination_dir());
        let held = coord.list()?;
        let mut out = Vec::new();
        for name in config.profiles.keys() {
            let lock = held.iter().find(|l| l.info.name == profile_lock_name(name)).cloned();
            let dest = self.profile_destination(name).and_then(|d| match d {
                Some(d) => {
                    let (dir, lock) = self.dest_lock_dir(&*d, &config.coordination_dir());
                    dir.status(&lock)
                }
                None => Ok(None),
            });
            let (destination_lock, destination_error) = match dest {
                Ok(l) => (l, None),
                Err(e) => (None, Some(e.message().to_string())),
            };
            out.push(ProfileLocks {
                profile: name.clone(),
                lock,
                destination_lock,
                destination_error,
            });
        }
        Ok(out)
    }

    /// Removes locks whoever holds them: profile `name`'s lock and its destination's lock, wherever it lives;
    /// with None, every lock of the coordination folder and of `<state dir>/locks`, and every profile's destination
    /// lock. A profile that does not exist is `not_found`; a folder that cannot be reached is listed in `errors`.
    pub fn unlock(&self, name: Option<&str>) -> Result<UnlockReport> {
        let config = self.config.clone();
        fn remove(out: &mut UnlockReport, dir: &LockDir, lock: Option<&str>) {
            match dir.force_unlock(lock) {
                Ok(names) => out.removed.extend(
                    names.into_iter().map(|name| RemovedLock { name, location: dir.location() }),
                ),
                Err(e) => out.errors.push(format!("{}: {}", dir.location(), e.message())),
            }
        }
        let mut out = UnlockReport::default();
        let coord = self.lock_dir(config.coordination_dir());
        let profiles: Vec<&String> = match name {
            Some(n) => {
                config.profile(n)?;
                remove(&mut out, &coord, Some(&profile_lock_name(n)));
                config.profiles.keys().filter(|k| k.as_str() == n).collect()
            }
            None => {
                remove(&mut out, &coord, None);
                remove(&mut out, &self.lock_dir(self.plain_coordination_dir()), None);
                config.profiles.keys().collect()
            }
        };
        for p in profiles {
            match self.profile_destination(p) {
                Ok(Some(d)) => {
                    let (dir, lock) = self.dest_lock_dir(&*d, &config.coordination_dir());
                    // With every lock asked for, the coordination folder was cleared already.
                    if name.is_some() || d.lock_files().is_some() {
                        remove(&mut out, &dir, Some(&lock));
                    }
                }
                Ok(None) => {}
                Err(e) => out.errors.push(format!("profile {p}: {}", e.message())),
            }
        }
        Ok(out)
    }
}
