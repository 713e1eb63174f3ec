//! The cross-language scenario from Rust: `cargo run -p syncwright --example sync_report -- SRC DST OPTIONS_JSON`.
//!
//! Starts the sync as a job with a progress callback (one line per snapshot on stderr), waits, and prints the
//! canonical report JSON on stdout. Exit code: 0 completed, 3 partial, 1 otherwise.

use std::sync::Arc;
use syncwright::progress::ProgressSnapshot;
use syncwright::{Engine, EngineConfig, Status, SyncOptions};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: sync_report SRC DST [OPTIONS_JSON]");
        return std::process::ExitCode::from(2);
    }
    let run = || -> syncwright::Result<Status> {
        // The state directory comes from SYNCWRIGHT_STATE_DIR when it is set.
        let engine = Engine::new(EngineConfig::default())?;
        let options = SyncOptions::from_json(args.get(3).map(String::as_str))?;
        let on_progress = Arc::new(|p: &ProgressSnapshot| {
            eprintln!(
                "progress {} {}",
                p.percent,
                serde_json::to_value(p.stage).unwrap_or_default().as_str().unwrap_or("")
            )
        });
        let job = engine.start_sync(&args[1], &args[2], options, Some(on_progress))?;
        let report = job.wait(None).expect("waiting without a timeout always yields the report");
        println!("{}", report.to_json());
        Ok(report.status)
    };
    match run() {
        Ok(Status::Completed) => std::process::ExitCode::SUCCESS,
        Ok(Status::Partial) => std::process::ExitCode::from(3),
        Ok(_) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("error ({}): {}", e.kind(), e.message());
            std::process::ExitCode::from(1)
        }
    }
}
