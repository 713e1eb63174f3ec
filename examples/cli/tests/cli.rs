//! End-to-end tests of the `syncwright` binary: real files in temporary directories, real child processes, real
//! signals. Every invocation gets its own state directory (flag and environment), so nothing touches
//! ~/.local/state.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_syncwright");
const MIB: usize = 1 << 20;
/// Upper bound for every poll for a condition.
const POLL_DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/// One test's scratch area: `root/src`, `root/dst` and a private state directory.
struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::Builder::new().prefix("swcli-").tempdir().expect("create temp dir");
        let root = dir.path().to_path_buf();
        let state = root.join("state");
        fs::create_dir_all(&state).unwrap();
        Scratch { _dir: dir, root, state }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A `syncwright` command with this scratch's state directory (both as the global flag and in the
    /// environment), run from the scratch root.
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(&self.root)
            .env("SYNCWRIGHT_STATE_DIR", &self.state)
            .env("NO_COLOR", "1")
            .arg("--state-dir")
            .arg(&self.state);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run syncwright")
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or_else(|| panic!("killed by a signal: {:?}\n{}", o.status, show(o)))
}

fn show(o: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", show(o)))
}

#[track_caller]
fn expect_code(o: &Output, want: i32) {
    assert_eq!(code(o), want, "unexpected exit code\n{}", show(o));
}

fn stat(v: &Value, k: &str) -> u64 {
    v["stats"][k].as_u64().unwrap_or_else(|| panic!("stats.{k} missing in {v}"))
}

fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, data).unwrap();
}

/// Deterministic, not-all-zero bytes (splitmix64).
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut out = vec![0u8; len];
    for chunk in out.chunks_mut(8) {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let b = z.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File { len: u64 },
    Symlink(PathBuf),
    Other,
}

/// Every entry below `root` (relative paths), not following symlinks; `skip_state` leaves out `root/.syncwright`.
fn walk(root: &Path, skip_state: bool) -> BTreeMap<PathBuf, Node> {
    fn rec(root: &Path, dir: &Path, skip_state: bool, out: &mut BTreeMap<PathBuf, Node>) {
        let rd = fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
        for ent in rd {
            let ent = ent.unwrap();
            let p = ent.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if skip_state && rel == Path::new(".syncwright") {
                continue;
            }
            let md = fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let node = if ft.is_symlink() {
                Node::Symlink(fs::read_link(&p).unwrap())
            } else if ft.is_dir() {
                Node::Dir
            } else if ft.is_file() {
                Node::File { len: md.len() }
            } else {
                Node::Other
            };
            let is_dir = node == Node::Dir;
            out.insert(rel, node);
            if is_dir {
                rec(root, &p, skip_state, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    rec(root, root, skip_state, &mut out);
    out
}

/// True when the two files hold the same bytes (read in chunks; files may be large).
fn same_content(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (fs::File::open(a).unwrap(), fs::File::open(b).unwrap());
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; MIB], vec![0u8; MIB]);
    loop {
        let n = read_full(&mut fa, &mut ba);
        let m = read_full(&mut fb, &mut bb);
        if n != m || ba[..n] != bb[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..]).unwrap() {
            0 => break,
            n => filled += n,
        }
    }
    filled
}

/// Asserts that `dst` (ignoring `dst/.syncwright`) holds exactly what `src` holds: the same entries, the same kinds,
/// the same bytes in every file.
#[track_caller]
fn assert_trees_equal(src: &Path, dst: &Path) {
    let a = walk(src, false);
    let b = walk(dst, true);
    let ka: BTreeSet<_> = a.keys().collect();
    let kb: BTreeSet<_> = b.keys().collect();
    assert_eq!(
        ka,
        kb,
        "entry sets differ; only at source: {:?}; only at destination: {:?}",
        ka.difference(&kb).collect::<Vec<_>>(),
        kb.difference(&ka).collect::<Vec<_>>()
    );
    for (rel, node) in &a {
        assert_eq!(node, &b[rel], "{} differs in kind or size", rel.display());
        if let Node::File { .. } = node {
            assert!(
                same_content(&src.join(rel), &dst.join(rel)),
                "{} differs in content",
                rel.display()
            );
        }
    }
}

/// Every syncwright temporary below `root`, with its size.
fn temporaries(root: &Path) -> Vec<(PathBuf, u64)> {
    if !root.exists() {
        return Vec::new();
    }
    walk(root, false)
        .into_iter()
        .filter(|(p, _)| p.file_name().is_some_and(|n| n.to_string_lossy().contains(".swtmp-")))
        .map(|(p, n)| {
            let len = match n {
                Node::File { len } => len,
                _ => 0,
            };
            (p, len)
        })
        .collect()
}

/// Non-hidden regular files below `root` (outside `.syncwright`).
fn visible_files(root: &Path) -> Vec<PathBuf> {
    if !root.exists() {
        return Vec::new();
    }
    walk(root, true)
        .into_iter()
        .filter(|(p, n)| {
            matches!(n, Node::File { .. })
                && !p.file_name().is_some_and(|f| f.to_string_lossy().starts_with('.'))
        })
        .map(|(p, _)| p)
        .collect()
}

/// A listing with contents, modes and mtimes: for "nothing was written" checks.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (Node, Vec<u8>, u32, i64)> {
    walk(root, false)
        .into_iter()
        .map(|(rel, node)| {
            let p = root.join(&rel);
            let md = fs::symlink_metadata(&p).unwrap();
            let content =
                if let Node::File { .. } = node { fs::read(&p).unwrap() } else { Vec::new() };
            let mtime = {
                use std::os::unix::fs::MetadataExt;
                md.mtime() * 1_000_000_000 + md.mtime_nsec()
            };
            (rel, (node, content, md.permissions().mode(), mtime))
        })
        .collect()
}

/// Polls `cond` until it holds; fails clearly when the child exits first or when the deadline passes.
fn wait_until(child: &mut Child, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        if cond() {
            return;
        }
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("syncwright exited ({st:?}) before {what}; stderr:\n{err}");
        }
        if start.elapsed() > POLL_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gave up after {POLL_DEADLINE:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills the child on drop, so a failing assertion never leaves a syncwright process running.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A source tree of 40 files of 1 MiB and one of 64 MiB (`big.bin`, first in path order); returns the total size.
fn big_tree(src: &Path, small_files: usize) -> u64 {
    write(&src.join("big.bin"), &pseudo_random(0xB16, 64 * MIB));
    for i in 0..small_files {
        write(&src.join(format!("small/f{i:02}.bin")), &pseudo_random(i as u64 + 1, MIB));
    }
    (64 * MIB + small_files * MIB) as u64
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Exit codes and the JSON report
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn exit_codes_and_json_report() {
    let s = Scratch::new();
    let src = s.path("src");
    write(&src.join("a.txt"), b"alpha\n");
    write(&src.join("sub/b.txt"), b"bravo bravo\n");
    write(&src.join("sub/deeper/c.bin"), &pseudo_random(7, 10_000));
    let files = 3u64;
    let total_bytes = 6 + 12 + 10_000u64;

    // First sync: everything is created.
    let o = s.run(&["sync", "src", "dst", "--json"]);
    expect_code(&o, 0);
    let r = json(&o);
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["dry_run"], false);
    assert_eq!(stat(&r, "created"), files, "{r}");
    assert_eq!(stat(&r, "updated"), 0);
    assert_eq!(stat(&r, "errors"), 0);
    assert_eq!(stat(&r, "bytes_transferred"), total_bytes, "{r}");
    assert_eq!(r["errors"], serde_json::json!([]));
    assert!(r.get("plan").is_none() || r["plan"].is_null(), "a real run carries no plan: {r}");
    assert!(r.get("fatal").is_none() || r["fatal"].is_null(), "{r}");
    for k in [
        "schema_version",
        "run_id",
        "source",
        "destination",
        "started_at",
        "finished_at",
        "duration_ms",
    ] {
        assert!(r.get(k).is_some(), "report lacks {k}: {r}");
    }
    assert_trees_equal(&src, &s.path("dst"));
    assert!(s.path("dst/.syncwright/manifests/default.json").is_file());
    assert!(
        !s.path("dst/.syncwright/runs/default.inflight").exists(),
        "clean run left its inflight marker"
    );

    // Rerun: nothing to do.
    let o = s.run(&["sync", "src", "dst", "--json"]);
    expect_code(&o, 0);
    let r = json(&o);
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(stat(&r, "created"), 0, "{r}");
    assert_eq!(stat(&r, "updated"), 0, "{r}");
    assert_eq!(stat(&r, "unchanged"), files, "{r}");
    assert_eq!(stat(&r, "bytes_transferred"), 0, "{r}");

    // Missing source: exit 2, and the message on stderr names the path.
    let o = s.run(&["sync", "no-such-source", "dst2"]);
    expect_code(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no-such-source"), "stderr does not name the missing path:\n{}", show(&o));
    assert!(err.contains("error"), "{}", show(&o));
    assert!(!s.path("dst2").exists(), "a failed run created its destination");
    // With --json the report says it: status failed, a fatal not_found naming the path.
    // (Nothing is printed on stderr in that mode; see the report of this test suite.)
    let o = s.run(&["sync", "no-such-source", "dst2", "--json"]);
    expect_code(&o, 2);
    let r = json(&o);
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["fatal"]["kind"], "not_found", "{r}");
    assert!(r["fatal"]["error"].as_str().unwrap_or("").contains("no-such-source"), "{r}");
    assert!(!s.path("dst2").exists(), "a failed run created its destination");

    // Bad flags and bad values: usage errors, exit 2.
    for bad in [
        &["sync", "src", "dst", "--bogus"][..],
        &["sync", "src", "dst", "--links", "sideways"],
        &["sync", "src", "dst", "--bwlimit", "0"],
        &["sync", "src", "dst", "--min-age", "soon"],
        &["sync", "src"],
        &["frobnicate"],
    ] {
        let o = s.run(bad);
        expect_code(&o, 2);
        assert!(!o.stderr.is_empty(), "{bad:?}: no message on stderr");
    }

    // Dry run to a destination that does not exist: it is not created, and the report has the plan.
    let o = s.run(&["sync", "src", "fresh", "--dry-run", "--json"]);
    expect_code(&o, 0);
    let r = json(&o);
    assert_eq!(r["dry_run"], true, "{r}");
    assert!(r["plan"].is_object(), "dry run without a plan: {r}");
    assert_eq!(r["plan"]["actions"].as_array().map(Vec::len), Some(files as usize), "{r}");
    assert_eq!(stat(&r, "files_planned"), files);
    assert_eq!(stat(&r, "bytes_planned"), total_bytes);
    assert_eq!(stat(&r, "created"), 0);
    assert_eq!(stat(&r, "bytes_transferred"), 0);
    assert!(!s.path("fresh").exists(), "--dry-run created the destination");

    // Dry run against an existing, out-of-date destination: byte for byte (and mtime for mtime) unchanged.
    write(&src.join("a.txt"), b"alpha, edited at the source\n");
    write(&src.join("new.txt"), b"new\n");
    write(&s.path("dst/extra.txt"), b"only here\n");
    let before = snapshot(&s.path("dst"));
    let o = s.run(&["sync", "src", "dst", "--dry-run", "--delete", "--json"]);
    expect_code(&o, 0);
    let r = json(&o);
    assert!(r["plan"].is_object(), "{r}");
    assert_eq!(snapshot(&s.path("dst")), before, "--dry-run changed the destination");

    // `plan`: one new, one changed, one only at the destination (fresh destination, so it is scanned).
    let p = s.path("p");
    write(&p.join("src/new.txt"), b"new file\n");
    write(&p.join("src/dir/changed.txt"), b"the source version, longer\n");
    write(&p.join("dst/dir/changed.txt"), b"old version\n");
    write(&p.join("dst/only-at-dest.txt"), b"dest only\n");
    let o = s.run(&["plan", "p/src", "p/dst"]);
    expect_code(&o, 0);
    let stdout = String::from_utf8(o.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, ["* dir/changed.txt", "+ new.txt", "- only-at-dest.txt"], "{}", show(&o));
    // `plan` writes nothing either.
    assert!(!p.join("dst/.syncwright").exists(), "plan wrote state at the destination");
    let o = s.run(&["plan", "p/src", "p/dst", "--json"]);
    expect_code(&o, 0);
    let pj = json(&o);
    assert!(pj["actions"].is_array(), "{pj}");
}

// ---------------------------------------------------------------------------------------------------------------
// 2. An unreadable file: partial, the rest copied
// ---------------------------------------------------------------------------------------------------------------

/// A command that runs syncwright without the capabilities that let root ignore mode bits.
fn unprivileged(s: &Scratch) -> Command {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut c = if root {
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("running as root needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE");
        let mut c = Command::new(setpriv);
        c.args([
            "--bounding-set",
            "-dac_override,-dac_read_search",
            "--inh-caps",
            "-dac_override,-dac_read_search",
            BIN,
        ]);
        c
    } else {
        Command::new(BIN)
    };
    c.current_dir(&s.root).env("SYNCWRIGHT_STATE_DIR", &s.state).arg("--state-dir").arg(&s.state);
    c
}

#[test]
fn unreadable_file_gives_partial_and_the_rest_is_copied() {
    let s = Scratch::new();
    let src = s.path("src");
    write(&src.join("a.txt"), &pseudo_random(1, 3000));
    write(&src.join("locked/secret.bin"), &pseudo_random(2, 5000));
    write(&src.join("z.txt"), &pseudo_random(3, 7000));
    let locked = src.join("locked/secret.bin");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    // A file only at the destination: --delete must not remove it in a run that had an error.
    write(&s.path("dst/only-at-dest.txt"), b"keep me\n");

    let o = unprivileged(&s)
        .args(["sync", "src", "dst", "--json", "--delete", "--no-progress"])
        .output()
        .unwrap();
    // Let the temp dir be cleaned up whatever happens below.
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o644)).unwrap();
    expect_code(&o, 3);
    let r = json(&o);
    assert_eq!(r["status"], "partial", "{r}");
    let errors = r["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "expected exactly one error: {r}");
    assert_eq!(errors[0]["kind"], "permission", "{r}");
    assert_eq!(errors[0]["path"], "locked/secret.bin", "{r}");
    assert_eq!(stat(&r, "errors"), 1);
    assert_eq!(stat(&r, "created"), 2, "{r}");

    // The other two are there, byte for byte; the unreadable one is not, and no temporary is left.
    for f in ["a.txt", "z.txt"] {
        assert!(same_content(&src.join(f), &s.path("dst").join(f)), "{f} not copied intact");
    }
    assert!(!s.path("dst/locked/secret.bin").exists());
    assert_eq!(temporaries(&s.path("dst")), vec![], "temporaries left behind");

    // Deletes are refused after an error, with a warning saying so.
    assert!(s.path("dst/only-at-dest.txt").exists(), "--delete deleted in a run that had an error");
    assert_eq!(stat(&r, "deleted"), 0);
    let warnings = r["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["reason"] == "deletes_skipped"),
        "no deletes_skipped warning: {r}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 3. kill -9 in the middle of a run
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn kill_9_mid_run_leaves_only_complete_files_and_rerun_completes() {
    let s = Scratch::new();
    let (src, dst) = (s.path("src"), s.path("dst"));
    let total = big_tree(&src, 40);

    let child = s
        .cmd()
        .args(["sync", "src", "dst", "--bwlimit", "8M", "--transfers", "2", "--no-progress"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(Some(child));
    let child = guard.0.as_mut().unwrap();
    // A non-empty temporary and a finished file; and, so that resuming a multi-chunk temporary is exercised, at
    // least 2 MiB in the temporary of big.bin.
    wait_until(
        child,
        "non-empty temporaries (2 MiB of big.bin) and a finished file at the destination",
        || {
            let temps = temporaries(&dst);
            temps.iter().any(|(_, len)| *len > 0)
                && temps.iter().any(|(p, len)| {
                    p.to_string_lossy().starts_with(".big.bin.") && *len >= 2 * MIB as u64
                })
                && !visible_files(&dst).is_empty()
        },
    );
    child.kill().unwrap(); // SIGKILL on Unix
    let st = child.wait().unwrap();
    guard.0 = None;
    assert!(
        st.code().is_none(),
        "syncwright finished before it was killed ({st:?}): the run was too fast"
    );

    // No file is visible in a partial state: every visible file is complete.
    let visible = visible_files(&dst);
    assert!(!visible.is_empty());
    for f in &visible {
        assert!(
            same_content(&src.join(f), &dst.join(f)),
            "{} is visible but incomplete or wrong",
            f.display()
        );
    }
    let temps_after_kill = temporaries(&dst);
    assert!(!temps_after_kill.is_empty(), "SIGKILL cannot have removed the temporaries");
    let left_over: u64 = temps_after_kill.iter().map(|(_, l)| l).sum();
    let visible_bytes: u64 = visible.iter().map(|f| fs::metadata(src.join(f)).unwrap().len()).sum();

    // The rerun completes, and the destination then equals the source.
    let o = s.run(&["sync", "src", "dst", "--json", "--no-progress"]);
    expect_code(&o, 0);
    let r = json(&o);
    assert_eq!(r["status"], "completed", "{r}");
    assert_trees_equal(&src, &dst);
    assert_eq!(temporaries(&dst), vec![], "temporaries left after the rerun");
    assert!(!dst.join(".syncwright/runs/default.inflight").exists());

    // The rerun did not start from zero: finished files were skipped and partial temporaries resumed.
    let transferred = stat(&r, "bytes_transferred");
    assert!(
        transferred < total,
        "rerun transferred {transferred} bytes of {total}: nothing was kept from the killed run"
    );
    // Exactly what was missing: complete files are skipped, every surviving temporary is resumed from its end.
    assert_eq!(
        transferred,
        total - visible_bytes - left_over,
        "rerun of {total} bytes with {visible_bytes} complete and {left_over} in temporaries ({temps_after_kill:?})"
    );
    eprintln!(
        "kill -9: {} complete files ({visible_bytes} B) and {} temporaries ({left_over} B) survived; \
         rerun transferred {transferred} of {total} B",
        visible.len(),
        temps_after_kill.len()
    );
    eprintln!("temporaries after kill: {temps_after_kill:?}");
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Ctrl-C
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn ctrl_c_cancels_with_exit_4_and_no_temporary() {
    let s = Scratch::new();
    let (src, dst) = (s.path("src"), s.path("dst"));
    write(&src.join("big.bin"), &pseudo_random(0xC7C, 64 * MIB));

    let child = s
        .cmd()
        .args(["sync", "src", "dst", "--bwlimit", "4M", "--json", "--no-progress"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(Some(child));
    let child = guard.0.as_mut().unwrap();
    wait_until(child, "a non-empty temporary at the destination", || {
        temporaries(&dst).iter().any(|(_, len)| *len > 0)
    });
    // SAFETY: kill with a valid pid of our own child and a valid signal number.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "kill(SIGINT) failed: {}", std::io::Error::last_os_error());
    let o = guard.0.take().unwrap().wait_with_output().unwrap();
    expect_code(&o, 4);
    let r = json(&o);
    assert_eq!(r["status"], "cancelled", "{r}");
    assert!(r.get("fatal").is_none() || r["fatal"].is_null(), "a cancel is not a failure: {r}");
    assert_eq!(temporaries(&dst), vec![], "temporary left after Ctrl-C");
    assert!(!dst.join("big.bin").exists(), "the cancelled file is visible at the destination");
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Mirror mode and max_delete
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn mirror_and_max_delete() {
    let s = Scratch::new();
    let (src, dst) = (s.path("src"), s.path("dst"));
    write(&src.join("keep/k.txt"), b"kept\n");
    write(&src.join("top.txt"), b"top\n");
    write(&src.join("olddir/sub/o.txt"), b"goes away later\n");
    write(&src.join("x1.txt"), b"x1\n");
    write(&src.join("x2.txt"), b"x2\n");
    fs::create_dir_all(src.join("empty-at-source")).unwrap();
    // Only at the destination, before any sync (so the destination is scanned).
    write(&dst.join("stale.txt"), b"stale\n");
    write(&dst.join("handdir/nested/h.txt"), b"hand\n");
    fs::create_dir_all(dst.join("empty-only-at-dest/inner")).unwrap();

    // Without --delete nothing at the destination goes.
    let o = s.run(&["sync", "src", "dst", "--json"]);
    expect_code(&o, 0);
    assert_eq!(stat(&json(&o), "deleted"), 0);
    assert!(dst.join("stale.txt").exists() && dst.join("handdir/nested/h.txt").exists());

    // The destination manifest now lists only what syncwright wrote; --rescan-dest makes the mirror run see the
    // files that were there before.
    let o = s.run(&["sync", "src", "dst", "--delete", "--rescan-dest", "--json"]);
    expect_code(&o, 0);
    let r = json(&o);
    assert_eq!(r["status"], "completed", "{r}");
    // stale.txt, handdir/nested/h.txt and the empty directory empty-only-at-dest/inner.
    assert_eq!(stat(&r, "deleted"), 3, "{r}");
    assert_trees_equal(&src, &dst);
    assert!(!dst.join("handdir").exists(), "emptied directory not pruned");
    assert!(
        !dst.join("empty-only-at-dest").exists(),
        "empty directory only at destination not removed"
    );
    assert!(dst.join("empty-at-source").is_dir(), "empty directory of the source removed");

    // A directory removed from the source (the destination manifest is trusted now) goes with its parents.
    fs::remove_dir_all(src.join("olddir")).unwrap();
    let o = s.run(&["sync", "src", "dst", "--delete", "--json"]);
    expect_code(&o, 0);
    let r = json(&o);
    assert_eq!(stat(&r, "deleted"), 1, "{r}");
    assert!(!dst.join("olddir").exists(), "olddir left behind: {:?}", walk(&dst, true));
    assert_trees_equal(&src, &dst);

    // Two deletes planned, at most one allowed: nothing is deleted, exit 3, an error names max_delete.
    fs::remove_file(src.join("x1.txt")).unwrap();
    fs::remove_file(src.join("x2.txt")).unwrap();
    let o = s.run(&["plan", "src", "dst", "--delete"]);
    expect_code(&o, 0);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines().any(|l| l == "- x1.txt") && out.lines().any(|l| l == "- x2.txt"),
        "{}",
        show(&o)
    );
    let o = s.run(&["sync", "src", "dst", "--delete", "--max-delete", "1", "--json"]);
    expect_code(&o, 3);
    let r = json(&o);
    assert_eq!(r["status"], "partial", "{r}");
    assert_eq!(stat(&r, "deleted"), 0, "{r}");
    assert!(
        dst.join("x1.txt").exists() && dst.join("x2.txt").exists(),
        "deleted despite max_delete"
    );
    let errors = r["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["error"].as_str().unwrap_or("").contains("max_delete")),
        "no error mentions max_delete: {r}"
    );

    // With the limit raised the mirror completes.
    let o = s.run(&["sync", "src", "dst", "--delete", "--max-delete", "2", "--json"]);
    expect_code(&o, 0);
    assert_eq!(stat(&json(&o), "deleted"), 2);
    assert_trees_equal(&src, &dst);
}

// ---------------------------------------------------------------------------------------------------------------
// 6. Names that look like flags, spaces, Unicode normal forms, deep paths
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn names_that_look_like_flags_and_unicode() {
    let s = Scratch::new();
    let (src, dst) = (s.path("src"), s.path("dst"));
    let nfc = "caf\u{e9}.txt";
    let nfd = "cafe\u{301}.txt";
    let deep: String = (0..30).map(|i| format!("level{i:02}/")).collect::<String>() + "bottom.txt";
    let files: Vec<(String, Vec<u8>)> = vec![
        ("-rf".into(), b"not a flag\n".to_vec()),
        ("--help".into(), b"not help either\n".to_vec()),
        ("with space.txt".into(), b"spaces\n".to_vec()),
        ("dir with  two spaces/ leading and trailing .txt".into(), b"more spaces\n".to_vec()),
        (nfc.into(), b"composed\n".to_vec()),
        (nfd.into(), b"decomposed, different length\n".to_vec()),
        (deep.clone(), pseudo_random(30, 4096)),
    ];
    for (name, data) in &files {
        write(&src.join(name), data);
    }
    assert_ne!(nfc, nfd);
    assert_eq!(
        fs::read_dir(&src).unwrap().count(),
        7,
        "the file system merged the two forms of café"
    );

    let o = s.run(&["sync", "src", "dst", "--json"]);
    expect_code(&o, 0);
    let r = json(&o);
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(stat(&r, "created"), files.len() as u64, "{r}");
    assert_trees_equal(&src, &dst);
    for (name, data) in &files {
        assert_eq!(&fs::read(dst.join(name)).unwrap(), data, "{name:?}");
    }

    // The manifest of either side lists every name exactly as written, with the same hashes.
    let manifest = |dir: &str| -> BTreeMap<String, Value> {
        let o = s.run(&["manifest", dir]);
        expect_code(&o, 0);
        let m = json(&o);
        m["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("manifest without entries: {m}"))
            .iter()
            .filter(|e| e["kind"] == "file")
            .map(|e| (e["path"].as_str().unwrap().to_string(), e["hashes"]["sha256"].clone()))
            .collect()
    };
    let ms = manifest("src");
    let md = manifest("dst");
    let want: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(ms.keys().cloned().collect::<BTreeSet<_>>(), want, "source manifest paths");
    assert_eq!(md.keys().cloned().collect::<BTreeSet<_>>(), want, "destination manifest paths");
    assert_eq!(ms, md, "hashes differ between the two sides");
    assert!(ms.values().all(|h| h.as_str().is_some_and(|h| h.len() == 64)), "{ms:?}");

    // A rerun finds everything identical (NFC and NFD are not confused with each other).
    let o = s.run(&["sync", "src", "dst", "--json"]);
    expect_code(&o, 0);
    let r = json(&o);
    assert_eq!(stat(&r, "created") + stat(&r, "updated"), 0, "{r}");
    assert_eq!(stat(&r, "unchanged"), files.len() as u64, "{r}");

    // Directory arguments that look like flags work after `--`.
    write(&s.path("-src/--x"), b"dash\n");
    let o = s.run(&["sync", "--json", "--", "-src", "--dst"]);
    expect_code(&o, 0);
    assert_trees_equal(&s.path("-src"), &s.path("--dst"));
    let o = s.run(&["plan", "--", "-src", "--dst"]);
    expect_code(&o, 0);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().collect::<Vec<_>>(),
        ["= --x"],
        "{}",
        show(&o)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 7. The destination lock, and a destination that is not a folder
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn a_second_sync_into_a_destination_being_written_exits_5_naming_the_holder() {
    let s = Scratch::new();
    let (src, dst) = (s.path("src"), s.path("dst"));
    write(&src.join("big.bin"), &pseudo_random(0x10C, 32 * MIB));
    write(&src.join("small.txt"), b"small\n");

    let child = s
        .cmd()
        .args(["sync", "src", "dst", "--bwlimit", "4M", "--no-progress"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(Some(child));
    let child = guard.0.as_mut().unwrap();
    let pid = child.id();
    let lock = dst.join(".syncwright/locks/dest.lock");
    wait_until(child, "the first sync's lock and a non-empty temporary", || {
        lock.is_file() && temporaries(&dst).iter().any(|(_, len)| *len > 0)
    });
    let names = |d: &Path| temporaries(d).into_iter().map(|(p, _)| p).collect::<Vec<_>>();
    let temps = names(&dst);

    // A second sync, mirroring, with the same state directory and with another (another instance): exit 5 before
    // anything is done, naming the holder.
    let other_state = s.path("other-state");
    for state in [&s.state, &other_state] {
        let o = Command::new(BIN)
            .current_dir(&s.root)
            .args(["--state-dir", state.to_str().unwrap(), "sync", "src", "dst", "--delete"])
            .output()
            .unwrap();
        expect_code(&o, 5);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("already being written") && err.contains(&format!("pid {pid}")),
            "{}",
            show(&o)
        );
        assert!(!err.contains(".inflight"), "{}", show(&o));
    }
    let o = s.run(&["sync", "src", "dst", "--json"]);
    expect_code(&o, 5);
    let r = json(&o);
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["fatal"]["kind"], "conflict", "{r}");
    let d = &r["fatal"]["details"];
    assert_eq!(d["pid"], pid, "{r}");
    assert!(d["job_id"].is_string() && d["started_at"].is_string() && d["host"].is_string(), "{r}");
    assert_eq!(stat(&r, "created"), 0);
    assert_eq!(names(&dst), temps, "the first run's temporaries are untouched");
    // A dry run takes no lock.
    expect_code(&s.run(&["sync", "src", "dst", "--dry-run"]), 0);

    // The first one, stopped, takes its lock with it; then a sync runs.
    // SAFETY: kill with a valid pid of our own child and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) }, 0);
    let o = guard.0.take().unwrap().wait_with_output().unwrap();
    expect_code(&o, 4);
    assert!(!lock.exists(), "the lock outlived its run");
    expect_code(&s.run(&["sync", "src", "dst", "--no-progress"]), 0);
    assert_trees_equal(&src, &dst);
}

#[test]
fn a_destination_that_is_a_file_exits_2_naming_it_and_nothing_is_written() {
    let s = Scratch::new();
    write(&s.path("src/a.txt"), b"a\n");
    write(&s.path("afile"), b"i am a file\n");
    std::os::unix::fs::symlink(s.path("afile"), s.path("alink")).unwrap();
    for d in ["afile", "alink"] {
        for extra in [&[][..], &["--dry-run"][..]] {
            let o = s.cmd().args(["sync", "src", d]).args(extra).output().unwrap();
            expect_code(&o, 2);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains(d) && err.contains("is a file, not a folder"), "{}", show(&o));
            assert!(!err.contains(".inflight"), "{}", show(&o));
        }
        let o = s.run(&["sync", "src", d, "--json"]);
        expect_code(&o, 2);
        assert_eq!(json(&o)["fatal"]["kind"], "invalid_input");
    }
    assert_eq!(fs::read(s.path("afile")).unwrap(), b"i am a file\n");
    assert!(fs::symlink_metadata(s.path("alink")).unwrap().file_type().is_symlink());
    let names: BTreeSet<_> = fs::read_dir(&s.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["afile", "alink", "src", "state"].map(String::from)));
}

// ---------------------------------------------------------------------------------------------------------------
// 8. Parsers never panic: out-of-range numbers and bad documents are usage errors (exit 2)
// ---------------------------------------------------------------------------------------------------------------

/// Exit 2 with a message on stderr, and no panic (which exits 101 and says "panicked").
#[track_caller]
fn expect_invalid(o: &Output) {
    expect_code(o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.is_empty() && !err.contains("panicked"), "{}", show(o));
}

#[test]
fn out_of_range_numbers_and_bad_imports_exit_2() {
    let s = Scratch::new();
    write(&s.path("src/a.txt"), b"a\n");
    for bad in [
        &["sync", "src", "dst", "--min-age=1e20s"][..],
        &["sync", "src", "dst", "--min-age", "99999999999999999d"],
        &["sync", "src", "dst", "--min-age", "nan"],
        &["sync", "src", "dst", "--bwlimit=1e30G"],
        &["sync", "src", "dst", "--bwlimit", "99999999999999999999"],
        &["plan", "src", "dst", "--min-age=1e300ms"],
    ] {
        expect_invalid(&s.run(bad));
    }
    assert!(!s.path("dst").exists(), "a refused run created its destination");

    // A profile whose numbers are out of range is refused before anything runs.
    let cfg = s.path("p.toml");
    for extra in ["timeout = \"99999999999999999d\"", "interval = 1e20", "bwlimit = \"1e30G\""] {
        write(
            &cfg,
            format!(
                "[profiles.p]\nsource = {:?}\ndestination = {:?}\n{extra}\n",
                s.path("src"),
                s.path("dst")
            )
            .as_bytes(),
        );
        let o = s.run(&["--config", cfg.to_str().unwrap(), "run", "p"]);
        expect_invalid(&o);
        assert!(String::from_utf8_lossy(&o.stderr).contains("profile p"), "{}", show(&o));
    }

    // Imports: bad JSON, wrong types, an mtime no i64 of nanoseconds holds, a path in the state folder.
    let cloud = |path: &str, mtime: &str| {
        format!(
            r#"{{"name": "n", "root": "/r", "created_at": "2025-01-01T00:00:00Z", "entries": {{"{path}": {{"size": 1, "mtime": {mtime}}}}}}}"#
        )
    };
    for (name, doc) in [
        ("truncated", r#"{"entries": {"#.to_string()),
        ("not-json", "mtime = 1".to_string()),
        ("wrong-type", cloud("a", "\"yesterday\"")),
        ("negative-size", r#"{"/m/a": {"path": "/m/a", "size": -1, "mtime": 1.0}}"#.to_string()),
        ("mtime-1e19", cloud("a", "1e19")),
        ("media-mtime-1e19", r#"{"/m/a": {"path": "/m/a", "size": 1, "mtime": 1e19}}"#.to_string()),
        ("state-folder", cloud(".syncwright/manifests/x.json", "1.0")),
        ("state-dir-itself", cloud(".syncwright", "1.0")),
    ] {
        let f = s.path(&format!("{name}.json"));
        write(&f, doc.as_bytes());
        let o = s.run(&["import", f.to_str().unwrap()]);
        expect_invalid(&o);
        assert!(o.stdout.is_empty(), "{name}: printed a manifest\n{}", show(&o));
    }
    let f = s.path("binary.json");
    write(&f, b"{\"a\": \"\xff\xfe\"}");
    expect_invalid(&s.run(&["import", f.to_str().unwrap()]));
    // The real sample still imports.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../core/tests/data/cloud-sync-manifest.json");
    let o = s.run(&["import", sample.to_str().unwrap()]);
    expect_code(&o, 0);
    assert_eq!(json(&o)["entry_count"], 2, "{}", show(&o));
}

// ---------------------------------------------------------------------------------------------------------------
// 9. A damaged state store is kept aside and the sync runs; an unusable one is left alone
// ---------------------------------------------------------------------------------------------------------------

/// The names in the state directory that start with `state.db.corrupt-`.
fn kept_stores(s: &Scratch) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(&s.state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.db.corrupt-"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_damaged_state_store_is_kept_aside_and_the_sync_runs() {
    let s = Scratch::new();
    write(&s.path("src/a.txt"), b"alpha\n");
    let junk = pseudo_random(99, 100_000);
    fs::write(s.state.join("state.db"), &junk).unwrap();

    let o = s.run(&["sync", "src", "dst", "--json", "--no-progress"]);
    expect_code(&o, 0);
    let kept = kept_stores(&s);
    let kept_file =
        kept.iter().find(|n| !n.ends_with("-wal") && !n.ends_with("-shm")).unwrap_or_else(|| {
            panic!(
                "no kept store in {:?}\n{}",
                fs::read_dir(&s.state).unwrap().collect::<Vec<_>>(),
                show(&o)
            )
        });
    assert!(
        fs::read(s.state.join(kept_file)).unwrap() == junk,
        "the kept store is not the damaged file"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("syncwright: warning:") && l.contains(kept_file.as_str())),
        "no warning naming {kept_file}\n{}",
        show(&o)
    );
    let r = json(&o);
    assert_eq!(r["status"], "completed", "{r}");
    let w = r["warnings"].as_array().unwrap();
    assert!(
        w.iter().any(|w| w["reason"] == "state_store_recovered"
            && w["message"].as_str().unwrap_or("").contains(kept_file.as_str())),
        "{r}"
    );
    assert_eq!(fs::read(s.path("dst/a.txt")).unwrap(), b"alpha\n");

    // The new store is healthy: the next run neither warns nor moves anything, and the text output warns once.
    let o = s.run(&["sync", "src", "dst", "--no-progress"]);
    expect_code(&o, 0);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"), "{}", show(&o));
    assert_eq!(kept_stores(&s), kept);
    fs::write(s.state.join("state.db"), pseudo_random(98, 5000)).unwrap();
    let o = s.run(&["sync", "src", "dst", "--no-progress"]);
    expect_code(&o, 0);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("state store").count(), 1, "{}", show(&o));
    assert_eq!(kept_stores(&s).len(), kept.len() + 1);
}

#[test]
fn an_unwritable_state_store_is_an_error_and_is_not_moved() {
    // A healthy store that cannot be written (read-only file), and a damaged one in a folder that cannot be
    // written: neither is moved aside, and neither file changes.
    for damaged in [false, true] {
        let s = Scratch::new();
        write(&s.path("src/a.txt"), b"alpha\n");
        if damaged {
            fs::write(s.state.join("state.db"), pseudo_random(5, 50_000)).unwrap();
        } else {
            expect_code(&s.run(&["sync", "src", "warm", "--no-progress"]), 0);
            fs::set_permissions(s.state.join("state.db"), fs::Permissions::from_mode(0o444))
                .unwrap();
        }
        let before: BTreeMap<String, Vec<u8>> = fs::read_dir(&s.state)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.path().is_file())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap()))
            .collect();
        if damaged {
            fs::set_permissions(&s.state, fs::Permissions::from_mode(0o555)).unwrap();
        }
        let o = unprivileged(&s).args(["sync", "src", "dst", "--no-progress"]).output().unwrap();
        fs::set_permissions(&s.state, fs::Permissions::from_mode(0o755)).unwrap();
        expect_code(&o, 1);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("state store") && !err.contains("panicked"), "{}", show(&o));
        assert_eq!(kept_stores(&s), Vec::<String>::new(), "{}", show(&o));
        assert!(
            before.iter().all(|(n, b)| fs::read(s.state.join(n)).ok().as_ref() == Some(b)),
            "damaged={damaged}: a store file changed\n{}",
            show(&o)
        );
    }
}
