//! Listing a tree over SFTP: directories read in parallel over the pool's sessions (SFTP's READDIR returns each
//! name with its attributes, so a folder costs one round trip per batch of names, not one per file), with the
//! same filters, symlink modes, temporaries and warnings as a local scan; hashes (for `compare = checksum`) are
//! computed by reading the files, reusing the hash cache where size and mtime are unchanged.

use super::{Inner, stat_entry};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::filter::{is_own_path, temp_fingerprint};
use crate::manifest::hash::{AlgoHasher, HashAlgo};
use crate::manifest::scan::{self, Part, ScanOptions, ScanOutcome, TempFile, worker_threads};
use crate::manifest::{EntryKind, Manifest};
use crate::report::{ErrorAction, FileError, Warning, WarningReason};
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::Ordering;

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") }
}

struct Walker<'a> {
    inner: &'a Inner,
    opts: &'a ScanOptions,
}

impl Walker<'_> {
    fn stopped(&self) -> bool {
        self.opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }

    fn count(&self) {
        if let Some(c) = &self.opts.counters {
            c.entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Walks directory `rel` whose canonical path on the host is `real`; `ancestors` are the canonical paths of
    /// the directories above it (for loop detection under `links = follow`).
    fn walk(&self, rel: &str, abs: &str, real: &str, ancestors: &[String]) -> Part {
        let mut part = Part::default();
        if self.stopped() {
            return part;
        }
        let shown = if rel.is_empty() { "." } else { rel };
        let list = match self
            .inner
            .pool
            .with("cannot read directory", shown, |c| c.sftp.readdir(Path::new(abs)))
        {
            Ok(l) => l,
            Err(e) => {
                part.errors.push(FileError::new(ErrorAction::Scan, rel, &e));
                return part;
            }
        };
        let mut subdirs: Vec<(String, String, String)> = Vec::new();
        for (p, st) in list {
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                let lossy =
                    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let child = join(rel, &lossy);
                part.warnings.push(Warning::new(
                    child.clone(),
                    WarningReason::NonUtf8Name,
                    format!("name is not valid UTF-8, skipped: {child:?}"),
                ));
                continue;
            };
            let child = join(rel, name);
            let child_abs = format!("{}/{name}", abs.trim_end_matches('/'));
            let ft = st.file_type();
            if let Some(fp) = temp_fingerprint(name) {
                if ft.is_file() {
                    part.temps.push(TempFile {
                        path: child,
                        fingerprint: fp.to_string(),
                        size: st.size.unwrap_or(0),
                        mtime_ns: st.mtime.unwrap_or(0) as i64 * 1_000_000_000,
                    });
                }
                continue;
            }
            if is_own_path(&child) {
                continue;
            }
            if ft.is_dir() {
                if self.opts.filter.enter_dir(&child) {
                    let child_real = format!("{}/{name}", real.trim_end_matches('/'));
                    subdirs.push((child, child_abs, child_real));
                }
            } else if ft.is_file() {
                if self.opts.filter.keep(&child) {
                    self.count();
                    part.entries.push(stat_entry(&child, &st, None));
                }
            } else if ft.is_symlink() {
                self.symlink(child, &child_abs, real, ancestors, &st, &mut part, &mut subdirs);
            } else if self.opts.filter.keep(&child) {
                part.warnings.push(Warning::new(
                    child.clone(),
                    WarningReason::SpecialFile,
                    format!("{child} is a FIFO, socket or device: skipped, never opened"),
                ));
            }
        }
        let mut anc = ancestors.to_vec();
        anc.push(real.to_string());
        let children: Vec<Part> = subdirs
            .into_par_iter()
            .map(|(child, child_abs, child_real)| self.walk(&child, &child_abs, &child_real, &anc))
            .collect();
        let had_entries = !part.entries.is_empty();
        let mut child_entries = false;
        for c in children {
            child_entries |= !c.entries.is_empty();
            part.absorb(c);
        }
        if !had_entries
            && !child_entries
            && !rel.is_empty()
            && part.errors.is_empty()
            && self.opts.filter.keep(rel)
            && let Ok(st) =
                self.inner.pool.with("cannot stat", rel, |c| c.sftp.stat(Path::new(abs)))
        {
            self.count();
            let mut e = stat_entry(rel, &st, None);
            e.kind = EntryKind::Dir;
            e.size = 0;
            part.entries.push(e);
        }
        part
    }

    #[allow(clippy::too_many_arguments)]
    fn symlink(
        &self,
        child: String,
        child_abs: &str,
        real: &str,
        ancestors: &[String],
        lst: &ssh2::FileStat,
        part: &mut Part,
        subdirs: &mut Vec<(String, String, String)>,
    ) {
        use crate::manifest::scan::LinkMode;
        match self.opts.links {
            LinkMode::Skip => {}
            LinkMode::Preserve => {
                if !self.opts.filter.keep(&child) {
                    return;
                }
                match self
                    .inner
                    .pool
                    .with("cannot read link", &child, |c| c.sftp.readlink(Path::new(child_abs)))
                {
                    Ok(t) => match t.to_str() {
                        Some(t) => {
                            self.count();
                            part.entries.push(stat_entry(&child, lst, Some(t.to_string())));
                        }
                        None => part.warnings.push(Warning::new(
                            child.clone(),
                            WarningReason::NonUtf8Name,
                            format!("link target of {child} is not valid UTF-8, skipped"),
                        )),
                    },
                    Err(e) => part.errors.push(FileError::new(ErrorAction::Scan, &child, &e)),
                }
            }
            LinkMode::Follow => {
                let st = self
                    .inner
                    .pool
                    .with("cannot follow link", &child, |c| c.sftp.stat(Path::new(child_abs)));
                match st {
                    Ok(st) if st.is_dir() => {
                        let target_real = self
                            .inner
                            .pool
                            .with("cannot follow link", &child, |c| {
                                c.sftp.realpath(Path::new(child_abs))
                            })
                            .map(|p| p.to_string_lossy().into_owned());
                        match target_real {
                            Ok(t) if t == real || ancestors.contains(&t) => {
                                part.warnings.push(Warning::new(
                                    child.clone(),
                                    WarningReason::SymlinkLoop,
                                    format!("{child} links back to one of its own parent directories: not followed"),
                                ))
                            }
                            Ok(t) => {
                                if self.opts.filter.enter_dir(&child) {
                                    subdirs.push((child, child_abs.to_string(), t));
                                }
                            }
                            Err(e) => part.errors.push(FileError::new(ErrorAction::Scan, &child, &e)),
                        }
                    }
                    Ok(st) if st.is_file() => {
                        if self.opts.filter.keep(&child) {
                            self.count();
                            part.entries.push(stat_entry(&child, &st, None));
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
                    Err(e) if e.kind() == ErrorKind::NotFound => part.warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::DanglingSymlink,
                        format!("{child} points to nothing: skipped"),
                    )),
                    // SFTP v3 reports ELOOP as a plain failure.
                    Err(e) if e.kind() == ErrorKind::Internal => part.warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::SymlinkLoop,
                        format!("{child} cannot be resolved (a symlink loop?): skipped"),
                    )),
                    Err(e) => part.errors.push(FileError::new(ErrorAction::Scan, &child, &e)),
                }
            }
        }
    }
}

/// Lists the tree under the backend's root. A missing root is an error of kind `not_found`.
pub(super) fn scan(inner: &Inner, opts: &ScanOptions) -> Result<ScanOutcome> {
    let root = inner.abs("");
    let st = inner.pool.with("cannot open", &root, |c| c.sftp.stat(Path::new(&root)))?;
    if !st.is_dir() {
        return Err(Error::invalid(format!("{} is not a directory", inner.loc)));
    }
    let real = inner
        .pool
        .with("cannot open", &root, |c| c.sftp.realpath(Path::new(&root)))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| root.clone());
    let threads = worker_threads(opts.threads).max(inner.pool.size());
    let tp = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sw-sftp-scan-{i}"))
        .build()
        .map_err(|e| Error::internal(format!("cannot start scan threads: {e}")))?;
    let walker = Walker { inner, opts };
    let mut part = tp.install(|| walker.walk("", &root, &real, &[]));
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
        tp.install(|| hash_entries(inner, &mut part, opts, algo))?;
    }
    let mut manifest = Manifest::new(opts.name.clone(), inner.loc.to_string());
    manifest.entries = part.entries;
    Ok(ScanOutcome {
        manifest,
        warnings: part.warnings,
        errors: part.errors,
        temporaries: part.temps,
    })
}

/// Hashes the files by reading them over SFTP, except where the cache (keyed by this location) has a digest
/// for the same size and mtime.
fn hash_entries(inner: &Inner, part: &mut Part, opts: &ScanOptions, algo: HashAlgo) -> Result<()> {
    scan::hash_entries(&inner.loc.to_string(), part, opts, algo, 1, |e| {
        let mut h = AlgoHasher::new(algo);
        inner.read_all(&e.path, &mut h)?;
        Ok(h.finish_hex())
    })
}
