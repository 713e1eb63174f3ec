//! The secrets vault: one file holding provider credentials, encrypted under a passphrase (see [`envelope`]).
//!
//! The file is `{"current": <envelope>, "backups": [<envelope>, ...]}`: the envelope now and up to
//! [`MAX_BACKUPS`] earlier ones, newest first, each a whole encrypted copy. Every write re-reads the file under an
//! exclusive lock on `<vault>.lock` (so two processes writing one vault never lose an update), applies its change,
//! seals with a fresh nonce, keeps the replaced envelope as the newest backup, and writes a temporary file that is
//! fsynced and renamed over the vault. Values are [`Secret`]s: redacted in `Debug` and never serialised.
//!
//! The secrets are a JSON object keyed by dotted names (`cloud_sync.s3`); a value is a string or an object (an S3
//! key pair, a service account's JSON).

pub mod envelope;
pub mod rclone;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::backend::remote::Secret;
use crate::error::{Error, ErrorKind, Result};
pub use envelope::KdfParams;
use envelope::{Envelope, Keys};

/// How many earlier envelopes a vault keeps inline.
pub const MAX_BACKUPS: usize = 5;

/// The environment variable the passphrase is read from.
pub const PASSPHRASE_ENV: &str = "SYNCWRIGHT_SECRETS_KEY";
/// The environment variable a new passphrase is read from (`change_passphrase`).
pub const NEW_PASSPHRASE_ENV: &str = "SYNCWRIGHT_SECRETS_KEY_NEW";

/// The vault file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultFile {
    current: Envelope,
    #[serde(default)]
    backups: Vec<Envelope>,
}

/// A secret value as stored: a string, or an object of strings and further objects.
pub type SecretValue = serde_json::Value;

/// An unlocked vault: its path, its keys and the secrets as they were last read or written.
pub struct Vault {
    path: PathBuf,
    keys: Keys,
    passphrase: Secret,
    /// The parameters new envelopes use (the settings'); a vault made with weaker ones is upgraded on its next
    /// write.
    params: KdfParams,
    secrets: BTreeMap<String, SecretValue>,
    /// Set when the current envelope was damaged and a backup was read instead.
    recovered_from_backup: Option<usize>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("keys", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Where the vault of `config` is: `[settings] vault` (relative to the config file's folder), else
/// `<config name>.secrets.json` beside the config file, else `vault.json` in `state_dir`.
pub fn location(config: &crate::config::Config, state_dir: &Path) -> PathBuf {
    if let Some(v) = &config.settings.vault {
        return config.resolve(v);
    }
    match &config.origin {
        Some(file) => {
            let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("syncwright");
            file.with_file_name(format!("{stem}.secrets.json"))
        }
        None => state_dir.join("vault.json"),
    }
}

/// The vault's key derivation parameters of `config` (`[settings.vault_kdf]`, checked), or the default.
pub fn kdf_params(config: &crate::config::Config) -> Result<KdfParams> {
    let p = config.settings.vault_kdf.unwrap_or_default();
    p.validate().map_err(|e| Error::invalid(format!("settings.vault_kdf: {}", e.message())))?;
    Ok(p)
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::Corrupt, what)
}

/// The passphrase from [`PASSPHRASE_ENV`], or `auth` when it is not set.
pub fn passphrase_from_env(var: &str) -> Result<Secret> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
        _ => Err(Error::new(ErrorKind::Auth, format!("no vault passphrase: set {var}"))),
    }
}

fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 256
        && key.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{key:?} is not a vault key (dotted names of letters, digits, '_' and '-')"
        )))
    }
}

/// Holds the exclusive lock of a vault for a read-modify-write.
struct WriteLock {
    _file: File,
}

impl WriteLock {
    fn take(vault: &Path) -> Result<WriteLock> {
        let mut name = vault.as_os_str().to_owned();
        name.push(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(name))
            .map_err(|e| Error::io(&e, "cannot open the lock of", vault.display().to_string()))?;
        file.lock().map_err(|e| Error::io(&e, "cannot lock", vault.display().to_string()))?;
        Ok(WriteLock { _file: file })
    }
}

fn read_file(path: &Path) -> Result<VaultFile> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::io(&e, "cannot read the vault", path.display().to_string()))?;
    // Tell an unknown version apart from damage: the version is read first, leniently.
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(version) = v.pointer("/current/version").and_then(|x| x.as_u64())
        && version != u64::from(envelope::VERSION)
    {
        return Err(Error::invalid(format!(
            "vault version {version} is not one this syncwright reads (it reads {})",
            envelope::VERSION
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("the vault file is damaged: {e}")))
}

fn write_file(path: &Path, file: &VaultFile) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(&e, "cannot create", dir.display().to_string()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("vault"),
        uuid::Uuid::new_v4().simple()
    ));
    let body = serde_json::to_vec_pretty(file)?;
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&e, "cannot write the vault", path.display().to_string()));
    }
    Ok(())
}

fn decode(plain: &[u8]) -> Result<BTreeMap<String, SecretValue>> {
    serde_json::from_slice(plain).map_err(|_| corrupt("the vault's secrets do not parse"))
}

impl Vault {
    /// Creates a new vault at `path` with no secrets; `conflict` when the file exists.
    pub fn create(path: &Path, passphrase: &Secret, params: KdfParams) -> Result<Vault> {
        let _lock = WriteLock::take(path)?;
        if path.exists() {
            return Err(Error::new(ErrorKind::Conflict, "the vault exists already")
                .with_path(path.display().to_string()));
        }
        let keys = Keys::new(passphrase.expose(), params)?;
        let current = Envelope::seal(&keys, b"{}")?;
        write_file(path, &VaultFile { current, backups: Vec::new() })?;
        Ok(Vault {
            path: path.to_path_buf(),
            keys,
            passphrase: passphrase.clone(),
            params,
            secrets: BTreeMap::new(),
            recovered_from_backup: None,
        })
    }

    /// Unlocks the vault at `path`. `auth` for a wrong passphrase; `corrupt` for a damaged file (unless
    /// `allow_backup` and an inline backup opens: then the vault is that backup's, and
    /// [`Vault::recovered_from_backup`] says which; [`Vault::restore_backup`] writes it back);
    /// `invalid_input` for an unknown version; `not_found` for a missing file.
    pub fn unlock(
        path: &Path,
        passphrase: &Secret,
        params: KdfParams,
        allow_backup: bool,
    ) -> Result<Vault> {
        let file = read_file(path)?;
        let current = (|| {
            let keys = file.current.keys(passphrase.expose(), None)?;
            let secrets = decode(&file.current.open(&keys)?)?;
            Ok::<_, Error>((keys, secrets))
        })();
        let (keys, secrets, recovered) = match current {
            Ok((k, s)) => (k, s, None),
            Err(e) if e.kind() == ErrorKind::Corrupt && allow_backup => {
                let mut found = None;
                for (i, b) in file.backups.iter().enumerate() {
                    if let Ok(k) = b.keys(passphrase.expose(), None)
                        && let Ok(s) = b.open(&k).and_then(|p| decode(&p))
                    {
                        found = Some((k, s, Some(i)));
                        break;
                    }
                }
                found.ok_or(e)?
            }
            Err(e) => return Err(e.with_path(path.display().to_string())),
        };
        Ok(Vault {
            path: path.to_path_buf(),
            keys,
            passphrase: passphrase.clone(),
            params,
            secrets,
            recovered_from_backup: recovered,
        })
    }

    /// When the current envelope was damaged and backup `i` (0: the newest) was read instead.
    pub fn recovered_from_backup(&self) -> Option<usize> {
        self.recovered_from_backup
    }

    /// The vault's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names of the secrets, in order (never their values).
    pub fn keys(&self) -> Vec<String> {
        self.secrets.keys().cloned().collect()
    }

    /// The secret `key`: a string value as a [`Secret`], or None. An object value is
    /// [`Vault::get_object`]'s.
    pub fn get(&self, key: &str) -> Result<Option<Secret>> {
        check_key(key)?;
        Ok(self.lookup(key).map(|v| match v {
            serde_json::Value::String(s) => Secret::new(s.clone()),
            other => Secret::new(other.to_string()),
        }))
    }

    /// The value at `key` as stored (a string or an object); dotted keys also reach into objects
    /// (`cloud_sync.gdrive.credentials` inside an entry `cloud_sync.gdrive`).
    pub fn get_object(&self, key: &str) -> Result<Option<SecretValue>> {
        check_key(key)?;
        Ok(self.lookup(key).cloned())
    }

    fn lookup(&self, key: &str) -> Option<&SecretValue> {
        if let Some(v) = self.secrets.get(key) {
            return Some(v);
        }
        // The longest stored prefix, then the rest as a path inside its object.
        let parts: Vec<&str> = key.split('.').collect();
        for cut in (1..parts.len()).rev() {
            if let Some(mut v) = self.secrets.get(&parts[..cut].join(".")) {
                for p in &parts[cut..] {
                    v = v.get(p)?;
                }
                return Some(v);
            }
        }
        None
    }

    /// Sets `key` to `value` (a string or an object) and writes the vault.
    pub fn set(&mut self, key: &str, value: SecretValue) -> Result<()> {
        check_key(key)?;
        if !(value.is_string() || value.is_object()) {
            return Err(Error::invalid("a vault value is a string or an object"));
        }
        let k = key.to_string();
        self.update(move |s| {
            s.insert(k, value);
            Ok(())
        })
    }

    /// Sets every `(key, value)` of `entries` in one write (an import).
    pub fn set_many(&mut self, entries: Vec<(String, SecretValue)>) -> Result<()> {
        for (k, v) in &entries {
            check_key(k)?;
            if !(v.is_string() || v.is_object()) {
                return Err(Error::invalid("a vault value is a string or an object"));
            }
        }
        self.update(move |s| {
            s.extend(entries);
            Ok(())
        })
    }

    /// Reads the vault's file again (another process may have written it), with the keys held when its salt
    /// and parameters are unchanged, else by deriving them again from the passphrase.
    pub fn reload(&mut self) -> Result<()> {
        let file = read_file(&self.path)?;
        let keys = file.current.keys(self.passphrase.expose(), Some(&self.keys))?;
        let secrets = decode(&file.current.open(&keys)?)?;
        self.keys = keys;
        self.secrets = secrets;
        self.recovered_from_backup = None;
        Ok(())
    }

    /// True when `passphrase` is the one this vault was unlocked with.
    pub fn has_passphrase(&self, passphrase: &Secret) -> bool {
        self.passphrase == *passphrase
    }

    /// Removes `key`; `not_found` when the vault has no such key.
    pub fn delete(&mut self, key: &str) -> Result<()> {
        check_key(key)?;
        let k = key.to_string();
        self.update(move |s| {
            s.remove(&k).map(drop).ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("the vault has no key {k:?}"))
            })
        })
    }

    /// Re-encrypts the vault under `new` (with the configured parameters and a new salt). Earlier envelopes stay
    /// as backups under the passphrase they were written with.
    pub fn change_passphrase(&mut self, new: &Secret) -> Result<()> {
        let keys = Keys::new(new.expose(), self.params)?;
        self.write_with(keys, |_| Ok(()))?;
        self.passphrase = new.clone();
        Ok(())
    }

    /// Writes the secrets read (from a backup, after a damaged current envelope) back as the current envelope.
    pub fn restore_backup(&mut self) -> Result<()> {
        let restored = self.secrets.clone();
        let keys = self.keys.clone();
        let _lock = WriteLock::take(&self.path)?;
        let mut backups = match read_file(&self.path) {
            Ok(f) => {
                let mut b = f.backups;
                b.insert(0, f.current);
                b
            }
            Err(_) => Vec::new(),
        };
        backups.truncate(MAX_BACKUPS);
        let body = serde_json::to_vec(&restored)?;
        let current = Envelope::seal(&keys, &body)?;
        write_file(&self.path, &VaultFile { current, backups })?;
        self.recovered_from_backup = None;
        Ok(())
    }

    /// Applies `change` to the secrets as they are on disk now (re-read under the write lock) and writes them.
    fn update(
        &mut self,
        change: impl FnOnce(&mut BTreeMap<String, SecretValue>) -> Result<()>,
    ) -> Result<()> {
        // Weaker parameters than the settings' are upgraded on this write (a new salt and key).
        let keys = if self.keys.params().weaker_than(&self.params) {
            Keys::new(self.passphrase.expose(), self.params)?
        } else {
            self.keys.clone()
        };
        self.write_with(keys, change)
    }

    fn write_with(
        &mut self,
        keys: Keys,
        change: impl FnOnce(&mut BTreeMap<String, SecretValue>) -> Result<()>,
    ) -> Result<()> {
        let _lock = WriteLock::take(&self.path)?;
        let file = read_file(&self.path)?;
        let on_disk_keys = file.current.keys(self.passphrase.expose(), Some(&self.keys))?;
        let mut secrets = decode(&file.current.open(&on_disk_keys)?)?;
        change(&mut secrets)?;
        let body = serde_json::to_vec(&secrets)?;
        let current = Envelope::seal(&keys, &body)?;
        let mut backups = file.backups;
        backups.insert(0, file.current);
        backups.truncate(MAX_BACKUPS);
        write_file(&self.path, &VaultFile { current, backups })?;
        self.keys = keys;
        self.secrets = secrets;
        Ok(())
    }
}
