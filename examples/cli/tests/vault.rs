//! `syncwright vault`: the commands on a real vault file, values from standard input, passphrases from the
//! environment; no value ever on an argument or in an error.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_syncwright")
}

/// A config with small key-derivation parameters (the tests derive many keys).
fn config(dir: &Path) -> std::path::PathBuf {
    let f = dir.join("pod.toml");
    std::fs::write(
        &f,
        "[settings]\nstate_dir = \"state\"\n[settings.vault_kdf]\nm_kib = 64\nt = 1\np = 1\n",
    )
    .unwrap();
    f
}

fn vault(cfg: &Path, pass: Option<&str>, args: &[&str], stdin: &str) -> Output {
    let mut c = Command::new(bin());
    c.arg("--config").arg(cfg).arg("vault").args(args);
    c.env_remove("SYNCWRIGHT_SECRETS_KEY").env_remove("SYNCWRIGHT_SECRETS_KEY_NEW");
    if let Some(p) = pass {
        c.env("SYNCWRIGHT_SECRETS_KEY", p);
    }
    let mut child =
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn init_set_get_ls_rm_and_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let p = Some("pod passphrase");
    assert!(vault(&cfg, p, &["init"], "").status.success());
    // Beside the config file, named after it.
    let file = dir.path().join("pod.secrets.json");
    assert!(file.is_file());
    assert_eq!(vault(&cfg, p, &["init"], "").status.code(), Some(5), "a second init is a conflict");
    assert!(vault(&cfg, p, &["set", "sftp.passphrase"], "hunter2\n").status.success());
    let s3 = r#"{"access_key_id": "AKIA", "secret_access_key": "very-secret"}"#;
    assert!(vault(&cfg, p, &["set", "cloud_sync.s3", "--json"], s3).status.success());
    let got = vault(&cfg, p, &["get", "sftp.passphrase"], "");
    assert_eq!(text(&got.stdout), "hunter2\n");
    let got = vault(&cfg, p, &["get", "cloud_sync.s3.secret_access_key"], "");
    assert_eq!(text(&got.stdout), "very-secret\n");
    let ls = vault(&cfg, p, &["ls", "--json"], "");
    assert_eq!(text(&ls.stdout), "[\"cloud_sync.s3\",\"sftp.passphrase\"]\n");
    assert!(!text(&std::fs::read(&file).unwrap()).contains("very-secret"));
    assert!(vault(&cfg, p, &["rm", "sftp.passphrase"], "").status.success());
    assert_eq!(vault(&cfg, p, &["get", "sftp.passphrase"], "").status.code(), Some(2));
    // passwd: the new passphrase from SYNCWRIGHT_SECRETS_KEY_NEW.
    let out = Command::new(bin())
        .arg("--config")
        .arg(&cfg)
        .args(["vault", "passwd"])
        .env("SYNCWRIGHT_SECRETS_KEY", "pod passphrase")
        .env("SYNCWRIGHT_SECRETS_KEY_NEW", "new passphrase")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(vault(&cfg, p, &["ls"], "").status.code(), Some(1));
    assert_eq!(text(&vault(&cfg, Some("new passphrase"), &["ls"], "").stdout), "cloud_sync.s3\n");
}

#[test]
fn errors_are_typed_and_never_show_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let none = vault(&cfg, None, &["init"], "");
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stderr).contains("SYNCWRIGHT_SECRETS_KEY"), "{}", text(&none.stderr));
    assert!(vault(&cfg, Some("right"), &["init"], "").status.success());
    assert!(vault(&cfg, Some("right"), &["set", "k"], "the-value\n").status.success());
    let wrong = vault(&cfg, Some("not-the-passphrase"), &["get", "k"], "");
    assert_eq!(wrong.status.code(), Some(1));
    let all = text(&wrong.stdout) + &text(&wrong.stderr);
    assert!(
        all.contains("wrong vault passphrase")
            && !all.contains("the-value")
            && !all.contains("not-the-pass")
    );
    assert_eq!(vault(&cfg, Some("right"), &["set", "../bad"], "v").status.code(), Some(2));
    assert_eq!(
        vault(&cfg, Some("right"), &["set", "k2"], "").status.code(),
        Some(2),
        "an empty value"
    );
    assert_eq!(
        vault(&cfg, Some("right"), &["set", "k3", "--json"], "{not json").status.code(),
        Some(2)
    );
}

#[test]
fn restore_backup_brings_back_the_newest_intact_copy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let p = Some("pp");
    assert!(vault(&cfg, p, &["init"], "").status.success());
    assert!(vault(&cfg, p, &["set", "a"], "1").status.success());
    assert!(vault(&cfg, p, &["set", "b"], "2").status.success());
    let file = dir.path().join("pod.secrets.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    v["current"]["ciphertext"] = serde_json::json!("00");
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    let damaged = vault(&cfg, p, &["ls"], "");
    assert_eq!(damaged.status.code(), Some(1), "damaged: corrupt");
    assert!(
        text(&damaged.stderr).contains("inline backup 1 is intact"),
        "{}",
        text(&damaged.stderr)
    );
    assert!(text(&damaged.stderr).contains("restore-backup"), "{}", text(&damaged.stderr));
    let r = vault(&cfg, p, &["restore-backup"], "");
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("backup 1 restored"));
    assert_eq!(text(&vault(&cfg, p, &["ls"], "").stdout), "a\n");
}

#[test]
fn import_rclone_stores_usable_sections_and_says_why_others_were_left() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let p = Some("pp");
    assert!(vault(&cfg, p, &["init"], "").status.success());
    let conf = dir.path().join("rclone.conf");
    std::fs::write(
        &conf,
        "[aws]\ntype = s3\naccess_key_id = AKID\nsecret_access_key = rclone-cli-secret\nregion = eu-west-1\n\
         [drive]\ntype = drive\ntoken = {\"access_token\":\"t\"}\n",
    )
    .unwrap();
    let out = vault(&cfg, p, &["import-rclone", conf.to_str().unwrap(), "--json"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["imported"][0]["key"], "rclone.aws");
    assert!(
        r["imported"][0]["profile_toml"]
            .as_str()
            .unwrap()
            .contains("credentials_key = \"rclone.aws\"")
    );
    assert!(r["not_imported"][0]["reason"].as_str().unwrap().contains("OAuth"), "{r}");
    let human = vault(&cfg, p, &["import-rclone", conf.to_str().unwrap()], "");
    let shown = format!("{}{}", text(&human.stdout), text(&human.stderr));
    assert!(shown.contains("imported [aws]") && shown.contains("not imported [drive]"), "{shown}");
    assert!(
        !shown.contains("rclone-cli-secret") && !text(&out.stdout).contains("rclone-cli-secret")
    );
    let got = vault(&cfg, p, &["get", "rclone.aws.secret_access_key"], "");
    assert_eq!(text(&got.stdout), "rclone-cli-secret\n");
}
