//! Circuit breakers owned by the engine: one per remote target, shared by every job against it. A breaker opened
//! by one job holds the next job to that target (which fails fast or waits, without calling the target), it is
//! listed with its state, every transition is an event, and the old places of its settings are refused.
//!
//! The remote target is a local folder behind the instrumented backend, which claims a breaker target
//! (`sftp://test@nas:22`) and fails calls on demand.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use syncwright::backend::Backend;
use syncwright::backend::instrumented::{Fault, Instrumented};
use syncwright::backend::local::LocalBackend;
use syncwright::config::Config;
use syncwright::events::{Event, Subscription};
use syncwright::recovery::{BreakerState, BreakerTransition, RetryPolicies};
use syncwright::state::operations::OperationState;
use syncwright::{Engine, EngineConfig, ErrorKind, Status, SyncOptions};

const NAS: &str = "sftp://test@nas:22";

fn local(p: &Path) -> Arc<dyn Backend> {
    std::fs::create_dir_all(p).unwrap();
    Arc::new(LocalBackend::new(p).unwrap())
}

/// An engine with `settings` (TOML under `[settings]`) and its store in `dir/state`.
fn engine(dir: &Path, settings: &str) -> Engine {
    let config = Config::from_toml(settings).unwrap();
    Engine::with_config(
        config,
        EngineConfig { state_dir: Some(dir.join("state")), ..Default::default() },
    )
    .unwrap()
}

/// Options retrying at once, with `attempts` attempts at the whole run.
fn quick(attempts: u32) -> SyncOptions {
    SyncOptions {
        retry: RetryPolicies::with_delays(Duration::ZERO, Duration::ZERO, 0.0),
        max_attempts: attempts,
        ..Default::default()
    }
}

/// A source folder holding one file, under `dir/name`.
fn source(dir: &Path, name: &str) -> Arc<dyn Backend> {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("a.txt"), b"hello").unwrap();
    local(&p)
}

/// A destination folder `dir/name` standing for the remote `target`.
fn remote(dir: &Path, name: &str, target: &str) -> Arc<Instrumented> {
    let i = Instrumented::new(local(&dir.join(name)));
    i.set_breaker_target(target);
    i
}

/// The breaker transitions among the events received until `jobs` jobs have finished (a job's `job_finished`
/// comes after the transitions it caused).
fn transitions_until_finished(sub: &Subscription, jobs: usize) -> Vec<BreakerTransition> {
    let (mut out, mut finished) = (Vec::new(), 0);
    while finished < jobs {
        let e = sub.next_blocking(Some(Duration::from_secs(60))).expect("an event within 60 s");
        match e.event() {
            Event::Breaker { transition } => out.push(transition.clone()),
            Event::JobFinished { .. } => finished += 1,
            _ => {}
        }
    }
    out
}

#[test]
fn a_breaker_opened_by_one_job_holds_for_a_second_job_against_the_same_target() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), "[settings.breaker]\nfailure_threshold = 2\ncooldown_secs = 600\n");
    let sub = e.subscribe();

    // The first job finds the host down at each of its two attempts: two failures in a row open the breaker.
    let first = remote(dir.path(), "nas-1", NAS);
    for n in 1..=50 {
        first.at_call(n, Fault::FailWith(ErrorKind::Network, "connection refused".into()));
    }
    let job =
        e.start_sync_with(source(dir.path(), "src-1"), first.backend(), quick(2), None).unwrap();
    let report = job.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.fatal.as_ref().unwrap().kind, ErrorKind::Network, "{report:?}");
    assert_eq!(first.calls(), 2, "one call per attempt, each refused");
    let t = transitions_until_finished(&sub, 1);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(
        (t[0].target.as_str(), t[0].from, t[0].to),
        (NAS, BreakerState::Closed, BreakerState::Open)
    );
    assert!(t[0].timeout_remaining > 590.0, "{t:?}");

    // A second job to the same target, started after, fails fast: no call reaches the target, and its error says
    // which breaker, in what state, and when to come back.
    let second = remote(dir.path(), "nas-2", NAS);
    let job =
        e.start_sync_with(source(dir.path(), "src-2"), second.backend(), quick(1), None).unwrap();
    let report = job.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(report.status, Status::Failed);
    let fatal = report.fatal.unwrap();
    assert_eq!(fatal.kind, ErrorKind::Unavailable, "{}", fatal.error);
    assert!(
        fatal.error.contains("circuit breaker") && fatal.error.contains(NAS),
        "{}",
        fatal.error
    );
    let d = fatal.details.expect("the refusal's details");
    assert_eq!((d["target"].as_str(), d["state"].as_str()), (Some(NAS), Some("open")));
    assert_eq!(d["consecutive_failures"], 2);
    assert!(d["retry_after_secs"].as_f64().unwrap() > 590.0, "{d}");
    assert_eq!(second.calls(), 0, "the target was not called");
    assert!(!dir.path().join("nas-2/a.txt").exists());

    // A third job with attempts to spare waits for the probe time (its operation is recovering) instead of
    // burning them, still without a call; a cancel ends the wait.
    let third = remote(dir.path(), "nas-3", NAS);
    let job =
        e.start_sync_with(source(dir.path(), "src-3"), third.backend(), quick(3), None).unwrap();
    let waiting = loop {
        let ev = sub.next_blocking(Some(Duration::from_secs(60))).expect("the third job's events");
        if let Event::RecoveryUpdate {
            operation_id, state: OperationState::Recovering, error, ..
        } = ev.event()
            && operation_id == job.id()
        {
            break error.clone().unwrap_or_default();
        }
    };
    assert!(waiting.contains("circuit breaker"), "{waiting}");
    assert_eq!(e.operation(job.id()).unwrap().state, OperationState::Recovering);
    job.cancel();
    assert_eq!(job.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Cancelled);
    assert_eq!(third.calls(), 0);

    // Another target is not held.
    let other = remote(dir.path(), "other", "sftp://test@other:22");
    let job =
        e.start_sync_with(source(dir.path(), "src-4"), other.backend(), quick(1), None).unwrap();
    assert_eq!(job.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Completed);
    assert_eq!(std::fs::read(dir.path().join("other/a.txt")).unwrap(), b"hello");

    // The listing: both targets, by key, with their state and the config in force.
    let l = e.breakers();
    assert_eq!(l.len(), 2, "{l:?}");
    let nas = l.iter().find(|b| b.target == NAS).unwrap();
    assert_eq!((nas.state, nas.consecutive_failures, nas.trips), (BreakerState::Open, 2, 1));
    assert!(nas.opened_at.is_some() && nas.next_probe_at.is_some());
    assert!(nas.timeout_remaining > 590.0);
    assert_eq!((nas.config.failure_threshold, nas.config.cooldown_secs), (2, 600.0));
    let ok = l.iter().find(|b| b.target == "sftp://test@other:22").unwrap();
    assert_eq!(
        (ok.state, ok.consecutive_failures, ok.opened_at.as_deref()),
        (BreakerState::Closed, 0, None)
    );
    let v = serde_json::to_value(nas).unwrap();
    for k in
        ["target", "state", "consecutive_failures", "trips", "opened_at", "next_probe_at", "config"]
    {
        assert!(v.get(k).is_some(), "{k} in {v}");
    }
    assert_eq!(e.breaker_settings().defaults.cooldown_secs, 600.0);
    assert_eq!(e.recovery_metrics().unwrap().circuit_breaker_trips, 1);
}

#[test]
fn after_the_cool_down_a_probe_closes_the_breaker_for_the_job_that_waited() {
    let dir = tempfile::tempdir().unwrap();
    // Every target opens at the first failure and stays open ten minutes, except the quick host (a prefix).
    let e = engine(
        dir.path(),
        "[settings.breaker]\nfailure_threshold = 1\ncooldown_secs = 600\n\
         [settings.breaker.targets.\"sftp://test@quick\"]\ncooldown_secs = 1\n",
    );
    let sub = e.subscribe();
    const QUICK: &str = "sftp://test@quick:22";
    let down = remote(dir.path(), "down", QUICK);
    down.at_call(1, Fault::FailWith(ErrorKind::Network, "connection reset by peer".into()));
    let job =
        e.start_sync_with(source(dir.path(), "src-1"), down.backend(), quick(1), None).unwrap();
    assert_eq!(job.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Failed);

    // The next job's first attempt is refused; the engine waits the breaker's time, and the second attempt is the
    // probe: it succeeds and the breaker closes.
    let up = remote(dir.path(), "up", QUICK);
    let job = e.start_sync_with(source(dir.path(), "src-2"), up.backend(), quick(2), None).unwrap();
    let report = job.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(report.status, Status::Completed, "{report:?}");
    assert_eq!(std::fs::read(dir.path().join("up/a.txt")).unwrap(), b"hello");
    let op = e.operation(job.id()).unwrap();
    assert_eq!((op.state, op.attempt), (OperationState::Success, 2));
    assert!(op.error.unwrap().contains("circuit breaker"));

    let t = transitions_until_finished(&sub, 2);
    let seen: Vec<_> = t.iter().map(|t| (t.target.as_str(), t.from, t.to)).collect();
    use BreakerState::*;
    assert_eq!(seen, [(QUICK, Closed, Open), (QUICK, Open, HalfOpen), (QUICK, HalfOpen, Closed)]);
    assert!(t[0].timeout_remaining <= 1.0, "the override's cool-down: {t:?}");
    let l = e.breakers();
    assert_eq!((l.len(), l[0].state, l[0].trips), (1, Closed, 1));
    assert_eq!(l[0].config.cooldown_secs, 1.0);
    assert_eq!(l[0].config.failure_threshold, 1, "the rest from the defaults");
}

#[test]
fn a_dry_run_plans_against_the_cached_manifest_while_the_destination_breaker_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), "[settings.breaker]\nfailure_threshold = 1\ncooldown_secs = 600\n");
    let nas = remote(dir.path(), "nas", NAS);
    let cached: Arc<dyn Backend> = Arc::new(syncwright::backend::cached::CachedManifests::new(
        nas.backend(),
        &dir.path().join("cache"),
    ));
    let src = source(dir.path(), "src");
    // A clean run leaves the destination's manifest in the local cache.
    let job = e.start_sync_with(src.clone(), cached.clone(), quick(1), None).unwrap();
    assert_eq!(job.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Completed);
    // Then the host stops answering and the breaker opens.
    nas.at_call(1, Fault::Fail(ErrorKind::Timeout));
    let job = e.start_sync_with(src.clone(), cached.clone(), quick(1), None).unwrap();
    assert_eq!(job.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Failed);
    assert_eq!(e.breakers()[0].state, BreakerState::Open);
    // A plan does not call the host: it plans against the cached manifest and says why.
    std::fs::write(dir.path().join("src/b.txt"), b"new").unwrap();
    let calls = nas.calls();
    let opts = SyncOptions { dry_run: true, ..quick(1) };
    let job = e.start_sync_with(src, cached, opts, None).unwrap();
    let r = job.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(r.status, Status::Completed, "{r:?}");
    let w = r
        .warnings
        .iter()
        .find(|w| w.reason == syncwright::report::WarningReason::RemoteUnreachable);
    assert!(w.is_some_and(|w| w.message.contains("circuit breaker")), "{:?}", r.warnings);
    let plan = r.plan.unwrap();
    assert_eq!(plan.totals.copy_files, 1, "b.txt only: a.txt is in the cached manifest");
    assert_eq!(nas.calls(), calls, "no call reached the host");
}

#[test]
fn breaker_settings_in_their_old_places_are_refused_naming_settings_breaker() {
    let profile = "[profiles.pod]\nsource = \"/a\"\ndestination = \"sftp://u@h/b\"\n\
                   [profiles.pod.breaker]\ncooldown_secs = 5\n";
    let e = Config::from_toml(profile).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.message().contains("[settings.breaker]") && e.message().contains("pod"),
        "{}",
        e.message()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("syncwright.toml");
    std::fs::write(&path, profile).unwrap();
    let e = Engine::open(&path).unwrap_err();
    assert!(e.message().contains("[settings.breaker]"), "{}", e.message());
    let e = Engine::new(EngineConfig {
        config: Some(serde_json::json!({"profiles": {"pod": {
            "source": "/a", "destination": "/b", "breaker": {"cooldown_secs": 5}
        }}})),
        no_store: true,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.message().contains("[settings.breaker]"), "{}", e.message());
    // Sync options, as every front end (C, Python, Node, the CLI) passes them.
    let e =
        SyncOptions::from_json(Some(r#"{"delete": true, "breaker": {"failure_threshold": 1}}"#))
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.message().contains("[settings.breaker]"), "{}", e.message());
    // A bad value in the new place is named there.
    let e = Config::from_toml("[settings.breaker.targets.\"s3://b\"]\ncooldown_secs = -2\n")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.message().contains("settings.breaker.targets.\"s3://b\""), "{}", e.message());
}

#[test]
fn a_stored_operation_from_before_still_carrying_breaker_options_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), "");
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    // It fails for good (the source is missing), then its record is made to look like an old one.
    let job = e.start_sync(src.to_str().unwrap(), dst.to_str().unwrap(), quick(1), None).unwrap();
    assert_eq!(job.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Failed);
    let mut op = e.operation(job.id()).unwrap();
    assert_eq!(op.state, OperationState::Failed);
    op.metadata["options"]["breaker"] =
        serde_json::json!({"failure_threshold": 3, "cooldown_secs": 5.0});
    e.store().unwrap().put_operation(&op).unwrap();
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"x").unwrap();
    let again = e.retry_operation(job.id(), false, None).unwrap();
    assert_eq!(again.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Completed);
    assert_eq!(std::fs::read(dst.join("f")).unwrap(), b"x");
}

#[test]
fn a_real_host_that_drops_every_connection_is_called_no_more_once_its_breaker_opens() {
    // A loopback "SSH host" that accepts connections and closes them at once, counting them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let accepted = accepted.clone();
        std::thread::spawn(move || {
            for c in listener.incoming() {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(c);
            }
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), "[settings.breaker]\nfailure_threshold = 2\ncooldown_secs = 600\n");
    let src = format!("sftp://tester@127.0.0.1:{port}/data");
    let dst = dir.path().join("dst");
    for _ in 0..2 {
        let err = e.plan(&src, dst.to_str().unwrap(), quick(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Network, "{}", err.message());
        assert!(err.details().is_none());
    }
    let seen = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(seen >= 2, "each plan connected: {seen}");
    // Open now: the plan is refused with the breaker's details, and the host hears nothing more.
    let err = e.plan(&src, dst.to_str().unwrap(), quick(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{}", err.message());
    let d = err.details().expect("details");
    assert_eq!(d["target"], format!("sftp://tester@127.0.0.1:{port}"));
    assert_eq!(d["state"], "open");
    assert!(d["retry_after_secs"].as_f64().unwrap() > 590.0);
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), seen);
    let l = e.breakers();
    assert_eq!((l.len(), l[0].state, l[0].consecutive_failures), (1, BreakerState::Open, 2));
}
