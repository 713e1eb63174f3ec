//! The history of runs in the embedded store: one row per job, written when it starts and when it ends, so that
//! a run whose process died is found at the next start-up and marked interrupted instead of "running" forever.

use super::Store;
use crate::error::Result;
use crate::report::{Status, SyncStats};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// One run as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The job's UUID.
    pub job_id: String,
    /// `sync_YYYYMMDD_HHMMSS_<8 hex>`.
    pub sync_id: String,
    /// The profile, for profile runs.
    pub profile: Option<String>,
    /// Source location.
    pub source: String,
    /// Destination location.
    pub destination: String,
    /// Status (running until it ends).
    pub status: Status,
    /// RFC 3339 start.
    pub started_at: String,
    /// RFC 3339 end.
    pub finished_at: Option<String>,
    /// Wall time.
    pub duration_ms: Option<u64>,
    /// The error that failed the run, or the first per-file error.
    pub error: Option<String>,
    /// Counts.
    pub stats: Option<SyncStats>,
    /// The process that ran it.
    pub pid: u32,
    /// Its host.
    pub host: String,
}

fn status_of(s: &str) -> Status {
    serde_json::from_value(serde_json::Value::String(s.to_string())).unwrap_or(Status::Failed)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let stats: Option<String> = r.get(10)?;
    Ok(RunRecord {
        job_id: r.get(0)?,
        sync_id: r.get(1)?,
        profile: r.get(2)?,
        source: r.get(3)?,
        destination: r.get(4)?,
        status: status_of(&r.get::<_, String>(5)?),
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        duration_ms: r.get::<_, Option<i64>>(8)?.map(|d| d as u64),
        error: r.get(9)?,
        stats: stats.and_then(|s| serde_json::from_str(&s).ok()),
        pid: r.get::<_, i64>(11)? as u32,
        host: r.get(12)?,
    })
}

const COLUMNS: &str = "job_id, sync_id, profile, source, destination, status, started_at, finished_at, duration_ms, error, stats, pid, host";

impl Store {
    /// Records a run that starts.
    pub fn run_started(&self, r: &RunRecord) -> Result<()> {
        self.lock().execute(
            &format!("INSERT OR REPLACE INTO runs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
            params![
                r.job_id,
                r.sync_id,
                r.profile,
                r.source,
                r.destination,
                r.status.as_str(),
                r.started_at,
                r.finished_at,
                r.duration_ms.map(|d| d as i64),
                r.error,
                r.stats.as_ref().map(|s| serde_json::to_string(s).unwrap_or_default()),
                r.pid as i64,
                r.host
            ],
        )?;
        Ok(())
    }

    /// Records how a run ended.
    pub fn run_finished(
        &self,
        job_id: &str,
        status: Status,
        finished_at: &str,
        duration_ms: u64,
        error: Option<&str>,
        stats: &SyncStats,
    ) -> Result<()> {
        self.lock().execute(
            "UPDATE runs SET status = ?2, finished_at = ?3, duration_ms = ?4, error = ?5, stats = ?6 WHERE job_id = ?1",
            params![
                job_id,
                status.as_str(),
                finished_at,
                duration_ms as i64,
                error,
                serde_json::to_string(stats).unwrap_or_default()
            ],
        )?;
        Ok(())
    }

    /// One run.
    pub fn run(&self, job_id: &str) -> Result<Option<RunRecord>> {
        let conn = self.lock();
        let mut st =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM runs WHERE job_id = ?1"))?;
        Ok(st.query_row(params![job_id], row).optional()?)
    }

    /// The most recent runs, newest first, of `profile` (all runs when None).
    pub fn runs(&self, profile: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        let conn = self.lock();
        let mut out = Vec::new();
        if let Some(p) = profile {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM runs WHERE profile = ?1 ORDER BY started_at DESC, rowid DESC LIMIT ?2"
            ))?;
            for r in st.query_map(params![p, limit as i64], row)? {
                out.push(r?);
            }
        } else {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?1"
            ))?;
            for r in st.query_map(params![limit as i64], row)? {
                out.push(r?);
            }
        }
        Ok(out)
    }

    /// Page `page` (1-based) of `per_page` runs of `profile`, newest first, and how many runs it has.
    pub fn runs_page(
        &self,
        profile: &str,
        page: usize,
        per_page: usize,
    ) -> Result<(Vec<RunRecord>, usize)> {
        let conn = self.lock();
        let total: i64 = conn.query_row(
            "SELECT COUNT(*) FROM runs WHERE profile = ?1",
            params![profile],
            |r| r.get(0),
        )?;
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM runs WHERE profile = ?1 ORDER BY started_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"
        ))?;
        let offset = page.saturating_sub(1).saturating_mul(per_page);
        let mut out = Vec::new();
        for r in st.query_map(
            params![
                profile,
                per_page.min(i64::MAX as usize) as i64,
                offset.min(i64::MAX as usize) as i64
            ],
            row,
        )? {
            out.push(r?);
        }
        Ok((out, total.max(0) as usize))
    }

    /// Marks as interrupted every run still "running" whose process is gone from this host; returns their ids.
    pub fn mark_interrupted(&self, host: &str, alive: impl Fn(u32) -> bool) -> Result<Vec<String>> {
        let candidates: Vec<(String, u32)> = {
            let conn = self.lock();
            let mut st = conn.prepare_cached(
                "SELECT job_id, pid FROM runs WHERE status IN ('running', 'queued') AND host = ?1",
            )?;
            let rows = st.query_map(params![host], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u32))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut out = Vec::new();
        for (id, pid) in candidates {
            if alive(pid) {
                continue;
            }
            self.lock().execute(
                "UPDATE runs SET status = 'interrupted', error = COALESCE(error, ?2) WHERE job_id = ?1",
                params![id, format!("process {pid} ended while the run was in progress")],
            )?;
            out.push(id);
        }
        Ok(out)
    }

    /// Deletes finished runs that started before `before` (RFC 3339); returns how many.
    pub fn prune_runs(&self, before: &str) -> Result<usize> {
        Ok(self.lock().execute(
            "DELETE FROM runs WHERE started_at < ?1 AND status NOT IN ('running', 'queued')",
            params![before],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, profile: &str, pid: u32, started: &str) -> RunRecord {
        RunRecord {
            job_id: id.into(),
            sync_id: format!("sync_{id}"),
            profile: Some(profile.into()),
            source: "/s".into(),
            destination: "/d".into(),
            status: Status::Running,
            started_at: started.into(),
            finished_at: None,
            duration_ms: None,
            error: None,
            stats: None,
            pid,
            host: "h".into(),
        }
    }

    #[test]
    fn history_survives_a_restart_and_dead_runs_become_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open_dir(dir.path()).unwrap();
            s.run_started(&rec("a", "p", 1, "2026-01-01T00:00:00Z")).unwrap();
            s.run_started(&rec("b", "p", 2, "2026-01-02T00:00:00Z")).unwrap();
            let stats = SyncStats { created: 3, ..Default::default() };
            s.run_finished("a", Status::Completed, "2026-01-01T00:01:00Z", 60_000, None, &stats)
                .unwrap();
        }
        let s = Store::open_dir(dir.path()).unwrap();
        assert_eq!(s.run("a").unwrap().unwrap().stats.unwrap().created, 3);
        let ids = s.mark_interrupted("h", |pid| pid != 2).unwrap();
        assert_eq!(ids, vec!["b".to_string()]);
        let runs = s.runs(Some("p"), 10).unwrap();
        assert_eq!(
            runs.iter().map(|r| (r.job_id.as_str(), r.status)).collect::<Vec<_>>(),
            [("b", Status::Interrupted), ("a", Status::Completed)]
        );
        assert_eq!(s.prune_runs("2026-01-01T12:00:00Z").unwrap(), 1);
        assert_eq!(s.runs(None, 10).unwrap().len(), 1);
    }
}
