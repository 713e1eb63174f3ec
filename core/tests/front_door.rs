//! The front door: an engine opened from a config, its profiles (list, status, run, run-all, unlock, the lock
//! self-test), jobs, history, logs, usage and recovery calls, as every front end reaches them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use syncwright::backend::Backend;
use syncwright::backend::instrumented::Instrumented;
use syncwright::backend::local::LocalBackend;
use syncwright::engine::Removal;
use syncwright::locks::{LockInfo, profile_lock_name};
use syncwright::logs::LogLevel;
use syncwright::report::{ProfileResult, ReportType};
use syncwright::{Engine, EngineConfig, ErrorKind, Status};

const WAIT: Duration = Duration::from_secs(60);

fn local(p: &Path) -> Arc<dyn Backend> {
    Arc::new(LocalBackend::new(p).unwrap())
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// A config file in `dir` with relative settings and the profiles given as (name, source, destination).
fn config_file(dir: &Path, extra_settings: &str, profiles: &[(&str, &Path, &Path)]) -> PathBuf {
    let mut t = format!(
        "[settings]\ncoordination_dir = \"coord\"\nstate_dir = \"state\"\nlog_dir = \"logs\"\n{extra_settings}\n"
    );
    for (name, s, d) in profiles {
        t += &format!(
            "[profiles.{name}]\nsource = {:?}\ndestination = {:?}\n",
            s.to_str().unwrap(),
            d.to_str().unwrap()
        );
    }
    let f = dir.join("syncwright.toml");
    std::fs::write(&f, t).unwrap();
    f
}

fn open(file: &Path) -> Engine {
    Engine::new(EngineConfig {
        config_file: Some(file.to_path_buf()),
        worker_threads: 2,
        ..Default::default()
    })
    .unwrap()
}

/// Waits (bounded) until `f` holds.
fn until(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn an_engine_opens_from_a_file_a_value_or_nothing_and_settings_resolve_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write(&src, "a.txt", b"alpha");
    let file = config_file(dir.path(), "", &[("p", &src, &dst)]);
    let e = open(&file);
    let r = e.run_profile("p", None).unwrap().wait(Some(WAIT)).unwrap();
    assert_eq!(r.status, Status::Completed);
    // The state, the logs and the coordination folder are beside the file, wherever the process runs.
    assert!(dir.path().join("state").is_dir());
    assert!(dir.path().join("logs/p.log").is_file());
    assert!(dir.path().join("coord").is_dir());
    assert_eq!(e.profiles().len(), 1);
    drop(e);

    // The same document as a value.
    let value = serde_json::json!({
        "settings": { "coordination_dir": dir.path().join("coord2") },
        "profiles": { "one": { "source": src, "destination": dir.path().join("d2") },
                      "two": { "command": ["true"] } },
    });
    let e = Engine::new(EngineConfig {
        config: Some(value),
        state_dir: Some(dir.path().join("state2")),
        ..Default::default()
    })
    .unwrap();
    let names: Vec<_> = e.profiles().into_iter().map(|p| (p.name, p.kind)).collect();
    assert_eq!(
        names,
        [
            ("one".to_string(), syncwright::engine::ProfileKind::Sync),
            ("two".to_string(), syncwright::engine::ProfileKind::Command)
        ]
    );
    drop(e);

    // Both is refused; a bad value names the problem; none is an engine without profiles.
    let both = Engine::new(EngineConfig {
        config_file: Some(file.clone()),
        config: Some(serde_json::json!({})),
        no_store: true,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(both.kind(), ErrorKind::InvalidInput);
    let bad = Engine::new(EngineConfig {
        config: Some(serde_json::json!({ "profiles": { "bad name": {} } })),
        no_store: true,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);
    let none = Engine::new(EngineConfig { no_store: true, ..Default::default() }).unwrap();
    assert!(none.profiles().is_empty());
    assert_eq!(none.run_profile("p", None).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(none.profile_status("p").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn status_shows_the_running_job_then_the_last_run_and_a_second_run_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write(&src, "big.bin", &vec![3u8; 1 << 20]);
    let broken = dir.path().join("missing");
    let file = config_file(dir.path(), "", &[("p", &src, &dst), ("q", &broken, &dst)]);
    let e = open(&file);
    let before = e.profile_status("p").unwrap();
    assert_eq!((before.running, before.state, before.last_run.is_none()), (false, "idle", true));

    let inst = Instrumented::new(local(&src));
    let gate = inst.pause_at_byte(Some("big.bin"), 1000);
    let job = e.run_profile_with("p", inst.backend(), local(&dst), None).unwrap();
    assert!(gate.wait_reached(WAIT));
    let st = e.profile_status("p").unwrap();
    assert!(st.running);
    assert_eq!(st.state, "running");
    let running = st.job.as_ref().unwrap();
    assert_eq!(running.job_id.as_deref(), Some(job.id()));
    assert!(running.this_engine);
    assert!(st.text().contains(&format!("running (job {}", job.id())), "{}", st.text());
    // A second run: a conflict whose details carry the running job and its start.
    let c = e.run_profile("p", None).unwrap_err();
    assert_eq!(c.kind(), ErrorKind::Conflict);
    assert_eq!(c.details().unwrap()["job_id"], job.id());
    assert_eq!(c.details().unwrap()["started_at"], running.started_at.as_str());
    assert_eq!(e.active_jobs().len(), 1);
    gate.release();
    assert_eq!(job.wait(Some(WAIT)).unwrap().status, Status::Completed);

    let st = e.profile_status("p").unwrap();
    assert_eq!((st.running, st.state), (false, "success"));
    let last = st.last_run.unwrap();
    assert_eq!(
        (last.job_id.as_str(), last.status, last.outcome),
        (job.id(), Status::Completed, "success")
    );
    assert_eq!(last.stats.unwrap().created, 1);
    assert!(last.duration_ms.is_some());
    assert_eq!(std::fs::read(dst.join("big.bin")).unwrap(), vec![3u8; 1 << 20]);

    // A failed run: `error`, with its error.
    let r = e.run_profile("q", None).unwrap().wait(Some(WAIT)).unwrap();
    assert_eq!(r.status, Status::Failed);
    let all = e.profiles_status().unwrap();
    let q = all.iter().find(|s| s.profile == "q").unwrap();
    assert_eq!(q.state, "error");
    assert!(q.last_run.as_ref().unwrap().error.as_deref().unwrap().contains("missing"));
    let v = serde_json::to_value(&all).unwrap();
    assert_eq!(v[0]["profile"], "p");
    assert_eq!(v[0]["last_run"]["stats"]["created"], 1);
}

#[test]
fn run_all_is_one_job_with_a_result_per_profile_and_cancel_skips_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (s1, d1) = (dir.path().join("s1"), dir.path().join("d1"));
    let (s3, d3) = (dir.path().join("s3"), dir.path().join("d3"));
    write(&s1, "x", b"x");
    write(&s3, "y", b"y");
    let missing = dir.path().join("missing");
    let file = config_file(
        dir.path(),
        "",
        &[("a_ok", &s1, &d1), ("b_broken", &missing, &dir.path().join("d2")), ("c_busy", &s3, &d3)],
    );
    let e = open(&file);
    // c_busy is running already (paused): its result in the run-all is the conflict, with the running job.
    write(&s3, "big", &vec![1u8; 1 << 20]);
    let inst = Instrumented::new(local(&s3));
    let gate = inst.pause_at_byte(Some("big"), 100);
    let busy = e.run_profile_with("c_busy", inst.backend(), local(&d3), None).unwrap();
    assert!(gate.wait_reached(WAIT));
    let all = e.run_all(None).unwrap();
    let r = all.wait(Some(WAIT)).unwrap();
    gate.release();
    busy.wait(Some(WAIT));
    assert_eq!((r.report_type, r.status), (ReportType::RunAll, Status::Partial));
    let out = r.run_all.as_ref().unwrap();
    assert_eq!(out.total, 3);
    assert_eq!(out.successful, ["a_ok"]);
    assert_eq!(out.failed, ["b_broken", "c_busy"]);
    match &out.results["c_busy"] {
        ProfileResult::Error { kind, details, .. } => {
            assert_eq!(*kind, ErrorKind::Conflict);
            assert_eq!(details.as_ref().unwrap()["job_id"], busy.id());
        }
        other => panic!("c_busy: {other:?}"),
    }
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["type"], "run_all");
    assert_eq!(v["results"]["b_broken"]["fatal"]["kind"], "not_found");
    assert_eq!(v["stats"]["created"], 1);
    let text = r.text();
    assert!(
        text.contains("a_ok: completed") && text.ends_with("1 of 3 profiles completed"),
        "{text}"
    );
    assert!(e.job(all.id()).is_some());

    drop(e);

    // Cancelled while its first profile runs: that run is cancelled, the rest do not start.
    let t = format!(
        "[settings]\ncoordination_dir = \"coord3\"\n[profiles.a_sleep]\ncommand = [\"sleep\", \"30\"]\n\
         [profiles.b_next]\nsource = {:?}\ndestination = {:?}\n",
        s1.to_str().unwrap(),
        dir.path().join("d4").to_str().unwrap()
    );
    std::fs::write(dir.path().join("c3.toml"), t).unwrap();
    let e = Engine::new(EngineConfig {
        config_file: Some(dir.path().join("c3.toml")),
        state_dir: Some(dir.path().join("state3")),
        ..Default::default()
    })
    .unwrap();
    let all = e.run_all(None).unwrap();
    until("the first profile to run", || {
        e.active_jobs().iter().any(|j| j.info().profile.as_deref() == Some("a_sleep"))
    });
    let started = Instant::now();
    all.cancel();
    let r = all.wait(Some(WAIT)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "the sleep was stopped");
    assert_eq!(r.status, Status::Cancelled);
    let out = r.run_all.unwrap();
    match &out.results["a_sleep"] {
        ProfileResult::Report(r) => assert_eq!(r.status, Status::Cancelled),
        other => panic!("a_sleep: {other:?}"),
    }
    match &out.results["b_next"] {
        ProfileResult::Error { kind, .. } => assert_eq!(*kind, ErrorKind::Cancelled),
        other => panic!("b_next: {other:?}"),
    }
    assert!(!dir.path().join("d4").exists(), "b_next never ran");
    assert!(e.active_jobs().is_empty());
}

fn foreign_lock(name: &str, lease_until: &str) -> LockInfo {
    LockInfo {
        name: name.into(),
        profile: Some("p".into()),
        job_id: Some("theirs".into()),
        instance_id: "another-instance".into(),
        pid: 4242,
        host: "another-host".into(),
        started_at: "2026-01-01T00:00:00.000Z".into(),
        lease_until: lease_until.into(),
        token: "their-token".into(),
        ..Default::default()
    }
}

#[test]
fn unlock_cancels_this_engine_s_job_refuses_a_fresh_holder_elsewhere_and_clears_stale_locks() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write(&src, "big.bin", &vec![9u8; 1 << 20]);
    let file = config_file(dir.path(), "", &[("p", &src, &dst)]);
    let e = open(&file);
    let coord = dir.path().join("coord");

    // A job of this engine holds both locks: it is cancelled and waited for, then they are gone.
    let inst = Instrumented::new(local(&src));
    let gate = inst.pause_at_byte(Some("big.bin"), 1000);
    let job = e.run_profile_with("p", inst.backend(), local(&dst), None).unwrap();
    assert!(gate.wait_reached(WAIT));
    let unlocker = {
        let job = job.clone();
        std::thread::spawn(move || {
            // The unlock waits for the job; the job stops when its paused read is let go.
            until("the cancel", || job.cancel_requested());
            gate.release();
        })
    };
    let r = e.unlock_profile("p", false).unwrap();
    unlocker.join().unwrap();
    assert_eq!(r.cancelled_jobs, [job.id()]);
    assert_eq!(job.report().unwrap().status, Status::Cancelled, "waited for before returning");
    let mut names: Vec<_> = r.removed.iter().map(|l| (l.name.clone(), l.reason)).collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        [("dest".into(), Removal::Cancelled), (profile_lock_name("p"), Removal::Cancelled)]
    );
    assert!(!dst.join(".syncwright/locks/dest.lock").exists());
    assert!(!coord.join(format!("{}.lock", profile_lock_name("p"))).exists());
    assert!(!dst.join("big.bin").exists(), "the cancelled copy left nothing");

    // Held on another host with a fresh lease: a conflict naming the holder; nothing goes; with force it goes.
    let lock = coord.join(format!("{}.lock", profile_lock_name("p")));
    let fresh = foreign_lock(&profile_lock_name("p"), "2999-01-01T00:00:00.000Z");
    std::fs::write(&lock, serde_json::to_vec(&fresh).unwrap()).unwrap();
    let c = e.unlock_profile("p", false).unwrap_err();
    assert_eq!(c.kind(), ErrorKind::Conflict);
    assert_eq!(c.details().unwrap()["holders"][0]["host"], "another-host");
    assert!(c.message().contains("force"), "{}", c.message());
    assert!(lock.exists());
    assert_eq!(e.unlock_all(false).unwrap_err().kind(), ErrorKind::Conflict);
    let r = e.unlock_profile("p", true).unwrap();
    assert_eq!(r.removed.len(), 1);
    assert_eq!(
        (r.removed[0].reason, r.removed[0].job_id.as_deref()),
        (Removal::Forced, Some("theirs"))
    );
    assert!(!lock.exists());

    // Stale (its lease ran out): removed without force, by unlock_all too.
    let stale = foreign_lock(&profile_lock_name("p"), "2020-01-01T00:00:00.000Z");
    std::fs::write(&lock, serde_json::to_vec(&stale).unwrap()).unwrap();
    let r = e.unlock_all(false).unwrap();
    assert_eq!(r.removed.len(), 1);
    assert_eq!(r.removed[0].reason, Removal::Stale);
    assert!(!lock.exists());
    assert!(e.unlock_all(false).unwrap().removed.is_empty());
    assert_eq!(e.unlock_profile("nope", false).unwrap_err().kind(), ErrorKind::NotFound);

    // The lock self-test, under a name of the caller's.
    let t = e.lock_self_test("test_sync").unwrap();
    assert_eq!(t.name, "test_sync");
    assert!(t.steps.iter().any(|s| s.contains("second acquire was refused")), "{:?}", t.steps);
    assert!(!coord.join("test_sync.lock").exists());
}

#[test]
fn a_run_whose_lock_is_removed_from_elsewhere_stops_at_its_next_renewal() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write(&src, "big.bin", &vec![5u8; 1 << 20]);
    let file = config_file(dir.path(), "lock_lease = \"0.6s\"", &[("p", &src, &dst)]);
    let a = open(&file);
    // Another engine (another instance: its own state directory) on the same config.
    let b = Engine::new(EngineConfig {
        config_file: Some(file.clone()),
        state_dir: Some(dir.path().join("state-b")),
        ..Default::default()
    })
    .unwrap();
    let inst = Instrumented::new(local(&src));
    let gate = inst.pause_at_byte(Some("big.bin"), 1000);
    let job = a.run_profile_with("p", inst.backend(), local(&dst), None).unwrap();
    assert!(gate.wait_reached(WAIT));
    // To b, a's run is a fresh holder elsewhere: refused without force.
    assert_eq!(b.unlock_profile("p", false).unwrap_err().kind(), ErrorKind::Conflict);
    let r = b.unlock_profile("p", true).unwrap();
    assert!(r.removed.iter().all(|l| l.reason == Removal::Forced) && r.removed.len() == 2, "{r:?}");
    // a's next renewal (a third of its lease) finds them gone and stops the run.
    until("the run to notice", || job.cancel_requested());
    gate.release();
    let rep = job.wait(Some(WAIT)).unwrap();
    assert_eq!(rep.status, Status::Failed);
    let f = rep.fatal.unwrap();
    assert_eq!(f.kind, ErrorKind::Conflict);
    assert!(f.error.contains("was removed"), "{}", f.error);
    assert!(!dst.join("big.bin").exists());
    // The next run (from b) takes the locks and completes.
    let r = b.run_profile("p", None).unwrap().wait(Some(WAIT)).unwrap();
    assert_eq!(r.status, Status::Completed);
    assert_eq!(std::fs::read(dst.join("big.bin")).unwrap(), vec![5u8; 1 << 20]);
}

#[test]
fn history_pages_logs_filter_and_jobs_are_listed_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write(&src, "a", b"a");
    let missing = dir.path().join("missing");
    let file = config_file(dir.path(), "", &[("p", &src, &dst), ("q", &missing, &dst)]);
    let e = open(&file);
    let mut ids = Vec::new();
    for i in 0..3 {
        write(&src, &format!("f{i}"), b"data");
        let j = e.run_profile("p", None).unwrap();
        j.wait(Some(WAIT)).unwrap();
        ids.push(j.id().to_string());
    }
    e.run_profile("q", None).unwrap().wait(Some(WAIT)).unwrap();
    let p1 = e.run_history("p", 1, 2).unwrap();
    assert_eq!((p1.pagination.total, p1.pagination.pages, p1.runs.len()), (3, 2, 2));
    assert_eq!(p1.runs[0].job_id, ids[2], "newest first");
    let p2 = e.run_history("p", 2, 2).unwrap();
    assert_eq!(p2.runs.iter().map(|r| r.job_id.clone()).collect::<Vec<_>>(), [ids[0].clone()]);
    assert_eq!(e.run_history("p", 0, 2).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(e.run_history("nope", 1, 2).unwrap_err().kind(), ErrorKind::NotFound);

    let tail = e.profile_log_tail("p", 2, None).unwrap();
    assert_eq!(tail.len(), 2);
    assert!(tail[1].message.starts_with("sync completed"), "{tail:?}");
    let errors = e.profile_log_page("q", 1, 50, Some(LogLevel::Error)).unwrap();
    assert!(!errors.logs.is_empty() && errors.logs.iter().all(|l| l.level == LogLevel::Error));
    assert_eq!(errors.pagination.total, errors.logs.len());
    assert_eq!(e.profile_log_tail("nope", 5, None).unwrap_err().kind(), ErrorKind::NotFound);

    let recent = e.recent_jobs(2);
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[1].id(), ids[2]);
    let snap = serde_json::to_value(recent[1].snapshot(true)).unwrap();
    assert_eq!(snap["status"], "completed");
    assert_eq!(snap["profile"], "p");
    assert_eq!(snap["report"]["stats"]["created"], 1);
    assert!(serde_json::to_value(recent[1].snapshot(false)).unwrap().get("report").is_none());
    assert!(e.active_jobs().is_empty());

    let u = e
        .storage_usage(&syncwright::usage::UsageQuery {
            models_root: None,
            root: Some(src.clone()),
        })
        .unwrap();
    assert_eq!(u.total_size, 1 + 3 * 4);
}

#[test]
fn recovery_metrics_say_what_is_in_effect_and_scenarios_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let e =
        Engine::new(EngineConfig { state_dir: Some(dir.path().join("s")), ..Default::default() })
            .unwrap();
    let m = serde_json::to_value(e.recovery_metrics().unwrap()).unwrap();
    assert_eq!(m["persistence"], true);
    assert!(m["max_attempts"].as_u64().unwrap() >= 1);
    assert!(m["retry"]["network_timeout"]["max_attempts"].as_u64().unwrap() > 1, "{m}");
    assert_eq!(m["total_operations"], 0, "{m}");
    let none = Engine::new(EngineConfig { no_store: true, ..Default::default() }).unwrap();
    assert_eq!(
        serde_json::to_value(none.recovery_metrics().unwrap()).unwrap()["persistence"],
        false
    );
    assert_eq!(none.operations(false, 10).unwrap_err().kind(), ErrorKind::FeatureDisabled);
    let s = e.recovery_scenarios();
    let t = s.iter().find(|s| s.id == "network_timeout").unwrap();
    assert_eq!((t.category, t.expect_recovery), ("network", true));
    assert!(s.iter().any(|s| s.id == "disk_space_exhausted" && s.category == "resource"));
    let v = serde_json::to_value(&s).unwrap();
    assert!(v[0]["name"].as_str().unwrap().contains(' '), "a title: {v}");
}

#[test]
fn outcome_words_and_the_text_of_a_report() {
    assert_eq!(Status::Completed.outcome(), "success");
    for s in [Status::Failed, Status::Partial, Status::Cancelled, Status::Interrupted] {
        assert_eq!(s.outcome(), "error");
    }
    assert_eq!(Status::Running.outcome(), "running");
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::new(EngineConfig { no_store: true, ..Default::default() }).unwrap();
    let r = e
        .sync(
            dir.path().join("nope").to_str().unwrap(),
            dir.path().join("d").to_str().unwrap(),
            Default::default(),
        )
        .unwrap();
    let t = r.text();
    assert!(t.starts_with("failed: 0 created"), "{t}");
    assert!(t.contains("nope"), "{t}");
}
