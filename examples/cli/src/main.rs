//! The `syncwright` command: manifests, plans and syncs from a shell.
//!
//! Exit codes: 0 completed, 1 failed, 2 usage or invalid input, 3 partial, 4 cancelled, 5 conflict.

mod backup;
mod cloud;
mod front;
mod media;
mod profiles;
mod vault;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use syncwright::manifest::plan::{CompareMode, DestChangedPolicy, Plan};
use syncwright::manifest::scan::LinkMode;
use syncwright::progress::{ProgressSnapshot, Stage};
use syncwright::{Engine, EngineConfig, Error, ErrorKind, Status, SyncOptions, SyncReport};

#[derive(Parser)]
#[command(
    name = "syncwright",
    version,
    about = "Keeps media, models and data of AI-image workstations in sync."
)]
struct Cli {
    /// Where the embedded state store lives (default: $SYNCWRIGHT_STATE_DIR, $XDG_STATE_HOME/syncwright or
    /// ~/.local/state/syncwright).
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The profiles file (TOML) for run, run-all, status, unlock, logs, usage and schedule.
    #[arg(long, global = true, value_name = "FILE", env = "SYNCWRIGHT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The secrets vault: init, set, get, rm, ls, passwd, restore-backup, import-rclone (passphrase from
    /// SYNCWRIGHT_SECRETS_KEY).
    Vault {
        /// The vault file (default: [settings] vault, else <config name>.secrets.json beside the config).
        #[arg(long, value_name = "FILE")]
        vault: Option<PathBuf>,
        #[command(subcommand)]
        cmd: vault::VaultCmd,
    },
    /// Images' generation metadata: info FILE... (JSON).
    Media {
        #[command(subcommand)]
        cmd: media::MediaCmd,
    },
    /// Local zip backups of the config's [backup] paths: create, list, verify, restore.
    Backup {
        /// The backups folder (default: [backup] dir, else <root>/backups).
        #[arg(long, value_name = "DIR")]
        backups: Option<PathBuf>,
        #[command(subcommand)]
        cmd: backup::BackupCmd,
    },
    /// Document 3's cloud sync of the config's [cloud_sync] tree: manifest, dry-run, run (needs [features]).
    Cloud {
        #[command(subcommand)]
        cmd: cloud::CloudCmd,
    },
    /// Print the manifest of a local directory (canonical JSON, with SHA-256 of every file).
    Manifest {
        /// The directory.
        dir: PathBuf,
        /// Snapshot name written into the manifest.
        #[arg(long, default_value = "default")]
        name: String,
        /// Skip hashing (size and mtime only).
        #[arg(long)]
        no_hash: bool,
        /// Write to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Show what a sync would do, as `check --combined` lines (= same, + only at source, - only at destination,
    /// * different, ! cannot be synced).
    Plan {
        /// Source: a directory, sftp://USER@HOST:PORT/ABS/PATH, s3://BUCKET/PREFIX or gdrive://FOLDER_ID.
        src: String,
        /// Destination (same forms as the source).
        dst: String,
        /// Print the plan as canonical JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sync: SyncArgs,
    },
    /// Make DST hold what SRC holds.
    Sync {
        /// Source: a directory, sftp://USER@HOST:PORT/ABS/PATH, s3://BUCKET/PREFIX or gdrive://FOLDER_ID.
        src: String,
        /// Destination (same forms as the source).
        dst: String,
        /// Compute the plan, write nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// Print the canonical SyncReport as JSON.
        #[arg(long)]
        json: bool,
        /// Never draw a progress bar (it is drawn only when standard error is a terminal).
        #[arg(long)]
        no_progress: bool,
        #[command(flatten)]
        sync: SyncArgs,
    },
    /// Run a profile of the config (one run at a time per profile and destination, across processes).
    Run {
        /// The profile.
        profile: String,
        /// Print the canonical SyncReport as JSON.
        #[arg(long)]
        json: bool,
        /// Never draw a progress bar.
        #[arg(long)]
        no_progress: bool,
    },
    /// Run every profile of the config, one after the other.
    RunAll {
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show each profile's last run and its locks.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove lock files: a profile's (and its destination's), or all; --test checks that locking works.
    Unlock {
        /// The profile whose locks go.
        profile: Option<String>,
        /// Remove every lock.
        #[arg(long, conflicts_with = "profile")]
        all: bool,
        /// Take, renew and release a test lock in the coordination folder, and report each step.
        #[arg(long, conflicts_with_all = ["profile", "all"])]
        test: bool,
        /// Also remove locks another process or host holds with a fresh lease (that run stops at its next
        /// renewal). Without it such a lock is refused (exit 5); stale ones always go, and a run of this
        /// process is cancelled first.
        #[arg(long)]
        force: bool,
    },
    /// Show a profile's log: the last N entries, or a page.
    Logs {
        /// The profile.
        profile: String,
        /// How many of the last entries.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Only entries of this level (info, warning, error, debug).
        #[arg(long)]
        level: Option<String>,
        /// A page of entries instead of the last ones (1 is the oldest).
        #[arg(long)]
        page: Option<usize>,
        /// Entries per page.
        #[arg(long, default_value_t = 100)]
        per_page: usize,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bytes by model category, by profile and by top-level folder, and the disk's space.
    Usage {
        /// A models folder whose subfolders are the categories.
        #[arg(long)]
        models: Option<PathBuf>,
        /// A tree whose top-level folders are counted.
        #[arg(long)]
        root: Option<PathBuf>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the profiles that have an interval by themselves, until Ctrl-C.
    Schedule,
    /// List the profiles of the config.
    Profiles {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A profile's runs, newest first, a page at a time (from the state store, so also earlier processes').
    History {
        /// The profile.
        profile: String,
        /// The page (1 is the newest).
        #[arg(long, default_value_t = 1)]
        page: usize,
        /// Runs per page.
        #[arg(long, default_value_t = 20)]
        per_page: usize,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The stored recovery operations (each job is one), newest first.
    Operations {
        /// Only those not ended.
        #[arg(long)]
        active: bool,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One operation; --retry runs it again (as a job, waited for), --cancel stops or marks it cancelled.
    Operation {
        /// Its id (the job's).
        id: String,
        /// Run it again: one that failed, ran out of attempts, was cancelled or interrupted (any ended one with
        /// --force).
        #[arg(long, conflicts_with = "cancel")]
        retry: bool,
        /// Cancel it.
        #[arg(long)]
        cancel: bool,
        /// With --retry: also one that succeeded.
        #[arg(long, requires = "retry")]
        force: bool,
        /// With --retry: this many more attempts.
        #[arg(long, requires = "retry")]
        max_attempts: Option<u32>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recovery figures and the retry and breaker settings in effect (JSON).
    RecoveryMetrics,
    /// The kept events after a sequence number, as JSON lines; --follow then prints live ones until Ctrl-C.
    Events {
        /// The last `seq` already seen (0: every kept event).
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Only events about this job.
        #[arg(long)]
        job: Option<String>,
        /// Only events about this profile.
        #[arg(long)]
        profile: Option<String>,
        /// Only events about this operation.
        #[arg(long)]
        operation: Option<String>,
        /// Only events of this type (repeatable): job_started, progress, job_finished, log, ...
        #[arg(long = "type")]
        types: Vec<String>,
        /// Keep printing live events.
        #[arg(long)]
        follow: bool,
    },
    /// Run the recovery self-test: fault scenarios (network_timeout, connection_failure, service_unavailable,
    /// rate_limited, disk_space_exhausted, corruption) through the engine, with success rates and overhead.
    RecoveryTest {
        /// Scenarios to run (all when none).
        scenarios: Vec<String>,
        /// Runs of each.
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// List the scenarios instead of running them.
        #[arg(long)]
        list: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Convert a manifest of the older media-sync or cloud-sync systems into the canonical format.
    Import {
        /// The old manifest (JSON).
        file: PathBuf,
        /// For media-sync manifests: the remote directory their absolute paths are under.
        #[arg(long)]
        root: Option<String>,
        /// Snapshot name for media-sync manifests.
        #[arg(long, default_value = "default")]
        name: String,
    },
}

#[derive(Args, Clone)]
struct FilterArgs {
    /// Take only files matching PATTERN (repeatable). A pattern without '/' matches names at any depth.
    #[arg(long, value_name = "PATTERN")]
    include: Vec<String>,
    /// Leave out files and folders matching PATTERN (repeatable); a trailing '/' matches folders only.
    #[arg(long, value_name = "PATTERN")]
    exclude: Vec<String>,
    /// Symlinks: keep them as links, follow them, or leave them out.
    #[arg(long, value_enum, default_value_t = Links::Preserve)]
    links: Links,
}

#[derive(ValueEnum, Clone, Copy)]
enum Links {
    Preserve,
    Follow,
    Skip,
}

#[derive(ValueEnum, Clone, Copy)]
enum OnDestChanged {
    Overwrite,
    Skip,
    KeepBoth,
}

#[derive(Args, Clone)]
struct SyncArgs {
    #[command(flatten)]
    filters: FilterArgs,
    /// Mirror: delete destination files the source does not have (never after an error).
    #[arg(long)]
    delete: bool,
    /// With --delete: refuse all deletes when more than N are planned (without it, deletes of more than half
    /// of the destination's files are refused).
    #[arg(long, value_name = "N")]
    max_delete: Option<u64>,
    /// With --delete: also delete destination files the filters exclude (otherwise they are protected).
    #[arg(long)]
    delete_excluded: bool,
    /// With --delete: allow deletes when the source is empty (to empty the destination on purpose).
    #[arg(long)]
    allow_empty_source: bool,
    /// Move files the run deletes or overwrites into DIR (absolute, or relative to the destination, where it
    /// must be excluded) instead of losing them.
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<String>,
    /// Compare by SHA-256 of the content instead of size and mtime.
    #[arg(short = 'c', long, conflicts_with = "size_only")]
    checksum: bool,
    /// Compare by size alone.
    #[arg(long)]
    size_only: bool,
    /// Files copied at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    transfers: usize,
    /// Leave files modified more recently than this for the next run (30s, 5m, 2h, 1d).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    min_age: Option<f64>,
    /// Read back each written file and compare its SHA-256 before making it visible.
    #[arg(long)]
    verify: bool,
    /// Bandwidth limit for all transfers: a number of KiB/s, or with a suffix B, K, M or G (per second).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    bwlimit: Option<u64>,
    /// What to do with destination files edited since syncwright wrote them.
    #[arg(long, value_enum, default_value_t = OnDestChanged::Overwrite)]
    dest_changed: OnDestChanged,
    /// Ignore the manifest syncwright keeps at the destination (its hashes and recorded versions).
    #[arg(long, conflicts_with = "trust_dest_manifest")]
    rescan_dest: bool,
    /// Plan against the destination's manifest without listing the destination: only for destinations nothing
    /// but syncwright writes (changes made there are not seen).
    #[arg(long)]
    trust_dest_manifest: bool,
    /// Snapshot name (the destination manifest is .syncwright/manifests/NAME.json).
    #[arg(long, default_value = "default")]
    name: String,
    /// Leave the destination manifest (and its local cache) as it was after a clean run.
    #[arg(long)]
    no_commit_manifest: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// How to reach sftp://, s3:// and gdrive:// locations. Secrets come from the environment or files, never from
/// arguments (which other users can see in the process list).
#[derive(Args, Clone, Default)]
struct RemoteArgs {
    /// SSH private key file for sftp:// (passphrase from SYNCWRIGHT_SSH_PASSPHRASE); without it, ssh-agent.
    #[arg(long, value_name = "FILE", env = "SYNCWRIGHT_SSH_KEY")]
    ssh_key: Option<PathBuf>,
    /// known_hosts file the SSH host key must be listed in (default ~/.ssh/known_hosts).
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Accept any SSH host key (exposes the connection to impostors; a warning is logged on every connection).
    #[arg(long)]
    insecure_ignore_host_key: bool,
    /// SSH sessions for parallel transfers.
    #[arg(long, value_name = "N")]
    ssh_sessions: Option<usize>,
    /// Endpoint of an S3-compatible server (keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// S3 region (default AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    s3_region: Option<String>,
    /// Google service account JSON key file for gdrive://.
    #[arg(long, value_name = "FILE")]
    gdrive_credentials: Option<PathBuf>,
    /// Drive folder holding the manifests (default: the files' folder).
    #[arg(long, value_name = "FOLDER_ID")]
    gdrive_manifest_folder: Option<String>,
    /// Base URL of the Drive API and nothing else: for tests against a local fake Drive (http only on the
    /// loopback interface). Hidden; set through SYNCWRIGHT_GDRIVE_API_BASE.
    #[arg(long, value_name = "URL", env = "SYNCWRIGHT_GDRIVE_API_BASE", hide = true)]
    gdrive_api_base: Option<String>,
}

impl RemoteArgs {
    fn options(&self) -> syncwright::backend::remote::RemoteOptions {
        if self.insecure_ignore_host_key {
            eprintln!(
                "syncwright: warning: SSH host keys are NOT checked (--insecure-ignore-host-key): anyone who can \
                 intercept the connection can read and change the data"
            );
        }
        let mut o = syncwright::backend::remote::RemoteOptions::default();
        o.sftp.key_file = self.ssh_key.clone();
        o.sftp.known_hosts = self.known_hosts.clone();
        o.sftp.insecure_ignore_host_key = self.insecure_ignore_host_key;
        if let Some(n) = self.ssh_sessions {
            o.sftp.sessions = n;
        }
        o.s3.endpoint_url = self.s3_endpoint.clone();
        o.s3.region = self.s3_region.clone();
        o.gdrive.credentials = self.gdrive_credentials.clone();
        o.gdrive.manifest_parent_id = self.gdrive_manifest_folder.clone();
        o.gdrive.api_base = self.gdrive_api_base.clone();
        o
    }
}

fn parse_age(s: &str) -> Result<f64, String> {
    syncwright::config::parse_duration(s)
        .map(|d| d.as_secs_f64())
        .map_err(|e| e.message().to_string())
}

/// A bare number is KiB/s, as with rsync and rclone; with a unit (`B`, `K`, `M`, `G`), bytes per second.
fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let with_unit = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        format!("{t}K")
    } else {
        t.to_string()
    };
    syncwright::config::parse_rate(&with_unit).map_err(|e| e.message().to_string())
}

impl FilterArgs {
    fn links(&self) -> LinkMode {
        match self.links {
            Links::Preserve => LinkMode::Preserve,
            Links::Follow => LinkMode::Follow,
            Links::Skip => LinkMode::Skip,
        }
    }
}

impl SyncArgs {
    fn options(&self, dry_run: bool) -> SyncOptions {
        SyncOptions {
            name: self.name.clone(),
            compare: if self.checksum {
                CompareMode::Checksum
            } else if self.size_only {
                CompareMode::SizeOnly
            } else {
                CompareMode::SizeMtime
            },
            include: self.filters.include.clone(),
            exclude: self.filters.exclude.clone(),
            links: self.filters.links(),
            min_age_secs: self.min_age.unwrap_or(0.0),
            delete: self.delete,
            max_delete: self.max_delete,
            delete_excluded: self.delete_excluded,
            allow_empty_source: self.allow_empty_source,
            backup_dir: self.backup_dir.clone(),
            dry_run,
            transfers: self.transfers,
            verify: self.verify,
            bwlimit: self.bwlimit,
            dest_changed: match self.dest_changed {
                OnDestChanged::Overwrite => DestChangedPolicy::Overwrite,
                OnDestChanged::Skip => DestChangedPolicy::Skip,
                OnDestChanged::KeepBoth => DestChangedPolicy::KeepBoth,
            },
            rescan_dest: self.rescan_dest,
            trust_dest_manifest: self.trust_dest_manifest,
            commit_manifest: !self.no_commit_manifest,
            remote: self.remote.options(),
            ..SyncOptions::default()
        }
    }
}

/// Exit code for an error that stopped the command before a report.
pub(crate) fn error_exit(e: &Error) -> ExitCode {
    eprintln!("syncwright: error: {}", e.message());
    let hint = match e.kind() {
        ErrorKind::NotFound if e.path().is_some() => Some("check the path"),
        ErrorKind::Permission => Some("check the permissions of the path (or run as its owner)"),
        _ => None,
    };
    if let Some(h) = hint {
        eprintln!("syncwright: hint: {h}");
    }
    ExitCode::from(match e.kind() {
        ErrorKind::InvalidInput | ErrorKind::NotFound => 2,
        ErrorKind::Conflict => 5,
        ErrorKind::Cancelled => 4,
        _ => 1,
    })
}

fn engine(state_dir: Option<PathBuf>) -> Result<Engine, Error> {
    opened(Engine::new(EngineConfig { state_dir, ..Default::default() }))
}

/// An engine just opened, after saying on standard error whether it found its state store damaged (moved aside
/// and replaced), whatever the command: reports then leave that warning out of what they print.
pub(crate) fn opened(engine: Result<Engine, Error>) -> Result<Engine, Error> {
    if let Ok(e) = &engine
        && let Some(r) = e.store_recovery()
    {
        eprintln!("syncwright: warning: {}", r.message());
    }
    engine
}

/// Whether a report's warning is printed (the store's recovery was, when the engine opened).
pub(crate) fn printed(w: &syncwright::report::Warning) -> bool {
    w.reason != syncwright::report::WarningReason::StateStoreRecovered
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => error_exit(&e),
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let ctx = profiles::Ctx { config: cli.config.clone(), state_dir: cli.state_dir.clone() };
    match cli.cmd {
        Cmd::Vault { vault, cmd } => vault::run(cmd, &ctx, vault),
        Cmd::Cloud { cmd } => cloud::run(cmd, &ctx),
        Cmd::Backup { backups, cmd } => backup::run(cmd, &ctx, backups),
        Cmd::Media { cmd } => media::run(cmd, &ctx),
        Cmd::Run { profile, json, no_progress } => ctx.run(&profile, json, no_progress),
        Cmd::RunAll { json } => ctx.run_all(json),
        Cmd::Status { json } => ctx.status(json),
        Cmd::Unlock { profile, all, test, force } => {
            ctx.unlock(profile.as_deref(), all, test, force)
        }
        Cmd::Logs { profile, lines, level, page, per_page, json } => {
            ctx.logs(&profile, lines, level.as_deref(), page, per_page, json)
        }
        Cmd::Usage { models, root, json } => ctx.usage(models, root, json),
        Cmd::Schedule => ctx.schedule(),
        Cmd::Profiles { json } => ctx.profiles(json),
        Cmd::History { profile, page, per_page, json } => {
            ctx.history(&profile, page, per_page, json)
        }
        Cmd::Operations { active, limit, json } => ctx.operations(active, limit, json),
        Cmd::Operation { id, retry, cancel, force, max_attempts, json } => {
            ctx.operation(&id, retry, cancel, force, max_attempts, json)
        }
        Cmd::RecoveryMetrics => ctx.recovery_metrics(),
        Cmd::Events { since, job, profile, operation, types, follow } => ctx.events(
            since,
            syncwright::events::EventFilter {
                job_id: job,
                profile,
                operation_id: operation,
                types,
            },
            follow,
        ),
        Cmd::RecoveryTest { list: true, json, .. } => ctx.scenarios(json),
        Cmd::RecoveryTest { scenarios, runs, json, .. } => {
            let engine = engine(cli.state_dir.clone())?;
            let r = engine.recovery_self_test(&scenarios, runs)?;
            if json {
                println!("{}", serde_json::to_string(&r).map_err(Error::from)?);
            } else {
                println!("baseline (no faults): {:.1} ms", r.baseline_ms);
                for s in &r.scenarios {
                    println!(
                        "{:<22} {}/{} as expected, {} retries, +{:.1} ms ({:.0}% overhead)  {}",
                        s.name,
                        s.as_expected,
                        s.runs,
                        s.retries,
                        s.average_recovery_ms,
                        s.overhead_percent,
                        s.description
                    );
                }
                println!("{}", r.overall);
            }
            Ok(ExitCode::from(if r.overall == "PASS" { 0 } else { 1 }))
        }
        Cmd::Manifest { dir, name, no_hash, output, filters } => {
            let opts = syncwright::manifest::scan::ManifestOptions {
                name: Some(name),
                include: filters.include.clone(),
                exclude: filters.exclude.clone(),
                links: filters.links(),
                hash: Some(!no_hash),
                state_dir: cli.state_dir,
                threads: 0,
            };
            let out = syncwright::manifest::scan::build_manifest(&dir, &opts)?;
            let mut text = Vec::new();
            out.manifest.write_to(&mut text)?;
            match output {
                Some(p) => std::fs::write(&p, &text)
                    .map_err(|e| Error::io(&e, "cannot write", p.display().to_string()))?,
                None => {
                    let _ = std::io::stdout().write_all(&text);
                }
            }
            for w in &out.warnings {
                eprintln!("syncwright: warning: {}", w.message);
            }
            for e in &out.errors {
                eprintln!("syncwright: error: {} ({})", e.error, e.kind);
            }
            Ok(ExitCode::from(if out.errors.is_empty() { 0 } else { 3 }))
        }
        Cmd::Import { file, root, name } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| Error::io(&e, "cannot read", file.display().to_string()))?;
            // Bytes that are not text are a bad document, like bad JSON (not a damaged file of ours).
            let text = String::from_utf8(bytes).map_err(|e| {
                Error::invalid(format!("{} is not UTF-8 text: {e}", file.display()))
            })?;
            let m = syncwright::manifest::import::import_any(&text, root.as_deref(), &name)?;
            let mut out = Vec::new();
            m.write_to(&mut out)?;
            let _ = std::io::stdout().write_all(&out);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Plan { src, dst, json, sync } => {
            let mut opts = sync.options(true);
            opts.list_identical = true;
            let engine = engine(cli.state_dir)?;
            let report = engine.sync(&src, &dst, opts)?;
            for w in report.warnings.iter().filter(|w| printed(w)) {
                eprintln!("syncwright: warning: {}", w.message);
            }
            // What the run would refuse or could not read (the plan's own errors are printed with it).
            let run_errors: Vec<_> = report
                .errors
                .iter()
                .filter(|e| report.plan.as_ref().is_none_or(|p| !p.errors.contains(e)))
                .collect();
            for e in &run_errors {
                let p = if e.path.is_empty() { String::new() } else { format!("{}: ", e.path) };
                eprintln!("syncwright: error: {p}{} ({})", e.error, e.kind);
            }
            let failed = !run_errors.is_empty();
            let plan = match (report.plan, report.fatal) {
                (Some(p), _) => p,
                (None, Some(f)) => return Err(f.to_error()),
                (None, None) => return Err(Error::internal("dry run without a plan")),
            };
            if json {
                println!("{}", serde_json::to_string(&plan).map_err(Error::from)?);
            } else {
                print!("{}", plan.combined());
                print_plan_totals(&plan);
            }
            Ok(ExitCode::from(if plan.errors.is_empty() && !failed { 0 } else { 3 }))
        }
        Cmd::Sync { src, dst, dry_run, json, no_progress, sync } => {
            let engine = engine(cli.state_dir)?;
            let bar = (!no_progress && !json && std::io::stderr().is_terminal()).then(progress_bar);
            let cb = bar.clone().map(|b| {
                Arc::new(move |s: &ProgressSnapshot| update_bar(&b, s))
                    as syncwright::progress::ProgressCallback
            });
            let cancel = cancel_on_signal();
            let job = engine.start_sync(&src, &dst, sync.options(dry_run), cb)?;
            finish_job(job, cancel, bar, json)
        }
    }
}

/// Waits for a job (Ctrl-C cancels it), prints its report, and turns its status into the exit code.
pub(crate) fn finish_job(
    job: syncwright::Job,
    cancel: CancelSlot,
    bar: Option<ProgressBar>,
    json: bool,
) -> Result<ExitCode, Error> {
    cancel.set(job.clone());
    let report = job.wait(None).ok_or_else(|| Error::internal("the job ended without a report"))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if json {
        println!("{}", report.to_json());
        if let Some(f) = &report.fatal {
            eprintln!("syncwright: error: {} ({})", f.error, f.kind);
        }
    } else {
        print_report(&report);
    }
    Ok(ExitCode::from(match (&report.fatal, report.status) {
        (Some(f), _) if matches!(f.kind, ErrorKind::InvalidInput | ErrorKind::NotFound) => 2,
        (Some(f), _) if f.kind == ErrorKind::Conflict => 5,
        (_, s) => s.exit_code() as u8,
    }))
}

/// Where the signal handler finds the job to cancel; a signal that comes first cancels it as soon as it is set.
#[derive(Clone, Default)]
pub(crate) struct CancelSlot(Arc<std::sync::Mutex<(Option<syncwright::Job>, bool)>>);

impl CancelSlot {
    pub(crate) fn set(&self, job: syncwright::Job) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if g.1 {
            job.cancel();
        }
        g.0 = Some(job);
    }

    /// Whether a signal came.
    pub(crate) fn fired(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    pub(crate) fn fire(&self) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.1 = true;
        if let Some(j) = &g.0 {
            j.cancel();
        }
    }
}

/// Ctrl-C (or SIGTERM) cancels the job: transfers stop within one chunk and remove their temporaries. The
/// handler is in place before the job starts.
pub(crate) fn cancel_on_signal() -> CancelSlot {
    let slot = CancelSlot::default();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let s = slot.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            let _ = ready_tx.send(());
            return;
        };
        rt.block_on(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
            let _ = ready_tx.send(());
            let mut int = int;
            tokio::select! {
                _ = async { match int.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        });
        eprintln!("syncwright: cancelling...");
        s.fire();
    });
    let _ = ready_rx.recv();
    slot
}

pub(crate) fn progress_bar() -> ProgressBar {
    let b = ProgressBar::new(0);
    b.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b
}

pub(crate) fn update_bar(b: &ProgressBar, s: &ProgressSnapshot) {
    let stage = match s.stage {
        Stage::Queued => "queued",
        Stage::Scanning => "scanning",
        Stage::Planning => "planning",
        Stage::Transferring => "transferring",
        Stage::Deleting => "deleting",
        Stage::Committing => "committing",
        Stage::Done => "done",
    };
    b.set_prefix(stage);
    b.set_length(s.bytes_total);
    b.set_position(s.bytes_done);
    let msg = match s.stage {
        Stage::Scanning => format!("{} entries", s.scanned),
        _ => format!(
            "{}/{} files {}",
            s.files_done,
            s.files_total,
            s.current_file.as_deref().unwrap_or("")
        ),
    };
    b.set_message(msg);
}

fn print_plan_totals(p: &Plan) {
    let t = &p.totals;
    eprintln!(
        "plan: {} to copy ({}), {} new, {} updated, {} links, {} dirs, {} metadata, {} to delete, {} only at destination, {} identical, {} skipped, {} errors",
        t.copy_files,
        syncwright::usage::human_size(t.copy_bytes),
        t.new_files,
        t.updated_files,
        t.symlinks,
        t.mkdirs,
        t.set_meta,
        t.deletes,
        t.extra_at_dest,
        t.identical,
        t.skipped,
        t.errors
    );
    for e in &p.errors {
        eprintln!("syncwright: cannot sync {}: {} ({})", e.path, e.error, e.kind);
    }
}

pub(crate) fn print_report(r: &SyncReport) {
    if let Some(p) = &r.plan {
        print!("{}", p.combined());
        print_plan_totals(p);
    }
    println!("{}", r.summary());
    for w in r.warnings.iter().filter(|w| printed(w)) {
        eprintln!("syncwright: warning: {}", w.message);
    }
    for e in &r.errors {
        let p = if e.path.is_empty() { String::new() } else { format!("{}: ", e.path) };
        eprintln!("syncwright: error: {p}{} ({})", e.error, e.kind);
    }
    if let Some(out) = r.output.as_deref().filter(|o| !o.is_empty()) {
        print!("{out}");
    }
    if let Some(f) = &r.fatal {
        eprintln!("syncwright: error: {} ({})", f.error, f.kind);
    }
    if r.status == Status::Cancelled {
        eprintln!("syncwright: cancelled; temporaries were removed, and the next run resumes");
    }
}
