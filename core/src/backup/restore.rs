//! Checking and restoring an archive. Every entry name, the manifest and the entry set are checked before
//! anything is written; then each file is streamed to a temporary beside its target (its SHA-256 checked on the
//! way, zero blocks left as holes), made durable in batches (one `syncfs` for many files) and renamed into place
//! on a second thread while the next files are extracted.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::manifest::{self, MANIFEST_PATH, Manifest};
use super::names::entry_name_problem;
use super::out::SparseOut;
use super::zip::{DEFLATED, STORED, ZipReader};
use super::{FailedFile, Problem, RestoreReport, RestoreStatus, VerifyReport};
use crate::durable::rename_noreplace;
use crate::error::{Error, ErrorKind, Result};

/// Files made durable together: one flush for up to this many files or bytes.
const BATCH_FILES: usize = 512;
/// See [`BATCH_FILES`].
const BATCH_BYTES: u64 = 256 << 20;
/// The piece entries are streamed in.
const CHUNK: usize = 1 << 20;

/// An archive that passed the checks: its reader, manifest and the work in archive order.
pub(crate) struct Checked {
    pub reader: ZipReader,
    pub manifest: Manifest,
    /// (entry index in the zip, entry index in the manifest), by offset in the archive.
    pub order: Vec<(usize, usize)>,
}

fn problem(path: &str, what: impl Into<String>) -> Problem {
    Problem { path: path.to_string(), problem: what.into() }
}

fn refused(archive: &Path, problems: Vec<Problem>) -> Error {
    let first = &problems[0];
    let more = if problems.len() > 1 {
        format!(" (and {} more)", problems.len() - 1)
    } else {
        String::new()
    };
    let msg = format!(
        "the archive {} is refused: entry {:?}: {}{more}",
        archive.display(),
        first.path,
        first.problem
    );
    Error::new(ErrorKind::Corrupt, msg)
        .with_path(archive.display().to_string())
        .with_details(json!({ "archive": archive.display().to_string(), "problems": problems }))
}

fn is_sha_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Opens `archive` and runs every check that comes before a byte is written.
pub(crate) fn check(archive: &Path) -> Result<Checked> {
    let file = File::open(archive)
        .map_err(|e| Error::io(&e, "cannot open", archive.display().to_string()))?;
    let reader = ZipReader::new(file).map_err(|e| {
        let msg = format!("{}: {}", archive.display(), e.message());
        Error::new(e.kind(), msg).with_path(archive.display().to_string())
    })?;
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut dirs = HashSet::new();
    for e in &reader.entries {
        let name = e.name.as_str();
        if !e.name_utf8 {
            problems.push(problem(name, "the name is not UTF-8"));
            continue;
        }
        if !seen.insert(name) {
            problems.push(problem(name, "a duplicate name"));
            continue;
        }
        if name == MANIFEST_PATH {
            continue;
        }
        if let Some(p) = entry_name_problem(name) {
            problems.push(problem(name, p));
            continue;
        }
        if e.is_symlink() {
            problems.push(problem(name, "a symbolic link"));
        } else if e.is_encrypted() {
            problems.push(problem(name, "an encrypted entry"));
        } else if e.method != STORED && e.method != DEFLATED {
            problems
                .push(problem(name, format!("compression method {} is not supported", e.method)));
        }
        let mut at = 0;
        while let Some(i) = name[at..].find('/') {
            dirs.insert(&name[..at + i]);
            at += i + 1;
        }
    }
    for e in &reader.entries {
        if dirs.contains(e.name.as_str()) {
            problems.push(problem(&e.name, "a file and a folder of the same name"));
        }
    }
    let manifest = match manifest::read(&reader) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            return Err(Error::invalid(format!("{}: {}", archive.display(), e.message())));
        }
        Err(e) => {
            problems.push(problem(MANIFEST_PATH, e.message()));
            None
        }
    };
    let mut order = Vec::new();
    if let Some(m) = &manifest {
        let mut by_path: HashMap<&str, usize> = HashMap::with_capacity(m.entries.len());
        for (i, me) in m.entries.iter().enumerate() {
            if let Some(p) = entry_name_problem(&me.path)
                .or((me.path == MANIFEST_PATH).then_some("the manifest's own name"))
            {
                problems.push(problem(&me.path, format!("in the manifest: {p}")));
            } else if by_path.insert(&me.path, i).is_some() {
                problems.push(problem(&me.path, "twice in the manifest"));
            } else if !is_sha_hex(&me.sha256) {
                problems.push(problem(&me.path, "the manifest's sha256 is not 64 hex digits"));
            }
        }
        if m.entry_count != m.entries.len() as u64 {
            problems.push(problem(MANIFEST_PATH, "entry_count does not match the entries"));
        }
        let mut found = HashSet::new();
        for (zi, e) in reader.entries.iter().enumerate() {
            if e.name == MANIFEST_PATH || !e.name_utf8 {
                continue;
            }
            match by_path.get(e.name.as_str()) {
                None => problems.push(problem(&e.name, "not in the manifest")),
                Some(&mi) => {
                    if found.insert(mi) {
                        order.push((zi, mi));
                    }
                    if m.entries[mi].size != e.size {
                        problems.push(problem(&e.name, "its size differs from the manifest's"));
                    }
                }
            }
        }
        for (i, me) in m.entries.iter().enumerate() {
            if !found.contains(&i) && by_path.get(me.path.as_str()) == Some(&i) {
                problems.push(problem(&me.path, "in the manifest but not in the archive"));
            }
        }
    }
    match manifest {
        Some(manifest) if problems.is_empty() => {
            order.sort_by_key(|&(zi, _)| reader.entries[zi].offset);
            Ok(Checked { reader, manifest, order })
        }
        _ => Err(refused(archive, problems)),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// See [`super::verify`].
pub fn verify(archive: &Path) -> Result<VerifyReport> {
    let c = check(archive)?;
    let mut problems = Vec::new();
    let mut bytes = 0u64;
    let mut buf = Vec::with_capacity(CHUNK);
    for &(zi, mi) in &c.order {
        let e = &c.reader.entries[zi];
        let me = &c.manifest.entries[mi];
        let mut sha = Sha256::new();
        match c.reader.stream(e, me.size, &mut buf, &mut |b| {
            sha.update(b);
            Ok(())
        }) {
            Ok(n) => {
                bytes += n;
                if hex::encode(sha.finalize()) != me.sha256 {
                    problems.push(problem(&me.path, "its sha256 does not match the manifest's"));
                }
            }
            Err(err) => problems.push(problem(&me.path, err.message())),
        }
    }
    Ok(VerifyReport {
        name: file_name(archive),
        entries: c.order.len() as u64,
        bytes,
        ok: problems.is_empty(),
        problems,
    })
}

/// A file extracted to its temporary, waiting for its batch's flush and rename.
struct Ready {
    rel: String,
    temp: PathBuf,
    dest: PathBuf,
    size: u64,
}

/// What the committing thread did.
#[derive(Default)]
struct Committed {
    restored: Vec<String>,
    kept: Vec<String>,
    failed: Vec<FailedFile>,
    bytes: u64,
}

fn flush_fs(target: &Path) -> std::io::Result<()> {
    let d = File::open(target)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `d` is an open descriptor for the duration of the call.
        if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    d.sync_all()?;
    Ok(())
}

fn commit(target: &Path, batch: Vec<Ready>, replace: bool, out: &mut Committed) {
    if let Err(e) = flush_fs(target) {
        for r in batch {
            let _ = std::fs::remove_file(&r.temp);
            out.failed
                .push(FailedFile { path: r.rel, error: format!("cannot flush to disk: {e}") });
        }
        return;
    }
    for r in batch {
        let done = if replace {
            std::fs::rename(&r.temp, &r.dest)
        } else {
            rename_noreplace(&r.temp, &r.dest)
        };
        match done {
            Ok(()) => {
                out.bytes += r.size;
                out.restored.push(r.rel);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&r.temp);
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    out.kept.push(r.rel);
                } else {
                    out.failed.push(FailedFile {
                        path: r.rel,
                        error: format!("cannot rename into place: {e}"),
                    });
                }
            }
        }
    }
}

/// The folders below `target` already checked (or made) to be real folders, not links.
struct Parents {
    target: PathBuf,
    ok: HashSet<PathBuf>,
}

impl Parents {
    /// Makes sure every parent folder of `rel` below the target is a real folder (creating what is missing);
    /// the file's folder.
    fn prepare(&mut self, rel: &str) -> std::result::Result<PathBuf, String> {
        let mut cur = self.target.clone();
        let mut parts: Vec<&str> = rel.split('/').collect();
        parts.pop();
        for part in parts {
            cur.push(part);
            if self.ok.contains(&cur) {
                continue;
            }
            let sub = cur.strip_prefix(&self.target).unwrap_or(&cur).display().to_string();
            match std::fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(format!("{sub} in the target is a symbolic link: not followed"));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(format!("{sub} in the target is not a folder")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match std::fs::create_dir(&cur) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            let m = std::fs::symlink_metadata(&cur)
                                .map_err(|e| format!("{sub}: {e}"))?;
                            if !m.is_dir() {
                                return Err(format!("{sub} in the target is not a folder"));
                            }
                        }
                        Err(e) => return Err(format!("cannot create {sub}: {e}")),
                    }
                }
                Err(e) => return Err(format!("{sub}: {e}")),
            }
            self.ok.insert(cur.clone());
        }
        Ok(cur)
    }
}

/// Extracts entry `zi` (manifest entry `mi`) to a temporary in `dir`; the temporary's path when its SHA-256
/// matched (removed otherwise).
fn extract(
    c: &Checked,
    zi: usize,
    mi: usize,
    dir: &Path,
    buf: &mut Vec<u8>,
) -> std::result::Result<PathBuf, String> {
    let e = &c.reader.entries[zi];
    let me = &c.manifest.entries[mi];
    let temp = dir.join(format!(".sw-restore-{}", uuid::Uuid::new_v4().simple()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)
        .map_err(|e| format!("cannot create a temporary: {e}"))?;
    let result = (|| {
        let mut out = SparseOut::new(&file);
        let mut sha = Sha256::new();
        c.reader
            .stream(e, me.size, buf, &mut |b| {
                sha.update(b);
                out.write(b).map_err(|err| Error::io(&err, "cannot write", &me.path))
            })
            .map_err(|err| err.message().to_string())?;
        if hex::encode(sha.finalize()) != me.sha256 {
            return Err("its sha256 does not match the manifest's: the old file, if any, is kept"
                .to_string());
        }
        out.finish().map_err(|err| format!("cannot write: {err}"))?;
        file.set_permissions(std::fs::Permissions::from_mode(me.mode & 0o7777))
            .map_err(|err| format!("cannot set the mode: {err}"))?;
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&me.mtime) {
            let t: std::time::SystemTime = t.with_timezone(&chrono::Utc).into();
            file.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t))
                .map_err(|err| format!("cannot set the mtime: {err}"))?;
        }
        #[cfg(not(target_os = "linux"))]
        file.sync_all().map_err(|err| format!("cannot flush: {err}"))?;
        Ok(())
    })();
    drop(file);
    match result {
        Ok(()) => Ok(temp),
        Err(msg) => {
            let _ = std::fs::remove_file(&temp);
            Err(msg)
        }
    }
}

/// See [`super::restore`].
pub fn restore(
    archive: &Path,
    target: &Path,
    replace_existing: bool,
    cancel: &dyn Fn() -> bool,
) -> Result<RestoreReport> {
    let c = check(archive)?;
    if cancel() {
        return Err(Error::cancelled());
    }
    std::fs::create_dir_all(target)
        .map_err(|e| Error::io(&e, "cannot create", target.display().to_string()))?;
    let mut parents = Parents { target: target.to_path_buf(), ok: HashSet::new() };
    let mut kept = Vec::new();
    let mut failed = Vec::new();
    let mut cancelled = false;
    let committed = std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Vec<Ready>>(2);
        let committer = std::thread::Builder::new()
            .name("backup-commit".into())
            .spawn_scoped(s, move || {
                let mut out = Committed::default();
                for batch in rx {
                    commit(target, batch, replace_existing, &mut out);
                }
                out
            })
            .map_err(|e| Error::new(ErrorKind::Resource, format!("cannot start a thread: {e}")))?;
        let mut batch: Vec<Ready> = Vec::new();
        let mut batch_bytes = 0u64;
        let mut buf = Vec::with_capacity(CHUNK);
        for &(zi, mi) in &c.order {
            if cancel() {
                cancelled = true;
                break;
            }
            let rel = c.manifest.entries[mi].path.clone();
            let dir = match parents.prepare(&rel) {
                Ok(d) => d,
                Err(error) => {
                    failed.push(FailedFile { path: rel, error });
                    continue;
                }
            };
            let dest = target.join(&rel);
            match std::fs::symlink_metadata(&dest) {
                Ok(_) if !replace_existing => {
                    kept.push(rel);
                    continue;
                }
                Ok(m) if m.is_dir() => {
                    failed.push(FailedFile { path: rel, error: "a folder is in its place".into() });
                    continue;
                }
                _ => {}
            }
            match extract(&c, zi, mi, &dir, &mut buf) {
                Ok(temp) => {
                    let size = c.manifest.entries[mi].size;
                    batch_bytes += size;
                    batch.push(Ready { rel, temp, dest, size });
                    if batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES {
                        batch_bytes = 0;
                        if let Err(mpsc::SendError(b)) = tx.send(std::mem::take(&mut batch)) {
                            batch = b;
                            break;
                        }
                    }
                }
                Err(error) => failed.push(FailedFile { path: rel, error }),
            }
        }
        if !batch.is_empty()
            && let Err(mpsc::SendError(b)) = tx.send(batch)
        {
            for r in b {
                let _ = std::fs::remove_file(&r.temp);
                failed.push(FailedFile { path: r.rel, error: "not committed".into() });
            }
        }
        drop(tx);
        committer.join().map_err(|_| Error::internal("the restore's committing thread panicked"))
    })?;
    if let Err(e) = flush_fs(target) {
        return Err(Error::io(&e, "cannot flush to disk", target.display().to_string()));
    }
    if cancelled {
        return Err(Error::cancelled());
    }
    let mut restored = committed.restored;
    kept.extend(committed.kept);
    failed.extend(committed.failed);
    restored.shrink_to_fit();
    let status = if failed.is_empty() { RestoreStatus::Completed } else { RestoreStatus::Partial };
    Ok(RestoreReport {
        archive: archive.to_path_buf(),
        target: target.to_path_buf(),
        status,
        restored,
        kept,
        failed,
        bytes: committed.bytes,
    })
}
