//! Profile commands across processes: a run holds its locks against a second process, a holder killed with -9
//! leaves a stale lock that the next run breaks, and status, logs and unlock show what happened.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_syncwright")
}

fn write_config(path: &Path, coord: &Path, state: &Path, src: &Path, dst: &Path, extra: &str) {
    let text = format!(
        "[settings]\ncoordination_dir = {:?}\nstate_dir = {:?}\n[profiles.models]\nsource = {:?}\ndestination = {:?}\n{extra}\n",
        coord.to_str().unwrap(),
        state.to_str().unwrap(),
        src.to_str().unwrap(),
        dst.to_str().unwrap()
    );
    std::fs::write(path, text).unwrap();
}

fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SYNCWRIGHT_STATE_DIR")
        .output()
        .unwrap()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().contains(".swtmp-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_holder_killed_with_sigkill_leaves_a_stale_lock_the_next_run_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, coord, state) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("coord"),
        dir.path().join("state"),
    );
    std::fs::create_dir_all(&src).unwrap();
    let data: Vec<u8> =
        (0..4_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    std::fs::write(src.join("model.safetensors"), &data).unwrap();
    let slow = dir.path().join("slow.toml");
    let fast = dir.path().join("fast.toml");
    write_config(&slow, &coord, &state, &src, &dst, "bwlimit = \"256K\"");
    write_config(&fast, &coord, &state, &src, &dst, "");

    // Two processes race for the profile: exactly one runs (slowly), the other is refused with exit 5 and the
    // running job's id and start time.
    let spawn = || {
        Command::new(bin())
            .args(["--config", slow.to_str().unwrap(), "run", "models", "--no-progress"])
            .env_remove("SYNCWRIGHT_STATE_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut p1, mut p2) = (spawn(), spawn());
    let mut loser_done = None;
    wait_for("one of the two racers to be refused", || {
        if let Some(s) = p1.try_wait().unwrap() {
            loser_done = Some((1, s));
        } else if let Some(s) = p2.try_wait().unwrap() {
            loser_done = Some((2, s));
        }
        loser_done.is_some()
    });
    let (which, status) = loser_done.unwrap();
    let (mut a, loser) = if which == 1 { (p2, p1) } else { (p1, p2) };
    let err = String::from_utf8_lossy(&loser.wait_with_output().unwrap().stderr).to_string();
    assert_eq!(status.code(), Some(5), "{err}");
    assert!(err.contains("already running") && err.contains("since"), "{err}");
    assert!(a.try_wait().unwrap().is_none(), "the winner is still copying");
    wait_for("the winner's partial copy", || !temporaries(&dst).is_empty());

    // A third start is refused too while the winner runs.
    let b = cli(&fast, &["run", "models", "--no-progress"]);
    assert_eq!(b.status.code(), Some(5), "{}", String::from_utf8_lossy(&b.stderr));
    let st = cli(&fast, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v[0]["running"], true);

    // A dies holding the lock.
    a.kill().unwrap();
    a.wait().unwrap();
    assert!(coord.join("profile-models.lock").exists(), "a SIGKILL leaves the lock file");
    let st = cli(&fast, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v[0]["running"], false);
    assert_eq!(v[0]["lock"]["state"], "stale");
    assert_eq!(v[0]["last_run"]["status"], "interrupted", "{v}");

    // The next run finds the lock stale, breaks it and completes.
    let c = cli(&fast, &["run", "models", "--json"]);
    assert_eq!(c.status.code(), Some(0), "{}", String::from_utf8_lossy(&c.stderr));
    let r: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(r["status"], "completed");
    assert_eq!(std::fs::read(dst.join("model.safetensors")).unwrap(), data);
    assert!(temporaries(&dst).is_empty());
    assert!(!coord.join("profile-models.lock").exists());
    let logs = cli(&fast, &["logs", "models", "-n", "50"]);
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(text.contains("broke the stale lock profile-models"), "{text}");
    assert!(text.lines().last().unwrap().contains("sync completed"), "{text}");
    let warn = cli(&fast, &["logs", "models", "--level", "warning", "--json"]);
    for line in String::from_utf8_lossy(&warn.stdout).lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["level"], "warning");
    }
}

#[test]
fn unlock_run_all_and_usage() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, coord, state) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("coord"),
        dir.path().join("state"),
    );
    std::fs::create_dir_all(src.join("loras")).unwrap();
    std::fs::write(src.join("loras/l.safetensors"), vec![1u8; 5000]).unwrap();
    let cfg = dir.path().join("c.toml");
    write_config(
        &cfg,
        &coord,
        &state,
        &src,
        &dst,
        "[profiles.broken]\nsource = \"/nonexistent/src\"\ndestination = \"/tmp/nowhere\"",
    );
    let all = cli(&cfg, &["run-all", "--json"]);
    assert_eq!(all.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(v["successful"], serde_json::json!(["models"]));
    assert_eq!(v["failed"], serde_json::json!(["broken"]));
    let u = cli(&cfg, &["usage", "--models", dst.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&u.stdout).unwrap();
    assert_eq!(v["by_type"]["loras"]["size"], 5000);
    assert_eq!(v["by_project"]["models"]["size"], 5000);
    // A lock left behind by somebody else's crashed run is removed on request.
    std::fs::write(coord.join("profile-models.lock"), b"{}").unwrap();
    let un = cli(&cfg, &["unlock", "models"]);
    assert!(String::from_utf8_lossy(&un.stdout).contains("removed lock profile-models"));
    assert!(!coord.join("profile-models.lock").exists());
    let t = cli(&cfg, &["unlock", "--test"]);
    assert_eq!(t.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&t.stdout).contains("a second acquire was refused"));
    let none = cli(&cfg, &["run", "nope"]);
    assert_eq!(none.status.code(), Some(2));
    let no_cfg = Command::new(bin())
        .args(["run", "models"])
        .env_remove("SYNCWRIGHT_CONFIG")
        .output()
        .unwrap();
    assert_eq!(no_cfg.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_cfg.stderr).contains("--config"));
}

#[test]
fn profiles_history_operations_recovery_and_events_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, coord, state) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("coord"),
        dir.path().join("state"),
    );
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.bin"), b"alpha").unwrap();
    let cfg = dir.path().join("c.toml");
    write_config(&cfg, &coord, &state, &src, &dst, "");
    let json = |o: &std::process::Output| -> serde_json::Value {
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let lines = |o: &std::process::Output| -> Vec<serde_json::Value> {
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    for _ in 0..2 {
        assert_eq!(cli(&cfg, &["run", "models", "--json"]).status.code(), Some(0));
    }
    let p = json(&cli(&cfg, &["profiles", "--json"]));
    assert_eq!((p[0]["name"].as_str(), p[0]["kind"].as_str()), (Some("models"), Some("sync")));

    let h = json(&cli(&cfg, &["history", "models", "--per-page", "1", "--json"]));
    assert_eq!(
        (h["pagination"]["total"].as_u64(), h["pagination"]["pages"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(h["runs"][0]["status"], "completed");
    let newest = h["runs"][0]["job_id"].as_str().unwrap().to_string();

    let ops = json(&cli(&cfg, &["operations", "--json"]));
    assert_eq!(ops.as_array().unwrap().len(), 2);
    let op = json(&cli(&cfg, &["operation", &newest, "--json"]));
    assert_eq!(op["state"], "success");
    // A succeeded operation is retried only with --force: a conflict (exit 5) without.
    assert_eq!(cli(&cfg, &["operation", &newest, "--retry"]).status.code(), Some(5));
    assert_eq!(cli(&cfg, &["operation", "nope", "--json"]).status.code(), Some(2));

    let m = json(&cli(&cfg, &["recovery-metrics"]));
    assert_eq!((m["persistence"].as_bool(), m["total_operations"].as_u64()), (Some(true), Some(2)));
    let s = json(&cli(&cfg, &["recovery-test", "--list", "--json"]));
    assert!(s.as_array().unwrap().iter().any(|s| s["id"] == "network_timeout"));

    // The events of both runs were kept, numbered, and replay from any seq.
    let finished = lines(&cli(&cfg, &["events", "--type", "job_finished"]));
    assert_eq!(finished.len(), 2, "{finished:?}");
    let seqs: Vec<u64> = finished.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs[0] < seqs[1]);
    let after =
        lines(&cli(&cfg, &["events", "--since", &seqs[0].to_string(), "--type", "job_finished"]));
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["job_id"], newest.as_str());
    let theirs = lines(&cli(&cfg, &["events", "--profile", "models", "--type", "log"]));
    assert!(!theirs.is_empty() && theirs.iter().all(|e| e["profile"] == "models"));
    let beyond = cli(&cfg, &["events", "--since", "99999999"]);
    assert_eq!(beyond.status.code(), Some(2), "{}", String::from_utf8_lossy(&beyond.stderr));
    assert_eq!(cli(&cfg, &["events", "--type", "no_such_type"]).status.code(), Some(2));
}
