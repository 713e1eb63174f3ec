//! Helpers of the tests that build C against the library and run it (c_abi.rs, install.rs): where cargo put the
//! library, running commands, valgrind and its verdict, and small trees to sync.

#![allow(dead_code)] // each test binary uses a part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (the parent of ffi/).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("ffi/ has a parent").to_path_buf()
}

/// The directory where cargo put libsyncwright_ffi.{so,a} while building this test, found from the test executable
/// (target/[<triple>/]<profile>/deps/<test>-*). `cargo test` leaves the libraries in deps/ (only `cargo build`
/// copies them up a level), so deps/ comes first: a copy one level up may be older.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("deps dir");
    let profile_dir = deps.parent().expect("profile dir");
    for dir in [deps, profile_dir] {
        if dir.join("libsyncwright_ffi.so").is_file() {
            return dir.to_path_buf();
        }
    }
    panic!("libsyncwright_ffi.so not found next to {}", exe.display());
}

/// The cargo profile this test was built with, from its output folder (`debug` is the `dev` profile).
pub fn cargo_profile() -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).and_then(Path::file_name).expect("profile dir");
    match dir.to_str().expect("UTF-8 profile dir") {
        "debug" => "dev".to_string(),
        other => other.to_string(),
    }
}

/// Valgrind's leak check as the C examples must pass it: any error, and any definite or possible leak, fails.
pub const VALGRIND_STRICT: [&str; 3] =
    ["--leak-check=full", "--error-exitcode=99", "--errors-for-leak-kinds=definite,possible"];

/// The valgrind command, or None (a skip, refused under CI) when it is not installed.
pub fn valgrind() -> Option<&'static str> {
    let found = ["/usr/bin/valgrind", "valgrind"]
        .into_iter()
        .find(|v| Command::new(v).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        assert!(!in_ci(), "valgrind is required under CI (scripts/test.sh installs it)");
        eprintln!("valgrind not installed: leak check skipped");
    }
    found
}

/// Checks valgrind's summary: no errors, nothing definitely or possibly lost.
pub fn assert_clean(report: &str) {
    for needle in ["ERROR SUMMARY: 0 errors", "definitely lost: 0 bytes", "possibly lost: 0 bytes"]
    {
        // A run that frees everything prints "All heap blocks were freed" instead of a leak summary.
        let freed_all = needle.contains("lost") && report.contains("All heap blocks were freed");
        assert!(
            report.contains(needle) || freed_all,
            "valgrind report lacks {needle:?}:\n{report}"
        );
    }
}

/// Whether this runs under CI (`CI` set to something other than "", "0" or "false").
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Bytes as text, invalid UTF-8 replaced.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command to the end, capturing its output; a command that cannot start fails the test.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

/// Runs a command that must succeed and returns its stdout.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} exited {:?}:\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A small tree with nested folders, an empty file, text and binary content; returns (path, bytes) of each file.
pub fn small_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = vec![
        ("a.txt".into(), b"hello\n".to_vec()),
        ("empty".into(), Vec::new()),
        ("sub/b.bin".into(), (0..50_000u32).map(|i| (i * 13 % 251) as u8).collect()),
        ("sub/deeper/c.txt".into(), "ünïcödé\n".repeat(50).into_bytes()),
    ];
    for (p, data) in &files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    }
    files
}

/// Checks that every file of `files` is in `dst`, byte for byte.
pub fn assert_same_files(dst: &Path, files: &[(String, Vec<u8>)]) {
    for (p, data) in files {
        let got = std::fs::read(dst.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(&got == data, "{p} differs from the source");
    }
}

// In-process calls of the C ABI (the tests that link the crate itself).

/// A C string of `s`.
pub fn cstr(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s).unwrap()
}

/// Takes an error: (kind, message), freeing it; None for no error.
pub fn take_err(err: *mut syncwright_ffi::sw_error) -> Option<(String, String)> {
    use std::ffi::CStr;
    if err.is_null() {
        return None;
    }
    unsafe {
        let kind = CStr::from_ptr(syncwright_ffi::sw_error_kind(err)).to_str().unwrap().to_string();
        let msg =
            CStr::from_ptr(syncwright_ffi::sw_error_message(err)).to_str().unwrap().to_string();
        syncwright_ffi::sw_error_free(err);
        Some((kind, msg))
    }
}

/// Fails the test on an error, naming it.
#[track_caller]
pub fn ok(err: *mut syncwright_ffi::sw_error) {
    if let Some((kind, msg)) = take_err(err) {
        panic!("unexpected error {kind}: {msg}");
    }
}
