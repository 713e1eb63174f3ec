//! The CLI with `sftp://` locations against a real sshd on 127.0.0.1: a key file and known_hosts, ssh-agent,
//! a refused host key, and the explicit opt-out of host-key checking.

#[path = "../../../core/tests/support/sshd.rs"]
mod sshd;

use sshd::Sshd;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_syncwright");

fn show(o: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    // No agent and no default keys from the machine running the tests.
    c.env("HOME", dir).env_remove("SSH_AUTH_SOCK").env_remove("SYNCWRIGHT_SSH_KEY");
    c.arg("--state-dir").arg(dir.join("state"));
    c
}

fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            if rel == ".syncwright" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn sample(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("outputs/2025-10-01")).unwrap();
    std::fs::write(src.join("outputs/2025-10-01/00001.png"), vec![7u8; 100_000]).unwrap();
    std::fs::write(src.join("outputs/prompt.txt"), b"a cat in a hat").unwrap();
    src
}

#[test]
fn sync_with_a_key_file_and_known_hosts_then_pull_back() {
    let s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let src = sample(dir.path());
    let url = s.url(&dir.path().join("remote"), None);
    let o = cmd(dir.path())
        .args(["sync", src.to_str().unwrap(), &url, "--json", "--ssh-key"])
        .arg(&s.key)
        .arg("--known-hosts")
        .arg(&s.known_hosts)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["stats"]["created"], 2, "{report}");
    assert_eq!(files(&src), files(&dir.path().join("remote")));

    let back = dir.path().join("back");
    let o = cmd(dir.path())
        .args(["sync", &url, back.to_str().unwrap(), "--ssh-key"])
        .arg(&s.key)
        .arg("--known-hosts")
        .arg(&s.known_hosts)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(files(&src), files(&back));
}

#[test]
fn ssh_agent_keys_are_used_when_no_key_file_is_given() {
    let s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let src = sample(dir.path());
    let sock = dir.path().join("agent.sock");
    // Without -D, ssh-agent returns once its socket listens.
    let agent = Command::new("ssh-agent").arg("-s").arg("-a").arg(&sock).output().unwrap();
    assert!(agent.status.success(), "{}", show(&agent));
    let out = String::from_utf8_lossy(&agent.stdout).to_string();
    let pid = out
        .split("SSH_AGENT_PID=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .expect("agent pid")
        .to_string();
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("kill").arg(&self.0).status();
        }
    }
    let _agent = Kill(pid);
    let add = Command::new("ssh-add").arg(&s.key).env("SSH_AUTH_SOCK", &sock).output().unwrap();
    assert!(add.status.success(), "{}", show(&add));

    let url = s.url(&dir.path().join("remote"), None);
    // Without the agent: no key to offer.
    let o = cmd(dir.path())
        .args(["sync", src.to_str().unwrap(), &url, "--known-hosts"])
        .arg(&s.known_hosts)
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("authentication"), "{}", show(&o));
    let o = cmd(dir.path())
        .env("SSH_AUTH_SOCK", &sock)
        .args(["sync", src.to_str().unwrap(), &url, "--known-hosts"])
        .arg(&s.known_hosts)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(files(&src), files(&dir.path().join("remote")));
}

#[test]
fn a_wrong_host_key_is_refused_unless_checking_is_turned_off_explicitly() {
    let s = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let src = sample(dir.path());
    let other = dir.path().join("other");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status();
    assert!(st.unwrap().success());
    let wrong = dir.path().join("known_hosts");
    let pubkey = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    std::fs::write(&wrong, format!("[127.0.0.1]:{} {pubkey}", s.port)).unwrap();
    let url = s.url(&dir.path().join("remote"), None);
    let o = cmd(dir.path())
        .args(["sync", src.to_str().unwrap(), &url, "--ssh-key"])
        .arg(&s.key)
        .arg("--known-hosts")
        .arg(&wrong)
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("HOST KEY MISMATCH"), "{}", show(&o));
    assert!(!dir.path().join("remote").exists());

    let o = cmd(dir.path())
        .args(["sync", src.to_str().unwrap(), &url, "--insecure-ignore-host-key", "--ssh-key"])
        .arg(&s.key)
        .arg("--known-hosts")
        .arg(&wrong)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("NOT checked"), "{}", show(&o));
    assert_eq!(files(&src), files(&dir.path().join("remote")));
}
