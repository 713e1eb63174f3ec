//! Scanning a local tree into a [`Manifest`]: a parallel walk with filters, symlink handling and loop detection,
//! special files skipped unopened, non-UTF-8 names reported and skipped, and hashing on all cores with the hash
//! cache of the embedded store.

use super::filter::Filter;
use super::hash::{HashAlgo, hash_file};
use super::walk::{self, Child, Followed, Kind, Tree};
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
    /// Names the tree cannot sync (not UTF-8, a `.syncwright` at the root that is not a folder) are errors, not
    /// warnings: set for sources, whose files the user expects at the destination.
    pub strict: bool,
}

/// Live counters of a scan.
#[derive(Debug, Default)]
pub struct ScanCounters {
    /// Entries found so far.
    pub entries: AtomicU64,
    /// Files hashed so far (cache hits included).
    pub hashed: AtomicU64,
}

/// A file of a syncwright temporary's name found in the tree (a temporary when a run marker lists it).
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
    /// Files with the names of syncwright temporaries. A scan lists them as entries too; the run takes those its
    /// run markers list out of the tree (see `sync::run`).
    pub temporaries: Vec<TempFile>,
    /// The folders that hold entries (implied by the manifest's paths), with their own mode and mtime, sorted
    /// by path; empty for trees without folders (object stores).
    pub dirs: Vec<Entry>,
}

/// What a walk of one folder (and everything below it) found; local and remote walks fill it alike.
#[derive(Default)]
pub(crate) struct Part {
    pub entries: Vec<Entry>,
    pub warnings: Vec<Warning>,
    pub errors: Vec<FileError>,
    pub temps: Vec<TempFile>,
    pub dirs: Vec<Entry>,
}

impl Part {
    /// Takes in what a subfolder's walk found.
    pub fn absorb(&mut self, o: Part) {
        self.entries.extend(o.entries);
        self.warnings.extend(o.warnings);
        self.errors.extend(o.errors);
        self.temps.extend(o.temps);
        self.dirs.extend(o.dirs);
    }
}

/// Nanoseconds since the epoch of a file's mtime.
pub fn mtime_ns(md: &Metadata) -> i64 {
    md.mtime().saturating_mul(1_000_000_000).saturating_add(md.mtime_nsec())
}

/// A local directory tree, for [`walk`](super::walk): listings from `read_dir` (a name's metadata is read only
/// when needed), directories told apart by (device, inode).
struct LocalTree;

fn io_err(e: &std::io::Error, doing: &str, rel: &str) -> Error {
    Error::io(e, doing, if rel.is_empty() { "." } else { rel })
}

impl Tree for LocalTree {
    type Dir = PathBuf;
    type Id = (u64, u64);
    type Meta = std::fs::DirEntry;

    fn list(
        &self,
        rel: &str,
        dir: &PathBuf,
        part: &mut Part,
    ) -> Result<Vec<Child<std::fs::DirEntry>>> {
        let rd = std::fs::read_dir(dir).map_err(|e| io_err(&e, "cannot read directory", rel))?;
        let mut out = Vec::new();
        for de in rd {
            let de = match de {
                Ok(de) => de,
                Err(e) => {
                    part.errors.push(FileError::new(
                        ErrorAction::Scan,
                        rel,
                        &io_err(&e, "cannot list", rel),
                    ));
                    continue;
                }
            };
            let os_name = de.file_name();
            let Some(name) = os_name.to_str().map(str::to_string) else {
                let shown = if rel.is_empty() {
                    os_name.to_string_lossy().into_owned()
                } else {
                    format!("{rel}/{}", os_name.to_string_lossy())
                };
                part.warnings.push(Warning::new(
                    shown.clone(),
                    WarningReason::NonUtf8Name,
                    format!("name is not valid UTF-8, skipped: {shown:?}"),
                ));
                continue;
            };
            let kind = {
                match de.file_type() {
                    Ok(ft) if ft.is_dir() => Kind::Dir,
                    Ok(ft) if ft.is_file() => Kind::File,
                    Ok(ft) if ft.is_symlink() => Kind::Symlink,
                    Ok(_) => Kind::Other,
                    Err(e) => {
                        let child =
                            if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
                        part.errors.push(FileError::new(
                            ErrorAction::Scan,
                            &child,
                            &io_err(&e, "cannot stat", &child),
                        ));
                        continue;
                    }
                }
            };
            out.push(Child { name, kind, meta: de });
        }
        Ok(out)
    }

    fn join(&self, dir: &PathBuf, name: &str) -> PathBuf {
        dir.join(name)
    }

    fn temp_stat(&self, _at: &PathBuf, de: &std::fs::DirEntry) -> Option<(u64, i64)> {
        de.metadata().ok().filter(|md| md.is_file()).map(|md| (md.len(), mtime_ns(&md)))
    }

    fn file(&self, rel: &str, _at: &PathBuf, de: &std::fs::DirEntry) -> Result<Entry> {
        let md = de.metadata().map_err(|e| io_err(&e, "cannot stat", rel))?;
        Ok(entry_of(rel, &md, None))
    }

    fn dir_id(
        &self,
        rel: &str,
        _parent: &(u64, u64),
        _name: &str,
        _at: &PathBuf,
        de: &std::fs::DirEntry,
    ) -> Result<(u64, u64)> {
        let md = de.metadata().map_err(|e| io_err(&e, "cannot stat", rel))?;
        Ok((md.dev(), md.ino()))
    }

    fn link(&self, rel: &str, at: &PathBuf, _de: &std::fs::DirEntry) -> Result<Option<Entry>> {
        let target = std::fs::read_link(at).map_err(|e| io_err(&e, "cannot read link", rel))?;
        let Some(target) = target.to_str().map(str::to_string) else { return Ok(None) };
        let md = std::fs::symlink_metadata(at).map_err(|e| io_err(&e, "cannot stat", rel))?;
        Ok(Some(entry_of(rel, &md, Some(target))))
    }

    fn follow(&self, rel: &str, at: &PathBuf) -> Result<Followed<(u64, u64)>> {
        match std::fs::metadata(at) {
            Ok(md) if md.is_dir() => Ok(Followed::Dir((md.dev(), md.ino()))),
            Ok(md) if md.is_file() => Ok(Followed::File(entry_of(rel, &md, None))),
            Ok(_) => Ok(Followed::Special),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Ok(Followed::Loop),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Followed::Dangling),
            Err(e) => Err(io_err(&e, "cannot follow link", rel)),
        }
    }

    fn dir_entry(&self, rel: &str, dir: &PathBuf) -> Option<Entry> {
        std::fs::metadata(dir).ok().map(|md| entry_of(rel, &md, None))
    }
}

/// The entry of `rel` from its metadata (not following a final symlink when `md` is from `symlink_metadata`);
/// `target` is a link's target.
pub(crate) fn entry_of(rel: &str, md: &Metadata, target: Option<String>) -> Entry {
    let kind = if md.file_type().is_symlink() {
        EntryKind::Symlink
    } else if md.is_dir() {
        EntryKind::Dir
    } else {
        EntryKind::File
    };
    Entry {
        path: rel.to_string(),
        kind,
        size: match kind {
            EntryKind::Dir => 0,
            EntryKind::Symlink => target.as_ref().map(|t| t.len() as u64).unwrap_or(0),
            EntryKind::File => md.len(),
        },
        mtime_ns: mtime_ns(md),
        mode: md.permissions().mode() & 0o7777,
        target,
        hashes: Default::default(),
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
    let root_dir = root.to_path_buf();
    let part = pool.install(|| walk::walk(&LocalTree, opts, &root_dir, (md.dev(), md.ino())));
    let mut part = walk::finish(part, opts)?;
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
        dirs: part.dirs,
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
        hash_cache: store.clone(),
        threads: o.threads,
        ..Default::default()
    };
    let mut out = scan_local(root, &opts)?;
    // A damaged store was replaced on the way: say so, naming the kept file.
    if let Some(r) = store.as_deref().and_then(Store::recovered) {
        out.warnings.push(r.warning());
    }
    Ok(out)
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
