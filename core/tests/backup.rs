//! Local backups: an archive round-trips byte for byte (fresh target, kept, replaced), media is stored and text
//! deflated, rotation keeps the newest of ours and nothing else, labels and names are checked, hostile archives
//! write nothing, damage is found, truncation is an error, cancel leaves nothing, a sparse 5 GiB model stays
//! sparse through Zip64, and 70,000 entries get Zip64 end records Info-ZIP accepts.
//!
//! Needs Info-ZIP `unzip` (Debian package `unzip`).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use syncwright::ErrorKind;
use syncwright::backup::{self, BackupConfig, BackupPlace, RestoreStatus};

fn never() -> bool {
    false
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut r = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| r.u8(..)).collect()
}

fn text(n: usize) -> Vec<u8> {
    let words =
        ["scene", "prompt", "seed", "cfg", "steps", "lora", "sampler", "euler", "karras", "vae"];
    let mut r = fastrand::Rng::with_seed(7);
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        v.extend_from_slice(words[r.usize(..words.len())].as_bytes());
        v.push(if r.u8(..) < 30 { b'\n' } else { b' ' });
    }
    v.truncate(n);
    v
}

/// A project: data (with data/scenes), assets, config, and a `backups/` folder inside the root.
fn project(root: &Path) {
    write(&root.join("data/a.json"), br#"{"scene": 1, "title": "opening"}"#);
    write(&root.join("data/scenes/s1.txt"), &text(5000));
    write(&root.join("data/scenes/deep/er/s2.txt"), &text(300));
    write(&root.join("data/log.txt"), &text(3 << 20)); // deflated in pieces
    write(&root.join("data/noise.txt"), &random(4000, 1)); // deflate does not help: stored
    write(&root.join("data/empty.txt"), b"");
    write(&root.join("assets/img.png"), &random(100_000, 2));
    write(&root.join("assets/Upper.PNG"), &random(5000, 3));
    write(&root.join("assets/model.safetensors"), &random(3 << 20, 4)); // stored in pieces
    write(&root.join("assets/sprites/x.webp"), &random(2000, 5));
    write(&root.join("config/app.toml"), b"[app]\nname = \"demo\"\n");
    write(&root.join("config/secret.toml"), b"token = \"abc\"\n");
    std::fs::set_permissions(
        root.join("config/secret.toml"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(root.join("data/a.json"), std::fs::Permissions::from_mode(0o755))
        .unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_123, 456_789_012);
    File::options()
        .write(true)
        .open(root.join("data/a.json"))
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_modified(t))
        .unwrap();
    write(&root.join("backups/old-notes.txt"), b"not to be archived");
    write(&root.join("other/outside-paths.txt"), b"not configured");
}

fn place(root: &Path) -> BackupPlace {
    BackupPlace::resolve(&BackupConfig::default(), root).unwrap()
}

type Snapshot = BTreeMap<String, (Vec<u8>, u32, i64, i64)>;

/// Every regular file below `base`/{data,assets,config}: bytes, mode, mtime (s, ns).
fn snapshot(base: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack: Vec<PathBuf> =
        ["data", "assets", "config"].iter().map(|p| base.join(p)).collect();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                let rel = e.path().strip_prefix(base).unwrap().to_str().unwrap().to_string();
                let bytes = std::fs::read(e.path()).unwrap();
                out.insert(rel, (bytes, m.mode() & 0o7777, m.mtime(), m.mtime_nsec()));
            }
        }
    }
    out
}

/// Files below `dir`, recursively, relative (folders end in '/').
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().to_str().unwrap().to_string();
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{rel}/"));
                stack.push(e.path());
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------------------------
// A reader of central directories (the test's own, independent of the library's) and a writer of raw archives.

#[derive(Debug)]
struct Cd {
    name: String,
    method: u16,
    external: u32,
    size: u64,
    offset: u64,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}
fn read_at(f: &File, at: u64, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    f.read_exact_at(&mut v, at).unwrap();
    v
}

/// (entries, whether Zip64 end records are there, the 16-bit count of the classic end record).
fn central(path: &Path) -> (Vec<Cd>, bool, u16) {
    let f = File::open(path).unwrap();
    let len = f.metadata().unwrap().len();
    let tail_len = len.min(22 + 65535) as usize;
    let tail = read_at(&f, len - tail_len as u64, tail_len);
    let i = (0..=tail_len - 22).rev().find(|&i| u32_at(&tail, i) == 0x0605_4b50).unwrap();
    let eocd_at = len - tail_len as u64 + i as u64;
    let count16 = u16_at(&tail, i + 10);
    let (mut count, mut cd_off) = (count16 as u64, u32_at(&tail, i + 16) as u64);
    let loc = read_at(&f, eocd_at - 20, 20);
    let zip64 = u32_at(&loc, 0) == 0x0706_4b50;
    if zip64 {
        let z = read_at(&f, u64_at(&loc, 8), 56);
        assert_eq!(u32_at(&z, 0), 0x0606_4b50);
        count = u64_at(&z, 32);
        cd_off = u64_at(&z, 48);
    }
    let cd = read_at(&f, cd_off, (eocd_at - cd_off) as usize);
    let mut out = Vec::new();
    let mut p = 0;
    for _ in 0..count {
        assert_eq!(u32_at(&cd, p), 0x0201_4b50);
        let method = u16_at(&cd, p + 10);
        let mut size = u32_at(&cd, p + 24) as u64;
        let csize = u32_at(&cd, p + 20) as u64;
        let (n, x, c) = (
            u16_at(&cd, p + 28) as usize,
            u16_at(&cd, p + 30) as usize,
            u16_at(&cd, p + 32) as usize,
        );
        let external = u32_at(&cd, p + 38);
        let mut offset = u32_at(&cd, p + 42) as u64;
        let name = String::from_utf8(cd[p + 46..p + 46 + n].to_vec()).unwrap();
        let extra = &cd[p + 46 + n..p + 46 + n + x];
        let mut q = 0;
        while q + 4 <= extra.len() {
            let (id, l) = (u16_at(extra, q), u16_at(extra, q + 2) as usize);
            if id == 1 {
                let mut r = q + 4;
                if size == 0xFFFF_FFFF {
                    size = u64_at(extra, r);
                    r += 8;
                }
                if csize == 0xFFFF_FFFF {
                    r += 8;
                }
                if offset == 0xFFFF_FFFF {
                    offset = u64_at(extra, r);
                }
            }
            q += 4 + l;
        }
        out.push(Cd { name, method, external, size, offset });
        p += 46 + n + x + c;
    }
    (out, zip64, count16)
}

struct Raw {
    name: Vec<u8>,
    data: Vec<u8>,
    /// External attributes (the Unix mode in the upper half).
    external: u32,
}

fn raw(name: &str, data: &[u8]) -> Raw {
    Raw { name: name.as_bytes().to_vec(), data: data.to_vec(), external: 0o100644 << 16 }
}

/// A stored-only archive of `entries`, as bytes.
fn raw_zip(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for e in entries {
        let crc = crc32fast::hash(&e.data);
        let off = out.len() as u32;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&0x0800u16.to_le_bytes());
        out.extend_from_slice(&[0; 6]); // method 0, time, date
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.data);
        cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        cd.extend_from_slice(&0x031Eu16.to_le_bytes());
        cd.extend_from_slice(&20u16.to_le_bytes());
        cd.extend_from_slice(&0x0800u16.to_le_bytes());
        cd.extend_from_slice(&[0; 6]);
        cd.extend_from_slice(&crc.to_le_bytes());
        cd.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        cd.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        cd.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&[0; 8]); // extra, comment, disk, internal
        cd.extend_from_slice(&e.external.to_le_bytes());
        cd.extend_from_slice(&off.to_le_bytes());
        cd.extend_from_slice(&e.name);
    }
    let cd_off = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Our manifest for files `(path, data)`.
fn manifest_for(files: &[(&str, &[u8])]) -> Raw {
    let entries: Vec<_> = files
        .iter()
        .map(|(p, d)| {
            serde_json::json!({"path": p, "size": d.len(), "mode": 0o644, "mtime": "2025-01-02T03:04:05Z",
                               "sha256": sha_hex(d)})
        })
        .collect();
    let total: usize = files.iter().map(|(_, d)| d.len()).sum();
    let m = serde_json::json!({"schema_version": 1, "format": "syncwright-backup",
        "created_at": "2025-01-02T03:04:05Z", "label": null, "root": "/r", "paths": ["data"],
        "entries": entries, "entry_count": files.len(), "total_bytes": total});
    raw(backup::MANIFEST_PATH, &serde_json::to_vec(&m).unwrap())
}

fn problems(e: &syncwright::Error) -> Vec<(String, String)> {
    let d = e.details().expect("details");
    d["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (p["path"].as_str().unwrap().to_string(), p["problem"].as_str().unwrap().to_string())
        })
        .collect()
}

fn unzip_test(archive: &Path) {
    let out = Command::new("unzip").arg("-tqq").arg(archive).output().expect(
        "Info-ZIP unzip is needed by these tests (Debian package `unzip`, installed by scripts/test.sh)",
    );
    assert!(
        out.status.success(),
        "unzip -t refused {}: {}{}",
        archive.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------------------------

#[test]
fn a_default_backup_restores_byte_for_byte_fresh_kept_and_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    project(&root);
    std::os::unix::fs::symlink("/etc/hostname", root.join("data/link")).unwrap();
    let before = snapshot(&root);
    assert_eq!(before.len(), 12);
    let p = place(&root);
    assert_eq!(p.dir, root.join("backups"));

    let made = backup::create(&p, Some("pre-cloud-sync"), None, &never).unwrap();
    assert!(made.name.ends_with("Z-pre-cloud-sync.zip"), "{}", made.name);
    assert_eq!(made.path, root.join("backups").join(&made.name));
    assert_eq!(made.entries, 12);
    assert_eq!(made.bytes, before.values().map(|v| v.0.len() as u64).sum::<u64>());
    assert_eq!(made.size, std::fs::metadata(&made.path).unwrap().len());
    assert_eq!(made.label.as_deref(), Some("pre-cloud-sync"));
    assert_eq!(made.warnings, ["data/link: a symbolic link, skipped"]);
    assert!(made.rotated.is_empty());
    // Nothing else in the backups folder but the old file and the archive (no temporary left).
    assert_eq!(listing(&root.join("backups")), [made.name.as_str(), "old-notes.txt"]);

    // The central directory: our files, the manifest last, media stored, text deflated, modes kept.
    let (cd, zip64, _) = central(&made.path);
    assert!(!zip64);
    let names: Vec<&str> = cd.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.last(), Some(&backup::MANIFEST_PATH));
    let mut files: Vec<&str> = names[..names.len() - 1].to_vec();
    files.sort();
    assert_eq!(files, before.keys().map(String::as_str).collect::<Vec<_>>());
    let method = |n: &str| cd.iter().find(|e| e.name == n).unwrap().method;
    for stored in
        ["assets/img.png", "assets/Upper.PNG", "assets/model.safetensors", "assets/sprites/x.webp"]
    {
        assert_eq!(method(stored), 0, "{stored}");
    }
    for deflated in ["data/scenes/s1.txt", "data/log.txt", "data/scenes/deep/er/s2.txt"] {
        assert_eq!(method(deflated), 8, "{deflated}");
    }
    assert_eq!(method("data/noise.txt"), 0, "random bytes deflate does not shrink are stored");
    let ext = |n: &str| cd.iter().find(|e| e.name == n).unwrap().external >> 16;
    assert_eq!(ext("config/secret.toml"), 0o100600);
    assert_eq!(ext("data/a.json"), 0o100755);
    assert_eq!(cd.iter().find(|e| e.name == "data/log.txt").unwrap().size, 3 << 20);

    // The manifest, read with Info-ZIP.
    let m = Command::new("unzip")
        .arg("-p")
        .arg(&made.path)
        .arg(backup::MANIFEST_PATH)
        .output()
        .unwrap();
    assert!(m.status.success());
    let m: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(m["schema_version"], 1);
    assert_eq!(m["format"], "syncwright-backup");
    assert_eq!(m["label"], "pre-cloud-sync");
    assert_eq!(m["created_at"], made.created_at.as_str());
    assert_eq!(m["root"], root.to_str().unwrap());
    assert_eq!(m["paths"], serde_json::json!(["data", "assets", "config"]));
    assert_eq!(m["entry_count"], 12);
    assert_eq!(m["total_bytes"], made.bytes);
    for e in m["entries"].as_array().unwrap() {
        let (bytes, mode, ..) = &before[e["path"].as_str().unwrap()];
        assert_eq!(e["sha256"], sha_hex(bytes), "{}", e["path"]);
        assert_eq!(e["size"], bytes.len());
        assert_eq!(e["mode"], *mode);
    }
    let a = m["entries"].as_array().unwrap().iter().find(|e| e["path"] == "data/a.json").unwrap();
    assert_eq!(a["mtime"], "2023-11-14T22:15:23.456789012Z");
    unzip_test(&made.path);

    let v = backup::verify(&made.path).unwrap();
    assert!(v.ok, "{:?}", v.problems);
    assert_eq!((v.entries, v.bytes, v.name.as_str()), (12, made.bytes, made.name.as_str()));

    // Into a fresh target: the same bytes, modes and mtimes.
    let fresh = tmp.path().join("fresh");
    let r = backup::restore(&made.path, &fresh, false, &never).unwrap();
    assert_eq!(r.status, RestoreStatus::Completed);
    assert_eq!(r.restored.len(), 12);
    assert!(r.kept.is_empty() && r.failed.is_empty());
    assert_eq!(r.bytes, made.bytes);
    assert_eq!(snapshot(&fresh), before);
    assert!(listing(&fresh).iter().all(|f| !f.contains(".sw-restore-")), "{:?}", listing(&fresh));

    // Into the root, keeping what is there: an edited file stays edited.
    write(&root.join("config/app.toml"), b"edited");
    std::fs::remove_file(root.join("data/scenes/s1.txt")).unwrap();
    let r = backup::restore(&made.path, &root, false, &never).unwrap();
    assert_eq!(r.status, RestoreStatus::Completed);
    assert_eq!(r.restored, ["data/scenes/s1.txt"]);
    assert_eq!(r.kept.len(), 11);
    assert!(r.kept.contains(&"config/app.toml".to_string()));
    assert_eq!(std::fs::read(root.join("config/app.toml")).unwrap(), b"edited");
    assert_eq!(
        std::fs::read(root.join("data/scenes/s1.txt")).unwrap(),
        before["data/scenes/s1.txt"].0
    );

    // Replacing: everything back as it was.
    let r = backup::restore(&made.path, &root, true, &never).unwrap();
    assert_eq!(r.status, RestoreStatus::Completed);
    assert_eq!((r.restored.len(), r.kept.len()), (12, 0));
    assert_eq!(snapshot(&root), before);
    assert_eq!(std::fs::read(root.join("backups/old-notes.txt")).unwrap(), b"not to be archived");
    assert_eq!(std::fs::read_link(root.join("data/link")).unwrap(), Path::new("/etc/hostname"));

    // The report serialises with snake_case names.
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["status"], "completed");
    let j = serde_json::to_value(&made).unwrap();
    assert!(j.get("created_at").is_some() && j.get("rotated").is_some());
}

#[test]
fn missing_paths_are_warnings_and_bad_paths_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    write(&root.join("data/x.txt"), b"x");
    let mut p = place(&root);
    p.paths = vec!["data".into(), "missing".into(), "data/x.txt".into()];
    let made = backup::create(&p, None, None, &never).unwrap();
    assert_eq!(made.warnings, ["missing: does not exist, skipped"]);
    assert_eq!(made.entries, 1);
    // A backups folder inside a configured path is never archived (nor are its archives).
    let mut inside = place(&root);
    inside.dir = root.join("data/bk");
    backup::create(&inside, None, None, &never).unwrap();
    let second = backup::create(&inside, None, None, &never).unwrap();
    assert_eq!(second.entries, 1);
    let (cd, ..) = central(&second.path);
    let names: Vec<&str> = cd.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["data/x.txt", backup::MANIFEST_PATH]);
    for bad in ["../up", "/etc", "a/../../b"] {
        let mut q = place(&root);
        q.dir = tmp.path().join(format!("bk-{}", bad.len()));
        q.paths = vec![bad.into()];
        let e = backup::create(&q, None, None, &never).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        assert!(!q.dir.exists());
    }
}

#[test]
fn rotation_keeps_the_newest_of_ours_and_leaves_other_zips_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    write(&root.join("data/x.txt"), b"hello");
    let p = place(&root);
    let first = backup::create(&p, None, None, &never).unwrap();
    let dir = &p.dir;
    // Older archives of ours, by name.
    let old = [
        "20200101T000000Z-a.zip",
        "20210101T000000Z.zip",
        "20220101T000000Z-b.zip",
        "20220101T000000Z-b-1.zip",
    ];
    for n in old {
        std::fs::copy(&first.path, dir.join(n)).unwrap();
    }
    // Someone else's: another name, and our pattern without our manifest.
    let foreign = raw_zip(&[raw("photo.jpg", b"jpeg")]);
    std::fs::write(dir.join("photos.zip"), &foreign).unwrap();
    std::fs::write(dir.join("20190101T000000Z.zip"), &foreign).unwrap();
    std::fs::write(dir.join("20180101T000000Z-junk.zip"), b"not a zip at all").unwrap();

    let names: Vec<String> = backup::list(dir).unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(
        names[1..],
        [
            "20220101T000000Z-b-1.zip",
            "20220101T000000Z-b.zip",
            "20210101T000000Z.zip",
            "20200101T000000Z-a.zip"
        ]
    );
    assert_eq!(names[0], first.name);

    for bad in [0, 51] {
        let e = backup::create(&p, None, Some(bad), &never).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
    assert_eq!(backup::list(dir).unwrap().len(), 5);

    let made = backup::create(&p, Some("new"), Some(3), &never).unwrap();
    assert_eq!(
        made.rotated,
        ["20200101T000000Z-a.zip", "20210101T000000Z.zip", "20220101T000000Z-b.zip"]
    );
    let left: Vec<String> = backup::list(dir).unwrap().into_iter().map(|i| i.name).collect();
    // The new one is the newest (a later second, or the same one and a later created_at).
    let want = vec![made.name.clone(), first.name.clone(), "20220101T000000Z-b-1.zip".to_string()];
    assert_eq!(left, want);
    let mut files = listing(dir);
    files.sort();
    let mut expect: Vec<String> = want.clone();
    expect.extend(
        ["photos.zip", "20190101T000000Z.zip", "20180101T000000Z-junk.zip"].map(String::from),
    );
    expect.sort();
    assert_eq!(files, expect);
    assert_eq!(std::fs::read(dir.join("photos.zip")).unwrap(), foreign);
    assert_eq!(std::fs::read(dir.join("20190101T000000Z.zip")).unwrap(), foreign);

    // Down to one: only the new archive.
    let last = backup::create(&p, None, Some(1), &never).unwrap();
    assert_eq!(last.rotated.len(), 3);
    let left: Vec<String> = backup::list(dir).unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(left, std::slice::from_ref(&last.name));
    let info = &backup::list(dir).unwrap()[0];
    assert_eq!((info.entries, info.label.as_deref(), info.size), (1, None, last.size));
    assert_eq!(info.created_at, last.created_at);

    assert!(backup::list(&tmp.path().join("nowhere")).unwrap().is_empty());
}

#[test]
fn bad_labels_write_nothing_and_names_are_never_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    write(&root.join("data/x.txt"), b"hello");
    let p = place(&root);
    for bad in ["../x", "a/b", "/abs", "", ".", "..", "a b", &"x".repeat(65)] {
        let e = backup::create(&p, Some(bad), None, &never).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert!(!p.dir.exists(), "{bad:?}");
        assert!(!tmp.path().join("x").exists() && !root.join("x").exists());
    }
    assert!(backup::create(&p, Some(&"x".repeat(64)), None, &never).is_ok());
    // The names of the next seconds are taken (by files that are not ours): the archive gets a suffix.
    let now = chrono::Utc::now();
    for s in 0..10 {
        let t = now + chrono::Duration::seconds(s);
        std::fs::write(p.dir.join(format!("{}-lbl.zip", t.format("%Y%m%dT%H%M%SZ"))), b"mine")
            .unwrap();
    }
    let made = backup::create(&p, Some("lbl"), None, &never).unwrap();
    assert!(made.name.ends_with("Z-lbl-1.zip"), "{}", made.name);
    let again = backup::create(&p, Some("lbl"), None, &never).unwrap();
    assert!(
        again.name.ends_with("Z-lbl-1.zip") || again.name.ends_with("Z-lbl-2.zip"),
        "{}",
        again.name
    );
    assert_ne!(again.name, made.name);
    for s in 0..10 {
        let t = now + chrono::Duration::seconds(s);
        let f = p.dir.join(format!("{}-lbl.zip", t.format("%Y%m%dT%H%M%SZ")));
        assert_eq!(std::fs::read(f).unwrap(), b"mine");
    }
    assert!(backup::verify(&made.path).unwrap().ok);
}

/// Restores `archive` into an empty `work/target`: the error, after checking that nothing was written.
fn refused(work: &Path, bytes: &[u8], evil: &[&Path]) -> syncwright::Error {
    let archive = work.join("a.zip");
    std::fs::write(&archive, bytes).unwrap();
    let target = work.join("target");
    std::fs::create_dir_all(&target).unwrap();
    let e = backup::restore(&archive, &target, true, &never).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(listing(&target).is_empty(), "{:?}", listing(&target));
    assert_eq!(listing(work), ["a.zip", "target/"]);
    for p in evil {
        assert!(!p.exists(), "{}", p.display());
    }
    let v = backup::verify(&archive).unwrap_err();
    assert_eq!(v.kind(), ErrorKind::Corrupt);
    assert_eq!(problems(&v), problems(&e));
    e
}

#[test]
fn hostile_archives_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = b"fine".as_slice();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let abs = format!("{}/x", outside.display());
    let cases: Vec<(&str, Vec<Raw>, &str, &str)> = vec![
        (
            "dotdot",
            vec![raw("data/ok.txt", ok), raw("../evil", b"x")],
            "../evil",
            "a '..' component",
        ),
        ("absolute", vec![raw("data/ok.txt", ok), raw(&abs, b"x")], &abs, "an absolute path"),
        (
            "drive",
            vec![raw("data/ok.txt", ok), raw("C:\\x", b"x")],
            "C:\\x",
            "a backslash in the name",
        ),
        (
            "backslash",
            vec![raw("data/ok.txt", ok), raw("data\\x", b"x")],
            "data\\x",
            "a backslash in the name",
        ),
        ("drive-slash", vec![raw("data/ok.txt", ok), raw("C:/x", b"x")], "C:/x", "a drive letter"),
        (
            "symlink",
            vec![
                raw("data/ok.txt", ok),
                Raw {
                    name: b"link".to_vec(),
                    data: outside.to_str().unwrap().as_bytes().to_vec(),
                    external: 0o120777 << 16,
                },
                raw("link/file", b"through the link"),
            ],
            "link",
            "a symbolic link",
        ),
        (
            "duplicate",
            vec![raw("data/ok.txt", ok), raw("data/ok.txt", b"other")],
            "data/ok.txt",
            "a duplicate name",
        ),
        (
            "unlisted",
            vec![raw("data/ok.txt", ok), raw("data/extra.txt", b"x")],
            "data/extra.txt",
            "not in the manifest",
        ),
        (
            "nul",
            vec![raw("data/ok.txt", ok), raw("data/a\0b", b"x")],
            "data/a\0b",
            "a NUL byte in the name",
        ),
    ];
    for (what, mut entries, path, why) in cases {
        let work = tmp.path().join(what);
        std::fs::create_dir(&work).unwrap();
        // The manifest lists every entry but the unlisted one (so that only the named fault is found).
        let listed: Vec<(&str, &[u8])> = entries
            .iter()
            .filter(|e| e.name != b"data/extra.txt" && !(what == "duplicate" && e.data == b"other"))
            .map(|e| (std::str::from_utf8(&e.name).unwrap(), e.data.as_slice()))
            .collect();
        let m = manifest_for(&listed);
        entries.push(m);
        let e = refused(
            &work,
            &raw_zip(&entries),
            &[&tmp.path().join("evil"), &work.join("evil"), Path::new(&abs), &outside.join("file")],
        );
        let ps = problems(&e);
        assert!(ps.contains(&(path.to_string(), why.to_string())), "{what}: {ps:?}");
        assert!(e.message().contains(why), "{what}: {}", e.message());
        assert_eq!(e.details().unwrap()["archive"], work.join("a.zip").to_str().unwrap());
    }
    assert!(listing(&outside).is_empty());

    // No manifest at all, and a manifest of someone else's format.
    let work = tmp.path().join("nomanifest");
    std::fs::create_dir(&work).unwrap();
    let e = refused(&work, &raw_zip(&[raw("data/ok.txt", ok)]), &[]);
    assert_eq!(problems(&e)[0].0, backup::MANIFEST_PATH);
    let work = tmp.path().join("listed-missing");
    std::fs::create_dir(&work).unwrap();
    let e = refused(
        &work,
        &raw_zip(&[
            raw("data/ok.txt", ok),
            manifest_for(&[("data/ok.txt", ok), ("data/gone", ok)]),
        ]),
        &[],
    );
    assert_eq!(
        problems(&e),
        [("data/gone".to_string(), "in the manifest but not in the archive".to_string())]
    );
}

#[test]
fn a_wrong_sha256_fails_that_file_and_keeps_the_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let good = b"good data".as_slice();
    let bad = b"tampered data".as_slice();
    let mut m = manifest_for(&[("data/good.txt", good), ("data/bad.txt", bad)]);
    // The manifest says the sha256 of other bytes for data/bad.txt.
    let s = String::from_utf8(m.data).unwrap().replace(&sha_hex(bad), &sha_hex(b"the original"));
    m.data = s.into_bytes();
    let archive = tmp.path().join("a.zip");
    std::fs::write(&archive, raw_zip(&[raw("data/good.txt", good), raw("data/bad.txt", bad), m]))
        .unwrap();
    let target = tmp.path().join("t");
    write(&target.join("data/bad.txt"), b"the original");

    let v = backup::verify(&archive).unwrap();
    assert!(!v.ok);
    assert_eq!(v.problems.len(), 1);
    assert_eq!(v.problems[0].path, "data/bad.txt");
    assert!(v.problems[0].problem.contains("sha256"), "{}", v.problems[0].problem);

    let r = backup::restore(&archive, &target, true, &never).unwrap();
    assert_eq!(r.status, RestoreStatus::Partial);
    assert_eq!(r.restored, ["data/good.txt"]);
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].path, "data/bad.txt");
    assert!(r.failed[0].error.contains("sha256"));
    assert_eq!(std::fs::read(target.join("data/bad.txt")).unwrap(), b"the original");
    assert_eq!(std::fs::read(target.join("data/good.txt")).unwrap(), good);
    assert_eq!(listing(&target), ["data/", "data/bad.txt", "data/good.txt"]);
    assert_eq!(serde_json::to_value(&r).unwrap()["status"], "partial");
}

#[test]
fn a_symlinked_folder_in_the_target_is_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    write(&root.join("data/x.txt"), b"x");
    write(&root.join("config/c.toml"), b"c");
    let made = backup::create(&place(&root), None, None, &never).unwrap();
    let target = tmp.path().join("t");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(&target).unwrap();
    std::os::unix::fs::symlink(&elsewhere, target.join("data")).unwrap();
    let r = backup::restore(&made.path, &target, true, &never).unwrap();
    assert_eq!(r.status, RestoreStatus::Partial);
    assert_eq!(r.restored, ["config/c.toml"]);
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].path, "data/x.txt");
    assert!(r.failed[0].error.contains("symbolic link"), "{}", r.failed[0].error);
    assert!(listing(&elsewhere).is_empty());
}

#[test]
fn truncated_archives_are_errors_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    write(&root.join("data/a.txt"), &text(20_000));
    write(&root.join("data/b.png"), &random(3000, 9));
    write(&root.join("config/c.toml"), b"c = 1");
    let made = backup::create(&place(&root), None, None, &never).unwrap();
    let whole = std::fs::read(&made.path).unwrap();
    let dir = tmp.path().join("cuts");
    std::fs::create_dir(&dir).unwrap();
    let mut cuts: Vec<usize> = (0..whole.len()).step_by(97).collect();
    cuts.extend([
        1,
        4,
        21,
        22,
        whole.len() - 23,
        whole.len() - 22,
        whole.len() - 21,
        whole.len() - 1,
    ]);
    for cut in cuts {
        let name = "20250101T000000Z.zip";
        let a = dir.join(name);
        std::fs::write(&a, &whole[..cut]).unwrap();
        let e = backup::verify(&a).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Corrupt), "cut {cut}: {e}");
        let target = tmp.path().join("t");
        let e = backup::restore(&a, &target, true, &never).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "cut {cut}: {e}");
        assert!(listing(&target).is_empty(), "cut {cut}");
        assert!(backup::list(&dir).unwrap().is_empty());
    }
    // Damage inside an entry's data: verify reports it, restore fails that file.
    let mut hurt = whole.clone();
    let at = whole.windows(5).position(|w| w == b"c = 1").unwrap();
    hurt[at] = b'd';
    let a = dir.join("hurt.zip");
    std::fs::write(&a, &hurt).unwrap();
    let v = backup::verify(&a).unwrap();
    assert!(!v.ok);
    assert_eq!(v.problems[0].path, "config/c.toml");
    let r = backup::restore(&a, &tmp.path().join("t2"), false, &never).unwrap();
    assert_eq!(r.status, RestoreStatus::Partial);
    assert_eq!(r.failed[0].path, "config/c.toml");
}

#[test]
fn cancel_leaves_no_archive_and_no_temporary() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    project(&root);
    let p = place(&root);
    let before = listing(&p.dir);
    let mut finished = None;
    for n in 0..200 {
        let calls = std::cell::Cell::new(0);
        let cancel = || {
            calls.set(calls.get() + 1);
            calls.get() > n
        };
        match backup::create(&p, None, None, &cancel) {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Cancelled, "after {n} calls");
                assert_eq!(listing(&p.dir), before, "after {n} calls");
            }
            Ok(made) => {
                finished = Some((n, made));
                break;
            }
        }
    }
    let (n, made) = finished.expect("a create that is never cancelled finishes");
    assert!(n > 3, "cancel was asked only {n} times");

    let target = tmp.path().join("t");
    let calls = std::cell::Cell::new(0);
    let cancel = || {
        calls.set(calls.get() + 1);
        calls.get() > 4
    };
    let e = backup::restore(&made.path, &target, false, &cancel).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    let files = listing(&target);
    assert!(files.iter().all(|f| !f.contains(".sw-restore-")), "{files:?}");
    let restored: Vec<_> = files.iter().filter(|f| !f.ends_with('/')).collect();
    assert!(restored.len() < 12, "{files:?}");
}

#[test]
fn locate_takes_names_in_the_folder_and_existing_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    write(&root.join("data/x.txt"), b"x");
    let p = place(&root);
    let made = backup::create(&p, Some("v1"), None, &never).unwrap();
    assert_eq!(backup::locate(&p.dir, &made.name).unwrap(), made.path);
    let e = backup::locate(&p.dir, "20990101T000000Z.zip").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    for bad in ["photos.zip", "../20990101T000000Z.zip", "x/../../etc/passwd", "a\\b.zip", ""] {
        assert_eq!(
            backup::locate(&p.dir, bad).unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{bad}"
        );
    }
    let given = made.path.to_str().unwrap();
    assert_eq!(backup::locate(Path::new("/nowhere"), given).unwrap(), made.path);
    let dotted = format!("{}/../backups/{}", p.dir.display(), made.name);
    assert_eq!(backup::locate(Path::new("/nowhere"), &dotted).unwrap(), PathBuf::from(&dotted));
}

#[test]
fn seventy_thousand_files_get_zip64_end_records_unzip_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    // Hard links to a few files: 70,000 names but few new inodes (ext4 creates inodes slowly right after many
    // were deleted, as by an earlier run of this test).
    let seeds: Vec<PathBuf> = (0..10).map(|i| root.join(format!("seed-{i}.txt"))).collect();
    for (i, s) in seeds.iter().enumerate() {
        write(s, format!("tiny file {i}").as_bytes());
    }
    for d in 0..70 {
        let dir = root.join(format!("data/d{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..1000 {
            std::fs::hard_link(&seeds[i % 10], dir.join(format!("f{i:04}.txt"))).unwrap();
        }
    }
    let made = backup::create(&place(&root), None, None, &never).unwrap();
    assert_eq!(made.entries, 70_000);
    let (cd, zip64, count16) = central(&made.path);
    assert!(zip64, "no Zip64 end records");
    assert_eq!(count16, 0xFFFF);
    assert_eq!(cd.len(), 70_001);
    unzip_test(&made.path);
    let v = backup::verify(&made.path).unwrap();
    assert!(v.ok && v.entries == 70_000, "{:?}", &v.problems[..v.problems.len().min(3)]);
    let info = &backup::list(&place(&root).dir).unwrap()[0];
    assert_eq!(info.entries, 70_000);
}

/// The data extents of a file (SEEK_DATA / SEEK_HOLE): what is outside them reads as zeros.
fn data_extents(f: &File) -> Vec<(u64, u64)> {
    use std::os::fd::AsRawFd;
    let len = f.metadata().unwrap().len() as i64;
    let mut out = Vec::new();
    let mut at = 0i64;
    while at < len {
        // SAFETY: an open descriptor; lseek touches no memory.
        let data = unsafe { libc::lseek(f.as_raw_fd(), at, libc::SEEK_DATA) };
        if data < 0 {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(f.as_raw_fd(), data, libc::SEEK_HOLE) };
        out.push((data as u64, hole as u64));
        at = hole;
    }
    out
}

#[test]
fn a_sparse_5_gib_model_round_trips_stored_in_zip64_and_stays_sparse() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    let model = root.join("assets/models/big.safetensors");
    std::fs::create_dir_all(model.parent().unwrap()).unwrap();
    let size: u64 = 5 << 30;
    let pieces: [(u64, &[u8]); 3] = [
        (0, b"header{\"dtype\":\"F16\"}"),
        (size / 2 + 12345, b"the middle"),
        (size - 7, b"the end"),
    ];
    {
        let f = File::create(&model).unwrap();
        f.set_len(size).unwrap();
        for (at, b) in pieces {
            f.write_all_at(b, at).unwrap();
        }
    }
    write(&root.join("data/small.txt"), b"small");
    // The SHA-256 of the content, computed from what it is (not read back from the disk).
    let want = {
        let mut h = Sha256::new();
        let zeros = vec![0u8; 1 << 20];
        let mut at = 0u64;
        for (p, b) in pieces {
            while at < p {
                let n = (p - at).min(zeros.len() as u64) as usize;
                h.update(&zeros[..n]);
                at += n as u64;
            }
            h.update(b);
            at += b.len() as u64;
        }
        hex::encode(h.finalize())
    };

    let made = backup::create(&place(&root), None, None, &never).unwrap();
    assert_eq!(made.bytes, size + 5);
    let (cd, zip64, _) = central(&made.path);
    assert!(zip64);
    let e = cd.iter().find(|e| e.name == "assets/models/big.safetensors").unwrap();
    assert_eq!((e.method, e.size), (0, size));
    // Its local header: Zip64 sizes (0xFFFFFFFF, and the real ones in the 0x0001 field).
    let a = File::open(&made.path).unwrap();
    let h = read_at(&a, e.offset, 30 + e.name.len() + 20);
    assert_eq!((u32_at(&h, 0), u16_at(&h, 4)), (0x0403_4b50, 45));
    assert_eq!((u32_at(&h, 18), u32_at(&h, 22)), (0xFFFF_FFFF, 0xFFFF_FFFF));
    let x = 30 + e.name.len();
    assert_eq!((u16_at(&h, x), u16_at(&h, x + 2)), (1, 16));
    assert_eq!((u64_at(&h, x + 4), u64_at(&h, x + 12)), (size, size));
    let m = cd.last().unwrap();
    assert_eq!(m.name, backup::MANIFEST_PATH);
    assert!(m.offset > size, "the manifest's offset needs Zip64 too");
    // The archive itself keeps the zeros as holes.
    let am = std::fs::metadata(&made.path).unwrap();
    assert!(
        am.len() > size && am.blocks() * 512 < (64 << 20),
        "archive uses {} bytes",
        am.blocks() * 512
    );
    // Info-ZIP tests every entry but the 5 GiB one (whose zeros it would read through the page cache); the
    // manifest past 4 GiB is among them.
    let out = Command::new("unzip")
        .arg("-tqq")
        .arg(&made.path)
        .args(["-x", "assets/models/big.safetensors"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let mj = Command::new("unzip")
        .arg("-p")
        .arg(&made.path)
        .arg(backup::MANIFEST_PATH)
        .output()
        .unwrap();
    let mj: serde_json::Value = serde_json::from_slice(&mj.stdout).unwrap();
    let me = mj["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "assets/models/big.safetensors");
    assert_eq!(me.unwrap()["sha256"], want.as_str());
    let v = backup::verify(&made.path).unwrap();
    assert!(v.ok, "{:?}", v.problems);

    let target = tmp.path().join("t");
    let r = backup::restore(&made.path, &target, false, &never).unwrap();
    assert_eq!(r.status, RestoreStatus::Completed);
    assert_eq!(r.bytes, size + 5);
    let out = File::open(target.join("assets/models/big.safetensors")).unwrap();
    let om = out.metadata().unwrap();
    assert_eq!(om.len(), size);
    assert!(om.blocks() * 512 < (16 << 20), "the restored file uses {} bytes", om.blocks() * 512);
    // Byte for byte: every data extent holds the pieces where they belong and zeros elsewhere; outside the
    // extents the file reads as zeros.
    let extents = data_extents(&out);
    assert!(extents.len() >= 3, "{extents:?}");
    let mut found = 0;
    for (from, to) in extents {
        let got = read_at(&out, from, (to - from) as usize);
        let mut expect = vec![0u8; got.len()];
        for (at, b) in pieces {
            if at >= from && at < to {
                expect[(at - from) as usize..(at - from) as usize + b.len()].copy_from_slice(b);
                found += 1;
            }
        }
        assert!(got == expect, "extent {from}..{to}");
    }
    assert_eq!(found, 3);
}
