//! The SFTP backend against a real OpenSSH server on 127.0.0.1 (started by the tests, with generated keys):
//! push, pull and remote-to-remote byte for byte, no-change runs that read the manifest instead of walking the
//! host, connections cut at byte N (nothing corrupt visible, the rerun resumes), host keys, secrets, and offline
//! dry runs from the cached manifest.

#[path = "support/files.rs"]
mod files;
use files::{files, write};

#[path = "support/sshd.rs"]
mod sshd;

use sshd::{Direction, Proxy, Sshd};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use syncwright::manifest::plan::{CompareMode, Op};
use syncwright::recovery::{Category, RetryPolicy};
use syncwright::report::WarningReason;
use syncwright::{Engine, EngineConfig, ErrorKind, Status, SyncOptions, SyncReport};

fn engine(dir: &Path) -> Engine {
    Engine::new(EngineConfig {
        state_dir: Some(dir.join("state")),
        worker_threads: 2,
        ..Default::default()
    })
    .unwrap()
}

fn opts(s: &Sshd) -> SyncOptions {
    let mut o = SyncOptions { name: "media".into(), ..Default::default() };
    o.remote.sftp = s.options();
    o
}

/// Options under which a broken connection ends the run at once (to see what the next run finds).
fn no_retry(mut o: SyncOptions) -> SyncOptions {
    o.max_attempts = 1;
    for c in [Category::NetworkConnection, Category::NetworkTimeout, Category::Unknown] {
        o.retry.set(c, RetryPolicy { max_attempts: 1, ..RetryPolicy::NONE });
    }
    o
}

fn sync(e: &Engine, src: &str, dst: &str, o: SyncOptions) -> SyncReport {
    e.sync(src, dst, o).unwrap()
}

fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// Every entry below `root` (syncwright's state left out): kind, content, mode, mtime in seconds, link target.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            if rel == ".syncwright" {
                continue;
            }
            let md = std::fs::symlink_metadata(&p).unwrap();
            let v = if md.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if md.is_dir() {
                stack.push(p.clone());
                if std::fs::read_dir(&p).unwrap().next().is_some() {
                    continue;
                }
                "empty dir".to_string()
            } else {
                let data = std::fs::read(&p).unwrap();
                format!(
                    "file {} {} mode {:o} mtime {}",
                    data.len(),
                    blake3::hash(&data).to_hex(),
                    md.permissions().mode() & 0o7777,
                    md.mtime()
                )
            };
            out.insert(rel, v);
        }
    }
    out
}

fn sample_tree(root: &Path) {
    write(root, "outputs/2025-10-01/00001-123.png", &bytes(1, 300_000));
    write(root, "outputs/2025-10-01/meta 00001.json", b"{\"prompt\": \"a cat\"}");
    write(root, "outputs/-leading-dash.txt", b"dash");
    write(root, "outputs/caf\u{e9}.txt", b"nfc");
    write(root, "models/lora.safetensors", &bytes(2, 3 << 20));
    write(root, "empty.bin", b"");
    std::fs::create_dir_all(root.join("empty-folder")).unwrap();
    std::os::unix::fs::symlink("outputs/-leading-dash.txt", root.join("latest")).unwrap();
    std::fs::set_permissions(
        root.join("outputs/-leading-dash.txt"),
        PermissionsExt::from_mode(0o600),
    )
    .unwrap();
}

#[test]
fn push_and_pull_trees_byte_for_byte_and_reruns_list_the_host() {
    let s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let (src, remote, back) =
        (dir.path().join("src"), dir.path().join("remote"), dir.path().join("back"));
    sample_tree(&src);
    let e = engine(dir.path());
    let url = s.url(&remote, None);
    let (src_s, back_s) = (src.to_str().unwrap(), back.to_str().unwrap());

    // Push: local -> host.
    let r = sync(&e, src_s, &url, opts(&s));
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(r.stats.created, 7, "{r:#?}");
    assert_eq!(tree(&src), tree(&remote));
    assert!(remote.join(".syncwright/manifests/media.json").is_file());
    assert!(!r.destination.contains("BEGIN"), "no key material in reports");

    // A no-change push lists the host: a file put there behind syncwright's back is seen (mirror mode would
    // delete it), and one removed there is put back.
    write(&remote, "outputs/not-from-syncwright.txt", b"x");
    let r = sync(&e, src_s, &url, SyncOptions { dry_run: true, delete: true, ..opts(&s) });
    let plan = r.plan.clone().unwrap();
    assert!(
        plan.actions
            .iter()
            .any(|a| a.op == Op::Delete && a.path == "outputs/not-from-syncwright.txt"),
        "{plan:#?}"
    );
    let r = sync(&e, src_s, &url, opts(&s));
    assert_eq!((r.status, r.stats.created, r.stats.updated), (Status::Completed, 0, 0), "{r:#?}");
    let removed =
        tree(&src).into_keys().find(|k| k.ends_with(".png")).expect("a png in the sample");
    std::fs::remove_file(remote.join(&removed)).unwrap();
    let r = sync(&e, src_s, &url, opts(&s));
    assert_eq!((r.status, r.stats.created), (Status::Completed, 1), "{removed}: {r:#?}");
    std::fs::remove_file(remote.join("outputs/not-from-syncwright.txt")).unwrap();

    // Pull: host -> local.
    let r = sync(&e, &url, back_s, opts(&s));
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(tree(&src), tree(&back));
    let r = sync(&e, &url, back_s, opts(&s));
    assert_eq!((r.status, r.stats.created, r.stats.updated), (Status::Completed, 0, 0), "{r:#?}");
    // By content: the host's files are read over SFTP and hashed; the same content copies nothing, and a file
    // changed here behind the same size and mtime is found and put back.
    let lora = back.join("models/lora.safetensors");
    let mtime = std::fs::metadata(&lora).unwrap().modified().unwrap();
    let mut data = std::fs::read(&lora).unwrap();
    data[1000] ^= 0xff;
    std::fs::write(&lora, &data).unwrap();
    std::fs::File::options().write(true).open(&lora).unwrap().set_modified(mtime).unwrap();
    let checksum = SyncOptions { compare: CompareMode::Checksum, ..opts(&s) };
    let r = sync(&e, &url, back_s, SyncOptions { rescan_dest: true, ..checksum.clone() });
    assert_eq!((r.status, r.stats.created, r.stats.updated), (Status::Completed, 0, 1), "{r:#?}");
    assert_eq!(tree(&src), tree(&back));
    let r = sync(&e, &url, back_s, checksum);
    assert_eq!((r.status, r.stats.created, r.stats.updated), (Status::Completed, 0, 0), "{r:#?}");

    // An edit at the source travels; a mirror delete too.
    write(&src, "outputs/2025-10-01/meta 00001.json", b"{\"prompt\": \"a dog\"}");
    std::fs::remove_file(src.join("empty.bin")).unwrap();
    let r = sync(&e, src_s, &url, SyncOptions { delete: true, ..opts(&s) });
    assert_eq!((r.status, r.stats.updated, r.stats.deleted), (Status::Completed, 1, 1), "{r:#?}");
    assert_eq!(tree(&src), tree(&remote));

    // The host keeps whole seconds: a listing of it matches the source to the second, nothing is copied again,
    // nothing is taken for an edit made there, and the manifest written after it still tells edits apart.
    let r = sync(&e, src_s, &url, SyncOptions { rescan_dest: true, ..opts(&s) });
    assert_eq!((r.status, r.stats.created, r.stats.updated), (Status::Completed, 0, 0), "{r:#?}");
    assert!(r.warnings.is_empty(), "{r:#?}");
    write(&src, "outputs/2025-10-01/meta 00001.json", b"{\"prompt\": \"a cow\"}");
    let r = sync(&e, src_s, &url, opts(&s));
    assert_eq!(
        (r.status, r.stats.updated),
        (Status::Completed, 1),
        "an edit of the same size: {r:#?}"
    );
    assert!(r.warnings.is_empty(), "{r:#?}");
    assert_eq!(tree(&src), tree(&remote));
}

#[test]
fn remote_to_remote_goes_through_the_engine() {
    let s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let (src, a, b) = (dir.path().join("src"), dir.path().join("a"), dir.path().join("b"));
    sample_tree(&src);
    let e = engine(dir.path());
    let r = sync(&e, src.to_str().unwrap(), &s.url(&a, None), opts(&s));
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    let r = sync(&e, &s.url(&a, None), &s.url(&b, None), opts(&s));
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(tree(&src), tree(&b));
    let r = sync(&e, &s.url(&a, None), &s.url(&b, None), opts(&s));
    assert_eq!((r.status, r.stats.created), (Status::Completed, 0), "{r:#?}");
}

fn temporaries(root: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            if name.contains(".swtmp-") && p.is_file() {
                out.push((name, p.metadata().unwrap().len()));
            }
        }
    }
    out
}

const BIG: usize = 24 << 20;

#[test]
fn an_upload_cut_at_byte_n_leaves_nothing_corrupt_and_the_rerun_resumes() {
    let s = Sshd::start();
    let proxy = Proxy::start(s.port);
    s.trust_port(proxy.port);
    let dir = tempfile::tempdir().unwrap();
    let (src, remote) = (dir.path().join("src"), dir.path().join("remote"));
    let big = bytes(7, BIG);
    write(&src, "models/big.safetensors", &big);
    let e = engine(dir.path());
    let url = s.url(&remote, Some(proxy.port));

    proxy.cut_after(Direction::Up, 10 << 20);
    let o = SyncOptions { transfers: 1, ..no_retry(opts(&s)) };
    let r = sync(&e, src.to_str().unwrap(), &url, o.clone());
    assert_eq!(proxy.cuts.load(std::sync::atomic::Ordering::SeqCst), 1, "{r:#?}");
    assert_ne!(r.status, Status::Completed, "{r:#?}");
    let err = r.errors.iter().chain(r.fatal.iter()).next().expect("an error");
    assert!(matches!(err.kind, ErrorKind::Network | ErrorKind::Timeout), "{r:#?}");
    // Nothing half-written is visible; the partial upload waits under its temporary name.
    assert!(!remote.join("models/big.safetensors").exists());
    let temps = temporaries(&remote);
    assert_eq!(temps.len(), 1, "{temps:?}");
    let partial = temps[0].1;
    assert!(partial > 0 && partial < BIG as u64, "{temps:?}");
    assert!(
        !remote.join(".syncwright/manifests/media.json").exists(),
        "no manifest after a failed run"
    );

    let r = sync(&e, src.to_str().unwrap(), &url, o);
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(std::fs::read(remote.join("models/big.safetensors")).unwrap(), big);
    // Only the rest was sent (the host's SFTP process may still have been writing buffered data into the
    // temporary when it was measured above, so the rest may be smaller).
    assert!(r.stats.bytes_transferred <= BIG as u64 - partial, "{partial} {r:#?}");
    assert!(r.stats.bytes_transferred > 0, "{r:#?}");
    assert!(temporaries(&remote).is_empty());
}

#[test]
fn a_download_cut_at_byte_n_resumes_from_the_local_partial() {
    let s = Sshd::start();
    let proxy = Proxy::start(s.port);
    s.trust_port(proxy.port);
    let dir = tempfile::tempdir().unwrap();
    let (remote, local) = (dir.path().join("remote"), dir.path().join("local"));
    let big = bytes(8, BIG);
    write(&remote, "outputs/big.bin", &big);
    write(&remote, "outputs/small.txt", b"small");
    let e = engine(dir.path());
    let url = s.url(&remote, Some(proxy.port));
    let o = SyncOptions { transfers: 1, ..no_retry(opts(&s)) };

    proxy.cut_after(Direction::Down, 10 << 20);
    let r = sync(&e, &url, local.to_str().unwrap(), o.clone());
    assert_eq!(proxy.cuts.load(std::sync::atomic::Ordering::SeqCst), 1, "{r:#?}");
    assert_ne!(r.status, Status::Completed, "{r:#?}");
    assert!(!local.join("outputs/big.bin").exists());
    let temps = temporaries(&local);
    assert_eq!(temps.len(), 1, "{temps:?}");
    let partial = temps[0].1;
    assert!(partial > 0, "{temps:?}");

    let before = proxy.down.load(std::sync::atomic::Ordering::SeqCst);
    let r = sync(&e, &url, local.to_str().unwrap(), o);
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(std::fs::read(local.join("outputs/big.bin")).unwrap(), big);
    let downloaded = proxy.down.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert!(
        downloaded < BIG as u64 - partial + (1 << 20),
        "the bytes already here were not fetched again: {downloaded} bytes for {} missing",
        BIG as u64 - partial
    );
    assert!(temporaries(&local).is_empty());
}

#[test]
fn host_keys_are_checked_and_a_wrong_one_is_refused() {
    let s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let (src, remote) = (dir.path().join("src"), dir.path().join("remote"));
    write(&src, "a.txt", b"a");
    let e = engine(dir.path());
    let url = s.url(&remote, None);

    // Another server's key listed for this host and port.
    let other = dir.path().join("other_host_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    let wrong = dir.path().join("known_hosts_wrong");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    std::fs::write(&wrong, format!("[127.0.0.1]:{} {other_pub}", s.port)).unwrap();
    let mut o = no_retry(opts(&s));
    o.remote.sftp.known_hosts = Some(wrong);
    let r = sync(&e, src.to_str().unwrap(), &url, o);
    let f = r.fatal.as_ref().expect("refused");
    assert_eq!((r.status, f.kind), (Status::Failed, ErrorKind::Auth), "{r:#?}");
    assert!(f.error.contains("HOST KEY MISMATCH") && f.error.contains("SHA256:"), "{}", f.error);
    assert!(!remote.exists(), "nothing was written");

    // Not listed at all.
    let empty = dir.path().join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap();
    let mut o = no_retry(opts(&s));
    o.remote.sftp.known_hosts = Some(empty.clone());
    let r = sync(&e, src.to_str().unwrap(), &url, o);
    let f = r.fatal.as_ref().expect("refused");
    assert_eq!(f.kind, ErrorKind::Auth);
    assert!(f.error.contains("is not in") && f.error.contains("ssh-keyscan"), "{}", f.error);

    // Only an explicit option turns the check off.
    let mut o = no_retry(opts(&s));
    o.remote.sftp.known_hosts = Some(empty);
    o.remote.sftp.insecure_ignore_host_key = true;
    let r = sync(&e, src.to_str().unwrap(), &url, o);
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert!(
        r.warnings.iter().any(|w| w.reason == WarningReason::HostKeyNotChecked),
        "said so: {r:#?}"
    );
}

#[test]
fn key_passphrases_never_appear_in_errors_or_reports() {
    let s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let (src, remote) = (dir.path().join("src"), dir.path().join("remote"));
    write(&src, "a.txt", b"a");
    let key = dir.path().join("locked_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "correct-horse-battery", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let auth = s.dir.path().join("authorized_keys");
    let mut keys = std::fs::read_to_string(&auth).unwrap();
    keys.push_str(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
    std::fs::write(&auth, keys).unwrap();
    let e = engine(dir.path());
    let url = s.url(&remote, None);

    let mut o = no_retry(opts(&s));
    o.remote.sftp.key_file = Some(key.clone());
    o.remote.sftp.passphrase = Some(syncwright::backend::remote::Secret::new("wrong-pass-9137"));
    let r = sync(&e, src.to_str().unwrap(), &url, o.clone());
    let f = r.fatal.as_ref().expect("refused");
    assert_eq!(f.kind, ErrorKind::Auth, "{r:#?}");
    let all = format!("{}{r:?}{o:?}{}", r.to_json(), serde_json::to_string(&o).unwrap());
    assert!(!all.contains("wrong-pass-9137"), "{all}");

    o.remote.sftp.passphrase =
        Some(syncwright::backend::remote::Secret::new("correct-horse-battery"));
    let r = sync(&e, src.to_str().unwrap(), &url, o.clone());
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    let all = format!("{}{r:?}{o:?}{}", r.to_json(), serde_json::to_string(&o).unwrap());
    assert!(!all.contains("correct-horse-battery"), "{all}");
}

#[test]
fn a_dry_run_plans_from_the_cached_manifest_when_the_host_is_down() {
    let mut s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let (src, remote) = (dir.path().join("src"), dir.path().join("remote"));
    sample_tree(&src);
    let e = engine(dir.path());
    let url = s.url(&remote, None);
    let r = sync(&e, src.to_str().unwrap(), &url, opts(&s));
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    let cached: Vec<_> = files(&dir.path().join("state/cache"));
    assert!(cached.iter().any(|p| p.ends_with("/media.json")), "{cached:?}");

    write(&src, "outputs/new.png", b"new");
    s.stop();
    let o = SyncOptions { dry_run: true, ..no_retry(opts(&s)) };
    let r = sync(&e, src.to_str().unwrap(), &url, o);
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    let w =
        r.warnings.iter().find(|w| w.reason == WarningReason::RemoteUnreachable).expect("said so");
    assert!(w.message.contains("cached"), "{w:?}");
    let copies: Vec<_> =
        r.plan.unwrap().actions.into_iter().filter(|a| a.op == Op::Copy).map(|a| a.path).collect();
    assert_eq!(copies, ["outputs/new.png"]);

    // A real run against a host that is down fails and says why.
    let r = sync(&e, src.to_str().unwrap(), &url, no_retry(opts(&s)));
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert_eq!(r.fatal.unwrap().kind, ErrorKind::Network);
}

#[test]
fn a_connection_cut_mid_file_is_retried_within_the_run_by_the_recovery_layer() {
    let s = Sshd::start();
    let proxy = Proxy::start(s.port);
    s.trust_port(proxy.port);
    let dir = tempfile::tempdir().unwrap();
    let (src, remote) = (dir.path().join("src"), dir.path().join("remote"));
    let big = bytes(9, BIG);
    write(&src, "models/big.safetensors", &big);
    write(&src, "notes.txt", b"notes");
    let e = engine(dir.path());
    proxy.cut_after(Direction::Up, 12 << 20);
    let o = SyncOptions {
        retry: syncwright::recovery::RetryPolicies::with_delays(
            std::time::Duration::ZERO,
            std::time::Duration::ZERO,
            0.0,
        ),
        ..opts(&s)
    };
    let r = sync(&e, src.to_str().unwrap(), &s.url(&remote, Some(proxy.port)), o);
    assert_eq!(proxy.cuts.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert!(r.stats.retries >= 1, "{r:#?}");
    assert_eq!(std::fs::read(remote.join("models/big.safetensors")).unwrap(), big);
    // The retry continued the partial upload instead of starting over (which would send the 12 MiB again).
    assert!(r.stats.bytes_transferred < BIG as u64 + (12 << 20), "{r:#?}");
    assert!(temporaries(&remote).is_empty());
}

#[test]
fn an_sftp_only_account_gets_durable_writes_without_running_commands() {
    // `ForceCommand internal-sftp`: no `sync -f` on the host; every file is synced with fsync@openssh.com.
    let s = Sshd::start_with("ForceCommand internal-sftp");
    let dir = tempfile::tempdir().unwrap();
    let (src, remote) = (dir.path().join("src"), dir.path().join("remote"));
    sample_tree(&src);
    let e = engine(dir.path());
    let r = sync(&e, src.to_str().unwrap(), &s.url(&remote, None), opts(&s));
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(tree(&src), tree(&remote));
    assert!(temporaries(&remote).is_empty());
}

#[test]
fn batches_are_synced_by_one_shell_on_the_host_not_one_shell_each() {
    // 1,100 files: three batches of at most 512, each made durable with `sync -f` on the host before its renames,
    // and once more after them. The first command runs alone (it finds out whether the account runs commands);
    // the others go to one `sh` kept open, so the user's shell and its start-up files run twice per backend, not
    // once per batch. sshd logs every command session ("Starting session: command").
    let s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let (src, remote) = (dir.path().join("src"), dir.path().join("remote"));
    for i in 0..1100 {
        write(&src, &format!("d{}/f{i:04}.txt", i % 7), format!("file {i}\n").as_bytes());
    }
    let e = engine(dir.path());
    s.clear_log();
    let r = sync(&e, src.to_str().unwrap(), &s.url(&remote, None), opts(&s));
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(r.stats.created, 1100, "{r:#?}");
    assert_eq!(tree(&src), tree(&remote));
    assert!(temporaries(&remote).is_empty());
    let commands = s.log().iter().filter(|l| l.contains("Starting session: command")).count();
    assert_eq!(commands, 2, "{:#?}", s.log());
}

#[test]
fn an_sftp_destination_keeps_its_lock_in_its_own_syncwright_and_a_linked_one_is_refused() {
    use syncwright::backend::instrumented::Instrumented;
    use syncwright::locks::LockInfo;
    let s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let (src, remote) = (dir.path().join("src"), dir.path().join("remote"));
    let big = bytes(11, 3 << 20);
    write(&src, "big.bin", &big);
    let e = engine(dir.path());
    let url = s.url(&remote, None);
    let o = SyncOptions { chunk_size: 256 * 1024, transfers: 1, ..opts(&s) };
    let (src_b, dst_b) = e.open_backends(src.to_str().unwrap(), &url, &o).unwrap();
    let inst = Instrumented::new(src_b);
    let gate = inst.pause_at_byte(Some("big.bin"), (1 << 20) + 5);
    let job = e.start_sync_with(inst.backend(), dst_b, o.clone(), None).unwrap();
    assert!(gate.wait_reached(std::time::Duration::from_secs(60)), "the upload never paused");

    // The lock is on the host, in the destination itself.
    let lock = remote.join(".syncwright/locks/dest.lock");
    let info: LockInfo = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    assert_eq!(info.job_id.as_deref(), Some(job.id()));
    assert_eq!(info.instance_id, e.instance_id());
    assert!(info.destination.as_deref().unwrap().starts_with("sftp://"), "{info:?}");
    // Another instance writing there over SFTP, or the same folder as a local path: both refused.
    let other = engine(&dir.path().join("other"));
    for d in [url.clone(), remote.to_str().unwrap().to_string()] {
        let r = sync(&other, src.to_str().unwrap(), &d, o.clone());
        assert_eq!(r.status, Status::Failed, "{d}: {r:#?}");
        let f = r.fatal.unwrap();
        assert_eq!(f.kind, ErrorKind::Conflict, "{d}: {f:?}");
        assert_eq!(f.details.unwrap()["job_id"], job.id(), "{d}");
    }
    assert!(!temporaries(&remote).is_empty(), "the first run's temporary is still there");
    gate.release();
    let r = job.wait(Some(std::time::Duration::from_secs(60))).unwrap();
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(std::fs::read(remote.join("big.bin")).unwrap(), big);
    assert!(!lock.exists() && !remote.join(".syncwright/locks").exists(), "released and tidied");
    // A run that fails before writing leaves nothing on the host.
    let fresh = dir.path().join("fresh");
    let r = sync(&e, dir.path().join("missing").to_str().unwrap(), &s.url(&fresh, None), opts(&s));
    assert_eq!(r.fatal.unwrap().kind, ErrorKind::NotFound);
    assert!(!fresh.exists(), "a failed run created its destination");

    // A .syncwright (or a folder below it) that is a link out of the destination is refused, never followed.
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let (d1, d2) = (dir.path().join("d1"), dir.path().join("d2"));
    std::fs::create_dir_all(&d1).unwrap();
    std::os::unix::fs::symlink(&outside, d1.join(".syncwright")).unwrap();
    std::fs::create_dir_all(d2.join(".syncwright")).unwrap();
    std::os::unix::fs::symlink(&outside, d2.join(".syncwright/manifests")).unwrap();
    for (d, what) in
        [(&d1, ".syncwright is a symlink"), (&d2, ".syncwright/manifests is a symlink")]
    {
        for dry_run in [false, true] {
            let o = SyncOptions { dry_run, ..no_retry(opts(&s)) };
            let r = sync(&e, src.to_str().unwrap(), &s.url(d, None), o);
            assert_eq!(r.status, Status::Failed, "{what}: {r:#?}");
            let f = r.fatal.unwrap();
            assert_eq!(f.kind, ErrorKind::Conflict, "{what}: {f:?}");
            assert!(f.error.contains(what), "{}", f.error);
        }
        assert!(!d.join("big.bin").exists());
    }
    assert!(files(&outside).is_empty(), "written outside: {:?}", files(&outside));

    // A destination that is a file on the host: invalid input, named, left alone.
    let afile = dir.path().join("afile");
    std::fs::write(&afile, b"a file").unwrap();
    let r = sync(&e, src.to_str().unwrap(), &s.url(&afile, None), no_retry(opts(&s)));
    let f = r.fatal.unwrap();
    assert_eq!(f.kind, ErrorKind::InvalidInput, "{f:?}");
    assert!(f.error.contains("afile is a file, not a folder"), "{}", f.error);
    assert_eq!(std::fs::read(&afile).unwrap(), b"a file");
}

/// Issue 16: an SFTP remote's key and its passphrase come from the vault by `credentials_key` (no key file, no
/// agent): a passphrase-protected OpenSSH ed25519 key and a PEM RSA key both sign in from memory; a vault entry
/// with a wrong key is refused with `auth`, and no key material reaches a report.
#[test]
fn an_sftp_key_and_its_passphrase_come_from_the_vault() {
    let s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (src, remote) = (d.join("src"), d.join("remote"));
    write(&src, "a.txt", b"from the vault's key");
    let keygen = |name: &str, args: &[&str]| {
        let key = d.join(name);
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q"])
            .args(args)
            .arg("-f")
            .arg(&key)
            .status()
            .unwrap();
        assert!(st.success());
        let auth = s.dir.path().join("authorized_keys");
        let mut keys = std::fs::read_to_string(&auth).unwrap();
        keys.push_str(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
        std::fs::write(&auth, keys).unwrap();
        std::fs::read_to_string(&key).unwrap()
    };
    let ed25519 = keygen("vault_ed25519", &["-t", "ed25519", "-N", "vault-key-pass-77"]);
    let rsa = keygen("vault_rsa", &["-t", "rsa", "-b", "2048", "-m", "PEM", "-N", ""]);
    let e = Engine::new(EngineConfig {
        state_dir: Some(d.join("state")),
        worker_threads: 2,
        config: Some(serde_json::json!({"settings": {
            "vault": d.join("vault.json"), "vault_kdf": {"m_kib": 64, "t": 1, "p": 1},
        }})),
        ..Default::default()
    })
    .unwrap();
    let pass = syncwright::vault::Secret::new("pp");
    e.vault_init(Some(&pass)).unwrap();
    e.vault_set(
        "hosts.gpu",
        serde_json::json!({"private_key": ed25519, "passphrase": "vault-key-pass-77"}),
        None,
    )
    .unwrap();
    e.vault_set("hosts.rsa", serde_json::json!({"private_key": rsa}), None).unwrap();
    e.vault_set("hosts.wrong", serde_json::json!({"private_key": rsa.replace('A', "B")}), None)
        .unwrap();
    let with_key = |key: &str| {
        let mut o = no_retry(opts(&s));
        o.remote.sftp.key_file = None;
        o.remote.sftp.agent = false;
        o.remote.sftp.credentials_key = Some(key.into());
        o
    };
    let url = s.url(&remote, None);
    // With a key from the vault, the keys of ~/.ssh are never tried in its place.
    let r = sync(&e, src.to_str().unwrap(), &url, with_key("hosts.gpu"));
    assert_eq!(r.status, Status::Completed, "{r:#?}");
    assert_eq!(std::fs::read(remote.join("a.txt")).unwrap(), b"from the vault's key");
    write(&src, "b.txt", b"rsa");
    let r = sync(&e, src.to_str().unwrap(), &url, with_key("hosts.rsa"));
    assert_eq!((r.status, r.stats.created), (Status::Completed, 1), "{r:#?}");
    let r = sync(&e, src.to_str().unwrap(), &url, with_key("hosts.wrong"));
    let f = r.fatal.as_ref().expect("refused");
    assert_eq!(f.kind, ErrorKind::Auth, "{r:#?}");
    let err = e.sync(src.to_str().unwrap(), &url, with_key("hosts.none")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("hosts.none") && err.message().contains("remote.sftp"), "{err}");
    let all = format!("{}{r:?}", r.to_json());
    assert!(!all.contains("vault-key-pass-77") && !all.contains("PRIVATE KEY"), "{all}");
}
