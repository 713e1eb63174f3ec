//! Jobs at the front door: by id, the active ones, the recent ones, and a profile's run history.

use super::EngineCore;
use crate::error::{Error, Result};
use crate::jobs::Job;
use crate::logs::Pagination;
use crate::state::history::RunRecord;
use serde::Serialize;

/// Most runs in one page of a history.
pub const MAX_PER_PAGE: usize = 1000;

/// A page of a profile's run history (canonical JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPage {
    /// The profile.
    pub profile: String,
    /// Its runs on this page, newest first.
    pub runs: Vec<RunRecord>,
    /// Where the page is.
    pub pagination: Pagination,
}

impl EngineCore {
    /// A job of this engine by id (running, or finished within [`super::JOB_RETENTION`]).
    pub fn job(&self, id: &str) -> Option<Job> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|j| j.id() == id).cloned()
    }

    /// Every job this engine knows, oldest first.
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The jobs still running, oldest first.
    pub fn active_jobs(&self) -> Vec<Job> {
        self.jobs().into_iter().filter(|j| j.report().is_none()).collect()
    }

    /// The `limit` most recent jobs of this engine (running or finished within the retention), newest first.
    pub fn recent_jobs(&self, limit: usize) -> Vec<Job> {
        let mut jobs = self.jobs();
        jobs.reverse();
        jobs.truncate(limit);
        jobs
    }

    /// Page `page` (1-based) of `per_page` (at most [`MAX_PER_PAGE`]) runs of profile `profile`, newest first,
    /// from the store (so also runs of earlier processes). `not_found` for a profile the config does not have;
    /// `feature_disabled` without a store.
    pub fn run_history(&self, profile: &str, page: usize, per_page: usize) -> Result<RunPage> {
        self.config.profile(profile)?;
        if page == 0 || per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(Error::invalid(format!(
                "page starts at 1 and per_page is 1 to {MAX_PER_PAGE}"
            )));
        }
        let (runs, total) = self.store_or_err()?.runs_page(profile, page, per_page)?;
        Ok(RunPage {
            profile: profile.to_string(),
            runs,
            pagination: Pagination { page, per_page, total, pages: total.div_ceil(per_page) },
        })
    }
}
