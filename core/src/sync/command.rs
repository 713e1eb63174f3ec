//! Profiles that run an external command instead of a sync (for people migrating from `sync_manager.sh`): argv
//! without a shell, output captured (bounded), a timeout, cancel.

use crate::cancel::CancelFlag;
use crate::error::{Error, ErrorKind};
use crate::manifest::now_rfc3339;
use crate::report::{ErrorAction, FileError, Status, SyncReport, SyncStats};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// Most output kept from a command (the end of it).
pub const OUTPUT_LIMIT: usize = 64 * 1024;

fn keep_tail(buf: &mut Vec<u8>, limit: usize) {
    if buf.len() > limit {
        let cut = buf.len() - limit;
        buf.drain(..cut);
    }
}

/// Runs `argv`, killing it on cancel or after `timeout`; the report's `output` holds stdout then stderr.
pub async fn run_command(
    argv: &[String],
    timeout: Option<Duration>,
    cancel: &CancelFlag,
) -> SyncReport {
    let started_at = now_rfc3339();
    let t0 = Instant::now();
    let shown = argv.join(" ");
    let mut status = Status::Completed;
    let mut fatal = None;
    let mut output = Vec::new();
    let fail = |kind: ErrorKind, msg: String| {
        Some(FileError::new(ErrorAction::Run, "", &Error::new(kind, msg)))
    };
    match tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Err(e) => {
            status = Status::Failed;
            fatal = fail(ErrorKind::from_io(&e), format!("cannot run {shown}: {e}"));
        }
        Ok(mut child) => {
            let (mut out, mut err) =
                (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
            let read_all = async {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let _ = tokio::join!(out.read_to_end(&mut a), err.read_to_end(&mut b));
                (a, b)
            };
            let deadline = async {
                match timeout {
                    Some(t) => tokio::time::sleep(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                (a, b) = read_all => {
                    output.extend(a);
                    output.extend(b);
                    match child.wait().await {
                        Ok(s) if s.success() => {}
                        Ok(s) => {
                            status = Status::Failed;
                            fatal = fail(ErrorKind::Internal, format!("{shown} exited with {s}"));
                        }
                        Err(e) => {
                            status = Status::Failed;
                            fatal = fail(ErrorKind::from_io(&e), format!("waiting for {shown}: {e}"));
                        }
                    }
                }
                _ = cancel.cancelled() => {
                    let _ = child.kill().await;
                    status = Status::Cancelled;
                }
                _ = deadline => {
                    let _ = child.kill().await;
                    status = Status::Failed;
                    fatal = fail(
                        ErrorKind::Timeout,
                        format!("{shown} took longer than its timeout of {:.0} s and was stopped", timeout.unwrap_or_default().as_secs_f64()),
                    );
                }
            }
        }
    }
    keep_tail(&mut output, OUTPUT_LIMIT);
    SyncReport {
        schema_version: crate::manifest::SCHEMA_VERSION,
        run_id: uuid::Uuid::new_v4().to_string(),
        status,
        dry_run: false,
        source: shown.clone(),
        destination: String::new(),
        started_at,
        finished_at: now_rfc3339(),
        duration_ms: t0.elapsed().as_millis() as u64,
        stats: SyncStats { errors: u64::from(fatal.is_some()), ..Default::default() },
        errors: Vec::new(),
        warnings: Vec::new(),
        plan: None,
        fatal,
        output: Some(String::from_utf8_lossy(&output).into_owned()),
        report_type: crate::report::ReportType::Command,
        run_all: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn output_exit_status_and_timeout() {
        let c = CancelFlag::new();
        let r = run_command(&argv(&["sh", "-c", "echo out; echo err >&2"]), None, &c).await;
        assert_eq!(r.status, Status::Completed);
        assert_eq!(r.output.as_deref(), Some("out\nerr\n"));
        let r = run_command(&argv(&["sh", "-c", "exit 3"]), None, &c).await;
        assert_eq!(r.status, Status::Failed);
        assert!(r.fatal.unwrap().error.contains("exit status: 3"));
        let r = run_command(&argv(&["/definitely/not/a/command"]), None, &c).await;
        assert_eq!(r.fatal.unwrap().kind, ErrorKind::NotFound);
        let r = run_command(&argv(&["sleep", "30"]), Some(Duration::from_millis(50)), &c).await;
        assert_eq!((r.status, r.fatal.unwrap().kind), (Status::Failed, ErrorKind::Timeout));
        c.cancel();
        let r = run_command(&argv(&["sleep", "30"]), None, &c).await;
        assert_eq!(r.status, Status::Cancelled);
    }
}
