//! The data-safety rules, each as a user would meet it from the shell: filters protect what they exclude, names
//! of a temporary's form are the user's files, roots that overlap are refused, deletes are guarded, a backup
//! folder keeps what a run replaces, the destination is always listed, kind changes sync, and what cannot be
//! synced makes the run partial. Every invocation has its own state directory.

use serde_json::Value;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_syncwright");

struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::Builder::new().prefix("swsafe-").tempdir().unwrap();
        let root = dir.path().to_path_buf();
        fs::create_dir_all(root.join("state")).unwrap();
        Scratch { _dir: dir, root }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn put(&self, rel: &str, data: &[u8]) {
        let p = self.p(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.p(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.p(rel)).is_ok()
    }

    /// `syncwright ARGS --json` from the scratch root; the exit code and the report.
    fn sw(&self, args: &[&str]) -> (i32, Value, Output) {
        let o = Command::new(BIN)
            .current_dir(&self.root)
            .env("SYNCWRIGHT_STATE_DIR", self.p("state"))
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        let code = o.status.code().unwrap_or(-1);
        let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (code, v, o)
    }

    #[track_caller]
    fn sync_ok(&self, args: &[&str]) -> Value {
        let mut a = vec!["sync"];
        a.extend_from_slice(args);
        let (code, v, o) = self.sw(&a);
        assert_eq!(
            code,
            0,
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        v
    }
}

fn kinds(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| a.iter().map(|e| e["kind"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn a_filter_added_later_protects_what_it_excludes_unless_delete_excluded() {
    let s = Scratch::new();
    s.put("S/models/m", b"m");
    s.put("S/a", b"a");
    s.put("S/b", b"b");
    s.sync_ok(&["S", "D"]);
    let r = s.sync_ok(&["S", "D", "--delete", "--exclude", "models/"]);
    assert_eq!(r["stats"]["deleted"], 0, "{r}");
    assert_eq!(s.read("D/models/m"), b"m", "an excluded destination file was deleted");
    // Another filter form: a name pattern, and a file only at the destination it matches.
    s.put("D/cache.tmp", b"t");
    s.sync_ok(&["S", "D", "--delete", "--exclude", "*.tmp", "--exclude", "models/"]);
    assert!(s.exists("D/cache.tmp"));
    // Asked for: excluded paths at the destination go too.
    let r = s.sync_ok(&[
        "S",
        "D",
        "--delete",
        "--delete-excluded",
        "--exclude",
        "*.tmp",
        "--max-delete",
        "5",
    ]);
    assert!(!s.exists("D/cache.tmp"), "{r}");
    assert_eq!(s.read("D/models/m"), b"m", "models/ is no longer excluded and is at the source");
}

#[test]
fn names_of_a_temporarys_form_are_user_files() {
    let s = Scratch::new();
    s.put("S/a", b"a");
    s.put("S/.x.swtmp-0123456789abcdef", b"source file");
    s.put("D/.y.swtmp-fedcba9876543210", b"data");
    let r = s.sync_ok(&["S", "D"]);
    assert_eq!(s.read("D/.y.swtmp-fedcba9876543210"), b"data", "{r}");
    assert_eq!(
        s.read("D/.x.swtmp-0123456789abcdef"),
        b"source file",
        "a source file of that form is copied"
    );
    // Still there after another run, and deleted only as a mirror would (missing at the source).
    s.sync_ok(&["S", "D"]);
    assert!(s.exists("D/.y.swtmp-fedcba9876543210"));
    s.sync_ok(&["S", "D", "--delete", "--max-delete", "1"]);
    assert!(!s.exists("D/.y.swtmp-fedcba9876543210"));
    assert_eq!(s.read("D/.x.swtmp-0123456789abcdef"), b"source file");
}

#[test]
fn overlapping_roots_are_refused_unless_the_inner_one_is_excluded() {
    let s = Scratch::new();
    s.put("A/f", b"f");
    s.put("D/sub/g", b"g");
    for args in
        [&["A", "A/sub"][..], &["A", "A"], &["D/sub", "D", "--delete"], &["A", "./A/../A/x/y"]]
    {
        let mut a = vec!["sync"];
        a.extend_from_slice(args);
        let (code, v, o) = s.sw(&a);
        assert_eq!(code, 2, "{args:?}: {v}\n{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(v["fatal"]["kind"], "invalid_input", "{v}");
    }
    assert!(!s.exists("A/sub") && !s.exists("A/x"), "nothing written into the source");
    assert_eq!(s.read("D/sub/g"), b"g");
    // Excluded, the inner root is no part of the sync on either side.
    s.sync_ok(&["A", "A/sub", "--exclude", "sub/"]);
    s.sync_ok(&["A", "A/sub", "--exclude", "sub/"]);
    assert_eq!(s.read("A/sub/f"), b"f");
    assert!(!s.exists("A/sub/sub"), "no nesting on the second run");
    s.sync_ok(&["D/sub", "D", "--delete", "--exclude", "/sub/"]);
    assert_eq!(s.read("D/sub/g"), b"g");
    assert_eq!(s.read("D/g"), b"g");
}

#[test]
fn an_empty_source_and_large_deletes_are_refused_by_default() {
    let s = Scratch::new();
    for i in 0..4 {
        s.put(&format!("S/sub/{i}"), b"x");
    }
    s.put("S/top", b"t");
    s.sync_ok(&["S", "D"]);
    // More than half of the destination's files: refused (the dry run says so too), unless max_delete.
    fs::remove_dir_all(s.p("S/sub")).unwrap();
    let (code, dry, _) = s.sw(&["sync", "S", "D", "--delete", "-n"]);
    assert_eq!(code, 3, "{dry}");
    assert!(dry["errors"][0]["error"].as_str().unwrap().contains("more than half"), "{dry}");
    let (code, r, _) = s.sw(&["sync", "S", "D", "--delete"]);
    assert_eq!((code, &r["status"]), (3, &Value::from("partial")), "{r}");
    assert_eq!(r["stats"]["deleted"], 0);
    assert!(s.exists("D/sub/0"));
    let r = s.sync_ok(&["S", "D", "--delete", "--max-delete", "4"]);
    assert_eq!(r["stats"]["deleted"], 4, "{r}");
    // An empty source root (an unmounted disk) deletes nothing, whatever max_delete says...
    fs::remove_file(s.p("S/top")).unwrap();
    let (code, r, _) = s.sw(&["sync", "S", "D", "--delete", "--max-delete", "100"]);
    assert_eq!(code, 3, "{r}");
    assert!(r["errors"][0]["error"].as_str().unwrap().contains("source is empty"), "{r}");
    assert_eq!(s.read("D/top"), b"t");
    // ... unless emptying it is what the user asks for.
    let r = s.sync_ok(&["S", "D", "--delete", "--allow-empty-source", "--max-delete", "1"]);
    assert_eq!(r["stats"]["deleted"], 1, "{r}");
    assert!(!s.exists("D/top"));
}

#[test]
fn a_backup_dir_keeps_what_a_run_deletes_or_overwrites() {
    let s = Scratch::new();
    s.put("S/keep", b"k");
    s.put("S/a/doomed", b"old doomed");
    s.put("S/a/changed", b"version 1");
    s.sync_ok(&["S", "D"]);
    fs::remove_file(s.p("S/a/doomed")).unwrap();
    s.put("S/a/changed", b"version 2, longer");
    let abs = s.p("bk").display().to_string();
    let r = s.sync_ok(&["S", "D", "--delete", "--max-delete", "1", "--backup-dir", &abs]);
    assert!(r["warnings"].as_array().unwrap().iter().any(|w| w["reason"] == "backed_up"), "{r}");
    assert_eq!(s.read("D/a/changed"), b"version 2, longer");
    assert!(!s.exists("D/a/doomed"));
    assert_eq!(s.read("bk/a/doomed"), b"old doomed", "the deleted file is kept");
    assert_eq!(s.read("bk/a/changed"), b"version 1", "the overwritten version is kept");
    // A relative backup folder is inside the destination: it must be excluded there.
    let (code, v, _) = s.sw(&["sync", "S", "D", "--backup-dir", "B"]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["fatal"]["kind"], "invalid_input");
    s.put("S/a/changed", b"version 3");
    // Inside the destination, excluded: kept there, and never deleted by a mirror.
    s.sync_ok(&["S", "D", "--delete", "--exclude", "/.bk/", "--backup-dir", ".bk"]);
    s.put("S/a/changed", b"version 4!");
    s.sync_ok(&["S", "D", "--delete", "--exclude", "/.bk/", "--backup-dir", ".bk"]);
    assert_eq!(s.read("D/.bk/a/changed"), b"version 2, longer");
    s.put("S/a/changed", b"version 5!!");
    s.sync_ok(&["S", "D", "--delete", "--exclude", "/.bk/", "--backup-dir", ".bk"]);
    assert_eq!(s.read("D/.bk/a/changed"), b"version 2, longer", "the first backup is kept");
    assert_eq!(s.read("D/.bk/a/changed.~1~"), b"version 3", "a taken name gets a suffix");
    assert_eq!(s.read("D/.bk/a/changed.~2~"), b"version 4!");
    // A backup folder in the source is refused.
    let src_inner = s.p("S/bk").display().to_string();
    let (code, v, _) = s.sw(&["sync", "S", "D", "--backup-dir", &src_inner]);
    assert_eq!(code, 2, "{v}");
    let _ = kinds(&v, "errors");
}

#[test]
fn the_destination_is_always_listed() {
    let s = Scratch::new();
    s.put("S/a", b"aaaa");
    s.put("S/d/b", b"bbbb");
    s.sync_ok(&["S", "D"]);
    fs::remove_file(s.p("D/a")).unwrap();
    fs::remove_dir_all(s.p("D/d")).unwrap();
    let r = s.sync_ok(&["S", "D", "-c"]);
    assert_eq!(r["stats"]["created"], 2, "{r}");
    assert_eq!(s.read("D/a"), b"aaaa");
    // An edit behind the same size and mtime is seen by -c, and only by it.
    let mtime = fs::metadata(s.p("D/a")).unwrap().modified().unwrap();
    fs::write(s.p("D/a"), b"AAAA").unwrap();
    fs::File::options().write(true).open(s.p("D/a")).unwrap().set_modified(mtime).unwrap();
    let r = s.sync_ok(&["S", "D"]);
    assert_eq!(r["stats"]["updated"], 0, "{r}");
    let r = s.sync_ok(&["S", "D", "-c"]);
    assert_eq!(r["stats"]["updated"], 1, "{r}");
    assert_eq!(s.read("D/a"), b"aaaa");
    // An update at the source is not taken for an edit at the destination; an edit there is.
    s.put("S/d/b", b"bbbb, longer");
    let r = s.sync_ok(&["S", "D"]);
    let dest_changed =
        |r: &Value| r["warnings"].as_array().unwrap().iter().any(|w| w["reason"] == "dest_changed");
    assert!(!dest_changed(&r), "{r}");
    fs::write(s.p("D/d/b"), b"edited at the destination").unwrap();
    s.put("S/d/b", b"bbbb, longer still");
    let r = s.sync_ok(&["S", "D"]);
    assert!(dest_changed(&r), "{r}");
    assert_eq!(s.read("D/d/b"), b"bbbb, longer still");
    // Two snapshot names sharing one destination see each other's changes.
    s.sync_ok(&["S", "D", "--name", "other"]);
    fs::remove_file(s.p("D/a")).unwrap();
    let r = s.sync_ok(&["S", "D", "--name", "other"]);
    assert_eq!(r["stats"]["created"], 1, "{r}");
    // Trusting the manifest alone keeps the old blindness, on request.
    fs::remove_file(s.p("D/a")).unwrap();
    let r = s.sync_ok(&["S", "D", "--trust-dest-manifest"]);
    assert_eq!(r["stats"]["created"], 0, "{r}");
    assert!(!s.exists("D/a"));
}

#[test]
fn a_path_that_changes_kind_syncs() {
    let s = Scratch::new();
    s.put("S/p/inner", b"i");
    s.put("S/q", b"q");
    s.put("S/z", b"z");
    s.put("S/y", b"y");
    s.sync_ok(&["S", "D"]);
    // A folder becomes a file, a file becomes a folder.
    fs::remove_dir_all(s.p("S/p")).unwrap();
    s.put("S/p", b"now a file");
    fs::remove_file(s.p("S/q")).unwrap();
    s.put("S/q/child", b"c");
    // Without --delete the folder's content stays: p is a conflict, q is replaced (an overwrite).
    let (code, r, _) = s.sw(&["sync", "S", "D"]);
    assert_eq!(code, 3, "{r}");
    assert_eq!(kinds(&r, "errors"), vec!["conflict"], "{r}");
    assert_eq!(s.read("D/p/inner"), b"i");
    assert_eq!(s.read("D/q/child"), b"c");
    let r = s.sync_ok(&["S", "D", "--delete", "--max-delete", "1"]);
    assert_eq!(s.read("D/p"), b"now a file", "{r}");
    // A file becomes a symlink and back, with a backup of what it replaces.
    fs::remove_file(s.p("S/z")).unwrap();
    std::os::unix::fs::symlink("y", s.p("S/z")).unwrap();
    s.sync_ok(&["S", "D", "--delete", "--max-delete", "1"]);
    assert_eq!(fs::read_link(s.p("D/z")).unwrap(), Path::new("y"));
    fs::remove_file(s.p("S/z")).unwrap();
    s.put("S/z", b"file again");
    s.sync_ok(&["S", "D"]);
    assert_eq!(s.read("D/z"), b"file again");
    let r = s.sync_ok(&["S", "D"]);
    assert_eq!(
        r["stats"]["created"].as_u64().unwrap() + r["stats"]["updated"].as_u64().unwrap(),
        0,
        "{r}"
    );
}

#[test]
fn what_cannot_be_synced_makes_the_run_partial() {
    let s = Scratch::new();
    s.put("S/ok", b"ok");
    let bad = s.p("S").join(std::ffi::OsStr::from_bytes(b"bad-\xff"));
    fs::write(&bad, b"x").unwrap();
    let (code, r, _) = s.sw(&["sync", "S", "D"]);
    assert_eq!(code, 3, "{r}");
    assert_eq!(r["status"], "partial");
    assert_eq!(kinds(&r, "errors"), vec!["invalid_input"], "{r}");
    assert_eq!(s.read("D/ok"), b"ok");
    fs::remove_file(&bad).unwrap();
    // A file named .syncwright at the source root cannot be synced...
    s.put("S/.syncwright", b"mine");
    let (code, r, _) = s.sw(&["sync", "S", "D2"]);
    assert_eq!(code, 3, "{r}");
    // ... a folder by that name is syncwright's own (a destination used as a source): skipped silently.
    fs::remove_file(s.p("S/.syncwright")).unwrap();
    let r = s.sync_ok(&["D", "D3"]);
    assert_eq!(r["warnings"], Value::Array(vec![]), "{r}");
    assert!(!s.exists("D3/.syncwright/manifests/default.json.x"));
    // A special file stays a warning.
    let fifo = s.p("S/pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let r = s.sync_ok(&["S", "D"]);
    assert!(r["warnings"].as_array().unwrap().iter().any(|w| w["reason"] == "special_file"), "{r}");
}

#[test]
fn folders_holding_only_temporaries_after_a_crash_are_cleaned() {
    let s = Scratch::new();
    s.put("S/keep", b"k");
    s.put("S/big/f", &vec![7u8; 8 << 20]);
    s.sync_ok(&["S", "D"]);
    // What a run killed in the middle of an update leaves: its marker listing a temporary, in a folder that
    // holds nothing else.
    fs::remove_file(s.p("D/big/f")).unwrap();
    let tmp = "big/.f.swtmp-00000000000000aa";
    s.put(&format!("D/{tmp}"), b"partial");
    s.put(
        "D/.syncwright/runs/default.inflight",
        format!("{{\"started_at\":\"2026-01-01T00:00:00Z\",\"temporaries\":[\"{tmp}\"]}}")
            .as_bytes(),
    );
    fs::remove_dir_all(s.p("S/big")).unwrap();
    let r = s.sync_ok(&["S", "D", "--delete", "--max-delete", "1"]);
    assert!(!s.exists("D/big"), "{r}");
    assert_eq!(s.read("D/keep"), b"k");
    let _ = fs::Permissions::from_mode(0o644);
}

#[test]
fn a_delete_of_what_is_already_gone_is_not_counted() {
    let s = Scratch::new();
    for f in ["a", "b", "c"] {
        s.put(&format!("S/{f}"), b"x");
    }
    s.sync_ok(&["S", "D"]);
    fs::remove_file(s.p("S/c")).unwrap();
    fs::remove_file(s.p("D/c")).unwrap();
    // Trusting the manifest, the plan still has the delete; the file is found gone when it comes to it.
    let r = s.sync_ok(&["S", "D", "--delete", "--trust-dest-manifest"]);
    assert_eq!(r["stats"]["deleted"], 0, "{r}");
    let r = s.sync_ok(&["S", "D", "--delete"]);
    assert_eq!(r["stats"]["deleted"], 0, "{r}");
}
