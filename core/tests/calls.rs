//! The front door by name (`EngineCore::call_json`): every call of the table answers, arguments are checked the
//! same way for every front end, and its results are those of the typed calls.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use syncwright::engine::calls::{CALLS, CallOutput, call_info, report_text, status_outcome};
use syncwright::{Engine, EngineConfig, ErrorKind};

fn engine(dir: &Path) -> Engine {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), b"hello").unwrap();
    let config = serde_json::json!({
        "settings": {
            "coordination_dir": dir.join("coord"), "state_dir": dir.join("state"), "log_dir": dir.join("logs")
        },
        "profiles": {"user_data": {"source": src, "destination": dir.join("dst")}},
        "features": {"enable_cloud_sync": true},
        "cloud_sync": {"root": src},
        "backup": {"root": dir, "paths": ["src"]},
    });
    let mut config = config;
    config["settings"]["vault"] = serde_json::json!(dir.join("vault.json"));
    config["settings"]["vault_kdf"] = serde_json::json!({"m_kib": 64, "t": 1, "p": 1});
    std::fs::write(dir.join("rclone.conf"), "[x]\ntype = b2\n").unwrap();
    Engine::new(EngineConfig { config: Some(config), worker_threads: 2, ..Default::default() })
        .unwrap()
}

fn doc(out: CallOutput) -> Value {
    serde_json::from_str(&out.into_json().unwrap()).unwrap()
}

/// Arguments that every call of the table accepts (the required ones, with values that exist here; the vault's
/// calls also get its passphrase, as the environment would give it). `archive` is a backup made beforehand.
fn minimal_args(name: &str, job_id: &str, dir: &Path, archive: &str) -> Option<String> {
    let mut required: Vec<&str> =
        call_info(name).unwrap().args.iter().filter(|a| !a.ends_with('?')).copied().collect();
    if name.starts_with("vault_") && name != "vault_status" && name != "vault_lock" {
        required.push("passphrase");
    }
    if name == "vault_change_passphrase" {
        required.push("new_passphrase");
    }
    if required.is_empty() {
        return None;
    }
    let conf = dir.join("rclone.conf").display().to_string();
    let mut m = serde_json::Map::new();
    for a in required {
        let v = match (name, a) {
            ("backup_verify" | "backup_restore", "name") => archive,
            (_, "name") | (_, "profile") => "user_data",
            (_, "id") => job_id,
            (_, "passphrase" | "new_passphrase") => "pp",
            (_, "key") => "k",
            (_, "value") => "v",
            ("vault_import_rclone", "path") => &conf,
            ("media_info", "paths") => {
                m.insert(a.into(), serde_json::json!([dir.join("src/a.txt")]));
                continue;
            }
            _ => unreachable!("no value for {name}.{a}"),
        };
        m.insert(a.to_string(), Value::String(v.to_string()));
    }
    Some(Value::Object(m).to_string())
}

#[test]
fn every_call_of_the_table_answers_with_its_kind_of_result() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    // A finished run first, so that job, operation and history calls have something to find.
    let job = e
        .call_json("run_profile", Some(r#"{"name":"user_data"}"#), None)
        .unwrap()
        .into_job()
        .unwrap();
    let report = job.wait(Some(Duration::from_secs(60))).expect("the run ends");
    assert_eq!(report.status.as_str(), "completed");
    let made = doc(e.call_json("backup_create", None, None).unwrap());
    let archive = made["path"].as_str().unwrap().to_string();
    for info in CALLS {
        if info.name == "recovery_self_test"
            || info.name == "cancel_operation"
            || info.name == "retry_operation"
        {
            continue; // slow, or changes state: below
        }
        if info.name == "cloud_dry_run" || info.name == "cloud_run" {
            continue; // they need a service: tests/s3.rs makes them against moto_server
        }
        let args = minimal_args(info.name, job.id(), dir.path(), &archive);
        let got = e.call_json(info.name, args.as_deref(), None);
        let got = got.unwrap_or_else(|err| panic!("{}: {err}", info.name));
        match got {
            CallOutput::Job(j) => {
                assert!(info.job, "{} gave a job", info.name);
                j.wait(Some(Duration::from_secs(60))).expect("the job ends");
            }
            CallOutput::Json(text) => {
                assert!(!info.job, "{} gave a document", info.name);
                serde_json::from_str::<Value>(&text)
                    .unwrap_or_else(|x| panic!("{}: {x}", info.name));
            }
        }
    }
    // A finished operation cannot be cancelled; it can be retried with force.
    let id = format!(r#"{{"id":"{}"}}"#, job.id());
    let err = e.call_json("cancel_operation", Some(&id), None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let forced = format!(r#"{{"id":"{}","force":true}}"#, job.id());
    let again = e.call_json("retry_operation", Some(&forced), None).unwrap().into_job().unwrap();
    assert_eq!(again.wait(Some(Duration::from_secs(60))).unwrap().status.as_str(), "completed");
}

#[test]
fn results_are_those_of_the_typed_calls() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let by_name = doc(e.call_json("profiles", None, None).unwrap());
    assert_eq!(by_name, serde_json::to_value(e.profiles()).unwrap());
    let status = doc(e.call_json("profile_status", Some(r#"{"name":"user_data"}"#), None).unwrap());
    assert_eq!(status["state"], "idle");
    assert_eq!(status["profile"], "user_data");
    let logs =
        doc(e.call_json("profile_log_page", Some(r#"{"profile":"user_data"}"#), None).unwrap());
    assert_eq!(logs["pagination"]["page"], 1);
    assert_eq!(logs["pagination"]["per_page"], 50);
    let test = doc(e.call_json("lock_self_test", None, None).unwrap());
    assert_eq!(test["name"], "test_sync");
}

#[test]
fn arguments_are_checked_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let cases: &[(&str, Option<&str>, ErrorKind)] = &[
        ("no_such_call", None, ErrorKind::InvalidInput),
        ("profiles", Some(r#"{"extra":1}"#), ErrorKind::InvalidInput),
        ("profile_status", None, ErrorKind::InvalidInput),
        ("profile_status", Some(r#"{"name":7}"#), ErrorKind::InvalidInput),
        ("profile_status", Some(r#"{"name":"nope"}"#), ErrorKind::NotFound),
        ("profile_status", Some("[1]"), ErrorKind::InvalidInput),
        ("profile_status", Some("{not json"), ErrorKind::InvalidInput),
        (
            "profile_log_tail",
            Some(r#"{"profile":"user_data","level":"loud"}"#),
            ErrorKind::InvalidInput,
        ),
        ("run_history", Some(r#"{"profile":"user_data","per_page":0}"#), ErrorKind::InvalidInput),
        ("recent_jobs", Some(r#"{"limit":-1}"#), ErrorKind::InvalidInput),
        ("job", Some(r#"{"id":"0000"}"#), ErrorKind::NotFound),
        ("operation", Some(r#"{"id":"0000"}"#), ErrorKind::NotFound),
        ("storage_usage", Some(r#"{"root":"/no/such/folder/here"}"#), ErrorKind::NotFound),
        ("lock_self_test", Some(r#"{"name":"../x"}"#), ErrorKind::InvalidInput),
    ];
    for (name, a, kind) in cases {
        let err = e.call_json(name, *a, None).unwrap_err();
        assert_eq!(err.kind(), *kind, "{name} {a:?}: {err}");
    }
}

#[tokio::test]
async fn the_async_call_runs_on_the_engine_and_only_waits() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let here = std::thread::current().id();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let s = seen.clone();
    let cb: syncwright::progress::ProgressCallback = std::sync::Arc::new(move |_| {
        *s.lock().unwrap() = Some(std::thread::current().id());
    });
    let job = e
        .call_json_async("run_profile".into(), Some(r#"{"name":"user_data"}"#.into()), Some(cb))
        .await
        .unwrap()
        .into_job()
        .unwrap();
    assert_eq!(job.wait_async().await.status.as_str(), "completed");
    let on = seen.lock().unwrap().expect("progress was reported");
    assert_ne!(on, here, "the run ran on the engine's threads");
    let err =
        e.call_json_async("profile_status".into(), Some("{}".into()), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn renderings_take_canonical_words_and_reports() {
    assert_eq!(status_outcome("completed"), Some("success"));
    assert_eq!(status_outcome("partial"), Some("error"));
    assert_eq!(status_outcome("running"), Some("running"));
    assert_eq!(status_outcome("bogus"), None);
    assert_eq!(report_text("{}").unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn a_running_profile_s_lock_names_its_job_s_start_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "settings": {"coordination_dir": dir.path().join("coord"), "state_dir": dir.path().join("state"),
                     "log_dir": dir.path().join("logs")},
        "profiles": {"waits": {"command": ["sleep", "30"]}}
    });
    let e =
        Engine::new(EngineConfig { config: Some(config), worker_threads: 2, ..Default::default() })
            .unwrap();
    let job = e.run_profile("waits", None).unwrap();
    let status = serde_json::to_value(e.profile_status("waits").unwrap()).unwrap();
    assert_eq!(status["job"]["job_id"], job.id());
    assert_eq!(status["job"]["started_at"].as_str(), Some(job.info().started_at.as_str()));
    let conflict = e.run_profile("waits", None).unwrap_err();
    assert_eq!(
        conflict.details().unwrap()["started_at"].as_str(),
        Some(job.info().started_at.as_str())
    );
    job.cancel();
    assert_eq!(job.wait(Some(Duration::from_secs(60))).unwrap().status.as_str(), "cancelled");
}
