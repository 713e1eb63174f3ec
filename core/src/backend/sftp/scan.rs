//! Listing a tree over SFTP: the walk of every scan (`manifest::walk`, so the same filters, symlink modes,
//! temporaries and warnings as a local scan) over directories read in parallel on the pool's sessions; hashes
//! (for `compare = checksum`) are computed by reading the files, reusing the hash cache where size and mtime are
//! unchanged.

use super::{Inner, stat_entry};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::hash::{AlgoHasher, HashAlgo};
use crate::manifest::scan::{self, Part, ScanOptions, ScanOutcome, worker_threads};
use crate::manifest::walk::{self, Child, Followed, Kind, Tree};
use crate::manifest::{Entry, EntryKind, Manifest};
use crate::report::{Warning, WarningReason};
use ssh2::FileStat;
use std::path::Path;

/// The tree on the host, for the walk every scan shares: READDIR gives each name with its attributes, so a
/// folder costs one round trip per batch of names; directories are told apart by their canonical path.
struct SftpTree<'a> {
    inner: &'a Inner,
}

fn kind_of(st: &FileStat) -> Kind {
    let ft = st.file_type();
    if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    }
}

impl Tree for SftpTree<'_> {
    type Dir = String;
    type Id = String;
    type Meta = FileStat;

    fn list(&self, rel: &str, dir: &String, part: &mut Part) -> Result<Vec<Child<FileStat>>> {
        let shown = if rel.is_empty() { "." } else { rel };
        let list = self
            .inner
            .pool
            .with("cannot read directory", shown, |c| c.sftp.readdir(Path::new(dir)))?;
        let mut out = Vec::with_capacity(list.len());
        for (p, st) in list {
            match p.file_name().and_then(|n| n.to_str()) {
                Some(name) => {
                    out.push(Child { name: name.to_string(), kind: kind_of(&st), meta: st })
                }
                None => {
                    let lossy =
                        p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let child = if rel.is_empty() { lossy } else { format!("{rel}/{lossy}") };
                    part.warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::NonUtf8Name,
                        format!("name is not valid UTF-8, skipped: {child:?}"),
                    ));
                }
            }
        }
        Ok(out)
    }

    fn join(&self, dir: &String, name: &str) -> String {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }

    fn temp_stat(&self, _at: &String, st: &FileStat) -> Option<(u64, i64)> {
        st.file_type()
            .is_file()
            .then(|| (st.size.unwrap_or(0), st.mtime.unwrap_or(0) as i64 * 1_000_000_000))
    }

    fn file(&self, rel: &str, _at: &String, st: &FileStat) -> Result<Entry> {
        Ok(stat_entry(rel, st, None))
    }

    fn dir_id(
        &self,
        _rel: &str,
        parent: &String,
        name: &str,
        _at: &String,
        _st: &FileStat,
    ) -> Result<String> {
        Ok(format!("{}/{name}", parent.trim_end_matches('/')))
    }

    fn link(&self, rel: &str, at: &String, st: &FileStat) -> Result<Option<Entry>> {
        let t =
            self.inner.pool.with("cannot read link", rel, |c| c.sftp.readlink(Path::new(at)))?;
        Ok(t.to_str().map(|t| stat_entry(rel, st, Some(t.to_string()))))
    }

    fn follow(&self, rel: &str, at: &String) -> Result<Followed<String>> {
        let pool = &self.inner.pool;
        match pool.with("cannot follow link", rel, |c| c.sftp.stat(Path::new(at))) {
            Ok(st) if st.is_dir() => {
                let real =
                    pool.with("cannot follow link", rel, |c| c.sftp.realpath(Path::new(at)))?;
                Ok(Followed::Dir(real.to_string_lossy().into_owned()))
            }
            Ok(st) if st.is_file() => Ok(Followed::File(stat_entry(rel, &st, None))),
            Ok(_) => Ok(Followed::Special),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Followed::Dangling),
            // SFTP v3 reports ELOOP as a plain failure.
            Err(e) if e.kind() == ErrorKind::Internal => Ok(Followed::Loop),
            Err(e) => Err(e),
        }
    }

    fn dir_entry(&self, rel: &str, dir: &String) -> Option<Entry> {
        let st = self.inner.pool.with("cannot stat", rel, |c| c.sftp.stat(Path::new(dir))).ok()?;
        let mut e = stat_entry(rel, &st, None);
        e.kind = EntryKind::Dir;
        e.size = 0;
        Some(e)
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
    let part = tp.install(|| walk::walk(&SftpTree { inner }, opts, &root, real));
    let mut part = walk::finish(part, opts)?;
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
        dirs: part.dirs,
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
