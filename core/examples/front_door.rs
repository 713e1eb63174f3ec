//! The front door from Rust: `cargo run -p syncwright --example front_door -- CONFIG_FILE`.
//!
//! The config file has two profiles: "quick" (a small tree) and "slow" (a `bwlimit`, so that it runs for a
//! while). Lists the profiles, runs "quick" and shows its status, log and history, starts "slow" and cancels it
//! once it has started, and shows the errors of a missing profile and of a bad page. Prints one JSON object per
//! line: `{"step": ..., "value": ...}` (`{"step": ..., "kind": ...}` for the errors). Exit code: 0, or 1 on an
//! error.

use serde::Serialize;
use std::time::Duration;
use syncwright::events::EventFilter;
use syncwright::{Engine, EngineConfig, Error, ErrorKind, Result};

/// Prints `{"step":STEP,"value":VALUE}`, VALUE as canonical JSON (its fields in their documented order).
fn emit(step: &str, value: impl Serialize) {
    let value = serde_json::to_string(&value).expect("documents always serialise");
    println!(r#"{{"step":"{step}","value":{value}}}"#);
}

/// The kind of the error `r` is (`"ok"` when it is not one).
fn kind<T>(r: Result<T>) -> &'static str {
    r.err().map_or("ok", |e| e.kind().as_str())
}

fn run(config_file: &str) -> Result<()> {
    let engine =
        Engine::new(EngineConfig { config_file: Some(config_file.into()), ..Default::default() })?;
    emit("profiles", engine.profiles());
    emit("status_before", engine.profile_status("quick")?);
    let report = engine.run_profile("quick", None)?.wait(None);
    emit("run", report.expect("waiting without a timeout always yields the report"));
    emit("status_after", engine.profile_status("quick")?);
    emit("logs", engine.profile_log_tail("quick", 2, None)?);

    // Subscribe before starting the job, so that its job_started event cannot be missed.
    let filter = EventFilter { types: vec!["job_started".into()], ..Default::default() };
    let started = engine.subscribe_from(None, filter)?;
    let job = engine.run_profile("slow", None)?;
    loop {
        let Some(event) = started.next_blocking(Some(Duration::from_secs(30))) else {
            job.cancel();
            return Err(Error::new(ErrorKind::Timeout, "the slow job did not start in 30 s"));
        };
        if event.job_id() == Some(job.id()) {
            break;
        }
    }
    job.cancel();
    emit("cancelled", job.wait(None).expect("waiting without a timeout always yields the report"));

    println!(r#"{{"step":"not_found","kind":"{}"}}"#, kind(engine.profile_status("nope")));
    println!(r#"{{"step":"invalid","kind":"{}"}}"#, kind(engine.run_history("quick", 1, 0)));
    emit("history", engine.run_history("quick", 1, 10)?);
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 {
        eprintln!("usage: front_door CONFIG_FILE");
        return std::process::ExitCode::from(2);
    }
    match run(&args[1]) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error ({}): {}", e.kind(), e.message());
            std::process::ExitCode::from(1)
        }
    }
}
