//! Engine behaviour on real local trees: contents byte for byte, what is left on disk, and reports.

#[path = "support/files.rs"]
mod files;
use files::write;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use syncwright::backend::Backend;
use syncwright::backend::instrumented::{Fault, Instrumented};
use syncwright::backend::local::LocalBackend;
use syncwright::manifest::plan::{CompareMode, DestChangedPolicy};
use syncwright::manifest::scan::LinkMode;
use syncwright::progress::{ProgressSnapshot, Stage};
use syncwright::recovery::{Category, RetryPolicy};
use syncwright::report::WarningReason;
use syncwright::{Engine, EngineConfig, ErrorKind, Status, SyncOptions, SyncReport};

/// Options whose broken connections are not retried within the run (to test what the next run finds).
fn no_retry(o: SyncOptions) -> SyncOptions {
    let mut o = o;
    o.retry.set(Category::NetworkConnection, RetryPolicy { max_attempts: 1, ..RetryPolicy::NONE });
    o
}

/// Options that retry at once (no waiting in tests).
fn quick_retry(o: SyncOptions) -> SyncOptions {
    SyncOptions {
        retry: syncwright::recovery::RetryPolicies::with_delays(
            Duration::ZERO,
            Duration::ZERO,
            0.0,
        ),
        ..o
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
    engine: Engine,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    std::fs::create_dir_all(&src).unwrap();
    let engine = Engine::new(EngineConfig {
        state_dir: Some(dir.path().join("state")),
        worker_threads: 2,
        ..Default::default()
    })
    .unwrap();
    Fixture { _dir: dir, src, dst, engine }
}

impl Fixture {
    fn sync(&self, opts: SyncOptions) -> SyncReport {
        self.engine.sync(self.src.to_str().unwrap(), self.dst.to_str().unwrap(), opts).unwrap()
    }

    fn sync_with(
        &self,
        src: Arc<dyn Backend>,
        dst: Arc<dyn Backend>,
        opts: SyncOptions,
    ) -> SyncReport {
        self.engine
            .start_sync_with(src, dst, opts, None)
            .unwrap()
            .wait(Some(Duration::from_secs(120)))
            .unwrap()
    }

    fn local(&self, p: &Path) -> Arc<dyn Backend> {
        Arc::new(LocalBackend::new(p).unwrap())
    }
}

/// Deterministic bytes that are not all alike.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every entry under `root` (except .syncwright): files by content, links by target, dirs as markers.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for de in std::fs::read_dir(dir).unwrap() {
            let de = de.unwrap();
            let p = de.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if rel == ".syncwright" {
                continue;
            }
            let ft = de.file_type().unwrap();
            if ft.is_symlink() {
                out.insert(rel, format!("link:{}", std::fs::read_link(&p).unwrap().display()));
            } else if ft.is_dir() {
                out.insert(rel.clone(), "dir".into());
                walk(root, &p, out);
            } else if ft.is_file() {
                let data = std::fs::read(&p).unwrap();
                let md = std::fs::metadata(&p).unwrap();
                out.insert(
                    rel,
                    format!(
                        "file:{}:{}:{:o}",
                        syncwright::manifest::hash::sha256_bytes(&data),
                        md.len(),
                        md.permissions().mode() & 0o7777
                    ),
                );
            } else {
                out.insert(rel, "special".into());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn temporaries(root: &Path) -> Vec<String> {
    tree(root).into_keys().filter(|k| k.contains(".swtmp-")).collect()
}

fn mtime(p: &Path) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.mtime(), m.mtime_nsec())
}

#[test]
fn tree_is_copied_byte_for_byte_and_a_rerun_copies_nothing() {
    let f = fixture();
    write(&f.src, "a b/c d.png", &bytes(1, 5000));
    write(&f.src, "-rf", b"not a flag");
    write(&f.src, "--help", b"neither");
    write(&f.src, "caf\u{e9}.txt", b"nfc");
    write(&f.src, "cafe\u{301}.txt", b"nfd");
    write(&f.src, "empty.bin", b"");
    let deep: String = (0..40).map(|i| format!("d{i}/")).collect::<String>() + "leaf.txt";
    write(&f.src, &deep, b"deep");
    std::fs::create_dir_all(f.src.join("empty dir")).unwrap();
    std::os::unix::fs::symlink("a b/c d.png", f.src.join("link")).unwrap();
    std::fs::set_permissions(f.src.join("-rf"), std::fs::Permissions::from_mode(0o600)).unwrap();

    let r = f.sync(SyncOptions::default());
    assert_eq!(r.status, Status::Completed, "{r:?}");
    assert_eq!(r.stats.created, 8); // 7 files + 1 link
    assert_eq!(r.stats.dirs_created, 1);
    assert_eq!(tree(&f.src), tree(&f.dst));
    assert_eq!(mtime(&f.src.join("a b/c d.png")), mtime(&f.dst.join("a b/c d.png")));
    assert_eq!(mtime(&f.src.join("link")), mtime(&f.dst.join("link")));
    assert!(temporaries(&f.dst).is_empty());

    let again = f.sync(SyncOptions::default());
    assert_eq!(again.status, Status::Completed);
    assert_eq!(
        (again.stats.created, again.stats.updated, again.stats.bytes_transferred),
        (0, 0, 0)
    );
    assert_eq!(again.stats.unchanged, 9);

    // Checksum mode trusts the destination manifest's hashes and re-hashes the source: still nothing to copy.
    let sums = f.sync(SyncOptions { compare: CompareMode::Checksum, ..Default::default() });
    assert_eq!((sums.status, sums.stats.bytes_transferred), (Status::Completed, 0));

    // A rescan of the destination agrees too.
    let rescan = f.sync(SyncOptions { rescan_dest: true, ..Default::default() });
    assert_eq!((rescan.stats.created, rescan.stats.updated, rescan.stats.unchanged), (0, 0, 9));
}

#[test]
fn zero_byte_and_100_mb_files() {
    let f = fixture();
    write(&f.src, "zero", b"");
    let big = bytes(7, 100 * 1024 * 1024);
    write(&f.src, "big.bin", &big);
    let r = f.sync(SyncOptions { verify: true, ..Default::default() });
    assert_eq!(r.status, Status::Completed, "{r:?}");
    assert_eq!(r.stats.bytes_transferred, big.len() as u64);
    assert_eq!(std::fs::read(f.dst.join("big.bin")).unwrap(), big);
    assert_eq!(std::fs::metadata(f.dst.join("zero")).unwrap().len(), 0);
}

#[test]
fn symlink_loop_under_follow_is_reported_and_the_sync_finishes() {
    let f = fixture();
    write(&f.src, "d/file", b"x");
    std::os::unix::fs::symlink("..", f.src.join("d/up")).unwrap(); // back to the root
    std::os::unix::fs::symlink("self", f.src.join("self")).unwrap(); // ELOOP
    std::os::unix::fs::symlink("d/file", f.src.join("to-file")).unwrap();
    std::os::unix::fs::symlink("nowhere", f.src.join("dangling")).unwrap();
    let r = f.sync(SyncOptions { links: LinkMode::Follow, ..Default::default() });
    assert_eq!(r.status, Status::Completed, "{r:?}");
    let reasons: Vec<(String, WarningReason)> =
        r.warnings.iter().map(|w| (w.path.clone(), w.reason)).collect();
    assert!(reasons.contains(&("d/up".into(), WarningReason::SymlinkLoop)), "{reasons:?}");
    assert!(reasons.contains(&("self".into(), WarningReason::SymlinkLoop)), "{reasons:?}");
    assert!(reasons.contains(&("dangling".into(), WarningReason::DanglingSymlink)), "{reasons:?}");
    // The followed link became a regular file with the target's content.
    assert_eq!(std::fs::read(f.dst.join("to-file")).unwrap(), b"x");
    assert!(!std::fs::symlink_metadata(f.dst.join("to-file")).unwrap().file_type().is_symlink());
    assert!(!f.dst.join("d/up").exists());
}

#[test]
fn fifo_is_skipped_unopened_and_the_sync_finishes() {
    let f = fixture();
    write(&f.src, "a", b"a");
    let fifo = f.src.join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc_mkfifo(c.as_ptr(), 0o644) }, 0);
    let r = f.sync(SyncOptions::default());
    assert_eq!(r.status, Status::Completed);
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(
        (r.warnings[0].path.as_str(), r.warnings[0].reason),
        ("pipe", WarningReason::SpecialFile)
    );
    assert!(!f.dst.join("pipe").exists());
    assert_eq!(std::fs::read(f.dst.join("a")).unwrap(), b"a");
}

unsafe extern "C" {
    #[link_name = "mkfifo"]
    fn libc_mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
}

#[test]
fn a_file_changed_during_its_copy_is_retried_then_skipped_as_still_changing() {
    let f = fixture();
    write(&f.src, "stable", &bytes(1, 10_000));
    write(&f.src, "hot.log", &bytes(2, 300_000));
    let inst = Instrumented::new(f.local(&f.src));
    let hot = f.src.join("hot.log");
    let appended = Arc::new(AtomicU64::new(0));
    let n = appended.clone();
    // Every read of hot.log that passes byte 100,000 appends to the file, as a log writer would.
    inst.at_byte(
        Some("hot.log"),
        100_000,
        Fault::Hook(Arc::new(move |_| {
            use std::io::Write;
            let mut fh = std::fs::OpenOptions::new().append(true).open(&hot).unwrap();
            fh.write_all(b"more\n").unwrap();
            n.fetch_add(1, Ordering::SeqCst);
        })),
        true,
    );
    let opts =
        SyncOptions { still_changing_retries: 2, chunk_size: 64 * 1024, ..Default::default() };
    let r = f.sync_with(inst.backend(), f.local(&f.dst), opts);
    assert_eq!(
        r.status,
        Status::Completed,
        "a still-changing file is a warning, not an error: {r:?}"
    );
    assert_eq!(appended.load(Ordering::SeqCst), 3, "one attempt and two retries");
    assert_eq!(r.stats.retries, 2);
    assert!(
        r.warnings.iter().any(|w| w.path == "hot.log" && w.reason == WarningReason::StillChanging)
    );
    assert!(!f.dst.join("hot.log").exists());
    assert_eq!(std::fs::read(f.dst.join("stable")).unwrap(), bytes(1, 10_000));
    assert!(temporaries(&f.dst).is_empty());
}

#[test]
fn a_file_changed_once_during_its_copy_is_copied_in_its_new_version() {
    let f = fixture();
    write(&f.src, "grow.bin", &bytes(3, 200_000));
    let inst = Instrumented::new(f.local(&f.src));
    let p = f.src.join("grow.bin");
    inst.at_byte(
        Some("grow.bin"),
        50_000,
        Fault::Hook(Arc::new(move |_| {
            let mut data = std::fs::read(&p).unwrap();
            data.extend_from_slice(b"tail");
            std::fs::write(&p, data).unwrap();
        })),
        false,
    );
    let r = f.sync_with(
        inst.backend(),
        f.local(&f.dst),
        SyncOptions { chunk_size: 16 * 1024, ..Default::default() },
    );
    assert_eq!(r.status, Status::Completed, "{r:?}");
    assert_eq!(r.stats.retries, 1);
    assert_eq!(
        std::fs::read(f.dst.join("grow.bin")).unwrap(),
        std::fs::read(f.src.join("grow.bin")).unwrap()
    );
}

#[test]
fn cancel_at_byte_n_leaves_no_temporary_and_the_next_run_completes() {
    let f = fixture();
    write(&f.src, "big.bin", &bytes(4, 4 * 1024 * 1024));
    write(&f.src, "small", b"s");
    let inst = Instrumented::new(f.local(&f.src));
    let gate = inst.pause_at_byte(Some("big.bin"), 1024 * 1024 + 5);
    let dst = Instrumented::new(f.local(&f.dst));
    let opts = SyncOptions { chunk_size: 256 * 1024, transfers: 1, ..Default::default() };
    let job = f.engine.start_sync_with(inst.backend(), dst.backend(), opts, None).unwrap();
    assert!(gate.wait_reached(Duration::from_secs(60)), "the copy never reached byte N");
    let written_at_pause = dst.bytes_written();
    assert!(!temporaries(&f.dst).is_empty(), "a temporary exists while the copy is paused");
    job.cancel();
    let r = job
        .wait(Some(Duration::from_secs(60)))
        .expect("cancel returns without the gate being released");
    gate.release();
    assert_eq!(r.status, Status::Cancelled);
    // At most one more chunk moved after byte N.
    assert!(dst.bytes_written() <= written_at_pause + 256 * 1024);
    assert!(
        temporaries(&f.dst).is_empty(),
        "cancel removes its temporaries: {:?}",
        temporaries(&f.dst)
    );
    assert!(!f.dst.join("big.bin").exists());
    // The run is marked unclean, so the next one rescans and completes.
    let r2 = f.sync(SyncOptions::default());
    assert_eq!(r2.status, Status::Completed);
    assert_eq!(tree(&f.src), tree(&f.dst));
}

#[test]
fn a_partial_temporary_of_an_unchanged_source_is_resumed_and_stale_ones_swept() {
    let f = fixture();
    let data = bytes(5, 3 * 1024 * 1024);
    write(&f.src, "m.safetensors", &data);
    // A network-like failure at byte N keeps the partial file for the next run.
    let dst = Instrumented::new(f.local(&f.dst));
    dst.at_byte(Some("m.safetensors"), 2 * 1024 * 1024, Fault::Fail(ErrorKind::Network), false);
    let r = f.sync_with(
        f.local(&f.src),
        dst.backend(),
        no_retry(SyncOptions { chunk_size: 512 * 1024, ..Default::default() }),
    );
    assert_eq!(r.status, Status::Failed, "{r:?}");
    assert_eq!(r.errors[0].kind, ErrorKind::Network);
    let temps = temporaries(&f.dst);
    assert_eq!(temps.len(), 1);
    assert_eq!(std::fs::metadata(f.dst.join(&temps[0])).unwrap().len(), 2 * 1024 * 1024);
    assert!(
        !f.dst.join("m.safetensors").exists(),
        "no partial file is visible under the real name"
    );
    // A file of a temporary's form that no run marker lists is the user's: never removed or resumed.
    std::fs::write(f.dst.join(".other.bin.swtmp-0123456789abcdef"), b"junk").unwrap();

    let r2 = f.sync(SyncOptions { verify: true, ..Default::default() });
    assert_eq!(r2.status, Status::Completed, "{r2:?}");
    assert_eq!(r2.stats.bytes_transferred, 1024 * 1024, "only the missing third moved");
    assert_eq!(std::fs::read(f.dst.join("m.safetensors")).unwrap(), data);
    assert_eq!(temporaries(&f.dst), vec![".other.bin.swtmp-0123456789abcdef".to_string()]);
    assert_eq!(std::fs::read(f.dst.join(".other.bin.swtmp-0123456789abcdef")).unwrap(), b"junk");
    assert!(!r2.warnings.iter().any(|w| w.reason == WarningReason::TemporarySwept), "{r2:?}");
}

#[test]
fn a_partial_temporary_of_a_changed_source_is_not_resumed() {
    let f = fixture();
    write(&f.src, "f", &bytes(6, 1024 * 1024));
    let dst = Instrumented::new(f.local(&f.dst));
    dst.at_byte(Some("f"), 300_000, Fault::Fail(ErrorKind::Network), false);
    let r = f.sync_with(
        f.local(&f.src),
        dst.backend(),
        no_retry(SyncOptions { chunk_size: 64 * 1024, ..Default::default() }),
    );
    assert_eq!(r.status, Status::Failed);
    let new = bytes(66, 1024 * 1024);
    write(&f.src, "f", &new);
    let r2 = f.sync(SyncOptions::default());
    assert_eq!(r2.status, Status::Completed);
    assert_eq!(r2.stats.bytes_transferred, new.len() as u64);
    assert_eq!(std::fs::read(f.dst.join("f")).unwrap(), new);
    assert!(temporaries(&f.dst).is_empty());
}

#[test]
fn dry_run_writes_nothing() {
    let f = fixture();
    write(&f.src, "a", b"a");
    let r = f.sync(SyncOptions { dry_run: true, delete: true, ..Default::default() });
    assert_eq!(r.status, Status::Completed);
    assert!(r.dry_run);
    let plan = r.plan.unwrap();
    assert_eq!(plan.totals.copy_files, 1);
    assert_eq!(plan.combined(), "+ a\n");
    assert!(!f.dst.exists(), "a dry run does not even create the destination");
}

#[test]
fn mirror_deletes_are_capped_and_refused_after_errors() {
    let f = fixture();
    write(&f.src, "keep", b"k");
    write(&f.src, "old/x", b"x");
    write(&f.src, "old/y", b"y");
    assert_eq!(f.sync(SyncOptions::default()).status, Status::Completed);
    std::fs::remove_dir_all(f.src.join("old")).unwrap();

    let capped = f.sync(SyncOptions { delete: true, max_delete: Some(1), ..Default::default() });
    assert_eq!(capped.status, Status::Partial);
    assert!(capped.errors[0].error.contains("max_delete"), "{capped:?}");
    assert!(f.dst.join("old/x").exists() && f.dst.join("old/y").exists());

    // Without mirror mode nothing is deleted.
    let plain = f.sync(SyncOptions::default());
    assert_eq!(plain.stats.deleted, 0);
    assert!(f.dst.join("old/x").exists());

    // An error in the run refuses every delete.
    write(&f.src, "new", b"n");
    let src = Instrumented::new(f.local(&f.src));
    src.at_byte(Some("new"), 0, Fault::Fail(ErrorKind::Permission), false);
    let r = f.sync_with(
        src.backend(),
        f.local(&f.dst),
        SyncOptions { delete: true, max_delete: Some(10), ..Default::default() },
    );
    assert_eq!(r.status, Status::Failed, "{r:?}");
    assert!(r.warnings.iter().any(|w| w.reason == WarningReason::DeletesSkipped));
    assert!(f.dst.join("old/x").exists());

    // Two of the destination's three files: more than half, so max_delete is given.
    let ok = f.sync(SyncOptions { delete: true, max_delete: Some(2), ..Default::default() });
    assert_eq!(ok.status, Status::Completed, "{ok:?}");
    assert_eq!(ok.stats.deleted, 2);
    assert!(!f.dst.join("old").exists(), "the emptied folder is gone too");
    assert_eq!(tree(&f.src), tree(&f.dst));
}

#[test]
fn destination_edits_follow_the_policy() {
    for (policy, expect_src_content, expect_conflict_copy) in [
        (DestChangedPolicy::Overwrite, true, false),
        (DestChangedPolicy::Skip, false, false),
        (DestChangedPolicy::KeepBoth, true, true),
    ] {
        let f = fixture();
        write(&f.src, "doc.txt", b"v1");
        assert_eq!(f.sync(SyncOptions::default()).status, Status::Completed);
        write(&f.src, "doc.txt", b"v2 from source");
        write(&f.dst, "doc.txt", b"edited at the destination");
        let r = f.sync(SyncOptions { dest_changed: policy, ..Default::default() });
        assert_eq!(r.status, Status::Completed, "{policy:?}: {r:?}");
        assert!(r.warnings.iter().any(|w| w.reason == WarningReason::DestChanged), "{policy:?}");
        let now = std::fs::read(f.dst.join("doc.txt")).unwrap();
        if expect_src_content {
            assert_eq!(now, b"v2 from source");
        } else {
            assert_eq!(now, b"edited at the destination");
        }
        let conflicts: Vec<String> =
            tree(&f.dst).into_keys().filter(|k| k.contains(".conflict-")).collect();
        assert_eq!(conflicts.len(), usize::from(expect_conflict_copy), "{policy:?}: {conflicts:?}");
        if expect_conflict_copy {
            assert_eq!(
                std::fs::read(f.dst.join(&conflicts[0])).unwrap(),
                b"edited at the destination"
            );
        }
    }
}

#[test]
fn busy_files_wait_for_min_age() {
    let f = fixture();
    write(&f.src, "fresh.png", b"f");
    let r = f.sync(SyncOptions { min_age_secs: 3600.0, ..Default::default() });
    assert_eq!(r.status, Status::Completed);
    assert!(!f.dst.join("fresh.png").exists());
    assert_eq!(r.warnings[0].reason, WarningReason::Busy);
    let r = f.sync(SyncOptions::default());
    assert_eq!(r.stats.created, 1);
}

#[test]
fn progress_snapshots_arrive_and_end_at_100_percent() {
    let f = fixture();
    for i in 0..20 {
        write(&f.src, &format!("f{i}"), &bytes(i, 200_000));
    }
    let seen: Arc<Mutex<Vec<ProgressSnapshot>>> = Arc::default();
    let s = seen.clone();
    let cb = Arc::new(move |p: &ProgressSnapshot| s.lock().unwrap().push(p.clone()));
    let opts =
        SyncOptions { progress_interval_ms: 10, bwlimit: Some(20_000_000), ..Default::default() };
    let job = f
        .engine
        .start_sync(f.src.to_str().unwrap(), f.dst.to_str().unwrap(), opts, Some(cb))
        .unwrap();
    let r = job.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(r.status, Status::Completed);
    let seen = seen.lock().unwrap();
    let last = seen.last().expect("at least the final snapshot");
    assert_eq!(
        (last.stage, last.percent, last.files_done, last.bytes_done),
        (Stage::Done, 100.0, 20, 4_000_000)
    );
    assert_eq!(last.bytes_total, 4_000_000);
    // Snapshots never go backwards.
    assert!(seen.windows(2).all(|w| w[0].bytes_done <= w[1].bytes_done));
    assert_eq!(job.progress().stage, Stage::Done);
}

#[test]
fn hashes_come_from_the_cache_when_size_and_mtime_are_unchanged() {
    let f = fixture();
    let state = f.dst.parent().unwrap().join("st");
    let opts = format!(r#"{{"state_dir": "{}"}}"#, state.display());
    let fresh_opts = format!(r#"{{"state_dir": "{}"}}"#, state.with_file_name("st2").display());
    let sha = |s: &str| {
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        v["manifest"]["entries"][0]["hashes"]["sha256"].as_str().unwrap().to_string()
    };
    write(&f.src, "a", b"content");
    let first = syncwright::build_manifest_json(&f.src, Some(&opts)).unwrap();
    assert_eq!(sha(&first), syncwright::manifest::hash::sha256_bytes(b"content"));
    // Change the content but restore size and mtime: the cache answers (that is what it is for).
    let md = std::fs::metadata(f.src.join("a")).unwrap();
    std::fs::write(f.src.join("a"), b"CONTENT").unwrap();
    let fh = std::fs::File::options().write(true).open(f.src.join("a")).unwrap();
    fh.set_times(std::fs::FileTimes::new().set_modified(md.modified().unwrap())).unwrap();
    let second = syncwright::build_manifest_json(&f.src, Some(&opts)).unwrap();
    assert_eq!(sha(&second), sha(&first));
    // A store without that entry hashes the file.
    let third = syncwright::build_manifest_json(&f.src, Some(&fresh_opts)).unwrap();
    assert_eq!(sha(&third), syncwright::manifest::hash::sha256_bytes(b"CONTENT"));
}

#[test]
fn bad_input_is_a_typed_error() {
    let f = fixture();
    let e = f
        .engine
        .sync("/definitely/not/here", f.dst.to_str().unwrap(), SyncOptions::default())
        .unwrap();
    assert_eq!(e.status, Status::Failed);
    assert_eq!(e.fatal.unwrap().kind, ErrorKind::NotFound);
    let e = f.engine.start_sync("ftp://h/x", "/tmp", SyncOptions::default(), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.message().contains("unknown scheme"), "{}", e.message());
    let e =
        f.engine.start_sync("sftp://u:pw@h/x", "/tmp", SyncOptions::default(), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(!e.message().contains("pw"), "{}", e.message());
    let e = SyncOptions::from_json(Some("{\"transfer\": 3}")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[test]
fn every_state_change_of_a_job_is_an_event() {
    use syncwright::events::Event;
    let f = fixture();
    write(&f.src, "a", &bytes(9, 100_000));
    let sub = f.engine.subscribe();
    let job = f
        .engine
        .start_sync(f.src.to_str().unwrap(), f.dst.to_str().unwrap(), SyncOptions::default(), None)
        .unwrap();
    let report = job.wait(Some(Duration::from_secs(60))).unwrap();
    let mut kinds = Vec::new();
    while let Some(e) = sub.next_blocking(Some(Duration::from_secs(10))) {
        assert_eq!(e.job_id(), Some(job.id()));
        let done = matches!(e.event(), Event::JobFinished { .. });
        kinds.push(serde_json::to_value(&*e).unwrap()["type"].as_str().unwrap().to_string());
        if let Event::JobFinished { status, stats, .. } = e.event() {
            assert_eq!(*status, report.status);
            assert_eq!(stats, &report.stats);
        }
        if done {
            break;
        }
    }
    assert_eq!(kinds.first().map(String::as_str), Some("job_queued"));
    assert_eq!(kinds.get(1).map(String::as_str), Some("job_started"));
    assert_eq!(kinds.last().map(String::as_str), Some("job_finished"));
    assert!(
        kinds.iter().any(|k| k == "progress"),
        "the final progress snapshot is an event: {kinds:?}"
    );
}

#[test]
fn a_damaged_destination_manifest_is_never_trusted() {
    let f = fixture();
    write(&f.src, "a", b"one");
    write(&f.src, "b", b"two");
    assert_eq!(f.sync(SyncOptions::default()).status, Status::Completed);
    let mpath = f.dst.join(".syncwright/manifests/default.json");
    // A flipped size inside an entry: the checksum no longer matches.
    let text = std::fs::read_to_string(&mpath).unwrap().replacen("\"size\":3", "\"size\":9", 1);
    std::fs::write(&mpath, text).unwrap();
    std::fs::remove_file(f.dst.join("b")).unwrap();
    for compare in [CompareMode::SizeMtime, CompareMode::Checksum] {
        let r = f.sync(SyncOptions { compare, ..Default::default() });
        assert_eq!(r.status, Status::Completed, "{r:?}");
        assert!(
            r.warnings.iter().any(|w| w.message.contains("cannot be used")),
            "{compare:?} {r:?}"
        );
        assert_eq!(tree(&f.src), tree(&f.dst), "the scan found the missing file");
        std::fs::write(&mpath, "{ not json").unwrap();
    }
}

#[test]
fn a_broken_connection_is_retried_within_the_run_and_resumes() {
    let f = fixture();
    let data = bytes(11, 3 * 1024 * 1024);
    write(&f.src, "m.bin", &data);
    let dst = Instrumented::new(f.local(&f.dst));
    dst.at_byte(Some("m.bin"), 2 * 1024 * 1024, Fault::Fail(ErrorKind::Network), false);
    let opts = quick_retry(SyncOptions { chunk_size: 512 * 1024, ..Default::default() });
    let r = f.sync_with(f.local(&f.src), dst.backend(), opts);
    assert_eq!(r.status, Status::Completed, "{r:?}");
    assert_eq!(r.stats.retries, 1);
    assert_eq!(
        r.stats.bytes_transferred,
        data.len() as u64,
        "the second attempt resumed the partial file"
    );
    assert_eq!(std::fs::read(f.dst.join("m.bin")).unwrap(), data);
    assert!(temporaries(&f.dst).is_empty());
}

#[test]
fn a_seeded_schedule_failing_30_percent_of_calls_gives_byte_identical_output() {
    let f = fixture();
    for i in 0..60 {
        write(
            &f.src,
            &format!("d{}/f{i}.bin", i % 7),
            &bytes(100 + i, (i as usize * 7919) % 300_000),
        );
    }
    // Never more than max_attempts - 1 = 4 failures for one file, so every file gets through.
    let src = Instrumented::new(f.local(&f.src));
    src.fail_randomly(42, 0.3, ErrorKind::Network, 2);
    let dst = Instrumented::new(f.local(&f.dst));
    dst.fail_randomly(43, 0.3, ErrorKind::Network, 2);
    let opts = quick_retry(SyncOptions { chunk_size: 64 * 1024, ..Default::default() });
    let r = f.sync_with(src.backend(), dst.backend(), opts);
    assert_eq!(r.status, Status::Completed, "{:?}", r.errors);
    assert!(r.stats.retries > 0, "the schedule did fail some calls");
    assert_eq!(tree(&f.src), tree(&f.dst));
    assert!(temporaries(&f.dst).is_empty());
}

#[test]
fn dropping_the_engine_cancels_its_jobs_waits_for_them_and_ends_subscriptions() {
    let f = fixture();
    write(&f.src, "big.bin", &bytes(4, 4 * 1024 * 1024));
    let inst = Instrumented::new(f.local(&f.src));
    let gate = inst.pause_at_byte(Some("big.bin"), 1024 * 1024 + 5);
    let dst = Instrumented::new(f.local(&f.dst));
    let state = f.src.parent().unwrap().join("state-dropped");
    let config =
        || EngineConfig { state_dir: Some(state.clone()), worker_threads: 2, ..Default::default() };
    let engine = Engine::new(config()).unwrap();
    let sub = engine.subscribe();
    let opts = SyncOptions { chunk_size: 256 * 1024, transfers: 1, ..Default::default() };
    let job = engine.start_sync_with(inst.backend(), dst.backend(), opts, None).unwrap();
    assert!(gate.wait_reached(Duration::from_secs(60)), "the copy never reached byte N");
    assert!(!temporaries(&f.dst).is_empty(), "a temporary exists while the copy is paused");

    // Returns once the job has stopped (the paused copy sees the cancel without the gate being released).
    drop(engine);
    let r = job.report().expect("the job has ended when the engine is gone");
    gate.release();
    assert_eq!(r.status, Status::Cancelled);
    assert!(temporaries(&f.dst).is_empty(), "{:?}", temporaries(&f.dst));
    assert!(!f.dst.join("big.bin").exists());

    // The subscription gets what was queued, the job's end included, then None instead of waiting forever.
    let mut finished = None;
    while let Some(e) = sub.next_blocking(None) {
        if let syncwright::events::Event::JobFinished { status, .. } = e.event() {
            finished = Some(*status);
        }
    }
    assert_eq!(finished, Some(Status::Cancelled));

    // The stored record says so too: not "running", nor "interrupted" for the next engine to find.
    let again = Engine::new(config()).unwrap();
    let op = again.operation(job.id()).unwrap();
    assert_eq!(op.state, syncwright::state::operations::OperationState::Cancelled, "{op:?}");
}

#[test]
fn renames_are_retried_on_a_flaky_link_and_leave_no_temporary_when_they_fail_for_good() {
    let f = fixture();
    write(&f.src, "a.bin", &bytes(7, 100_000));
    write(&f.src, "b.bin", &bytes(8, 100_000));
    write(&f.src, "c.txt", b"c");
    let dst = Instrumented::new(f.local(&f.dst));
    // The commit of a.bin (its rename after the batch's flush) fails twice as a network error would, b.bin's
    // once with permission denied (not retryable).
    dst.fail_renames("a.bin", 2, ErrorKind::Network);
    dst.fail_renames("b.bin", 1, ErrorKind::Permission);
    let r = f.sync_with(f.local(&f.src), dst.backend(), quick_retry(SyncOptions::default()));
    assert_eq!(r.status, Status::Partial, "{r:#?}");
    assert_eq!(r.stats.retries, 2, "{r:#?}");
    assert_eq!(
        std::fs::read(f.dst.join("a.bin")).unwrap(),
        bytes(7, 100_000),
        "retried within the run"
    );
    assert_eq!(std::fs::read(f.dst.join("c.txt")).unwrap(), b"c");
    assert_eq!(r.errors.len(), 1, "{r:#?}");
    assert_eq!((r.errors[0].path.as_str(), r.errors[0].kind), ("b.bin", ErrorKind::Permission));
    assert!(!f.dst.join("b.bin").exists());
    assert!(temporaries(&f.dst).is_empty(), "{:?}", temporaries(&f.dst));
    // The next run copies what is missing.
    let r = f.sync(SyncOptions::default());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(tree(&f.src), tree(&f.dst));
}

#[test]
fn close_cancels_and_waits_for_running_jobs_ends_subscriptions_and_refuses_new_jobs() {
    let f = fixture();
    write(&f.src, "big", &bytes(7, 4_000_000));
    let sub = f.engine.subscribe();
    // 100 kB/s: the copy would take 40 s; close must stop it within a chunk.
    let opts = SyncOptions { bwlimit: Some(100_000), ..Default::default() };
    let job =
        f.engine.start_sync(f.src.to_str().unwrap(), f.dst.to_str().unwrap(), opts, None).unwrap();
    // Started for sure: its job_started event came.
    loop {
        let e = sub.next_blocking(Some(Duration::from_secs(30))).expect("the job starts");
        if e.event().type_name() == "job_started" {
            break;
        }
    }
    f.engine.close();
    assert!(f.engine.is_closed());
    let r = job.report().expect("close returned after the job ended");
    assert_eq!(r.status, Status::Cancelled);
    assert!(temporaries(&f.dst).is_empty(), "the temporary went with the cancelled copy");
    // The subscription ends once its queued events are read.
    while sub.next_blocking(Some(Duration::from_secs(30))).is_some() {}
    assert!(sub.is_closed());
    let e = f.engine.start_sync(
        f.src.to_str().unwrap(),
        f.dst.to_str().unwrap(),
        SyncOptions::default(),
        None,
    );
    assert_eq!(e.unwrap_err().kind(), syncwright::ErrorKind::InvalidInput);
    // Calls that only read still answer; closing again does nothing more.
    assert!(f.engine.active_jobs().is_empty());
    f.engine.close();
}
