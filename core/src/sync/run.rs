//! One sync run: scan -> diff -> plan -> execute -> commit -> [`SyncReport`].

use super::bandwidth::Bandwidth;
use super::marker::{Markers, RunMarker, read_markers, take_temporaries};
use super::options::SyncOptions;
use super::transfer::{self, Done, Shared, execute};
use crate::backend::Backend;
use crate::cancel::CancelFlag;
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::diff::{DiffOptions, Differ, diff};
use crate::manifest::filter::Filter;
use crate::manifest::hash::{HashAlgo, version_fingerprint};
use crate::manifest::plan::{CompareMode, Op, Plan, Reason};
use crate::manifest::scan::{ScanOptions, TempFile};
use crate::manifest::{Entry, EntryKind, Manifest, now_rfc3339, stream_entries_with};
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
    /// The circuit breakers of remote targets, shared with every other run that has the same registry (the
    /// engine's). None: this run makes its own, with the default settings.
    pub breakers: Option<Arc<crate::recovery::BreakerRegistry>>,
}

/// The state key of the destination manifest of snapshot `name`.
pub fn manifest_key(name: &str) -> String {
    format!("manifests/{name}.json")
}

pub use super::marker::inflight_key;

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
        report_type: crate::report::ReportType::Sync,
        run_all: None,
    }
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("cancel", &self.cancel)
            .field("store", &self.store)
            .field("breakers", &self.breakers)
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
        strict: false,
    }
}

/// Where the destination's entries come from.
enum DestEntries {
    /// Listed (and enriched from the manifest), or a manifest read whole.
    Memory(Manifest),
    /// syncwright's manifest in a local file, streamed (never held in memory while planning).
    File(PathBuf),
}

/// The destination as the plan sees it.
struct DestView {
    entries: DestEntries,
    /// The manifest was trusted without a listing: live entries are checked before they are replaced.
    trusted: bool,
    /// Paths whose live entry differs from what the manifest recorded.
    changed: HashSet<String>,
    /// The listing matches the manifest entry for entry (a no-change run then writes nothing).
    in_sync: bool,
    /// syncwright's temporaries found (those a run marker lists).
    temporaries: Vec<TempFile>,
    /// What listing the destination could not read.
    errors: Vec<FileError>,
    /// The manifest the listing was merged with: its hashes go into the next manifest at the commit (planning
    /// does not parse them).
    recorded: Option<Recorded>,
    /// The listed folders that hold entries, with their mode and mtime.
    dirs: Vec<Entry>,
}

impl DestView {
    fn trusted(entries: DestEntries) -> DestView {
        DestView {
            entries,
            trusted: true,
            changed: HashSet::new(),
            in_sync: true,
            temporaries: Vec::new(),
            errors: Vec::new(),
            recorded: None,
            dirs: Vec::new(),
        }
    }

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

    /// Whether a listed destination entry has this path (a user's file where a temporary would go).
    fn has_entry(&self, path: &str) -> bool {
        match &self.entries {
            DestEntries::Memory(m) => {
                m.entries.binary_search_by(|e| e.path.as_str().cmp(path)).is_ok()
            }
            DestEntries::File(_) => false,
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
            "the destination manifest cannot be used ({}): the destination is listed without it",
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

/// The destination as the plan sees it. A dry run whose remote destination cannot be reached (or whose breaker is
/// open) plans against the manifest cached from the last time it was read or written, and says so. How the
/// listing went counts for the destination's `breaker` (which a dry run consults here: a run that writes was
/// admitted by it before it began).
async fn dest_view(
    dst: &Arc<dyn Backend>,
    opts: &SyncOptions,
    scan_opts: ScanOptions,
    acc: &mut Acc,
    markers: &mut Markers,
    breaker: Option<&crate::recovery::CircuitBreaker>,
) -> Result<DestView> {
    let admitted = match breaker.filter(|_| opts.dry_run) {
        Some(b) => b.check(),
        None => Ok(()),
    };
    let live = match admitted {
        Ok(()) => {
            let r = dest_view_live(dst, opts, scan_opts, acc, markers).await;
            if let Some(b) = breaker {
                b.record_result(&r);
            }
            r
        }
        Err(e) => Err(e),
    };
    match live {
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
            Ok(DestView::trusted(DestEntries::File(cached.path)))
        }
        r => r,
    }
}

/// The destination listed (never trusted blindly: a file removed or edited there is seen), with what only the
/// manifest knows (content hashes, the exact source versions copied) added to the entries it recorded; or, with
/// `trust_dest_manifest`, the manifest alone.
async fn dest_view_live(
    dst: &Arc<dyn Backend>,
    opts: &SyncOptions,
    scan_opts: ScanOptions,
    acc: &mut Acc,
    markers: &mut Markers,
) -> Result<DestView> {
    *markers = read_markers(&**dst, &opts.name).await?;
    let unclean = markers.own.is_some();
    let key = manifest_key(&opts.name);
    if opts.trust_dest_manifest && !unclean && !opts.rescan_dest {
        if let Some(p) = dst.state_file(&key).await? {
            return Ok(DestView::trusted(DestEntries::File(p)));
        }
        if let Some(bytes) = dst.read_state(&key).await? {
            match Manifest::from_slice(&bytes) {
                Ok(m) => return Ok(DestView::trusted(DestEntries::Memory(m))),
                Err(e) => unusable_manifest(acc, &e),
            }
        }
    }
    let filter = scan_opts.filter.clone();
    let mut scan = match dst.scan(scan_opts).await {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(DestView {
                entries: DestEntries::Memory(Manifest::new(opts.name.clone(), dst.location())),
                trusted: false,
                changed: HashSet::new(),
                in_sync: false,
                temporaries: Vec::new(),
                errors: Vec::new(),
                recorded: None,
                dirs: Vec::new(),
            });
        }
        Err(e) => return Err(e),
    };
    take_temporaries(&mut scan, &markers.listed);
    let mut listing = std::mem::replace(&mut scan.manifest, Manifest::new("", ""));
    let recorded = match dst.state_file(&key).await? {
        Some(p) => Some(Recorded::File(p)),
        None => dst.read_state(&key).await?.map(Recorded::Bytes),
    };
    let merge = MergeOptions {
        enrich: !opts.rescan_dest,
        metadata: dst.listing_has_metadata(),
        precision_ns: dst.mtime_precision_ns(),
        filter,
    };
    let (changed, in_sync, recorded) = match recorded {
        None => (HashSet::new(), false, None),
        Some(r) => {
            match crate::backend::blocking(|| merge_recorded(&mut listing.entries, &r, &merge)) {
                Ok((changed, in_sync)) => {
                    (changed, in_sync && !unclean, (!opts.rescan_dest).then_some(r))
                }
                Err(e) => {
                    unusable_manifest(acc, &e);
                    (HashSet::new(), false, None)
                }
            }
        }
    };
    Ok(DestView {
        entries: DestEntries::Memory(listing),
        trusted: false,
        changed,
        in_sync,
        temporaries: std::mem::take(&mut scan.temporaries),
        errors: std::mem::take(&mut scan.errors),
        recorded,
        dirs: std::mem::take(&mut scan.dirs),
    })
}

/// The manifest syncwright recorded at the destination.
enum Recorded {
    /// In a local file (streamed).
    File(PathBuf),
    /// Read whole.
    Bytes(Vec<u8>),
}

/// How a listing takes in the recorded manifest.
struct MergeOptions {
    /// Give recorded entries that are still there their recorded mtime (the source's exact one).
    enrich: bool,
    /// The listing has mtimes and modes (else a recorded entry matches by kind and size, and gives both).
    metadata: bool,
    /// The destination's mtime precision.
    precision_ns: i64,
    /// The filters the listing was made with (recorded entries they exclude were not looked for).
    filter: Filter,
}

/// Merges the recorded manifest into the sorted listing `live`: returns the paths whose live entry is not the
/// recorded one (edited, replaced or removed behind syncwright's back), and whether the two agree entirely.
fn merge_recorded(
    live: &mut [Entry],
    recorded: &Recorded,
    o: &MergeOptions,
) -> Result<(HashSet<String>, bool)> {
    let mut changed = HashSet::new();
    let (mut i, mut matched, mut extra) = (0usize, 0usize, 0usize);
    let mut take = |m: Entry| {
        while i < live.len() && live[i].path < m.path {
            i += 1;
        }
        if i < live.len() && live[i].path == m.path {
            let l = &mut live[i];
            let same = if o.metadata {
                l.same_at_dest(&m, o.precision_ns)
            } else {
                l.kind == m.kind && (l.kind != EntryKind::File || l.size == m.size)
            };
            if !same {
                changed.insert(m.path);
                return;
            }
            matched += 1;
            if o.enrich {
                if l.kind == EntryKind::File {
                    l.mtime_ns = m.mtime_ns;
                }
                if !o.metadata {
                    l.mode = m.mode;
                }
            }
        } else if m.kind != EntryKind::Dir && !o.filter.excludes(&m.path, false) {
            // Recorded, and gone: removed behind syncwright's back.
            changed.insert(m.path);
        } else {
            extra += 1;
        }
    };
    // Planning needs no hashes (-c hashes both sides afresh); parsing them is most of a manifest's cost.
    recorded.each(false, &mut take)?;
    let in_sync = changed.is_empty() && extra == 0 && matched == live.len();
    Ok((changed, in_sync))
}

impl Recorded {
    /// Passes each recorded entry, in path order, to `f` (without its hashes unless `hashes`).
    fn each(&self, hashes: bool, f: &mut dyn FnMut(Entry)) -> Result<()> {
        match self {
            Recorded::File(p) => {
                stream_entries_with(open_buffered(p)?, hashes, |e| {
                    f(e);
                    Ok(())
                })?;
            }
            Recorded::Bytes(b) => {
                for e in Manifest::from_slice(b)?.entries {
                    f(e);
                }
            }
        }
        Ok(())
    }
}

/// Gives the entries of the new manifest `m` that are still the recorded version the hashes recorded for it.
fn refill_hashes(m: &mut Manifest, recorded: &Recorded) -> Result<()> {
    let live = &mut m.entries;
    let mut i = 0usize;
    recorded.each(true, &mut |r: Entry| {
        if r.hashes.is_empty() {
            return;
        }
        while i < live.len() && live[i].path < r.path {
            i += 1;
        }
        // Entries written this run carry their own hashes; the others are the versions the listing matched.
        if let Some(l) = live.get_mut(i)
            && l.path == r.path
            && l.hashes.is_empty()
            && l.kind == r.kind
            && l.size == r.size
            && l.mtime_ns == r.mtime_ns
        {
            l.hashes.fill_from(&r.hashes);
        }
    })
}

/// Refuses a sync whose roots overlap (unless the inner one is excluded) and a backup folder that is not usable.
fn check_roots(
    src: &Arc<dyn Backend>,
    dst: &Arc<dyn Backend>,
    filter: &Filter,
    opts: &SyncOptions,
) -> Result<()> {
    let (s, d) = (src.root_id(), dst.root_id());
    if let (Some(s), Some(d)) = (&s, &d) {
        if let Some(rel) = s.relative(d) {
            if rel.is_empty() {
                return Err(Error::invalid(format!(
                    "the source and the destination are the same folder ({})",
                    d.path
                )));
            }
            if !filter.excludes(&rel, true) {
                return Err(Error::invalid(format!(
                    "the destination {} is inside the source {}: every run would copy it into itself; exclude \
                     {rel}/ or choose a destination outside the source",
                    d.path, s.path
                )));
            }
        }
        if let Some(rel) = d.relative(s)
            && !rel.is_empty()
            && (!filter.excludes(&rel, true) || opts.delete_excluded)
        {
            return Err(Error::invalid(format!(
                "the source {} is inside the destination {}: a mirror of it would delete the source itself; \
                 exclude {rel}/ (without delete_excluded) or choose another destination",
                s.path, d.path
            )));
        }
    }
    let Some(b) = &opts.backup_dir else { return Ok(()) };
    if b.starts_with('/') && !dst.supports_absolute_backup() {
        return Err(Error::invalid(format!(
            "backup_dir {b}: an absolute backup folder is not supported for {} destinations; give one relative \
             to the destination (and exclude it)",
            dst.scheme()
        )));
    }
    let inside_rel = if b.starts_with('/') {
        d.as_ref().and_then(|d| {
            let abs = crate::backend::RootId {
                service: d.service.clone(),
                path: if d.service == "local" {
                    crate::backend::local::canonical_lenient(std::path::Path::new(b))
                        .to_string_lossy()
                        .into_owned()
                } else {
                    b.trim_end_matches('/').to_string()
                },
            };
            if let Some(s) = &s
                && (s.relative(&abs).is_some() || abs.relative(s).is_some())
            {
                return Some(Err(Error::invalid(format!(
                    "backup_dir {b} overlaps the source {}",
                    s.path
                ))));
            }
            if abs.relative(d).is_some() {
                return Some(Err(Error::invalid(format!(
                    "backup_dir {b} holds the destination {}",
                    d.path
                ))));
            }
            d.relative(&abs).map(Ok)
        })
    } else {
        Some(Ok(b.trim_matches('/').to_string()))
    };
    if let Some(rel) = inside_rel {
        let rel = rel?;
        if !filter.excludes(&rel, true) || opts.delete_excluded {
            return Err(Error::invalid(format!(
                "backup_dir {b} is inside the destination: exclude {rel}/ from the sync (without \
                 delete_excluded) so that it is neither synced nor deleted"
            )));
        }
    }
    Ok(())
}

/// Why the plan's deletes must not be done: an empty source, more than `max_delete`, or (without an explicit
/// `max_delete`) more than half of the destination's files.
fn delete_refusal(plan: &Plan, source_empty: bool, opts: &SyncOptions) -> Option<String> {
    let t = &plan.totals;
    if t.deletes == 0 {
        return None;
    }
    if source_empty && !opts.allow_empty_source {
        return Some(format!(
            "the source is empty while the destination holds {} files: none of the {} deletes were done (an \
             unmounted disk or a wrong path must not empty the mirror; allow_empty_source empties it on purpose)",
            t.dest_files, t.deletes
        ));
    }
    let file_deletes = plan
        .actions
        .iter()
        .filter(|a| {
            a.op == Op::Delete && a.entry.as_ref().is_some_and(|e| e.kind != EntryKind::Dir)
        })
        .count() as u64;
    match opts.max_delete {
        Some(m) if t.deletes > m => Some(format!(
            "{} deletes planned, more than max_delete {m}: nothing was deleted",
            t.deletes
        )),
        Some(_) => None,
        None if file_deletes * 2 > t.dest_files => Some(format!(
            "{file_deletes} of the destination's {} files would be deleted, more than half: nothing was deleted \
             (give max_delete to allow it)",
            t.dest_files
        )),
        None => None,
    }
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
    check_roots(src, dst, &filter, opts)?;
    // The breakers of the remote ends: while one is open (another run, or an earlier attempt, found its target
    // failing), the run fails at once, before any call there, with the time until its probe as retry-after.
    let registry = ctx.breakers.clone().unwrap_or_default();
    let src_breaker = remote_breaker(src, &registry);
    // Both ends on one target share its breaker: it is consulted once.
    let dst_breaker = remote_breaker(dst, &registry)
        .filter(|d| !src_breaker.as_ref().is_some_and(|s| Arc::ptr_eq(s, d)));
    admit_run(&src_breaker, &dst_breaker, opts.dry_run)?;
    ctx.progress.set_stage(Stage::Scanning);
    // -c compares real content on both sides: each is hashed afresh (BLAKE3), never taken from a cache or a
    // manifest that a change behind the same size and mtime would leave stale; a backend that lists its own
    // content hash (Drive's SHA-256) is not read, and the other side is hashed with its algorithm.
    let checksum = opts.compare == CompareMode::Checksum;
    let algo =
        checksum.then(|| dst.native_hash().or(src.native_hash()).unwrap_or(HashAlgo::Blake3));
    let mut src_opts = scan_options(opts, &filter, ctx, algo);
    src_opts.strict = true;
    // With delete_excluded the destination is listed whole: what the filters exclude is deleted too.
    let dst_filter = if opts.delete_excluded { Filter::default() } else { filter.clone() };
    let mut dst_opts = scan_options(opts, &dst_filter, ctx, algo);
    if checksum {
        src_opts.hash_cache = None;
        dst_opts.hash_cache = None;
    }
    // Source and destination are listed at the same time; how each listing went counts for its breaker.
    let src_scan = {
        let (src, b) = (src.clone(), src_breaker.clone());
        tokio::spawn(async move {
            let r = src.scan(src_opts).await;
            if let Some(b) = &b {
                b.record_result(&r);
            }
            r
        })
    };
    let mut markers = Markers::default();
    let dview = dest_view(dst, opts, dst_opts, acc, &mut markers, dst_breaker.as_deref()).await;
    let mut src_scan =
        src_scan.await.map_err(|e| Error::internal(format!("scan task failed: {e}")))??;
    let mut dview = dview?;
    if ctx.cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    // A destination used as a source may hold the temporaries of a run into it: they are not the user's files.
    let src_markers = read_markers(&**src, &opts.name).await.unwrap_or_default();
    take_temporaries(&mut src_scan, &src_markers.listed);
    acc.warnings.extend(src_scan.warnings.iter().cloned());
    acc.errors.extend(src_scan.errors.iter().cloned());
    acc.errors.extend(std::mem::take(&mut dview.errors));

    ctx.progress.set_stage(Stage::Planning);
    // A recorded mtime is the source's exact one, so only the source's own granularity (and the user's window)
    // counts; the plan compares an mtime as a listing gives it (SFTP keeps whole seconds) at the destination's
    // precision.
    let window = |_trusted: bool| {
        (opts.modify_window_ms as i64).saturating_mul(1_000_000).max(src.mtime_precision_ns() - 1)
    };
    let busy_after_ns = (opts.min_age_secs > 0.0).then(|| {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        now.saturating_sub((opts.min_age_secs * 1e9).min(i64::MAX as f64) as i64)
    });
    let mut dopts = DiffOptions {
        compare: opts.compare,
        modify_window_ns: window(dview.trusted),
        delete: opts.delete,
        busy_after_ns,
        rules: dst.rules(),
        dest_precision_ns: dst.mtime_precision_ns(),
        list_identical: opts.list_identical && opts.dry_run,
        changed: std::mem::take(&mut dview.changed),
        protect: (!opts.delete_excluded).then(|| filter.clone()),
        dest_changed: opts.dest_changed,
    };
    let mut plan = match dview.plan(&src_scan.manifest, &dopts) {
        Ok(p) => p,
        Err(e) if dview.trusted && e.kind() != ErrorKind::Cancelled => {
            // A damaged manifest is never trusted: look at the destination itself.
            unusable_manifest(acc, &e);
            let relaxed = SyncOptions { trust_dest_manifest: false, ..opts.clone() };
            let mut so = scan_options(opts, &dst_filter, ctx, algo);
            if checksum {
                so.hash_cache = None;
            }
            dview = dest_view(dst, &relaxed, so, acc, &mut markers, None).await?;
            acc.errors.extend(std::mem::take(&mut dview.errors));
            dopts.modify_window_ns = window(dview.trusted);
            dopts.changed = std::mem::take(&mut dview.changed);
            dview.plan(&src_scan.manifest, &dopts)?
        }
        Err(e) => return Err(e),
    };
    // A source entry that could not be read (its content hashed, say) is reported once, by the scan: it is not
    // copied too (which would fail again).
    let unreadable: HashSet<&str> = src_scan.errors.iter().map(|e| e.path.as_str()).collect();
    if !unreadable.is_empty() {
        plan.actions.retain(|a| {
            !(matches!(a.op, Op::Copy | Op::Symlink | Op::SetMeta | Op::Mkdir)
                && unreadable.contains(a.path.as_str()))
        });
    }
    // A user's file where a copy's temporary would go (a name of the temporary's form that no marker lists) is
    // never overwritten or resumed: that copy is a conflict.
    let mut temps: Vec<String> = Vec::new();
    let mut blocked: Vec<usize> = Vec::new();
    for (i, a) in plan.actions.iter().enumerate() {
        if !matches!(a.op, Op::Copy | Op::Symlink) {
            continue;
        }
        let Some(t) = a.entry.as_ref().and_then(|e| dst.temp_path(&a.path, e)) else { continue };
        if dview.has_entry(&t) {
            blocked.push(i);
        } else {
            temps.push(t);
        }
    }
    for i in blocked.into_iter().rev() {
        let a = plan.actions.remove(i);
        let e = Error::new(
            ErrorKind::Conflict,
            format!(
                "{} cannot be written: its temporary's name is taken by a file that is not syncwright's; \
                 rename that file",
                a.path
            ),
        );
        plan.errors.push(FileError::new(ErrorAction::Copy, &a.path, &e));
    }
    plan.recount();
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
    // Deletes are refused as a whole: after an error, with an empty source, above the cap.
    // (After an error they are refused anyway, and a warning says so instead.)
    let refusal = delete_refusal(&plan, src_scan.manifest.entries.is_empty(), opts);
    let refuse = |acc: &mut Acc, why: &str| {
        acc.errors.push(FileError::new(ErrorAction::Delete, "", &Error::invalid(why.to_string())));
    };
    if opts.dry_run {
        if let Some(why) = refusal.as_deref().filter(|_| acc.errors.is_empty()) {
            refuse(acc, why);
        }
        return Ok(Some(plan));
    }
    let folder_precision = src.mtime_precision_ns().max(dst.mtime_precision_ns());
    // A run that trusts the manifest does not list the destination's folders either: when it writes, it gives
    // every folder the source's metadata (a folder whose mode alone changed waits for a run that writes).
    let fix_folders = if !dst.folder_metadata() || !src.folder_metadata() {
        Vec::new()
    } else {
        folders_to_fix(&src_scan.dirs, &dview.dirs, folder_precision)
    };
    if plan.is_noop()
        && acc.errors.is_empty()
        && (fix_folders.is_empty() || dview.trusted)
        && dview.temporaries.is_empty()
        && (dview.trusted || dview.in_sync)
    {
        // Nothing to do and the destination manifest is already right: write nothing at all.
        ctx.progress.set_totals(0, 0);
        return Ok(None);
    }

    // The marker lists every temporary this run may create before any is (and those of earlier runs still
    // there), so that whoever comes next, on any host, can tell them from the user's files.
    temps.extend(dview.temporaries.iter().map(|t| t.path.clone()));
    let marker = RunMarker::new(temps);
    dst.write_state(&inflight_key(&opts.name), &marker.to_bytes()).await?;
    let swept = sweep_temporaries(dst, &dview.temporaries, &plan, acc).await;

    // Execute.
    ctx.progress.set_stage(Stage::Transferring);
    let is_work = |a: &crate::manifest::plan::Action| {
        matches!(a.op, Op::Copy | Op::Symlink | Op::Mkdir | Op::SetMeta)
    };
    let work: Vec<usize> =
        plan.actions.iter().enumerate().filter(|(_, a)| is_work(a)).map(|(i, _)| i).collect();
    let deletes: Vec<usize> = plan
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| a.op == Op::Delete && a.reason != Reason::TypeChanged)
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
        src_breaker,
        dst_breaker,
        marker: tokio::sync::Mutex::new(marker),
    });
    let results: Arc<Mutex<HashMap<usize, std::result::Result<Done, FileError>>>> = Arc::default();
    // Folders the source replaces with a file or link go first, with their entries (mirror mode, deletes
    // allowed); then directories (files may land in them), then everything else in parallel.
    let deletes_allowed = refusal.is_none() && acc.errors.is_empty();
    if !deletes_allowed
        && acc.errors.is_empty()
        && let Some(why) = &refusal
        && deletes.is_empty()
    {
        // Only replacements needed deletes: the refusal is said here.
        refuse(acc, why);
    }
    let blocked = replace_folders(&shared, &plan, deletes_allowed, &results).await;
    let (dirs, rest): (Vec<usize>, Vec<usize>) = work
        .into_iter()
        .filter(|i| !blocked.contains(i))
        .partition(|i| plan.actions[*i].op == Op::Mkdir);
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

    // Deletes: only in mirror mode, only after a run without errors, never past the caps.
    let errors_so_far =
        acc.errors.len() + results.lock().unwrap().values().filter(|r| r.is_err()).count();
    if !deletes.is_empty() && !ctx.cancel.is_cancelled() {
        ctx.progress.set_stage(Stage::Deleting);
        if errors_so_far == 0
            && let Some(why) = &refusal
        {
            refuse(acc, why);
        } else if errors_so_far > 0 {
            acc.warnings.push(Warning::new(
                "",
                WarningReason::DeletesSkipped,
                format!(
                    "{} deletes not done because {errors_so_far} errors occurred in this run",
                    deletes.len()
                ),
            ));
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
        }
    }
    if opts.delete && !ctx.cancel.is_cancelled() {
        let mut emptied: Vec<String> = deletes
            .iter()
            .filter(|i| matches!(results.lock().unwrap().get(i), Some(Ok(Done::Deleted))))
            .map(|i| plan.actions[*i].path.clone())
            .collect();
        emptied.extend(swept);
        prune_emptied_dirs(&shared, &src_scan.manifest, &emptied).await;
    }

    // Folders with content get the source's mode and mtime last (writing into them changed their mtimes).
    if !ctx.cancel.is_cancelled() {
        folder_meta(&shared, &fix_folders, acc).await;
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
            let mut m = m?;
            if let Some(r) = &dview.recorded {
                crate::backend::blocking(|| refill_hashes(&mut m, r))?;
            }
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
    Ok(opts.report_plan.then(|| Plan::clone(&plan)))
}

/// The source's folders with content whose mode or mtime the destination's folder does not have (or that the
/// destination lacks: the run creates them).
fn folders_to_fix<'a>(
    src_dirs: &'a [Entry],
    dst_dirs: &[Entry],
    precision_ns: i64,
) -> Vec<&'a Entry> {
    src_dirs
        .iter()
        .filter(|s| {
            !dst_dirs.binary_search_by(|d| d.path.as_str().cmp(&s.path)).is_ok_and(|i| {
                let d = &dst_dirs[i];
                d.mode == s.mode && (d.mtime_ns - s.mtime_ns).abs() < precision_ns.max(1)
            })
        })
        .collect()
}

/// Gives those folders the source's mode and mtime; a folder that is not there (all its files failed) is left
/// alone.
async fn folder_meta(sh: &Arc<Shared>, fix: &[&Entry], acc: &mut Acc) {
    for s in fix {
        match sh.dst.stat(&s.path).await {
            Ok(Some(d)) if d.kind == EntryKind::Dir => {
                if let Err(e) = sh.dst.set_meta(&s.path, s).await {
                    acc.errors.push(FileError::new(ErrorAction::Mkdir, &s.path, &e));
                }
            }
            Ok(_) => {}
            Err(e) => acc.errors.push(FileError::new(ErrorAction::Mkdir, &s.path, &e)),
        }
    }
}

/// Replaces the destination folders the source has as files or links (reason `type_changed`, destination a
/// folder): their entries are deleted (or moved to the backup folder), deepest first, then the folders. A
/// folder that cannot go (deletes refused, something in it the listing did not show) makes that path a
/// `conflict` error and its entries stay. Returns the actions that must not run.
async fn replace_folders(
    sh: &Arc<Shared>,
    plan: &Plan,
    deletes_allowed: bool,
    results: &Arc<Mutex<HashMap<usize, std::result::Result<Done, FileError>>>>,
) -> HashSet<usize> {
    let mut blocked = HashSet::new();
    for (i, a) in plan.actions.iter().enumerate() {
        let replaces_dir = a.reason == Reason::TypeChanged
            && matches!(a.op, Op::Copy | Op::Symlink)
            && a.dest.as_ref().is_some_and(|d| d.kind == EntryKind::Dir);
        if !replaces_dir || sh.cancel.is_cancelled() {
            continue;
        }
        let prefix = format!("{}/", a.path);
        let inside: Vec<usize> = plan
            .actions
            .iter()
            .enumerate()
            .filter(|(_, x)| {
                x.op == Op::Delete && x.reason == Reason::TypeChanged && x.path.starts_with(&prefix)
            })
            .map(|(j, _)| j)
            .collect();
        let fail = |why: String| {
            let e = Error::new(ErrorKind::Conflict, why).with_path(a.path.as_str());
            FileError::new(ErrorAction::Copy, &a.path, &e)
        };
        if !inside.is_empty() && !deletes_allowed {
            blocked.insert(i);
            results.lock().unwrap().insert(
                i,
                Err(fail(format!(
                    "{} is a folder at the destination and a file or link at the source: not replaced, \
                     because this run's deletes are refused",
                    a.path
                ))),
            );
            continue;
        }
        let mut order = inside.clone();
        order.sort_by_key(|j| {
            let x = &plan.actions[*j];
            let is_dir = x.entry.as_ref().is_some_and(|e| e.kind == EntryKind::Dir);
            (is_dir, std::cmp::Reverse(x.path.matches('/').count()))
        });
        let mut ok = true;
        for j in order {
            let r = execute(sh, j, &plan.actions[j]).await;
            ok &= r.is_ok();
            results.lock().unwrap().insert(j, r);
        }
        // The folders in between, deepest first, then the folder itself.
        let mut dirs: Vec<String> = inside
            .iter()
            .flat_map(|j| {
                let p = plan.actions[*j].path.as_str();
                let mut v = Vec::new();
                let mut q = p;
                while let Some((up, _)) = q.rsplit_once('/') {
                    if up.len() <= a.path.len() {
                        break;
                    }
                    v.push(up.to_string());
                    q = up;
                }
                v
            })
            .collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        dirs.dedup();
        for d in dirs {
            let _ = sh.dst.remove_empty_dir(&d).await;
        }
        let gone = ok && matches!(sh.dst.stat(&a.path).await, Ok(None))
            || matches!(sh.dst.remove_empty_dir(&a.path).await, Ok(true));
        if !gone {
            blocked.insert(i);
            results.lock().unwrap().insert(
                i,
                Err(fail(format!(
                    "{} is a folder at the destination and a file or link at the source: not replaced, \
                     because the folder still holds entries this run does not sync (excluded ones, say)",
                    a.path
                ))),
            );
        }
    }
    blocked
}

/// The breaker of a backend's remote target; local disks get none.
fn remote_breaker(
    b: &Arc<dyn Backend>,
    registry: &crate::recovery::BreakerRegistry,
) -> Option<Arc<crate::recovery::CircuitBreaker>> {
    b.breaker_target().map(|t| registry.get(&t))
}

/// Lets a run begin only when the breakers of its remote ends admit it (a half-open one admits it as its probe):
/// otherwise the refusal of the first that does not ([`crate::recovery::CircuitBreaker::check`]), and a probe
/// admitted at the other end is given back. A dry run is not stopped by its destination's breaker: it plans
/// against the cached manifest instead (see `dest_view`).
fn admit_run(
    src: &Option<Arc<crate::recovery::CircuitBreaker>>,
    dst: &Option<Arc<crate::recovery::CircuitBreaker>>,
    dry_run: bool,
) -> Result<()> {
    if let Some(b) = src {
        b.check()?;
    }
    if let Some(b) = dst.as_ref().filter(|_| !dry_run)
        && let Err(e) = b.check()
    {
        if let Some(s) = src {
            s.release();
        }
        return Err(e);
    }
    Ok(())
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

/// Removes stale temporaries (of those the run markers list): those no planned copy will resume, and those
/// older than a day. Returns the paths removed.
async fn sweep_temporaries(
    dst: &Arc<dyn Backend>,
    temporaries: &[TempFile],
    plan: &Plan,
    acc: &mut Acc,
) -> Vec<String> {
    let mut swept = Vec::new();
    if temporaries.is_empty() {
        return swept;
    }
    let wanted: HashSet<String> = plan
        .actions
        .iter()
        .filter(|a| a.op == Op::Copy)
        .filter_map(|a| a.entry.as_ref())
        .map(|e| version_fingerprint(&e.path, e.size, e.mtime_ns))
        .collect();
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    for t in temporaries {
        let young = now.saturating_sub(t.mtime_ns) < TEMP_MAX_AGE.as_nanos() as i64;
        if young && wanted.contains(&t.fingerprint) {
            continue;
        }
        match dst.delete(&t.path, EntryKind::File).await {
            Ok(()) => {
                acc.warnings.push(Warning::new(
                    &t.path,
                    WarningReason::TemporarySwept,
                    format!("removed the stale temporary {} ({} bytes)", t.path, t.size),
                ));
                swept.push(t.path.clone());
            }
            Err(e) => acc.errors.push(FileError::new(ErrorAction::Delete, &t.path, &e)),
        }
    }
    swept
}

/// In mirror mode, after deletes (and swept temporaries), removes the folders above `removed` paths that the
/// source does not have and that are now empty.
async fn prune_emptied_dirs(shared: &Arc<Shared>, source: &Manifest, removed: &[String]) {
    if removed.is_empty() {
        return;
    }
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
    for r in removed {
        let mut p = r.as_str();
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
