//! A damaged embedded store never blocks a sync: the engine moves it aside, starts a new one, and says so.

#[path = "support/files.rs"]
mod files;
use files::write;

use std::path::Path;
use std::time::Duration;
use syncwright::config::Config;
use syncwright::logs::LogLevel;
use syncwright::report::WarningReason;
use syncwright::{Engine, EngineConfig, Status, SyncOptions};

fn noise(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(42);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn engine(state: &Path) -> Engine {
    Engine::new(EngineConfig {
        state_dir: Some(state.to_path_buf()),
        worker_threads: 2,
        ..Default::default()
    })
    .expect("a damaged store must not stop the engine from opening")
}

/// The files whose names start with `state.db.corrupt-` in `dir`.
fn kept_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.db.corrupt-"))
        .collect();
    v.sort();
    v
}

#[test]
fn random_bytes_in_the_store_are_kept_aside_and_the_sync_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, state) =
        (dir.path().join("src"), dir.path().join("dst"), dir.path().join("state"));
    std::fs::create_dir_all(&state).unwrap();
    let junk = noise(200 << 10);
    std::fs::write(state.join("state.db"), &junk).unwrap();
    std::fs::write(state.join("state.db-wal"), b"not a wal either").unwrap();
    write(&src, "a.txt", b"alpha\n");
    write(&src, "sub/b.bin", &noise(10_000));

    let engine = engine(&state);
    let rec =
        engine.store_recovery().expect("the engine does not say the store was recovered").clone();
    assert_eq!(rec.path, state.join("state.db"));
    assert_eq!(rec.kept.parent(), Some(state.as_path()));
    assert!(std::fs::read(&rec.kept).unwrap() == junk, "the kept file is not the damaged one");
    let kept_wal = format!("{}-wal", rec.kept.display());
    assert_eq!(std::fs::read(&kept_wal).unwrap(), b"not a wal either");
    assert_eq!(kept_files(&state).len(), 3, "{:?}", kept_files(&state)); // the file, its -wal and its -shm

    let r =
        engine.sync(src.to_str().unwrap(), dst.to_str().unwrap(), SyncOptions::default()).unwrap();
    assert_eq!(r.status, Status::Completed, "{}", r.to_json());
    assert_eq!(std::fs::read(dst.join("a.txt")).unwrap(), b"alpha\n");
    assert_eq!(std::fs::read(dst.join("sub/b.bin")).unwrap(), noise(10_000));
    let w: Vec<_> =
        r.warnings.iter().filter(|w| w.reason == WarningReason::StateStoreRecovered).collect();
    assert_eq!(w.len(), 1, "{}", r.to_json());
    assert!(w[0].message.contains(&rec.kept.display().to_string()), "{}", w[0].message);
    assert_eq!(r.stats.warnings, r.warnings.len() as u64);
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert!(
        json["warnings"].as_array().unwrap().iter().any(|w| w["reason"] == "state_store_recovered"),
        "{json}"
    );
    // The new store holds the run, and the warning was for the first report only.
    let runs = engine.store().unwrap().runs(None, 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, Status::Completed);
    let r2 =
        engine.sync(src.to_str().unwrap(), dst.to_str().unwrap(), SyncOptions::default()).unwrap();
    assert_eq!(r2.status, Status::Completed);
    assert!(
        r2.warnings.iter().all(|w| w.reason != WarningReason::StateStoreRecovered),
        "{}",
        r2.to_json()
    );
    drop(engine);

    // The next engine finds a healthy store with the history of the runs since.
    let engine = self::engine(&state);
    assert!(engine.store_recovery().is_none());
    assert_eq!(engine.store().unwrap().runs(None, 10).unwrap().len(), 2);
    assert_eq!(kept_files(&state).len(), 3);
}

#[test]
fn a_profile_run_logs_the_recovery_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, state) =
        (dir.path().join("src"), dir.path().join("dst"), dir.path().join("state"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("state.db"), noise(4096)).unwrap();
    write(&src, "f.txt", b"x");
    let cfg = Config::from_toml(&format!(
        "[settings]\ncoordination_dir = {:?}\n[profiles.p]\nsource = {:?}\ndestination = {:?}\n",
        dir.path().join("locks"),
        src,
        dst
    ))
    .unwrap();
    let engine = Engine::with_config(
        cfg,
        EngineConfig { state_dir: Some(state.clone()), worker_threads: 2, ..Default::default() },
    )
    .unwrap();
    let kept = engine.store_recovery().unwrap().kept.display().to_string();
    let r = engine.run_profile("p", None).unwrap().wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(r.status, Status::Completed, "{}", r.to_json());
    let log = engine.logs().read_all("p").unwrap();
    let entry = log
        .iter()
        .find(|e| e.level == LogLevel::Warning && e.message.contains(&kept))
        .unwrap_or_else(|| panic!("no warning naming {kept} in the log: {log:?}"));
    assert_eq!(entry.data["reason"], "state_store_recovered");
}

#[test]
fn build_manifest_warns_when_it_replaced_a_damaged_store() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, state) = (dir.path().join("tree"), dir.path().join("state"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("state.db"), noise(8192)).unwrap();
    write(&tree, "a.txt", b"alpha\n");
    let opts = syncwright::manifest::scan::ManifestOptions {
        state_dir: Some(state.clone()),
        ..Default::default()
    };
    let out = syncwright::manifest::scan::build_manifest(&tree, &opts).unwrap();
    assert_eq!(out.manifest.entries.len(), 1);
    let kept = kept_files(&state);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let w: Vec<_> =
        out.warnings.iter().filter(|w| w.reason == WarningReason::StateStoreRecovered).collect();
    assert_eq!(w.len(), 1, "{:?}", out.warnings);
    assert!(w[0].message.contains(&kept[0]), "{}", w[0].message);
    // The hashes went into the new store: a second scan warns no more.
    let again = syncwright::manifest::scan::build_manifest(&tree, &opts).unwrap();
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
}
