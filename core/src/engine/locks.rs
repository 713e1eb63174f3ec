//! Locks at the front door: the destination lock every writing run takes (whatever the entry point), and what
//! the status and unlock commands of every front end need — a profile's locks wherever they live, and removing
//! them. The lease logic is [`crate::locks`]'s.
//!
//! Where each lock lives: a profile's in the coordination folder (the config's `coordination_dir`); a destination's
//! in its own `.syncwright/locks/` when it is a local or SFTP folder ([`Backend::lock_files`]), else (S3, Drive) in
//! the coordination folder: the config's for profile runs, `<state dir>/locks` for plain syncs.

use super::{CancelFlag, EngineCore, SyncOptions};
use crate::backend::{self, Backend};
use crate::error::{Error, Result};
use crate::events::{Event, EventBus};
use crate::locks::{
    DEST_LOCK, LockDir, LockGuard, LockOwner, LockState, LockStatus, dest_lock_name,
    profile_lock_name,
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

/// Why [`EngineCore::unlock_profile`] removed a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// Its holder was gone (or the file named none): removed at once.
    Stale,
    /// A job of this engine held it: the job was cancelled and waited for, and released it.
    Cancelled,
    /// Another process or host held it with a fresh lease, and `force` was given: that run stops at its next
    /// renewal.
    Forced,
}

/// A lock an unlock removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedLock {
    /// Its name.
    pub name: String,
    /// The folder it was in.
    pub location: String,
    /// Why it could go.
    pub reason: Removal,
    /// The job that held it, if the lock named one.
    pub job_id: Option<String>,
}

/// What an unlock did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnlockReport {
    /// The locks removed.
    pub removed: Vec<RemovedLock>,
    /// Jobs of this engine cancelled (and waited for) so their locks could go.
    pub cancelled_jobs: Vec<String>,
    /// Folders that could not be reached or cleared (an SFTP host that is down), with why.
    pub errors: Vec<String>,
}

/// What the lock self-test did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockSelfTest {
    /// The test lock's name.
    pub name: String,
    /// The coordination folder it ran in.
    pub location: String,
    /// The steps, each of which passed.
    pub steps: Vec<String>,
}

impl EngineCore {
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
        LockDir::new(dir).with_instance(self.instance_id()).with_lease(self.lock_lease)
    }

    /// Where the lock of destination `dst` lives, and its name there: the destination's own lock folder when it
    /// keeps one (local, SFTP), else the coordination folder `coord`.
    pub(crate) fn dest_lock_dir(&self, dst: &dyn Backend, coord: &Path) -> (LockDir, String) {
        match dst.lock_files() {
            Some(files) => {
                let dir = LockDir::on(files)
                    .with_instance(self.instance_id())
                    .with_lease(self.lock_lease);
                (dir, DEST_LOCK.to_string())
            }
            None => (self.lock_dir(coord), dest_lock_name(&dst.location())),
        }
    }

    /// The destination lock a writing run of job `job_id` (of `profile`, with the coordination folder `coord`; a
    /// plain sync's when None), which started at `started_at`, takes on `dst`.
    pub(crate) fn dest_lock(
        &self,
        dst: &dyn Backend,
        coord: Option<&Path>,
        profile: Option<&str>,
        (job_id, started_at): (&str, &str),
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
                started_at: Some(started_at.to_string()),
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
            // The vault's credentials when it can be unlocked; a lock kept in the coordination folder needs none.
            remote: self.resolve_credentials(&opts.remote).unwrap_or_else(|_| opts.remote.clone()),
            cache_dir: None,
            store: None,
        };
        Ok(Some(backend::open_with(dest, &o)?))
    }

    /// Every profile with its lock and its destination's lock, wherever they live (a destination over SFTP is
    /// reached to look; one that cannot be says why in `destination_error`).
    pub fn profile_locks(&self) -> Result<Vec<ProfileLocks>> {
        let held = self.lock_dir(self.config.coordination_dir()).list()?;
        Ok(self.config.profiles.keys().map(|n| self.locks_of(n, &held)).collect())
    }

    /// Profile `name`'s locks, its own found in `held` (the coordination folder's).
    pub(crate) fn locks_of(&self, name: &str, held: &[LockStatus]) -> ProfileLocks {
        let lock = held.iter().find(|l| l.info.name == profile_lock_name(name)).cloned();
        let dest = self.profile_destination(name).and_then(|d| match d {
            Some(d) => {
                let (dir, lock) = self.dest_lock_dir(&*d, &self.config.coordination_dir());
                dir.status(&lock)
            }
            None => Ok(None),
        });
        let (destination_lock, destination_error) = match dest {
            Ok(l) => (l, None),
            Err(e) => (None, Some(e.message().to_string())),
        };
        ProfileLocks { profile: name.to_string(), lock, destination_lock, destination_error }
    }

    /// Removes profile `name`'s locks (its own, and its destination's wherever it lives) without ever letting two
    /// runs write one destination: a stale lock goes at once; one a job of this engine holds goes with that job,
    /// which is cancelled and waited for first (this call blocks until it ended); one another process or host
    /// holds with a fresh lease is a `conflict` naming the holders (nothing is removed) unless `force`, and then
    /// that run stops at its next renewal. A profile that does not exist is `not_found`; a folder that cannot be
    /// reached is listed in `errors`.
    pub fn unlock_profile(&self, name: &str, force: bool) -> Result<UnlockReport> {
        self.config.profile(name)?;
        let mut out = UnlockReport::default();
        let coord = self.lock_dir(self.config.coordination_dir());
        let mut found = Vec::new();
        match coord.status(&profile_lock_name(name)) {
            Ok(Some(l)) => found.push((coord.clone(), l)),
            Ok(None) => {}
            Err(e) => out.errors.push(format!("{}: {}", coord.location(), e.message())),
        }
        self.dest_locks_of(name, &mut found, &mut out);
        self.remove_locks(found, force, out)
    }

    /// [`EngineCore::unlock_profile`] for every lock: the coordination folder's, `<state dir>/locks` (plain syncs
    /// to S3 and Drive), and every profile's destination lock, with the same rules.
    pub fn unlock_all(&self, force: bool) -> Result<UnlockReport> {
        let mut out = UnlockReport::default();
        let mut found = Vec::new();
        for dir in [
            self.lock_dir(self.config.coordination_dir()),
            self.lock_dir(self.plain_coordination_dir()),
        ] {
            match dir.list() {
                Ok(ls) => found.extend(ls.into_iter().map(|l| (dir.clone(), l))),
                Err(e) => out.errors.push(format!("{}: {}", dir.location(), e.message())),
            }
        }
        for name in self.config.profiles.keys() {
            self.dest_locks_of(name, &mut found, &mut out);
        }
        self.remove_locks(found, force, out)
    }

    /// Checks that locking works in the coordination folder with a test lock `name` (take, a second take refused,
    /// renew, release): the steps, or the error of the first that failed.
    pub fn lock_self_test(&self, name: &str) -> Result<LockSelfTest> {
        let dir = self.lock_dir(self.config.coordination_dir());
        let steps = dir.self_test(name)?;
        Ok(LockSelfTest { name: name.to_string(), location: dir.location(), steps })
    }

    /// Adds profile `name`'s destination lock (when it keeps one of its own, or it is named for that destination
    /// in the coordination folder) to `found`.
    fn dest_locks_of(
        &self,
        name: &str,
        found: &mut Vec<(LockDir, LockStatus)>,
        out: &mut UnlockReport,
    ) {
        let d = match self.profile_destination(name) {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => {
                out.errors.push(format!("profile {name}: {}", e.message()));
                return;
            }
        };
        let (dir, lock) = self.dest_lock_dir(&*d, &self.config.coordination_dir());
        match dir.status(&lock) {
            Ok(Some(l)) => {
                if !found
                    .iter()
                    .any(|(d, f)| d.location() == dir.location() && f.info.name == l.info.name)
                {
                    found.push((dir, l));
                }
            }
            Ok(None) => {}
            Err(e) => out.errors.push(format!("{}: {}", dir.location(), e.message())),
        }
    }

    /// Removes the locks found, by the unlock rules (see [`EngineCore::unlock_profile`]).
    fn remove_locks(
        &self,
        found: Vec<(LockDir, LockStatus)>,
        force: bool,
        mut out: UnlockReport,
    ) -> Result<UnlockReport> {
        // Sort each lock: stale (or naming no holder), held by a job of ours, held by someone else.
        let mine = |l: &LockStatus| {
            l.info.instance_id == self.instance_id()
                && l.info.pid == std::process::id()
                && l.info.host == crate::locks::host_name()
        };
        let mut ours = Vec::new();
        let mut foreign = Vec::new();
        let mut stale = Vec::new();
        for (dir, l) in found {
            // A file that cannot be read names no holder and no lease: it goes like a stale one. (Taking a lock
            // writes it whole and links it into place; only where links are refused is there a moment, of one
            // write, when a lock being taken is unreadable, and a taker that lost it so stops at its renewal.)
            let unreadable = l.info.token.starts_with("unreadable-");
            if unreadable || matches!(l.state, LockState::Stale { .. }) {
                stale.push((dir, l));
                continue;
            }
            let job =
                l.info.job_id.as_deref().and_then(|j| self.job(j)).filter(|j| j.report().is_none());
            match job {
                Some(j) if mine(&l) => ours.push((dir, l, j)),
                _ => foreign.push((dir, l)),
            }
        }
        if !foreign.is_empty() && !force {
            let holders: Vec<serde_json::Value> = foreign
                .iter()
                .map(|(d, l)| {
                    serde_json::json!({
                        "lock": l.info.name,
                        "location": d.location(),
                        "job_id": l.info.job_id,
                        "started_at": l.info.started_at,
                        "profile": l.info.profile,
                        "pid": l.info.pid,
                        "host": l.info.host,
                        "instance_id": l.info.instance_id,
                        "lease_until": l.info.lease_until,
                    })
                })
                .collect();
            let names: Vec<String> = foreign
                .iter()
                .map(|(_, l)| {
                    format!(
                        "{} (job {}, pid {} on {}, lease until {})",
                        l.info.name,
                        l.info.job_id.as_deref().unwrap_or("-"),
                        l.info.pid,
                        l.info.host,
                        l.info.lease_until
                    )
                })
                .collect();
            return Err(Error::new(
                crate::ErrorKind::Conflict,
                format!(
                    "held by a run elsewhere with a fresh lease: {}; unlock with force to remove it (that run \
                     stops at its next renewal)",
                    names.join(", ")
                ),
            )
            .with_details(serde_json::json!({ "holders": holders })));
        }
        let removed =
            |dir: &LockDir, l: &LockStatus, reason: Removal, out: &mut UnlockReport| match dir
                .remove_seen(&l.info)
            {
                Ok(true) => out.removed.push(RemovedLock {
                    name: l.info.name.clone(),
                    location: dir.location(),
                    reason,
                    job_id: l.info.job_id.clone(),
                }),
                Ok(false) => {}
                Err(e) => out.errors.push(format!("{}: {}", dir.location(), e.message())),
            };
        for (dir, l) in &stale {
            removed(dir, l, Removal::Stale, &mut out);
        }
        // Our own jobs: cancelled and waited for; they release their locks as they end.
        for (_, _, j) in &ours {
            j.cancel();
        }
        for (dir, l, j) in &ours {
            j.wait(None);
            if !out.cancelled_jobs.iter().any(|c| c == j.id()) {
                out.cancelled_jobs.push(j.id().to_string());
            }
            // Released by the job: reported as removed; one it could not release goes now.
            match dir.remove_seen(&l.info) {
                Ok(_) => out.removed.push(RemovedLock {
                    name: l.info.name.clone(),
                    location: dir.location(),
                    reason: Removal::Cancelled,
                    job_id: l.info.job_id.clone(),
                }),
                Err(e) => out.errors.push(format!("{}: {}", dir.location(), e.message())),
            }
        }
        for (dir, l) in &foreign {
            removed(dir, l, Removal::Forced, &mut out);
        }
        Ok(out)
    }
}
