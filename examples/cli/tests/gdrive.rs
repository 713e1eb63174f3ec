//! `syncwright sync` with gdrive:// locations, end to end against the fake Drive of the core tests
//! (`core/tests/gdrive_fake`), reached through the test-only SYNCWRIGHT_GDRIVE_API_BASE.

#[path = "../../../core/tests/gdrive_fake/mod.rs"]
mod gdrive_fake;

use gdrive_fake::{Fake, TestKey};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_syncwright");

fn run(state: &Path, fake: &Fake, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env("SYNCWRIGHT_STATE_DIR", state)
        .env("SYNCWRIGHT_GDRIVE_API_BASE", &fake.base)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .expect("run syncwright")
}

fn report(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?}\n{}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[test]
fn sync_to_and_from_google_drive() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate();
    let fake = Fake::start(&key);
    fake.add_folder("1Files");
    fake.add_folder("1Manifests");
    let creds = fake.write_credentials(dir.path(), &key);
    let creds = creds.to_str().unwrap();
    let state = dir.path().join("state");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("renders/day1")).unwrap();
    std::fs::write(src.join("renders/day1/a.png"), b"png bytes").unwrap();
    std::fs::write(src.join("notes.txt"), b"notes").unwrap();
    let src = src.to_str().unwrap();

    // Without credentials: an auth error (exit 1), before anything is sent.
    let o = run(&state, &fake, &["sync", src, "gdrive://1Files", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fake.counters().requests + fake.counters().token, 0);

    let args = [
        "sync",
        src,
        "gdrive://1Files",
        "--gdrive-credentials",
        creds,
        "--gdrive-manifest-folder",
        "1Manifests",
        "--json",
    ];
    let o = run(&state, &fake, &args);
    let r = report(&o);
    assert_eq!(o.status.code(), Some(0), "{r}");
    assert_eq!(
        (r["status"].as_str(), r["stats"]["created"].as_u64()),
        (Some("completed"), Some(2)),
        "{r}"
    );
    assert_eq!(r["destination"], "gdrive://1Files");
    let files = fake.tree("1Files");
    assert_eq!(files["default/renders/day1/a.png"].content, b"png bytes");
    assert_eq!(files["default/notes.txt"].content, b"notes");
    assert!(fake.tree("1Manifests").contains_key("default.json"));

    // Again: nothing to do.
    let o = run(&state, &fake, &args);
    let r = report(&o);
    assert_eq!(
        (r["status"].as_str(), r["stats"]["created"].as_u64()),
        (Some("completed"), Some(0)),
        "{r}"
    );

    // And back, into an empty folder.
    let dst = dir.path().join("back");
    let o = run(
        &state,
        &fake,
        &[
            "sync",
            "gdrive://1Files",
            dst.to_str().unwrap(),
            "--gdrive-credentials",
            creds,
            "--json",
        ],
    );
    let r = report(&o);
    assert_eq!(o.status.code(), Some(0), "{r}");
    assert_eq!(std::fs::read(dst.join("renders/day1/a.png")).unwrap(), b"png bytes");
    assert_eq!(std::fs::read(dst.join("notes.txt")).unwrap(), b"notes");
    // Nothing secret in what the command printed.
    let printed =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!printed.contains("PRIVATE KEY") && !printed.contains("ya29."), "{printed}");
}
