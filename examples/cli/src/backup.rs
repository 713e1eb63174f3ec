//! `syncwright backup create|list|verify|restore`: local zip backups of the config's `[backup]` paths (core's
//! `backup_*` calls). Exit codes: 2 for bad input, 1 for a failure (an archive that does not verify), 3 for a
//! partial restore.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::profiles::Ctx;
use clap::Subcommand;
use syncwright::Error;

#[derive(Subcommand)]
pub(crate) enum BackupCmd {
    /// Make an archive of the [backup] paths, then rotate the folder.
    Create {
        /// Put into the name (letters, digits, '.', '_', '-'; at most 64).
        #[arg(long)]
        label: Option<String>,
        /// Keep this many archives (1 to 50; default [backup] max_backups).
        #[arg(long)]
        max_backups: Option<usize>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the archives, newest first.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check an archive (a name in the backups folder, or a path) without restoring it.
    Verify {
        /// The archive.
        archive: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore an archive (a name in the backups folder, or a path).
    Restore {
        /// The archive.
        archive: String,
        /// Restore here instead of the [backup] root.
        #[arg(long, value_name = "DIR")]
        target: Option<PathBuf>,
        /// Replace files that exist (default: keep them and report them).
        #[arg(long)]
        replace_existing: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a backup command; `backups` overrides the backups folder.
pub(crate) fn run(cmd: BackupCmd, ctx: &Ctx, backups: Option<PathBuf>) -> Result<ExitCode, Error> {
    let engine = ctx.engine_any()?;
    let dir = backups.as_deref();
    match cmd {
        BackupCmd::Create { label, max_backups, json } => {
            let b = engine.backup_create(label.as_deref(), max_backups, dir)?;
            if json {
                println!("{}", serde_json::to_string(&b)?);
            } else {
                println!(
                    "{} ({} entries, {} bytes, archive {} bytes)",
                    b.path.display(),
                    b.entries,
                    b.bytes,
                    b.size
                );
                for r in &b.rotated {
                    println!("  rotated away: {r}");
                }
            }
            for w in &b.warnings {
                eprintln!("syncwright: warning: {w}");
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCmd::List { json } => {
            let all = engine.backup_list(dir)?;
            if json {
                println!("{}", serde_json::to_string(&all)?);
            } else {
                for b in &all {
                    println!(
                        "{}  {} bytes  {} entries  {}",
                        b.name, b.size, b.entries, b.created_at
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCmd::Verify { archive, json } => {
            let v = engine.backup_verify(&archive, dir)?;
            if json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                let word = if v.ok { "ok" } else { "FAILED" };
                println!("{}: {word} ({} entries, {} bytes)", v.name, v.entries, v.bytes);
                for p in &v.problems {
                    println!("  {}: {}", p.path, p.problem);
                }
            }
            Ok(if v.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        BackupCmd::Restore { archive, target, replace_existing, json } => {
            let r = engine.backup_restore(&archive, target.as_deref(), replace_existing, dir)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "{} into {}: {} restored, {} kept, {} failed",
                    r.archive.display(),
                    r.target.display(),
                    r.restored.len(),
                    r.kept.len(),
                    r.failed.len()
                );
                for f in &r.failed {
                    println!("  failed {}: {}", f.path, f.error);
                }
            }
            let partial = r.status == syncwright::backup::RestoreStatus::Partial;
            Ok(if partial { ExitCode::from(3) } else { ExitCode::SUCCESS })
        }
    }
}
