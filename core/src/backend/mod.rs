//! Where trees live: the [`Backend`] trait and its implementations — local disks (`local`), SSH hosts over SFTP
//! (`sftp`), S3 and S3-compatible stores (`s3`), Google Drive (`gdrive`) — the local cache of remote manifests
//! (`cached`), locations and remote options (`remote`), and an instrumented wrapper that injects faults for tests.
//!
//! A new version of a file never becomes visible half-written: on file systems (local, SFTP) it is written to a
//! temporary name beside its target (`.<name>.swtmp-<fingerprint>`, the fingerprint naming the target and the
//! source version) and renamed over the target only when complete, so a crash leaves the old file or the new one
//! and a later run can resume a partial temporary of the same source version; object stores get the same from
//! their own atomic uploads (S3 multipart completion, the last chunk of a Drive resumable session), resumed from
//! the parts or bytes the service already holds.

pub mod cached;
#[cfg(feature = "gdrive")]
pub mod gdrive;
pub mod instrumented;
pub mod local;
mod parents;
pub mod remote;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sftp")]
pub mod sftp;

use crate::error::{Error, Result};
use crate::manifest::diff::NameRules;
use crate::manifest::scan::{ScanOptions, ScanOutcome};
use crate::manifest::{Entry, EntryKind};
use async_trait::async_trait;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads a file's content in chunks.
#[async_trait]
pub trait ReadStream: Send {
    /// Replaces the content of `buf` with up to `max` next bytes; leaves it empty at the end of the file.
    async fn read_chunk(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<()>;
}

/// Writes one file to a temporary name beside its target; `commit` makes it visible atomically.
#[async_trait]
pub trait WriteSink: Send {
    /// Bytes already in the temporary from an earlier attempt at the same source version: the caller continues
    /// from there.
    fn resume_offset(&self) -> u64;
    /// The partial temporary as a local file, when it is one: a copy from a remote source then hashes the bytes
    /// already there instead of downloading them again, and reads the source from the resume offset.
    fn local_partial(&self) -> Option<&Path> {
        None
    }
    /// Appends bytes.
    async fn write_chunk(&mut self, data: &[u8]) -> Result<()>;
    /// Flushes to stable storage, sets mode and mtime from `entry`, checks the content against `verify_blake3`
    /// (the BLAKE3 of what was read from the source)
    /// when given (by reading back what was written), and renames the temporary over the target.
    async fn commit(self: Box<Self>, entry: &Entry, verify_blake3: Option<&str>) -> Result<()>;
    /// Sets mode and mtime and checks the content like [`WriteSink::commit`], but leaves the temporary in place
    /// unflushed: the caller makes a batch of them durable with one [`Backend::flush`], then commits each. By
    /// default (backends without a cheaper batch) this commits at once.
    async fn prepare(
        self: Box<Self>,
        entry: &Entry,
        verify_blake3: Option<&str>,
    ) -> Result<Box<dyn PreparedWrite>> {
        self.commit(entry, verify_blake3).await?;
        Ok(Box::new(Committed))
    }
    /// Removes the temporary.
    async fn abort(self: Box<Self>) -> Result<()>;
    /// Leaves the temporary in place so that a later run resumes it.
    async fn keep_partial(self: Box<Self>) -> Result<()>;
}

/// A complete temporary waiting for its batch to be flushed; `commit` renames it over its target.
#[async_trait]
pub trait PreparedWrite: Send + Sync {
    /// Makes the file visible under its name (after [`Backend::flush`] made its content durable). May be called
    /// again after an error (the recovery layer retries a rename that failed on a flaky link); once it succeeded,
    /// the temporary is gone.
    async fn commit(&self) -> Result<()>;
    /// Removes the temporary (after a commit that failed for good, or instead of one).
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// A write already committed by [`WriteSink::prepare`]'s default.
struct Committed;

#[async_trait]
impl PreparedWrite for Committed {
    async fn commit(&self) -> Result<()> {
        Ok(())
    }
    async fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// A place that holds a tree: list it, read and write files safely, delete, and keep syncwright's own state
/// (manifests, run markers, the destination's lock) under `.syncwright/` at its root. Backends with real folders
/// (local, SFTP) refuse a `.syncwright` (or a folder below it) that is a symlink or not a folder, and never follow
/// it; a destination root that is not a folder is an `invalid_input` error.
#[async_trait]
pub trait Backend: Send + Sync + Debug {
    /// The scheme (`local`, `sftp`, `s3`, `gdrive`).
    fn scheme(&self) -> &'static str;
    /// Where it is, for reports and logs; never carries credentials.
    fn location(&self) -> String;
    /// The remote target whose circuit breaker this backend's calls go through, shared by every job against it
    /// (`sftp://user@host:port`, `s3://bucket`, `gdrive://account`); never carries credentials. None (the
    /// default) for local disks, which get no breaker: a local failure is not a flaky link.
    fn breaker_target(&self) -> Option<String> {
        None
    }
    /// Names and kinds the backend can hold.
    fn rules(&self) -> NameRules;
    /// The granularity of the mtimes it stores, in nanoseconds (1 for local disks).
    fn mtime_precision_ns(&self) -> i64 {
        1
    }
    /// Whether the manifests kept here carry SHA-256 for every file (document 3's format, for S3 and Drive):
    /// copies to it then hash with SHA-256 as well as BLAKE3.
    fn wants_sha256(&self) -> bool {
        false
    }
    /// Whether a listing ([`Backend::scan`] without hashing) gives each file's mtime and mode (S3's LIST gives size
    /// and upload time only: the manifest supplies the rest for the entries it recorded).
    fn listing_has_metadata(&self) -> bool {
        true
    }
    /// The name of the temporary that [`Backend::open_write`] (and `create_symlink`) use for source version
    /// `version` of `path`, for the run marker; None for backends without temporaries (object stores).
    fn temp_path(&self, _path: &str, _version: &Entry) -> Option<String> {
        None
    }
    /// The content hash the backend computes itself and lists with each file (Drive's `sha256Checksum`): a checksum
    /// comparison uses it instead of reading the files, and hashes the other side with the same algorithm.
    fn native_hash(&self) -> Option<crate::manifest::hash::HashAlgo> {
        None
    }
    /// Whether folders keep a mode and mtime of their own that a listing reports (file systems: local, SFTP); the
    /// run then gives folders with content the source's.
    fn folder_metadata(&self) -> bool {
        false
    }
    /// What the root is, to refuse a sync whose source and destination overlap; None when it cannot be told.
    fn root_id(&self) -> Option<RootId> {
        None
    }
    /// Whether [`Backend::backup`] takes an absolute backup folder (a path outside the root, on the same host or
    /// disk); every backend takes one relative to its root.
    fn supports_absolute_backup(&self) -> bool {
        false
    }
    /// Moves the file or symlink at `path` into the backup folder `backup_dir` (relative to the root, or absolute
    /// where [`Backend::supports_absolute_backup`]), under the same relative path; a name already taken there gets a
    /// numbered suffix (`name.~1~`, `name.~2~`, ...). Returns where it went. By default: a free name found with
    /// `stat`, then [`Backend::rename`] (object stores copy on the server, then delete).
    async fn backup(&self, path: &str, backup_dir: &str) -> Result<String> {
        if backup_dir.starts_with('/') {
            return Err(Error::invalid(format!(
                "{path}: an absolute backup_dir is not supported for {} destinations; give one relative to the \
                 destination (and exclude it)",
                self.scheme()
            )));
        }
        if self.stat(path).await?.is_none() {
            return Err(Error::new(crate::ErrorKind::NotFound, format!("{path} is gone")));
        }
        let base = format!("{}/{path}", backup_dir.trim_matches('/'));
        let mut to = base.clone();
        let mut n = 0u64;
        while self.stat(&to).await?.is_some() {
            n += 1;
            to = format!("{base}.~{n}~");
        }
        self.rename(path, &to).await?;
        Ok(to)
    }
    /// Lists the tree under the root. A missing root is an error of kind `not_found`.
    async fn scan(&self, opts: ScanOptions) -> Result<ScanOutcome>;
    /// The entry at `path` (symlinks not followed), or None.
    async fn stat(&self, path: &str) -> Result<Option<Entry>>;
    /// The entry at `path` with symlinks followed (what `links = follow` reads), or None.
    async fn stat_follow(&self, path: &str) -> Result<Option<Entry>> {
        self.stat(path).await
    }
    /// Opens a file for reading from `offset`.
    async fn open_read(&self, path: &str, offset: u64) -> Result<Box<dyn ReadStream>>;
    /// Opens the temporary for `path` holding source version `version` (size, mtime), resuming one that exists.
    async fn open_write(&self, path: &str, version: &Entry) -> Result<Box<dyn WriteSink>>;
    /// Sets mode and mtime of an existing entry.
    async fn set_meta(&self, path: &str, entry: &Entry) -> Result<()>;
    /// Creates a directory (and its parents) with the entry's mode and mtime.
    async fn create_dir(&self, path: &str, entry: &Entry) -> Result<()>;
    /// Creates or atomically replaces a symlink.
    async fn create_symlink(&self, path: &str, entry: &Entry) -> Result<()>;
    /// Deletes a file, symlink or empty directory; a missing entry is not an error.
    async fn delete(&self, path: &str, kind: EntryKind) -> Result<()>;
    /// Removes a directory if it is empty; returns whether it was removed.
    async fn remove_empty_dir(&self, path: &str) -> Result<bool>;
    /// Renames an entry (used to keep both versions of an edited destination file).
    async fn rename(&self, from: &str, to: &str) -> Result<()>;
    /// Makes every completed write durable (renames included): called once before a manifest that vouches
    /// for them is written. Backends whose writes are durable when they return need do nothing.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }
    /// Reads `.syncwright/<key>`, or None.
    async fn read_state(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// A local file holding `.syncwright/<key>`, for state too large to read at once (manifests of a million
    /// entries stream from it); None when the backend has no such file (then `read_state` is used).
    async fn state_file(&self, _key: &str) -> Result<Option<std::path::PathBuf>> {
        Ok(None)
    }
    /// Writes `.syncwright/<key>` atomically.
    async fn write_state(&self, key: &str, data: &[u8]) -> Result<()>;
    /// Writes `.syncwright/<key>` atomically from a writer function, streaming where the backend can (a manifest
    /// of a million entries is never held in memory as text). By default the output is buffered, then
    /// `write_state` stores it.
    async fn write_state_with(&self, key: &str, write: StateWriteFn<'_>) -> Result<()> {
        let mut buf = Vec::new();
        write(&mut buf)?;
        self.write_state(key, &buf).await
    }
    /// The names in the state folder `.syncwright/<dir>` (files only, not recursive); empty when there is none or
    /// the backend cannot list its state.
    async fn list_state(&self, _dir: &str) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Removes `.syncwright/<key>`; missing is fine.
    async fn delete_state(&self, key: &str) -> Result<()>;
    /// Copies `.syncwright/<key>` into the local file `dest` (created or replaced), streaming where the backend
    /// can; false (and no file) when there is no such state. Remote backends override the buffered default.
    async fn read_state_to(&self, key: &str, dest: &Path) -> Result<bool> {
        match self.read_state(key).await? {
            Some(data) => {
                blocking(|| std::fs::write(dest, &data))
                    .map_err(|e| Error::io(&e, "cannot write", dest.display().to_string()))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    /// Writes `.syncwright/<key>` atomically from the local file `src`, streaming where the backend can.
    async fn write_state_from(&self, key: &str, src: &Path) -> Result<()> {
        let data = blocking(|| std::fs::read(src))
            .map_err(|e| Error::io(&e, "cannot read", src.display().to_string()))?;
        self.write_state(key, &data).await
    }
    /// The local copy of `.syncwright/<key>` kept from the last time it was read or written, for planning while
    /// the backend is unreachable (remote backends opened by [`open_with`] keep one of each manifest).
    async fn cached_state_file(&self, _key: &str) -> Result<Option<CachedState>> {
        Ok(None)
    }
    /// The folder of lock files this backend keeps in its own `.syncwright/locks/` (local disks, SFTP): a run
    /// that writes here takes the destination's lock in it, so that runs from any host, under any config and
    /// whatever path or URL names the folder exclude each other. None when the backend keeps none (S3, Drive):
    /// the lock then lives in the coordination folder. No I/O happens until the folder is used.
    fn lock_files(&self) -> Option<Arc<dyn crate::locks::LockFiles>> {
        None
    }
}

/// What a backend's root is: a service (`local`, `sftp://user@host:port`, `s3://bucket`) and an absolute path
/// within it ('/'-separated, no trailing '/'), so that two roots can be compared for overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootId {
    /// The service.
    pub service: String,
    /// The root's path in it.
    pub path: String,
}

impl RootId {
    /// The path of `inner` relative to this root when `inner` is this root ("") or inside it.
    pub fn relative(&self, inner: &RootId) -> Option<String> {
        if self.service != inner.service {
            return None;
        }
        let base = self.path.trim_end_matches('/');
        if inner.path.trim_end_matches('/') == base {
            return Some(String::new());
        }
        let rest = inner.path.strip_prefix(base)?.strip_prefix('/')?;
        Some(rest.trim_end_matches('/').to_string())
    }
}

/// A state file kept in the local cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedState {
    /// The file.
    pub path: PathBuf,
    /// When it was saved (RFC 3339).
    pub saved_at: String,
}

/// Produces the content of a state file into a writer.
pub type StateWriteFn<'a> = &'a (dyn Fn(&mut dyn std::io::Write) -> Result<()> + Send + Sync);

/// Opens the backend for a location given by a user with default options and no manifest cache: a plain path or
/// `file://` URL is local; `sftp://`, `s3://` and `gdrive://` open remote backends (see [`open_with`]).
pub fn open(location: &str) -> Result<Arc<dyn Backend>> {
    open_with(location, &OpenOptions::default())
}

/// What opening a backend needs besides its location.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Snapshot name (the sync's `name`): S3 keeps objects under `<prefix>/<snapshot>/`.
    pub snapshot: Option<String>,
    /// How to reach remote services.
    pub remote: remote::RemoteOptions,
    /// Folder of the manifest cache (`<state dir>/cache`); None keeps no local copies of remote manifests.
    pub cache_dir: Option<PathBuf>,
    /// The embedded store, where S3 keeps its unfinished multipart uploads so that the next run resumes them;
    /// None uploads in parts all the same but cannot resume.
    pub store: Option<Arc<crate::state::Store>>,
}

/// Opens the backend for `location`. Remote backends connect lazily (at their first call), so a host that is
/// down is an error of the run (retried by the recovery layer), not of opening; they are wrapped in
/// [`cached::CachedManifests`] when a cache folder is given.
pub fn open_with(location: &str, o: &OpenOptions) -> Result<Arc<dyn Backend>> {
    use remote::Location;
    let remote: Arc<dyn Backend> = match Location::parse(location)? {
        Location::Local(p) => return Ok(Arc::new(local::LocalBackend::new(p)?)),
        #[cfg(feature = "sftp")]
        Location::Sftp(l) => sftp::SftpBackend::open(l, &o.remote.sftp)?,
        #[cfg(feature = "s3")]
        Location::S3(l) => {
            s3::S3Backend::open(l, o.snapshot.as_deref(), &o.remote.s3, o.store.clone())?
        }
        #[cfg(feature = "gdrive")]
        Location::Gdrive(l) => gdrive::GdriveBackend::open(
            l,
            o.snapshot.as_deref(),
            &o.remote.gdrive,
            o.cache_dir.as_deref(),
        )?,
        #[allow(unreachable_patterns)]
        other => {
            return Err(Error::new(
                crate::ErrorKind::FeatureDisabled,
                format!(
                    "{}:// locations need the `{}` feature of syncwright",
                    other.scheme(),
                    other.scheme()
                ),
            ));
        }
    };
    Ok(match &o.cache_dir {
        Some(dir) => Arc::new(cached::CachedManifests::new(remote, dir)),
        None => remote,
    })
}

/// Runs blocking file-system work without stalling the async runtime's other tasks.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
