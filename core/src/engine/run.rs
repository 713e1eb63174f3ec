//! One sync run: scan -> diff -> plan -> execute -> commit -> [`SyncReport`].

use super::bandwidth::Bandwidth;
use super::cancel::CancelFlag;
use super::options::SyncOptions;
use super::transfer::{self, Done, Shared, execute};
use crate::backend::Backend;
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::diff::{DiffOptions, Differ, diff};
use crate::manifest::filter::Filter;
use crate::manifest::hash::{HashAlgo, version_fingerprint};
use crate::manifest::plan::{CompareMode, Op, Plan, Reason};
use crate::manifest::scan::{ScanOptions, ScanOutcome};
use crate::manifest::{
    Entry, EntryKind, Manifest, now_rfc3339, stream_entries, stream_entries_with,
};
use crate::progress::{ProgressTracker, Stage};
use crate::report::{
    ErrorAction, FileError, Status, SyncReport, SyncStats, Warning, WarningReason,
};
use crate::state::Store;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Temporaries older than this are swept even when their source is unchanged.
const TEMP_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// What a run needs besides its backends and options.
#[derive(Clone, Default)]
pub struct RunContext {
    /// Set to cancel.
    pub cancel: CancelFlag,
    /// Live progress.
    pub progress: Arc<ProgressTracker>,
    /// The embedded store (hash cache); None hashes everything afresh.
    pub store: Option<Arc<Store>>,
    /// Hears the circuit breakers' transitions.
    pub on_breaker: Option<crate::recovery::breaker::TransitionCallback>,
}

/// The state key of the destination manifest of snapshot `name`.
pub fn manifest_key(name: &str) -> String {
    format!("manifests/{name}.json")
}

/// The state key of the marker that says a run on snapshot `name` has not finished cleanly.
pub fn inflight_key(name: &str) -> String {
    format!("runs/{name}.inflight")
}

#[derive(Default)]
struct Acc {
    errors: Vec<FileError>,
    warnings: Vec<Warning>,
    stats: SyncStats,
}

/// Runs a sync from `src` to `dst` and reports; never panics on bad input, never returns without a report.
pub async fn run_sync(
    src: Arc<dyn Backend>,
    dst: Arc<dyn Backend>,
    opts: &SyncOptions,
    ctx: &RunContext,
) -> SyncReport {
    let started_at = now_rfc3339();
    let t0 = Instant::now();
    let mut acc = Acc::default();
    let outcome = run_inner(&src, &dst, opts, ctx, &mut acc).await;
    ctx.progress.set_stage(Stage::Done);
    let (plan, fatal) = match outcome {
        Ok(plan) => (plan, None),
        Err(e) => (None, Some(FileError::new(ErrorAction::Run, e.path().unwrap_or(""), &e))),
    };
    let cancelled =
        ctx.cancel.is_cancelled() || fatal.as_ref().is_some_and(|f| f.kind == ErrorKind::Cancelled);
    acc.stats.errors = acc.errors.len() as u64;
    acc.stats.warnings = acc.warnings.len() as u64;
    let done_something =
        acc.stats.created + acc.stats.updated + acc.stats.deleted + acc.stats.dirs_created > 0;
    let status = if cancelled {
        Status::Cancelled
    } else if fatal.is_some() {
        Status::Failed
    } else if acc.errors.is_empty() {
        Status::Completed
    } else if !done_something && acc.stats.files_planned > 0 && !opts.dry_run {
        Status::Failed
    } else {
        Status::Partial
    };
    acc.errors.sort_by(|a, b| a.path.cmp(&b.path));
    acc.warnings.sort_by(|a, b| a.path.cmp(&b.path));
    SyncReport {
        schema_version: crate::manifest::SCHEMA_VERSION,
        run_id: uuid::Uuid::new_v4().to_string(),
        status,
        dry_run: opts.dry_run,
        source: src.location(),
        destination: dst.location(),
        started_at,
        finished_at: now_rfc3339(),
        duration_ms: t0.elapsed().as_millis() as u64,
        stats: acc.stats,
        errors: acc.errors,
        warnings: acc.warnings,
        plan,
        fatal: fatal.filter(|f| f.kind != ErrorKind::Cancelled),
        output: None,
    }
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("cancel", &self.cancel)
            .field("store", &self.store)
            .finish()
    }
}

fn scan_options(
    opts: &SyncOptions,
    filter: &Filter,
    ctx: &RunContext,
    hash: Option<HashAlgo>,
) -> ScanOptions {
    ScanOptions {
        name: opts.name.clone(),
        filter: filter.clone(),
        links: opts.links,
        hash,
        hash_cache: ctx.store.clone(),
        threads: opts.scan_threads,
        counters: Some(ctx.progress.scan.clone()),
        cancel: Some(ctx.cancel.as_atomic()),
    }
}

/// Where the destination's entries come from.
enum DestEntries {
    /// Scanned, or read whole.
    Memory(Manifest),
    /// syncwright's manifest in a local file, streamed (never held in memory while planning).
    File(PathBuf),
}

/// The destination as the plan sees it.
struct DestView {
    entries: DestEntries,
    /// The manifest was read, not scanned: live entries are checked before they are replaced.
    trusted: bool,
    /// syncwright's manifest from the last clean run, when the destination was rescanned on request.
    stored: Option<Manifest>,
    scan: Option<ScanOutcome>,
}

impl DestView {
    /// The plan of `src` against this destination.
    fn plan(&self, src: &Manifest, o: &DiffOptions) -> Result<Plan> {
        match &self.entries {
            DestEntries::Memory(m) => Ok(diff(src, m, o)),
            DestEntries::File(p) => crate::backend::blocking(|| {
                let mut d = Differ::new(src, o);
                let with_hashes = o.compare == CompareMode::Checksum;
                stream_entries_with(open_buffered(p)?, with_hashes, |e| {
                    d.push_dest(&e);
                    Ok(())
                })?;
                Ok(d.finish())
            }),
        }
    }

    /// Whether every file entry carries a BLAKE3 (so a checksum comparison can use it).
    fn all_files_have_blake3(&self) -> Result<bool> {
        let has = |e: &Entry| e.kind != EntryKind::File || e.hashes.blake3_raw().is_some();
        match &self.entries {
            DestEntries::Memory(m) => Ok(m.entries.iter().all(has)),
            DestEntries::File(p) => crate::backend::blocking(|| {
                let mut all = true;
                stream_entries(open_buffered(p)?, |e| {
                    all &= has(&e);
                    Ok(())
                })?;
                Ok(all)
            }),
        }
    }

    /// The destination's entries in memory (for the commit, which merges them with the run's results).
    fn load(&self) -> Result<std::borrow::Cow<'_, Manifest>> {
        match &self.entries {
            DestEntries::Memory(m) => Ok(std::borrow::Cow::Borrowed(m)),
            DestEntries::File(p) => crate::backend::blocking(|| {
                Ok(std::borrow::Cow::Owned(Manifest::read_from(open_buffered(p)?)?))
            }),
        }
    }
}

fn open_buffered(p: &std::path::Path) -> Result<std::io::BufReader<std::fs::File>> {
    let f = std::fs::File::open(p)
        .map_err(|e| Error::io(&e, "cannot open", p.display().to_string()))?;
    Ok(std::io::BufReader::with_capacity(1 << 20, f))
}

fn unusable_manifest(acc: &mut Acc, e: &Error) {
    acc.warnings.push(Warning::new(
        "",
        WarningReason::DestChanged,
        format!(
            "the destination manifest cannot be used ({}): the destination is scanned",
            e.message()
        ),
    ));
}

/// Whether `e` says the backend cannot be reached now (rather than that something is wrong with the data).
fn unreachable(e: &Error) -> bool {
    use crate::recovery::Category as C;
    matches!(
        crate::recovery::classify(e).category,
        C::NetworkTimeout | C::NetworkConnection | C::NetworkDns | C::ServiceUnavailable
    )
}

/// The destination as the plan sees it. A dry run whose remote destination cannot be reached plans against the
/// manifest cached from the last time it was read or written, and says so.
async fn dest_view(
    dst: &Arc<dyn Backend>,
    opts: &SyncOptions,
    scan_opts: ScanOptions,
    acc: &mut Acc,
    distrust: bool,
) -> Result<DestView> {
    match dest_view_live(dst, opts, scan_opts, acc, distrust).await {
        Err(e) if opts.dry_run && unreachable(&e) => {
            let Some(cached) = dst.cached_state_file(&manifest_key(&opts.name)).await? else {
                return Err(e);
            };
            acc.warnings.push(Warning::new(
                "",
                WarningReason::RemoteUnreachable,
                format!(
                    "{} cannot be reached ({}): planned against the manifest cached at {}",
                    dst.location(),
                    e.message(),
                    cached.saved_at
                ),
            ));
            Ok(DestView {
                entries: DestEntries::File(cached.path),
                trusted: true,
                stored: None,
                scan: None,
            })
        }
        r => r,
    }
}

async fn dest_view_live(
    dst: &Arc<dyn Backend>,
    opts: &SyncOptions,
    scan_opts: ScanOptions,
    acc: &mut Acc,
    distrust: bool,
) -> Result<DestView> {
    let unclean = dst.read_state(&inflight_key(&opts.name)).await?.is_some();
    let key = manifest_key(&opts.name);
    if !unclean
        && !opts.rescan_dest
        && !distrust
        && let Some(p) = dst.state_file(&key).await?
    {
        {
            return Ok(DestView {
                entries: DestEntries::File(p),
                trusted: true,
                stored: None,
                scan: None,
            });
        }
    }
    let stored = match dst.read_state(&key).await? {
        Some(bytes) if !unclean && !distrust => match Manifest::from_slice(&bytes) {
            Ok(m) => Some(m),
            Err(e) => {
                unusable_manifest(acc, &e);
                None
            }
        },
        _ => None,
    };
    if let (Some(m), false) = (&stored, opts.rescan_dest) {
        return Ok(DestView {
            entries: DestEntries::Memory(m.clone()),
            trusted: true,
            stored: None,
            scan: None,
        });
    }
    let scan = match dst.scan(scan_opts).await {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let m = Manifest::new(opts.name.clone(), dst.location());
            return Ok(DestView {
                entries: DestEntries::Memory(m),
                trusted: false,
                stored: None,
                scan: None,
            });
        }
        Err(e) => return Err(e),
    };
    Ok(DestView {
        entries: DestEntries::Memory(scan.manifest.clone()),
        trusted: false,
        stored,
        scan: Some(scan),
    })
}

async fn run_inner(
    src: &Arc<dyn Backend>,
    dst: &Arc<dyn Backend>,
    opts: &SyncOptions,
    ctx: &RunContext,
    acc: &mut Acc,
) -> Result<Option<Plan>> {
    opts.validate()?;
    let filter = Filter::new(&opts.include, &opts.exclude)?;
    if opts.remote.sftp.insecure_ignore_host_key
        && let Some(b) = [src, dst].into_iter().find(|b| b.scheme() == "sftp")
    {
        acc.warnings.push(Warning::new(
            "",
            WarningReason::HostKeyNotChecked,
            format!(
                "the host key of {} was not checked (insecure_ignore_host_key): anyone who can intercept the \
                 connection can read and change the data",
                b.location()
            ),
        ));
    }
    ctx.progress.set_stage(Stage::Scanning);
    let (src_scan, mut dview, algo) = if opts.compare == CompareMode::Checksum {
        // The destination first: the hashes its manifest holds decide which one the source needs. BLAKE3 is
        // about four times faster than SHA-256; manifests written by syncwright carry both.
        let b3 = Some(HashAlgo::Blake3);
        let mut dview =
            dest_view(dst, opts, scan_options(opts, &filter, ctx, b3), acc, false).await?;
        let all_blake3 = match dview.all_files_have_blake3() {
            Ok(all) => all,
            Err(e) => {
                unusable_manifest(acc, &e);
                dview =
                    dest_view(dst, opts, scan_options(opts, &filter, ctx, b3), acc, true).await?;
                true
            }
        };
        let algo = Some(if all_blake3 { HashAlgo::Blake3 } else { HashAlgo::Sha256 });
        (src.scan(scan_options(opts, &filter, ctx, algo)).await?, dview, algo)
    } else {
        // Source and destination are listed at the same time.
        let src_scan = {
            let (src, so) = (src.clone(), scan_options(opts, &filter, ctx, None));
            tokio::spawn(async move { src.scan(so).await })
        };
        let dview = dest_view(dst, opts, scan_options(opts, &filter, ctx, None), acc, false).await;
        let src_scan =
            src_scan.await.map_err(|e| Error::internal(format!("scan task failed: {e}")))??;
        (src_scan, dview?, None)
    };
    if ctx.cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    acc.warnings.extend(src_scan.warnings.iter().cloned());
    acc.errors.extend(src_scan.errors.iter().cloned());
    if let Some(s) = &dview.scan {
        acc.errors.extend(s.errors.iter().cloned());
    }

    ctx.progress.set_stage(Stage::Planning);
    // A destination manifest records the exact mtimes of the source versions copied, so against it only the
    // source's own granularity (and the user's window) counts; a listing of the destination compares at the
    // coarser of the two (SFTP keeps whole seconds).
    let window = |trusted: bool| {
        let precision = if trusted {
            src.mtime_precision_ns()
        } else {
            src.mtime_precision_ns().max(dst.mtime_precision_ns())
        };
        (opts.modify_window_ms as i64 * 1_000_000).max(precision - 1)
    };
    let busy_after_ns = (opts.min_age_secs > 0.0).then(|| {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        now - (opts.min_age_secs * 1e9) as i64
    });
    let mut dopts = DiffOptions {
        compare: opts.compare,
        modify_window_ns: window(dview.trusted),
        delete: opts.delete,
        busy_after_ns,
        rules: dst.rules(),
        dest_precision_ns: dst.mtime_precision_ns(),
        list_identical: opts.list_identical && opts.dry_run,
        stored: dview.stored.take(),
        dest_changed: opts.dest_changed,
    };
    let plan = match dview.plan(&src_scan.manifest, &dopts) {
        Ok(p) => p,
        Err(e) if dview.trusted && e.kind() != ErrorKind::Cancelled => {
            // A damaged manifest is never trusted: look at the destination itself.
            unusable_manifest(acc, &e);
            dview = dest_view(dst, opts, scan_options(opts, &filter, ctx, algo), acc, true).await?;
            if let Some(s) = &dview.scan {
                acc.errors.extend(s.errors.iter().cloned());
            }
            dopts.modify_window_ns = window(dview.trusted);
            dview.plan(&src_scan.manifest, &dopts)?
        }
        Err(e) => return Err(e),
    };
    acc.errors.extend(plan.errors.iter().cloned());
    for a in &plan.actions {
        let w = match (a.op, a.reason) {
            (Op::Skip, Reason::Busy) => Some((
                WarningReason::Busy,
                format!("{} was modified within min_age: left for the next run", a.path),
            )),
            (Op::Skip, Reason::Unsupported) => Some((
                WarningReason::SymlinkSkipped,
                format!(
                    "{} is a symlink and the destination cannot hold symlinks: skipped",
                    a.path
                ),
            )),
            (Op::Skip, Reason::DestChanged) => Some((
                WarningReason::DestChanged,
                format!(
                    "{} was edited at the destination since the last sync: left alone (policy skip)",
                    a.path
                ),
            )),
            _ => None,
        };
        if let Some((r, m)) = w {
            acc.warnings.push(Warning::new(&a.path, r, m));
        }
    }
    acc.stats.unchanged = plan.totals.identical;
    acc.stats.skipped = plan.totals.skipped;
    acc.stats.files_planned = plan.totals.copy_files + plan.totals.symlinks;
    acc.stats.bytes_planned = plan.totals.copy_bytes;
    if opts.dry_run {
        return Ok(Some(plan));
    }
    if dview.trusted && plan.is_noop() && acc.errors.is_empty() {
        // Nothing to do and the destination manifest is already right: write nothing at all.
        ctx.progress.set_totals(0, 0);
        return Ok(None);
    }

    dst.write_state(&inflight_key(&opts.name), now_rfc3339().as_bytes()).await?;
    if let Some(s) = &dview.scan {
        sweep_temporaries(dst, s, &plan, acc).await;
    }

    // Execute.
    ctx.progress.set_stage(Stage::Transferring);
    let work: Vec<usize> = plan
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a.op, Op::Copy | Op::Symlink | Op::Mkdir | Op::SetMeta))
        .map(|(i, _)| i)
        .collect();
    let deletes: Vec<usize> = plan
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| a.op == Op::Delete)
        .map(|(i, _)| i)
        .collect();
    ctx.progress.set_totals((work.len() + deletes.len()) as u64, plan.totals.copy_bytes);
    let plan = Arc::new(plan);
    let shared = Arc::new(Shared {
        src: src.clone(),
        dst: dst.clone(),
        opts: opts.clone(),
        cancel: ctx.cancel.clone(),
        progress: ctx.progress.clone(),
        bandwidth: opts.bwlimit.map(|r| Bandwidth::new(r, opts.chunk_size.min(1 << 16))),
        trusted: dview.trusted,
        warnings: Mutex::new(Vec::new()),
        extras: Mutex::new(Vec::new()),
        retries: Default::default(),
        bytes: Default::default(),
        pending: Default::default(),
        commit_failures: Default::default(),
        src_breaker: remote_breaker(src, opts, ctx),
        dst_breaker: remote_breaker(dst, opts, ctx),
    });
    let results: Arc<Mutex<HashMap<usize, std::result::Result<Done, FileError>>>> = Arc::default();
    // Directories first (files may land in them), then everything else in parallel.
    let (dirs, rest): (Vec<usize>, Vec<usize>) =
        work.into_iter().partition(|i| plan.actions[*i].op == Op::Mkdir);
    run_parallel(&shared, &plan, dirs, 1, &results).await;
    // Commits batches whose oldest file has waited long enough; stopped between batches, never inside one (a
    // batch taken from the queue is always committed or removed).
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let ticker = {
        let sh = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(transfer::BATCH_AGE / 4) => sh.commit_if_due().await,
                    _ = stop_rx.changed() => return,
                }
            }
        })
    };
    run_parallel(&shared, &plan, rest, opts.transfers, &results).await;
    let _ = stop_tx.send(true);
    let _ = ticker.await;
    // The last batch of copies becomes visible now (or goes, after a cancel).
    shared.drain(!ctx.cancel.is_cancelled()).await;
    for (i, e) in std::mem::take(&mut *shared.commit_failures.lock().unwrap()) {
        results.lock().unwrap().insert(i, Err(e));
    }

    // Deletes: only in mirror mode, only after a run without errors, never more than max_delete.
    let mut errors_so_far =
        acc.errors.len() + results.lock().unwrap().values().filter(|r| r.is_err()).count();
    if !deletes.is_empty() && !ctx.cancel.is_cancelled() {
        ctx.progress.set_stage(Stage::Deleting);
        if errors_so_far > 0 {
            acc.warnings.push(Warning::new(
                "",
                WarningReason::DeletesSkipped,
                format!(
                    "{} deletes not done because {errors_so_far} errors occurred in this run",
                    deletes.len()
                ),
            ));
        } else if opts.max_delete.is_some_and(|m| deletes.len() as u64 > m) {
            let e = Error::invalid(format!(
                "{} deletes planned, more than max_delete {}: nothing was deleted",
                deletes.len(),
                opts.max_delete.unwrap_or(0)
            ));
            acc.errors.push(FileError::new(ErrorAction::Delete, "", &e));
            errors_so_far += 1;
        } else {
            // Files and links first, then directories deepest first.
            let mut order = deletes.clone();
            order.sort_by_key(|i| {
                let a = &plan.actions[*i];
                let is_dir = a.entry.as_ref().is_some_and(|e| e.kind == EntryKind::Dir);
                (is_dir, std::cmp::Reverse(a.path.matches('/').count()))
            });
            for i in order {
                let r = execute(&shared, i, &plan.actions[i]).await;
                results.lock().unwrap().insert(i, r);
            }
            prune_emptied_dirs(&shared, &src_scan.manifest, &plan, &deletes, &results).await;
        }
    }

    // Tally.
    let results = std::mem::take(&mut *results.lock().unwrap());
    for (i, r) in &results {
        let a = &plan.actions[*i];
        match r {
            Ok(Done::Written(_)) => match a.op {
                Op::Mkdir => acc.stats.dirs_created += 1,
                Op::SetMeta => {}
                _ if a.dest.is_some() => acc.stats.updated += 1,
                _ => acc.stats.created += 1,
            },
            Ok(Done::Deleted) => acc.stats.deleted += 1,
            Ok(Done::Kept(_)) => acc.stats.skipped += 1,
            Err(e) if e.kind == ErrorKind::Cancelled => {}
            Err(e) => acc.errors.push(e.clone()),
        }
    }
    acc.warnings.extend(std::mem::take(&mut *shared.warnings.lock().unwrap()));
    acc.stats.retries = shared.retries.load(Ordering::Relaxed);
    acc.stats.bytes_transferred = shared.bytes.load(Ordering::Relaxed);
    let _ = errors_so_far;
    if ctx.cancel.is_cancelled() {
        return Err(Error::cancelled());
    }

    // Commit: the destination manifest is replaced, and the run marked clean, only when nothing failed. Without
    // commit_manifest the run stays marked unclean, so the next one looks at the destination itself.
    if acc.errors.is_empty() && !opts.commit_manifest {
        acc.warnings.push(Warning::new(
            "",
            WarningReason::ManifestNotCommitted,
            "commit_manifest is off: the destination manifest was not replaced; the next run scans the destination",
        ));
    } else if acc.errors.is_empty() {
        ctx.progress.set_stage(Stage::Committing);
        let extras = std::mem::take(&mut *shared.extras.lock().unwrap());
        let dest_entries = dview.load();
        let m = dest_entries.and_then(|d| {
            merged_manifest(&src_scan.manifest, &d, &plan, &results, extras, &opts.name, dst)
        });
        // The commit runs under the retry policies like every other step (a remote manifest upload can meet a
        // busy service).
        let commit = async {
            let m = m?;
            let mut rng = fastrand::Rng::new();
            let (r, _) = crate::recovery::retry(
                &opts.retry,
                &ctx.cancel,
                &mut rng,
                |_, _, _| {},
                |_| async {
                    // Everything this run wrote is durable before the manifest says so.
                    dst.flush().await?;
                    dst.write_state_with(
                        &manifest_key(&opts.name),
                        &|w: &mut dyn std::io::Write| m.write_to(w),
                    )
                    .await?;
                    dst.delete_state(&inflight_key(&opts.name)).await
                },
            )
            .await;
            r
        };
        if let Err(e) = commit.await {
            acc.errors.push(FileError::new(ErrorAction::Commit, "", &e));
        }
    }
    Ok(None)
}

/// A breaker for a remote backend; local disks get none.
fn remote_breaker(
    b: &Arc<dyn Backend>,
    opts: &SyncOptions,
    ctx: &RunContext,
) -> Option<Arc<crate::recovery::CircuitBreaker>> {
    (b.scheme() != "local").then(|| {
        Arc::new(crate::recovery::CircuitBreaker::new(
            b.location(),
            opts.breaker,
            ctx.on_breaker.clone(),
        ))
    })
}

async fn run_parallel(
    shared: &Arc<Shared>,
    plan: &Arc<Plan>,
    items: Vec<usize>,
    workers: usize,
    results: &Arc<Mutex<HashMap<usize, std::result::Result<Done, FileError>>>>,
) {
    if items.is_empty() {
        return;
    }
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..workers.min(items.len()) {
        let (sh, plan, items, next, results) =
            (shared.clone(), plan.clone(), items.clone(), next.clone(), results.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = items.get(k) else { break };
                if sh.cancel.is_cancelled() {
                    break;
                }
                let r = execute(&sh, i, &plan.actions[i]).await;
                results.lock().unwrap_or_else(|p| p.into_inner()).insert(i, r);
            }
        }));
    }
    for h in handles {
        if let Err(e) = h.await {
            let err = Error::internal(format!("a transfer task failed: {e}"));
            results
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(usize::MAX, Err(FileError::new(ErrorAction::Copy, "", &err)));
        }
    }
}

/// Removes stale temporaries: those no planned copy will resume, and those older than a day.
async fn sweep_temporaries(dst: &Arc<dyn Backend>, scan: &ScanOutcome, plan: &Plan, acc: &mut Acc) {
    if scan.temporaries.is_empty() {
        return;
    }
    let wanted: HashSet<String> = plan
        .actions
        .iter()
        .filter(|a| a.op == Op::Copy)
        .filter_map(|a| a.entry.as_ref())
        .map(|e| version_fingerprint(&e.path, e.size, e.mtime_ns))
        .collect();
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    for t in &scan.temporaries {
        let young = now - t.mtime_ns < TEMP_MAX_AGE.as_nanos() as i64;
        if young && wanted.contains(&t.fingerprint) {
            continue;
        }
        match dst.delete(&t.path, EntryKind::File).await {
            Ok(()) => acc.warnings.push(Warning::new(
                &t.path,
                WarningReason::TemporarySwept,
                format!("removed the stale temporary {} ({} bytes)", t.path, t.size),
            )),
            Err(e) => acc.errors.push(FileError::new(ErrorAction::Delete, &t.path, &e)),
        }
    }
}

/// After mirror deletes, removes directories that no longer exist at the source and are now empty.
async fn prune_emptied_dirs(
    shared: &Arc<Shared>,
    source: &Manifest,
    plan: &Plan,
    deletes: &[usize],
    results: &Arc<Mutex<HashMap<usize, std::result::Result<Done, FileError>>>>,
) {
    let mut source_dirs: HashSet<&str> = HashSet::new();
    for e in &source.entries {
        if e.kind == EntryKind::Dir {
            source_dirs.insert(e.path.as_str());
        }
        let mut p = e.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !source_dirs.insert(parent) {
                break;
            }
            p = parent;
        }
    }
    let mut candidates: Vec<String> = Vec::new();
    for i in deletes {
        if !matches!(results.lock().unwrap().get(i), Some(Ok(Done::Deleted))) {
            continue;
        }
        let mut p = plan.actions[*i].path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !source_dirs.contains(parent) {
                candidates.push(parent.to_string());
            }
            p = parent;
        }
    }
    candidates.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    candidates.dedup();
    for d in candidates {
        // A directory that still holds files (excluded ones, say) stays; that is not an error.
        let _ = shared.dst.remove_empty_dir(&d).await;
    }
}

/// What the destination holds after a clean run.
fn merged_manifest(
    src: &Manifest,
    dest: &Manifest,
    plan: &Plan,
    results: &HashMap<usize, std::result::Result<Done, FileError>>,
    extras: Vec<Entry>,
    name: &str,
    dst: &Arc<dyn Backend>,
) -> Result<Manifest> {
    let precision = dst.mtime_precision_ns();
    // Source, destination and actions are all sorted by path: one merge pass, no index of a million paths.
    let (se, de, acts) = (&src.entries, &dest.entries, &plan.actions);
    let mut out: Vec<Entry> = Vec::with_capacity(se.len().max(de.len()));
    let (mut i, mut j, mut k) = (0, 0, 0);
    while i < se.len() || j < de.len() {
        let (s, d) = match (se.get(i), de.get(j)) {
            (Some(a), Some(b)) if a.path == b.path => (Some(a), Some(b)),
            (Some(a), Some(b)) if a.path < b.path => (Some(a), None),
            (Some(a), None) => (Some(a), None),
            (_, b) => (None, b),
        };
        i += usize::from(s.is_some());
        j += usize::from(d.is_some());
        let path = s.or(d).map(|e| e.path.as_str()).unwrap_or_default();
        while k < acts.len() && acts[k].path.as_str() < path {
            k += 1;
        }
        if k < acts.len() && acts[k].path == path {
            match results.get(&k) {
                Some(Ok(Done::Written(w))) => {
                    let mut w = w.clone();
                    if acts[k].op == Op::SetMeta
                        && let Some(d) = d
                    {
                        // Same content: the hashes the destination had still hold.
                        w.hashes.fill_from(&d.hashes);
                    }
                    out.push(w);
                }
                Some(Ok(Done::Deleted)) => {}
                Some(Ok(Done::Kept(kept))) => out.extend(kept.clone()),
                Some(Err(_)) => return Err(Error::internal("commit after a failed action")),
                // Not executed (kept, skipped): the destination's entry as it was, hashes included.
                None => out.extend(d.cloned()),
            }
        } else if let Some(d) = d {
            // Identical: the destination's entry, with any hash the source knows, and the source's exact mtime
            // when the destination holds it to its precision (a listing over SFTP says whole seconds; the
            // manifest keeps which source version is there).
            let mut d = d.clone();
            if let Some(s) = s {
                d.hashes.fill_from(&s.hashes);
                if s.kind == EntryKind::File
                    && d.same_at_dest(&Entry { mtime_ns: s.mtime_ns, ..d.clone() }, precision)
                {
                    d.mtime_ns = s.mtime_ns;
                }
            }
            out.push(d);
        }
    }
    if !extras.is_empty() {
        out.extend(extras);
        out.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    }
    // A directory entry stands for an empty directory only.
    let mut parents: HashSet<String> = HashSet::new();
    for e in &out {
        let mut p = e.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !parents.insert(parent.to_string()) {
                break;
            }
            p = parent;
        }
    }
    out.retain(|e| e.kind != EntryKind::Dir || !parents.contains(&e.path));
    let mut m = Manifest::new(name, dst.location());
    m.entries = out;
    m.normalise()?;
    Ok(m)
}
