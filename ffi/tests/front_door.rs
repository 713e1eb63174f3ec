//! The front-door calls of the C ABI (profiles, locks, jobs, history, logs, usage, recovery, reports) as a C
//! programmer meets them: ffi/tests/c/front_door.c and examples/c/profiles.c compiled with gcc against include/
//! and the library cargo just built, run plainly and under valgrind's leak check, on an engine opened from a
//! config file with two profiles (a sync between temporary folders, and one that fails).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A copy of the shared library in `dir`/lib, for the C programs of one test to link and load, under the name they
/// link (`libsyncwright_ffi.so`) and the name they load (its soname, `libsyncwright_ffi.so.<major>`): a build of
/// the crate while the test runs cannot change it under them.
fn private_lib(dir: &Path) -> PathBuf {
    let libs = dir.join("lib");
    std::fs::create_dir_all(&libs).expect("mkdir");
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    for name in ["libsyncwright_ffi.so".to_string(), format!("libsyncwright_ffi.so.{major}")] {
        std::fs::copy(lib_dir().join("libsyncwright_ffi.so"), libs.join(name))
            .expect("copy libsyncwright_ffi.so");
    }
    libs
}

/// Compiles the C file `source` with gcc (strict warnings) against include/ and the shared library, into `exe`
/// (beside which the library is copied).
fn build_c(source: &Path, exe: &Path) {
    let libs = private_lib(exe.parent().expect("exe in a folder"));
    let out = run(Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o"])
        .arg(exe)
        .arg(source)
        .arg("-I")
        .arg(repo_root().join("include"))
        .arg("-L")
        .arg(&libs)
        .arg("-lsyncwright_ffi")
        .arg(format!("-Wl,-rpath,{}", libs.display())));
    assert!(
        out.status.success(),
        "gcc {} failed:\n{}{}",
        source.display(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The command that runs the C program `exe` (built by [`build_c`]), under `valgrind` when given. It loads the
/// library copied beside it: LD_LIBRARY_PATH, which `cargo test` sets to its own folders (where an older copy of the
/// library may sit), would otherwise win over the program's run path.
fn c_command(exe: &Path, valgrind: Option<&str>) -> Command {
    let mut c = match valgrind {
        Some(v) => {
            let mut c = Command::new(v);
            c.args(VALGRIND_STRICT).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    c.env("LD_LIBRARY_PATH", exe.parent().expect("exe in a folder").join("lib"));
    c
}

/// The source of the "copy" profile: a big file (about 4 s at its 64 KiB/s limit) and a small one.
fn source_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("big.bin", (0..256 * 1024u32).map(|i| (i * 7 % 251) as u8).collect()),
        ("notes/a.txt", b"hello from the C front door\n".to_vec()),
    ]
}

/// A fresh setup in `root`: the source tree, a config file with the profiles "copy" (a slow sync into `dst`) and
/// "broken" (its source is missing), and a stale lock of "broken" in the coordination folder. Returns the config
/// file and the stale lock.
fn setup(root: &Path) -> (PathBuf, PathBuf) {
    let src = root.join("src");
    for (p, data) in source_files() {
        let p = src.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    }
    let coord = root.join("coord");
    std::fs::create_dir_all(&coord).expect("mkdir");
    let config = root.join("pod.toml");
    // Relative paths in [settings] resolve from the config file's folder.
    let toml = format!(
        r#"[settings]
coordination_dir = "coord"
state_dir = "state"

[profiles.copy]
source = {src:?}
destination = {dst:?}
bwlimit = "64K"

[profiles.broken]
source = {missing:?}
destination = {dst2:?}
"#,
        src = src.to_str().expect("UTF-8 path"),
        dst = root.join("dst").to_str().expect("UTF-8 path"),
        missing = root.join("missing").to_str().expect("UTF-8 path"),
        dst2 = root.join("dst-broken").to_str().expect("UTF-8 path"),
    );
    std::fs::write(&config, toml).expect("write config");
    // Left by a run whose lease expired long ago: stale whoever holds it.
    let stale = coord.join("profile-broken.lock");
    let lock = serde_json::json!({
        "name": "profile-broken",
        "profile": "broken",
        "job_id": "gone-job",
        "instance_id": "another-host",
        "pid": 4_000_000,
        "host": "elsewhere",
        "started_at": "2020-01-01T00:00:00.000Z",
        "lease_until": "2020-01-01T00:01:00.000Z",
        "token": "old",
    });
    std::fs::write(&stale, lock.to_string()).expect("write lock");
    (config, stale)
}

/// The "label<TAB>text" lines of front_door.c, newlines unescaped.
fn results(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.replace("\\n", "\n")))
        .collect()
}

fn json(r: &BTreeMap<String, String>, label: &str) -> Value {
    let t = r.get(label).unwrap_or_else(|| panic!("no {label} line in {r:#?}"));
    serde_json::from_str(t).unwrap_or_else(|e| panic!("{label} is not JSON ({e}): {t}"))
}

/// Checks everything front_door.c printed, and the copied files.
fn check_front_door(root: &Path, out: &Output) {
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "front_door exited {:?}:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let r = results(&stdout);
    assert_eq!(r.get("done").map(String::as_str), Some("0"), "{stdout}\n{stderr}");

    // The config and the profiles the engine owns.
    let config = json(&r, "config");
    assert_eq!(config["profiles"]["copy"]["bwlimit"], "64K", "{config}");
    assert_eq!(config["settings"]["coordination_dir"], "coord", "{config}");
    let profiles = json(&r, "profiles");
    let names: Vec<&str> = profiles
        .as_array()
        .expect("an array")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["broken", "copy"]);
    assert_eq!(profiles[1]["kind"], "sync");
    assert!(profiles[1]["destination"].as_str().unwrap().ends_with("dst"), "{profiles}");

    // The stale lock went at once, and the lock self-test passed.
    let unlock = json(&r, "unlock");
    assert_eq!(unlock["removed"][0]["name"], "profile-broken", "{unlock}");
    assert_eq!(unlock["removed"][0]["reason"], "stale", "{unlock}");
    assert_eq!(unlock["removed"][0]["job_id"], "gone-job", "{unlock}");
    assert_eq!(unlock["errors"], serde_json::json!([]), "{unlock}");
    assert!(!root.join("coord/profile-broken.lock").exists());
    let selftest = json(&r, "lock_self_test");
    assert_eq!(selftest["name"], "c-self-test");
    assert_eq!(selftest["steps"].as_array().unwrap().len(), 4, "{selftest}");

    // The first run: a conflict while it ran, its status then, its report, its copied bytes.
    let first = r["first_id"].clone();
    let conflict = &r["conflict"];
    assert!(conflict.contains("profile copy is already running") && conflict.contains(&first));
    let details = json(&r, "conflict_details");
    assert_eq!(details["job_id"], first.as_str(), "{details}");
    assert_eq!(details["profile"], "copy", "{details}");
    let running = json(&r, "status_running");
    assert_eq!(
        (running["running"].as_bool(), running["state"].as_str()),
        (Some(true), Some("running"))
    );
    assert_eq!(running["job"]["job_id"], first.as_str(), "{running}");
    assert_eq!(running["job"]["this_engine"], true, "{running}");
    let active = json(&r, "active");
    assert!(active.as_array().unwrap().iter().any(|j| j["job_id"] == first.as_str()), "{active}");
    let snap = json(&r, "snapshot_running");
    assert_eq!(snap["job_id"], first.as_str());
    assert_eq!(snap["profile"], "copy");
    let report = json(&r, "report");
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(report["type"], "sync", "{report}");
    assert_eq!(report["stats"]["created"], 2, "{report}");
    for (p, data) in source_files() {
        assert_eq!(std::fs::read(root.join("dst").join(p)).expect("copied"), data, "{p}");
    }
    let summary = &r["report_text"];
    assert!(summary.starts_with("completed: 2 created, 0 updated, 0 deleted"), "{summary}");
    let snap = json(&r, "snapshot");
    assert_eq!(snap["status"], "completed");
    assert_eq!(snap["report"]["run_id"], report["run_id"], "{snap}");
    assert!(json(&r, "snapshot_no_report").get("report").is_none());
    assert!(stderr.contains("progress callbacks: "), "{stderr}");

    // Its status now: idle, the last run a success.
    let status = json(&r, "status");
    assert_eq!(status["state"], "success", "{status}");
    assert_eq!(status["running"], false);
    assert_eq!(status["last_run"]["job_id"], first.as_str(), "{status}");
    assert_eq!(status["last_run"]["status"], "completed");
    assert_eq!(status["last_run"]["outcome"], "success");
    assert_eq!(status["last_run"]["stats"]["created"], 2);
    let statuses = json(&r, "statuses");
    assert_eq!(statuses.as_array().unwrap().len(), 2);
    assert_eq!(statuses[0]["profile"], "broken");
    assert_eq!(statuses[0]["state"], "idle", "never run yet: {statuses}");
    let line = &r["status_text"];
    assert!(line.starts_with("copy: idle; last run completed at "), "{line}");
    assert_eq!(status["summary"], line.as_str(), "{status}");
    let lines: Vec<&str> = r["status_text_all"].lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("broken: idle; never run"), "{lines:?}");

    // The run-all: one result per profile.
    let all = json(&r, "run_all");
    assert_eq!(all["type"], "run_all", "{all}");
    assert_eq!(all["status"], "partial", "{all}");
    assert_eq!(all["total"], 2);
    assert_eq!(all["successful"], serde_json::json!(["copy"]));
    assert_eq!(all["failed"], serde_json::json!(["broken"]));
    let results = all["results"].as_object().expect("results");
    assert_eq!(results.keys().collect::<Vec<_>>(), ["broken", "copy"]);
    assert_eq!(results["copy"]["status"], "completed");
    assert_eq!(results["copy"]["stats"]["unchanged"], 2, "{all}");
    assert_eq!(results["broken"]["status"], "failed");
    assert_eq!(results["broken"]["fatal"]["kind"], "not_found", "{all}");
    let text_lines: Vec<&str> = r["run_all_text"].lines().collect();
    assert_eq!(text_lines.len(), 3, "{text_lines:?}");
    assert!(text_lines[0].starts_with("broken: failed: "), "{text_lines:?}");
    assert!(text_lines[1].starts_with("copy: completed: 0 created"), "{text_lines:?}");
    assert_eq!(text_lines[2], "1 of 2 profiles completed");

    // History, logs, usage, jobs.
    let history = json(&r, "history");
    assert_eq!(history["profile"], "copy");
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "the first run and the run-all's: {history}");
    assert_eq!(runs[1]["job_id"], first.as_str(), "newest first: {history}");
    assert!(runs.iter().all(|r| r["status"] == "completed"), "{history}");
    assert_eq!(history["pagination"]["total"], 2);
    let broken = json(&r, "history_broken");
    assert_eq!(broken["runs"][0]["status"], "failed", "{broken}");
    let logs = json(&r, "logs");
    let logs = logs.as_array().unwrap();
    assert!(logs.len() >= 4, "two runs, started and finished: {logs:?}");
    assert!(
        logs.iter()
            .any(|e| e["message"].as_str().unwrap().starts_with("sync completed: 2 created"))
    );
    let errors = json(&r, "logs_error");
    assert!(!errors.as_array().unwrap().is_empty(), "the broken run logged an error");
    assert!(errors.as_array().unwrap().iter().all(|e| e["level"] == "error"), "{errors}");
    let page = json(&r, "logs_page");
    assert_eq!(page["logs"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["pagination"]["per_page"], 2);
    assert!(page["logs"].as_array().unwrap().iter().all(|e| e["level"] == "info"), "{page}");
    let usage = json(&r, "usage");
    let total: u64 = source_files().iter().map(|(_, d)| d.len() as u64).sum();
    assert_eq!(usage["by_folder"]["notes"]["size"], 28, "{usage}");
    assert!(usage["total_size"].as_u64().unwrap() >= total, "{usage}");
    let usage = json(&r, "usage_profiles");
    assert_eq!(usage["by_project"]["copy"]["size"], total, "{usage}");
    let recent = json(&r, "recent");
    let recent = recent.as_array().unwrap();
    assert!(recent.len() >= 4, "first, run-all and its two runs: {recent:?}");
    assert!(recent.iter().all(|j| j.get("report").is_none() && j["status"] != "running"));
    assert_eq!(json(&r, "active_after"), serde_json::json!([]));

    // Recovery.
    let ops = json(&r, "operations");
    assert!(ops.as_array().unwrap().iter().any(|o| o["operation_id"] == first.as_str()), "{ops}");
    assert_eq!(json(&r, "operations_active"), serde_json::json!([]));
    assert_eq!(json(&r, "operations_interrupted"), serde_json::json!([]));
    assert_eq!(json(&r, "breakers"), serde_json::json!([]), "no remote target was used");
    let op = json(&r, "operation");
    assert_eq!(
        (op["state"].as_str(), op["function_name"].as_str()),
        (Some("success"), Some("sync_profile"))
    );
    let retry = json(&r, "retry_report");
    assert_eq!(retry["status"], "completed", "{retry}");
    let op = json(&r, "operation_retried");
    assert_eq!(op["state"], "success", "{op}");
    let metrics = json(&r, "metrics");
    assert_eq!(metrics["persistence"], true, "{metrics}");
    assert!(metrics["total_operations"].as_u64().unwrap() == 3, "{metrics}");
    assert!(metrics["retry"].is_object(), "{metrics}");
    assert!(metrics["breaker"]["failure_threshold"].is_u64(), "{metrics}");
    assert_eq!(json(&r, "valued_metrics")["persistence"], false);
    let scenarios = json(&r, "scenarios");
    let ids: Vec<&str> =
        scenarios.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"network_timeout") && ids.contains(&"corruption"), "{ids:?}");
    let st = json(&r, "self_test");
    assert_eq!(st["overall"], "PASS", "{st}");
    assert_eq!(st["scenarios"][0]["name"], "corruption", "{st}");
    let unlock_all = json(&r, "unlock_all");
    assert_eq!(unlock_all["removed"], serde_json::json!([]), "{unlock_all}");

    // The engine opened from a config value.
    let valued = json(&r, "valued_profiles");
    assert_eq!(valued[0]["name"], "valued", "{valued}");
}

/// ffi/tests/c/front_door.c: every front-door call, plainly (fast, clear failures) and under valgrind (no memory
/// errors, nothing lost), each time on a fresh setup.
#[test]
fn c_front_door_calls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exe = tmp.path().join("front_door");
    build_c(&repo_root().join("ffi/tests/c/front_door.c"), &exe);
    let go = |name: &str, valgrind: Option<&str>| {
        let root = tmp.path().join(name);
        let (config, stale) = setup(&root);
        let mut cmd = c_command(&exe, valgrind);
        // An engine opened without a state_dir (the no_store one) stays in the temporary folder too.
        cmd.env("SYNCWRIGHT_STATE_DIR", root.join("default-state"))
            .arg(&config)
            .arg(&stale)
            .arg(root.join("dst"));
        (root, run(&mut cmd))
    };

    let (root, out) = go("plain", None);
    check_front_door(&root, &out);

    let Some(valgrind) = valgrind() else { return };
    let (root, out) = go("valgrind", Some(valgrind));
    let report = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "valgrind found errors or leaks:\n{report}\n{}",
        text(&out.stdout)
    );
    assert_clean(&report);
    check_front_door(&root, &out);
}

/// examples/c/profiles.c: runs a profile from a config file, prints its summary, its status line and its last log
/// lines; a second run finds nothing to copy; a missing profile is an error. Under valgrind too.
#[test]
fn c_profiles_example() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exe = tmp.path().join("profiles");
    build_c(&repo_root().join("examples/c/profiles.c"), &exe);
    let example = |root: &Path, profile: &str, valgrind: Option<&str>| {
        let config = root.join("pod.toml");
        let mut cmd = c_command(&exe, valgrind);
        run(cmd.arg(&config).arg(profile))
    };
    let check = |out: &Output, created: u32| {
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "profiles exited {:?}:\n{stdout}\n{stderr}",
            out.status
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(lines[0].starts_with(&format!("completed: {created} created")), "{stdout}");
        assert!(lines[1].starts_with("copy: idle; last run completed at "), "{stdout}");
        assert!(lines[2..].iter().all(|l| l.starts_with("  log: ")), "{stdout}");
        assert!(
            lines.last().unwrap().starts_with(&format!("  log: sync completed: {created} created")),
            "{stdout}"
        );
        assert!(stderr.lines().any(|l| l == "progress 100.0 done"), "{stderr}");
    };

    let root = tmp.path().join("plain");
    setup(&root);
    let out = example(&root, "copy", None);
    check(&out, 2);
    for (p, data) in source_files() {
        assert_eq!(std::fs::read(root.join("dst").join(p)).expect("copied"), data, "{p}");
    }
    check(&example(&root, "copy", None), 0);
    // Held elsewhere (another host's run, with a fresh lease): exit 5, the message naming the running job.
    let held = root.join("coord/profile-copy.lock");
    let lock = serde_json::json!({
        "name": "profile-copy", "profile": "copy", "job_id": "job-elsewhere", "instance_id": "another-host",
        "pid": 4_000_000, "host": "elsewhere", "started_at": "2026-01-01T00:00:00.000Z",
        "lease_until": "2999-01-01T00:00:00.000Z", "token": "t",
    });
    std::fs::write(&held, lock.to_string()).expect("write lock");
    let out = example(&root, "copy", None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.starts_with(
            "already running: profile copy is already running (job job-elsewhere, since"
        ),
        "{stderr}"
    );
    std::fs::remove_file(&held).expect("remove lock");
    let out = example(&root, "nope", None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: not_found: no profile \"nope\""),
        "{}",
        text(&out.stderr)
    );
    let out = run(c_command(&exe, None).arg("only-one-argument"));
    assert_eq!(out.status.code(), Some(2));

    let Some(valgrind) = valgrind() else { return };
    let root = tmp.path().join("valgrind");
    setup(&root);
    let out = example(&root, "copy", Some(valgrind));
    let report = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "valgrind found errors or leaks:\n{report}");
    assert_clean(&report);
    check(&out, 2);
}
