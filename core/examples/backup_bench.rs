//! Local backups from the command line, for `bench/backup.sh` (the CLI has no backup command yet):
//!
//! ```sh
//! cargo run --release -p syncwright --example backup_bench -- create ROOT DIR [PATH...]   # default: ROOT's entries
//! cargo run --release -p syncwright --example backup_bench -- restore ARCHIVE TARGET [--replace]
//! cargo run --release -p syncwright --example backup_bench -- verify ARCHIVE
//! ```
//!
//! Prints the result as JSON on stdout. Exit code: 0 done, 3 a partial restore or a verify with problems, 1 an
//! error, 2 bad usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use syncwright::backup::{self, BackupPlace, RestoreStatus};

fn usage() -> ExitCode {
    eprintln!(
        "usage: backup_bench create ROOT DIR [PATH...] | restore ARCHIVE TARGET [--replace] | verify ARCHIVE"
    );
    ExitCode::from(2)
}

fn never() -> bool {
    false
}

fn absolute(p: &str) -> syncwright::Result<PathBuf> {
    std::path::absolute(p).map_err(|e| syncwright::Error::io(&e, "cannot resolve", p))
}

fn top_level(root: &Path) -> syncwright::Result<Vec<String>> {
    let rd = std::fs::read_dir(root)
        .map_err(|e| syncwright::Error::io(&e, "cannot list", root.display().to_string()))?;
    let mut v = Vec::new();
    for e in rd.flatten() {
        if let Ok(n) = e.file_name().into_string() {
            v.push(n);
        }
    }
    v.sort();
    Ok(v)
}

fn run(args: &[String]) -> syncwright::Result<(String, bool)> {
    match args {
        [cmd, root, dir, paths @ ..] if cmd == "create" => {
            let root = absolute(root)?;
            let dir = absolute(dir)?;
            let mut paths = paths.to_vec();
            if paths.is_empty() {
                paths = top_level(&root)?;
                if let Some(name) = dir.strip_prefix(&root).ok().and_then(|r| r.to_str()) {
                    paths.retain(|p| p != name);
                }
            }
            let place = BackupPlace { root, paths, dir, max_backups: 50 };
            let made = backup::create(&place, None, None, &never)?;
            Ok((serde_json::to_string(&made)?, true))
        }
        [cmd, archive, target, rest @ ..] if cmd == "restore" => {
            let replace = rest.iter().any(|a| a == "--replace");
            let r = backup::restore(Path::new(archive), Path::new(target), replace, &never)?;
            let ok = r.status == RestoreStatus::Completed;
            Ok((serde_json::to_string(&r)?, ok))
        }
        [cmd, archive] if cmd == "verify" => {
            let v = backup::verify(Path::new(archive))?;
            let ok = v.ok;
            Ok((serde_json::to_string(&v)?, ok))
        }
        _ => Err(syncwright::Error::invalid("usage")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok((json, ok)) => {
            println!("{json}");
            if ok { ExitCode::SUCCESS } else { ExitCode::from(3) }
        }
        Err(e) if e.message() == "usage" => usage(),
        Err(e) => {
            eprintln!("backup_bench: {} ({})", e, e.kind());
            ExitCode::FAILURE
        }
    }
}
