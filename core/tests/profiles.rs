//! Profiles as jobs: single flight across concurrent starts, history, run_all.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use syncwright::backend::Backend;
use syncwright::backend::instrumented::Instrumented;
use syncwright::backend::local::LocalBackend;
use syncwright::config::Config;
use syncwright::{Engine, EngineConfig, ErrorKind, Status};

fn config(coord: &Path, profiles: &[(&str, &Path, &Path)]) -> Config {
    let mut t = format!("[settings]\ncoordination_dir = {:?}\n", coord.to_str().unwrap());
    for (name, s, d) in profiles {
        t += &format!(
            "[profiles.{name}]\nsource = {:?}\ndestination = {:?}\n",
            s.to_str().unwrap(),
            d.to_str().unwrap()
        );
    }
    Config::from_toml(&t).unwrap()
}

fn local(p: &Path) -> Arc<dyn Backend> {
    Arc::new(LocalBackend::new(p).unwrap())
}

#[test]
fn fifty_concurrent_starts_give_one_run_and_49_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, coord) =
        (dir.path().join("src"), dir.path().join("dst"), dir.path().join("coord"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), vec![7u8; 100_000]).unwrap();
    let cfg = config(&coord, &[("p", &src, &dst)]);
    let engine = Arc::new(
        Engine::with_config(
            cfg,
            EngineConfig { state_dir: Some(dir.path().join("state")), ..Default::default() },
        )
        .unwrap(),
    );
    // The winner's copy waits at byte 1 until every start has been tried.
    let inst = Instrumented::new(local(&src));
    let gate = inst.pause_at_byte(Some("f"), 1);
    let starts: Vec<_> = (0..50)
        .map(|_| {
            let (engine, src_b, dst_b) = (engine.clone(), inst.backend(), local(&dst));
            std::thread::spawn(move || engine.run_profile_with("p", src_b, dst_b, None))
        })
        .collect();
    let results: Vec<_> = starts.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1);
    let winner = winners[0].clone();
    let conflicts: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(conflicts.len(), 49);
    for e in &conflicts {
        assert_eq!(e.kind(), ErrorKind::Conflict);
        let d = e.details().unwrap();
        assert_eq!(d["job_id"], winner.id());
        assert!(!d["started_at"].as_str().unwrap().is_empty());
    }
    assert!(gate.wait_reached(Duration::from_secs(60)));
    assert_eq!(engine.active_jobs().len(), 1);
    gate.release();
    let report = winner.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(report.status, Status::Completed);
    assert!(winner.info().sync_id.starts_with("sync_"));
    assert!(winner.info().sync_id.ends_with(&winner.id()[..8]));
    // The locks went with the run: the next start runs.
    let again = engine.run_profile("p", None).unwrap();
    assert_eq!(again.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Completed);
    assert!(engine.job(winner.id()).is_some(), "finished jobs stay queryable");
}

#[test]
fn history_survives_a_restart_and_run_all_reports_each_profile() {
    let dir = tempfile::tempdir().unwrap();
    let coord = dir.path().join("coord");
    let (s1, d1) = (dir.path().join("s1"), dir.path().join("d1"));
    let (s2, d2) = (dir.path().join("missing"), dir.path().join("d2"));
    let (s3, d3) = (dir.path().join("s3"), dir.path().join("d3"));
    for s in [&s1, &s3] {
        std::fs::create_dir_all(s).unwrap();
        std::fs::write(s.join("x"), b"x").unwrap();
    }
    let cfg = config(&coord, &[("a_ok", &s1, &d1), ("b_broken", &s2, &d2), ("c_ok", &s3, &d3)]);
    let state = dir.path().join("state");
    {
        let engine = Engine::with_config(
            cfg.clone(),
            EngineConfig { state_dir: Some(state.clone()), ..Default::default() },
        )
        .unwrap();
        let job = engine.run_all(None).unwrap();
        let report = job.wait(Some(Duration::from_secs(60))).unwrap();
        assert_eq!(report.status, Status::Partial);
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["type"], "run_all");
        let all = report.run_all.unwrap();
        assert_eq!(all.total, 3);
        assert_eq!(all.successful, ["a_ok", "c_ok"]);
        assert_eq!(all.failed, ["b_broken"]);
        assert_eq!(v["results"]["b_broken"]["status"], "failed");
        assert_eq!(v["results"]["b_broken"]["fatal"]["kind"], "not_found");
        assert_eq!(std::fs::read(d3.join("x")).unwrap(), b"x");
    }
    let engine =
        Engine::with_config(cfg, EngineConfig { state_dir: Some(state), ..Default::default() })
            .unwrap();
    let store = engine.store().unwrap();
    let runs = store.runs(Some("b_broken"), 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, Status::Failed);
    assert!(runs[0].error.as_deref().unwrap().contains("missing"));
    assert_eq!(store.runs(Some("a_ok"), 10).unwrap()[0].stats.as_ref().unwrap().created, 1);
    let e = engine.run_profile("nope", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn profile_runs_log_and_announce_their_locks() {
    use syncwright::events::Event;
    use syncwright::locks::{LockDir, LockInfo, profile_lock_name};
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, coord) =
        (dir.path().join("src"), dir.path().join("dst"), dir.path().join("coord"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), b"a").unwrap();
    let cfg = config(&coord, &[("p", &src, &dst)]);
    let engine = Engine::with_config(
        cfg,
        EngineConfig { state_dir: Some(dir.path().join("state")), ..Default::default() },
    )
    .unwrap();
    // A lock left by a process of this instance (same state directory) that is gone.
    std::fs::create_dir_all(&coord).unwrap();
    let dead = LockInfo {
        name: profile_lock_name("p"),
        profile: Some("p".into()),
        job_id: Some("dead-job".into()),
        instance_id: engine.instance_id().to_string(),
        pid: 999_999_999,
        host: syncwright::locks::host_name(),
        started_at: "2026-01-01T00:00:00.000Z".into(),
        lease_until: "2999-01-01T00:00:00.000Z".into(),
        token: "dead".into(),
        ..Default::default()
    };
    std::fs::write(coord.join(format!("{}.lock", dead.name)), serde_json::to_vec(&dead).unwrap())
        .unwrap();
    let sub = engine.subscribe();
    let job = engine.run_profile("p", None).unwrap();
    assert_eq!(job.wait(Some(Duration::from_secs(60))).unwrap().status, Status::Completed);
    let mut kinds = Vec::new();
    while let Some(e) = sub.next_blocking(Some(Duration::from_secs(5))) {
        let v = serde_json::to_value(&*e).unwrap();
        kinds.push(v["type"].as_str().unwrap().to_string());
        if matches!(e.event(), Event::JobFinished { .. }) {
            break;
        }
    }
    for k in ["lock_broken", "lock_taken", "job_started", "log", "lock_released", "job_finished"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} event in {kinds:?}");
    }
    let tail = engine.logs().tail("p", 10).unwrap();
    assert!(tail[0].message.contains("broke the stale lock"), "{tail:?}");
    assert!(tail.last().unwrap().message.starts_with("sync completed: 1 created"), "{tail:?}");
    assert!(LockDir::new(&coord).list().unwrap().is_empty(), "every lock released");
}

#[test]
fn command_profiles_and_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let coord = dir.path().join("coord");
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big"), vec![1u8; 4 << 20]).unwrap();
    let text = format!(
        r#"[settings]
coordination_dir = {coord:?}
[profiles.legacy]
command = ["sh", "-c", "echo synced user_data; exit 0"]
[profiles.broken]
command = ["sh", "-c", "echo oops >&2; exit 7"]
[profiles.hangs]
command = ["sleep", "60"]
timeout = "200ms"
[profiles.slow]
source = {src:?}
destination = {dst:?}
bwlimit = "64K"
timeout = 0.2
"#,
        coord = coord.to_str().unwrap(),
        src = src.to_str().unwrap(),
        dst = dst.to_str().unwrap()
    );
    let cfg = Config::from_toml(&text).unwrap();
    let engine = Engine::with_config(
        cfg,
        EngineConfig { state_dir: Some(dir.path().join("state")), ..Default::default() },
    )
    .unwrap();
    let wait = |name: &str| {
        engine.run_profile(name, None).unwrap().wait(Some(Duration::from_secs(60))).unwrap()
    };
    let ok = wait("legacy");
    assert_eq!((ok.status, ok.output.as_deref()), (Status::Completed, Some("synced user_data\n")));
    let bad = wait("broken");
    assert_eq!(bad.status, Status::Failed);
    assert_eq!(bad.output.as_deref(), Some("oops\n"));
    assert!(bad.fatal.unwrap().error.contains("exit status: 7"));
    for name in ["hangs", "slow"] {
        let r = wait(name);
        assert_eq!(r.status, Status::Failed, "{name}: {r:?}");
        assert_eq!(r.fatal.as_ref().unwrap().kind, ErrorKind::Timeout, "{name}");
    }
    assert!(!dst.join("big").exists(), "the timed-out copy left nothing visible");
    let left: Vec<_> = std::fs::read_dir(&dst)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.iter().all(|n| !n.to_string_lossy().contains(".swtmp-")), "{left:?}");
}

#[test]
fn interval_profiles_run_by_themselves_and_never_overlap() {
    use syncwright::events::Event;
    use syncwright::jobs::schedule::Scheduler;
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, coord) =
        (dir.path().join("src"), dir.path().join("dst"), dir.path().join("coord"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), vec![3u8; 200_000]).unwrap();
    let text = format!(
        "[settings]\ncoordination_dir = {:?}\n[profiles.tick]\nsource = {:?}\ndestination = {:?}\ninterval = \"20ms\"\n[profiles.manual]\nsource = {:?}\ndestination = {:?}\n",
        coord.to_str().unwrap(),
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
        src.to_str().unwrap(),
        dir.path().join("other").to_str().unwrap()
    );
    let cfg = Config::from_toml(&text).unwrap();
    let engine = Arc::new(
        Engine::with_config(
            cfg,
            EngineConfig { state_dir: Some(dir.path().join("state")), ..Default::default() },
        )
        .unwrap(),
    );
    let sub = engine.subscribe();
    let sched = Scheduler::start(engine.clone()).unwrap();
    assert_eq!(sched.profiles(), ["tick"]);
    let mut finished = 0;
    while finished < 3 {
        let e =
            sub.next_blocking(Some(Duration::from_secs(60))).expect("the schedule keeps running");
        if let Event::JobFinished { status, .. } = e.event() {
            assert_eq!(*status, Status::Completed);
            finished += 1;
        }
    }
    sched.stop();
    let mut runs = engine.store().unwrap().runs(Some("tick"), 100).unwrap();
    runs.retain(|r| r.finished_at.is_some());
    runs.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    assert!(runs.len() >= 3);
    for w in runs.windows(2) {
        assert!(w[1].started_at >= *w[0].finished_at.as_ref().unwrap(), "runs overlapped: {w:?}");
    }
    assert!(engine.store().unwrap().runs(Some("manual"), 10).unwrap().is_empty());
}

/// `[features]`: S3 and Drive profiles are refused with `feature_disabled` naming the flags that are off, before
/// anything is opened or locked; the general flag alone is not enough; the provider's flag turns on only its own
/// provider; local profiles never need a flag.
#[test]
fn cloud_profiles_need_the_general_and_the_provider_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src")).unwrap();
    let open = |features: serde_json::Value| {
        Engine::new(EngineConfig {
            config: Some(serde_json::json!({
                "settings": {"coordination_dir": d.join("coord")},
                "features": features,
                "profiles": {
                    "drive": {"source": d.join("src"), "destination": "gdrive://1FolderId"},
                    "bucket": {
                        "source": "s3://bkt/prefix", "destination": d.join("dst"), "max_attempts": 1,
                        // A closed loopback port: the run fails at its first request, never leaves the host.
                        "remote": {"s3": {"endpoint_url": "http://127.0.0.1:1", "region": "us-east-1",
                                          "access_key_id": "AKIDTEST", "secret_access_key": "test"}},
                    },
                    "local": {"source": d.join("src"), "destination": d.join("local-dst")},
                },
            })),
            state_dir: Some(d.join("state")),
            ..Default::default()
        })
        .unwrap()
    };
    let refused = |e: &Engine, name: &str| -> Vec<String> {
        let err = e.run_profile(name, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FeatureDisabled, "{name}: {err}");
        let flags = err.details().and_then(|d| d.get("flags")).cloned().unwrap_or_default();
        serde_json::from_value(flags).unwrap()
    };
    let off = open(serde_json::json!({}));
    assert_eq!(refused(&off, "drive"), ["enable_cloud_sync", "enable_cloud_sync_gdrive"]);
    assert_eq!(refused(&off, "bucket"), ["enable_cloud_sync", "enable_cloud_sync_s3"]);
    let r = off.run_profile("local", None).unwrap().wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(r.status, Status::Completed);
    // Nothing was locked for the refused runs.
    assert!(off.profile_status("drive").unwrap().lock.is_none());
    drop(off);
    let general = open(serde_json::json!({"enable_cloud_sync": true}));
    assert_eq!(refused(&general, "drive"), ["enable_cloud_sync_gdrive"]);
    drop(general);
    let s3_only =
        open(serde_json::json!({"enable_cloud_sync": true, "enable_cloud_sync_s3": true}));
    assert_eq!(refused(&s3_only, "drive"), ["enable_cloud_sync_gdrive"]);
    // The S3 profile is let through to its run: it fails on the closed port, not on the flags.
    let r =
        s3_only.run_profile("bucket", None).unwrap().wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(r.status, Status::Failed, "{}", r.to_json());
    assert_ne!(r.fatal.map(|f| f.kind), Some(ErrorKind::FeatureDisabled));
}
