//! Jobs at the front door: by id, every one, the active ones.

use super::Engine;
use crate::jobs::Job;

impl Engine {
    /// A job of this engine by id (running, or finished within the retention time).
    pub fn job(&self, id: &str) -> Option<Job> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|j| j.id() == id).cloned()
    }

    /// Every job this engine knows, oldest first.
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The jobs still running.
    pub fn active_jobs(&self) -> Vec<Job> {
        self.jobs().into_iter().filter(|j| j.report().is_none()).collect()
    }
}
