//! The secrets vault as calls of the engine (see [`crate::vault`]), and the credentials remote options name by
//! `credentials_key`.
//!
//! The engine's vault is `[settings] vault` (default beside the config file). A call that needs it unlocks it
//! with the passphrase it is given, else with the one the engine holds from an earlier call, else with
//! `SYNCWRIGHT_SECRETS_KEY`; the unlocked vault is kept (its keys, not a second copy of the passphrase's work) so
//! that later calls and runs that use `credentials_key` do not derive the key again. Reads re-read the file, so a
//! value another process set is seen. [`EngineCore::vault_lock`] forgets it.

use serde::Serialize;

use super::EngineCore;
use crate::backend::remote::RemoteOptions;
use crate::error::{Error, ErrorKind, Result};
use crate::vault::{self, KdfParams, Secret, SecretValue, Vault};

/// What [`EngineCore::vault_status`] says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VaultStatus {
    /// Version of this document's schema.
    pub schema_version: u32,
    /// The vault's file.
    pub path: String,
    /// Whether the file exists.
    pub exists: bool,
    /// Whether this engine holds it unlocked.
    pub unlocked: bool,
    /// The key derivation parameters new envelopes use (`[settings.vault_kdf]`).
    pub kdf: KdfParams,
    /// The environment variable the passphrase is read from when none is given.
    pub passphrase_env: &'static str,
    /// Whether that variable is set (never its value).
    pub passphrase_env_set: bool,
}

/// A value read by [`EngineCore::vault_get`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VaultValue {
    /// The key asked for.
    pub key: String,
    /// Its value: a string or an object.
    pub value: SecretValue,
}

/// What [`EngineCore::vault_restore_backup`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VaultRestore {
    /// True when the current envelope was damaged and a backup was written back.
    pub restored: bool,
    /// Which backup (1: the newest), when one was.
    pub backup: Option<usize>,
}

fn no_key(key: &str, option: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("the vault has no key {key:?} ({option})"))
}

fn field(obj: &SecretValue, name: &str, key: &str, option: &str) -> Result<Option<Secret>> {
    match obj.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(Secret::new(s.clone()))),
        Some(_) => {
            Err(Error::invalid(format!("the vault's {key} ({option}): {name} is not a string")))
        }
    }
}

impl EngineCore {
    /// The vault's file (`[settings] vault`, else beside the config file, else in the state directory).
    pub(crate) fn vault_path(&self) -> std::path::PathBuf {
        vault::location(&self.config, &self.state_dir)
    }

    fn vault_params(&self) -> Result<KdfParams> {
        vault::kdf_params(&self.config)
    }

    /// Where the vault is and whether it exists and is unlocked; reads no secret.
    pub fn vault_status(&self) -> Result<VaultStatus> {
        let path = self.vault_path();
        Ok(VaultStatus {
            schema_version: 1,
            exists: path.is_file(),
            path: path.display().to_string(),
            unlocked: self.vault.lock().unwrap_or_else(|p| p.into_inner()).is_some(),
            kdf: self.vault_params()?,
            passphrase_env: vault::PASSPHRASE_ENV,
            passphrase_env_set: std::env::var_os(vault::PASSPHRASE_ENV)
                .is_some_and(|v| !v.is_empty()),
        })
    }

    /// Runs `f` on the vault, unlocked with `passphrase`, else the one held, else `SYNCWRIGHT_SECRETS_KEY`, and
    /// keeps it unlocked. A held vault is read again first (`reload`) so another process's writes are seen.
    fn with_vault<T>(
        &self,
        passphrase: Option<&Secret>,
        f: impl FnOnce(&mut Vault) -> Result<T>,
    ) -> Result<T> {
        let mut held = self.vault.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.vault_path();
        let reuse = match (held.as_mut(), passphrase) {
            (Some(v), Some(p)) => v.has_passphrase(p) && v.path() == path,
            (Some(v), None) => v.path() == path,
            (None, _) => false,
        };
        if reuse {
            if let Some(v) = held.as_mut() {
                v.reload()?;
            }
        } else {
            let pass = match passphrase {
                Some(p) => p.clone(),
                None => vault::passphrase_from_env(vault::PASSPHRASE_ENV)?,
            };
            *held = Some(self.unlock_saying_why(&path, &pass)?);
        }
        match held.as_mut() {
            Some(v) => f(v),
            None => Err(Error::internal("the vault was not kept")),
        }
    }

    /// Unlocks the vault at `path`; when its current envelope is damaged, the `corrupt` error says whether an
    /// inline backup opens (details `{"backup": N}`, 1 the newest) and that `vault_restore_backup` brings it back.
    fn unlock_saying_why(&self, path: &std::path::Path, pass: &Secret) -> Result<Vault> {
        let params = self.vault_params()?;
        match Vault::unlock(path, pass, params, false) {
            Err(e) if e.kind() == ErrorKind::Corrupt => {
                let backup = Vault::unlock(path, pass, params, true)
                    .ok()
                    .and_then(|v| v.recovered_from_backup());
                Err(match backup {
                    Some(i) => Error::new(
                        ErrorKind::Corrupt,
                        format!(
                            "{}; inline backup {} is intact: restore it with `syncwright vault \
                             restore-backup` (vault_restore_backup)",
                            e.message(),
                            i + 1
                        ),
                    )
                    .with_path(path.display().to_string())
                    .with_details(serde_json::json!({ "backup": i + 1 })),
                    None => e,
                })
            }
            other => other,
        }
    }

    /// Creates an empty vault (`conflict` when one exists) and keeps it unlocked.
    pub fn vault_init(&self, passphrase: Option<&Secret>) -> Result<VaultStatus> {
        let pass = match passphrase {
            Some(p) => p.clone(),
            None => vault::passphrase_from_env(vault::PASSPHRASE_ENV)?,
        };
        let v = Vault::create(&self.vault_path(), &pass, self.vault_params()?)?;
        *self.vault.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
        self.vault_status()
    }

    /// Unlocks the vault and keeps it so (`auth` for a wrong passphrase, `corrupt` for a damaged file,
    /// `not_found` when there is none).
    pub fn vault_unlock(&self, passphrase: Option<&Secret>) -> Result<VaultStatus> {
        self.with_vault(passphrase, |_| Ok(()))?;
        self.vault_status()
    }

    /// Forgets the unlocked vault: the next call that needs it unlocks it again.
    pub fn vault_lock(&self) -> Result<VaultStatus> {
        *self.vault.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.vault_status()
    }

    /// The vault's keys, in order (never their values).
    pub fn vault_keys(&self, passphrase: Option<&Secret>) -> Result<Vec<String>> {
        self.with_vault(passphrase, |v| Ok(v.keys()))
    }

    /// The value of `key` (dotted keys reach into objects); `not_found` when there is none.
    pub fn vault_get(&self, key: &str, passphrase: Option<&Secret>) -> Result<VaultValue> {
        self.with_vault(passphrase, |v| {
            let value = v.get_object(key)?.ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("the vault has no key {key:?}"))
            })?;
            Ok(VaultValue { key: key.to_string(), value })
        })
    }

    /// Sets `key` to `value` (a string or an object).
    pub fn vault_set(
        &self,
        key: &str,
        value: SecretValue,
        passphrase: Option<&Secret>,
    ) -> Result<Vec<String>> {
        self.with_vault(passphrase, |v| {
            v.set(key, value)?;
            Ok(v.keys())
        })
    }

    /// Removes `key`; `not_found` when there is none.
    pub fn vault_delete(&self, key: &str, passphrase: Option<&Secret>) -> Result<Vec<String>> {
        self.with_vault(passphrase, |v| {
            v.delete(key)?;
            Ok(v.keys())
        })
    }

    /// Re-encrypts the vault under `new` (else `SYNCWRIGHT_SECRETS_KEY_NEW`); the engine keeps it unlocked
    /// under the new passphrase.
    pub fn vault_change_passphrase(
        &self,
        new: Option<&Secret>,
        passphrase: Option<&Secret>,
    ) -> Result<VaultStatus> {
        let new = match new {
            Some(n) => n.clone(),
            None => vault::passphrase_from_env(vault::NEW_PASSPHRASE_ENV)?,
        };
        if new.expose().is_empty() {
            return Err(Error::invalid("the new passphrase is empty"));
        }
        self.with_vault(passphrase, |v| v.change_passphrase(&new))?;
        self.vault_status()
    }

    /// When the vault's current envelope is damaged, writes back the newest inline backup that opens.
    pub fn vault_restore_backup(&self, passphrase: Option<&Secret>) -> Result<VaultRestore> {
        let pass = match passphrase {
            Some(p) => p.clone(),
            None => vault::passphrase_from_env(vault::PASSPHRASE_ENV)?,
        };
        let mut v = Vault::unlock(&self.vault_path(), &pass, self.vault_params()?, true)?;
        let backup = v.recovered_from_backup();
        if backup.is_some() {
            v.restore_backup()?;
        }
        *self.vault.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
        Ok(VaultRestore { restored: backup.is_some(), backup: backup.map(|i| i + 1) })
    }

    /// Imports the usable sections of an unencrypted rclone.conf into the vault under `<prefix>.<section>`
    /// (default `rclone`), and says which sections were left and why (see [`crate::vault::rclone`]).
    pub fn vault_import_rclone(
        &self,
        conf: &std::path::Path,
        prefix: Option<&str>,
        passphrase: Option<&Secret>,
    ) -> Result<vault::rclone::RcloneImport> {
        let prefix = prefix.unwrap_or(vault::rclone::DEFAULT_PREFIX);
        let text = std::fs::read_to_string(conf)
            .map_err(|e| Error::io(&e, "cannot read", conf.display().to_string()))?;
        let sections = vault::rclone::parse(&text)?;
        let dir = conf.parent().unwrap_or(std::path::Path::new("."));
        let plan = vault::rclone::plan(&sections, dir, prefix, &conf.display().to_string());
        if !plan.entries.is_empty() {
            self.with_vault(passphrase, |v| v.set_many(plan.entries))?;
        }
        Ok(plan.report)
    }

    /// `remote` with the credentials its `credentials_key`s name read from the vault (S3's key pair, Drive's
    /// service account, SFTP's key and passphrase); unchanged when it names none. `not_found` naming the key and
    /// option when the vault lacks one; `auth` when the vault cannot be unlocked.
    pub(crate) fn resolve_credentials(&self, remote: &RemoteOptions) -> Result<RemoteOptions> {
        let mut r = remote.clone();
        if r.s3.credentials_key.is_none()
            && r.gdrive.credentials_key.is_none()
            && r.sftp.credentials_key.is_none()
        {
            return Ok(r);
        }
        self.with_vault(None, |v| {
            if let Some(key) = r.s3.credentials_key.clone() {
                let opt = "remote.s3.credentials_key";
                let obj = v.get_object(&key)?.ok_or_else(|| no_key(&key, opt))?;
                let id = field(&obj, "access_key_id", &key, opt)?;
                let secret = field(&obj, "secret_access_key", &key, opt)?;
                let (Some(id), Some(secret)) = (id, secret) else {
                    return Err(Error::invalid(format!(
                        "the vault's {key} ({opt}) needs access_key_id and secret_access_key"
                    )));
                };
                r.s3.access_key_id = Some(id);
                r.s3.secret_access_key = Some(secret);
                r.s3.session_token = field(&obj, "session_token", &key, opt)?;
            }
            if let Some(key) = r.gdrive.credentials_key.clone() {
                let opt = "remote.gdrive.credentials_key";
                let at = format!("{key}.credentials");
                let value = v.get_object(&at)?.ok_or_else(|| no_key(&at, opt))?;
                let text = match value {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                r.gdrive.credentials_json = Some(Secret::new(text));
            }
            if let Some(key) = r.sftp.credentials_key.clone() {
                let opt = "remote.sftp.credentials_key";
                let obj = v.get_object(&key)?.ok_or_else(|| no_key(&key, opt))?;
                let pass = field(&obj, "passphrase", &key, opt)?;
                let pk = field(&obj, "private_key", &key, opt)?;
                if pass.is_none() && pk.is_none() {
                    return Err(Error::invalid(format!(
                        "the vault's {key} ({opt}) has neither passphrase nor private_key"
                    )));
                }
                if pass.is_some() {
                    r.sftp.passphrase = pass;
                }
                r.sftp.private_key = pk;
            }
            Ok(())
        })?;
        Ok(r)
    }
}
