//! Executing one action: a file copy (streamed, hashed, rate-limited, cancellable, retried when the source changes
//! under it), a symlink, a directory, a metadata fix, a delete; and the destination-edited policy.

use super::bandwidth::Bandwidth;
use super::options::SyncOptions;
use crate::backend::{Backend, PreparedWrite, WriteSink};
use crate::cancel::CancelFlag;
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::hash::Hasher;
use crate::manifest::plan::{Action, DestChangedPolicy, Op, Reason};
use crate::manifest::{Entry, EntryKind};
use crate::progress::ProgressTracker;
use crate::report::{ErrorAction, FileError, Warning, WarningReason};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What an action left at the destination.
#[derive(Debug, Clone)]
pub(crate) enum Done {
    /// The destination now holds this entry.
    Written(Entry),
    /// The entry was deleted.
    Deleted,
    /// Left alone: the destination keeps this entry (or nothing).
    Kept(Option<Entry>),
}

/// Everything the transfers of one run share.
pub(crate) struct Shared {
    pub src: Arc<dyn Backend>,
    pub dst: Arc<dyn Backend>,
    pub opts: SyncOptions,
    pub cancel: CancelFlag,
    pub progress: Arc<ProgressTracker>,
    pub bandwidth: Option<Bandwidth>,
    /// The destination manifest was trusted, so live destination entries are checked before they are replaced.
    pub trusted: bool,
    pub warnings: Mutex<Vec<Warning>>,
    /// Entries the run added besides its actions (kept copies of edited destination files).
    pub extras: Mutex<Vec<Entry>>,
    pub retries: AtomicU64,
    pub bytes: AtomicU64,
    /// Breakers of the remote ends, shared with the engine's other runs (none for local disks: a local failure is
    /// not a flaky link; one for both ends on the same target).
    pub src_breaker: Option<Arc<crate::recovery::CircuitBreaker>>,
    /// See `src_breaker`.
    pub dst_breaker: Option<Arc<crate::recovery::CircuitBreaker>>,
    /// Complete temporaries waiting for one flush of their batch before they are renamed.
    pub pending: tokio::sync::Mutex<Batch>,
    /// Actions whose file was copied but could not be made visible: (action index, error).
    pub commit_failures: Mutex<Vec<(usize, FileError)>>,
    /// The run marker at the destination: every temporary is listed in it before it is created.
    pub marker: tokio::sync::Mutex<super::marker::RunMarker>,
}

/// Files made durable together: one flush (syncfs) for up to this many files or bytes, instead of one fsync each.
pub(crate) const BATCH_FILES: usize = 512;
/// See [`BATCH_FILES`].
pub(crate) const BATCH_BYTES: u64 = 256 << 20;
/// ... and no file waits longer than this to become visible.
pub(crate) const BATCH_AGE: std::time::Duration = std::time::Duration::from_secs(1);

/// Complete temporaries waiting for their flush.
#[derive(Default)]
pub(crate) struct Batch {
    /// (action index, path, the temporary, whether the file it replaces goes to the backup folder first).
    items: Vec<(usize, String, Box<dyn PreparedWrite>, bool)>,
    bytes: u64,
    since: Option<std::time::Instant>,
}

impl Shared {
    pub fn warn(&self, w: Warning) {
        self.warnings.lock().unwrap_or_else(|p| p.into_inner()).push(w);
    }

    fn fail_commit(&self, idx: usize, path: &str, e: &Error) {
        self.commit_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((idx, FileError::new(ErrorAction::Copy, path, e)));
    }

    /// Lists `temp` in the destination's run marker (rewriting it) unless it is there already: a temporary is
    /// never created before a marker names it.
    pub async fn ensure_listed(&self, temp: Option<String>) -> Result<()> {
        let Some(t) = temp else { return Ok(()) };
        let mut m = self.marker.lock().await;
        if m.temporaries.contains(&t) {
            return Ok(());
        }
        m.temporaries.push(t);
        self.dst.write_state(&super::marker::inflight_key(&self.opts.name), &m.to_bytes()).await
    }

    /// Moves what is at `path` to the backup folder, when the run has one; a path with nothing there is fine.
    pub async fn backup(&self, path: &str) -> Result<()> {
        let Some(dir) = &self.opts.backup_dir else { return Ok(()) };
        match self.dst.backup(path, dir).await {
            Ok(to) => {
                self.warn(Warning::new(
                    path,
                    WarningReason::BackedUp,
                    format!("{path}: the replaced or deleted version was moved to {to}"),
                ));
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Queues a complete temporary; a full batch is flushed and committed at once.
    async fn enqueue(
        &self,
        idx: usize,
        path: &str,
        w: Box<dyn PreparedWrite>,
        size: u64,
        backup: bool,
    ) {
        let full = {
            let mut b = self.pending.lock().await;
            b.items.push((idx, path.to_string(), w, backup));
            b.bytes += size;
            let since = *b.since.get_or_insert_with(std::time::Instant::now);
            (b.items.len() >= BATCH_FILES || b.bytes >= BATCH_BYTES || since.elapsed() >= BATCH_AGE)
                .then(|| std::mem::take(&mut *b))
        };
        if let Some(b) = full {
            self.commit_batch(b).await;
        }
    }

    /// Commits the queued batch if its oldest file has waited [`BATCH_AGE`] (called by a ticker, so that a
    /// finished file does not wait for a long copy to end).
    pub async fn commit_if_due(&self) {
        let due = {
            let mut b = self.pending.lock().await;
            b.since.is_some_and(|t| t.elapsed() >= BATCH_AGE).then(|| std::mem::take(&mut *b))
        };
        if let Some(b) = due {
            self.commit_batch(b).await;
        }
    }

    /// One flush makes the batch's content durable; then each temporary is renamed over its target, as many at
    /// once as there are transfers (a remote rename is a round trip), each under the recovery layer (a rename
    /// that fails on a flaky link is retried; one that fails for good removes its temporary).
    async fn commit_batch(&self, b: Batch) {
        if b.items.is_empty() {
            return;
        }
        match self.dst.flush().await {
            Ok(()) => {
                let mut items = b.items.into_iter();
                loop {
                    let group: Vec<_> = items
                        .by_ref()
                        .take(self.opts.transfers.max(1))
                        .map(|(idx, path, w, backup)| self.commit_one(idx, path, w, backup))
                        .collect();
                    if group.is_empty() {
                        break;
                    }
                    futures_util::future::join_all(group).await;
                }
            }
            Err(e) => {
                for (idx, path, w, _) in b.items {
                    let _ = w.abort().await;
                    self.fail_commit(idx, &path, &e);
                }
            }
        }
    }

    /// Renames one temporary over its target under the recovery layer; one that fails for good is removed and
    /// its file recorded as failed.
    async fn commit_one(&self, idx: usize, path: String, w: Box<dyn PreparedWrite>, backup: bool) {
        if backup && let Err(e) = with_recovery(self, || self.backup(&path)).await {
            let _ = w.abort().await;
            self.fail_commit(idx, &path, &e);
            return;
        }
        if let Err(e) = with_recovery(self, || w.commit()).await {
            let _ = w.abort().await;
            self.fail_commit(idx, &path, &e);
        }
    }

    /// Commits what is still queued, or (after a cancel) removes it.
    pub async fn drain(&self, commit: bool) {
        let b = std::mem::take(&mut *self.pending.lock().await);
        if commit {
            self.commit_batch(b).await;
        } else {
            for (idx, path, w, _) in b.items {
                let _ = w.abort().await;
                self.fail_commit(idx, &path, &Error::cancelled());
            }
        }
    }
}

fn err_action(op: Op) -> ErrorAction {
    match op {
        Op::Copy => ErrorAction::Copy,
        Op::Symlink => ErrorAction::Symlink,
        Op::Mkdir => ErrorAction::Mkdir,
        Op::Delete => ErrorAction::Delete,
        _ => ErrorAction::Copy,
    }
}

/// Runs `fut` unless the run is cancelled first.
async fn or_cancel<T>(
    cancel: &CancelFlag,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Error::cancelled()),
        r = fut => r,
    }
}

/// The name an edited destination file is kept under with `keep_both`.
pub(crate) fn conflict_name(path: &str) -> String {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), path),
    };
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{dir}{stem}.conflict-{stamp}.{ext}"),
        _ => format!("{dir}{name}.conflict-{stamp}"),
    }
}

enum Proceed {
    Yes,
    No(Done),
}

/// Applies the dest_changed policy before `a` replaces or deletes a destination entry.
async fn check_dest(sh: &Shared, a: &Action) -> Result<Proceed> {
    let changed_live = if sh.trusted {
        let live = sh.dst.stat(&a.path).await?;
        let precision = sh.dst.mtime_precision_ns();
        let differs = match (&live, &a.dest) {
            (None, None) => false,
            (Some(l), Some(d)) => !l.same_at_dest(d, precision),
            _ => true,
        };
        differs.then_some(live)
    } else if a.reason == Reason::DestChanged {
        Some(a.dest.clone())
    } else {
        None
    };
    let Some(live) = changed_live else { return Ok(Proceed::Yes) };
    if a.op == Op::Mkdir && live.as_ref().is_some_and(|l| l.kind == EntryKind::Dir) {
        // The directory is already there: nothing to lose.
        return Ok(Proceed::Yes);
    }
    let policy = sh.opts.dest_changed;
    match (policy, &live) {
        (_, None) if a.op == Op::Delete => {
            // Already gone: nothing was deleted.
            Ok(Proceed::No(Done::Kept(None)))
        }
        (_, None) => {
            // Edited by removal: writing the source version back loses nothing.
            Ok(Proceed::Yes)
        }
        (DestChangedPolicy::Skip, Some(l)) => {
            sh.warn(Warning::new(
                &a.path,
                WarningReason::DestChanged,
                format!("{} was edited at the destination since the last sync: left alone (policy skip)", a.path),
            ));
            Ok(Proceed::No(Done::Kept(Some(l.clone()))))
        }
        (DestChangedPolicy::KeepBoth, Some(l)) if l.kind != EntryKind::Dir => {
            if a.op == Op::Delete {
                sh.warn(Warning::new(
                    &a.path,
                    WarningReason::DestChanged,
                    format!(
                        "{} was edited at the destination: not deleted (policy keep_both)",
                        a.path
                    ),
                ));
                return Ok(Proceed::No(Done::Kept(Some(l.clone()))));
            }
            let to = conflict_name(&a.path);
            sh.dst.rename(&a.path, &to).await?;
            sh.extras
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Entry { path: to.clone(), ..l.clone() });
            sh.warn(Warning::new(
                &a.path,
                WarningReason::DestChanged,
                format!(
                    "{} was edited at the destination: kept as {to} (policy keep_both)",
                    a.path
                ),
            ));
            Ok(Proceed::Yes)
        }
        _ => {
            sh.warn(Warning::new(
                &a.path,
                WarningReason::DestChanged,
                format!(
                    "{} was edited at the destination since the last sync: {} (policy overwrite)",
                    a.path,
                    if a.op == Op::Delete { "deleted" } else { "replaced" }
                ),
            ));
            Ok(Proceed::Yes)
        }
    }
}

/// Runs one action; errors come back as the report's `{action, path, error, kind}`.
pub(crate) async fn execute(
    sh: &Shared,
    idx: usize,
    a: &Action,
) -> std::result::Result<Done, FileError> {
    sh.progress.set_current(&a.path);
    let r = with_recovery(sh, || execute_inner(sh, idx, a)).await;
    sh.progress.file_done();
    r.map_err(|e| FileError::new(err_action(a.op), &a.path, &e))
}

/// Runs `op` under the retry policies and the breakers of the remote ends: a flaky link is retried with backoff
/// (a partial file resumes), an open breaker makes the work wait instead of burning attempts, and what cannot
/// recover fails at once. Retries are counted in the report's `retries`.
pub(crate) async fn with_recovery<T, Fut>(sh: &Shared, mut op: impl FnMut() -> Fut) -> Result<T>
where
    Fut: std::future::Future<Output = Result<T>>,
{
    let breakers: Vec<_> = [&sh.src_breaker, &sh.dst_breaker].into_iter().flatten().collect();
    let mut rng = fastrand::Rng::new();
    let (r, _) = crate::recovery::retry(
        &sh.opts.retry,
        &sh.cancel,
        &mut rng,
        |_, _, _| {
            sh.retries.fetch_add(1, Ordering::Relaxed);
        },
        |_| {
            let fut = op();
            let breakers = &breakers;
            async move {
                for (i, b) in breakers.iter().enumerate() {
                    if !b.wait_admitted(&sh.cancel).await {
                        // A probe admitted at the other end goes back unused.
                        breakers[..i].iter().for_each(|a| a.release());
                        return Err(Error::cancelled());
                    }
                }
                let r = fut.await;
                for b in breakers.iter() {
                    b.record_result(&r);
                }
                r
            }
        },
    )
    .await;
    r
}

async fn execute_inner(sh: &Shared, idx: usize, a: &Action) -> Result<Done> {
    if sh.cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    let src_entry = a.entry.as_ref();
    match a.op {
        Op::Copy | Op::Symlink | Op::Mkdir => {
            if let Proceed::No(d) = check_dest(sh, a).await? {
                return Ok(d);
            }
            let entry =
                src_entry.ok_or_else(|| Error::internal("action without its source entry"))?;
            // A kind change: the old entry goes first (an empty directory, or a file where a directory comes).
            if let Some(d) = &a.dest
                && d.kind != entry.kind
                && (d.kind == EntryKind::Dir || entry.kind == EntryKind::Dir)
            {
                if d.kind == EntryKind::Dir {
                    if sh.dst.stat(&a.path).await?.is_some_and(|l| l.kind == EntryKind::Dir)
                        && !sh.dst.remove_empty_dir(&a.path).await?
                    {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!(
                                "{} is a folder at the destination that still holds entries this run does not \
                                 sync: not replaced",
                                a.path
                            ),
                        )
                        .with_path(a.path.as_str()));
                    }
                } else if sh.opts.backup_dir.is_some() {
                    sh.backup(&a.path).await?;
                } else {
                    sh.dst.delete(&a.path, d.kind).await?;
                }
            }
            match a.op {
                Op::Copy => copy_file(sh, idx, a, entry).await,
                Op::Symlink => {
                    if a.dest.as_ref().is_some_and(|d| d.kind != EntryKind::Dir) {
                        sh.backup(&a.path).await?;
                    }
                    sh.ensure_listed(sh.dst.temp_path(&a.path, entry)).await?;
                    sh.dst.create_symlink(&a.path, entry).await?;
                    Ok(Done::Written(entry.clone()))
                }
                _ => {
                    sh.dst.create_dir(&a.path, entry).await?;
                    Ok(Done::Written(entry.clone()))
                }
            }
        }
        Op::SetMeta => {
            let entry =
                src_entry.ok_or_else(|| Error::internal("action without its source entry"))?;
            sh.dst.set_meta(&a.path, entry).await?;
            let mut e = entry.clone();
            if let Some(d) = &a.dest {
                e.hashes.fill_from(&d.hashes);
            }
            Ok(Done::Written(e))
        }
        Op::Delete => {
            if let Proceed::No(d) = check_dest(sh, a).await? {
                return Ok(d);
            }
            let kind = a.dest.as_ref().or(src_entry).map(|e| e.kind).unwrap_or(EntryKind::File);
            if kind == EntryKind::Dir {
                // A folder that still holds what this run does not sync (excluded files) stays, as with rsync.
                return Ok(if sh.dst.remove_empty_dir(&a.path).await? {
                    Done::Deleted
                } else {
                    Done::Kept(sh.dst.stat(&a.path).await?)
                });
            }
            if sh.opts.backup_dir.is_some() {
                sh.backup(&a.path).await?;
            } else {
                sh.dst.delete(&a.path, kind).await?;
            }
            Ok(Done::Deleted)
        }
        Op::Keep | Op::Skip => Ok(Done::Kept(a.dest.clone())),
    }
}

enum Attempt {
    /// BLAKE3 and, when the destination wants it, SHA-256 of what was copied.
    Copied([u8; 32], Option<[u8; 32]>),
    Changed(Option<Entry>),
}

async fn copy_file(sh: &Shared, idx: usize, a: &Action, planned: &Entry) -> Result<Done> {
    let mut version = planned.clone();
    let retries = sh.opts.still_changing_retries;
    // A replaced file goes to the backup folder just before the new one takes its name; where there is no
    // temporary (an object store's upload replaces the object itself), before the upload.
    let mut backup = a.dest.as_ref().is_some_and(|d| d.kind != EntryKind::Dir);
    if backup && sh.opts.backup_dir.is_some() && sh.dst.temp_path(&a.path, planned).is_none() {
        sh.backup(&a.path).await?;
        backup = false;
    }
    for attempt in 0..=retries {
        sh.ensure_listed(sh.dst.temp_path(&version.path, &version)).await?;
        match copy_once(sh, idx, &version, backup).await? {
            Attempt::Copied(b3, sha) => {
                let mut e = version;
                e.hashes.set_blake3_raw(b3);
                if let Some(sha) = sha {
                    e.hashes.set_sha256_raw(sha);
                }
                return Ok(Done::Written(e));
            }
            Attempt::Changed(None) => {
                sh.warn(Warning::new(
                    &a.path,
                    WarningReason::StillChanging,
                    format!("{} vanished from the source while being copied: skipped", a.path),
                ));
                return Ok(Done::Kept(a.dest.clone()));
            }
            Attempt::Changed(Some(now)) => {
                if attempt == retries {
                    sh.warn(Warning::new(
                        &a.path,
                        WarningReason::StillChanging,
                        format!(
                            "{} changed while being copied, {} times: skipped until it settles",
                            a.path,
                            retries + 1
                        ),
                    ));
                    return Ok(Done::Kept(a.dest.clone()));
                }
                sh.retries.fetch_add(1, Ordering::Relaxed);
                sh.progress.add_bytes_total(now.size);
                version = Entry { hashes: Default::default(), ..now };
            }
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// The source entry as the scan saw it: through symlinks under `links = follow`.
async fn source_stat(sh: &Shared, path: &str) -> Result<Option<Entry>> {
    if sh.opts.links == crate::manifest::scan::LinkMode::Follow {
        sh.src.stat_follow(path).await
    } else {
        sh.src.stat(path).await
    }
}

/// Copies one version of a file; reports a change of the source instead of committing it.
async fn copy_once(sh: &Shared, idx: usize, version: &Entry, backup: bool) -> Result<Attempt> {
    let path = version.path.as_str();
    let mut sink = or_cancel(&sh.cancel, sh.dst.open_write(path, version)).await?;
    // A partial download from a remote source continues where it stopped: the bytes already here are hashed from
    // the local temporary, and only the rest crosses the network.
    let prefix = match sink.local_partial() {
        Some(p) if sh.src.scheme() != "local" && sink.resume_offset() <= version.size => {
            let (p, n, sha) = (p.to_path_buf(), sink.resume_offset(), sh.dst.wants_sha256());
            match crate::backend::blocking(|| hash_prefix(&p, n, sha)) {
                Ok(h) => Some(h),
                Err(e) => {
                    sink.abort().await?;
                    return Err(e);
                }
            }
        }
        _ => None,
    };
    let start = prefix.as_ref().map_or(0, |_| sink.resume_offset());
    let mut reader = match or_cancel(&sh.cancel, sh.src.open_read(path, start)).await {
        Ok(r) => r,
        Err(e) => {
            if matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout) {
                sink.keep_partial().await?;
            } else {
                sink.abort().await?;
            }
            return Err(e);
        }
    };
    let r = stream(sh, version, &mut *reader, &mut *sink, start, prefix).await;
    match r {
        Ok(Some((b3, sha))) => {
            // The source must still be the version that was read.
            let now = or_cancel(&sh.cancel, source_stat(sh, path)).await;
            match now {
                Ok(Some(n)) if n.same_version(version) => {}
                Ok(other) => {
                    sink.abort().await?;
                    return Ok(Attempt::Changed(other));
                }
                Err(e) => {
                    sink.abort().await?;
                    return Err(e);
                }
            }
            let hex = hex::encode(b3);
            let verify = sh.opts.verify.then_some(hex.as_str());
            // The sink sees the hashes too (Drive keeps them with the file).
            let mut done = version.clone();
            done.hashes.set_blake3_raw(b3);
            if let Some(sha) = sha {
                done.hashes.set_sha256_raw(sha);
            }
            // Complete and checked: it becomes visible once its batch is flushed.
            let ready = or_cancel(&sh.cancel, sink.prepare(&done, verify)).await?;
            sh.enqueue(idx, path, ready, version.size, backup && sh.opts.backup_dir.is_some())
                .await;
            Ok(Attempt::Copied(b3, sha))
        }
        Ok(None) => {
            sink.abort().await?;
            let now = or_cancel(&sh.cancel, source_stat(sh, path)).await?;
            Ok(Attempt::Changed(now))
        }
        Err(e) => {
            // A broken connection keeps the partial file for the next run to resume; anything else cleans up.
            if matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout) {
                sink.keep_partial().await?;
            } else {
                sink.abort().await?;
            }
            Err(e)
        }
    }
}

/// Hashers fed with the first `n` bytes of a local partial file.
type Prefix = (Hasher, Option<sha2::Sha256>);

fn hash_prefix(p: &std::path::Path, n: u64, sha: bool) -> Result<Prefix> {
    use sha2::Digest;
    use std::io::Read;
    let shown = p.display().to_string();
    let f = std::fs::File::open(p).map_err(|e| Error::io(&e, "cannot open", &shown))?;
    let mut r = f.take(n);
    let (mut h, mut s) = (Hasher::new(), sha.then(sha2::Sha256::new));
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    loop {
        let k = r.read(&mut buf).map_err(|e| Error::io(&e, "cannot read", &shown))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        if let Some(s) = s.as_mut() {
            s.update(&buf[..k]);
        }
        got += k as u64;
    }
    if got != n {
        return Err(Error::internal(format!("{shown}: the partial file shrank while resuming")));
    }
    Ok((h, s))
}

/// Streams the source into the sink, hashing every byte (BLAKE3, and SHA-256 when the destination wants it);
/// None when the source turned out to differ in size from `version`. The reader starts at `start`: 0, with the
/// first `resume_offset` bytes read but not written again; or the resume offset itself, with `prefix` holding
/// the hashes of the bytes before it.
async fn stream(
    sh: &Shared,
    version: &Entry,
    reader: &mut dyn crate::backend::ReadStream,
    sink: &mut dyn WriteSink,
    start: u64,
    prefix: Option<Prefix>,
) -> Result<Option<([u8; 32], Option<[u8; 32]>)>> {
    use sha2::Digest;
    let chunk = sh.opts.chunk_size.min(version.size.max(1) as usize + 1).max(1);
    let resume = sink.resume_offset().min(version.size);
    let mut buf = Vec::with_capacity(chunk);
    let (mut hasher, mut sha) = match prefix {
        Some(p) => p,
        None => (Hasher::new(), sh.dst.wants_sha256().then(sha2::Sha256::new)),
    };
    if start > 0 {
        sh.progress.add_bytes(start);
    }
    let mut pos = start;
    loop {
        or_cancel(&sh.cancel, reader.read_chunk(&mut buf, chunk)).await?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len() as u64;
        if pos + n > version.size {
            return Ok(None);
        }
        hasher.update(&buf);
        if let Some(s) = sha.as_mut() {
            s.update(&buf);
        }
        // Bytes before the resume offset are already in the temporary.
        let skip = resume.saturating_sub(pos).min(n) as usize;
        let data = &buf[skip..];
        if !data.is_empty() {
            if let Some(bw) = &sh.bandwidth {
                or_cancel(&sh.cancel, async {
                    bw.acquire(data.len()).await;
                    Ok(())
                })
                .await?;
            }
            or_cancel(&sh.cancel, sink.write_chunk(data)).await?;
            sh.progress.add_bytes(data.len() as u64);
            sh.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        } else {
            sh.progress.add_bytes(n);
        }
        pos += n;
    }
    if pos != version.size {
        return Ok(None);
    }
    Ok(Some((hasher.finish_raw(), sha.map(|s| s.finalize().into()))))
}
