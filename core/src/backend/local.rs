//! The local file system backend.

use super::parents::{CheckedDirs, Found};
use super::{Backend, ReadStream, StateWriteFn, WriteSink, blocking};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::diff::NameRules;
use crate::manifest::filter::{STATE_DIR, TEMP_MARKER};
use crate::manifest::hash::{HashAlgo, hash_file, version_fingerprint};
use crate::manifest::scan::{ScanOptions, ScanOutcome, entry_of, scan_local};
use crate::manifest::{Entry, EntryKind, validate_rel_path};
use async_trait::async_trait;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Longest file name most local file systems take.
const MAX_NAME: usize = 255;

/// A tree on a local (or mounted network) file system.
#[derive(Debug)]
pub struct LocalBackend {
    root: PathBuf,
    /// Directories below the root already checked to be real directories (not links).
    checked_dirs: CheckedDirs,
}

impl LocalBackend {
    /// A backend rooted at `root` (it need not exist yet; writes create it).
    pub fn new(root: impl AsRef<Path>) -> Result<LocalBackend> {
        let root = root.as_ref();
        if root.as_os_str().is_empty() {
            return Err(Error::invalid("empty path"));
        }
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io(&e, "cannot read", "the current directory"))?
                .join(root)
        };
        Ok(LocalBackend { root, checked_dirs: CheckedDirs::default() })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn abs(&self, rel: &str) -> Result<PathBuf> {
        validate_rel_path(rel)?;
        Ok(self.root.join(rel))
    }

    /// Makes sure every directory above `rel` is a real directory inside the root (never a symlink that could lead
    /// out of it), creating missing ones when `create`.
    fn check_parents(&self, rel: &str, create: bool) -> Result<()> {
        // The root itself, unless a folder below it is known already.
        let parent = rel.rsplit_once('/').map(|(p, _)| p);
        if create && !parent.is_some_and(|p| self.checked_dirs.contains(p)) {
            std::fs::create_dir_all(&self.root)
                .map_err(|e| Error::io(&e, "cannot create", self.root.display().to_string()))?;
        }
        let stat = |prefix: &str| match std::fs::symlink_metadata(self.root.join(prefix)) {
            Ok(md) if md.is_dir() => Ok(Found::Dir),
            Ok(md) if md.file_type().is_symlink() => Ok(Found::Symlink),
            Ok(_) => Ok(Found::Other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::Missing),
            Err(e) => Err(Error::io(&e, "cannot stat", prefix)),
        };
        let mut mkdir = |prefix: &str| {
            let p = self.root.join(prefix);
            match std::fs::create_dir(&p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => Ok(()),
                Err(e) => Err(Error::io(&e, "cannot create directory", prefix)),
            }
        };
        self.checked_dirs.check(rel, stat, if create { Some(&mut mkdir) } else { None })
    }

    /// The local file of state `key` (`.syncwright/<key>`), its folders checked to be real folders inside the root
    /// (never followed if a link: see [`CheckedDirs::check_state`]) and made when `create`; None when one is
    /// missing (and not made).
    fn state_path(&self, key: &str, create: bool) -> Result<Option<PathBuf>> {
        validate_rel_path(key)?;
        let rel = format!("{STATE_DIR}/{key}");
        if !check_root(&self.root, create, None)? || !check_state(&self.root, &rel, create, None)? {
            return Ok(None);
        }
        Ok(Some(self.root.join(rel)))
    }
}

/// Makes sure the destination root is a folder, making it (and recording each folder made in `made`) when
/// missing and `create`; false when it is missing and not made. A root that is a file, a link to one or a
/// dangling link is an error of kind `invalid_input` naming it: the location given is not a folder.
fn check_root(root: &Path, create: bool, made: Option<&mut Vec<PathBuf>>) -> Result<bool> {
    let shown = root.display().to_string();
    match std::fs::metadata(root) {
        Ok(md) if md.is_dir() => return Ok(true),
        Ok(md) => {
            let what = if md.is_file() { "a file" } else { "a special file" };
            return Err(Error::invalid(format!(
                "the destination {shown} is {what}, not a folder: name a folder (or a path where one can be made)"
            ))
            .with_path(shown));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(root).is_ok() {
                return Err(Error::invalid(format!(
                    "the destination {shown} is a symlink to nothing, not a folder"
                ))
                .with_path(shown));
            }
        }
        Err(e) => return Err(Error::io(&e, "cannot stat", shown)),
    }
    if !create {
        return Ok(false);
    }
    // Top down from the first missing ancestor, so that what was made can be taken back.
    let mut missing = Vec::new();
    let mut p = root;
    while std::fs::symlink_metadata(p).is_err() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(q) => p = q,
            None => break,
        }
    }
    let mut made = made;
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(&d) {
            Ok(()) => {
                if let Some(m) = made.as_deref_mut() {
                    m.push(d);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(Error::io(&e, "cannot create", d.display().to_string())),
        }
    }
    Ok(true)
}

/// Checks (fresh, no cache: a lock's folders may be removed again) the folders of state path `rel` below `root`,
/// making missing ones when `create` and recording them in `made`; see [`CheckedDirs::check_state`].
fn check_state(
    root: &Path,
    rel: &str,
    create: bool,
    made: Option<&mut Vec<PathBuf>>,
) -> Result<bool> {
    let stat = |prefix: &str| match std::fs::symlink_metadata(root.join(prefix)) {
        Ok(md) if md.is_dir() => Ok(Found::Dir),
        Ok(md) if md.file_type().is_symlink() => Ok(Found::Symlink),
        Ok(_) => Ok(Found::Other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::Missing),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(Found::Missing),
        Err(e) => Err(Error::io(&e, "cannot stat", prefix)),
    };
    let mut made = made;
    let mut mkdir = |prefix: &str| {
        let p = root.join(prefix);
        match std::fs::create_dir(&p) {
            Ok(()) => {
                if let Some(m) = made.as_deref_mut() {
                    m.push(p);
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                match std::fs::symlink_metadata(&p) {
                    Ok(md) if md.is_dir() => Ok(()),
                    // Made meanwhile, as something else: the next check refuses it.
                    _ => Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "{prefix} appeared at the destination as something other than a folder"
                        ),
                    )
                    .with_path(prefix)),
                }
            }
            Err(e) => Err(Error::io(&e, "cannot create directory", prefix)),
        }
    };
    CheckedDirs::default().check_state(rel, stat, if create { Some(&mut mkdir) } else { None })
}

/// Refuses a state file that is a symlink (it would be read from outside the destination).
fn not_a_link(p: &Path) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(md) if md.file_type().is_symlink() => Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "{} is a symlink: syncwright never follows a link out of the destination for its own state; \
                 remove it",
                p.display()
            ),
        )
        .with_path(p.display().to_string())),
        _ => Ok(()),
    }
}

/// The local backend's own lock folder, `ROOT/.syncwright/locks/`: where the lock of a run writing this
/// destination lives (see [`crate::locks`]). Its folders are checked on every call like the rest of the state
/// (a link is refused, never followed), and those it had to make for a lock are removed again when empty.
#[derive(Debug)]
struct LocalLockFiles {
    root: PathBuf,
    made: std::sync::Mutex<Vec<PathBuf>>,
}

/// The state folder of the lock files, and a file name inside it (for checking the folders on the way).
const LOCKS_REL: &str = ".syncwright/locks/x";

impl LocalLockFiles {
    /// The lock folder, checked; None when it is missing and not `create`d.
    fn dir(&self, create: bool) -> Result<Option<PathBuf>> {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        if !check_root(&self.root, create, Some(&mut made))?
            || !check_state(&self.root, LOCKS_REL, create, Some(&mut made))?
        {
            return Ok(None);
        }
        Ok(Some(self.root.join(STATE_DIR).join("locks")))
    }
}

impl crate::locks::LockFiles for LocalLockFiles {
    fn location(&self) -> String {
        self.root.join(STATE_DIR).join("locks").display().to_string()
    }
    fn create_new(&self, file: &str, data: &[u8]) -> Result<bool> {
        let mut attempt = 0;
        loop {
            let dir = self.dir(true)?.ok_or_else(|| Error::internal("lock folder not made"))?;
            match crate::locks::fs::create_new(&dir, file, data) {
                // Its folder removed meanwhile by a holder tidying up after itself: make it again.
                Err(e) if e.kind() == ErrorKind::NotFound && attempt < 3 => attempt += 1,
                r => return r,
            }
        }
    }
    fn read(&self, file: &str) -> Result<Option<(Vec<u8>, std::time::Duration)>> {
        match self.dir(false)? {
            Some(d) => crate::locks::fs::read(&d, file),
            None => Ok(None),
        }
    }
    fn replace(&self, file: &str, data: &[u8]) -> Result<()> {
        let dir = self.dir(true)?.ok_or_else(|| Error::internal("lock folder not made"))?;
        crate::locks::fs::replace(&dir, file, data)
    }
    fn rename(&self, from: &str, to: &str) -> Result<bool> {
        match self.dir(false)? {
            Some(d) => crate::locks::fs::rename(&d, from, to),
            None => Ok(false),
        }
    }
    fn remove(&self, file: &str) -> Result<bool> {
        match self.dir(false)? {
            Some(d) => crate::locks::fs::remove(&d, file),
            None => Ok(false),
        }
    }
    fn list(&self) -> Result<Vec<String>> {
        match self.dir(false)? {
            Some(d) => crate::locks::fs::list(&d),
            None => Ok(vec![]),
        }
    }
    fn tidy(&self) {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        // Innermost first; a folder that holds anything (a manifest, another taker's lock) stays, and so do those
        // above it.
        while let Some(d) = made.pop() {
            if std::fs::remove_dir(&d).is_err() {
                made.clear();
            }
        }
    }
}

/// The temporary name beside `rel` for a source version with fingerprint `fp`.
pub fn temp_name_for(rel: &str, fp: &str) -> String {
    let (dir, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, rel),
    };
    let room = MAX_NAME - 1 - TEMP_MARKER.len() - fp.len();
    let mut cut = name.len().min(room);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let tmp = format!(".{}{TEMP_MARKER}{fp}", &name[..cut]);
    match dir {
        Some(d) => format!("{d}/{tmp}"),
        None => tmp,
    }
}

/// Sets the mtime of `path` without following a final symlink.
fn set_mtime_nofollow(path: &Path, mtime_ns: i64, display: &str) -> Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("{display}: path contains NUL")))?;
    let ts = libc::timespec {
        tv_sec: mtime_ns.div_euclid(1_000_000_000) as libc::time_t,
        tv_nsec: mtime_ns.rem_euclid(1_000_000_000) as _,
    };
    let times = [ts, ts];
    // SAFETY: `c` is a valid NUL-terminated path and `times` points to two timespecs, as utimensat requires.
    let r = unsafe {
        libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW)
    };
    if r != 0 {
        return Err(Error::io(
            &std::io::Error::last_os_error(),
            "cannot set the mtime of",
            display,
        ));
    }
    Ok(())
}

fn system_time(ns: i64) -> std::time::SystemTime {
    if ns >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64)
    } else {
        std::time::UNIX_EPOCH - std::time::Duration::from_nanos(ns.unsigned_abs())
    }
}

/// `path` made absolute and free of symlinks as far as it exists (the rest appended as given), so that two roots
/// can be compared even before one of them is created.
pub(crate) fn canonical_lenient(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(c) = std::fs::canonicalize(&existing) {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(n), Some(p)) => {
                rest.push(n);
                existing = p.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// `target`, or the first of `target.~1~`, `target.~2~`, ... that is free.
fn free_name(target: &Path) -> PathBuf {
    if std::fs::symlink_metadata(target).is_err() {
        return target.to_path_buf();
    }
    (1u64..)
        .map(|n| {
            let mut s = target.as_os_str().to_os_string();
            s.push(format!(".~{n}~"));
            PathBuf::from(s)
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("some numbered name is free")
}

/// Moves a file or symlink to another file system: a complete, durable copy under a temporary name, renamed into
/// place, then the original removed.
fn copy_across(from: &Path, to: &Path, shown: &str) -> Result<()> {
    let md = std::fs::symlink_metadata(from).map_err(|e| Error::io(&e, "cannot stat", shown))?;
    let mut tmp = to.as_os_str().to_os_string();
    tmp.push(".swbackup-partial");
    let tmp = PathBuf::from(tmp);
    let r = (|| {
        if md.file_type().is_symlink() {
            let t =
                std::fs::read_link(from).map_err(|e| Error::io(&e, "cannot read link", shown))?;
            std::os::unix::fs::symlink(t, &tmp)
                .map_err(|e| Error::io(&e, "cannot create the backup of", shown))?;
        } else {
            std::fs::copy(from, &tmp)
                .map_err(|e| Error::io(&e, "cannot copy to the backup folder", shown))?;
            let f =
                File::open(&tmp).map_err(|e| Error::io(&e, "cannot open the backup of", shown))?;
            f.sync_all().map_err(|e| Error::io(&e, "cannot flush the backup of", shown))?;
            set_mtime_nofollow(&tmp, crate::manifest::scan::mtime_ns(&md), shown)?;
        }
        std::fs::rename(&tmp, to)
            .map_err(|e| Error::io(&e, "cannot move to the backup folder", shown))
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return r;
    }
    std::fs::remove_file(from).map_err(|e| Error::io(&e, "cannot remove after backing up", shown))
}

fn fsync_dir(dir: &Path) {
    // Best effort: makes the rename durable. Some file systems refuse fsync on directories.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn scheme(&self) -> &'static str {
        "local"
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn rules(&self) -> NameRules {
        NameRules {
            case_insensitive: cfg!(any(target_os = "macos", target_os = "windows")),
            normalizes_unicode: cfg!(target_os = "macos"),
            max_path_bytes: None,
            max_name_bytes: Some(MAX_NAME),
            symlinks: cfg!(unix),
            control_chars: true,
        }
    }

    fn temp_path(&self, path: &str, version: &Entry) -> Option<String> {
        Some(temp_name_for(path, &version_fingerprint(path, version.size, version.mtime_ns)))
    }

    fn folder_metadata(&self) -> bool {
        true
    }

    fn root_id(&self) -> Option<super::RootId> {
        Some(super::RootId {
            service: "local".into(),
            path: canonical_lenient(&self.root).to_string_lossy().into_owned(),
        })
    }

    fn supports_absolute_backup(&self) -> bool {
        true
    }

    async fn backup(&self, path: &str, backup_dir: &str) -> Result<String> {
        let from = self.abs(path)?;
        let base = self.root.join(backup_dir);
        blocking(|| {
            self.check_parents(path, false)?;
            let target = base.join(path);
            let parent = target.parent().expect("a backup path has a parent");
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::io(&e, "cannot create the backup folder", parent.display().to_string())
            })?;
            let target = free_name(&target);
            match std::fs::rename(&from, &target) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                    copy_across(&from, &target, path)?
                }
                Err(e) => return Err(Error::io(&e, "cannot move to the backup folder", path)),
            }
            fsync_dir(parent);
            Ok(target.display().to_string())
        })
    }

    async fn list_state(&self, dir: &str) -> Result<Vec<String>> {
        blocking(|| {
            // The folder is checked like the folders of a key inside it (a link is refused, never followed).
            let Some(p) = self.state_path(&format!("{dir}/x"), false)? else {
                return Ok(Vec::new());
            };
            let p = p.parent().expect("a state key has a folder").to_path_buf();
            match std::fs::read_dir(&p) {
                Ok(rd) => Ok(rd
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(Error::io(&e, "cannot list", p.display().to_string())),
            }
        })
    }

    async fn scan(&self, opts: ScanOptions) -> Result<ScanOutcome> {
        blocking(|| scan_local(&self.root, &opts))
    }

    async fn stat(&self, path: &str) -> Result<Option<Entry>> {
        let p = self.abs(path)?;
        blocking(|| match std::fs::symlink_metadata(&p) {
            Ok(md) => {
                let target = if md.file_type().is_symlink() {
                    std::fs::read_link(&p).ok().and_then(|t| t.to_str().map(str::to_string))
                } else {
                    None
                };
                Ok(Some(entry_of(path, &md, target)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&e, "cannot stat", path)),
        })
    }

    async fn stat_follow(&self, path: &str) -> Result<Option<Entry>> {
        let p = self.abs(path)?;
        blocking(|| match std::fs::metadata(&p) {
            Ok(md) => Ok(Some(entry_of(path, &md, None))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&e, "cannot stat", path)),
        })
    }

    async fn open_read(&self, path: &str, offset: u64) -> Result<Box<dyn ReadStream>> {
        let p = self.abs(path)?;
        let file = blocking(|| -> Result<File> {
            let mut f = File::open(&p).map_err(|e| Error::io(&e, "cannot open", path))?;
            if offset > 0 {
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| Error::io(&e, "cannot seek in", path))?;
            }
            Ok(f)
        })?;
        Ok(Box::new(LocalReader { file, path: path.to_string() }))
    }

    async fn open_write(&self, path: &str, version: &Entry) -> Result<Box<dyn WriteSink>> {
        let target = self.abs(path)?;
        let fp = version_fingerprint(path, version.size, version.mtime_ns);
        let temp_rel = temp_name_for(path, &fp);
        let temp = self.root.join(&temp_rel);
        blocking(|| -> Result<Box<dyn WriteSink>> {
            self.check_parents(path, true)?;
            // Resume a partial temporary of this very source version.
            let existing = match std::fs::symlink_metadata(&temp) {
                Ok(md) if md.is_file() && md.len() <= version.size => md.len(),
                Ok(_) => {
                    let _ = std::fs::remove_file(&temp);
                    0
                }
                Err(_) => 0,
            };
            let file = if existing > 0 {
                OpenOptions::new().append(true).open(&temp)
            } else {
                OpenOptions::new().write(true).create(true).truncate(true).open(&temp)
            }
            .map_err(|e| Error::io(&e, "cannot create", &temp_rel))?;
            Ok(Box::new(LocalWriter {
                file: Some(file),
                temp,
                target,
                path: path.to_string(),
                resume: existing,
            }))
        })
    }

    async fn set_meta(&self, path: &str, entry: &Entry) -> Result<()> {
        let p = self.abs(path)?;
        blocking(|| {
            self.check_parents(path, false)?;
            if entry.kind != EntryKind::Symlink {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(entry.mode))
                    .map_err(|e| Error::io(&e, "cannot set the mode of", path))?;
            }
            set_mtime_nofollow(&p, entry.mtime_ns, path)
        })
    }

    async fn create_dir(&self, path: &str, entry: &Entry) -> Result<()> {
        let p = self.abs(path)?;
        blocking(|| {
            self.check_parents(path, true)?;
            match std::fs::create_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {}
                Err(e) => return Err(Error::io(&e, "cannot create directory", path)),
            }
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(entry.mode | 0o700))
                .map_err(|e| Error::io(&e, "cannot set the mode of", path))?;
            set_mtime_nofollow(&p, entry.mtime_ns, path)
        })
    }

    async fn create_symlink(&self, path: &str, entry: &Entry) -> Result<()> {
        let target = entry
            .target
            .as_deref()
            .ok_or_else(|| Error::invalid(format!("{path}: symlink entry without a target")))?;
        let p = self.abs(path)?;
        let fp = version_fingerprint(path, entry.size, entry.mtime_ns);
        let temp = self.root.join(temp_name_for(path, &fp));
        blocking(|| {
            self.check_parents(path, true)?;
            let _ = std::fs::remove_file(&temp);
            std::os::unix::fs::symlink(target, &temp)
                .map_err(|e| Error::io(&e, "cannot create symlink", path))?;
            let r = set_mtime_nofollow(&temp, entry.mtime_ns, path).and_then(|_| {
                std::fs::rename(&temp, &p).map_err(|e| Error::io(&e, "cannot replace", path))
            });
            if r.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            r
        })
    }

    async fn delete(&self, path: &str, kind: EntryKind) -> Result<()> {
        let p = self.abs(path)?;
        blocking(|| {
            self.check_parents(path, false)?;
            let r = match kind {
                EntryKind::Dir => std::fs::remove_dir(&p),
                _ => std::fs::remove_file(&p),
            };
            match r {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io(&e, "cannot delete", path)),
            }
        })
    }

    async fn remove_empty_dir(&self, path: &str) -> Result<bool> {
        let p = self.abs(path)?;
        blocking(|| {
            self.check_parents(path, false)?;
            match std::fs::symlink_metadata(&p) {
                Ok(md) if md.is_dir() => {}
                _ => return Ok(false),
            }
            match std::fs::remove_dir(&p) {
                Ok(()) => {
                    self.checked_dirs.remove(path);
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(false),
                Err(e) => Err(Error::io(&e, "cannot remove directory", path)),
            }
        })
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (a, b) = (self.abs(from)?, self.abs(to)?);
        blocking(|| {
            self.check_parents(from, false)?;
            self.check_parents(to, true)?;
            std::fs::rename(&a, &b).map_err(|e| Error::io(&e, "cannot rename", from))
        })
    }

    async fn read_state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        blocking(|| {
            let Some(p) = self.state_path(key, false)? else { return Ok(None) };
            not_a_link(&p)?;
            match std::fs::read(&p) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(&e, "cannot read", p.display().to_string())),
            }
        })
    }

    async fn state_file(&self, key: &str) -> Result<Option<PathBuf>> {
        blocking(|| {
            let Some(p) = self.state_path(key, false)? else { return Ok(None) };
            not_a_link(&p)?;
            Ok(p.is_file().then_some(p))
        })
    }

    async fn flush(&self) -> Result<()> {
        let root = self.root.clone();
        blocking(move || {
            let d = match File::open(&root) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(Error::io(&e, "cannot open", root.display().to_string())),
            };
            #[cfg(target_os = "linux")]
            {
                use std::os::fd::AsRawFd;
                // SAFETY: `d` is an open descriptor for the duration of the call.
                if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
                    let e = std::io::Error::last_os_error();
                    return Err(Error::io(
                        &e,
                        "cannot flush the file system of",
                        root.display().to_string(),
                    ));
                }
            }
            #[cfg(not(target_os = "linux"))]
            {
                let _ = d.sync_all();
            }
            Ok(())
        })
    }

    async fn write_state(&self, key: &str, data: &[u8]) -> Result<()> {
        self.write_state_with(key, &|w: &mut dyn Write| {
            w.write_all(data).map_err(|e| Error::io(&e, "cannot write", key))
        })
        .await
    }

    async fn write_state_with(&self, key: &str, write: StateWriteFn<'_>) -> Result<()> {
        blocking(|| {
            let p = self
                .state_path(key, true)?
                .ok_or_else(|| Error::internal("state folder not made"))?;
            let dir = p.parent().expect("state path has a parent");
            let tmp = p.with_extension(format!("tmp-{}", std::process::id()));
            let shown = p.display().to_string();
            let r = (|| {
                // Never through a link planted under the temporary's name.
                let f = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&tmp)
                    .map_err(|e| Error::io(&e, "cannot create", &shown))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                write(&mut w)?;
                let f = w.into_inner().map_err(|e| Error::io(e.error(), "cannot write", &shown))?;
                f.sync_all().map_err(|e| Error::io(&e, "cannot flush", &shown))?;
                std::fs::rename(&tmp, &p).map_err(|e| Error::io(&e, "cannot replace", &shown))?;
                fsync_dir(dir);
                Ok(())
            })();
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r
        })
    }

    async fn delete_state(&self, key: &str) -> Result<()> {
        blocking(|| {
            let Some(p) = self.state_path(key, false)? else { return Ok(()) };
            match std::fs::remove_file(&p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io(&e, "cannot delete", p.display().to_string())),
            }
        })
    }

    fn lock_files(&self) -> Option<std::sync::Arc<dyn crate::locks::LockFiles>> {
        Some(std::sync::Arc::new(LocalLockFiles {
            root: self.root.clone(),
            made: Default::default(),
        }))
    }
}

struct LocalReader {
    file: File,
    path: String,
}

#[async_trait]
impl ReadStream for LocalReader {
    async fn read_chunk(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<()> {
        // Grow (and zero) only when needed: a buffer reused for full chunks is never cleared again.
        if buf.len() < max {
            buf.resize(max, 0);
        }
        let r = blocking(|| {
            let mut filled = 0;
            while filled < max {
                match self.file.read(&mut buf[filled..max]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io(&e, "cannot read", &self.path)),
                }
            }
            Ok(filled)
        });
        match r {
            Ok(n) => {
                buf.truncate(n);
                Ok(())
            }
            Err(e) => {
                buf.clear();
                Err(e)
            }
        }
    }
}

struct LocalWriter {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
    path: String,
    resume: u64,
}

impl LocalWriter {
    fn file(&mut self) -> Result<&mut File> {
        self.file.as_mut().ok_or_else(|| Error::internal("write after close"))
    }

    /// Checks the content when asked, then sets mode and mtime: what both commit paths do before the rename.
    fn finalize(&mut self, entry: &Entry, verify_blake3: Option<&str>) -> Result<()> {
        let path = self.path.clone();
        if let Some(want) = verify_blake3 {
            self.file()?.flush().map_err(|e| Error::io(&e, "cannot write", &path))?;
            let got = hash_file(&self.temp, &path, HashAlgo::Blake3)?;
            if got != want {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!("{path}: what was written does not match the source (blake3 {got}, expected {want})"),
                )
                .with_path(&path));
            }
        }
        let f = self.file()?;
        f.set_permissions(std::fs::Permissions::from_mode(entry.mode))
            .map_err(|e| Error::io(&e, "cannot set the mode of", &path))?;
        f.set_times(std::fs::FileTimes::new().set_modified(system_time(entry.mtime_ns)))
            .map_err(|e| Error::io(&e, "cannot set the mtime of", &path))
    }
}

/// A complete local temporary, renamed over its target once its batch was flushed.
struct LocalPrepared {
    temp: PathBuf,
    target: PathBuf,
    path: String,
    /// Renamed or removed: nothing to clean up.
    done: std::sync::atomic::AtomicBool,
}

impl Drop for LocalPrepared {
    fn drop(&mut self) {
        if !*self.done.get_mut() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[async_trait]
impl super::PreparedWrite for LocalPrepared {
    async fn commit(&self) -> Result<()> {
        blocking(|| std::fs::rename(&self.temp, &self.target))
            .map_err(|e| Error::io(&e, "cannot replace", &self.path))?;
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        *self.done.get_mut() = true;
        match blocking(|| std::fs::remove_file(&self.temp)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&e, "cannot remove temporary of", &self.path)),
        }
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // A writer dropped without commit or keep_partial (a cancelled task) leaves no temporary behind.
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[async_trait]
impl WriteSink for LocalWriter {
    fn resume_offset(&self) -> u64 {
        self.resume
    }

    fn local_partial(&self) -> Option<&Path> {
        (self.resume > 0).then_some(self.temp.as_path())
    }

    async fn write_chunk(&mut self, data: &[u8]) -> Result<()> {
        let path = self.path.clone();
        blocking(|| self.file()?.write_all(data).map_err(|e| Error::io(&e, "cannot write", &path)))
    }

    async fn commit(mut self: Box<Self>, entry: &Entry, verify_blake3: Option<&str>) -> Result<()> {
        blocking(|| -> Result<()> {
            let path = self.path.clone();
            self.file()?.sync_all().map_err(|e| Error::io(&e, "cannot flush", &path))?;
            self.finalize(entry, verify_blake3)?;
            std::fs::rename(&self.temp, &self.target)
                .map_err(|e| Error::io(&e, "cannot replace", &path))?;
            self.file = None;
            // The rename is made durable for the whole tree at once by `flush`, before the manifest that
            // vouches for it is written; one directory fsync per file would cost more than the copy.
            Ok(())
        })
        // On failure, Drop removes the temporary.
    }

    async fn prepare(
        mut self: Box<Self>,
        entry: &Entry,
        verify_blake3: Option<&str>,
    ) -> Result<Box<dyn super::PreparedWrite>> {
        blocking(|| self.finalize(entry, verify_blake3))?;
        self.file = None;
        Ok(Box::new(LocalPrepared {
            temp: std::mem::take(&mut self.temp),
            target: std::mem::take(&mut self.target),
            path: std::mem::take(&mut self.path),
            done: Default::default(),
        }))
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.file = None;
        blocking(|| match std::fs::remove_file(&self.temp) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&e, "cannot remove temporary of", &self.path)),
        })
    }

    async fn keep_partial(mut self: Box<Self>) -> Result<()> {
        if let Some(f) = self.file.take() {
            let _ = f.sync_data();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_fit_and_are_recognised() {
        let fp = "0123456789abcdef";
        assert_eq!(temp_name_for("a/b.png", fp), "a/.b.png.swtmp-0123456789abcdef");
        let long = "é".repeat(200);
        let t = temp_name_for(&long, fp);
        assert!(t.len() <= MAX_NAME);
        assert!(crate::manifest::filter::is_temp_name(&t));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_refuse_a_symlinked_parent() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("esc")).unwrap();
        let b = LocalBackend::new(dir.path()).unwrap();
        let e = Entry::file("esc/x", 1, 0, 0o644);
        let err = match b.open_write("esc/x", &e).await {
            Err(err) => err,
            Ok(_) => panic!("write through a symlink was allowed"),
        };
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        assert_eq!(b.open_read("../x", 0).await.err().unwrap().kind(), ErrorKind::InvalidInput);
    }
}
