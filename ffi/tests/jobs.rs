//! The engine, job and subscription functions of the C ABI, called directly as a C program would: syncs through
//! `sw_sync_start` with a progress callback and its finaliser, cancel, waits with timeouts, plans, subscriptions,
//! NULL arguments, and handles that outlive their engine.

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::Value;
use syncwright_ffi::*;

mod common;
use common::{cstr, ok, take_err};

/// What a test's callback sees: every snapshot, how often `free_user` ran, and a condition to wait on.
#[derive(Default)]
struct Seen {
    snapshots: Mutex<Vec<Value>>,
    changed: Condvar,
    freed: AtomicUsize,
    /// Snapshots seen after `free_user` (must stay 0).
    after_free: AtomicUsize,
}

impl Seen {
    /// Blocks until the snapshots seen so far satisfy `pred` (a generous limit turns a hang into a failure).
    fn wait_until(&self, what: &str, pred: impl Fn(&[Value]) -> bool) {
        let g = self.snapshots.lock().unwrap();
        let (g, t) =
            self.changed.wait_timeout_while(g, Duration::from_secs(60), |v| !pred(v)).unwrap();
        assert!(!t.timed_out(), "no progress with {what}; saw {:?}", *g);
    }

    /// Blocks until a snapshot reports bytes copied.
    fn wait_for_bytes(&self) {
        self.wait_until("bytes_done > 0", |v| {
            v.iter().any(|s| s["bytes_done"].as_u64().unwrap_or(0) > 0)
        });
    }
}

unsafe extern "C" fn on_progress(json: *const c_char, user: *mut c_void) {
    let seen = unsafe { &*(user as *const Seen) };
    if seen.freed.load(Ordering::SeqCst) > 0 {
        seen.after_free.fetch_add(1, Ordering::SeqCst);
    }
    let json = unsafe { CStr::from_ptr(json) }.to_str().expect("UTF-8");
    let v: Value = serde_json::from_str(json).expect("progress is JSON");
    seen.snapshots.lock().unwrap().push(v);
    seen.changed.notify_all();
}

unsafe extern "C" fn free_seen(user: *mut c_void) {
    // Takes back the reference given to the library with Arc::into_raw.
    let seen = unsafe { Arc::from_raw(user as *const Seen) };
    seen.freed.fetch_add(1, Ordering::SeqCst);
}

/// A reference to `seen` for the library: `free_seen` gives it back.
fn user_of(seen: &Arc<Seen>) -> *mut c_void {
    Arc::into_raw(seen.clone()) as *mut c_void
}

fn path_c(p: &Path) -> CString {
    cstr(p.to_str().unwrap())
}

#[track_caller]
fn kind_of(err: *mut sw_error) -> String {
    take_err(err).expect("an error").0
}

/// Takes a string from the library.
fn take_string(s: *mut c_char) -> String {
    assert!(!s.is_null());
    let out = unsafe { CStr::from_ptr(s) }.to_str().unwrap().to_string();
    unsafe { sw_string_free(s) };
    out
}

fn engine_in(state: &Path) -> *mut sw_engine {
    let config = cstr(&serde_json::json!({ "state_dir": state }).to_string());
    let mut engine = ptr::null_mut();
    ok(unsafe { sw_engine_new(config.as_ptr(), &mut engine) });
    assert!(!engine.is_null());
    engine
}

fn status(job: *const sw_job) -> String {
    unsafe { CStr::from_ptr(sw_job_status(job)) }.to_str().unwrap().to_string()
}

/// A small tree: nested folders, an empty file, text and binary content.
fn small_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = vec![
        ("a.txt".into(), b"hello\n".to_vec()),
        ("empty".into(), Vec::new()),
        ("sub/b.bin".into(), (0..70_000u32).map(|i| (i * 31 % 251) as u8).collect()),
        ("sub/deeper/c.txt".into(), "ünïcödé\n".repeat(100).into_bytes()),
    ];
    for (p, data) in &files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    files
}

/// Files big enough that a 64 KiB/s limit keeps the job running for many seconds.
fn big_tree(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    for i in 0..3 {
        let data: Vec<u8> =
            (0..1_000_000u32).map(|j| (j.wrapping_mul(7 + i) % 253) as u8).collect();
        std::fs::write(root.join(format!("big{i}.bin")), data).unwrap();
    }
}

const SLOW: &str = r#"{"bwlimit": 65536, "chunk_size": 16384}"#;

fn start(
    engine: *mut sw_engine,
    src: &Path,
    dst: &Path,
    options: &str,
    seen: Option<&Arc<Seen>>,
) -> *mut sw_job {
    let (src, dst, opts) = (path_c(src), path_c(dst), cstr(options));
    let mut job = ptr::null_mut();
    let (cb, user, free): (sw_progress_fn, *mut c_void, sw_free_user_fn) = match seen {
        Some(s) => (Some(on_progress), user_of(s), Some(free_seen)),
        None => (None, ptr::null_mut(), None),
    };
    ok(unsafe {
        sw_sync_start(engine, src.as_ptr(), dst.as_ptr(), opts.as_ptr(), cb, user, free, &mut job)
    });
    assert!(!job.is_null());
    job
}

fn wait_report(job: *mut sw_job) -> Value {
    let mut report = ptr::null_mut();
    ok(unsafe { sw_job_wait(job, -1, &mut report) });
    serde_json::from_str(&take_string(report)).expect("report is JSON")
}

#[test]
fn sync_through_c_copies_the_tree_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    let files = small_tree(&src);
    let engine = engine_in(&tmp.path().join("state"));
    let seen = Arc::new(Seen::default());
    let job = start(engine, &src, &dst, r#"{"progress_interval_ms": 10}"#, Some(&seen));

    let id = unsafe { CStr::from_ptr(sw_job_id(job)) }.to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(unsafe { sw_job_id(job) }, unsafe { sw_job_id(job) }, "the same borrowed string");

    let report = wait_report(job);
    // free_user ran exactly once, before the report was handed out, and no callback came after it.
    assert_eq!(seen.freed.load(Ordering::SeqCst), 1);
    assert_eq!(seen.after_free.load(Ordering::SeqCst), 0);
    assert_eq!(Arc::strong_count(&seen), 1, "the library holds no reference to user any more");

    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(status(job), "completed");
    for field in [
        "schema_version",
        "run_id",
        "status",
        "dry_run",
        "source",
        "destination",
        "started_at",
        "finished_at",
        "duration_ms",
        "stats",
        "errors",
        "warnings",
    ] {
        assert!(report.get(field).is_some(), "report has {field}: {report}");
    }
    assert_eq!(report["dry_run"], false);
    assert!(report.get("fatal").is_none() && report.get("plan").is_none(), "{report}");
    assert_eq!(report["stats"]["created"], 4, "{report}");
    assert_eq!(report["errors"], serde_json::json!([]));
    // The report is the core's canonical JSON, not a re-shaped copy: it parses back into the core type.
    let _: syncwright::SyncReport =
        serde_json::from_value(report.clone()).expect("canonical report");

    for (p, data) in &files {
        assert_eq!(&std::fs::read(dst.join(p)).unwrap(), data, "{p} byte for byte");
    }

    let snaps = seen.snapshots.lock().unwrap();
    let last = snaps.last().expect("at least the final snapshot");
    assert_eq!(last["stage"], "done");
    assert_eq!(last["percent"], 100.0);
    assert_eq!(snaps.iter().filter(|s| s["stage"] == "done").count(), 1);
    drop(snaps);

    let mut progress = ptr::null_mut();
    ok(unsafe { sw_job_progress(job, &mut progress) });
    let progress: Value = serde_json::from_str(&take_string(progress)).unwrap();
    assert_eq!(progress["stage"], "done");
    assert_eq!(progress["files_done"], 4, "{progress}");

    // A finished job may be waited on again, with any timeout, and cancelling it does nothing.
    ok(unsafe { sw_job_cancel(job) });
    let mut again = ptr::null_mut();
    ok(unsafe { sw_job_wait(job, 0, &mut again) });
    let again: Value = serde_json::from_str(&take_string(again)).unwrap();
    assert_eq!(again, report);

    unsafe {
        sw_job_free(job);
        sw_engine_free(engine);
    }
}

#[test]
fn cancel_through_c_gives_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    big_tree(&src);
    let engine = engine_in(&tmp.path().join("state"));
    let seen = Arc::new(Seen::default());
    let job = start(engine, &src, &dst, SLOW, Some(&seen));

    // Still running (3 MB at 64 KiB/s take about 45 s): a wait of 0 ms times out and leaves the out-parameter NULL.
    let mut report: *mut c_char = c"garbage".as_ptr() as *mut c_char;
    let err = unsafe { sw_job_wait(job, 0, &mut report) };
    assert_eq!(unsafe { sw_error_code(err) }, SW_ERR_TIMEOUT);
    assert_eq!(kind_of(err), "timeout");
    assert!(report.is_null());
    assert_eq!(status(job), "running");
    let err = unsafe { sw_job_wait(job, 30, &mut report) };
    assert_eq!(kind_of(err), "timeout");

    seen.wait_for_bytes();
    ok(unsafe { sw_job_cancel(job) });
    let report = wait_report(job);
    assert_eq!(report["status"], "cancelled", "{report}");
    assert_eq!(status(job), "cancelled");
    assert_eq!(seen.freed.load(Ordering::SeqCst), 1);
    assert!(
        (report["stats"]["bytes_transferred"].as_u64().unwrap()) < 3_000_000,
        "stopped early: {report}"
    );
    unsafe {
        sw_job_free(job);
        sw_engine_free(engine);
    }
}

#[test]
fn plan_through_c_lists_actions_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    small_tree(&src);
    let engine = engine_in(&tmp.path().join("state"));
    let (s, d) = (path_c(&src), path_c(&dst));
    let mut out = ptr::null_mut();
    ok(unsafe { sw_plan(engine, s.as_ptr(), d.as_ptr(), ptr::null(), &mut out) });
    let plan: Value = serde_json::from_str(&take_string(out)).unwrap();
    let _: syncwright::manifest::plan::Plan =
        serde_json::from_value(plan.clone()).expect("canonical plan");
    let paths: Vec<&str> =
        plan["actions"].as_array().unwrap().iter().map(|a| a["path"].as_str().unwrap()).collect();
    for p in ["a.txt", "empty", "sub/b.bin", "sub/deeper/c.txt"] {
        assert!(paths.contains(&p), "{p} in {paths:?}");
    }
    assert!(!dst.join("a.txt").exists(), "a plan writes nothing");

    let missing = path_c(&tmp.path().join("missing"));
    let err = unsafe { sw_plan(engine, missing.as_ptr(), d.as_ptr(), ptr::null(), &mut out) };
    assert_eq!(kind_of(err), "not_found");
    assert!(out.is_null());
    let bad = cstr(r#"{"no_such_option": 1}"#);
    let err = unsafe { sw_plan(engine, s.as_ptr(), d.as_ptr(), bad.as_ptr(), &mut out) };
    assert_eq!(kind_of(err), "invalid_input");
    unsafe { sw_engine_free(engine) };
}

#[test]
fn subscription_sees_the_job_from_queued_to_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    small_tree(&src);
    let engine = engine_in(&tmp.path().join("state"));
    let mut sub = ptr::null_mut();
    ok(unsafe { sw_subscribe(engine, -1, ptr::null(), &mut sub) });

    // Nothing yet: a timeout is not an error, and the out-parameter is NULL.
    let mut event: *mut c_char = c"garbage".as_ptr() as *mut c_char;
    ok(unsafe { sw_subscription_next(sub, 0, &mut event) });
    assert!(event.is_null());

    let job = start(engine, &src, &dst, r#"{"progress_interval_ms": 10}"#, None);
    let id = unsafe { CStr::from_ptr(sw_job_id(job)) }.to_str().unwrap().to_string();
    let mut types = Vec::new();
    loop {
        let mut event = ptr::null_mut();
        ok(unsafe { sw_subscription_next(sub, 60_000, &mut event) });
        let v: Value = serde_json::from_str(&take_string(event)).unwrap();
        let t = v["type"].as_str().unwrap().to_string();
        if !t.starts_with("job_") && t != "progress" {
            // Recovery and lock events of the same run; this test follows the job's own.
            continue;
        }
        assert_eq!(v["job_id"], id.as_str(), "{v}");
        if t == "job_finished" {
            assert_eq!(v["status"], "completed", "{v}");
            assert_eq!(v["stats"]["created"], 4, "{v}");
        }
        types.push(t);
        if types.last().unwrap() == "job_finished" {
            break;
        }
    }
    assert_eq!(types[..2], ["job_queued", "job_started"], "{types:?}");
    assert!(types[2..types.len() - 1].iter().all(|t| t == "progress"), "{types:?}");
    assert!(types.len() >= 4, "at least the final progress: {types:?}");
    assert_eq!(unsafe { sw_subscription_lost(sub) }, 0);
    assert_eq!(wait_report(job)["status"], "completed");

    // Closed: a wait without limit returns at once, with nothing.
    ok(unsafe { sw_subscription_close(sub) });
    let mut event = ptr::null_mut();
    ok(unsafe { sw_subscription_next(sub, -1, &mut event) });
    assert!(event.is_null());
    unsafe {
        sw_job_free(job);
        sw_subscription_free(sub);
        sw_engine_free(engine);
    }
}

/// Every event queued for `sub` now, as JSON values.
fn drain(sub: *mut sw_subscription) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let mut event = ptr::null_mut();
        ok(unsafe { sw_subscription_next(sub, 0, &mut event) });
        if event.is_null() {
            return out;
        }
        out.push(serde_json::from_str(&take_string(event)).unwrap());
    }
}

#[test]
fn a_subscription_replays_from_since_with_a_filter_and_refuses_a_since_beyond_the_latest() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    small_tree(&src);
    let engine = engine_in(&tmp.path().join("state"));
    let job = start(engine, &src, &dst, r#"{"progress_interval_ms": 10}"#, None);
    assert_eq!(wait_report(job)["status"], "completed");
    let id = unsafe { CStr::from_ptr(sw_job_id(job)) }.to_str().unwrap().to_string();

    // Everything kept, from the start: seq 1, 2, 3... with the event's fields.
    let mut sub = ptr::null_mut();
    ok(unsafe { sw_subscribe(engine, 0, ptr::null(), &mut sub) });
    let all = drain(sub);
    let seqs: Vec<u64> = all.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>());
    assert_eq!(all[0]["type"], "job_queued");
    assert_eq!(all.last().unwrap()["type"], "job_finished");
    let latest = *seqs.last().unwrap();
    unsafe { sw_subscription_free(sub) };

    // From the middle, filtered: exactly this job's events of the types asked for, after `since`.
    let filter = cstr(&format!(r#"{{"job_id":"{id}","types":["job_finished","job_started"]}}"#));
    ok(unsafe { sw_subscribe(engine, 1, filter.as_ptr(), &mut sub) });
    let got = drain(sub);
    let want: Vec<&Value> = all[1..]
        .iter()
        .filter(|v| v["type"] == "job_finished" || v["type"] == "job_started")
        .collect();
    assert_eq!(got.iter().collect::<Vec<_>>(), want);
    assert_eq!(got.len(), 2);
    unsafe { sw_subscription_free(sub) };

    // Beyond the latest, a bad filter, a filter that is not UTF-8: invalid_input, and no subscription.
    let mut sub = c"garbage".as_ptr() as *mut sw_subscription;
    let (kind, msg) =
        take_err(unsafe { sw_subscribe(engine, latest as i64 + 1, ptr::null(), &mut sub) })
            .unwrap();
    assert_eq!(kind, "invalid_input");
    assert!(msg.contains("beyond the latest"), "{msg}");
    assert!(sub.is_null());
    let bad = cstr(r#"{"types":["job_done"]}"#);
    assert_eq!(
        kind_of(unsafe { sw_subscribe(engine, 0, bad.as_ptr(), &mut sub) }),
        "invalid_input"
    );
    let not_utf8 = CString::new(vec![b'{', 0xff, b'}']).unwrap();
    assert_eq!(
        kind_of(unsafe { sw_subscribe(engine, -1, not_utf8.as_ptr(), &mut sub) }),
        "invalid_input"
    );
    // From the latest: nothing replayed, the live events follow.
    ok(unsafe { sw_subscribe(engine, latest as i64, c"".as_ptr(), &mut sub) });
    assert!(drain(sub).is_empty());
    unsafe {
        sw_subscription_free(sub);
        sw_job_free(job);
        sw_engine_free(engine);
    }
}

#[test]
fn close_wakes_a_waiting_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine_in(&tmp.path().join("state"));
    let mut sub = ptr::null_mut();
    ok(unsafe { sw_subscribe(engine, -1, ptr::null(), &mut sub) });
    let sub_addr = sub as usize;
    let waiter = std::thread::spawn(move || {
        let mut event = ptr::null_mut();
        let err = unsafe { sw_subscription_next(sub_addr as *mut sw_subscription, -1, &mut event) };
        (err.is_null(), event.is_null())
    });
    // Whether close comes before or after the waiter starts waiting, the waiter returns with nothing.
    ok(unsafe { sw_subscription_close(sub) });
    assert_eq!(waiter.join().unwrap(), (true, true));
    unsafe {
        sw_subscription_free(sub);
        sw_engine_free(engine);
    }
}

#[test]
fn null_arguments_are_invalid_input() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    small_tree(&src);
    let engine = engine_in(&tmp.path().join("state"));
    let (s, d) = (path_c(&src), path_c(&dst));
    let garbage = || c"garbage".as_ptr() as *mut c_char;
    unsafe {
        // Free functions and accessors accept NULL.
        sw_engine_free(ptr::null_mut());
        sw_job_free(ptr::null_mut());
        sw_subscription_free(ptr::null_mut());
        assert!(sw_job_id(ptr::null()).is_null());
        assert!(sw_job_status(ptr::null()).is_null());
        assert_eq!(sw_subscription_lost(ptr::null()), 0);

        assert_eq!(kind_of(sw_engine_new(ptr::null(), ptr::null_mut())), "invalid_input");
        let mut e2 = ptr::null_mut();
        let bad = cstr(r#"{"no_such_field": true}"#);
        assert_eq!(kind_of(sw_engine_new(bad.as_ptr(), &mut e2)), "invalid_input");
        assert!(e2.is_null());

        let mut out = garbage();
        assert_eq!(
            kind_of(sw_plan(ptr::null_mut(), s.as_ptr(), d.as_ptr(), ptr::null(), &mut out)),
            "invalid_input"
        );
        assert!(out.is_null(), "out-parameters are cleared first");
        assert_eq!(
            kind_of(sw_plan(engine, ptr::null(), d.as_ptr(), ptr::null(), &mut out)),
            "invalid_input"
        );
        assert_eq!(
            kind_of(sw_plan(engine, s.as_ptr(), ptr::null(), ptr::null(), &mut out)),
            "invalid_input"
        );
        assert_eq!(
            kind_of(sw_plan(engine, s.as_ptr(), d.as_ptr(), ptr::null(), ptr::null_mut())),
            "invalid_input"
        );

        // sw_sync_start takes `user` whatever happens: free_user runs before a failing call returns.
        let seen = Arc::new(Seen::default());
        let mut job = ptr::null_mut();
        let cases: [(*mut sw_engine, *const c_char, *const c_char, *mut *mut sw_job); 4] = [
            (ptr::null_mut(), s.as_ptr(), d.as_ptr(), &mut job),
            (engine, ptr::null(), d.as_ptr(), &mut job),
            (engine, s.as_ptr(), ptr::null(), &mut job),
            (engine, s.as_ptr(), d.as_ptr(), ptr::null_mut()),
        ];
        for (i, (e, a, b, o)) in cases.into_iter().enumerate() {
            let err = sw_sync_start(
                e,
                a,
                b,
                ptr::null(),
                Some(on_progress),
                user_of(&seen),
                Some(free_seen),
                o,
            );
            assert_eq!(kind_of(err), "invalid_input");
            assert_eq!(
                seen.freed.load(Ordering::SeqCst),
                i + 1,
                "free_user ran before the call returned"
            );
        }
        let bad_opts = cstr(r#"{"transfers": 0}"#);
        let err = sw_sync_start(
            engine,
            s.as_ptr(),
            d.as_ptr(),
            bad_opts.as_ptr(),
            Some(on_progress),
            user_of(&seen),
            Some(free_seen),
            &mut job,
        );
        assert_eq!(kind_of(err), "invalid_input");
        let ftp = cstr("ftp://example.invalid/x");
        let err = sw_sync_start(
            engine,
            ftp.as_ptr(),
            d.as_ptr(),
            ptr::null(),
            Some(on_progress),
            user_of(&seen),
            Some(free_seen),
            &mut job,
        );
        assert_eq!(kind_of(err), "invalid_input");
        // No callback: user is not needed, so it is released at once, even on success.
        let job2 = {
            let mut j = ptr::null_mut();
            ok(sw_sync_start(
                engine,
                s.as_ptr(),
                d.as_ptr(),
                ptr::null(),
                None,
                user_of(&seen),
                Some(free_seen),
                &mut j,
            ));
            j
        };
        assert_eq!(seen.freed.load(Ordering::SeqCst), 7);
        assert_eq!(Arc::strong_count(&seen), 1);
        assert!(job.is_null());
        assert_eq!(seen.snapshots.lock().unwrap().len(), 0, "no callback ever ran");

        let mut out = garbage();
        assert_eq!(kind_of(sw_job_progress(ptr::null(), &mut out)), "invalid_input");
        assert!(out.is_null());
        assert_eq!(kind_of(sw_job_progress(job2, ptr::null_mut())), "invalid_input");
        assert_eq!(kind_of(sw_job_cancel(ptr::null_mut())), "invalid_input");
        let mut out = garbage();
        assert_eq!(kind_of(sw_job_wait(ptr::null_mut(), 0, &mut out)), "invalid_input");
        assert!(out.is_null());
        assert_eq!(kind_of(sw_job_wait(job2, -1, ptr::null_mut())), "invalid_input");

        assert_eq!(
            kind_of(sw_subscribe(ptr::null_mut(), -1, ptr::null(), &mut ptr::null_mut())),
            "invalid_input"
        );
        assert_eq!(
            kind_of(sw_subscribe(engine, -1, ptr::null(), ptr::null_mut())),
            "invalid_input"
        );
        let mut out = garbage();
        assert_eq!(kind_of(sw_subscription_next(ptr::null_mut(), 0, &mut out)), "invalid_input");
        assert!(out.is_null());
        assert_eq!(kind_of(sw_subscription_close(ptr::null_mut())), "invalid_input");

        assert_eq!(wait_report(job2)["status"], "completed");
        sw_job_free(job2);
        sw_engine_free(engine);
    }
}

#[test]
fn handles_outlive_their_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    let files = small_tree(&src);
    let engine = engine_in(&tmp.path().join("state"));
    let mut sub = ptr::null_mut();
    ok(unsafe { sw_subscribe(engine, -1, ptr::null(), &mut sub) });
    let seen = Arc::new(Seen::default());
    let job = start(engine, &src, &dst, r#"{"progress_interval_ms": 10}"#, Some(&seen));
    // The engine handle goes first: the job still runs to the end and the subscription still gets its events.
    unsafe { sw_engine_free(engine) };
    assert_eq!(wait_report(job)["status"], "completed");
    for (p, data) in &files {
        assert_eq!(&std::fs::read(dst.join(p)).unwrap(), data);
    }
    let mut last = String::new();
    loop {
        let mut event = ptr::null_mut();
        ok(unsafe { sw_subscription_next(sub, 0, &mut event) });
        if event.is_null() {
            break;
        }
        last = take_string(event);
    }
    assert!(last.contains(r#""type":"job_finished""#), "{last}");
    unsafe {
        sw_job_free(job);
        sw_subscription_free(sub);
    }
    assert_eq!(seen.freed.load(Ordering::SeqCst), 1);
}

#[test]
fn freeing_the_last_handle_cancels_orphaned_jobs_and_waits_for_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    big_tree(&src);
    let engine = engine_in(&tmp.path().join("state"));
    let seen = Arc::new(Seen::default());
    let job = start(engine, &src, &dst, SLOW, Some(&seen));
    seen.wait_for_bytes();
    // Freeing the job handle does not cancel the job: it keeps running inside the engine.
    unsafe { sw_job_free(job) };
    let n = seen.snapshots.lock().unwrap().len();
    seen.wait_until("more progress after sw_job_free", |v| v.len() > n);
    assert_eq!(seen.freed.load(Ordering::SeqCst), 0, "the job still runs");
    // The engine's last handle: the orphaned job is cancelled and waited for; its user is released by then.
    unsafe { sw_engine_free(engine) };
    assert_eq!(seen.freed.load(Ordering::SeqCst), 1);
    assert_eq!(seen.snapshots.lock().unwrap().last().unwrap()["stage"], "done");
    // The cancelled transfers removed their temporary files (".<name>..." beside the target).
    let leftovers: Vec<String> = std::fs::read_dir(&dst)
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
        })
        .unwrap_or_default();
    assert!(leftovers.iter().all(|n| !n.starts_with('.') || n == ".syncwright"), "{leftovers:?}");
}

/// The last handle freed inside the finaliser, on one of the engine's own threads: the shutdown moves to a helper
/// thread instead of deadlocking or aborting.
#[test]
fn last_handle_freed_from_a_library_thread() {
    struct Ctx {
        sub: AtomicUsize,
        done: Mutex<bool>,
        cv: Condvar,
    }
    unsafe extern "C" fn nothing(_json: *const c_char, _user: *mut c_void) {}
    unsafe extern "C" fn free_ctx(user: *mut c_void) {
        let ctx = unsafe { Arc::from_raw(user as *const Ctx) };
        let sub = ctx.sub.swap(0, Ordering::SeqCst) as *mut sw_subscription;
        // The engine's last reference: dropped here, on a library thread.
        unsafe { sw_subscription_free(sub) };
        *ctx.done.lock().unwrap() = true;
        ctx.cv.notify_all();
    }
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    small_tree(&src);
    let engine = engine_in(&tmp.path().join("state"));
    let mut sub = ptr::null_mut();
    ok(unsafe { sw_subscribe(engine, -1, ptr::null(), &mut sub) });
    let ctx = Arc::new(Ctx {
        sub: AtomicUsize::new(sub as usize),
        done: Mutex::new(false),
        cv: Condvar::new(),
    });
    let (s, d) = (path_c(&src), path_c(&dst));
    let mut job = ptr::null_mut();
    // A slow start, so that both handles below are freed before the job ends.
    let opts = cstr(r#"{"bwlimit": 65536, "chunk_size": 16384}"#);
    ok(unsafe {
        sw_sync_start(
            engine,
            s.as_ptr(),
            d.as_ptr(),
            opts.as_ptr(),
            Some(nothing),
            Arc::into_raw(ctx.clone()) as *mut c_void,
            Some(free_ctx),
            &mut job,
        )
    });
    unsafe {
        sw_job_free(job);
        sw_engine_free(engine);
    }
    let g = ctx.done.lock().unwrap();
    let (g, t) = ctx.cv.wait_timeout_while(g, Duration::from_secs(60), |d| !*d).unwrap();
    assert!(*g && !t.timed_out(), "the finaliser ran and returned");
}
