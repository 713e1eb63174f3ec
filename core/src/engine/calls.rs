//! The front door by name: every call of [`EngineCore`] that a front end reaches across a language or network
//! boundary, its arguments one JSON object and its result canonical JSON (or a job). Python, Node and the server
//! call this instead of each decoding arguments of its own, so a call means the same in every language: the same
//! argument names, defaults, checks and error kinds. (The C ABI has a typed function per call, each the same
//! adapter over the same [`EngineCore`] method.)

use std::future::Future;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::EngineCore;
use super::cloud::CloudRequest;
use crate::error::{Error, ErrorKind, Result};
use crate::jobs::Job;
use crate::logs::LogLevel;
use crate::progress::ProgressCallback;
use crate::usage::UsageQuery;
use crate::vault::Secret;

/// What a call gives back.
#[derive(Debug)]
pub enum CallOutput {
    /// A canonical JSON document.
    Json(String),
    /// A job that was started (or looked up): follow it with its own calls.
    Job(Job),
}

impl CallOutput {
    /// The JSON document; `internal` for a job.
    pub fn into_json(self) -> Result<String> {
        match self {
            CallOutput::Json(s) => Ok(s),
            CallOutput::Job(_) => Err(Error::internal("this call gives a job, not a document")),
        }
    }

    /// The job; `internal` for a document.
    pub fn into_job(self) -> Result<Job> {
        match self {
            CallOutput::Job(j) => Ok(j),
            CallOutput::Json(_) => Err(Error::internal("this call gives a document, not a job")),
        }
    }
}

/// One call of the table: its name, its arguments (`?` marks an optional one) and what it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallInfo {
    /// The name, that of the [`EngineCore`] method.
    pub name: &'static str,
    /// The argument names, optional ones ending in `?`.
    pub args: &'static [&'static str],
    /// True when it gives a job ([`CallOutput::Job`]).
    pub job: bool,
    /// True when it may wait on disk, the network or other jobs (front ends run it off their event loop).
    pub blocking: bool,
}

const fn call(
    name: &'static str,
    args: &'static [&'static str],
    job: bool,
    blocking: bool,
) -> CallInfo {
    CallInfo { name, args, job, blocking }
}

/// Every call [`EngineCore::call_json`] knows.
pub const CALLS: &[CallInfo] = &[
    call("config", &[], false, false),
    call("profiles", &[], false, false),
    call("profile_status", &["name"], false, true),
    call("profiles_status", &[], false, true),
    call("profile_locks", &[], false, true),
    call("run_profile", &["name"], true, true),
    call("run_all", &[], true, true),
    call("unlock_profile", &["name", "force?"], false, true),
    call("unlock_all", &["force?"], false, true),
    call("lock_self_test", &["name?"], false, true),
    call("job", &["id"], true, false),
    call("jobs", &[], false, false),
    call("active_jobs", &[], false, false),
    call("recent_jobs", &["limit?"], false, false),
    call("run_history", &["profile", "page?", "per_page?"], false, true),
    call("profile_log_tail", &["profile", "lines?", "level?"], false, true),
    call("profile_log_page", &["profile", "page?", "per_page?", "level?"], false, true),
    call("storage_usage", &["models_root?", "root?"], false, true),
    call("operations", &["active_only?", "limit?"], false, true),
    call("operation", &["id"], false, true),
    call("interrupted_operations", &[], false, true),
    call("cancel_operation", &["id"], false, true),
    call("retry_operation", &["id", "force?", "max_attempts?"], true, true),
    call("recovery_metrics", &[], false, true),
    call("recovery_scenarios", &[], false, false),
    call("recovery_self_test", &["scenarios?", "runs?"], false, true),
    call("breakers", &[], false, false),
    call("breaker_settings", &[], false, false),
    call("backup_create", &["label?", "max_backups?", "dir?"], false, true),
    call("backup_list", &["dir?"], false, true),
    call("backup_verify", &["name", "dir?"], false, true),
    call("backup_restore", &["name", "target?", "replace_existing?", "dir?"], false, true),
    call("media_info", &["paths"], false, true),
    call("vault_status", &[], false, false),
    call("vault_init", &["passphrase?"], false, true),
    call("vault_unlock", &["passphrase?"], false, true),
    call("vault_lock", &[], false, false),
    call("vault_keys", &["passphrase?"], false, true),
    call("vault_set", &["key", "value", "passphrase?"], false, true),
    call("vault_get", &["key", "passphrase?"], false, true),
    call("vault_delete", &["key", "passphrase?"], false, true),
    call("vault_change_passphrase", &["new_passphrase?", "passphrase?"], false, true),
    call("vault_restore_backup", &["passphrase?"], false, true),
    call("vault_import_rclone", &["path", "prefix?", "passphrase?"], false, true),
    call("cloud_manifest", &["snapshot?", "include?"], false, true),
    call(
        "cloud_dry_run",
        &[
            "service",
            "snapshot?",
            "paths?",
            "credentials_key?",
            "service_config?",
            "commit_manifest?",
        ],
        false,
        true,
    ),
    call(
        "cloud_run",
        &[
            "service",
            "snapshot?",
            "paths?",
            "credentials_key?",
            "service_config?",
            "commit_manifest?",
        ],
        false,
        true,
    ),
];

/// The default name of the lock self-test's lock (document 1's `test_sync`).
pub const DEFAULT_SELF_TEST_LOCK: &str = "test_sync";
/// Log entries `profile_log_tail` gives when `lines` is left out (document 1's default).
pub const DEFAULT_LOG_LINES: usize = 20;
/// Jobs `recent_jobs` gives when `limit` is left out.
pub const DEFAULT_RECENT_JOBS: usize = 50;
/// Operations `operations` gives when `limit` is left out.
pub const DEFAULT_OPERATIONS: usize = 100;
/// Entries per page when `per_page` is left out.
pub const DEFAULT_PER_PAGE: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Name {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Unlock {
    name: String,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlockAll {
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelfTestLock {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct History {
    profile: String,
    page: Option<usize>,
    per_page: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogTail {
    profile: String,
    lines: Option<usize>,
    level: Option<LogLevel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogPageArgs {
    profile: String,
    page: Option<usize>,
    per_page: Option<usize>,
    level: Option<LogLevel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Operations {
    #[serde(default)]
    active_only: bool,
    limit: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Retry {
    id: String,
    #[serde(default)]
    force: bool,
    max_attempts: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelfTest {
    #[serde(default)]
    scenarios: Vec<String>,
    runs: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupCreateArgs {
    label: Option<String>,
    max_backups: Option<usize>,
    dir: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupDir {
    dir: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupVerifyArgs {
    name: String,
    dir: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupRestoreArgs {
    name: String,
    target: Option<std::path::PathBuf>,
    #[serde(default)]
    replace_existing: bool,
    dir: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaPaths {
    paths: Vec<std::path::PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pass {
    passphrase: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultKey {
    key: String,
    passphrase: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultSet {
    key: String,
    value: crate::vault::SecretValue,
    passphrase: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultPasswd {
    new_passphrase: Option<Secret>,
    passphrase: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultImport {
    path: std::path::PathBuf,
    prefix: Option<String>,
    passphrase: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudManifestArgs {
    snapshot: Option<String>,
    include: Option<Vec<String>>,
}

/// The arguments of `call` from `args` (a JSON object; none, empty or `null`: no arguments).
fn args<T: DeserializeOwned>(call: &str, args: Option<&str>) -> Result<T> {
    let text = match args.map(str::trim) {
        None | Some("") | Some("null") => "{}",
        Some(t) => t,
    };
    serde_json::from_str(text).map_err(|e| Error::invalid(format!("{call}: bad arguments: {e}")))
}

fn json<T: serde::Serialize + ?Sized>(v: &T) -> Result<CallOutput> {
    serde_json::to_string(v)
        .map(CallOutput::Json)
        .map_err(|e| Error::internal(format!("cannot serialise the result: {e}")))
}

fn snapshots(jobs: Vec<Job>) -> Result<CallOutput> {
    json(&jobs.iter().map(|j| j.snapshot(false)).collect::<Vec<_>>())
}

/// The info of the call `name`, or `invalid_input` naming the calls there are.
pub fn call_info(name: &str) -> Result<&'static CallInfo> {
    CALLS.iter().find(|c| c.name == name).ok_or_else(|| {
        let names: Vec<&str> = CALLS.iter().map(|c| c.name).collect();
        Error::invalid(format!("unknown call {name:?} (calls: {})", names.join(", ")))
    })
}

impl EngineCore {
    /// Makes the call `name` with `args_json` (a JSON object of its arguments, see [`CALLS`]; unknown ones are
    /// `invalid_input`) and gives its canonical JSON, or its job. `on_progress` goes to the calls that start a
    /// job from a profile (`run_profile`, `run_all`); the others ignore it. Runs on the calling thread, blocking
    /// when the call does ([`CallInfo::blocking`]); a panic is an `internal` error.
    pub fn call_json(
        &self,
        name: &str,
        args_json: Option<&str>,
        on_progress: Option<ProgressCallback>,
    ) -> Result<CallOutput> {
        crate::error::catch_panic(|| self.dispatch(name, args_json, on_progress))
    }

    /// [`EngineCore::call_json`] on the engine's blocking threads: the future only waits, so a front end with an
    /// event loop awaits it from any executor without tying up a thread of its own. `internal` when the engine is
    /// shutting down.
    pub fn call_json_async(
        &self,
        name: String,
        args_json: Option<String>,
        on_progress: Option<ProgressCallback>,
    ) -> impl Future<Output = Result<CallOutput>> + Send + 'static {
        let me: Option<Arc<EngineCore>> = self.me.upgrade();
        let task = me.map(|core| {
            let rt = core.rt.clone();
            rt.spawn_blocking(move || core.call_json(&name, args_json.as_deref(), on_progress))
        });
        async move {
            let Some(task) = task else {
                return Err(Error::internal("the engine is shutting down"));
            };
            match task.await {
                Ok(r) => r,
                Err(e) if e.is_panic() => Err(Error::internal("the call panicked")),
                Err(_) => {
                    Err(Error::new(ErrorKind::Cancelled, "the engine shut down during the call"))
                }
            }
        }
    }

    fn dispatch(
        &self,
        name: &str,
        a: Option<&str>,
        on_progress: Option<ProgressCallback>,
    ) -> Result<CallOutput> {
        let info = call_info(name)?;
        match info.name {
            "config" => {
                args::<NoArgs>(name, a)?;
                json(self.config())
            }
            "profiles" => {
                args::<NoArgs>(name, a)?;
                json(&self.profiles())
            }
            "profile_status" => json(&self.profile_status(&args::<Name>(name, a)?.name)?),
            "profiles_status" => {
                args::<NoArgs>(name, a)?;
                json(&self.profiles_status()?)
            }
            "profile_locks" => {
                args::<NoArgs>(name, a)?;
                json(&self.profile_locks()?)
            }
            "run_profile" => {
                let n = args::<Name>(name, a)?;
                self.run_profile(&n.name, on_progress).map(CallOutput::Job)
            }
            "run_all" => {
                args::<NoArgs>(name, a)?;
                self.run_all(on_progress).map(CallOutput::Job)
            }
            "unlock_profile" => {
                let u = args::<Unlock>(name, a)?;
                json(&self.unlock_profile(&u.name, u.force)?)
            }
            "unlock_all" => json(&self.unlock_all(args::<UnlockAll>(name, a)?.force)?),
            "lock_self_test" => {
                let n = args::<SelfTestLock>(name, a)?.name;
                json(&self.lock_self_test(n.as_deref().unwrap_or(DEFAULT_SELF_TEST_LOCK))?)
            }
            "job" => {
                let id = args::<Id>(name, a)?.id;
                self.job(&id).map(CallOutput::Job).ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!("no job {id:?} in this engine (see run_history)"),
                    )
                })
            }
            "jobs" => {
                args::<NoArgs>(name, a)?;
                snapshots(self.jobs())
            }
            "active_jobs" => {
                args::<NoArgs>(name, a)?;
                snapshots(self.active_jobs())
            }
            "recent_jobs" => {
                let limit = args::<Limit>(name, a)?.limit.unwrap_or(DEFAULT_RECENT_JOBS);
                snapshots(self.recent_jobs(limit))
            }
            "run_history" => {
                let h = args::<History>(name, a)?;
                json(&self.run_history(
                    &h.profile,
                    h.page.unwrap_or(1),
                    h.per_page.unwrap_or(DEFAULT_PER_PAGE),
                )?)
            }
            "profile_log_tail" => {
                let t = args::<LogTail>(name, a)?;
                json(&self.profile_log_tail(
                    &t.profile,
                    t.lines.unwrap_or(DEFAULT_LOG_LINES),
                    t.level,
                )?)
            }
            "profile_log_page" => {
                let p = args::<LogPageArgs>(name, a)?;
                json(&self.profile_log_page(
                    &p.profile,
                    p.page.unwrap_or(1),
                    p.per_page.unwrap_or(DEFAULT_PER_PAGE),
                    p.level,
                )?)
            }
            "storage_usage" => json(&self.storage_usage(&args::<UsageQuery>(name, a)?)?),
            "operations" => {
                let o = args::<Operations>(name, a)?;
                json(&self.operations(o.active_only, o.limit.unwrap_or(DEFAULT_OPERATIONS))?)
            }
            "operation" => json(&self.operation(&args::<Id>(name, a)?.id)?),
            "interrupted_operations" => {
                args::<NoArgs>(name, a)?;
                json(&self.interrupted_operations()?)
            }
            "cancel_operation" => json(&self.cancel_operation(&args::<Id>(name, a)?.id)?),
            "retry_operation" => {
                let r = args::<Retry>(name, a)?;
                self.retry_operation(&r.id, r.force, r.max_attempts).map(CallOutput::Job)
            }
            "recovery_metrics" => {
                args::<NoArgs>(name, a)?;
                json(&self.recovery_metrics()?)
            }
            "recovery_scenarios" => {
                args::<NoArgs>(name, a)?;
                json(&self.recovery_scenarios())
            }
            "recovery_self_test" => {
                let t = args::<SelfTest>(name, a)?;
                json(&self.recovery_self_test(&t.scenarios, t.runs.unwrap_or(1))?)
            }
            "breakers" => {
                args::<NoArgs>(name, a)?;
                json(&self.breakers())
            }
            "breaker_settings" => {
                args::<NoArgs>(name, a)?;
                json(self.breaker_settings())
            }
            "backup_create" => {
                let b = args::<BackupCreateArgs>(name, a)?;
                json(&self.backup_create(b.label.as_deref(), b.max_backups, b.dir.as_deref())?)
            }
            "backup_list" => json(&self.backup_list(args::<BackupDir>(name, a)?.dir.as_deref())?),
            "backup_verify" => {
                let b = args::<BackupVerifyArgs>(name, a)?;
                json(&self.backup_verify(&b.name, b.dir.as_deref())?)
            }
            "backup_restore" => {
                let b = args::<BackupRestoreArgs>(name, a)?;
                json(&self.backup_restore(
                    &b.name,
                    b.target.as_deref(),
                    b.replace_existing,
                    b.dir.as_deref(),
                )?)
            }
            "media_info" => json(&self.media_info(&args::<MediaPaths>(name, a)?.paths)?),
            "vault_status" => {
                args::<NoArgs>(name, a)?;
                json(&self.vault_status()?)
            }
            "vault_init" => json(&self.vault_init(args::<Pass>(name, a)?.passphrase.as_ref())?),
            "vault_unlock" => json(&self.vault_unlock(args::<Pass>(name, a)?.passphrase.as_ref())?),
            "vault_lock" => {
                args::<NoArgs>(name, a)?;
                json(&self.vault_lock()?)
            }
            "vault_keys" => json(&self.vault_keys(args::<Pass>(name, a)?.passphrase.as_ref())?),
            "vault_get" => {
                let k = args::<VaultKey>(name, a)?;
                json(&self.vault_get(&k.key, k.passphrase.as_ref())?)
            }
            "vault_set" => {
                let k = args::<VaultSet>(name, a)?;
                json(&self.vault_set(&k.key, k.value, k.passphrase.as_ref())?)
            }
            "vault_delete" => {
                let k = args::<VaultKey>(name, a)?;
                json(&self.vault_delete(&k.key, k.passphrase.as_ref())?)
            }
            "vault_change_passphrase" => {
                let p = args::<VaultPasswd>(name, a)?;
                json(
                    &self.vault_change_passphrase(
                        p.new_passphrase.as_ref(),
                        p.passphrase.as_ref(),
                    )?,
                )
            }
            "vault_restore_backup" => {
                json(&self.vault_restore_backup(args::<Pass>(name, a)?.passphrase.as_ref())?)
            }
            "vault_import_rclone" => {
                let i = args::<VaultImport>(name, a)?;
                json(&self.vault_import_rclone(
                    &i.path,
                    i.prefix.as_deref(),
                    i.passphrase.as_ref(),
                )?)
            }
            "cloud_manifest" => {
                let m = args::<CloudManifestArgs>(name, a)?;
                json(&self.cloud_manifest(m.snapshot.as_deref(), m.include.as_deref())?)
            }
            "cloud_dry_run" => json(&self.cloud_dry_run(&args::<CloudRequest>(name, a)?)?),
            "cloud_run" => json(&self.cloud_run(&args::<CloudRequest>(name, a)?)?),
            other => Err(Error::internal(format!("call {other:?} is listed but not dispatched"))),
        }
    }
}

/// The outcome word of a status word (`"completed"` is `"success"`, see [`crate::Status::outcome`]), or None
/// for a word that is not a status.
pub fn status_outcome(status: &str) -> Option<&'static str> {
    serde_json::from_value::<crate::Status>(serde_json::Value::String(status.to_string()))
        .ok()
        .map(crate::Status::outcome)
}

/// A report (its canonical JSON) as the text for people of [`crate::SyncReport::text`]; `invalid_input` for JSON
/// that is not a report.
pub fn report_text(report_json: &str) -> Result<String> {
    serde_json::from_str::<crate::SyncReport>(report_json)
        .map(|r| r.text())
        .map_err(|e| Error::invalid(format!("not a report: {e}")))
}
