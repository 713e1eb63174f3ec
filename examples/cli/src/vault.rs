//! `syncwright vault ...`: the secrets vault of the config (core's `syncwright::vault`). Passphrases come from
//! `SYNCWRIGHT_SECRETS_KEY` (and `SYNCWRIGHT_SECRETS_KEY_NEW` for `passwd`), values from standard input or
//! `--from-file`: never from an argument, which other users of the machine can read.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::profiles::Ctx;
use clap::Subcommand;
use syncwright::config::Config;
use syncwright::vault::{self, Secret};
use syncwright::{Engine, Error};

#[derive(Subcommand)]
pub(crate) enum VaultCmd {
    /// Create an empty vault (the passphrase from SYNCWRIGHT_SECRETS_KEY).
    Init,
    /// Set KEY to the value read from standard input (or --from-file); --json stores a JSON object.
    Set {
        /// A dotted name, such as cloud_sync.s3.
        key: String,
        /// Read the value from this file instead of standard input.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// The value is a JSON object (an S3 key pair, a service account's JSON).
        #[arg(long)]
        json: bool,
    },
    /// Print the value of KEY (dotted names reach into objects).
    Get {
        /// The key.
        key: String,
    },
    /// Remove KEY.
    Rm {
        /// The key.
        key: String,
    },
    /// List the keys (never the values).
    Ls {
        /// Print as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Re-encrypt under the passphrase in SYNCWRIGHT_SECRETS_KEY_NEW.
    Passwd,
    /// When the vault's current copy is damaged, write back the newest intact inline backup.
    RestoreBackup,
    /// Import the S3, Drive (service account) and SFTP (key file) sections of an unencrypted rclone.conf as
    /// vault entries `<prefix>.<section>`, printing a profile stub for each and why other sections were left.
    ImportRclone {
        /// The rclone.conf (`rclone config file` shows where it is).
        conf: PathBuf,
        /// The vault key prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The engine of the config (or none), its vault moved to `--vault` when given.
fn engine(ctx: &Ctx, over: Option<PathBuf>) -> Result<Engine, Error> {
    let mut cfg = if ctx.config.is_some() { ctx.load()? } else { Config::default() };
    if let Some(v) = over {
        let abs = std::path::absolute(&v)
            .map_err(|e| Error::io(&e, "cannot resolve", v.display().to_string()))?;
        cfg.settings.vault = Some(abs);
    }
    ctx.engine(&cfg)
}

fn read_value(from_file: Option<&Path>, json: bool) -> Result<serde_json::Value, Error> {
    let mut text = String::new();
    match from_file {
        Some(f) => {
            text = std::fs::read_to_string(f)
                .map_err(|e| Error::io(&e, "cannot read", f.display().to_string()))?
        }
        None if std::io::stdin().is_terminal() && !json => text = prompt_hidden("value")?,
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::io(&e, "cannot read", "standard input"))?;
        }
    }
    if json {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(format!("the value is not JSON: {e}")))?;
        return Ok(v);
    }
    // One trailing newline (from `echo` or a file) is not part of the value.
    let value = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    if value.is_empty() {
        return Err(Error::invalid(
            "the value is empty (give it on standard input or with --from-file)",
        ));
    }
    Ok(serde_json::Value::String(value.to_string()))
}

/// The passphrase typed at a hidden prompt when `var` is not set and standard input is a terminal; None
/// otherwise (the engine then reads `var`, and says so when it is missing).
fn passphrase_prompt(var: &str, what: &str) -> Result<Option<Secret>, Error> {
    if std::env::var_os(var).is_some_and(|v| !v.is_empty()) || !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let line = prompt_hidden(what)?;
    let p = line.trim_end_matches(['\n', '\r']);
    if p.is_empty() {
        return Err(Error::invalid("an empty passphrase"));
    }
    Ok(Some(Secret::new(p)))
}

/// Reads a line from the terminal without echoing it (a secret typed at a prompt).
fn prompt_hidden(what: &str) -> Result<String, Error> {
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal (checked by its return value).
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    let have = unsafe { libc::tcgetattr(fd, &mut old) } == 0;
    if have {
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: a valid termios for the same descriptor.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    eprint!("{what}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if have {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    }
    read.map_err(|e| Error::io(&e, "cannot read", "the terminal"))?;
    Ok(line)
}

/// Runs a vault command through the engine's vault calls.
pub(crate) fn run(cmd: VaultCmd, ctx: &Ctx, over: Option<PathBuf>) -> Result<ExitCode, Error> {
    let engine = engine(ctx, over)?;
    // Without SYNCWRIGHT_SECRETS_KEY, a person at a terminal is asked (the engine reads the variable itself).
    let asked = passphrase_prompt(vault::PASSPHRASE_ENV, "vault passphrase")?;
    let pass = asked.as_ref();
    match cmd {
        VaultCmd::Init => {
            let st = engine.vault_init(pass)?;
            eprintln!("syncwright: created the vault {}", st.path);
        }
        VaultCmd::Set { key, from_file, json } => {
            let value = read_value(from_file.as_deref(), json)?;
            engine.vault_set(&key, value, pass)?;
        }
        VaultCmd::Get { key } => match engine.vault_get(&key, pass)?.value {
            serde_json::Value::String(s) => println!("{s}"),
            other => println!("{other}"),
        },
        VaultCmd::Rm { key } => {
            engine.vault_delete(&key, pass)?;
        }
        VaultCmd::Ls { json } => {
            let keys = engine.vault_keys(pass)?;
            if json {
                println!("{}", serde_json::to_string(&keys)?);
            } else {
                for k in keys {
                    println!("{k}");
                }
            }
        }
        VaultCmd::Passwd => {
            let new = passphrase_prompt(vault::NEW_PASSPHRASE_ENV, "new vault passphrase")?;
            engine.vault_change_passphrase(new.as_ref(), pass)?;
        }
        VaultCmd::RestoreBackup => {
            let r = engine.vault_restore_backup(pass)?;
            match r.backup {
                Some(i) => eprintln!(
                    "syncwright: the vault's current copy was damaged; backup {i} restored"
                ),
                None => eprintln!("syncwright: the vault is intact; nothing to restore"),
            }
        }
        VaultCmd::ImportRclone { conf, prefix, json } => {
            let r = engine.vault_import_rclone(&conf, prefix.as_deref(), pass)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                for i in &r.imported {
                    println!("imported [{}] ({}) as {}", i.section, i.service, i.key);
                    for n in &i.notes {
                        println!("  note: {n}");
                    }
                    println!("  a profile using it:\n{}", indent(&i.profile_toml));
                }
                for s in &r.not_imported {
                    println!("not imported [{}]: {}", s.section, s.reason);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}
