//! The Google Drive backend against the fake Drive in `gdrive_fake/` (a real HTTP server speaking the v3 wire
//! format): push and pull, resumable uploads cut and resumed, rate limits and 5xx retried, tokens refreshed,
//! mirror deletes, auth failures without secrets, and offline dry runs from the cached manifest.

#[path = "support/files.rs"]
mod files;
use files::files;

mod gdrive_fake;

use gdrive_fake::{Fake, FaultKind, Target, TestKey};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};
use syncwright::manifest::plan::{CompareMode, Op};
use syncwright::recovery::{Category, RetryPolicy};
use syncwright::report::WarningReason;
use syncwright::{Engine, EngineConfig, ErrorKind, Status, SyncOptions, SyncReport};

const PARENT: &str = "1ParentFolder_Files";
const MANIFESTS: &str = "1ManifestFolder";
const CHUNK: u64 = 256 << 10;
const SNAP: &str = "nightly";

fn key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::generate)
}

struct H {
    dir: tempfile::TempDir,
    fake: Fake,
    creds: PathBuf,
    engine: Engine,
}

fn harness() -> H {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::start(key());
    fake.add_folder(PARENT);
    fake.add_folder(MANIFESTS);
    let creds = fake.write_credentials(dir.path(), key());
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    let engine = Engine::new(EngineConfig {
        state_dir: Some(dir.path().join("state")),
        worker_threads: 2,
        ..Default::default()
    })
    .unwrap();
    H { dir, fake, creds, engine }
}

impl H {
    fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }

    /// Options that retry at once, with small chunks so that a few hundred KiB take the resumable path.
    fn opts(&self) -> SyncOptions {
        let mut o = SyncOptions {
            name: SNAP.into(),
            retry: syncwright::recovery::RetryPolicies::with_delays(
                Duration::ZERO,
                Duration::ZERO,
                0.0,
            ),
            ..Default::default()
        };
        o.remote.gdrive.credentials = Some(self.creds.clone());
        o.remote.gdrive.api_base = Some(self.fake.base.clone());
        o.remote.gdrive.manifest_parent_id = Some(MANIFESTS.into());
        o.remote.gdrive.chunk_size = CHUNK;
        o
    }

    fn push(&self, o: SyncOptions) -> SyncReport {
        self.engine.sync(self.src().to_str().unwrap(), &format!("gdrive://{PARENT}"), o).unwrap()
    }

    fn pull(&self, to: &Path, o: SyncOptions) -> SyncReport {
        self.engine.sync(&format!("gdrive://{PARENT}"), to.to_str().unwrap(), o).unwrap()
    }

    fn write(&self, rel: &str, data: &[u8], mtime_secs: u64) {
        let p = self.src().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(UNIX_EPOCH + Duration::new(mtime_secs, 123_456_789)).unwrap();
    }

    /// The snapshot's files in Drive: path → content (folders end with `/`).
    fn remote(&self) -> BTreeMap<String, Vec<u8>> {
        self.fake
            .tree(PARENT)
            .into_iter()
            .filter_map(|(p, f)| {
                p.strip_prefix(&format!("{SNAP}/")).map(|p| (p.to_string(), f.content))
            })
            .filter(|(p, _)| !p.is_empty())
            .collect()
    }

    fn manifest(&self) -> Option<Vec<u8>> {
        self.fake.tree(MANIFESTS).get(&format!("{SNAP}.json")).map(|f| f.content.clone())
    }

    fn inflight(&self) -> bool {
        self.fake.tree(MANIFESTS).contains_key(&format!(".syncwright.runs~{SNAP}.inflight"))
    }

    /// Fails when two live entries of one folder share a name.
    fn assert_no_duplicates(&self) {
        let s = self.fake.state.lock().unwrap();
        let mut seen = std::collections::HashSet::new();
        for f in s.files.values().filter(|f| !f.trashed) {
            for p in &f.parents {
                assert!(seen.insert((p.clone(), f.name.clone())), "duplicate {} in {p}", f.name);
            }
        }
    }
}

fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn local_tree(root: &Path) -> BTreeMap<String, (Vec<u8>, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            if rel.starts_with(".syncwright") {
                continue;
            }
            let md = std::fs::metadata(&p).unwrap();
            let mtime =
                md.modified().unwrap().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
            if md.is_dir() {
                if std::fs::read_dir(&p).unwrap().next().is_none() {
                    out.insert(format!("{rel}/"), (vec![], 0));
                }
                stack.push(p);
            } else {
                out.insert(rel, (std::fs::read(&p).unwrap(), mtime));
            }
        }
    }
    out
}

/// A tree with nested folders, an empty file, an empty folder, a folder that takes several list pages, and a
/// file of three chunks and a bit.
fn make_tree(h: &H) -> usize {
    h.write("top.txt", b"top", 1_700_000_000);
    h.write("a/b/c.txt", b"deep", 1_700_000_001);
    h.write("a/empty.bin", b"", 1_700_000_002);
    for i in 0..7 {
        h.write(&format!("many/f{i}.txt"), format!("file {i}").as_bytes(), 1_700_000_010 + i);
    }
    h.write("big.bin", &pseudo_random(1, 3 * CHUNK as usize + 1000), 1_700_000_100);
    std::fs::create_dir_all(h.src().join("e/f")).unwrap();
    11
}

#[test]
fn push_and_pull_a_tree_byte_for_byte() {
    let h = harness();
    let files = make_tree(&h);
    let r = h.push(h.opts());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!((r.stats.created, r.stats.dirs_created), (files as u64, 1), "{r:#?}");
    h.assert_no_duplicates();

    // What Drive holds: every file under nightly/, folders for each path segment, the empty folder.
    let remote = h.remote();
    let local = local_tree(&h.src());
    for (rel, (data, _)) in &local {
        assert_eq!(remote.get(rel.as_str()), Some(data), "{rel}");
    }
    assert!(
        remote.contains_key("a/") && remote.contains_key("a/b/") && remote.contains_key("e/f/")
    );
    let c = h.fake.counters();
    assert!(c.resumable_starts >= 1 && c.chunk_puts >= 4, "{c:?}");
    assert!(c.multipart >= files as u64 - 1, "{c:?}");

    // Properties: the exact mtime, the mode, SHA-256 and BLAKE3 (also on the resumable upload).
    let tree = h.fake.tree(PARENT);
    for rel in ["big.bin", "top.txt"] {
        let f = &tree[&format!("{SNAP}/{rel}")];
        let data = &local[rel].0;
        assert_eq!(f.app_properties["sw_mtime_ns"], local[rel].1.to_string(), "{rel}");
        assert_eq!(f.app_properties["sw_mode"], "644", "{rel}");
        assert_eq!(f.app_properties["sw_sha256"], hex::encode(sha2::Sha256::digest(data)), "{rel}");
        assert_eq!(f.app_properties["sw_blake3"], blake3::hash(data).to_hex().as_str(), "{rel}");
        assert!(f.modified_time.starts_with("2023-11-1"), "{}", f.modified_time);
    }
    // The manifest is in the manifest folder; the run marker is gone.
    let manifest = String::from_utf8(h.manifest().expect("manifest written")).unwrap();
    assert!(manifest.contains("\"path\":\"big.bin\"") && manifest.contains("sha256"), "{manifest}");
    assert!(!h.inflight());
    assert_eq!(h.fake.open_sessions(), 0);

    // A rerun with nothing to do lists the tree (a file removed or edited in Drive is seen) and reads the
    // manifest once; it writes nothing.
    let before = h.fake.counters();
    let r = h.push(h.opts());
    assert_eq!((r.status, r.stats.created, r.stats.updated), (Status::Completed, 0, 0), "{r:#?}");
    let after = h.fake.counters();
    assert!(after.lists - before.lists > 2, "the tree is listed: {before:?} {after:?}");
    assert_eq!(after.media - before.media, 1, "one manifest download");
    let writes =
        |c: &gdrive_fake::Counters| c.creates + c.updates + c.multipart + c.resumable_starts;
    assert_eq!(writes(&after), writes(&before), "nothing written");
    assert_eq!(after.token - before.token, 1);
    // Trusting the manifest (for destinations only syncwright writes): the state lookup and the manifest
    // download, no listing of the tree.
    let before = h.fake.counters();
    let r = h.push(SyncOptions { trust_dest_manifest: true, ..h.opts() });
    assert_eq!((r.status, r.stats.created, r.stats.updated), (Status::Completed, 0, 0), "{r:#?}");
    let after = h.fake.counters();
    assert_eq!(after.requests - before.requests, 2, "{before:?} {after:?}");
    assert_eq!((after.lists - before.lists, after.media - before.media), (1, 1));

    // Pull it back byte for byte, mtimes included (the folder listings take several pages).
    let pulled = h.dir.path().join("pulled");
    let before = h.fake.counters();
    let r = h.pull(&pulled, h.opts());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(r.stats.created, files as u64);
    assert!(h.fake.counters().lists - before.lists > 6, "paged listings");
    assert_eq!(local_tree(&pulled), local);

    // An edited file replaces the content of the same Drive file: no duplicate, same id.
    let id = h.fake.tree(PARENT)[&format!("{SNAP}/big.bin")].id.clone();
    h.write("big.bin", &pseudo_random(2, 2 * CHUNK as usize + 5), 1_700_000_200);
    h.write("top.txt", b"top, edited", 1_700_000_201);
    let r = h.push(h.opts());
    assert_eq!((r.status, r.stats.updated), (Status::Completed, 2), "{r:#?}");
    h.assert_no_duplicates();
    let tree = h.fake.tree(PARENT);
    assert_eq!(tree[&format!("{SNAP}/big.bin")].id, id);
    assert_eq!(tree[&format!("{SNAP}/big.bin")].content, pseudo_random(2, 2 * CHUNK as usize + 5));
    assert_eq!(tree[&format!("{SNAP}/top.txt")].content, b"top, edited");
    let data = pseudo_random(2, 2 * CHUNK as usize + 5);
    assert_eq!(
        tree[&format!("{SNAP}/big.bin")].app_properties["sw_sha256"],
        hex::encode(sha2::Sha256::digest(&data)),
        "the old hash was replaced"
    );

    // A checksum comparison uses Drive's own SHA-256 of each file: nothing to copy, no file content read.
    let before = h.fake.counters();
    let r = h.push(SyncOptions { compare: CompareMode::Checksum, ..h.opts() });
    assert_eq!((r.status, r.stats.created, r.stats.updated), (Status::Completed, 0, 0), "{r:#?}");
    // One download: the stored manifest (read to tell edits apart); no file content.
    assert_eq!(h.fake.counters().media, before.media + 1);
    // An edit made in Drive behind the same size keeps syncwright's appProperties: only Drive's checksum shows
    // it, and -c puts the source version back.
    let top = h.fake.tree(PARENT)[&format!("{SNAP}/top.txt")].id.clone();
    h.fake.edit_content(&top, b"TOP, EDITED");
    let r = h.push(h.opts());
    assert_eq!((r.status, r.stats.updated), (Status::Completed, 0), "{r:#?}");
    let r = h.push(SyncOptions { compare: CompareMode::Checksum, ..h.opts() });
    assert_eq!((r.status, r.stats.updated), (Status::Completed, 1), "{r:#?}");
    assert_eq!(h.fake.tree(PARENT)[&format!("{SNAP}/top.txt")].content, b"top, edited");
    // A backup folder inside the snapshot (excluded) keeps the version a run overwrites: moved in Drive.
    h.write("top.txt", b"top, edited twice", 1_700_000_300);
    let backed =
        SyncOptions { backup_dir: Some(".bk".into()), exclude: vec!["/.bk/".into()], ..h.opts() };
    let r = h.push(backed);
    assert_eq!((r.status, r.stats.updated), (Status::Completed, 1), "{r:#?}");
    let tree = h.fake.tree(PARENT);
    assert_eq!(tree[&format!("{SNAP}/.bk/top.txt")].content, b"top, edited");
    assert_eq!(tree[&format!("{SNAP}/top.txt")].content, b"top, edited twice");
    h.assert_no_duplicates();
}

/// Options whose broken connections are not retried within the run, nor the run itself.
fn no_retry(mut o: SyncOptions) -> SyncOptions {
    o.retry.set(Category::NetworkConnection, RetryPolicy { max_attempts: 1, ..RetryPolicy::NONE });
    o.max_attempts = 1;
    o
}

#[test]
fn an_interrupted_resumable_upload_resumes_in_the_next_run() {
    let h = harness();
    let size = 8 * CHUNK as usize + 10;
    let big = pseudo_random(3, size);
    h.write("big.bin", &big, 1_700_000_000);
    h.write("small.txt", b"small", 1_700_000_000);
    // The connection breaks in the middle of the fifth chunk; the server keeps four chunks.
    h.fake.cut_upload_at(4 * CHUNK + 1000);
    let r = h.push(no_retry(h.opts()));
    assert_eq!(r.status, Status::Partial, "{r:#?}");
    assert_eq!(r.errors.len(), 1, "{r:#?}");
    assert_eq!((r.errors[0].path.as_str(), r.errors[0].kind), ("big.bin", ErrorKind::Network));
    assert_eq!(h.fake.counters().cuts, 1);
    // Nothing half-written is visible, the manifest is not written, the run stays marked unclean.
    assert!(!h.remote().contains_key("big.bin"));
    assert_eq!(h.remote().get("small.txt").map(Vec::as_slice), Some(&b"small"[..]));
    assert!(h.manifest().is_none() && h.inflight());
    assert_eq!(h.fake.open_sessions(), 1);
    let saved = files(&h.dir.path().join("state/cache"))
        .into_iter()
        .filter(|p| p.contains("/uploads/"))
        .collect::<Vec<_>>();
    assert_eq!(saved.len(), 1, "the session is kept locally: {saved:?}");
    let text = std::fs::read_to_string(&saved[0]).unwrap();
    assert!(text.contains("big.bin"));

    // The next run asks the session where it stopped and sends only the rest.
    let before = h.fake.counters();
    let r = h.push(h.opts());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    let after = h.fake.counters();
    let resent = after.uploaded("big.bin") - before.uploaded("big.bin");
    assert_eq!(resent, (size - 4 * CHUNK as usize) as u64, "{before:?} {after:?}");
    assert!(resent < size as u64);
    assert_eq!(after.status_queries - before.status_queries, 1);
    assert_eq!(after.resumable_starts, before.resumable_starts, "no new session");
    assert_eq!(h.remote()["big.bin"], big);
    assert!(h.manifest().is_some() && !h.inflight());
    assert!(
        files(&h.dir.path().join("state/cache")).iter().all(|p| !p.contains("/uploads/nightly/"))
    );
    h.assert_no_duplicates();
}

#[test]
fn a_cut_upload_is_resumed_by_the_retry_within_the_run() {
    let h = harness();
    let size = 6 * CHUNK as usize + 3;
    let big = pseudo_random(4, size);
    h.write("big.bin", &big, 1_700_000_000);
    h.fake.cut_upload_at(2 * CHUNK + 7);
    let r = h.push(h.opts());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert!(r.stats.retries >= 1, "{r:#?}");
    let c = h.fake.counters();
    assert_eq!(c.cuts, 1);
    // Two chunks and 7 bytes went before the cut, the server kept two chunks, the rest followed.
    assert_eq!(c.uploaded("big.bin"), (size + 7) as u64, "{c:?}");
    assert_eq!(h.remote()["big.bin"], big);
}

#[test]
fn rate_limits_are_retried_by_the_recovery_layer() {
    let h = harness();
    make_tree(&h);
    // File uploads throttled: each file is retried by itself (the resumable one at its session start and chunks).
    h.fake.inject(Target::UploadsOf("top.txt".into()), FaultKind::UserRateLimit, 2);
    h.fake.inject(Target::UploadsOf("big.bin".into()), FaultKind::TooManyRequests(Some(0)), 2);
    // The first listing of the run (the state lookup) is throttled too: the whole run is tried again.
    h.fake.inject(Target::Lists, FaultKind::TooManyRequests(None), 1);
    let r = h.push(h.opts());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(h.fake.counters().faults, 5);
    assert!(r.stats.retries >= 4, "{:?}", r.stats);
    assert_eq!(
        local_tree(&h.src()).len(),
        h.remote().keys().filter(|k| !k.ends_with('/')).count() + 1
    );
    assert!(h.manifest().is_some());
    h.assert_no_duplicates();
}

#[test]
fn server_errors_are_retried_and_a_persistent_one_leaves_the_run_partial() {
    let h = harness();
    h.write("ok.txt", b"ok", 1_700_000_000);
    h.write("big.bin", &pseudo_random(5, 2 * CHUNK as usize), 1_700_000_000);
    h.fake.inject(Target::UploadsOf("big.bin".into()), FaultKind::Server(503), 2);
    h.fake.inject(Target::Any, FaultKind::Server(500), 1);
    let r = h.push(h.opts());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(h.fake.counters().faults, 3);
    let first_manifest = h.manifest().unwrap();

    // A file whose uploads always fail: retried, then reported; the rest is copied, the manifest kept.
    h.write("ok2.txt", b"ok2", 1_700_000_001);
    h.write("broken.bin", b"never", 1_700_000_001);
    h.fake.inject(Target::UploadsOf("broken.bin".into()), FaultKind::Server(500), u64::MAX);
    let r = h.push(h.opts());
    assert_eq!(r.status, Status::Partial, "{r:#?}");
    assert_eq!(r.errors.len(), 1, "{r:#?}");
    assert_eq!(
        (r.errors[0].path.as_str(), r.errors[0].kind),
        ("broken.bin", ErrorKind::Unavailable)
    );
    assert!(r.errors[0].error.contains("500"), "{}", r.errors[0].error);
    assert!(r.stats.retries >= 4, "{:?}", r.stats);
    assert_eq!(h.remote().get("ok2.txt").map(Vec::as_slice), Some(&b"ok2"[..]));
    assert!(!h.remote().contains_key("broken.bin"));
    assert_eq!(h.manifest().unwrap(), first_manifest, "the manifest is not updated");
    assert!(h.inflight());

    // Drive recovers: the next run looks at the destination and finishes.
    h.fake.clear_faults();
    let r = h.push(h.opts());
    assert_eq!((r.status, r.stats.created), (Status::Completed, 1), "{r:#?}");
    assert!(h.manifest().unwrap() != first_manifest && !h.inflight());
}

#[test]
fn a_token_that_expires_mid_run_is_refreshed() {
    let h = harness();
    make_tree(&h);
    h.fake.expire_next_token_after(6);
    // Verified copies: each file is read back after its upload.
    let r = h.push(SyncOptions { verify: true, ..h.opts() });
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    let c = h.fake.counters();
    assert_eq!(c.token, 2, "{c:?}");
    assert!(c.unauthorized >= 1, "{c:?}");
    assert_eq!(r.stats.retries, 0, "a refresh is not a retry: {:?}", r.stats);
    assert!(c.media >= 11, "every file was read back: {c:?}");
    h.assert_no_duplicates();
}

#[test]
fn mirror_deletes_files_and_emptied_folders() {
    let h = harness();
    make_tree(&h);
    assert_eq!(h.push(h.opts()).status, Status::Completed);
    std::fs::remove_dir_all(h.src().join("a")).unwrap();
    std::fs::remove_file(h.src().join("many/f3.txt")).unwrap();
    let r = h.push(SyncOptions { delete: true, ..h.opts() });
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(r.stats.deleted, 3, "{r:#?}");
    let remote = h.remote();
    assert!(!remote.keys().any(|k| k.starts_with("a/")), "{:?}", remote.keys());
    assert!(!remote.contains_key("many/f3.txt") && remote.contains_key("many/f4.txt"));
    assert!(remote.contains_key("e/f/"), "the empty folder of the source stays");
    // The manifest says the same: a rerun does nothing.
    let r = h.push(SyncOptions { delete: true, ..h.opts() });
    assert_eq!((r.status, r.stats.deleted, r.stats.created), (Status::Completed, 0, 0), "{r:#?}");
}

#[test]
fn a_wrong_key_is_an_auth_error_that_shows_no_secret() {
    let h = harness();
    h.write("a.txt", b"a", 1_700_000_000);
    let other = TestKey::generate();
    let wrong = h.dir.path().join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    let creds = h.fake.write_credentials(&wrong, &other);
    let mut o = h.opts();
    o.remote.gdrive.credentials = Some(creds.clone());
    let r = h.push(o.clone());
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    let fatal = r.fatal.as_ref().unwrap();
    assert_eq!(fatal.kind, ErrorKind::Auth, "{fatal:?}");
    assert!(
        fatal.error.contains("invalid_grant") && fatal.error.contains(gdrive_fake::CLIENT_EMAIL)
    );
    let pem_body: String = other.pem.lines().nth(1).unwrap().to_string();
    let shown = format!("{r:?} {}", serde_json::to_string(&r).unwrap());
    for secret in [pem_body.as_str(), "PRIVATE KEY", "eyJ", "ya29."] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert_eq!(h.fake.counters().token, 1, "auth failures are not retried");

    // A key file that is no key: refused when opening, without its content.
    std::fs::write(
        &creds,
        serde_json::json!({"type": "service_account", "client_email": "x@y", "private_key":
            "-----BEGIN PRIVATE KEY-----\nU0VDUkVUU0VDUkVU\n-----END PRIVATE KEY-----\n",
            "token_uri": h.fake.token_uri()})
        .to_string(),
    )
    .unwrap();
    let e = h
        .engine
        .sync(h.src().to_str().unwrap(), &format!("gdrive://{PARENT}"), o.clone())
        .map(|r| r.fatal.map(|f| (f.kind, f.error)))
        .map_err(|e| (e.kind(), e.message().to_string()));
    let (kind, msg) = match e {
        Ok(Some(f)) | Err(f) => f,
        Ok(None) => panic!("a broken key was accepted"),
    };
    assert_eq!(kind, ErrorKind::Auth, "{msg}");
    assert!(!msg.contains("U0VDUkVU"), "{msg}");

    // Options and backends never show the key either.
    o.remote.gdrive.credentials = Some(h.creds.clone());
    let b = syncwright::backend::open_with(
        &format!("gdrive://{PARENT}"),
        &syncwright::backend::OpenOptions {
            snapshot: Some(SNAP.into()),
            remote: o.remote.clone(),
            cache_dir: None,
            ..Default::default()
        },
    )
    .unwrap();
    let dbg = format!("{b:?} {o:?}");
    assert!(!dbg.contains("PRIVATE KEY") && !dbg.contains(&key().pem[40..80]), "{dbg}");
}

#[test]
fn an_offline_dry_run_plans_from_the_cached_manifest() {
    let mut h = harness();
    h.write("one.txt", b"one", 1_700_000_000);
    assert_eq!(h.push(h.opts()).status, Status::Completed);
    h.write("two.txt", b"two", 1_700_000_001);
    h.fake.stop();
    let mut o = no_retry(h.opts());
    o.dry_run = true;
    let r = h.push(o.clone());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    let w = r.warnings.iter().find(|w| w.reason == WarningReason::RemoteUnreachable).unwrap();
    assert!(w.message.contains("cached at"), "{w:?}");
    let plan = r.plan.unwrap();
    let copies: Vec<_> =
        plan.actions.iter().filter(|a| a.op == Op::Copy).map(|a| a.path.as_str()).collect();
    assert_eq!(copies, ["two.txt"]);
    // A real run does not plan against the cache.
    o.dry_run = false;
    let r = h.push(o);
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert_eq!(r.fatal.unwrap().kind, ErrorKind::Network);
}

#[test]
fn files_made_by_other_tools_are_read_with_care() {
    let h = harness();
    h.write("x.txt", b"x", 1_700_000_000);
    assert_eq!(h.push(h.opts()).status, Status::Completed);
    let root = h.fake.tree(PARENT)[&format!("{SNAP}/")].id.clone();
    h.fake.add_file(&root, "notes", "application/vnd.google-apps.document", b"");
    h.fake.add_file(&root, "twice.txt", "text/plain", b"old");
    h.fake.add_file(&root, "twice.txt", "text/plain", b"new");
    h.fake.add_file(&root, "plain.txt", "text/plain", b"plain");
    h.fake.add_file(&root, "a/b.txt", "text/plain", b"slash");
    let pulled = h.dir.path().join("pulled");
    let r = h.pull(&pulled, h.opts());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    let reasons: Vec<_> = r.warnings.iter().map(|w| (w.path.as_str(), w.reason)).collect();
    assert!(reasons.contains(&("notes", WarningReason::NoContent)), "{reasons:?}");
    assert!(reasons.contains(&("twice.txt", WarningReason::DuplicateName)), "{reasons:?}");
    assert!(reasons.contains(&("a/b.txt", WarningReason::UnusableName)), "{reasons:?}");
    assert!(!pulled.join("a").exists(), "a name with a slash in it is no path");
    assert_eq!(std::fs::read(pulled.join("plain.txt")).unwrap(), b"plain");
    assert_eq!(std::fs::read(pulled.join("x.txt")).unwrap(), b"x");
    assert!(pulled.join("twice.txt").exists() && !pulled.join("notes").exists());
    // Symlinks cannot go to Drive: skipped with a warning.
    std::os::unix::fs::symlink("x.txt", h.src().join("link")).unwrap();
    let r = h.push(h.opts());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert!(r.warnings.iter().any(|w| w.reason == WarningReason::SymlinkSkipped), "{r:#?}");
}

/// Issue 16: the service account comes from the vault (`<key>.credentials`, document 3's `cloud_sync.gdrive`) by
/// `credentials_key`, for a plain sync and for document 3's cloud run to Drive; no key file is named anywhere.
#[test]
fn the_service_account_comes_from_the_vault_for_syncs_and_cloud_runs() {
    let h = harness();
    h.write("a.png", b"from the vault's account", 1_700_000_000);
    let account: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&h.creds).unwrap()).unwrap();
    std::fs::remove_file(&h.creds).unwrap();
    let d = h.dir.path();
    let engine = Engine::new(EngineConfig {
        state_dir: Some(d.join("state2")),
        worker_threads: 2,
        config: Some(serde_json::json!({
            "settings": {"vault": d.join("vault.json"), "vault_kdf": {"m_kib": 64, "t": 1, "p": 1}},
            "features": {"enable_cloud_sync": true, "enable_cloud_sync_gdrive": true},
            "cloud_sync": {
                "root": h.src(),
                "gdrive": {
                    "parent_id": PARENT, "manifest_parent_id": MANIFESTS,
                    "api_base": h.fake.base, "credentials_key": "cloud_sync.gdrive",
                },
            },
        })),
        ..Default::default()
    })
    .unwrap();
    engine.vault_init(Some(&syncwright::vault::Secret::new("pp"))).unwrap();
    engine
        .vault_set("cloud_sync.gdrive", serde_json::json!({"credentials": account}), None)
        .unwrap();
    let mut o = h.opts();
    o.remote.gdrive.credentials = None;
    o.remote.gdrive.credentials_key = Some("cloud_sync.gdrive".into());
    let r = engine.sync(h.src().to_str().unwrap(), &format!("gdrive://{PARENT}"), o).unwrap();
    assert_eq!((r.status, r.stats.created), (Status::Completed, 1), "{}", r.to_json());
    assert_eq!(h.remote().get("a.png").map(Vec::as_slice), Some(&b"from the vault's account"[..]));

    h.write("b.txt", b"second", 1_700_000_100);
    let req = syncwright::engine::cloud::CloudRequest {
        service: "gdrive".into(),
        snapshot: Some("milestone-12".into()),
        ..Default::default()
    };
    let run = engine.cloud_run(&req).unwrap();
    assert_eq!(
        (run.summary.status.as_str(), run.summary.uploads.len()),
        ("completed", 2),
        "{run:?}"
    );
    let again = engine.cloud_dry_run(&req).unwrap();
    assert_eq!((again.summary.uploads.len(), again.summary.unchanged), (0, 2), "{again:?}");
}
