//! Scanning a local tree into a [`Manifest`]: a parallel walk with filters, symlink handling and loop detection,
//! special files skipped unopened, non-UTF-8 names reported and skipped, and hashing on all cores with the hash
//! cache of the embedded store.

use super::filter::{Filter, is_own_path, temp_fingerprint};
use super::hash::{HashAlgo, hash_file};
use super::{Entry, EntryKind, Manifest};
use crate::error::{Error, ErrorKind, Result};
use crate::report::{ErrorAction, FileError, Warning, WarningReason};
use crate::state::{CachedHash, Store};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What to do with symbolic links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkMode {
    /// Keep links as links (where the destination can; otherwise skipped with a warning).
    #[default]
    Preserve,
    /// Copy what links point to; loops are detected and reported.
    Follow,
    /// Leave links out.
    Skip,
}

/// How to scan a tree.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Snapshot name written into the manifest.
    pub name: String,
    /// Include and exclude patterns.
    pub filter: Filter,
    /// Symlink handling.
    pub links: LinkMode,
    /// Hash every file with this algorithm (reusing the cache where size and mtime are unchanged).
    pub hash: Option<HashAlgo>,
    /// The hash cache; without it every file is hashed.
    pub hash_cache: Option<Arc<Store>>,
    /// Worker threads for walking and hashing (0: the number of cores, at least 4).
    pub threads: usize,
    /// Counters updated while scanning (for progress).
    pub counters: Option<Arc<ScanCounters>>,
    /// Set to stop the scan early (it then fails with `cancelled`).
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Live counters of a scan.
#[derive(Debug, Default)]
pub struct ScanCounters {
    /// Entries found so far.
    pub entries: AtomicU64,
    /// Files hashed so far (cache hits included).
    pub hashed: AtomicU64,
}

/// A syncwright temporary file found in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempFile {
    /// Relative path of the temporary.
    pub path: String,
    /// The source-version fingerprint in its name.
    pub fingerprint: String,
    /// Its size.
    pub size: u64,
    /// Its modification time.
    pub mtime_ns: i64,
}

/// What a scan found.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    /// The tree.
    pub manifest: Manifest,
    /// Things left out, with why.
    pub warnings: Vec<Warning>,
    /// Entries that could not be read.
    pub errors: Vec<FileError>,
    /// syncwright temporaries found (never part of the manifest).
    pub temporaries: Vec<TempFile>,
}

/// What a walk of one folder (and everything below it) found; local and remote walks fill it alike.
#[derive(Default)]
pub(crate) struct Part {
    pub entries: Vec<Entry>,
    pub warnings: Vec<Warning>,
    pub errors: Vec<FileError>,
    pub temps: Vec<TempFile>,
}

impl Part {
    /// Takes in what a subfolder's walk found.
    pub fn absorb(&mut self, o: Part) {
        self.entries.extend(o.entries);
        self.warnings.extend(o.warnings);
        self.errors.extend(o.errors);
        self.temps.extend(o.temps);
    }
}

/// Nanoseconds since the epoch of a file's mtime.
pub fn mtime_ns(md: &Metadata) -> i64 {
    md.mtime().saturating_mul(1_000_000_000).saturating_add(md.mtime_nsec())
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") }
}

struct Walker<'a> {
    opts: &'a ScanOptions,
    cancelled: &'a AtomicBool,
}

impl Walker<'_> {
    fn stopped(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
            || self.opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }

    fn count(&self) {
        if let Some(c) = &self.opts.counters {
            c.entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn file_entry(&self, rel: String, md: &Metadata) -> Entry {
        self.count();
        Entry::file(rel, md.len(), mtime_ns(md), md.permissions().mode() & 0o7777)
    }

    /// Walks the directory `abs` (relative path `rel`, "" for the root); `ancestors` are (dev, ino) of the
    /// directories from the root down to and including this one.
    fn walk(&self, rel: &str, abs: &Path, ancestors: &[(u64, u64)]) -> Part {
        let mut part = Part::default();
        if self.stopped() {
            return part;
        }
        let rd = match std::fs::read_dir(abs) {
            Ok(rd) => rd,
            Err(e) => {
                let shown = if rel.is_empty() { "." } else { rel };
                part.errors.push(FileError::new(
                    ErrorAction::Scan,
                    rel,
                    &Error::io(&e, "cannot read directory", shown),
                ));
                return part;
            }
        };
        let mut subdirs: Vec<(String, PathBuf, (u64, u64))> = Vec::new();
        for de in rd {
            let de = match de {
                Ok(de) => de,
                Err(e) => {
                    part.errors.push(FileError::new(
                        ErrorAction::Scan,
                        rel,
                        &Error::io(&e, "cannot list", rel),
                    ));
                    continue;
                }
            };
            let os_name = de.file_name();
            let Some(name) = os_name.to_str() else {
                let shown = join(rel, &os_name.to_string_lossy());
                part.warnings.push(Warning::new(
                    shown.clone(),
                    WarningReason::NonUtf8Name,
                    format!("name is not valid UTF-8, skipped: {shown:?}"),
                ));
                continue;
            };
            let child = join(rel, name);
            if let Some(fp) = temp_fingerprint(name) {
                if let Ok(md) = de.metadata()
                    && md.is_file()
                {
                    part.temps.push(TempFile {
                        path: child,
                        fingerprint: fp.to_string(),
                        size: md.len(),
                        mtime_ns: mtime_ns(&md),
                    });
                }
                continue;
            }
            if is_own_path(&child) {
                continue;
            }
            let ft = match de.file_type() {
                Ok(ft) => ft,
                Err(e) => {
                    part.errors.push(FileError::new(
                        ErrorAction::Scan,
                        &child,
                        &Error::io(&e, "cannot stat", &child),
                    ));
                    continue;
                }
            };
            if ft.is_dir() {
                if self.opts.filter.enter_dir(&child) {
                    match de.metadata() {
                        Ok(md) => subdirs.push((child, abs.join(name), (md.dev(), md.ino()))),
                        Err(e) => part.errors.push(FileError::new(
                            ErrorAction::Scan,
                            &child,
                            &Error::io(&e, "cannot stat", &child),
                        )),
                    }
                }
            } else if ft.is_file() {
                if self.opts.filter.keep(&child) {
                    match de.metadata() {
                        Ok(md) => part.entries.push(self.file_entry(child, &md)),
                        Err(e) => part.errors.push(FileError::new(
                            ErrorAction::Scan,
                            &child,
                            &Error::io(&e, "cannot stat", &child),
                        )),
                    }
                }
            } else if ft.is_symlink() {
                self.symlink(child, abs.join(name), ancestors, &mut part, &mut subdirs);
            } else {
                if self.opts.filter.keep(&child) {
                    part.warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::SpecialFile,
                        format!("{child} is a FIFO, socket or device: skipped, never opened"),
                    ));
                }
            }
        }
        let children: Vec<Part> = subdirs
            .into_par_iter()
            .map(|(child, child_abs, id)| {
                let mut anc = Vec::with_capacity(ancestors.len() + 1);
                anc.extend_from_slice(ancestors);
                anc.push(id);
                self.walk(&child, &child_abs, &anc)
            })
            .collect();
        let had_entries = !part.entries.is_empty();
        let mut child_entries = false;
        // One allocation of the exact size, then each child is moved in and freed: a million entries are never
        // held twice over.
        part.entries.reserve_exact(children.iter().map(|c| c.entries.len()).sum());
        for c in children {
            child_entries |= !c.entries.is_empty();
            part.absorb(c);
        }
        if !had_entries
            && !child_entries
            && !rel.is_empty()
            && part.errors.is_empty()
            && self.opts.filter.keep(rel)
            && let Ok(md) = std::fs::metadata(abs)
        {
            self.count();
            part.entries.push(Entry {
                path: rel.to_string(),
                kind: EntryKind::Dir,
                size: 0,
                mtime_ns: mtime_ns(&md),
                mode: md.permissions().mode() & 0o7777,
                target: None,
                hashes: Default::default(),
            });
        }
        part
    }

    fn symlink(
        &self,
        child: String,
        child_abs: PathBuf,
        ancestors: &[(u64, u64)],
        part: &mut Part,
        subdirs: &mut Vec<(String, PathBuf, (u64, u64))>,
    ) {
        match self.opts.links {
            LinkMode::Skip => {}
            LinkMode::Preserve => {
                if !self.opts.filter.keep(&child) {
                    return;
                }
                let target = match std::fs::read_link(&child_abs) {
                    Ok(t) => t,
                    Err(e) => {
                        part.errors.push(FileError::new(
                            ErrorAction::Scan,
                            &child,
                            &Error::io(&e, "cannot read link", &child),
                        ));
                        return;
                    }
                };
                let Some(target) = target.to_str().map(str::to_string) else {
                    part.warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::NonUtf8Name,
                        format!("link target of {child} is not valid UTF-8, skipped"),
                    ));
                    return;
                };
                match std::fs::symlink_metadata(&child_abs) {
                    Ok(md) => {
                        self.count();
                        part.entries.push(Entry {
                            path: child,
                            kind: EntryKind::Symlink,
                            size: target.len() as u64,
                            mtime_ns: mtime_ns(&md),
                            mode: md.permissions().mode() & 0o7777,
                            target: Some(target),
                            hashes: Default::default(),
                        });
                    }
                    Err(e) => part.errors.push(FileError::new(
                        ErrorAction::Scan,
                        &child,
                        &Error::io(&e, "cannot stat", &child),
                    )),
                }
            }
            LinkMode::Follow => {
                match std::fs::metadata(&child_abs) {
                    Ok(md) if md.is_dir() => {
                        let id = (md.dev(), md.ino());
                        if ancestors.contains(&id) {
                            part.warnings.push(Warning::new(
                            child.clone(),
                            WarningReason::SymlinkLoop,
                            format!("{child} links back to one of its own parent directories: not followed"),
                        ));
                        } else if self.opts.filter.enter_dir(&child) {
                            subdirs.push((child, child_abs, id));
                        }
                    }
                    Ok(md) if md.is_file() => {
                        if self.opts.filter.keep(&child) {
                            part.entries.push(self.file_entry(child, &md));
                        }
                    }
                    Ok(_) => {
                        if self.opts.filter.keep(&child) {
                            part.warnings.push(Warning::new(
                            child.clone(),
                            WarningReason::SpecialFile,
                            format!("{child} points to a FIFO, socket or device: skipped, never opened"),
                        ));
                        }
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                        part.warnings.push(Warning::new(
                            child.clone(),
                            WarningReason::SymlinkLoop,
                            format!("{child} is a symlink loop: skipped"),
                        ))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        part.warnings.push(Warning::new(
                            child.clone(),
                            WarningReason::DanglingSymlink,
                            format!("{child} points to nothing: skipped"),
                        ))
                    }
                    Err(e) => part.errors.push(FileError::new(
                        ErrorAction::Scan,
                        &child,
                        &Error::io(&e, "cannot follow link", &child),
                    )),
                }
            }
        }
    }
}

/// The number of worker threads a scan uses for `threads` (0 = automatic).
pub fn worker_threads(threads: usize) -> usize {
    if threads > 0 {
        return threads;
    }
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(4)
}

/// Scans the local directory `root`. A missing or unreadable root is an error; problems below it are reported
/// in the outcome and the scan goes on.
pub fn scan_local(root: &Path, opts: &ScanOptions) -> Result<ScanOutcome> {
    let md = std::fs::metadata(root)
        .map_err(|e| Error::io(&e, "cannot open", root.display().to_string()))?;
    if !md.is_dir() {
        return Err(Error::invalid(format!("{} is not a directory", root.display())));
    }
    let root_s = root
        .to_str()
        .ok_or_else(|| Error::invalid(format!("{} is not valid UTF-8", root.display())))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(worker_threads(opts.threads))
        .thread_name(|i| format!("sw-scan-{i}"))
        .build()
        .map_err(|e| Error::internal(format!("cannot start scan threads: {e}")))?;
    let cancelled = AtomicBool::new(false);
    let walker = Walker { opts, cancelled: &cancelled };
    let mut part = pool.install(|| walker.walk("", root, &[(md.dev(), md.ino())]));
    if walker.stopped() {
        return Err(Error::cancelled());
    }
    if let Some(e) = part.errors.iter().find(|e| e.path.is_empty()) {
        return Err(Error::new(e.kind, e.error.clone()));
    }
    part.entries.par_sort_unstable_by(|a, b| a.path.cmp(&b.path));
    part.warnings.sort_by(|a, b| a.path.cmp(&b.path));
    part.errors.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(algo) = opts.hash {
        // Small pieces: sizes vary by 10,000x, and a thread must not be left with all the big files.
        pool.install(|| {
            hash_entries(root_s, &mut part, opts, algo, 4, |e| {
                hash_file(&root.join(&e.path), &e.path, algo)
            })
        })?;
    }
    let mut manifest = Manifest::new(opts.name.clone(), root_s);
    manifest.entries = part.entries;
    Ok(ScanOutcome {
        manifest,
        warnings: part.warnings,
        errors: part.errors,
        temporaries: part.temps,
    })
}

/// Puts the `algo` digest of every file of `part` into its entry, in parallel on the current rayon pool: from the
/// hash cache (keyed by `root_key`) when size and mtime are unchanged, else from `hash_one`; fresh digests go back
/// to the cache. `per_task` files at most go to one rayon task.
pub(crate) fn hash_entries(
    root_key: &str,
    part: &mut Part,
    opts: &ScanOptions,
    algo: HashAlgo,
    per_task: usize,
    hash_one: impl Fn(&Entry) -> Result<String> + Sync,
) -> Result<()> {
    let name = algo.name();
    let cache = match &opts.hash_cache {
        Some(s) => s.cached_hashes(root_key, name)?,
        None => Default::default(),
    };
    let stop = opts.cancel.clone();
    let results: Vec<Option<std::result::Result<CachedHash, FileError>>> = part
        .entries
        .par_iter_mut()
        .with_max_len(per_task.max(1))
        .map(|e| {
            if e.kind != EntryKind::File {
                return None;
            }
            if stop.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                return None;
            }
            if let Some(c) = &opts.counters {
                c.hashed.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(c) = cache.get(&e.path)
                && c.size == e.size
                && c.mtime_ns == e.mtime_ns
            {
                e.hashes.insert(name, c.digest.clone());
                return None;
            }
            match hash_one(e) {
                Ok(h) => {
                    e.hashes.insert(name, h.clone());
                    Some(Ok(CachedHash { size: e.size, mtime_ns: e.mtime_ns, digest: h }))
                }
                Err(err) => Some(Err(FileError::new(ErrorAction::Scan, &e.path, &err))),
            }
        })
        .collect();
    if stop.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
        return Err(Error::cancelled());
    }
    let mut fresh = Vec::new();
    for (e, r) in part.entries.iter().zip(results) {
        match r {
            Some(Ok(c)) => fresh.push((e.path.as_str(), c)),
            Some(Err(fe)) => part.errors.push(fe),
            None => {}
        }
    }
    if let Some(s) = &opts.hash_cache
        && !fresh.is_empty()
    {
        s.put_hashes(root_key, name, fresh.iter().map(|(p, c)| (*p, c)))?;
    }
    Ok(())
}

/// Options of [`build_manifest`] (canonical JSON; every field optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ManifestOptions {
    /// Snapshot name (default `default`).
    pub name: Option<String>,
    /// Patterns of files to take.
    pub include: Vec<String>,
    /// Patterns of files and folders to leave out.
    pub exclude: Vec<String>,
    /// Symlink handling.
    pub links: LinkMode,
    /// Compute SHA-256 of every file (default true).
    pub hash: Option<bool>,
    /// The state directory whose hash cache is used (default: the default store's, when it can be opened).
    pub state_dir: Option<PathBuf>,
    /// Worker threads (0: automatic).
    pub threads: usize,
}

/// Builds the manifest of a local directory (with SHA-256 of every file unless `hash` is false), reusing the hash
/// cache of the embedded store.
pub fn build_manifest(root: &Path, o: &ManifestOptions) -> Result<ScanOutcome> {
    let store = match &o.state_dir {
        Some(d) => Some(Arc::new(Store::open_dir(d)?)),
        None => Store::open_dir(&crate::state::default_state_dir()).ok().map(Arc::new),
    };
    let opts = ScanOptions {
        name: o.name.clone().unwrap_or_else(|| "default".into()),
        filter: Filter::new(&o.include, &o.exclude)?,
        links: o.links,
        hash: o.hash.unwrap_or(true).then_some(HashAlgo::Sha256),
        hash_cache: store,
        threads: o.threads,
        ..Default::default()
    };
    scan_local(root, &opts)
}

/// [`build_manifest`] with options and result in JSON: returns
/// `{"manifest": <canonical manifest>, "warnings": [...], "errors": [...]}` so that nothing left out is silent.
pub fn build_manifest_json(root: &Path, options_json: Option<&str>) -> Result<String> {
    let o: ManifestOptions = match options_json {
        Some(s) if !s.trim().is_empty() => serde_json::from_str(s).map_err(|e| {
            Error::new(ErrorKind::InvalidInput, format!("bad manifest options: {e}"))
        })?,
        _ => ManifestOptions::default(),
    };
    let out = build_manifest(root, &o)?;
    let manifest = out.manifest.to_json()?;
    Ok(format!(
        "{{\"manifest\":{},\"warnings\":{},\"errors\":{}}}",
        manifest.trim_end(),
        serde_json::to_string(&out.warnings)?,
        serde_json::to_string(&out.errors)?
    ))
}
