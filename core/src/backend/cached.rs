//! The local copy of remote manifests: `cache/<service>/<snapshot>.json` under the engine's state folder.
//!
//! Every remote backend (SFTP, S3, Drive) is wrapped in [`CachedManifests`] by [`super::open_with`]. Reading a
//! manifest downloads it into the cache and plans stream from that local file (a manifest of a million entries is
//! never held in memory as text); writing one writes the cache file first, uploads it, and only then makes it the
//! cached copy, so the cache never claims more than the remote holds. A dry run whose remote is unreachable plans
//! against the cached copy ([`Backend::cached_state_file`]) and says so in its report.
//!
//! `<service>` is the scheme and a fingerprint of the location (`s3-1f0c…`): two buckets with the same snapshot
//! name never share a cache file. The folder also holds `location.txt` naming the location, for people.

use super::{Backend, CachedState, ReadStream, StateWriteFn, WriteSink};
use crate::error::{Error, Result};
use crate::manifest::diff::NameRules;
use crate::manifest::scan::{ScanOptions, ScanOutcome};
use crate::manifest::{Entry, EntryKind};
use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A remote backend whose manifests are also kept in a local cache.
#[derive(Debug)]
pub struct CachedManifests {
    inner: Arc<dyn Backend>,
    dir: PathBuf,
}

/// The cache folder of `location` under `cache_root`.
pub fn service_dir(cache_root: &Path, scheme: &str, location: &str) -> PathBuf {
    let h = blake3::hash(location.as_bytes());
    cache_root.join(format!("{scheme}-{}", &h.to_hex()[..16]))
}

impl CachedManifests {
    /// Wraps `inner`, caching its manifests under `cache_root/<service>/`.
    pub fn new(inner: Arc<dyn Backend>, cache_root: &Path) -> CachedManifests {
        let dir = service_dir(cache_root, inner.scheme(), &inner.location());
        CachedManifests { inner, dir }
    }

    /// The folder of this location's cached manifests.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file of state `key`, when it is a manifest (`manifests/<snapshot>.json`).
    fn cache_path(&self, key: &str) -> Option<PathBuf> {
        let snap = key.strip_prefix("manifests/")?;
        (!snap.contains('/') && !snap.starts_with('.')).then(|| self.dir.join(snap))
    }

    fn prepare_dir(&self) -> Result<()> {
        let io = |e: std::io::Error| {
            Error::io(&e, "cannot create the manifest cache", self.dir.display().to_string())
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let note = self.dir.join("location.txt");
        if !note.exists() {
            std::fs::write(&note, format!("{}\n", self.inner.location())).map_err(io)?;
        }
        Ok(())
    }

    fn temp_beside(path: &Path) -> PathBuf {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        path.with_file_name(format!(".{name}.swtmp-{:016x}", fastrand::u64(..)))
    }
}

fn io_err(e: std::io::Error, doing: &str, p: &Path) -> Error {
    Error::io(&e, doing, p.display().to_string())
}

#[async_trait]
impl Backend for CachedManifests {
    fn scheme(&self) -> &'static str {
        self.inner.scheme()
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    fn breaker_target(&self) -> Option<String> {
        self.inner.breaker_target()
    }
    fn rules(&self) -> NameRules {
        self.inner.rules()
    }
    fn mtime_precision_ns(&self) -> i64 {
        self.inner.mtime_precision_ns()
    }
    fn wants_sha256(&self) -> bool {
        self.inner.wants_sha256()
    }
    fn listing_has_metadata(&self) -> bool {
        self.inner.listing_has_metadata()
    }
    fn temp_path(&self, path: &str, version: &Entry) -> Option<String> {
        self.inner.temp_path(path, version)
    }
    fn folder_metadata(&self) -> bool {
        self.inner.folder_metadata()
    }
    fn native_hash(&self) -> Option<crate::manifest::hash::HashAlgo> {
        self.inner.native_hash()
    }
    fn root_id(&self) -> Option<super::RootId> {
        self.inner.root_id()
    }
    fn supports_absolute_backup(&self) -> bool {
        self.inner.supports_absolute_backup()
    }
    async fn backup(&self, path: &str, backup_dir: &str) -> Result<String> {
        self.inner.backup(path, backup_dir).await
    }
    async fn list_state(&self, dir: &str) -> Result<Vec<String>> {
        self.inner.list_state(dir).await
    }
    async fn scan(&self, opts: ScanOptions) -> Result<ScanOutcome> {
        self.inner.scan(opts).await
    }
    async fn stat(&self, path: &str) -> Result<Option<Entry>> {
        self.inner.stat(path).await
    }
    async fn stat_follow(&self, path: &str) -> Result<Option<Entry>> {
        self.inner.stat_follow(path).await
    }
    async fn open_read(&self, path: &str, offset: u64) -> Result<Box<dyn ReadStream>> {
        self.inner.open_read(path, offset).await
    }
    async fn open_write(&self, path: &str, version: &Entry) -> Result<Box<dyn WriteSink>> {
        self.inner.open_write(path, version).await
    }
    async fn set_meta(&self, path: &str, entry: &Entry) -> Result<()> {
        self.inner.set_meta(path, entry).await
    }
    async fn create_dir(&self, path: &str, entry: &Entry) -> Result<()> {
        self.inner.create_dir(path, entry).await
    }
    async fn create_symlink(&self, path: &str, entry: &Entry) -> Result<()> {
        self.inner.create_symlink(path, entry).await
    }
    async fn delete(&self, path: &str, kind: EntryKind) -> Result<()> {
        self.inner.delete(path, kind).await
    }
    async fn remove_empty_dir(&self, path: &str) -> Result<bool> {
        self.inner.remove_empty_dir(path).await
    }
    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.inner.rename(from, to).await
    }
    async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }
    async fn read_state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.read_state(key).await
    }
    async fn read_state_to(&self, key: &str, dest: &Path) -> Result<bool> {
        self.inner.read_state_to(key, dest).await
    }

    /// Downloads the manifest into the cache and returns the cache file; a manifest the remote no longer has is
    /// dropped from the cache too.
    async fn state_file(&self, key: &str) -> Result<Option<PathBuf>> {
        let Some(path) = self.cache_path(key) else {
            return self.inner.state_file(key).await;
        };
        self.prepare_dir()?;
        let tmp = Self::temp_beside(&path);
        match self.inner.read_state_to(key, &tmp).await {
            Ok(true) => {
                std::fs::rename(&tmp, &path).map_err(|e| io_err(e, "cannot rename", &path))?;
                Ok(Some(path))
            }
            Ok(false) => {
                let _ = std::fs::remove_file(&tmp);
                let _ = std::fs::remove_file(&path);
                Ok(None)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    async fn cached_state_file(&self, key: &str) -> Result<Option<CachedState>> {
        let Some(path) = self.cache_path(key) else { return Ok(None) };
        match std::fs::metadata(&path) {
            Ok(m) => {
                let saved_at = m
                    .modified()
                    .ok()
                    .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339())
                    .unwrap_or_default();
                Ok(Some(CachedState { path, saved_at }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(e, "cannot stat", &path)),
        }
    }

    async fn write_state(&self, key: &str, data: &[u8]) -> Result<()> {
        self.write_state_with(key, &|w: &mut dyn Write| {
            w.write_all(data).map_err(|e| Error::io(&e, "cannot write", "manifest cache"))
        })
        .await
    }

    /// Writes the cache file, uploads it, then makes it the cached copy (after a failed upload the cache keeps
    /// what the remote still has).
    async fn write_state_with(&self, key: &str, write: StateWriteFn<'_>) -> Result<()> {
        let Some(path) = self.cache_path(key) else {
            return self.inner.write_state_with(key, write).await;
        };
        self.prepare_dir()?;
        let tmp = Self::temp_beside(&path);
        let written = super::blocking(|| -> Result<()> {
            let f = std::fs::File::create(&tmp).map_err(|e| io_err(e, "cannot create", &tmp))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            write(&mut w)?;
            let f = w.into_inner().map_err(|e| io_err(e.into_error(), "cannot write", &tmp))?;
            f.sync_all().map_err(|e| io_err(e, "cannot sync", &tmp))
        });
        let r = match written {
            Ok(()) => self.inner.write_state_from(key, &tmp).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => std::fs::rename(&tmp, &path).map_err(|e| io_err(e, "cannot rename", &path)),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    async fn write_state_from(&self, key: &str, src: &Path) -> Result<()> {
        let Some(path) = self.cache_path(key) else {
            return self.inner.write_state_from(key, src).await;
        };
        self.inner.write_state_from(key, src).await?;
        self.prepare_dir()?;
        let tmp = Self::temp_beside(&path);
        std::fs::copy(src, &tmp).map_err(|e| io_err(e, "cannot copy", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_err(e, "cannot rename", &path))
    }

    async fn delete_state(&self, key: &str) -> Result<()> {
        self.inner.delete_state(key).await?;
        if let Some(path) = self.cache_path(key) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e, "cannot remove", &path)),
            }
        }
        Ok(())
    }

    fn lock_files(&self) -> Option<Arc<dyn crate::locks::LockFiles>> {
        self.inner.lock_files()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::instrumented::{Fault, Instrumented};
    use crate::backend::local::LocalBackend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn manifests_are_cached_and_uploaded_first() {
        let root = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let remote = Instrumented::new(Arc::new(LocalBackend::new(root.path()).unwrap()));
        let c = CachedManifests::new(remote.backend(), cache.path());
        assert!(c.dir().starts_with(cache.path()));
        assert!(c.state_file("manifests/a.json").await.unwrap().is_none());
        assert!(c.cached_state_file("manifests/a.json").await.unwrap().is_none());

        c.write_state("manifests/a.json", b"one").await.unwrap();
        let cached = c.cached_state_file("manifests/a.json").await.unwrap().unwrap();
        assert_eq!(std::fs::read(&cached.path).unwrap(), b"one");
        assert_eq!(
            std::fs::read(root.path().join(".syncwright/manifests/a.json")).unwrap(),
            b"one"
        );

        // A failed upload leaves the cache saying what the remote still has.
        remote.at_call(1, Fault::Fail(crate::ErrorKind::Network));
        assert!(c.write_state("manifests/a.json", b"two").await.is_err());
        assert_eq!(std::fs::read(&cached.path).unwrap(), b"one");
        assert_eq!(
            std::fs::read_dir(c.dir()).unwrap().count(),
            2,
            "the cache file and location.txt, no temporaries"
        );

        // Reading downloads what the remote has now.
        std::fs::write(root.path().join(".syncwright/manifests/a.json"), b"three").unwrap();
        let p = c.state_file("manifests/a.json").await.unwrap().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        // Gone from the remote: gone from the cache.
        std::fs::remove_file(root.path().join(".syncwright/manifests/a.json")).unwrap();
        assert!(c.state_file("manifests/a.json").await.unwrap().is_none());
        assert!(c.cached_state_file("manifests/a.json").await.unwrap().is_none());

        // Other state is not cached.
        c.write_state("runs/a.inflight", b"x").await.unwrap();
        assert!(c.cached_state_file("runs/a.inflight").await.unwrap().is_none());
    }
}
