//! Operations: job-level retries, exhaustion, cancel, resume after a restart, metrics and recovery events.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use syncwright::backend::Backend;
use syncwright::backend::instrumented::{Fault, Instrumented};
use syncwright::backend::local::LocalBackend;
use syncwright::events::Event;
use syncwright::recovery::RetryPolicies;
use syncwright::state::operations::OperationState;
use syncwright::{Engine, EngineConfig, ErrorKind, Status, SyncOptions};

fn local(p: &Path) -> Arc<dyn Backend> {
    Arc::new(LocalBackend::new(p).unwrap())
}

fn engine(state: &Path) -> Engine {
    Engine::new(EngineConfig { state_dir: Some(state.to_path_buf()), ..Default::default() })
        .unwrap()
}

fn quick() -> SyncOptions {
    SyncOptions {
        retry: RetryPolicies::with_delays(Duration::ZERO, Duration::ZERO, 0.0),
        ..Default::default()
    }
}

fn events_until_completed(sub: &syncwright::events::Subscription) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = sub.next_blocking(Some(Duration::from_secs(60))) {
        let done = matches!(e.event(), Event::RecoveryCompleted { .. });
        out.push(e.event().clone());
        if done {
            break;
        }
    }
    out
}

#[test]
fn a_recoverable_failure_of_the_whole_run_is_retried_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), b"a").unwrap();
    let e = engine(&dir.path().join("state"));
    let sub = e.subscribe();
    let s = Instrumented::new(local(&src));
    s.at_call(1, Fault::Fail(ErrorKind::Network)); // the first scan: the host is unreachable
    let job = e.start_sync_with(s.backend(), local(&dst), quick(), None).unwrap();
    let report = job.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(report.status, Status::Completed, "{report:?}");
    let states: Vec<OperationState> = events_until_completed(&sub)
        .iter()
        .filter_map(|e| match e {
            Event::RecoveryUpdate { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    use OperationState::*;
    assert_eq!(states, [InProgress, Recovering, InProgress, Success]);
    let op = e.operation(job.id()).unwrap();
    assert_eq!((op.state, op.attempt, op.max_attempts), (Success, 2, 3));
    assert!(op.error.unwrap().contains("injected network fault"));
    assert_eq!(op.metadata["progress"], 100.0);
    let m = e.recovery_metrics().unwrap();
    assert_eq!((m.operations.recovered_operations, m.operations.retry_attempts), (1, 1));
    assert_eq!(m.operations.average_attempts_per_recovery, 2.0);
    // The payloads of document 4.
    let v = serde_json::to_value(Event::RecoveryCompleted {
        operation_id: "x".into(),
        success: true,
        final_state: Success,
        total_attempts: 2,
        duration: 0.5,
        timestamp: "t".into(),
    })
    .unwrap();
    for k in ["operation_id", "success", "final_state", "total_attempts", "duration", "timestamp"] {
        assert!(v.get(k).is_some(), "{k}");
    }
}

#[test]
fn progress_keeps_flowing_when_the_whole_run_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big"), vec![7u8; 300_000]).unwrap();
    let e = engine(&dir.path().join("state"));
    let sub = e.subscribe();
    let s = Instrumented::new(local(&src));
    s.at_call(1, Fault::Fail(ErrorKind::Network)); // the first attempt's scan: the host is unreachable
    let gate = s.pause_at_byte(Some("big"), 100_000); // the second attempt's copy stops here
    // The next attempt comes 200 ms later: the progress ticker (every 10 ms) sees the first attempt done.
    let opts = SyncOptions {
        progress_interval_ms: 10,
        retry: RetryPolicies::with_delays(
            Duration::from_millis(200),
            Duration::from_millis(200),
            0.0,
        ),
        ..Default::default()
    };
    let job = e.start_sync_with(s.backend(), local(&dst), opts, None).unwrap();
    // After the first attempt failed, the second's progress arrives while its copy is under way.
    let mut retried = false;
    let during = loop {
        let ev = sub
            .next_blocking(Some(Duration::from_secs(60)))
            .expect("progress of the second attempt");
        match ev.event() {
            Event::RecoveryUpdate { state: OperationState::Recovering, .. } => retried = true,
            Event::Progress { progress, .. }
                if retried && progress.stage == syncwright::progress::Stage::Transferring =>
            {
                break progress.clone();
            }
            Event::JobFinished { .. } => {
                panic!("the job ended before the second attempt's progress came")
            }
            _ => {}
        }
    };
    assert!(during.bytes_done <= 100_000, "{during:?}");
    assert_eq!(
        (during.files_total, during.bytes_total),
        (1, 300_000),
        "counted afresh: {during:?}"
    );
    gate.release();
    let report = job.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(report.status, Status::Completed, "{report:?}");
    assert_eq!(std::fs::read(dst.join("big")).unwrap().len(), 300_000);
    let done = job.progress();
    assert_eq!((done.files_done, done.bytes_done, done.percent), (1, 300_000, 100.0));
}

#[test]
fn attempts_run_out_and_validation_errors_are_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    let e = engine(&dir.path().join("state"));
    let s = Instrumented::new(local(&src));
    for n in 1..=3 {
        s.at_call(n, Fault::Fail(ErrorKind::Unavailable));
    }
    let job = e.start_sync_with(s.backend(), local(&dst), quick(), None).unwrap();
    assert_eq!(job.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Failed);
    let op = e.operation(job.id()).unwrap();
    assert_eq!((op.state, op.attempt), (OperationState::Exhausted, 3));
    // A missing source cannot recover: one attempt, failed.
    let job = e
        .start_sync(dir.path().join("nope").to_str().unwrap(), dst.to_str().unwrap(), quick(), None)
        .unwrap();
    job.wait(None);
    let op = e.operation(job.id()).unwrap();
    assert_eq!((op.state, op.attempt), (OperationState::Failed, 1));
    assert_eq!(e.recovery_metrics().unwrap().operations.failed_operations, 2);
}

#[test]
fn an_operation_interrupted_by_a_restart_is_resumed_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    let data = vec![5u8; 300_000];
    std::fs::write(src.join("model.bin"), &data).unwrap();
    // A first process runs the operation and is stopped in the middle of the copy.
    let first_state = dir.path().join("state-a");
    let first = engine(&first_state);
    let s = Instrumented::new(local(&src));
    let gate = s.pause_at_byte(Some("model.bin"), 100_000);
    let job = first.start_sync_with(s.backend(), local(&dst), quick(), None).unwrap();
    assert!(gate.wait_reached(Duration::from_secs(60)));
    let mut op = first.operation(job.id()).unwrap();
    assert_eq!(op.state, OperationState::InProgress);
    // What the store holds when that process dies: the same record, owned by a process that no longer exists.
    op.pid = 999_999_999;
    let second_state = dir.path().join("state-b");
    syncwright::state::Store::open_dir(&second_state).unwrap().put_operation(&op).unwrap();
    job.cancel();
    gate.release();
    job.wait(None);
    // The restarted engine finds it, and resumes it.
    let second = engine(&second_state);
    let found = second.interrupted_operations().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].operation_id, op.operation_id);
    let resumed = second.retry_operation(&op.operation_id, false, None).unwrap();
    assert_eq!(resumed.id(), op.operation_id);
    assert_eq!(resumed.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Completed);
    assert_eq!(std::fs::read(dst.join("model.bin")).unwrap(), data);
    let after = second.operation(&op.operation_id).unwrap();
    assert_eq!((after.state, after.attempt), (OperationState::Success, 2));
    assert!(second.interrupted_operations().unwrap().is_empty());
    // An operation that succeeded is retried only with force; a running one cannot be cancelled twice.
    assert_eq!(
        second.retry_operation(&op.operation_id, false, None).unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(second.cancel_operation(&op.operation_id).unwrap_err().kind(), ErrorKind::Conflict);
    let again = second.retry_operation(&op.operation_id, true, Some(1)).unwrap();
    assert_eq!(again.wait(None).unwrap().status, Status::Completed);
}

#[test]
fn cancel_acts_on_the_real_operation() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), vec![1u8; 200_000]).unwrap();
    let e = engine(&dir.path().join("state"));
    let s = Instrumented::new(local(&src));
    let gate = s.pause_at_byte(Some("f"), 10);
    let job = e.start_sync_with(s.backend(), local(&dst), quick(), None).unwrap();
    assert!(gate.wait_reached(Duration::from_secs(60)));
    // The paused read gives way to the cancel at once: no release needed first.
    let cancelled = e.cancel_operation(job.id()).unwrap();
    gate.release();
    assert_eq!(cancelled.state, OperationState::Cancelled);
    assert_eq!(job.report().unwrap().status, Status::Cancelled);
    assert!(!dst.join("f").exists());
}
