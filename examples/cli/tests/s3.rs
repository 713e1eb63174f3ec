//! The `syncwright` binary with an `s3://` destination on moto_server (`$SW_MOTO_SERVER`, else
//! `<workspace>/.venv/bin/moto_server`, as scripts/test.sh installs it; without it the test fails and says so): keys
//! from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, `--s3-endpoint`, `--s3-region`.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_syncwright");
const SECRET: &str = "cli-secret-value-31337";

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split(' ').nth(1)?.parse().ok()
}

fn moto() -> Moto {
    let bin = std::env::var_os("SW_MOTO_SERVER")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server")
        });
    assert!(
        bin.exists(),
        "moto_server not found at {}: `.venv/bin/pip install 'moto[server]'` at the workspace root (scripts/test.sh \
         does), or set SW_MOTO_SERVER",
        bin.display()
    );
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let m = Moto { child, port };
    let t0 = Instant::now();
    while request(port, "GET", "/moto-api/data.json") != Some(200) {
        assert!(t0.elapsed() < Duration::from_secs(60), "moto_server did not answer");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(request(port, "PUT", "/cli-bkt"), Some(200));
    m
}

fn run(dir: &Path, port: u16, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .env("SYNCWRIGHT_STATE_DIR", dir.join("state"))
        .env("AWS_ACCESS_KEY_ID", "AKIACLITEST000000001")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env_remove("AWS_SESSION_TOKEN")
        .args(args)
        .args([
            "--s3-endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--s3-region",
            "us-east-1",
            "--json",
        ])
        .output()
        .unwrap()
}

fn report(o: &Output, code: i32) -> Value {
    let shown = format!(
        "status {:?}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(code), "{shown}");
    assert!(!shown.contains(SECRET), "the secret was printed: {shown}");
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {shown}"))
}

#[test]
fn sync_to_s3_with_endpoint_and_env_keys() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/a")).unwrap();
    std::fs::write(d.join("src/a/one.png"), b"one").unwrap();
    std::fs::write(d.join("src/two.txt"), b"two").unwrap();

    let r = report(
        &run(d, m.port, &["sync", "src", "s3://cli-bkt/dev", "--name", "nightly", "--dry-run"]),
        0,
    );
    assert_eq!(r["stats"]["files_planned"], 2, "{r}");
    let r = report(&run(d, m.port, &["sync", "src", "s3://cli-bkt/dev", "--name", "nightly"]), 0);
    assert_eq!(
        (r["status"].as_str(), r["stats"]["created"].as_u64()),
        (Some("completed"), Some(2)),
        "{r}"
    );
    assert_eq!(r["destination"], "s3://cli-bkt/dev");
    let r = report(&run(d, m.port, &["sync", "src", "s3://cli-bkt/dev", "--name", "nightly"]), 0);
    assert_eq!(r["stats"]["unchanged"], 2, "{r}");
    // Pull back.
    let r = report(&run(d, m.port, &["sync", "s3://cli-bkt/dev", "back", "--name", "nightly"]), 0);
    assert_eq!(r["stats"]["created"], 2, "{r}");
    assert_eq!(std::fs::read(d.join("back/a/one.png")).unwrap(), b"one");
    // A missing bucket fails the run at once with not_found (exit code 2), not file by file.
    let args = ["sync", "src", "s3://no-such-bkt/dev", "--name", "nightly"];
    let r = report(&run(d, m.port, &args), 2);
    assert_eq!(
        (r["status"].as_str(), r["fatal"]["kind"].as_str()),
        (Some("failed"), Some("not_found")),
        "{r}"
    );
    assert!(r["fatal"]["error"].as_str().unwrap().contains("NoSuchBucket"), "{r}");
}

/// Every file under `dir`, read whole (the state store, logs, manifests, caches).
fn every_file(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            every_file(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p, b));
        }
    }
}

/// Issue 16: a secret set in the vault and used by a profile through `credentials_key` never appears in any
/// output of the sync (standard output and error of every command, reports, logs, history, events, operations)
/// nor in any file syncwright wrote besides the encrypted vault: for a run that works and one that fails.
#[test]
fn a_vault_secret_never_appears_in_any_output_of_a_profile_sync() {
    const VAULT_SECRET: &str = "vault-only-secret-8c1f0e";
    const PASSPHRASE: &str = "vault-passphrase-55aa";
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/a")).unwrap();
    std::fs::write(d.join("src/a/one.png"), b"one").unwrap();
    std::fs::write(d.join("src/two.txt"), b"two").unwrap();
    let endpoint = format!("http://127.0.0.1:{}", m.port);
    let profile = |name: &str, bucket: &str| {
        format!(
            "[profiles.{name}]\nsource = \"src\"\ndestination = \"s3://{bucket}/vaulted\"\nmax_attempts = 1\n\
             [profiles.{name}.remote.s3]\nendpoint_url = \"{endpoint}\"\nregion = \"us-east-1\"\n\
             credentials_key = \"cloud_sync.s3\"\n"
        )
    };
    let toml = format!(
        "[settings]\nstate_dir = \"state\"\nlog_dir = \"logs\"\ncoordination_dir = \"coord\"\n\
         [settings.vault_kdf]\nm_kib = 64\nt = 1\np = 1\n\
         [features]\nenable_cloud_sync = true\nenable_cloud_sync_s3 = true\n{}{}",
        profile("cloud", "cli-bkt"),
        profile("broken", "no-such-bucket")
    );
    // Profile sources resolve from the working folder; the config's own paths from its folder.
    std::fs::write(d.join("pod.toml"), toml).unwrap();
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut cli = |args: &[&str], stdin: &str| -> Output {
        let mut c = Command::new(BIN);
        c.current_dir(d)
            .env("SYNCWRIGHT_SECRETS_KEY", PASSPHRASE)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .args(["--config", "pod.toml"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        outputs.push((args.join(" "), out.clone()));
        out
    };
    assert!(cli(&["vault", "init"], "").status.success());
    let creds = format!(
        r#"{{"access_key_id": "AKIAVAULT0000000001", "secret_access_key": "{VAULT_SECRET}"}}"#
    );
    assert!(cli(&["vault", "set", "cloud_sync.s3", "--json"], &creds).status.success());

    let ok = cli(&["run", "cloud", "--json"], "");
    let shown = format!("{}{}", text_of(&ok.stdout), text_of(&ok.stderr));
    assert_eq!(ok.status.code(), Some(0), "{shown}");
    let r: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        (r["status"].as_str(), r["stats"]["created"].as_u64()),
        (Some("completed"), Some(2)),
        "{r}"
    );
    let bad = cli(&["run", "broken", "--json"], "");
    assert_ne!(bad.status.code(), Some(0));
    for args in [
        &["status", "--json"][..],
        &["logs", "cloud", "-n", "100"],
        &["logs", "broken", "-n", "100"],
        &["history", "cloud", "--json"],
        &["history", "broken", "--json"],
        &["events", "--since", "0"],
        &["operations", "--json"],
        &["profiles", "--json"],
    ] {
        let o = cli(args, "");
        assert!(o.status.success(), "{args:?}: {}", text_of(&o.stderr));
    }
    // A wrong passphrase and a missing key fail without showing either.
    let mut wrong = Command::new(BIN);
    let o = wrong
        .current_dir(d)
        .env("SYNCWRIGHT_SECRETS_KEY", "not-the-passphrase")
        .args(["--config", "pod.toml", "run", "cloud", "--json"])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    outputs.push(("run with a wrong passphrase".into(), o));

    for (what, o) in &outputs {
        for stream in [&o.stdout, &o.stderr] {
            let t = text_of(stream);
            assert!(!t.contains(VAULT_SECRET), "{what} printed the secret: {t}");
            assert!(!t.contains(PASSPHRASE), "{what} printed the passphrase: {t}");
        }
    }
    let mut files = Vec::new();
    every_file(d, &mut files);
    assert!(files.len() > 5, "the state, logs and manifests are there: {}", files.len());
    for (p, bytes) in &files {
        if p.starts_with(d.join("src")) {
            continue;
        }
        let t = String::from_utf8_lossy(bytes);
        assert!(!t.contains(VAULT_SECRET), "{} holds the secret", p.display());
        assert!(!t.contains(PASSPHRASE), "{} holds the passphrase", p.display());
    }
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `syncwright cloud manifest|dry-run|run`: refused while the flags are off (exit 1, naming them), then
/// document 3's dry run and run against moto with the keys from the vault.
#[test]
fn cloud_commands_follow_the_flags_and_mirror_the_tree() {
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("proj/assets")).unwrap();
    std::fs::create_dir_all(d.join("proj/cache")).unwrap();
    std::fs::write(d.join("proj/assets/a.png"), b"png").unwrap();
    std::fs::write(d.join("proj/cache/c.bin"), b"cache").unwrap();
    let write_config = |flags: bool| {
        std::fs::write(
            d.join("pod.toml"),
            format!(
                "[settings]\nstate_dir = \"state\"\n[settings.vault_kdf]\nm_kib = 64\nt = 1\np = 1\n\
                 [features]\nenable_cloud_sync = {flags}\nenable_cloud_sync_s3 = {flags}\n\
                 [cloud_sync]\nroot = \"proj\"\n[cloud_sync.s3]\nbucket = \"cli-bkt\"\nprefix = \"cloud\"\n\
                 endpoint_url = \"http://127.0.0.1:{}\"\nregion = \"us-east-1\"\ncredentials_key = \"cloud_sync.s3\"\n",
                m.port
            ),
        )
        .unwrap();
    };
    let cli = |args: &[&str], stdin: &str| -> Output {
        let mut c = Command::new(BIN);
        c.current_dir(d)
            .env("SYNCWRIGHT_SECRETS_KEY", "cloud-cli-pass")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["--config", "pod.toml"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    write_config(false);
    assert!(cli(&["vault", "init"], "").status.success());
    let keys =
        r#"{"access_key_id": "AKIACLOUD0000000001", "secret_access_key": "cloud-cli-secret"}"#;
    assert!(cli(&["vault", "set", "cloud_sync.s3", "--json"], keys).status.success());
    let off = cli(&["cloud", "dry-run", "--service", "s3"], "");
    assert_eq!(off.status.code(), Some(1), "{}", text_of(&off.stderr));
    assert!(text_of(&off.stderr).contains("enable_cloud_sync"), "{}", text_of(&off.stderr));

    write_config(true);
    let man = cli(&["cloud", "manifest", "--snapshot", "nightly", "--json"], "");
    assert!(man.status.success(), "{}", text_of(&man.stderr));
    let man: Value = serde_json::from_slice(&man.stdout).unwrap();
    assert_eq!(man["manifest"]["entries"], 1, "{man}");
    let dry = cli(&["cloud", "dry-run", "--service", "s3", "--snapshot", "nightly", "--json"], "");
    assert!(dry.status.success(), "{}", text_of(&dry.stderr));
    let dry: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(dry["summary"]["status"], "dry_run");
    assert_eq!(dry["summary"]["uploads"][0]["path"], "assets/a.png", "{dry}");
    let run = cli(&["cloud", "run", "--service", "s3", "--snapshot", "nightly"], "");
    let shown = text_of(&run.stdout);
    assert!(
        run.status.success() && shown.starts_with("completed s3 snapshot nightly: 1 uploads"),
        "{shown}"
    );
    let again =
        cli(&["cloud", "dry-run", "--service", "s3", "--snapshot", "nightly", "--json"], "");
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (
            again["summary"]["uploads"].as_array().map(Vec::len),
            again["summary"]["unchanged"].as_u64()
        ),
        (Some(0), Some(1))
    );
}
