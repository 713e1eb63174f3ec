//! The remote-manifest mechanism every remote backend shares: the local cache, offline dry runs, commit_manifest.
//! Exercised over a local tree wrapped as a remote one (the SFTP, S3 and Drive suites run it over real servers).

#[path = "support/files.rs"]
mod files;
use files::{files, write};

use std::sync::Arc;
use std::time::Duration;
use syncwright::backend::Backend;
use syncwright::backend::cached::CachedManifests;
use syncwright::backend::instrumented::{Fault, Instrumented};
use syncwright::backend::local::LocalBackend;
use syncwright::manifest::plan::Op;
use syncwright::recovery::{Category, RetryPolicy};
use syncwright::report::WarningReason;
use syncwright::{Engine, EngineConfig, ErrorKind, Status, SyncOptions, SyncReport};

fn run(
    engine: &Engine,
    src: Arc<dyn Backend>,
    dst: Arc<dyn Backend>,
    o: SyncOptions,
) -> SyncReport {
    engine.start_sync_with(src, dst, o, None).unwrap().wait(Some(Duration::from_secs(60))).unwrap()
}

fn opts() -> SyncOptions {
    let mut o = SyncOptions { name: "nightly".into(), max_attempts: 1, ..Default::default() };
    o.retry.set(Category::NetworkConnection, RetryPolicy { max_attempts: 1, ..RetryPolicy::NONE });
    o
}

#[test]
fn an_unreachable_remote_is_planned_from_the_cached_manifest_in_a_dry_run_only() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, cache) =
        (dir.path().join("src"), dir.path().join("dst"), dir.path().join("cache"));
    write(&src, "a/one.bin", b"one");
    write(&src, "two.bin", b"two");
    let engine = Engine::new(EngineConfig {
        state_dir: Some(dir.path().join("state")),
        worker_threads: 2,
        ..Default::default()
    })
    .unwrap();
    let local: Arc<dyn Backend> = Arc::new(LocalBackend::new(&src).unwrap());
    let remote = Instrumented::new(Arc::new(LocalBackend::new(&dst).unwrap()));
    let cached: Arc<dyn Backend> = Arc::new(CachedManifests::new(remote.backend(), &cache));

    // Without a cached manifest an unreachable remote fails the dry run.
    remote.at_call(1, Fault::FailWith(ErrorKind::Network, "connection refused".into()));
    let r = run(&engine, local.clone(), cached.clone(), SyncOptions { dry_run: true, ..opts() });
    assert_eq!(r.status, Status::Failed, "{r:?}");
    assert_eq!(r.fatal.as_ref().unwrap().kind, ErrorKind::Network);

    let r = run(&engine, local.clone(), cached.clone(), opts());
    assert_eq!(r.status, Status::Completed, "{r:?}");
    let cache_files: Vec<_> = files(&cache);
    assert_eq!(cache_files.len(), 2, "{cache_files:?}");
    assert!(cache_files.iter().any(|p| p.ends_with("/nightly.json")), "{cache_files:?}");

    write(&src, "three.bin", b"three");
    remote.at_call(1, Fault::FailWith(ErrorKind::Network, "connection refused".into()));
    let calls = remote.calls();
    let r = run(&engine, local.clone(), cached.clone(), SyncOptions { dry_run: true, ..opts() });
    assert_eq!(r.status, Status::Completed, "{r:?}");
    let w = r.warnings.iter().find(|w| w.reason == WarningReason::RemoteUnreachable).unwrap();
    assert!(w.message.contains("connection refused") && w.message.contains("cached at"), "{w:?}");
    let plan = r.plan.unwrap();
    let copies: Vec<_> =
        plan.actions.iter().filter(|a| a.op == Op::Copy).map(|a| a.path.as_str()).collect();
    assert_eq!(copies, ["three.bin"]);
    assert_eq!(remote.calls(), calls + 1, "only the failed call reached the remote");

    // A real run does not plan against a cache: it fails, and writes nothing.
    remote.at_call(1, Fault::FailWith(ErrorKind::Network, "connection refused".into()));
    let r = run(&engine, local.clone(), cached.clone(), opts());
    assert_eq!(r.status, Status::Failed, "{r:?}");
    assert!(!dst.join("three.bin").exists());

    // Reachable again: one copy, and the cache follows the remote manifest byte for byte.
    let r = run(&engine, local, cached, opts());
    assert_eq!((r.status, r.stats.created), (Status::Completed, 1), "{r:?}");
    let remote_manifest = std::fs::read(dst.join(".syncwright/manifests/nightly.json")).unwrap();
    let cached_manifest =
        std::fs::read(cache_files.iter().find(|p| p.ends_with("/nightly.json")).unwrap()).unwrap();
    assert_eq!(remote_manifest, cached_manifest);
}

#[test]
fn without_commit_manifest_the_manifest_stays_and_the_next_run_scans() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write(&src, "a.bin", b"a");
    let engine = Engine::new(EngineConfig {
        state_dir: Some(dir.path().join("state")),
        worker_threads: 2,
        ..Default::default()
    })
    .unwrap();
    let (s, d) = (src.to_str().unwrap(), dst.to_str().unwrap());
    let r = engine.sync(s, d, SyncOptions { commit_manifest: false, ..opts() }).unwrap();
    assert_eq!((r.status, r.stats.created), (Status::Completed, 1), "{r:?}");
    assert!(r.warnings.iter().any(|w| w.reason == WarningReason::ManifestNotCommitted));
    assert_eq!(std::fs::read(dst.join("a.bin")).unwrap(), b"a");
    assert!(!dst.join(".syncwright/manifests/nightly.json").exists());
    // The next run trusts nothing old: it looks at the destination, finds it complete, and commits.
    let r = engine.sync(s, d, opts()).unwrap();
    assert_eq!((r.status, r.stats.created, r.stats.unchanged), (Status::Completed, 0, 1), "{r:?}");
    assert!(dst.join(".syncwright/manifests/nightly.json").exists());
    assert!(!dst.join(".syncwright/runs/nightly.inflight").exists());
}
