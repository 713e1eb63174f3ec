//! Profiles at the front door: run one, run them all.

use super::Engine;
use super::launch::Work;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::jobs::{Job, JobInfo};
use crate::locks::{LockDir, LockGuard, LockOwner, profile_lock_name};
use crate::progress::ProgressCallback;
use crate::report::SyncReport;
use serde::Serialize;
use std::sync::Arc;

/// The outcome of one profile in [`Engine::run_all`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ProfileResult {
    /// It ran: its report.
    Report(Box<SyncReport>),
    /// It could not start (already running, bad profile).
    Error {
        /// The kind.
        kind: crate::ErrorKind,
        /// The message.
        error: String,
    },
}

/// The outcome of [`Engine::run_all`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunAllReport {
    /// Profiles in the config.
    pub total: usize,
    /// Profiles whose run completed.
    pub successful: Vec<String>,
    /// Profiles that failed, ended partial, or could not start.
    pub failed: Vec<String>,
    /// Per profile.
    pub results: std::collections::BTreeMap<String, ProfileResult>,
}
impl Engine {
    /// Runs profile `name` of `config` in the background, one run at a time: a profile already running (in this
    /// process or any other that sees the coordination folder) is an error of kind `conflict` whose details name
    /// the running job and its start time. Its destination is locked like any writing run's
    /// ([`Engine::start_sync`]): a destination another run writes makes the job fail at once with that conflict.
    pub fn run_profile(&self, name: &str, on_progress: Option<ProgressCallback>) -> Result<Job> {
        let config = self.config.clone();
        let profile = config.profile(name)?;
        let (Some(source), Some(dest)) = (&profile.source, &profile.destination) else {
            let argv = profile.command.clone().unwrap_or_default();
            let timeout = profile.timeout.as_ref().map(|t| t.get()).transpose()?;
            let info = JobInfo::new(Some(name.to_string()), argv.join(" "), String::new());
            let locks = self.lock_dir(config.coordination_dir());
            let owner = LockOwner {
                profile: Some(name.to_string()),
                job_id: Some(info.job_id.clone()),
                ..Default::default()
            };
            let guard = self.take_lock(&locks, &profile_lock_name(name), &owner, name)?;
            return self.launch_job(
                info,
                Work::Command { argv },
                on_progress,
                vec![guard],
                None,
                timeout,
                None,
            );
        };
        let (src, dst) = self.open_backends(source, dest, &profile.sync_options(name)?)?;
        self.run_profile_with(name, src, dst, on_progress)
    }

    /// [`Engine::run_profile`] with the backends given (tests use instrumented ones).
    pub fn run_profile_with(
        &self,
        name: &str,
        src: Arc<dyn Backend>,
        dst: Arc<dyn Backend>,
        on_progress: Option<ProgressCallback>,
    ) -> Result<Job> {
        let config = self.config.clone();
        let profile = config.profile(name)?;
        let opts = profile.sync_options(name)?;
        let timeout = profile.timeout.as_ref().map(|t| t.get()).transpose()?;
        let info = JobInfo::new(Some(name.to_string()), src.location(), dst.location());
        let locks = self.lock_dir(config.coordination_dir());
        let owner = LockOwner {
            profile: Some(name.to_string()),
            job_id: Some(info.job_id.clone()),
            ..Default::default()
        };
        // Per profile here; per destination root by the job, like every writing run's.
        let profile_lock = self.take_lock(&locks, &profile_lock_name(name), &owner, name)?;
        let dest_lock = (!opts.dry_run).then(|| {
            self.dest_lock(&*dst, Some(&config.coordination_dir()), Some(name), &info.job_id)
        });
        let work = Work::Sync { src, dst, opts: Box::new(opts) };
        self.launch_job(info, work, on_progress, vec![profile_lock], dest_lock, timeout, None)
    }

    /// Takes a lock and announces it (and the stale lock it broke, if any) on the bus and in the profile's log.
    pub(crate) fn take_lock(
        &self,
        locks: &LockDir,
        lock: &str,
        owner: &LockOwner,
        profile: &str,
    ) -> Result<LockGuard> {
        let g = locks.acquire(lock, owner)?;
        super::locks::announce(&self.events, &self.logs, Some(profile), &g);
        Ok(g)
    }

    /// Runs every profile of `config` one after the other (external-command profiles are reported as failed);
    /// blocks until all ended.
    pub fn run_all(&self) -> RunAllReport {
        let config = self.config.clone();
        let mut out = RunAllReport::default();
        for name in config.profiles.keys() {
            let r = self.run_profile(name, None).and_then(|j| {
                j.wait(None).ok_or_else(|| Error::internal("job ended without a report"))
            });
            match r {
                Ok(rep) => {
                    if rep.status == crate::report::Status::Completed {
                        out.successful.push(name.clone());
                    } else {
                        out.failed.push(name.clone());
                    }
                    out.results.insert(name.clone(), ProfileResult::Report(Box::new(rep)));
                }
                Err(e) => {
                    out.failed.push(name.clone());
                    out.results.insert(
                        name.clone(),
                        ProfileResult::Error { kind: e.kind(), error: e.message().to_string() },
                    );
                }
            }
        }
        out.total = config.profiles.len();
        out
    }
}
