//! The C library as users install it: scripts/install-c.sh into a temporary PREFIX (and once more with DESTDIR),
//! then examples/c/sync_folder.c built with nothing but `cc sync_folder.c $(pkg-config --cflags --libs syncwright)`
//! and run under valgrind against the installed library.
//!
//! The script builds the library with cargo in this test's own profile (CARGO_TARGET_DIR and CARGO_BUILD_TARGET
//! come from the environment, as for the cargo that built this test), so it finds it built and compiles at most
//! the ffi crate itself. That build rewrites the libraries in the target folder that the tests in c_abi.rs link
//! against, so this is a test binary of its own: cargo runs test binaries one after another.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const MAJOR: &str = env!("CARGO_PKG_VERSION_MAJOR");

/// Runs scripts/install-c.sh PREFIX (with DESTDIR when given), building in this test's profile.
fn install(prefix: &Path, destdir: Option<&Path>) {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("scripts/install-c.sh")).arg(prefix).env("PROFILE", cargo_profile());
    if let Some(cargo) = std::env::var_os("CARGO") {
        cmd.env("CARGO", cargo);
    }
    match destdir {
        Some(d) => cmd.env("DESTDIR", d),
        None => cmd.env_remove("DESTDIR"),
    };
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "install-c.sh exited {:?}:\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Checks the installed files under `root` (PREFIX, or DESTDIR/PREFIX): the header as committed, the versioned
/// shared library with its soname and links, the static library, the .pc file naming `prefix`.
fn check_layout(root: &Path, prefix: &Path) {
    let lib = root.join("lib");
    let header = std::fs::read(root.join("include/syncwright.h")).expect("installed header");
    assert!(
        header == std::fs::read(repo_root().join("include/syncwright.h")).expect("header"),
        "the installed header is include/syncwright.h"
    );
    let real = format!("libsyncwright_ffi.so.{VERSION}");
    let soname = format!("libsyncwright_ffi.so.{MAJOR}");
    assert!(lib.join(&real).is_file(), "{real} installed");
    let link =
        |name: &str| std::fs::read_link(lib.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(link(&soname), PathBuf::from(&real), "{soname} links to {real}");
    assert_eq!(link("libsyncwright_ffi.so"), PathBuf::from(&soname), "the .so links to {soname}");
    assert!(lib.join("libsyncwright_ffi.a").is_file(), "the static library is installed");

    let dynamic = run_ok(Command::new("readelf").arg("-d").arg(lib.join(&real)));
    assert!(
        dynamic.contains(&format!("Library soname: [{soname}]")),
        "readelf -d shows the soname {soname}:\n{dynamic}"
    );

    let pc = std::fs::read_to_string(lib.join("pkgconfig/syncwright.pc")).expect("syncwright.pc");
    let lines: Vec<&str> = pc.lines().collect();
    for want in [
        format!("prefix={}", prefix.display()),
        "libdir=${exec_prefix}/lib".to_string(),
        "includedir=${prefix}/include".to_string(),
        "Name: syncwright".to_string(),
        format!("Version: {VERSION}"),
        "Cflags: -I${includedir}".to_string(),
        "Libs: -L${libdir} -lsyncwright_ffi".to_string(),
    ] {
        assert!(lines.contains(&want.as_str()), "syncwright.pc has {want:?}:\n{pc}");
    }
    let private =
        lines.iter().find_map(|l| l.strip_prefix("Libs.private: ")).expect("Libs.private");
    assert!(private.split(' ').any(|l| l == "-lc"), "Libs.private lists the C library: {private}");
}

fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let out = run_ok(
        Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .env_remove("PKG_CONFIG_LIBDIR")
            .args(args)
            .arg("syncwright"),
    );
    out.split_whitespace().map(str::to_string).collect()
}

/// Builds examples/c/sync_folder.c with the compiler, the example and pkg-config's flags; nothing else that
/// says where the library is.
fn cc_example(exe: &Path, flags: &[String]) {
    run_ok(
        Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o"])
            .arg(exe)
            .arg(repo_root().join("examples/c/sync_folder.c"))
            .args(flags),
    );
}

/// What the example printed: the version line, then the report (or the error lines).
fn check_report(stdout: &str) -> serde_json::Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "the version and the report:\n{stdout}");
    assert_eq!(lines[0], format!("syncwright {VERSION}"));
    serde_json::from_str(lines[1]).expect("the report is JSON")
}

#[test]
fn installed_library_builds_with_pkg_config_and_syncs_under_valgrind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let prefix = tmp.path().join("prefix");
    install(&prefix, None);
    check_layout(&prefix, &prefix);
    assert_eq!(pkg_config(&prefix, &["--modversion"]), [VERSION]);
    let flags = pkg_config(&prefix, &["--cflags", "--libs"]);
    assert_eq!(
        flags,
        [
            format!("-I{}", prefix.join("include").display()),
            format!("-L{}", prefix.join("lib").display()),
            "-lsyncwright_ffi".to_string()
        ]
    );

    let exe = tmp.path().join("sync_folder");
    cc_example(&exe, &flags);
    let needed = run_ok(Command::new("readelf").arg("-d").arg(&exe));
    assert!(
        needed.contains(&format!("Shared library: [libsyncwright_ffi.so.{MAJOR}]")),
        "the program loads the library by its soname:\n{needed}"
    );

    let ldd = run_ok(Command::new("ldd").arg(&exe).env("LD_LIBRARY_PATH", prefix.join("lib")));
    let soname = format!("libsyncwright_ffi.so.{MAJOR}");
    assert!(
        ldd.lines().any(|l| l
            .trim()
            .starts_with(&format!("{soname} => {}", prefix.join("lib").join(&soname).display()))),
        "the loader takes the installed library:\n{ldd}"
    );

    let src = tmp.path().join("src");
    let files = small_tree(&src);
    let total_bytes: usize = files.iter().map(|(_, d)| d.len()).sum();
    let state = tmp.path().join("state");
    // The loader finds the installed library through LD_LIBRARY_PATH alone (cargo's own, which names the target
    // folder, is replaced).
    let sync = |tool: Option<&str>, dst: &Path| {
        let mut c = match tool {
            Some(v) => {
                let mut c = Command::new(v);
                c.args(VALGRIND_STRICT).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        c.env("LD_LIBRARY_PATH", prefix.join("lib")).env("SYNCWRIGHT_STATE_DIR", &state);
        c.arg(&src).arg(dst);
        run(&mut c)
    };

    let dst = tmp.path().join("dst");
    let valgrind = valgrind();
    let out = sync(valgrind, &dst);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "exit code 0 (valgrind: 99 on errors or leaks):\n{stderr}"
    );
    if valgrind.is_some() {
        assert_clean(&stderr);
    }
    let report = check_report(&text(&out.stdout));
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(report["stats"]["created"], files.len(), "{report}");
    assert_eq!(report["stats"]["bytes_transferred"], total_bytes, "{report}");
    assert_eq!(report["stats"]["errors"], 0, "{report}");
    assert_same_files(&dst, &files);

    // Again: nothing to copy.
    let out = sync(None, &dst);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = check_report(&text(&out.stdout));
    assert_eq!(report["stats"]["created"], 0, "{report}");
    assert_eq!(report["stats"]["unchanged"], files.len(), "{report}");
    assert_eq!(report["stats"]["bytes_transferred"], 0, "{report}");

    // An error: its code (an sw_error_code_t), kind and message; no path or details for this one.
    let out = run(Command::new(&exe)
        .env("LD_LIBRARY_PATH", prefix.join("lib"))
        .env("SYNCWRIGHT_STATE_DIR", &state)
        .arg("")
        .arg(&dst));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(12), "10 + SW_ERR_INVALID_INPUT:\n{stdout}");
    assert_eq!(
        stdout.lines().nth(1),
        Some("error: code=2 kind=invalid_input message=empty path"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 2, "no path or details lines:\n{stdout}");

    // Statically linked: the static library with Libs.private (`pkg-config --static`) is all it needs.
    let static_flags: Vec<String> = pkg_config(&prefix, &["--cflags", "--libs", "--static"])
        .into_iter()
        .map(|f| if f == "-lsyncwright_ffi" { "-l:libsyncwright_ffi.a".to_string() } else { f })
        .collect();
    let static_exe = tmp.path().join("sync_folder-static");
    cc_example(&static_exe, &static_flags);
    let needed = run_ok(Command::new("readelf").arg("-d").arg(&static_exe));
    assert!(!needed.contains("libsyncwright_ffi"), "linked statically:\n{needed}");
    let out = run(Command::new(&static_exe)
        .env("SYNCWRIGHT_STATE_DIR", &state)
        .arg(&src)
        .arg(tmp.path().join("dst-static")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(check_report(&text(&out.stdout))["stats"]["created"], files.len());
    assert_same_files(&tmp.path().join("dst-static"), &files);
}

/// With DESTDIR, the files go under DESTDIR/PREFIX while syncwright.pc names PREFIX, and nothing is written to
/// PREFIX itself.
#[test]
fn destdir_stages_the_install() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let stage = tmp.path().join("stage");
    let prefix = PathBuf::from(format!("/nonexistent-syncwright-prefix-{}", std::process::id()));
    install(&prefix, Some(&stage));
    let root = stage.join(prefix.strip_prefix("/").expect("absolute"));
    check_layout(&root, &prefix);
    assert!(!prefix.exists(), "nothing written to PREFIX itself");
}

/// The script refuses a missing or relative PREFIX (it is written into syncwright.pc).
#[test]
fn prefix_is_required_and_absolute() {
    let script = repo_root().join("scripts/install-c.sh");
    let out = run(Command::new("bash").arg(&script));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with("usage: "), "{}", text(&out.stderr));
    let out = run(Command::new("bash").arg(&script).arg("relative/prefix"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("PREFIX must be an absolute path"), "{}", text(&out.stderr));
}
