//! The recovery self-test: named fault scenarios run for real through the engine against the instrumented
//! backend, on a small generated tree, reporting measured success rates, recovery times and the overhead against
//! the same sync without faults. (The reference server's `/api/recovery/test`, `/performance/*` and
//! `/testing/*` return these results.)

use crate::backend::Backend;
use crate::backend::instrumented::Instrumented;
use crate::backend::local::LocalBackend;
use crate::error::{ErrorKind, Result};
use crate::report::Status;
use crate::sync::{RunContext, SyncOptions, run_sync};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A named fault scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// Its name (`network_timeout`, ...).
    pub name: &'static str,
    /// A title for people.
    pub title: &'static str,
    /// What it does.
    pub description: &'static str,
    /// The error the faulty calls fail with.
    #[serde(skip)]
    pub kind: ErrorKind,
    /// The message of those errors (it refines the category: "rate", "no space", ...).
    #[serde(skip)]
    pub message: &'static str,
    /// Which side fails: reads of the source, or writes to the destination.
    #[serde(skip)]
    pub on_source: bool,
    /// Whether syncwright is expected to recover (a corrupt file is not retried).
    pub expect_recovery: bool,
}

/// A scenario as the list of scenarios shows it (canonical JSON; document 4's `/testing/scenarios`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioInfo {
    /// Its id, the name the self-test takes (`network_timeout`, ...).
    pub id: &'static str,
    /// A title for people.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// The broad class of its fault: `network`, `service`, `resource` or `data`.
    pub category: &'static str,
    /// The recovery category its errors are classified as (`network_timeout`, `rate_limited`, ...).
    pub error_category: crate::recovery::Category,
    /// Whether syncwright is expected to recover.
    pub expect_recovery: bool,
}

impl Scenario {
    /// How the list of scenarios shows it.
    pub fn info(&self) -> ScenarioInfo {
        let c = crate::recovery::classify(&crate::Error::new(self.kind, self.message)).category;
        let category = match self.kind {
            ErrorKind::Timeout | ErrorKind::Network => "network",
            ErrorKind::Unavailable => "service",
            ErrorKind::Resource => "resource",
            _ => "data",
        };
        ScenarioInfo {
            id: self.name,
            name: self.title,
            description: self.description,
            category,
            error_category: c,
            expect_recovery: self.expect_recovery,
        }
    }
}

/// The scenarios.
pub const SCENARIOS: [Scenario; 6] = [
    Scenario {
        name: "network_timeout",
        title: "Network timeout recovery",
        description: "30% of source reads time out",
        kind: ErrorKind::Timeout,
        message: "read timed out",
        on_source: true,
        expect_recovery: true,
    },
    Scenario {
        name: "connection_failure",
        title: "Connection failure recovery",
        description: "30% of source reads lose the connection",
        kind: ErrorKind::Network,
        message: "connection reset by peer",
        on_source: true,
        expect_recovery: true,
    },
    Scenario {
        name: "service_unavailable",
        title: "Service unavailable recovery",
        description: "30% of destination writes answer 503",
        kind: ErrorKind::Unavailable,
        message: "503 service unavailable",
        on_source: false,
        expect_recovery: true,
    },
    Scenario {
        name: "rate_limited",
        title: "Rate limit recovery",
        description: "30% of destination writes answer 429 slow down",
        kind: ErrorKind::Unavailable,
        message: "429 too many requests: slow down",
        on_source: false,
        expect_recovery: true,
    },
    Scenario {
        name: "disk_space_exhausted",
        title: "Disk space recovery",
        description: "30% of destination writes find the disk full",
        kind: ErrorKind::Resource,
        message: "no space left on device",
        on_source: false,
        expect_recovery: true,
    },
    Scenario {
        name: "corruption",
        title: "Corrupt file handling",
        description: "30% of source reads return data that fails its checksum (not retried: reported at once)",
        kind: ErrorKind::Corrupt,
        message: "checksum mismatch",
        on_source: true,
        expect_recovery: false,
    },
];

/// What one scenario measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// The scenario.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Runs made.
    pub runs: u32,
    /// Runs that ended as expected (completed and identical when recovery is expected; partial or failed
    /// without retries when it is not).
    pub as_expected: u32,
    /// `as_expected / runs`.
    pub success_rate: f64,
    /// Per-file retries over all runs.
    pub retries: u64,
    /// Mean milliseconds a faulty run took beyond the run without faults.
    pub average_recovery_ms: f64,
    /// That as a percentage of the run without faults.
    pub overhead_percent: f64,
    /// Whether every run ended as expected.
    pub passed: bool,
}

/// What the self-test measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfTestReport {
    /// Milliseconds of the sync without faults (the mean of the baseline runs).
    pub baseline_ms: f64,
    /// Per scenario.
    pub scenarios: Vec<ScenarioResult>,
    /// `PASS` when every scenario passed.
    pub overall: String,
}

fn local(p: &Path) -> Arc<dyn Backend> {
    Arc::new(LocalBackend::new(p).expect("a path"))
}

fn same_tree(a: &Path, b: &Path) -> bool {
    let files = |root: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = walk(root)
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(root).unwrap_or(&p).display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                )
            })
            .filter(|(n, _)| !n.starts_with(".syncwright"))
            .collect();
        v.sort();
        v
    };
    files(a) == files(b)
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Runs the scenarios named (all when empty) `runs` times each in `work` (a scratch folder), with a seeded fault
/// schedule per run.
pub async fn run_self_test(names: &[String], runs: u32, work: &Path) -> Result<SelfTestReport> {
    let runs = runs.max(1);
    let chosen: Vec<&Scenario> = if names.is_empty() {
        SCENARIOS.iter().collect()
    } else {
        let mut v = Vec::new();
        for n in names {
            v.push(SCENARIOS.iter().find(|s| s.name == n).ok_or_else(|| {
                crate::Error::new(ErrorKind::NotFound, format!("no recovery scenario {n:?}"))
            })?);
        }
        v
    };
    let src = work.join("src");
    for i in 0..24u32 {
        let p = src.join(format!("d{}/f{i}.bin", i % 4));
        std::fs::create_dir_all(p.parent().expect("parent"))
            .map_err(|e| crate::Error::io(&e, "cannot create", work.display().to_string()))?;
        let data: Vec<u8> = (0..(16_384 + i * 4_099))
            .map(|j| (j.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        std::fs::write(&p, data)
            .map_err(|e| crate::Error::io(&e, "cannot write", p.display().to_string()))?;
    }
    // Real waits, scaled down so that the test takes seconds: 5 ms growing to 40 ms.
    let retry = crate::recovery::RetryPolicies::with_delays(
        Duration::from_millis(5),
        Duration::from_millis(40),
        0.2,
    );
    let opts = SyncOptions { retry, chunk_size: 16_384, max_attempts: 1, ..Default::default() };
    let ctx = || RunContext::default();
    let mut base = Vec::new();
    for r in 0..runs {
        let dst = work.join(format!("baseline-{r}"));
        let t = Instant::now();
        let rep = run_sync(local(&src), local(&dst), &opts, &ctx()).await;
        if rep.status != Status::Completed {
            return Err(crate::Error::internal(format!(
                "the self-test's run without faults ended {}",
                rep.status.as_str()
            )));
        }
        base.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let baseline_ms = base.iter().sum::<f64>() / base.len() as f64;
    let mut results = Vec::new();
    for s in chosen {
        let (mut ok, mut retries, mut extra) = (0u32, 0u64, 0.0f64);
        for r in 0..runs {
            let dst = work.join(format!("{}-{r}", s.name));
            let (sb, db) = (Instrumented::new(local(&src)), Instrumented::new(local(&dst)));
            let faulty = if s.on_source { &sb } else { &db };
            faulty.fail_randomly_with(u64::from(r) * 7919 + 17, 0.3, s.kind, s.message, 2);
            let t = Instant::now();
            let rep = run_sync(sb.backend(), db.backend(), &opts, &ctx()).await;
            extra += t.elapsed().as_secs_f64() * 1000.0 - baseline_ms;
            retries += rep.stats.retries;
            let expected = if s.expect_recovery {
                rep.status == Status::Completed && same_tree(&src, &dst)
            } else {
                rep.status != Status::Completed && rep.errors.iter().all(|e| e.kind == s.kind)
            };
            ok += u32::from(expected);
        }
        let avg = extra / runs as f64;
        results.push(ScenarioResult {
            name: s.name.to_string(),
            description: s.description.to_string(),
            runs,
            as_expected: ok,
            success_rate: ok as f64 / runs as f64,
            retries,
            average_recovery_ms: avg.max(0.0),
            overhead_percent: if baseline_ms > 0.0 {
                (avg / baseline_ms * 100.0).max(0.0)
            } else {
                0.0
            },
            passed: ok == runs,
        });
    }
    let overall = if results.iter().all(|r| r.passed) { "PASS" } else { "FAIL" }.to_string();
    Ok(SelfTestReport { baseline_ms, scenarios: results, overall })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_scenario_behaves_as_expected() {
        let d = tempfile::tempdir().unwrap();
        let r = run_self_test(&[], 2, d.path()).await.unwrap();
        assert_eq!(r.scenarios.len(), SCENARIOS.len());
        for s in &r.scenarios {
            assert!(s.passed, "{s:?}");
        }
        assert_eq!(r.overall, "PASS");
        let recovering = r.scenarios.iter().filter(|s| s.name != "corruption");
        assert!(
            recovering.clone().all(|s| s.retries > 0),
            "faults were injected and retried: {r:?}"
        );
        assert_eq!(r.scenarios.iter().find(|s| s.name == "corruption").unwrap().retries, 0);
        let e = run_self_test(&["nope".into()], 1, d.path()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
