//! `syncwright vault ...`: the secrets vault of the config (core's `syncwright::vault`). Passphrases come from
//! `SYNCWRIGHT_SECRETS_KEY` (and `SYNCWRIGHT_SECRETS_KEY_NEW` for `passwd`), values from standard input or
//! `--from-file`: never from an argument, which other users of the machine can read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use syncwright::config::Config;
use syncwright::vault::{self, Vault};
use syncwright::{Error, ErrorKind};

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
}

/// The vault of `config` (or `--vault`) and its key derivation parameters.
fn target(
    config: Option<&Path>,
    state_dir: Option<&Path>,
    over: Option<PathBuf>,
) -> Result<(PathBuf, vault::KdfParams), Error> {
    let cfg = match config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let state =
        state_dir.map(Path::to_path_buf).unwrap_or_else(syncwright::state::default_state_dir);
    let path = over.unwrap_or_else(|| vault::location(&cfg, &state));
    Ok((path, vault::kdf_params(&cfg)?))
}

fn read_value(from_file: Option<&Path>, json: bool) -> Result<serde_json::Value, Error> {
    let mut text = String::new();
    match from_file {
        Some(f) => {
            text = std::fs::read_to_string(f)
                .map_err(|e| Error::io(&e, "cannot read", f.display().to_string()))?
        }
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

/// Runs a vault command.
pub(crate) fn run(
    cmd: VaultCmd,
    config: Option<&Path>,
    state_dir: Option<&Path>,
    over: Option<PathBuf>,
) -> Result<ExitCode, Error> {
    let (path, params) = target(config, state_dir, over)?;
    let pass = || vault::passphrase_from_env(vault::PASSPHRASE_ENV);
    match cmd {
        VaultCmd::Init => {
            Vault::create(&path, &pass()?, params)?;
            eprintln!("syncwright: created the vault {}", path.display());
        }
        VaultCmd::Set { key, from_file, json } => {
            let value = read_value(from_file.as_deref(), json)?;
            Vault::unlock(&path, &pass()?, params, false)?.set(&key, value)?;
        }
        VaultCmd::Get { key } => {
            let v = Vault::unlock(&path, &pass()?, params, false)?;
            match v.get_object(&key)? {
                Some(serde_json::Value::String(s)) => println!("{s}"),
                Some(other) => println!("{other}"),
                None => {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("the vault has no key {key:?}"),
                    ));
                }
            }
        }
        VaultCmd::Rm { key } => Vault::unlock(&path, &pass()?, params, false)?.delete(&key)?,
        VaultCmd::Ls { json } => {
            let keys = Vault::unlock(&path, &pass()?, params, false)?.keys();
            if json {
                println!("{}", serde_json::to_string(&keys)?);
            } else {
                for k in keys {
                    println!("{k}");
                }
            }
        }
        VaultCmd::Passwd => {
            let new = vault::passphrase_from_env(vault::NEW_PASSPHRASE_ENV)?;
            Vault::unlock(&path, &pass()?, params, false)?.change_passphrase(&new)?;
        }
        VaultCmd::RestoreBackup => {
            let mut v = Vault::unlock(&path, &pass()?, params, true)?;
            match v.recovered_from_backup() {
                Some(i) => {
                    v.restore_backup()?;
                    eprintln!(
                        "syncwright: the vault's current copy was damaged; backup {} restored",
                        i + 1
                    );
                }
                None => eprintln!("syncwright: the vault is intact; nothing to restore"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
