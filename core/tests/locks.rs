//! Destination locks: every writing run, plain or profile, from any engine, takes its destination's lock in the
//! destination's own `.syncwright/locks/`; a second run is refused before doing anything; stale locks are broken
//! by instance and lease, never by host name alone; a `.syncwright` that is a link is never followed.

#[path = "support/files.rs"]
mod files;
use files::{files, write};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use syncwright::backend::Backend;
use syncwright::backend::instrumented::Instrumented;
use syncwright::backend::local::LocalBackend;
use syncwright::config::Config;
use syncwright::events::Event;
use syncwright::locks::{LockInfo, LockState, host_name};
use syncwright::{Engine, EngineConfig, ErrorKind, Status, SyncOptions, SyncReport};

const WAIT: Duration = Duration::from_secs(60);

fn engine(state: &Path) -> Engine {
    Engine::new(EngineConfig {
        state_dir: Some(state.to_path_buf()),
        worker_threads: 2,
        ..Default::default()
    })
    .unwrap()
}

fn engine_for(state: &Path, cfg: &Config) -> Engine {
    Engine::with_config(
        cfg.clone(),
        EngineConfig {
            state_dir: Some(state.to_path_buf()),
            worker_threads: 2,
            ..Default::default()
        },
    )
    .unwrap()
}

fn local(p: &Path) -> Arc<dyn Backend> {
    Arc::new(LocalBackend::new(p).unwrap())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Options under which a copy of `big.bin` pauses in its second chunk.
fn slow() -> SyncOptions {
    SyncOptions { chunk_size: 256 * 1024, transfers: 1, ..Default::default() }
}

fn temporaries(root: &Path) -> Vec<String> {
    files(root).into_iter().filter(|p| p.contains(".swtmp-")).collect()
}

fn lock_file(dst: &Path) -> PathBuf {
    dst.join(".syncwright/locks/dest.lock")
}

fn read_lock(dst: &Path) -> LockInfo {
    serde_json::from_slice(&std::fs::read(lock_file(dst)).unwrap()).unwrap()
}

/// Asserts a report was refused by the destination lock of `holder`, and returns its details.
#[track_caller]
fn refused_by(r: &SyncReport, holder: &str) -> serde_json::Value {
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    let f = r.fatal.as_ref().expect("a fatal error");
    assert_eq!(f.kind, ErrorKind::Conflict, "{f:?}");
    assert!(f.error.contains(holder) && f.error.contains("already being written"), "{}", f.error);
    assert_eq!(r.stats.created + r.stats.updated + r.stats.deleted, 0);
    let d = f.details.clone().expect("details name the holder");
    assert_eq!(d["job_id"], holder, "{d}");
    assert_eq!(d["pid"], std::process::id());
    assert_eq!(d["host"], host_name());
    assert!(!d["started_at"].as_str().unwrap().is_empty(), "{d}");
    d
}

fn config(coord: &Path, src: &Path, dst: &Path) -> Config {
    Config::from_toml(&format!(
        "[settings]\ncoordination_dir = {:?}\n[profiles.p]\nsource = {:?}\ndestination = {:?}\n",
        s(coord),
        s(src),
        s(dst)
    ))
    .unwrap()
}

#[test]
fn two_plain_syncs_into_one_destination_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write(&src, "big.bin", &vec![7u8; 3 << 20]);
    write(&src, "small.txt", b"small");
    let a = engine(&dir.path().join("state-a"));
    // Another engine with its own state directory: another instance, as another container or host would be.
    let b = engine(&dir.path().join("state-b"));
    assert_ne!(a.instance_id(), b.instance_id());

    let inst = Instrumented::new(local(&src));
    let gate = inst.pause_at_byte(Some("big.bin"), (1 << 20) + 5);
    let first = a.start_sync_with(inst.backend(), local(&dst), slow(), None).unwrap();
    assert!(gate.wait_reached(WAIT), "the first copy never reached its pause");
    let temps = temporaries(&dst);
    assert!(!temps.is_empty(), "the first run has a live temporary");
    let held = read_lock(&dst);
    assert_eq!(held.job_id.as_deref(), Some(first.id()));
    assert_eq!(held.instance_id, a.instance_id());
    assert_eq!(held.destination.as_deref(), Some(s(&dst)));

    // A second plain sync, from the same engine and from another one, mirroring: refused before it does anything.
    let mirror = SyncOptions { delete: true, ..Default::default() };
    for e in [&a, &b] {
        let r = e.sync(s(&src), s(&dst), mirror.clone()).unwrap();
        let d = refused_by(&r, first.id());
        assert_eq!(d["instance_id"], a.instance_id());
        assert_eq!(d["started_at"], held.started_at.as_str());
        assert_eq!(temporaries(&dst), temps, "the first run's temporaries are untouched");
    }
    // A dry run takes no lock: it plans.
    let plan =
        b.sync(s(&src), s(&dst), SyncOptions { dry_run: true, ..Default::default() }).unwrap();
    assert_eq!(plan.status, Status::Completed, "{plan:#?}");
    assert_eq!(read_lock(&dst).token, held.token);

    gate.release();
    let r = first.wait(Some(WAIT)).unwrap();
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert!(!lock_file(&dst).exists(), "the lock went with the run");
    assert!(!dst.join(".syncwright/locks").exists(), "the folder made for it too");
    assert_eq!(std::fs::read(dst.join("big.bin")).unwrap(), vec![7u8; 3 << 20]);
    assert!(temporaries(&dst).is_empty());
    // Now the other instance runs.
    write(&src, "later.txt", b"later");
    let r = b.sync(s(&src), s(&dst), mirror).unwrap();
    assert_eq!((r.status, r.stats.created), (Status::Completed, 1), "{r:#?}");

    // A run that fails before writing leaves nothing at its destination, lock folders included.
    let fresh = dir.path().join("fresh");
    let r = a.sync(s(&dir.path().join("missing")), s(&fresh), SyncOptions::default()).unwrap();
    assert_eq!(r.fatal.unwrap().kind, ErrorKind::NotFound);
    assert!(!fresh.exists(), "a failed run created its destination");
}

#[test]
fn a_plain_sync_and_a_profile_run_exclude_each_other_in_both_orders() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, coord) =
        (dir.path().join("src"), dir.path().join("dst"), dir.path().join("coord"));
    write(&src, "one.bin", &vec![1u8; 3 << 20]);
    let cfg = config(&coord, &src, &dst);
    let e = engine_for(&dir.path().join("state"), &cfg);
    let other = engine(&dir.path().join("state-other"));

    // The profile first: a plain sync (another instance) is refused, naming the profile's job.
    let inst = Instrumented::new(local(&src));
    let gate = inst.pause_at_byte(Some("one.bin"), (1 << 20) + 5);
    let prof = e.run_profile_with("p", inst.backend(), local(&dst), None).unwrap();
    assert!(gate.wait_reached(WAIT));
    let r = other.sync(s(&src), s(&dst), SyncOptions::default()).unwrap();
    let d = refused_by(&r, prof.id());
    assert_eq!(d["profile"], "p");
    assert!(r.fatal.unwrap().error.contains("profile p"));
    // Status sees both of the profile's locks, the destination's in the destination.
    let locks = e.profile_locks().unwrap();
    assert_eq!(locks[0].lock.as_ref().unwrap().state, LockState::Held);
    let dl = locks[0].destination_lock.as_ref().expect("the destination's lock");
    assert_eq!(dl.info.job_id.as_deref(), Some(prof.id()));
    assert!(dl.location.ends_with("dst/.syncwright/locks"), "{}", dl.location);
    gate.release();
    assert_eq!(prof.wait(Some(WAIT)).unwrap().status, Status::Completed);

    // A plain sync first: the profile run starts (its profile is free) and fails at once, naming the sync's job.
    write(&src, "two.bin", &vec![2u8; 3 << 20]);
    let inst = Instrumented::new(local(&src));
    let gate = inst.pause_at_byte(Some("two.bin"), (1 << 20) + 5);
    let plain = other.start_sync_with(inst.backend(), local(&dst), slow(), None).unwrap();
    assert!(gate.wait_reached(WAIT));
    let temps = temporaries(&dst);
    let job = e.run_profile("p", None).unwrap();
    let r = job.wait(Some(WAIT)).unwrap();
    let d = refused_by(&r, plain.id());
    assert_eq!(d["profile"], serde_json::Value::Null);
    assert_eq!(d["instance_id"], other.instance_id());
    assert_eq!(temporaries(&dst), temps);
    assert!(
        files(&coord).is_empty(),
        "the refused run's profile lock went with it: {:?}",
        files(&coord)
    );
    // Status: idle, its destination busy with the plain sync.
    let locks = e.profile_locks().unwrap();
    assert!(locks[0].lock.is_none());
    let dl = locks[0].destination_lock.as_ref().unwrap();
    assert_eq!((dl.info.job_id.as_deref(), &dl.state), (Some(plain.id()), &LockState::Held));
    gate.release();
    assert_eq!(plain.wait(Some(WAIT)).unwrap().status, Status::Completed);
    assert!(!lock_file(&dst).exists());
    assert_eq!(std::fs::read(dst.join("two.bin")).unwrap(), vec![2u8; 3 << 20]);
}

#[test]
fn unlock_removes_a_profile_s_destination_lock_in_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, coord) =
        (dir.path().join("src"), dir.path().join("dst"), dir.path().join("coord"));
    write(&src, "a", b"a");
    let cfg = config(&coord, &src, &dst);
    let e = engine_for(&dir.path().join("state"), &cfg);
    // Left by a run of another instance that is gone, with a lease that still runs.
    let left = LockInfo {
        name: "dest".into(),
        job_id: Some("gone".into()),
        instance_id: "elsewhere".into(),
        pid: 999_999_999,
        host: host_name(),
        started_at: "2026-01-01T00:00:00.000Z".into(),
        lease_until: "2999-01-01T00:00:00.000Z".into(),
        token: "t".into(),
        ..Default::default()
    };
    write(&dst, ".syncwright/locks/dest.lock", &serde_json::to_vec(&left).unwrap());
    write(&coord, "profile-p.lock", &serde_json::to_vec(&left).unwrap());
    // Held elsewhere with a fresh lease: refused, naming the holder, nothing removed; with force, removed.
    let refused = e.unlock_profile("p", false).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    assert_eq!(refused.details().unwrap()["holders"][0]["job_id"], "gone");
    assert!(lock_file(&dst).exists() && !files(&coord).is_empty());
    let r = e.unlock_profile("p", true).unwrap();
    let names: Vec<(&str, bool)> = r
        .removed
        .iter()
        .map(|l| (l.name.as_str(), l.location.ends_with("dst/.syncwright/locks")))
        .collect();
    assert_eq!(names, [("profile-p", false), ("dest", true)], "{r:?}");
    assert!(r.errors.is_empty());
    assert!(!lock_file(&dst).exists() && files(&coord).is_empty());
    assert_eq!(e.unlock_all(false).unwrap().removed, []);
    assert_eq!(e.run_profile("p", None).unwrap().wait(None).unwrap().status, Status::Completed);
}

#[test]
fn a_dead_holder_of_this_instance_is_broken_but_not_one_of_another_instance_on_the_same_host() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write(&src, "a", b"a");
    let e = engine(&dir.path().join("state"));
    let mut dead = LockInfo {
        name: "dest".into(),
        job_id: Some("dead-job".into()),
        destination: Some(s(&dst).to_string()),
        instance_id: e.instance_id().to_string(),
        pid: 999_999_999,
        host: host_name(),
        started_at: "2026-01-01T00:00:00.000Z".into(),
        lease_until: "2999-01-01T00:00:00.000Z".into(),
        token: "dead".into(),
        ..Default::default()
    };
    // Same host name, same (dead) pid, but another instance: a container beside this one. Its lease runs: held.
    dead.instance_id = "another-container".into();
    let body = serde_json::to_vec(&dead).unwrap();
    write(&dst, ".syncwright/locks/dest.lock", &body);
    let r = e.sync(s(&src), s(&dst), SyncOptions::default()).unwrap();
    refused_by_other(&r, "dead-job");
    assert_eq!(std::fs::read(lock_file(&dst)).unwrap(), body, "left as it was");
    assert!(!dst.join("a").exists());

    // This instance's own dead process: stale, broken, said so, and the run goes on.
    dead.instance_id = e.instance_id().to_string();
    write(&dst, ".syncwright/locks/dest.lock", &serde_json::to_vec(&dead).unwrap());
    let sub = e.subscribe();
    let r = e.sync(s(&src), s(&dst), SyncOptions::default()).unwrap();
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    let broken = broken_event(&sub).expect("a lock_broken event");
    assert_eq!(broken.0.job_id.as_deref(), Some("dead-job"));
    assert!(broken.1.contains("not running"), "{}", broken.1);
    assert!(!lock_file(&dst).exists());
}

#[test]
fn a_live_looking_holder_of_another_instance_whose_lease_expired_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write(&src, "a", b"a");
    let e = engine(&dir.path().join("state"));
    let expired = LockInfo {
        name: "dest".into(),
        job_id: Some("crashed-host".into()),
        instance_id: "another-host".into(),
        // A pid that exists here (ours), on a host that looks like ours: neither decides.
        pid: std::process::id(),
        host: host_name(),
        started_at: "2026-01-01T00:00:00.000Z".into(),
        lease_until: "2026-01-01T00:01:00.000Z".into(),
        token: "old".into(),
        ..Default::default()
    };
    write(&dst, ".syncwright/locks/dest.lock", &serde_json::to_vec(&expired).unwrap());
    let sub = e.subscribe();
    let r = e.sync(s(&src), s(&dst), SyncOptions::default()).unwrap();
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    let (old, reason) = broken_event(&sub).expect("a lock_broken event");
    assert_eq!(old.job_id.as_deref(), Some("crashed-host"));
    assert!(reason.contains("lease expired"), "{reason}");
    assert_eq!(std::fs::read(dst.join("a")).unwrap(), b"a");
}

#[track_caller]
fn refused_by_other(r: &SyncReport, holder: &str) {
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    let f = r.fatal.as_ref().unwrap();
    assert_eq!(f.kind, ErrorKind::Conflict, "{f:?}");
    assert_eq!(f.details.as_ref().unwrap()["job_id"], holder);
}

/// The first lock_broken event of the subscription (up to the end of the job that follows).
fn broken_event(sub: &syncwright::events::Subscription) -> Option<(LockInfo, String)> {
    while let Some(e) = sub.next_blocking(Some(Duration::from_secs(5))) {
        match e.event() {
            Event::LockBroken { lock, reason } => return Some((lock.clone(), reason.clone())),
            Event::JobFinished { .. } => return None,
            _ => {}
        }
    }
    None
}

#[test]
fn a_syncwright_folder_that_is_a_link_or_a_file_is_refused_and_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (src, outside) = (dir.path().join("src"), dir.path().join("outside"));
    write(&src, "a", b"a");
    std::fs::create_dir_all(&outside).unwrap();
    let e = engine(&dir.path().join("state"));
    let check = |dst: &Path, what: &str, dry_too: bool| {
        for dry_run in [false, dry_too] {
            let r = e.sync(s(&src), s(dst), SyncOptions { dry_run, ..Default::default() }).unwrap();
            assert_eq!(r.status, Status::Failed, "{what}, dry run {dry_run}: {r:#?}");
            let f = r.fatal.unwrap();
            assert_eq!(f.kind, ErrorKind::Conflict, "{what}: {f:?}");
            assert!(f.error.contains(what), "{what}: {}", f.error);
            assert!(f.error.contains("never follows a link"), "{}", f.error);
        }
        assert!(files(&outside).is_empty(), "{what}: written outside: {:?}", files(&outside));
        assert!(!dst.join("a").exists(), "{what}: the run went on");
    };

    // .syncwright itself a link out of the destination.
    let d1 = dir.path().join("d1");
    std::fs::create_dir_all(&d1).unwrap();
    std::os::unix::fs::symlink(&outside, d1.join(".syncwright")).unwrap();
    check(&d1, ".syncwright is a symlink", true);
    // A folder below it a link (the lock's folder is fine, the manifests' is not).
    let d2 = dir.path().join("d2");
    std::fs::create_dir_all(d2.join(".syncwright")).unwrap();
    std::os::unix::fs::symlink(&outside, d2.join(".syncwright/manifests")).unwrap();
    check(&d2, ".syncwright/manifests is a symlink", true);
    let d3 = dir.path().join("d3");
    std::fs::create_dir_all(d3.join(".syncwright")).unwrap();
    std::os::unix::fs::symlink(&outside, d3.join(".syncwright/locks")).unwrap();
    // (A dry run takes no lock, so that one only stops writing runs.)
    check(&d3, ".syncwright/locks is a symlink", false);
    // .syncwright a file.
    let d4 = dir.path().join("d4");
    write(&d4, ".syncwright", b"not a folder");
    check(&d4, ".syncwright is not a directory", true);

    // Through the backend: every state call refuses, none follows.
    let b = LocalBackend::new(&d1).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let key = "manifests/x.json";
        assert_eq!(b.write_state(key, b"{}").await.unwrap_err().kind(), ErrorKind::Conflict);
        assert_eq!(b.read_state(key).await.unwrap_err().kind(), ErrorKind::Conflict);
        assert_eq!(b.state_file(key).await.unwrap_err().kind(), ErrorKind::Conflict);
        assert_eq!(b.delete_state(key).await.unwrap_err().kind(), ErrorKind::Conflict);
    });
    assert!(files(&outside).is_empty());
    // A state file that is itself a link is not read through.
    let d5 = dir.path().join("d5");
    std::fs::create_dir_all(d5.join(".syncwright/manifests")).unwrap();
    write(&outside, "secret.json", b"{}");
    std::os::unix::fs::symlink(
        outside.join("secret.json"),
        d5.join(".syncwright/manifests/x.json"),
    )
    .unwrap();
    let b = LocalBackend::new(&d5).unwrap();
    rt.block_on(async {
        assert_eq!(b.read_state("manifests/x.json").await.unwrap_err().kind(), ErrorKind::Conflict);
    });
}
