//! Operations: units of recoverable work at job level (a job's run with its job-level retries), persisted so that
//! what a restart interrupted is found and can be resumed, and so that retry and cancel act on real records.
//! Per-file retries are counted in memory and reported; they are not rows.

use super::Store;
use crate::error::Result;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Where an operation is (document 4's states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    /// Accepted, not started.
    Pending,
    /// Running.
    InProgress,
    /// Waiting to try again after a recoverable failure.
    Recovering,
    /// Done.
    Success,
    /// Failed with something that cannot recover.
    Failed,
    /// Failed as often as it may.
    Exhausted,
    /// Stopped on request.
    Cancelled,
}

impl OperationState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationState::Pending => "pending",
            OperationState::InProgress => "in_progress",
            OperationState::Recovering => "recovering",
            OperationState::Success => "success",
            OperationState::Failed => "failed",
            OperationState::Exhausted => "exhausted",
            OperationState::Cancelled => "cancelled",
        }
    }

    /// Whether the operation has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OperationState::Success
                | OperationState::Failed
                | OperationState::Exhausted
                | OperationState::Cancelled
        )
    }

    fn parse(s: &str) -> OperationState {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .unwrap_or(OperationState::Failed)
    }
}

/// One operation as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Its id (the id of the job that runs it).
    pub operation_id: String,
    /// What it does (`sync`, `sync_profile`, `command`).
    pub function_name: String,
    /// Where it is.
    pub state: OperationState,
    /// The attempt under way or last made (1-based).
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The last error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// What it needs to run again (source, destination, options, profile) and its progress.
    pub metadata: serde_json::Value,
    /// The process that runs or ran it.
    #[serde(skip)]
    pub pid: u32,
    /// Its host.
    #[serde(skip)]
    pub host: String,
}

const COLUMNS: &str = "operation_id, function_name, state, attempt, max_attempts, error, created_at, updated_at, metadata, pid, host";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Operation> {
    Ok(Operation {
        operation_id: r.get(0)?,
        function_name: r.get(1)?,
        state: OperationState::parse(&r.get::<_, String>(2)?),
        attempt: r.get::<_, i64>(3)? as u32,
        max_attempts: r.get::<_, i64>(4)? as u32,
        error: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        metadata: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
        pid: r.get::<_, i64>(9)? as u32,
        host: r.get(10)?,
    })
}

/// Counts over the stored operations (document 4's performance figures).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationMetrics {
    /// Operations recorded.
    pub total_operations: u64,
    /// Operations running or waiting to retry.
    pub active_operations: u64,
    /// Operations that succeeded after at least one retry.
    pub recovered_operations: u64,
    /// Operations that failed or ran out of attempts.
    pub failed_operations: u64,
    /// Mean seconds from start to success of the recovered ones.
    pub average_recovery_time: f64,
    /// Job-level retries made.
    pub retry_attempts: u64,
    /// Share of finished operations that succeeded.
    pub success_rate: f64,
    /// Mean attempts of the recovered ones.
    pub average_attempts_per_recovery: f64,
}

impl Store {
    /// Records a new operation or replaces one.
    pub fn put_operation(&self, o: &Operation) -> Result<()> {
        self.lock().execute(
            &format!("INSERT OR REPLACE INTO operations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                o.operation_id,
                o.function_name,
                o.state.as_str(),
                o.attempt as i64,
                o.max_attempts as i64,
                o.error,
                o.created_at,
                o.updated_at,
                o.metadata.to_string(),
                o.pid as i64,
                o.host
            ],
        )?;
        Ok(())
    }

    /// Records the progress (percent) of a running operation in its metadata.
    pub fn set_operation_progress(&self, id: &str, percent: f64, at: &str) -> Result<()> {
        self.lock().execute(
            "UPDATE operations SET metadata = json_set(metadata, '$.progress', ?2), updated_at = ?3 \
             WHERE operation_id = ?1 AND state IN ('in_progress', 'recovering')",
            params![id, percent, at],
        )?;
        Ok(())
    }

    /// One operation.
    pub fn operation(&self, id: &str) -> Result<Option<Operation>> {
        let conn = self.lock();
        let mut st = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM operations WHERE operation_id = ?1"))?;
        Ok(st.query_row(params![id], row).optional()?)
    }

    /// Operations, newest first; only those not ended when `active_only`.
    pub fn operations(&self, active_only: bool, limit: usize) -> Result<Vec<Operation>> {
        let conn = self.lock();
        let filter = if active_only {
            "WHERE state IN ('pending', 'in_progress', 'recovering')"
        } else {
            ""
        };
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM operations {filter} ORDER BY created_at DESC, rowid DESC LIMIT ?1"
        ))?;
        let rows = st.query_map(params![limit as i64], row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Operations not ended whose process is gone from this host: what a restart interrupted.
    pub fn interrupted_operations(
        &self,
        host: &str,
        alive: impl Fn(u32) -> bool,
    ) -> Result<Vec<Operation>> {
        Ok(self
            .operations(true, usize::MAX >> 1)?
            .into_iter()
            .filter(|o| o.host == host && !alive(o.pid))
            .collect())
    }

    /// Deletes ended operations last updated before `before` (RFC 3339); returns how many.
    pub fn prune_operations(&self, before: &str) -> Result<usize> {
        Ok(self.lock().execute(
            "DELETE FROM operations WHERE updated_at < ?1 AND state IN ('success', 'failed', 'exhausted', 'cancelled')",
            params![before],
        )?)
    }

    /// Counts over every stored operation.
    pub fn operation_metrics(&self) -> Result<OperationMetrics> {
        let ops = self.operations(false, usize::MAX >> 1)?;
        let mut m = OperationMetrics { total_operations: ops.len() as u64, ..Default::default() };
        let (mut rec_time, mut rec_attempts, mut finished, mut success) = (0.0, 0u64, 0u64, 0u64);
        for o in &ops {
            m.retry_attempts += o.attempt.saturating_sub(1) as u64;
            if !o.state.is_final() {
                m.active_operations += 1;
                continue;
            }
            finished += 1;
            match o.state {
                OperationState::Success => {
                    success += 1;
                    if o.attempt > 1 {
                        m.recovered_operations += 1;
                        rec_attempts += o.attempt as u64;
                        let (a, b) = (
                            chrono::DateTime::parse_from_rfc3339(&o.created_at),
                            chrono::DateTime::parse_from_rfc3339(&o.updated_at),
                        );
                        if let (Ok(a), Ok(b)) = (a, b) {
                            rec_time += (b - a).num_milliseconds().max(0) as f64 / 1000.0;
                        }
                    }
                }
                OperationState::Failed | OperationState::Exhausted => m.failed_operations += 1,
                _ => {}
            }
        }
        if m.recovered_operations > 0 {
            m.average_recovery_time = rec_time / m.recovered_operations as f64;
            m.average_attempts_per_recovery = rec_attempts as f64 / m.recovered_operations as f64;
        }
        if finished > 0 {
            m.success_rate = success as f64 / finished as f64;
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        id: &str,
        state: OperationState,
        attempt: u32,
        created: &str,
        updated: &str,
        pid: u32,
    ) -> Operation {
        Operation {
            operation_id: id.into(),
            function_name: "sync".into(),
            state,
            attempt,
            max_attempts: 3,
            error: None,
            created_at: created.into(),
            updated_at: updated.into(),
            metadata: serde_json::json!({"source": "/s"}),
            pid,
            host: "h".into(),
        }
    }

    #[test]
    fn metrics_interruptions_and_pruning() {
        let s = Store::in_memory().unwrap();
        s.put_operation(&op(
            "a",
            OperationState::Success,
            1,
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:01Z",
            1,
        ))
        .unwrap();
        s.put_operation(&op(
            "b",
            OperationState::Success,
            3,
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:04Z",
            1,
        ))
        .unwrap();
        s.put_operation(&op(
            "c",
            OperationState::Exhausted,
            3,
            "2026-01-02T00:00:00Z",
            "2026-01-02T00:00:09Z",
            1,
        ))
        .unwrap();
        s.put_operation(&op(
            "d",
            OperationState::InProgress,
            1,
            "2026-01-03T00:00:00Z",
            "2026-01-03T00:00:00Z",
            77,
        ))
        .unwrap();
        let m = s.operation_metrics().unwrap();
        assert_eq!(
            (m.total_operations, m.active_operations, m.recovered_operations, m.failed_operations),
            (4, 1, 1, 1)
        );
        assert_eq!(m.retry_attempts, 4);
        assert_eq!(m.average_recovery_time, 4.0);
        assert_eq!(m.average_attempts_per_recovery, 3.0);
        assert!((m.success_rate - 2.0 / 3.0).abs() < 1e-9);
        s.set_operation_progress("d", 75.5, "2026-01-03T00:00:05Z").unwrap();
        assert_eq!(s.operation("d").unwrap().unwrap().metadata["progress"], 75.5);
        let gone = s.interrupted_operations("h", |pid| pid != 77).unwrap();
        assert_eq!(gone.iter().map(|o| o.operation_id.as_str()).collect::<Vec<_>>(), ["d"]);
        assert!(s.interrupted_operations("h", |_| true).unwrap().is_empty());
        assert_eq!(s.prune_operations("2026-01-02T00:00:00Z").unwrap(), 2);
        assert_eq!(s.operation("d").unwrap().unwrap().metadata["source"], "/s");
    }
}
