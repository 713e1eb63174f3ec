//! Profiles (named syncs) in a TOML config, presets with their own default excludes, and the parsing of the
//! human units they use (`30s`, `5m`, `10M`).
//!
//! ```toml
//! [settings]
//! coordination_dir = "/workspace/.syncwright"   # profile locks (and S3/Drive destinations'), shared volume
//!
//! [settings.breaker]                            # circuit breakers of remote targets, shared by every profile
//! cooldown_secs = 60
//! [settings.breaker.targets."sftp://backup@nas"] # one target (or every target whose key starts so)
//! failure_threshold = 2
//!
//! [profiles.user_data]
//! source = "/workspace/ComfyUI/user"
//! destination = "/network/ComfyUI/user"
//! preset = "comfyui"
//! exclude = ["*.tmp"]
//! min_age = "30s"
//! interval = "15m"
//! ```
//!
//! Every option of [`SyncOptions`] can be set in a profile under the same name; durations and rates also take
//! units. A profile may run an external `command` instead (for people migrating from `sync_manager.sh`). Circuit
//! breakers are the engine's, one per remote target (see [`crate::recovery::registry`]): a profile's `breaker`
//! is refused with a message naming `[settings.breaker]`.

use crate::engine::SyncOptions;
use crate::error::{Error, Result};
use crate::manifest::plan::{CompareMode, DestChangedPolicy};
use crate::manifest::scan::LinkMode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A preset: default excludes for a kind of tree, added to a profile's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Nothing beyond syncwright's own files.
    None,
    /// Project assets mirrored to the cloud (document 3): caches, logs and temporaries stay home.
    Cloud,
    /// A ComfyUI install: caches, temporaries and Python bytecode stay home.
    Comfyui,
    /// Generated media from GPU hosts: partial downloads and thumbnails caches stay home.
    Media,
}

impl Preset {
    /// The excludes this preset brings.
    pub fn excludes(self) -> &'static [&'static str] {
        match self {
            Preset::None => &[],
            Preset::Cloud => &[
                "cache/",
                "cache/**",
                "logs/",
                "logs/**",
                "tmp/",
                "tmp/**",
                "__pycache__/",
                "*.pyc",
                ".git/",
                "node_modules/",
                ".DS_Store",
            ],
            Preset::Comfyui => &[
                "__pycache__/",
                "*.pyc",
                ".cache/",
                "temp/",
                "*.tmp",
                "*.part",
                ".git/",
                ".DS_Store",
            ],
            Preset::Media => &["*.part", "*.tmp", ".thumbnails/", ".DS_Store", "Thumbs.db"],
        }
    }
}

/// The longest duration the parsers accept (100 years): anything longer is a mistake, and staying below it keeps
/// every use (an `Instant` plus the duration, nanoseconds in an `i64`) from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86400 + 25 * 86400);

/// `secs` seconds as a duration, or `invalid_input` naming `what` when it is negative, not a number, or longer
/// than [`MAX_DURATION`].
fn duration_from_secs(secs: f64, what: &dyn std::fmt::Display) -> Result<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return Err(Error::invalid(format!("{what} is not a duration such as 30s, 5m, 2h or 1d")));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(Error::invalid(format!("{what} is longer than 100 years"))),
    }
}

/// Parses a duration: a number of seconds, or with a unit `ms`, `s`, `m`, `h`, `d`. At most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else if let Some(n) = t.strip_suffix('d') {
        (n, 86400.0)
    } else {
        (t, 1.0)
    };
    let what = format!("{s:?}");
    match num.trim().parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => duration_from_secs(v * mult, &what),
        _ => Err(Error::invalid(format!("{what} is not a duration such as 30s, 5m, 2h or 1d"))),
    }
}

/// Parses a rate in bytes per second: a number of bytes, or with a suffix `K`, `M`, `G` (binary). Fractions of a
/// byte are dropped; the result is between 1 and `u64::MAX`.
pub fn parse_rate(s: &str) -> Result<u64> {
    let t = s.trim();
    // The suffixes are ASCII, so cutting the last byte off keeps `num` on a character boundary.
    let (num, mult) = match t.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&t[..t.len() - 1], 1024.0),
        Some(b'M') => (&t[..t.len() - 1], 1024.0 * 1024.0),
        Some(b'G') => (&t[..t.len() - 1], 1024.0 * 1024.0 * 1024.0),
        Some(b'B') => (&t[..t.len() - 1], 1.0),
        _ => (t, 1.0),
    };
    // 2^64: the first value a u64 cannot hold (`as u64` would saturate silently).
    const TOO_BIG: f64 = 18_446_744_073_709_551_616.0;
    match num.trim().parse::<f64>().map(|v| v * mult) {
        Ok(b) if (1.0..TOO_BIG).contains(&b) => Ok(b as u64),
        Ok(b) if b >= TOO_BIG && b.is_finite() => {
            Err(Error::invalid(format!("{s:?} is more bytes per second than can be counted")))
        }
        _ => Err(Error::invalid(format!(
            "{s:?} is not a rate such as 500K or 10M (bytes per second)"
        ))),
    }
}

/// A duration written as a number of seconds or a string with a unit.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum DurationSpec {
    /// Seconds.
    Seconds(f64),
    /// `30s`, `5m`, ...
    Text(String),
}

impl DurationSpec {
    /// The duration (`invalid_input` when negative, not a number, or longer than [`MAX_DURATION`]).
    pub fn get(&self) -> Result<Duration> {
        match self {
            DurationSpec::Seconds(s) => duration_from_secs(*s, s),
            DurationSpec::Text(t) => parse_duration(t),
        }
    }
}

/// A rate written as bytes per second or a string with a unit.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RateSpec {
    /// Bytes per second.
    Bytes(u64),
    /// `500K`, `10M`, ...
    Text(String),
}

impl RateSpec {
    /// Bytes per second.
    pub fn get(&self) -> Result<u64> {
        match self {
            RateSpec::Bytes(0) => Err(Error::invalid("a rate of 0 bytes per second")),
            RateSpec::Bytes(b) => Ok(*b),
            RateSpec::Text(t) => parse_rate(t),
        }
    }
}

/// A named sync.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Where from (a path or URL). Required unless `command` is set.
    pub source: Option<String>,
    /// Where to. Required unless `command` is set.
    pub destination: Option<String>,
    /// An external command run instead of a sync (argv, no shell).
    pub command: Option<Vec<String>>,
    /// Default excludes.
    #[serde(default = "default_preset")]
    pub preset: Preset,
    /// Patterns of files to take.
    #[serde(default)]
    pub include: Vec<String>,
    /// Patterns to leave out, besides the preset's.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// How files are compared.
    #[serde(default)]
    pub compare: CompareMode,
    /// Symlink handling.
    #[serde(default)]
    pub links: LinkMode,
    /// Files modified more recently are left for the next run.
    pub min_age: Option<DurationSpec>,
    /// Mirror mode.
    #[serde(default)]
    pub delete: bool,
    /// Refuse all deletes above this many (unset: more than half of the destination's files are refused).
    pub max_delete: Option<u64>,
    /// Mirror mode also deletes what the filters exclude.
    #[serde(default)]
    pub delete_excluded: bool,
    /// Mirror deletes even when the source is empty.
    #[serde(default)]
    pub allow_empty_source: bool,
    /// Deleted and overwritten files go here instead of being lost.
    pub backup_dir: Option<String>,
    /// Destination files edited since the last sync.
    #[serde(default)]
    pub dest_changed: DestChangedPolicy,
    /// Files copied at once.
    pub transfers: Option<usize>,
    /// Bandwidth limit.
    pub bwlimit: Option<RateSpec>,
    /// A run taking longer is cancelled.
    pub timeout: Option<DurationSpec>,
    /// Run by itself this often.
    pub interval: Option<DurationSpec>,
    /// Read back and compare every written file.
    #[serde(default)]
    pub verify: bool,
    /// Ignore the destination manifest's hashes and recorded versions.
    #[serde(default)]
    pub rescan_dest: bool,
    /// Plan against the destination manifest without listing the destination.
    #[serde(default)]
    pub trust_dest_manifest: bool,
    /// Attempts at the whole run when it fails with something that can recover.
    pub max_attempts: Option<u32>,
    /// Retry policies by error category (`[profiles.x.retry.rate_limited]`), over the defaults.
    pub retry: Option<crate::recovery::RetryPolicies>,
    /// Replace the destination manifest after a clean run (default true).
    pub commit_manifest: Option<bool>,
    /// How to reach remote sources and destinations (`[profiles.x.remote.sftp]`, `.s3`, `.gdrive`).
    #[serde(default)]
    pub remote: crate::backend::remote::RemoteOptions,
}

fn default_preset() -> Preset {
    Preset::None
}

impl Profile {
    /// The sync options of this profile named `name` (the snapshot name is the profile name).
    pub fn sync_options(&self, name: &str) -> Result<SyncOptions> {
        let mut exclude: Vec<String> =
            self.preset.excludes().iter().map(|s| s.to_string()).collect();
        exclude.extend(self.exclude.iter().cloned());
        let o = SyncOptions {
            name: name.to_string(),
            compare: self.compare,
            include: self.include.clone(),
            exclude,
            links: self.links,
            min_age_secs: self
                .min_age
                .as_ref()
                .map(|d| d.get())
                .transpose()?
                .unwrap_or_default()
                .as_secs_f64(),
            delete: self.delete,
            max_delete: self.max_delete,
            delete_excluded: self.delete_excluded,
            allow_empty_source: self.allow_empty_source,
            backup_dir: self.backup_dir.clone(),
            trust_dest_manifest: self.trust_dest_manifest,
            transfers: self.transfers.unwrap_or(SyncOptions::default().transfers),
            verify: self.verify,
            bwlimit: self.bwlimit.as_ref().map(|r| r.get()).transpose()?,
            dest_changed: self.dest_changed,
            rescan_dest: self.rescan_dest,
            max_attempts: self.max_attempts.unwrap_or(SyncOptions::default().max_attempts),
            retry: self.retry.clone().unwrap_or_default(),
            commit_manifest: self.commit_manifest.unwrap_or(true),
            remote: self.remote.clone(),
            ..SyncOptions::default()
        };
        o.validate()?;
        Ok(o)
    }

    fn check(&self, name: &str) -> Result<()> {
        let bad = |m: &str| Err(Error::invalid(format!("profile {name}: {m}")));
        match (&self.command, &self.source, &self.destination) {
            (Some(c), None, None) if !c.is_empty() => {}
            (Some(_), _, _) => {
                return bad("set either command (non-empty) or source and destination");
            }
            (None, Some(_), Some(_)) => {}
            (None, _, _) => return bad("source and destination are required"),
        }
        if self.command.is_none() {
            self.sync_options(name)
                .map_err(|e| Error::invalid(format!("profile {name}: {}", e.message())))?;
        }
        for d in [&self.timeout, &self.interval].into_iter().flatten() {
            d.get().map_err(|e| Error::invalid(format!("profile {name}: {}", e.message())))?;
        }
        Ok(())
    }
}

/// Settings that apply to every profile.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where profile locks live, and the locks of S3 and Drive destinations (on the shared volume; local and SFTP
    /// destinations keep theirs in their own `.syncwright/`). Default: `.syncwright-locks` beside the config file.
    pub coordination_dir: Option<PathBuf>,
    /// The embedded store (local disk, never a shared volume).
    pub state_dir: Option<PathBuf>,
    /// Where per-profile logs go. Default: `logs` in the state directory.
    pub log_dir: Option<PathBuf>,
    /// Largest log file before it is rotated (default 10M).
    pub log_max_size: Option<RateSpec>,
    /// The lease of the locks this engine takes (default 60s): renewed every third of it; a holder that stops
    /// renewing for this long loses its lock to the next run.
    pub lock_lease: Option<DurationSpec>,
    /// Circuit breakers of remote targets (`[settings.breaker]`: the defaults, with `[settings.breaker.targets.KEY]`
    /// overrides for a target key such as `sftp://user@host:22`, `s3://bucket` or `gdrive://account`, or for every
    /// target whose key starts with KEY; the longest match wins). One breaker per target, shared by all the
    /// engine's jobs.
    pub breaker: crate::recovery::BreakerSettings,
    /// How long events are kept for replay (`subscribe` with `since`), in the embedded store or, without one,
    /// in memory: seconds or a duration such as "24h" (default 24h; see [`crate::events`]).
    pub event_retention: Option<DurationSpec>,
    /// At most this many events are kept for replay; the oldest go first (default 100000).
    pub event_retention_max: Option<u64>,
    /// The secrets vault (relative to the config file's folder). Default: `<config name>.secrets.json` beside
    /// the config file; without a config file, `vault.json` in the state directory (see [`crate::vault`]).
    pub vault: Option<PathBuf>,
    /// Argon2id's parameters for the vault (`[settings.vault_kdf]`: `m_kib`, `t`, `p`; default RFC 9106's second
    /// recommendation, 64 MiB, 3 passes, 4 lanes).
    pub vault_kdf: Option<crate::vault::KdfParams>,
}

impl Settings {
    /// The retention of events these settings give (`event_retention`, `event_retention_max`, or the defaults);
    /// `invalid_input` for a bad duration.
    pub fn event_retention(&self) -> Result<crate::events::Retention> {
        let d = crate::events::Retention::default();
        let max_age = match &self.event_retention {
            Some(r) => r.get().map_err(|e| {
                Error::invalid(format!("settings: event_retention: {}", e.message()))
            })?,
            None => d.max_age,
        };
        Ok(crate::events::Retention {
            max_age,
            max_count: self.event_retention_max.unwrap_or(d.max_count),
        })
    }
}

/// Opt-in switches (`[features]`). Cloud sync is off until a deployment turns it on, as document 3 keeps it:
/// profile runs to or from S3 or Drive, and the cloud-sync calls, need `enable_cloud_sync` and the provider's
/// flag. A location given directly in a sync call is the caller's explicit choice and needs no flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Features {
    /// Cloud sync at all.
    pub enable_cloud_sync: bool,
    /// Cloud sync to and from S3 (with `enable_cloud_sync`).
    pub enable_cloud_sync_s3: bool,
    /// Cloud sync to and from Google Drive (with `enable_cloud_sync`).
    pub enable_cloud_sync_gdrive: bool,
}

impl Features {
    /// Ok when cloud sync with `service` (`"s3"` or `"gdrive"`; any other is not a cloud service and is always
    /// allowed) is on; `feature_disabled` naming the flags to set otherwise. `what` names the refused work.
    pub fn require(&self, service: &str, what: &str) -> Result<()> {
        let (flag, on) = match service {
            "s3" => ("enable_cloud_sync_s3", self.enable_cloud_sync_s3),
            "gdrive" => ("enable_cloud_sync_gdrive", self.enable_cloud_sync_gdrive),
            _ => return Ok(()),
        };
        if self.enable_cloud_sync && on {
            return Ok(());
        }
        let missing: Vec<&str> = [("enable_cloud_sync", self.enable_cloud_sync), (flag, on)]
            .into_iter()
            .filter(|(_, on)| !on)
            .map(|(f, _)| f)
            .collect();
        Err(Error::new(
            crate::ErrorKind::FeatureDisabled,
            format!(
                "{what} uses {service}, and cloud sync is off: set {} = true in [features]",
                missing.join(" and ")
            ),
        )
        .with_details(serde_json::json!({ "service": service, "flags": missing })))
    }

    /// Ok when `enable_cloud_sync` is on (for cloud-sync work that reaches no service); `feature_disabled`
    /// otherwise.
    pub fn require_general(&self, what: &str) -> Result<()> {
        if self.enable_cloud_sync {
            return Ok(());
        }
        Err(Error::new(
            crate::ErrorKind::FeatureDisabled,
            format!("{what} is part of cloud sync, which is off: set enable_cloud_sync = true in [features]"),
        )
        .with_details(serde_json::json!({ "flags": ["enable_cloud_sync"] })))
    }

    /// [`Features::require`] for every location of `locations` (paths or URLs; the scheme says the service).
    pub fn require_for(&self, locations: &[&str], what: &str) -> Result<()> {
        for loc in locations {
            if let Ok(l) = crate::backend::remote::Location::parse(loc) {
                self.require(l.scheme(), what)?;
            }
        }
        Ok(())
    }
}

/// Document 3's cloud sync of a project tree (`[cloud_sync]`): what is mirrored, and the services' settings.
/// Endpoints and API bases come only from here, never from a request.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudSyncConfig {
    /// The tree (relative to the config file's folder; default that folder).
    pub root: Option<PathBuf>,
    /// Paths under the root to mirror (default: all of it).
    pub include: Vec<String>,
    /// Patterns left out (default: document 3's cache, logs and tmp folders, and Python and VCS litter).
    pub exclude: Vec<String>,
    /// Put before every snapshot name (`nightly` with prefix `studio-` is `studio-nightly`).
    pub snapshot_prefix: String,
    /// The snapshot when a call names none.
    pub default_snapshot: String,
    /// S3 (`service: "s3"`): `bucket`, `prefix`, and the options of `remote.s3` (endpoint, region, keys by
    /// `credentials_key`).
    pub s3: CloudS3,
    /// Google Drive (`service: "gdrive"`): `parent_id`, and the options of `remote.gdrive`.
    pub gdrive: CloudGdrive,
}

impl Default for CloudSyncConfig {
    fn default() -> Self {
        CloudSyncConfig {
            root: None,
            include: Vec::new(),
            exclude: Preset::Cloud.excludes().iter().map(|s| s.to_string()).collect(),
            snapshot_prefix: String::new(),
            default_snapshot: "default".into(),
            s3: CloudS3::default(),
            gdrive: CloudGdrive::default(),
        }
    }
}

/// `[cloud_sync.s3]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudS3 {
    /// The bucket (a request's `service_config.bucket` overrides it).
    pub bucket: Option<String>,
    /// The key prefix inside it (a request's `service_config.prefix` overrides it).
    pub prefix: Option<String>,
    /// Region (a request's `service_config.region` overrides it).
    pub region: Option<String>,
    /// Endpoint of an S3-compatible server (only from here, never from a request).
    pub endpoint_url: Option<String>,
    /// Path-style requests (default true with an endpoint).
    pub path_style: Option<bool>,
    /// The vault key of the credentials when a request names none (document 3's `cloud_sync.s3`).
    pub credentials_key: Option<String>,
}

/// `[cloud_sync.gdrive]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudGdrive {
    /// The folder the files go to (a request's `service_config.parent_id` overrides it).
    pub parent_id: Option<String>,
    /// The folder the manifests go to (a request's `service_config.manifest_parent_id` overrides it).
    pub manifest_parent_id: Option<String>,
    /// The vault key whose `credentials` is the service account (document 3's `cloud_sync.gdrive`) when a
    /// request names none.
    pub credentials_key: Option<String>,
    /// Base URL of the API (only from here, never from a request).
    pub api_base: Option<String>,
}

/// A config file: settings and profiles by name (kept in name order).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings.
    #[serde(default)]
    pub settings: Settings,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// Opt-in switches (cloud sync).
    #[serde(default)]
    pub features: Features,
    /// Document 3's cloud sync of a project tree.
    #[serde(default)]
    pub cloud_sync: CloudSyncConfig,
    /// Local zip backups (`[backup]`, see [`crate::backup`]).
    #[serde(default)]
    pub backup: crate::backup::BackupConfig,
    /// Where the file was read from (relative paths in settings are taken from its folder).
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

/// What a profile's `breaker` (which moved) is refused with.
pub const PROFILE_BREAKER_MOVED: &str = "breaker is not a profile setting: circuit breakers belong to the engine, \
     one per remote target shared by every profile; set them in [settings.breaker] (per target in \
     [settings.breaker.targets.\"sftp://user@host:22\"])";

/// The error for a key of `doc` (a config document) that moved elsewhere, if it has one.
fn moved_key(doc: &serde_json::Value) -> Option<Error> {
    let profiles = doc.get("profiles")?.as_object()?;
    profiles
        .iter()
        .find(|(_, p)| p.get("breaker").is_some())
        .map(|(name, _)| Error::invalid(format!("profile {name}: {PROFILE_BREAKER_MOVED}")))
}

fn check_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("bad profile name {name:?}: use letters, digits, _ and -")))
    }
}

impl Config {
    /// Parses a config from TOML text; every profile is checked.
    pub fn from_toml(text: &str) -> Result<Config> {
        let c: Config = toml::from_str(text).map_err(|e| {
            // A key that moved is named with its new place rather than as an unknown field.
            toml::from_str::<toml::Table>(text)
                .ok()
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| moved_key(&v))
                .unwrap_or_else(|| Error::invalid(format!("config: {e}")))
        })?;
        c.check()?;
        Ok(c)
    }

    /// Parses a config from a value (the TOML document's schema, as JSON); every profile is checked.
    pub fn from_value(v: serde_json::Value) -> Result<Config> {
        if let Some(e) = moved_key(&v) {
            return Err(e);
        }
        let c: Config =
            serde_json::from_value(v).map_err(|e| Error::invalid(format!("config: {e}")))?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<()> {
        if let Some(r) = &self.settings.log_max_size {
            r.get()
                .map_err(|e| Error::invalid(format!("settings: log_max_size: {}", e.message())))?;
        }
        if let Some(d) = &self.settings.lock_lease {
            let d = d
                .get()
                .map_err(|e| Error::invalid(format!("settings: lock_lease: {}", e.message())))?;
            if d < Duration::from_millis(300) {
                return Err(Error::invalid("settings: lock_lease must be at least 0.3s"));
            }
        }
        self.settings.breaker.validate()?;
        self.settings.event_retention()?;
        self.backup.validate().map_err(|e| Error::invalid(format!("backup: {}", e.message())))?;
        for (name, p) in &self.profiles {
            check_profile_name(name)?;
            p.check(name)?;
        }
        Ok(())
    }

    /// `p` resolved from the config file's folder (as given when it is absolute or there is no file).
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            return p.to_path_buf();
        }
        self.origin
            .as_deref()
            .and_then(Path::parent)
            .map(|d| d.join(p))
            .unwrap_or_else(|| p.to_path_buf())
    }

    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(&e, "cannot read config", path.display().to_string()))?;
        let mut c = Config::from_toml(&text)?;
        c.origin = Some(path.to_path_buf());
        Ok(c)
    }

    /// The profile `name`, or `not_found`.
    pub fn profile(&self, name: &str) -> Result<&Profile> {
        self.profiles.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            Error::new(
                crate::ErrorKind::NotFound,
                format!("no profile {name:?} (profiles: {})", known.join(", ")),
            )
        })
    }

    /// The coordination folder for lock files.
    pub fn coordination_dir(&self) -> PathBuf {
        let base = self
            .origin
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        match &self.settings.coordination_dir {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => base.join(d),
            None => base.join(".syncwright-locks"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("soon").is_err() && parse_duration("-1s").is_err());
        assert_eq!(parse_rate("10M").unwrap(), 10 << 20);
        assert_eq!(parse_rate("512k").unwrap(), 512 << 10);
        assert_eq!(parse_rate("100").unwrap(), 100);
        assert!(parse_rate("0").is_err() && parse_rate("fast").is_err());
    }

    #[test]
    fn out_of_range_numbers_are_invalid_input() {
        let kind = |r: Result<Duration>| r.unwrap_err().kind();
        for bad in [
            "1e20s",
            "99999999999999999d",
            "1e300ms",
            "3.2e9",
            "1e308d",
            "nan",
            "inf",
            "-0.5s",
            "",
            "s",
            "ü",
            "5µs",
        ] {
            assert_eq!(kind(parse_duration(bad)), crate::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert_eq!(parse_duration("36500d").unwrap(), Duration::from_secs(36500 * 86400));
        assert!(parse_duration("1e20s").unwrap_err().message().contains("100 years"));
        for bad in [1e20, 1e300, f64::INFINITY, f64::NAN, -1.0, 3.2e9] {
            let e = DurationSpec::Seconds(bad).get().unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{bad}");
        }
        assert_eq!(DurationSpec::Seconds(0.25).get().unwrap(), Duration::from_millis(250));
        for bad in
            ["1e20", "1e30G", "18446744073709551616", "17179869184G", "inf", "nanK", "0.5", "-1K"]
        {
            let e = parse_rate(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{bad:?}");
        }
        for bad in ["ük", "5ü", "K", "€", "1€", "€M"] {
            assert_eq!(parse_rate(bad).unwrap_err().kind(), crate::ErrorKind::InvalidInput);
        }
        assert_eq!(parse_rate("17179869183G").unwrap(), 17_179_869_183 << 30);
        assert_eq!(parse_rate("1.5B").unwrap(), 1);
        assert_eq!(RateSpec::Bytes(u64::MAX).get().unwrap(), u64::MAX);
    }

    #[test]
    fn profiles_with_out_of_range_numbers_are_invalid_input() {
        let base = "[profiles.p]\nsource = \"/a\"\ndestination = \"/b\"\n";
        for extra in [
            "timeout = \"99999999999999999d\"",
            "timeout = 1e20",
            "interval = inf",
            "interval = nan",
            "min_age = \"1e20s\"",
            "min_age = -1",
            "bwlimit = \"1e30G\"",
            "bwlimit = 0",
            "bwlimit = -5",
            "[profiles.p.retry.unknown]\nbackoff = { type = \"fixed\" }\nmax_attempts = 2\n\
             initial_delay = 1e20\nmax_delay = 1\njitter = 0",
            "[settings.breaker]\ncooldown_secs = -1",
            "[settings.breaker]\nwindow_secs = 1e300",
            "[settings.breaker.targets.\"sftp://\"]\ncooldown_secs = 1e300",
        ] {
            let e = Config::from_toml(&format!("{base}{extra}\n")).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{extra}: {}", e.message());
        }
        let e = Config::from_toml("[settings]\nlog_max_size = \"1e30G\"\n").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.message().contains("log_max_size"), "{}", e.message());
        Config::from_toml(&format!("{base}timeout = \"36500d\"\n")).unwrap();
    }

    #[test]
    fn event_retention_has_defaults_takes_durations_and_refuses_bad_ones() {
        let r = Config::default().settings.event_retention().unwrap();
        assert_eq!((r.max_age, r.max_count), (Duration::from_secs(24 * 3600), 100_000));
        let c =
            Config::from_toml("[settings]\nevent_retention = \"90m\"\nevent_retention_max = 7\n")
                .unwrap();
        let r = c.settings.event_retention().unwrap();
        assert_eq!((r.max_age, r.max_count), (Duration::from_secs(5400), 7));
        let e = Config::from_toml("[settings]\nevent_retention = \"soon\"\n").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.message().contains("event_retention"), "{}", e.message());
        assert!(Config::from_toml("[settings]\nevent_retention_max = -1\n").is_err());
    }

    #[test]
    fn the_shipped_pod_config_parses_and_maps_to_options() {
        let c = Config::from_toml(include_str!("../../examples/config/comfyui-pod.toml")).unwrap();
        let names: Vec<&str> = c.profiles.keys().map(String::as_str).collect();
        assert_eq!(names, ["global_shared", "logs", "user_assets", "user_data", "user_shared"]);
        for (name, p) in &c.profiles {
            let o = p.sync_options(name).unwrap();
            assert_eq!(o.name, *name);
            for e in p.preset.excludes() {
                assert!(o.exclude.iter().any(|x| x == e), "{name} lacks preset exclude {e}");
            }
        }
    }

    #[test]
    fn mistakes_are_named() {
        let e = Config::from_toml("[profiles.a]\nsource = \"/x\"\n").unwrap_err();
        assert!(e.message().contains("profile a"), "{}", e.message());
        let e = Config::from_toml(
            "[profiles.a]\nsource = \"/x\"\ndestination = \"/y\"\ndelet = true\n",
        )
        .unwrap_err();
        assert!(e.message().contains("delet"), "{}", e.message());
        let e = Config::from_toml(
            "[profiles.a]\nsource = \"/x\"\ndestination = \"/y\"\nmin_age = \"soon\"\n",
        )
        .unwrap_err();
        assert!(e.message().contains("soon"));
        let e = Config::from_toml("[profiles.\"a b\"]\ncommand = [\"x\"]\n").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        let ok = Config::from_toml(
            "[profiles.legacy]\ncommand = [\"sync_manager.sh\", \"user_data\"]\ntimeout = 600\n",
        )
        .unwrap();
        assert_eq!(
            ok.profile("legacy").unwrap().timeout.as_ref().unwrap().get().unwrap(),
            Duration::from_secs(600)
        );
        assert_eq!(ok.profile("nope").unwrap_err().kind(), crate::ErrorKind::NotFound);
    }

    #[test]
    fn recovery_settings_per_profile() {
        let r = Config::from_toml(
            "[profiles.pod]\nsource = \"/a\"\ndestination = \"/b\"\nmax_attempts = 5\n\
             [profiles.pod.retry.rate_limited]\nbackoff = { type = \"fixed\" }\nmax_attempts = 9\n\
             initial_delay = 1.5\nmax_delay = 1.5\njitter = 0\n[settings.breaker]\ncooldown_secs = 5\n",
        )
        .unwrap();
        let o = r.profile("pod").unwrap().sync_options("pod").unwrap();
        assert_eq!(o.max_attempts, 5);
        assert_eq!(o.retry.get(crate::recovery::Category::RateLimited).max_attempts, 9);
        let b = &r.settings.breaker.defaults;
        assert_eq!(b.cooldown_secs, 5.0);
        assert_eq!(
            b.failure_threshold,
            crate::recovery::BreakerConfig::default().failure_threshold
        );
    }

    #[test]
    fn a_profile_breaker_is_refused_naming_its_new_place() {
        let text = "[profiles.pod]\nsource = \"/a\"\ndestination = \"/b\"\n\
                    [profiles.pod.breaker]\ncooldown_secs = 5\n";
        let e = Config::from_toml(text).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(
            e.message().contains("profile pod") && e.message().contains("[settings.breaker]"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("unknown field"), "{}", e.message());
        let v = serde_json::json!({"profiles": {"pod": {"source": "/a", "destination": "/b", "breaker": {}}}});
        let e = Config::from_value(v).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.message().contains("[settings.breaker]"), "{}", e.message());
    }
}
