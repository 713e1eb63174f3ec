//! `syncwright backup`: create, list, verify and restore from the command line on a real tree, with the exit
//! codes of issue 16 (2 bad input, 1 failure, 3 a partial restore).

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_syncwright");

fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .env("SYNCWRIGHT_STATE_DIR", dir.join("state"))
        .args(["--config", "project.toml"])
        .args(args)
        .output()
        .unwrap()
}

fn json(o: &Output, code: i32) -> Value {
    let shown = format!(
        "{:?}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(code), "{shown}");
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {shown}"))
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

#[test]
fn create_list_verify_restore_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("project.toml"), "[backup]\nmax_backups = 2\n").unwrap();
    let png = b"\x89PNG stored bytes that the test finds in the archive".to_vec();
    write(d, "data/scenes/one.json", b"{\"scene\": 1}");
    write(d, "assets/cover.png", &png);
    write(d, "config/app.toml", b"x = 1\n");
    write(d, "other/not-backed-up.txt", b"no");

    let made = json(&cli(d, &["backup", "create", "--label", "first", "--json"]), 0);
    assert_eq!(made["entries"], 3, "{made}");
    let name = made["name"].as_str().unwrap().to_string();
    assert!(name.ends_with("-first.zip") && d.join("backups").join(&name).is_file(), "{made}");
    let list = json(&cli(d, &["backup", "list", "--json"]), 0);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let v = json(&cli(d, &["backup", "verify", &name, "--json"]), 0);
    assert_eq!(v["ok"], true, "{v}");

    // Restore elsewhere, byte for byte; into the root, existing files are kept.
    let r = json(&cli(d, &["backup", "restore", &name, "--target", "restored", "--json"]), 0);
    assert_eq!(
        (r["status"].as_str(), r["restored"].as_array().unwrap().len()),
        (Some("completed"), 3),
        "{r}"
    );
    assert_eq!(std::fs::read(d.join("restored/assets/cover.png")).unwrap(), png);
    write(d, "config/app.toml", b"x = 2\n");
    let r = json(&cli(d, &["backup", "restore", &name, "--json"]), 0);
    assert_eq!(r["kept"].as_array().unwrap().len(), 3, "{r}");
    assert_eq!(std::fs::read(d.join("config/app.toml")).unwrap(), b"x = 2\n");
    let r = json(&cli(d, &["backup", "restore", &name, "--replace-existing", "--json"]), 0);
    assert_eq!(r["restored"].as_array().unwrap().len(), 3, "{r}");
    assert_eq!(std::fs::read(d.join("config/app.toml")).unwrap(), b"x = 1\n");

    // Bad input: exit 2, nothing written.
    let o = cli(d, &["backup", "create", "--label", "../evil"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_dir(d.join("backups")).unwrap().count(), 1);
    assert_eq!(cli(d, &["backup", "restore", "20990101T000000Z.zip"]).status.code(), Some(2));

    // A damaged stored file: verify fails (exit 1), the restore is partial (exit 3) and keeps the old file.
    let archive = d.join("backups").join(&name);
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes.windows(png.len()).position(|w| w == png.as_slice()).expect("the stored PNG");
    bytes[at + 10] ^= 0xff;
    std::fs::write(&archive, bytes).unwrap();
    let v = json(&cli(d, &["backup", "verify", archive.to_str().unwrap(), "--json"]), 1);
    assert_eq!(v["ok"], false, "{v}");
    write(d, "assets/cover.png", b"the user's newer cover");
    let r = json(&cli(d, &["backup", "restore", &name, "--replace-existing", "--json"]), 3);
    assert_eq!(r["status"], "partial", "{r}");
    assert_eq!(r["failed"][0]["path"], "assets/cover.png", "{r}");
    assert_eq!(std::fs::read(d.join("assets/cover.png")).unwrap(), b"the user's newer cover");

    // Rotation keeps the two newest of ours and never a foreign zip.
    std::fs::write(d.join("backups/photos.zip"), b"PK not ours").unwrap();
    for label in ["second", "third"] {
        json(&cli(d, &["backup", "create", "--label", label, "--json"]), 0);
    }
    let list = json(&cli(d, &["backup", "list", "--json"]), 0);
    let names: Vec<&str> =
        list.as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with("-third.zip") && names[1].ends_with("-second.zip"), "{names:?}");
    assert!(d.join("backups/photos.zip").is_file());
}
