//! Profile logs at the front door: the last entries, or a page, with a level filter.

use super::EngineCore;
use crate::error::Result;
use crate::logs::{LogEntry, LogLevel, LogPage};

impl EngineCore {
    /// The last `lines` entries of profile `profile`'s log (of `level` only, when given), oldest first.
    /// `not_found` for a profile the config does not have.
    pub fn profile_log_tail(
        &self,
        profile: &str,
        lines: usize,
        level: Option<LogLevel>,
    ) -> Result<Vec<LogEntry>> {
        self.config.profile(profile)?;
        let mut kept: Vec<LogEntry> = self
            .logs
            .read_all(profile)?
            .into_iter()
            .filter(|e| level.is_none_or(|l| e.level == l))
            .collect();
        let skip = kept.len().saturating_sub(lines);
        Ok(kept.split_off(skip))
    }

    /// Page `page` (1-based) of `per_page` entries of profile `profile`'s log (of `level` only, when given),
    /// oldest first. `not_found` for a profile the config does not have.
    pub fn profile_log_page(
        &self,
        profile: &str,
        page: usize,
        per_page: usize,
        level: Option<LogLevel>,
    ) -> Result<LogPage> {
        self.config.profile(profile)?;
        self.logs.page(profile, page, per_page, level)
    }
}
