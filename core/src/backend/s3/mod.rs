//! The S3 backend: a tree kept as objects under a prefix of a bucket on Amazon S3 or an S3-compatible server
//! (MinIO, Ceph, moto, s3s...).
//!
//! Where things are, for location `s3://BUCKET/PREFIX` and snapshot `NAME` (the sync's `name`):
//! - the file `a/b.png` is the object `PREFIX/NAME/a/b.png`, with its mtime (`x-amz-meta-mtime`, seconds with nine
//!   decimals as rclone writes it, so nanoseconds survive) and mode (`x-amz-meta-mode`, octal) in its metadata;
//! - the manifest of the last clean run is `PREFIX/manifests/NAME.json` (document 3's format, SHA-256 per file), so
//!   a run with nothing to do reads it (one GET) and the run marker, never a request per object;
//! - every other state key (the run marker `runs/NAME.inflight`) is `PREFIX/.syncwright/<key>`.
//!
//! A scan (only needed when there is no trustworthy manifest) lists `PREFIX/NAME/` and asks each object for its
//! metadata (HEAD, in parallel): LIST does not return user metadata, and a scan must be right rather than quick.
//! Objects written by other tools without the metadata take their `LastModified` as mtime and mode 0644.
//!
//! S3 has no directories and no symlinks: directories exist through the files in them (empty ones are not kept;
//! creating one does nothing) and symlinks are skipped by the plan with a warning. Keys longer than 1,024 bytes
//! (prefix and snapshot included) and names with control characters are errors of those files at plan time.
//!
//! Writes need no temporary names, since an object appears whole or not at all. A file below `multipart_threshold`
//! is buffered and sent with one PUT when committed. A larger one is a multipart upload created when the write
//! opens (with the metadata), its parts of `part_size` sent as the file is read, `part_concurrency` at a time (so
//! at most that many parts sit in memory), and completed on commit. The upload id and every acknowledged part go to
//! the embedded store at once: a later attempt or run at the same source version (size and mtime) checks with the
//! service (ListParts) which parts it still has and continues after the last one of the unbroken run from part 1.
//! Without a store, uploads still go in parts but an interrupted one is aborted, not resumed.
//! Unfinished uploads older than `stale_upload_hours` under the snapshot are aborted before the first write of a
//! run. Connections are opened lazily: opening the backend does no I/O.

mod client;
mod sink;

use super::{Backend, ReadStream, StateWriteFn, WriteSink};
use crate::backend::remote::{S3Location, S3Options};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::diff::NameRules;
use crate::manifest::hash::HashAlgo;
use crate::manifest::scan::{ScanOptions, ScanOutcome};
use crate::manifest::{Entry, EntryKind, Manifest, validate_rel_path};
use crate::report::{ErrorAction, FileError};
use crate::state::Store;
use async_trait::async_trait;
use client::{Conn, is_missing, map_err, xml_blocks, xml_tag};
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, GetOptions, GetRange, GetResult, ObjectStore,
    ObjectStoreExt, PutPayload, WriteMultipart,
};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

/// Longest key S3 takes, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Smallest part S3 takes (all parts but the last).
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// Objects whose metadata is read at once while scanning.
const SCAN_CONCURRENCY: usize = 32;

/// Objects under a prefix of an S3 bucket.
pub struct S3Backend {
    loc: S3Location,
    snapshot: String,
    opts: S3Options,
    /// `PREFIX/SNAPSHOT`.
    base: String,
    conn: std::result::Result<Conn, Error>,
    store: Option<Arc<Store>>,
    swept: AtomicBool,
    /// The manifest's GET, started while the run marker is read (see [`S3Backend::get_state`]).
    prefetch: std::sync::Mutex<Option<Prefetch>>,
    me: Weak<S3Backend>,
}

/// A state GET already under way.
struct Prefetch {
    key: String,
    at: std::time::Instant,
    task: tokio::task::JoinHandle<object_store::Result<GetResult>>,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the options: they hold the keys.
        f.debug_struct("S3Backend")
            .field("location", &self.loc.to_string())
            .field("snapshot", &self.snapshot)
            .finish()
    }
}

/// Nanoseconds since the epoch, now.
fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() { b.to_string() } else { format!("{a}/{b}") }
}

/// mtime as rclone writes it: seconds, a dot, nine digits.
fn format_mtime(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let a = ns.unsigned_abs();
    format!("{sign}{}.{:09}", a / 1_000_000_000, a % 1_000_000_000)
}

fn parse_mtime(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    while digits.len() < 9 {
        digits.push('0');
    }
    let ns = secs.checked_mul(1_000_000_000)?.checked_add(digits.parse::<i64>().ok()?)?;
    Some(if neg { -ns } else { ns })
}

/// The object metadata that carries an entry's mtime and mode.
fn meta_attributes(e: &Entry) -> Attributes {
    let mut a = Attributes::new();
    a.insert(Attribute::Metadata("mtime".into()), AttributeValue::from(format_mtime(e.mtime_ns)));
    a.insert(Attribute::Metadata("mode".into()), AttributeValue::from(format!("{:o}", e.mode)));
    a
}

/// The entry of an object from its metadata, falling back to LastModified and 0644.
fn entry_from(rel: &str, size: u64, last_modified_ns: i64, attrs: &Attributes) -> Entry {
    let get = |k: &'static str| attrs.get(&Attribute::Metadata(k.into())).map(|v| v.as_ref());
    let mtime = get("mtime").and_then(parse_mtime).unwrap_or(last_modified_ns);
    let mode = get("mode").and_then(|m| u32::from_str_radix(m.trim(), 8).ok()).unwrap_or(0o644);
    Entry::file(rel, size, mtime, mode & 0o7777)
}

impl S3Backend {
    /// Opens `loc` for snapshot `snapshot` (default `default`). No network I/O: missing credentials and an
    /// unreachable server are errors of the first call. `store` keeps unfinished multipart uploads for resuming.
    pub fn open(
        loc: S3Location,
        snapshot: Option<&str>,
        o: &S3Options,
        store: Option<Arc<Store>>,
    ) -> Result<Arc<dyn Backend>> {
        Ok(Self::open_s3(loc, snapshot, o, store)?)
    }

    /// [`S3Backend::open`], typed.
    pub fn open_s3(
        loc: S3Location,
        snapshot: Option<&str>,
        o: &S3Options,
        store: Option<Arc<Store>>,
    ) -> Result<Arc<S3Backend>> {
        let snapshot = snapshot.unwrap_or("default").to_string();
        validate_rel_path(&snapshot)
            .map_err(|_| Error::invalid(format!("bad snapshot name {snapshot:?}")))?;
        if snapshot.contains('/') || snapshot == "manifests" || snapshot == ".syncwright" {
            return Err(Error::invalid(format!(
                "{loc}: the snapshot name {snapshot:?} cannot be used on S3 (no '/', not \"manifests\" or \".syncwright\")"
            )));
        }
        if o.part_size < MIN_PART_SIZE {
            return Err(Error::invalid(format!(
                "s3.part_size is {} bytes; S3 needs at least {MIN_PART_SIZE}",
                o.part_size
            )));
        }
        if o.part_size > 5 << 30 {
            return Err(Error::invalid("s3.part_size is over 5 GiB, the most S3 takes"));
        }
        let base = join(&loc.prefix, &snapshot);
        let conn = Conn::new(&loc, o);
        Ok(Arc::new_cyclic(|me| S3Backend {
            loc,
            snapshot,
            opts: o.clone(),
            base,
            conn,
            store,
            swept: AtomicBool::new(false),
            prefetch: std::sync::Mutex::new(None),
            me: me.clone(),
        }))
    }

    fn conn(&self) -> Result<&Conn> {
        self.conn.as_ref().map_err(|e| e.clone())
    }

    fn arc(&self) -> Result<Arc<S3Backend>> {
        self.me.upgrade().ok_or_else(|| Error::internal("the S3 backend was dropped"))
    }

    fn location_string(&self) -> String {
        self.loc.to_string()
    }

    fn stale_ns(&self) -> i64 {
        (self.opts.stale_upload_hours as i64).saturating_mul(3_600_000_000_000)
    }

    /// The key of the file `rel`.
    fn object_path(&self, rel: &str) -> Result<Path> {
        validate_rel_path(rel)?;
        let k = format!("{}/{rel}", self.base);
        if k.len() > MAX_KEY_BYTES {
            return Err(Error::invalid(format!(
                "{rel}: the key would be {} bytes; S3 takes at most {MAX_KEY_BYTES}",
                k.len()
            ))
            .with_path(rel));
        }
        Path::parse(&k)
            .map_err(|e| Error::invalid(format!("{rel}: not a valid S3 key: {e}")).with_path(rel))
    }

    /// The key of state `key`: manifests under `PREFIX/manifests/`, the rest under `PREFIX/.syncwright/`.
    fn state_path(&self, key: &str) -> Result<Path> {
        validate_rel_path(key)?;
        let k = if key.starts_with("manifests/") {
            join(&self.loc.prefix, key)
        } else {
            join(&self.loc.prefix, &format!(".syncwright/{key}"))
        };
        Path::parse(&k).map_err(|e| Error::invalid(format!("{key}: not a valid S3 key: {e}")))
    }

    /// GETs state object `p`, taking the response of a prefetch of it when one was started moments ago. A run
    /// reads its marker and then the manifest; the manifest's GET starts with the marker's, so a run with nothing
    /// to do waits for one round trip, not two (it still makes two requests).
    async fn get_state(&self, conn: &Conn, p: &Path) -> object_store::Result<GetResult> {
        let pre = {
            let mut g = self.prefetch.lock().unwrap_or_else(|e| e.into_inner());
            match g.take() {
                Some(pf) if pf.key == p.as_ref() && pf.at.elapsed().as_secs() < 10 => Some(pf),
                other => {
                    if let Some(pf) = other {
                        pf.task.abort();
                    }
                    None
                }
            }
        };
        if let Some(pf) = pre {
            match pf.task.await {
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(e)) if is_missing(&e) => return Err(e),
                // Anything else: ask again.
                _ => {}
            }
        }
        conn.store.get(p).await
    }

    /// Starts the GET of the manifest while the run marker is being read.
    fn start_prefetch(&self, conn: &Conn, key: &str) {
        if key != format!("runs/{}.inflight", self.snapshot) {
            return;
        }
        let Ok(p) = self.state_path(&format!("manifests/{}.json", self.snapshot)) else { return };
        let store = conn.store.clone();
        let key = p.as_ref().to_string();
        let task = tokio::spawn(async move { store.get(&p).await });
        let old = self.prefetch.lock().unwrap_or_else(|e| e.into_inner()).replace(Prefetch {
            key,
            at: std::time::Instant::now(),
            task,
        });
        if let Some(o) = old {
            o.task.abort();
        }
    }

    async fn head(&self, key: &Path, what: &str) -> Result<Option<GetResult>> {
        let conn = self.conn()?;
        match conn.store.get_opts(key, GetOptions { head: true, ..Default::default() }).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(map_err(&e, "HEAD", what, &conn.redact)),
        }
    }

    /// The parts the service holds for upload `id` of `key` (number -> ETag), or None when it has no such upload.
    async fn list_parts(&self, key: &str, id: &str) -> Result<Option<HashMap<u32, String>>> {
        let conn = self.conn()?;
        let mut out = HashMap::new();
        let mut marker = String::from("0");
        loop {
            let q = [("part-number-marker", marker.as_str()), ("uploadId", id)];
            let body = match conn.raw(http::Method::GET, Some(key), &q, &[], key).await {
                Ok((_, _, b)) => b,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let xml = String::from_utf8_lossy(&body);
            for p in xml_blocks(&xml, "Part") {
                if let (Some(n), Some(etag)) = (xml_tag(p, "PartNumber"), xml_tag(p, "ETag"))
                    && let Ok(n) = n.trim().parse::<u32>()
                {
                    out.insert(n, etag.trim_matches('"').to_string());
                }
            }
            let truncated = xml_tag(&xml, "IsTruncated").is_some_and(|t| t == "true");
            match xml_tag(&xml, "NextPartNumberMarker") {
                Some(m) if truncated && *m != *marker => marker = m.into_owned(),
                _ => break,
            }
        }
        // Stored ETags keep their quotes; compare without.
        Ok(Some(out))
    }

    /// Aborts an unfinished upload and forgets it (best effort: a failure leaves it for the next sweep).
    async fn abort_upload(&self, key: &str, id: &str) {
        use object_store::multipart::MultipartStore;
        if let Ok(conn) = self.conn() {
            let path = Path::from_iter(key.split('/'));
            let path = Path::parse(key).unwrap_or(path);
            match conn.store.abort_multipart(&path, &id.to_string()).await {
                Ok(()) => {}
                Err(e) => {
                    let e = map_err(&e, "AbortMultipartUpload", key, &conn.redact);
                    if e.kind() != ErrorKind::NotFound {
                        tracing::warn!(error = %e, "cannot abort an unfinished upload; a later run retries");
                        return;
                    }
                }
            }
        }
        if let Some(s) = &self.store {
            let _ = s.forget_upload(id);
        }
    }

    /// Aborts the unfinished uploads under the snapshot older than `stale_upload_hours` (once per backend).
    async fn sweep_stale_uploads(&self) {
        if self.swept.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.sweep_stale_uploads_inner().await {
            tracing::warn!(error = %e, "cannot list unfinished uploads; stale ones stay until a later run");
        }
    }

    async fn sweep_stale_uploads_inner(&self) -> Result<()> {
        let conn = self.conn()?;
        let prefix = format!("{}/", self.base);
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        let cutoff = now_ns() - self.stale_ns();
        // Our own record of when an upload began wins over the server's `Initiated` (some S3-compatible servers
        // report a fixed date there).
        let ours: HashMap<String, i64> = match &self.store {
            Some(s) => s
                .uploads(&self.location_string())?
                .into_iter()
                .map(|u| (u.upload_id, u.created_ns))
                .collect(),
            None => HashMap::new(),
        };
        loop {
            let mut q = vec![("uploads", ""), ("prefix", prefix.as_str())];
            if !key_marker.is_empty() {
                q.push(("key-marker", key_marker.as_str()));
                q.push(("upload-id-marker", id_marker.as_str()));
            }
            let (_, _, body) = conn.raw(http::Method::GET, None, &q, &[], "uploads").await?;
            let xml = String::from_utf8_lossy(&body).into_owned();
            for u in xml_blocks(&xml, "Upload") {
                let (Some(key), Some(id)) = (xml_tag(u, "Key"), xml_tag(u, "UploadId")) else {
                    continue;
                };
                let initiated = ours.get(id.as_ref()).copied().or_else(|| {
                    xml_tag(u, "Initiated")
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                        .and_then(|t| t.timestamp_nanos_opt())
                });
                if initiated.is_some_and(|t| t < cutoff) {
                    tracing::info!(key = %key, "aborting a stale unfinished upload");
                    self.abort_upload(&key, &id).await;
                }
            }
            let truncated = xml_tag(&xml, "IsTruncated").is_some_and(|t| t == "true");
            let next_key =
                xml_tag(&xml, "NextKeyMarker").map(|s| s.into_owned()).unwrap_or_default();
            let next_id =
                xml_tag(&xml, "NextUploadIdMarker").map(|s| s.into_owned()).unwrap_or_default();
            if !truncated || next_key.is_empty() || (next_key == key_marker && next_id == id_marker)
            {
                break;
            }
            (key_marker, id_marker) = (next_key, next_id);
        }
        // Uploads the store remembers that are too old are forgotten too (the service may have dropped them).
        if let Some(s) = &self.store {
            for u in s.uploads(&self.location_string())? {
                if u.created_ns < cutoff {
                    self.abort_upload(&u.key, &u.upload_id).await;
                }
            }
        }
        Ok(())
    }

    /// Reads `rel` back and checks its BLAKE3.
    async fn verify(&self, rel: &str, want: &str) -> Result<()> {
        let mut r = self.open_read(rel, 0).await?;
        let mut h = blake3::Hasher::new();
        let mut buf = Vec::new();
        loop {
            r.read_chunk(&mut buf, 1 << 20).await?;
            if buf.is_empty() {
                break;
            }
            h.update(&buf);
        }
        let got = h.finalize().to_hex().to_string();
        if got != want {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("{rel}: the uploaded object reads back as BLAKE3 {got}, not {want}"),
            )
            .with_path(rel));
        }
        Ok(())
    }

    /// The entry of one listed object (its metadata read with HEAD, or with GET when hashing).
    async fn scan_one(
        &self,
        rel: String,
        meta: object_store::ObjectMeta,
        hash: Option<HashAlgo>,
    ) -> std::result::Result<Option<Entry>, FileError> {
        let lm = meta.last_modified.timestamp_nanos_opt().unwrap_or(0);
        let fail = |e: Error| FileError::new(ErrorAction::Scan, &rel, &e);
        let conn = self.conn().map_err(fail)?;
        let Some(algo) = hash else {
            // A listing is what LIST gives (a request per 1,000 keys), never a HEAD per object: size and upload
            // time; the manifest supplies mtime and mode for the objects it recorded.
            return Ok(Some(Entry::file(&rel, meta.size, lm, 0o644)));
        };
        let r = match conn.store.get(&meta.location).await {
            Ok(r) => r,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(fail(map_err(&e, "GET", &rel, &conn.redact))),
        };
        let mut e = entry_from(&rel, r.meta.size, lm, &r.attributes);
        let mut stream = r.into_stream();
        let mut b3 = blake3::Hasher::new();
        let mut sha = <sha2::Sha256 as sha2::Digest>::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|x| fail(map_err(&x, "GET", &rel, &conn.redact)))?;
            match algo {
                HashAlgo::Blake3 => {
                    b3.update(&chunk);
                }
                HashAlgo::Sha256 => sha2::Digest::update(&mut sha, &chunk),
            }
        }
        match algo {
            HashAlgo::Blake3 => e.hashes.set_blake3_raw(*b3.finalize().as_bytes()),
            HashAlgo::Sha256 => e.hashes.set_sha256_raw(sha2::Digest::finalize(sha).into()),
        }
        Ok(Some(e))
    }
}

/// Reads an object from an offset.
struct S3Reader {
    stream: futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
    pending: bytes::Bytes,
    path: String,
    b: Arc<S3Backend>,
}

#[async_trait]
impl ReadStream for S3Reader {
    async fn read_chunk(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<()> {
        buf.clear();
        while buf.len() < max {
            if self.pending.is_empty() {
                match self.stream.next().await {
                    Some(Ok(b)) => self.pending = b,
                    Some(Err(e)) => {
                        let conn = self.b.conn()?;
                        return Err(
                            map_err(&e, "GET", &self.path, &conn.redact).with_path(&self.path)
                        );
                    }
                    None => break,
                }
                continue;
            }
            let n = (max - buf.len()).min(self.pending.len());
            buf.extend_from_slice(&self.pending.split_to(n));
        }
        Ok(())
    }
}

/// The breaker target of `bucket` at `endpoint` (see [`S3Backend::breaker_target`]).
fn breaker_target(bucket: &str, endpoint: Option<&str>) -> String {
    let host = endpoint.map(|e| {
        let rest = e.split_once("://").map_or(e, |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_ascii_lowercase()
    });
    match host.filter(|h| !h.is_empty()) {
        Some(h) => format!("s3://{bucket}@{h}"),
        None => format!("s3://{bucket}"),
    }
}

#[async_trait]
impl Backend for S3Backend {
    fn scheme(&self) -> &'static str {
        "s3"
    }

    fn location(&self) -> String {
        self.loc.to_string()
    }

    /// `s3://bucket` on AWS; `s3://bucket@host:port` on an S3-compatible endpoint (its scheme, any user info and
    /// path left out).
    fn breaker_target(&self) -> Option<String> {
        Some(breaker_target(&self.loc.bucket, self.opts.endpoint_url.as_deref()))
    }

    fn rules(&self) -> NameRules {
        NameRules {
            case_insensitive: false,
            normalizes_unicode: false,
            // `PREFIX/SNAPSHOT/` comes before every path.
            max_path_bytes: Some(MAX_KEY_BYTES.saturating_sub(self.base.len() + 1)),
            max_name_bytes: None,
            symlinks: false,
            control_chars: false,
        }
    }

    fn wants_sha256(&self) -> bool {
        true
    }

    fn listing_has_metadata(&self) -> bool {
        false
    }

    fn root_id(&self) -> Option<super::RootId> {
        Some(super::RootId {
            service: format!("s3://{}", self.loc.bucket),
            path: format!("/{}", self.base.trim_matches('/')),
        })
    }

    async fn scan(&self, opts: ScanOptions) -> Result<ScanOutcome> {
        let conn = self.conn()?;
        let base = Path::parse(&self.base).map_err(|e| Error::invalid(e.to_string()))?;
        let cut = self.base.len() + 1;
        let mut listing = conn.store.list(Some(&base));
        let mut found: Vec<(String, object_store::ObjectMeta)> = Vec::new();
        let cancelled = || opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
        while let Some(item) = listing.next().await {
            let meta = item.map_err(|e| {
                let e = map_err(&e, "LIST", &format!("{}/", self.base), &conn.redact);
                if e.message().contains("NoSuchBucket") {
                    Error::new(ErrorKind::NotFound, e.message())
                } else {
                    e
                }
            })?;
            if cancelled() {
                return Err(Error::cancelled());
            }
            let key = meta.location.as_ref();
            let Some(rel) = key.get(cut..) else { continue };
            if rel.is_empty() || rel.ends_with('/') || validate_rel_path(rel).is_err() {
                continue;
            }
            let mut dirs_ok = true;
            let mut p = rel;
            while let Some((parent, _)) = p.rsplit_once('/') {
                dirs_ok &= opts.filter.enter_dir(parent);
                p = parent;
            }
            if !dirs_ok || !opts.filter.keep(rel) {
                continue;
            }
            found.push((rel.to_string(), meta));
        }
        let mut out = ScanOutcome {
            manifest: Manifest::new(opts.name.clone(), self.location()),
            warnings: Vec::new(),
            errors: Vec::new(),
            temporaries: Vec::new(),
            dirs: Vec::new(),
        };
        let hash = opts.hash;
        let mut results = futures_util::stream::iter(
            found.into_iter().map(|(rel, meta)| self.scan_one(rel, meta, hash)),
        )
        .buffer_unordered(SCAN_CONCURRENCY);
        while let Some(r) = results.next().await {
            if cancelled() {
                return Err(Error::cancelled());
            }
            match r {
                Ok(Some(e)) => {
                    if let Some(c) = &opts.counters {
                        c.entries.fetch_add(1, Ordering::Relaxed);
                    }
                    out.manifest.entries.push(e);
                }
                Ok(None) => {}
                Err(fe) => out.errors.push(fe),
            }
        }
        out.manifest.normalise()?;
        Ok(out)
    }

    async fn stat(&self, path: &str) -> Result<Option<Entry>> {
        let key = self.object_path(path)?;
        Ok(self.head(&key, path).await.map_err(|e| e.with_path(path))?.map(|r| {
            let lm = r.meta.last_modified.timestamp_nanos_opt().unwrap_or(0);
            entry_from(path, r.meta.size, lm, &r.attributes)
        }))
    }

    async fn open_read(&self, path: &str, offset: u64) -> Result<Box<dyn ReadStream>> {
        let conn = self.conn()?;
        let key = self.object_path(path)?;
        let o = GetOptions {
            range: (offset > 0).then_some(GetRange::Offset(offset)),
            ..Default::default()
        };
        let r = conn
            .store
            .get_opts(&key, o)
            .await
            .map_err(|e| map_err(&e, "GET", path, &conn.redact).with_path(path))?;
        Ok(Box::new(S3Reader {
            stream: r.into_stream(),
            pending: bytes::Bytes::new(),
            path: path.to_string(),
            b: self.arc()?,
        }))
    }

    async fn open_write(&self, path: &str, version: &Entry) -> Result<Box<dyn WriteSink>> {
        self.object_path(path)?;
        self.conn()?;
        let me = self.arc()?;
        if version.size >= self.opts.multipart_threshold.max(1) {
            self.sweep_stale_uploads().await;
            let s = sink::MultipartSink::open(me, path, version).await?;
            Ok(Box::new(s))
        } else {
            Ok(Box::new(sink::SmallSink {
                b: me,
                path: path.to_string(),
                buf: Vec::with_capacity(version.size as usize),
            }))
        }
    }

    /// Replaces the object's metadata with a copy onto itself (objects up to 5 GiB, as CopyObject allows).
    async fn set_meta(&self, path: &str, entry: &Entry) -> Result<()> {
        if entry.kind == EntryKind::Dir {
            return Ok(());
        }
        let conn = self.conn()?;
        let key = self.object_path(path)?;
        let source = format!(
            "/{}/{}",
            self.loc.bucket,
            percent_encoding::utf8_percent_encode(key.as_ref(), percent_encoding::NON_ALPHANUMERIC)
        );
        let h = [
            ("x-amz-copy-source", source),
            ("x-amz-metadata-directive", "REPLACE".to_string()),
            ("x-amz-meta-mtime", format_mtime(entry.mtime_ns)),
            ("x-amz-meta-mode", format!("{:o}", entry.mode)),
        ];
        let (_, _, body) = conn
            .raw(http::Method::PUT, Some(key.as_ref()), &[], &h, path)
            .await
            .map_err(|e| e.with_path(path))?;
        let text = String::from_utf8_lossy(&body);
        if text.contains("<Error>") {
            return Err(
                client::status_error(500, &text, "PUT (copy)", path, &conn.redact).with_path(path)
            );
        }
        Ok(())
    }

    /// S3 has no directories: nothing to create (empty directories are not kept).
    async fn create_dir(&self, _path: &str, _entry: &Entry) -> Result<()> {
        Ok(())
    }

    async fn create_symlink(&self, path: &str, _entry: &Entry) -> Result<()> {
        Err(Error::invalid(format!("{path}: S3 cannot hold symlinks")).with_path(path))
    }

    async fn delete(&self, path: &str, kind: EntryKind) -> Result<()> {
        if kind == EntryKind::Dir {
            return Ok(());
        }
        let conn = self.conn()?;
        let key = self.object_path(path)?;
        match conn.store.delete(&key).await {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(map_err(&e, "DELETE", path, &conn.redact).with_path(path)),
        }
    }

    async fn remove_empty_dir(&self, _path: &str) -> Result<bool> {
        Ok(false)
    }

    /// A server-side copy, then a delete of the original.
    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let conn = self.conn()?;
        let (a, b) = (self.object_path(from)?, self.object_path(to)?);
        conn.store
            .copy(&a, &b)
            .await
            .map_err(|e| map_err(&e, "COPY", from, &conn.redact).with_path(from))?;
        self.delete(from, EntryKind::File).await
    }

    async fn read_state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        let p = self.state_path(key)?;
        self.start_prefetch(conn, key);
        let r = match self.get_state(conn, &p).await {
            Ok(r) => r,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(map_err(&e, "GET", p.as_ref(), &conn.redact)),
        };
        let b = r.bytes().await.map_err(|e| map_err(&e, "GET", p.as_ref(), &conn.redact))?;
        Ok(Some(b.to_vec()))
    }

    async fn write_state(&self, key: &str, data: &[u8]) -> Result<()> {
        let conn = self.conn()?;
        let p = self.state_path(key)?;
        conn.store
            .put(&p, PutPayload::from(data.to_vec()))
            .await
            .map_err(|e| map_err(&e, "PUT", p.as_ref(), &conn.redact))?;
        Ok(())
    }

    /// Streams the state into a local file (large manifests never sit in memory).
    async fn write_state_with(&self, key: &str, write: StateWriteFn<'_>) -> Result<()> {
        let tmp = tempfile_beside_cache()?;
        super::blocking(|| -> Result<()> {
            let f = tmp.reopen().map_err(|e| Error::io(&e, "cannot open", "a temporary file"))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            write(&mut w)?;
            w.flush().map_err(|e| Error::io(&e, "cannot write", "a temporary file"))
        })?;
        self.write_state_from(key, tmp.path()).await
    }

    async fn delete_state(&self, key: &str) -> Result<()> {
        let conn = self.conn()?;
        let p = self.state_path(key)?;
        match conn.store.delete(&p).await {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(map_err(&e, "DELETE", p.as_ref(), &conn.redact)),
        }
    }

    async fn read_state_to(&self, key: &str, dest: &std::path::Path) -> Result<bool> {
        let conn = self.conn()?;
        let p = self.state_path(key)?;
        let r = match self.get_state(conn, &p).await {
            Ok(r) => r,
            Err(e) if is_missing(&e) => return Ok(false),
            Err(e) => return Err(map_err(&e, "GET", p.as_ref(), &conn.redact)),
        };
        let shown = dest.display().to_string();
        let f = std::fs::File::create(dest).map_err(|e| Error::io(&e, "cannot create", &shown))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut stream = r.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| map_err(&e, "GET", p.as_ref(), &conn.redact))?;
            super::blocking(|| w.write_all(&chunk))
                .map_err(|e| Error::io(&e, "cannot write", &shown))?;
        }
        super::blocking(|| w.flush()).map_err(|e| Error::io(&e, "cannot write", &shown))?;
        Ok(true)
    }

    /// Uploads a local file: one PUT below the multipart threshold, else parts in parallel (streamed from the
    /// file, `part_concurrency` parts in memory at most).
    async fn write_state_from(&self, key: &str, src: &std::path::Path) -> Result<()> {
        let conn = self.conn()?;
        let p = self.state_path(key)?;
        let shown = src.display().to_string();
        let mut f = std::fs::File::open(src).map_err(|e| Error::io(&e, "cannot open", &shown))?;
        let size = f.metadata().map_err(|e| Error::io(&e, "cannot stat", &shown))?.len();
        let what = p.as_ref().to_string();
        if size < self.opts.multipart_threshold.max(MIN_PART_SIZE) {
            let mut data = Vec::with_capacity(size as usize);
            super::blocking(|| f.read_to_end(&mut data))
                .map_err(|e| Error::io(&e, "cannot read", &shown))?;
            conn.store
                .put(&p, PutPayload::from(data))
                .await
                .map_err(|e| map_err(&e, "PUT", &what, &conn.redact))?;
            return Ok(());
        }
        let upload = conn
            .store
            .put_multipart(&p)
            .await
            .map_err(|e| map_err(&e, "CreateMultipartUpload", &what, &conn.redact))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, self.opts.part_size as usize);
        let mut buf = vec![0u8; 1 << 20];
        let r: Result<()> = async {
            loop {
                let n = super::blocking(|| f.read(&mut buf))
                    .map_err(|e| Error::io(&e, "cannot read", &shown))?;
                if n == 0 {
                    break;
                }
                w.wait_for_capacity(self.opts.part_concurrency.max(1))
                    .await
                    .map_err(|e| map_err(&e, "UploadPart", &what, &conn.redact))?;
                w.write(&buf[..n]);
            }
            Ok(())
        }
        .await;
        match r {
            Ok(()) => {
                w.finish()
                    .await
                    .map_err(|e| map_err(&e, "CompleteMultipartUpload", &what, &conn.redact))?;
                Ok(())
            }
            Err(e) => {
                let _ = w.abort().await;
                Err(e)
            }
        }
    }
}

/// A temporary local file for state written with a function.
fn tempfile_beside_cache() -> Result<TempPath> {
    let p = std::env::temp_dir().join(format!("syncwright-s3-state-{:016x}", fastrand::u64(..)));
    std::fs::File::create(&p)
        .map_err(|e| Error::io(&e, "cannot create", p.display().to_string()))?;
    Ok(TempPath(p))
}

/// A file removed when dropped.
struct TempPath(std::path::PathBuf);

impl TempPath {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn reopen(&self) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new().write(true).truncate(true).open(&self.0)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_targets_name_the_bucket_and_a_custom_endpoint_without_credentials() {
        assert_eq!(breaker_target("b", None), "s3://b");
        assert_eq!(breaker_target("b", Some("http://127.0.0.1:9000")), "s3://b@127.0.0.1:9000");
        assert_eq!(
            breaker_target("b", Some("https://key:secret@Minio.Example:9000/base?x=1")),
            "s3://b@minio.example:9000"
        );
    }

    #[test]
    fn mtimes_round_trip() {
        for ns in [0, 1, 1_700_000_000_123_456_789, -1, -1_500_000_000] {
            assert_eq!(parse_mtime(&format_mtime(ns)), Some(ns), "{ns}");
        }
        assert_eq!(parse_mtime("1700000000.5"), Some(1_700_000_000_500_000_000));
        assert_eq!(parse_mtime("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_mtime("x"), None);
    }

    #[test]
    fn keys_and_rules() {
        let loc = S3Location { bucket: "bkt".into(), prefix: "dev/assets".into() };
        let o = S3Options {
            access_key_id: Some(crate::backend::remote::Secret::new("AKIDSECRETID")),
            secret_access_key: Some(crate::backend::remote::Secret::new("SUPERSECRETVALUE")),
            endpoint_url: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        };
        let b = S3Backend::open(loc.clone(), Some("nightly"), &o, None).unwrap();
        let dbg = format!("{b:?}");
        assert!(!dbg.contains("SUPERSECRETVALUE") && !dbg.contains("AKIDSECRETID"), "{dbg}");
        let rules = b.rules();
        assert_eq!(rules.max_path_bytes, Some(1024 - "dev/assets/nightly/".len()));
        assert!(!rules.symlinks && !rules.control_chars);
        let b = S3Backend::open_s3(loc.clone(), Some("nightly"), &o, None).unwrap();
        assert_eq!(b.object_path("a/b.png").unwrap().as_ref(), "dev/assets/nightly/a/b.png");
        assert_eq!(
            b.state_path("manifests/nightly.json").unwrap().as_ref(),
            "dev/assets/manifests/nightly.json"
        );
        assert_eq!(
            b.state_path("runs/nightly.inflight").unwrap().as_ref(),
            "dev/assets/.syncwright/runs/nightly.inflight"
        );
        let long = "x".repeat(1024);
        assert_eq!(b.object_path(&long).unwrap_err().kind(), ErrorKind::InvalidInput);
        let root = S3Location { bucket: "bkt".into(), prefix: String::new() };
        let b = S3Backend::open_s3(root.clone(), None, &o, None).unwrap();
        assert_eq!(b.object_path("a").unwrap().as_ref(), "default/a");
        assert_eq!(
            b.state_path("manifests/default.json").unwrap().as_ref(),
            "manifests/default.json"
        );
        assert!(S3Backend::open(loc.clone(), Some("manifests"), &o, None).is_err());
        assert!(S3Backend::open(loc, Some("a/b"), &o, None).is_err());
        // Without keys, opening works and the first call says why it cannot.
        let b = S3Backend::open_s3(root, None, &S3Options::default(), None).unwrap();
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            assert_eq!(b.conn().err().unwrap().kind(), ErrorKind::Auth);
        }
    }
}
