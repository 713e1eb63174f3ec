//! The profile calls of the C ABI called in-process as a C program would, for what a C program cannot easily
//! watch: a run-all's progress callback over every profile and when its `user` is released, an unlock that
//! cancels a run of this engine and waits for it, and a run-all refused profile by profile.

use std::ffi::{CStr, c_char, c_void};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use syncwright_ffi::*;

mod common;
use common::{cstr, ok, take_err};

/// What a test's callback saw: every snapshot, and how often `free_user` ran.
#[derive(Default)]
struct Seen {
    snapshots: Mutex<Vec<Value>>,
    freed: AtomicUsize,
}

unsafe extern "C" fn on_progress(json: *const c_char, user: *mut c_void) {
    let seen = unsafe { &*(user as *const Seen) };
    let json = unsafe { CStr::from_ptr(json) }.to_str().expect("UTF-8");
    seen.snapshots.lock().unwrap().push(serde_json::from_str(json).expect("progress is JSON"));
}

unsafe extern "C" fn free_seen(user: *mut c_void) {
    let seen = unsafe { Arc::from_raw(user as *const Seen) };
    seen.freed.fetch_add(1, Ordering::SeqCst);
}

fn user_of(seen: &Arc<Seen>) -> *mut c_void {
    Arc::into_raw(seen.clone()) as *mut c_void
}

fn take_json(s: *mut c_char) -> Value {
    assert!(!s.is_null());
    let out = unsafe { CStr::from_ptr(s) }.to_str().unwrap().to_string();
    unsafe { sw_string_free(s) };
    serde_json::from_str(&out).expect("JSON")
}

fn status(job: *const sw_job) -> String {
    unsafe { CStr::from_ptr(sw_job_status(job)) }.to_str().unwrap().to_string()
}

fn wait(job: *mut sw_job) -> Value {
    let mut report = ptr::null_mut();
    ok(unsafe { sw_job_wait(job, -1, &mut report) });
    take_json(report)
}

/// An engine that owns the config `toml` (written to `dir`/pod.toml), its state in `dir`/state.
fn engine_with(dir: &Path, toml: &str) -> *mut sw_engine {
    let file = dir.join("pod.toml");
    std::fs::write(
        &file,
        format!("[settings]\ncoordination_dir = \"coord\"\nstate_dir = \"state\"\n{toml}"),
    )
    .unwrap();
    let config = cstr(&serde_json::json!({ "config_file": file }).to_string());
    let mut engine = ptr::null_mut();
    ok(unsafe { sw_engine_new(config.as_ptr(), &mut engine) });
    engine
}

fn tree(root: &Path, files: &[(&str, usize)]) {
    for (name, size) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, (0..*size).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
    }
}

/// A run-all's callback sees every profile's run, each ending with its own "done"; `user` is released once,
/// after the last of them, by the time the engine is gone.
#[test]
fn run_all_progress_covers_every_profile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(&d.join("a"), &[("x.bin", 300_000)]);
    tree(&d.join("b"), &[("y.bin", 200_000), ("sub/z.txt", 10)]);
    let engine = engine_with(
        d,
        &format!(
            "[profiles.one]\nsource = {:?}\ndestination = {:?}\n[profiles.two]\nsource = {:?}\ndestination = {:?}\n",
            d.join("a").to_str().unwrap(),
            d.join("a-copy").to_str().unwrap(),
            d.join("b").to_str().unwrap(),
            d.join("b-copy").to_str().unwrap()
        ),
    );
    let seen = Arc::new(Seen::default());
    let mut job = ptr::null_mut();
    ok(unsafe { sw_run_all(engine, Some(on_progress), user_of(&seen), Some(free_seen), &mut job) });
    let report = wait(job);
    assert_eq!(report["type"], "run_all");
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(report["successful"], serde_json::json!(["one", "two"]));
    assert_eq!(status(job), "completed");
    unsafe {
        sw_job_free(job);
        sw_engine_free(engine);
    }
    assert_eq!(seen.freed.load(Ordering::SeqCst), 1, "free_user ran once, by the engine's end");
    let snaps = seen.snapshots.lock().unwrap();
    let done: Vec<u64> = snaps
        .iter()
        .filter(|s| s["stage"] == "done")
        .map(|s| s["bytes_done"].as_u64().unwrap())
        .collect();
    assert_eq!(done, [300_000, 200_010], "one final snapshot per profile, in order: {snaps:?}");
    assert_eq!(Arc::strong_count(&seen), 1);
}

/// Unlocking a profile that a job of this engine runs cancels the job and waits for it: when the call returns, the
/// job has ended "cancelled" and its locks are gone; the next run of the profile starts.
#[test]
fn unlock_cancels_this_engine_s_run_and_waits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(&d.join("src"), &[("big.bin", 2_000_000)]);
    let engine = engine_with(
        d,
        &format!(
            "[profiles.slow]\nsource = {:?}\ndestination = {:?}\nbwlimit = \"64K\"\n",
            d.join("src").to_str().unwrap(),
            d.join("dst").to_str().unwrap()
        ),
    );
    let name = cstr("slow");
    let mut job = ptr::null_mut();
    ok(unsafe { sw_profile_run(engine, name.as_ptr(), None, ptr::null_mut(), None, &mut job) });
    let id = unsafe { CStr::from_ptr(sw_job_id(job)) }.to_str().unwrap().to_string();

    // Held by a run elsewhere? No: by this engine's own job, so no force is needed.
    let mut out = ptr::null_mut();
    ok(unsafe { sw_profile_unlock(engine, name.as_ptr(), 0, &mut out) });
    let r = take_json(out);
    assert_eq!(r["cancelled_jobs"], serde_json::json!([id]), "{r}");
    let reasons: Vec<&str> =
        r["removed"].as_array().unwrap().iter().map(|l| l["reason"].as_str().unwrap()).collect();
    assert!(!reasons.is_empty() && reasons.iter().all(|r| *r == "cancelled"), "{r}");
    assert_eq!(status(job), "cancelled", "the job ended before the unlock returned");
    assert!(std::fs::read_dir(d.join("coord")).unwrap().next().is_none(), "no lock left");

    let mut status_json = ptr::null_mut();
    ok(unsafe { sw_profile_status(engine, name.as_ptr(), &mut status_json) });
    let s = take_json(status_json);
    assert_eq!((s["running"].as_bool(), s["state"].as_str()), (Some(false), Some("error")), "{s}");
    assert_eq!(s["last_run"]["status"], "cancelled");

    let outcome =
        |w: &CStr| unsafe { CStr::from_ptr(sw_status_outcome(w.as_ptr())) }.to_str().unwrap();
    assert_eq!(outcome(c"cancelled"), "error");
    assert_eq!(outcome(c"interrupted"), "error");
    assert_eq!(outcome(c"queued"), "running");

    let mut again = ptr::null_mut();
    ok(unsafe { sw_profile_run(engine, name.as_ptr(), None, ptr::null_mut(), None, &mut again) });
    ok(unsafe { sw_job_cancel(again) });
    assert_eq!(wait(again)["status"], "cancelled");
    unsafe {
        sw_job_free(again);
        sw_job_free(job);
        sw_engine_free(engine);
    }
}

/// A profile already running makes its part of a run-all an error result (naming the running job), the others
/// still run; a failed sw_run_all start releases `user` at once.
#[test]
fn run_all_reports_a_running_profile_as_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(&d.join("slow-src"), &[("big.bin", 2_000_000)]);
    tree(&d.join("fast-src"), &[("a.txt", 5)]);
    let engine = engine_with(
        d,
        &format!(
            "[profiles.fast]\nsource = {:?}\ndestination = {:?}\n[profiles.slow]\nsource = {:?}\ndestination = {:?}\nbwlimit = \"64K\"\n",
            d.join("fast-src").to_str().unwrap(),
            d.join("fast-dst").to_str().unwrap(),
            d.join("slow-src").to_str().unwrap(),
            d.join("slow-dst").to_str().unwrap()
        ),
    );
    let slow = cstr("slow");
    let mut running = ptr::null_mut();
    ok(unsafe { sw_profile_run(engine, slow.as_ptr(), None, ptr::null_mut(), None, &mut running) });
    let running_id = unsafe { CStr::from_ptr(sw_job_id(running)) }.to_str().unwrap().to_string();

    let mut all = ptr::null_mut();
    ok(unsafe { sw_run_all(engine, None, ptr::null_mut(), None, &mut all) });
    let report = wait(all);
    assert_eq!(report["status"], "partial", "{report}");
    assert_eq!(report["results"]["fast"]["status"], "completed", "{report}");
    let refused = &report["results"]["slow"];
    assert_eq!(refused["kind"], "conflict", "{report}");
    assert!(refused["error"].as_str().unwrap().contains(&running_id), "{refused}");
    assert_eq!(refused["details"]["job_id"], running_id.as_str(), "{refused}");
    let mut raw = ptr::null_mut();
    let report_c = cstr(&report.to_string());
    ok(unsafe { sw_report_text(report_c.as_ptr(), &mut raw) });
    let text = unsafe { CStr::from_ptr(raw) }.to_str().unwrap().to_string();
    unsafe { sw_string_free(raw) };
    assert!(text.contains("slow: conflict: profile slow is already running"), "{text}");
    assert!(text.ends_with("1 of 2 profiles completed"), "{text}");

    // The jobs of the engine: the running one is active; the run-all and its fast run are recent.
    let mut out = ptr::null_mut();
    ok(unsafe { sw_jobs_active(engine, &mut out) });
    let active = take_json(out);
    assert_eq!(active.as_array().unwrap().len(), 1, "{active}");
    assert_eq!(active[0]["job_id"], running_id.as_str());
    ok(unsafe { sw_jobs_recent(engine, 2, &mut out) });
    let recent = take_json(out);
    assert_eq!(recent.as_array().unwrap().len(), 2, "{recent}");
    // Newest first: the run-all's run of "fast" was registered after the run-all itself.
    assert_eq!(recent[0]["profile"], "fast", "{recent}");
    assert_eq!(recent[1]["source"], "all profiles", "{recent}");

    // No engine: the start fails and `user` is released before it returns.
    let seen = Arc::new(Seen::default());
    let mut none = ptr::null_mut();
    let err = unsafe {
        sw_run_all(ptr::null_mut(), Some(on_progress), user_of(&seen), Some(free_seen), &mut none)
    };
    assert_eq!(take_err(err).unwrap().0, "invalid_input");
    assert_eq!(seen.freed.load(Ordering::SeqCst), 1);

    ok(unsafe { sw_job_cancel(running) });
    assert_eq!(wait(running)["status"], "cancelled");
    unsafe {
        sw_job_free(all);
        sw_job_free(running);
        sw_engine_free(engine);
    }
}
