//! The Google Drive backend (`gdrive://FOLDER_ID`): the Drive v3 REST API with a service account.
//!
//! # What is stored where
//!
//! - **Files** of snapshot `S` live in the folder `S` inside `FOLDER_ID` (`parent_id`), each path segment a real
//!   Drive folder: `a/b.png` of snapshot `nightly` is the file `b.png` in folder `a` in folder `nightly` in
//!   `FOLDER_ID`. Paths are never packed into properties (those hold 124 bytes per key and value).
//! - **Each file** carries `appProperties`: `sw_mtime_ns` (the source mtime in nanoseconds), `sw_mode` (octal
//!   permission bits) and, when known, `sw_sha256` and `sw_blake3` (hex); `modifiedTime` is set to the mtime too.
//!   Scans read the mtime from `sw_mtime_ns`, else from `modifiedTime` (files written by other tools).
//! - **The manifest** of snapshot `S` is the file `S.json` in the manifest folder (`manifest_parent_id`, default
//!   `FOLDER_ID`). Other state (the run marker `runs/S.inflight`) is `.syncwright.<key with / as ~>` there, e.g.
//!   `.syncwright.runs~nightly.inflight`.
//! - **Upload sessions** of interrupted large uploads are kept locally, in
//!   `<cache>/gdrive-<location hash>/uploads/<snapshot>/<source version fingerprint>.json` (mode 0600), so that the
//!   retry or the next run continues where Drive stopped; committed or aborted uploads forget theirs, and records
//!   older than six days are dropped (Drive keeps sessions a week).
//!
//! Drive allows several files with one name in a folder: lookups are by (parent, name, not trashed), files are
//! replaced by updating the existing file's content (one file id, no duplicates), and a scan that meets
//! duplicates made by other tools keeps the most recent and warns. A new version becomes visible only when its
//! upload completes: small files go in one `multipart` request, files of `chunk_size` or more in a `resumable`
//! session whose last chunk is sent by the commit. Symlinks cannot be stored (the plan skips them with a warning);
//! Google Docs documents have no binary content and are skipped with a warning. Deletes are permanent
//! (files.delete, not the trash). Folders are created once even with parallel transfers (one creation at a time,
//! looked up again under the lock).
//!
//! Opening does no network I/O; the first call fetches a token. Failures map to error kinds so that the recovery
//! layer retries what can recover: 403 `userRateLimitExceeded`/`rateLimitExceeded` and 429 are `unavailable`
//! with "rate limit" in the message (rate_limited), 5xx `unavailable`, broken connections `network`, time-outs
//! `timeout`, 401 (after one token refresh) `auth`, other 403s `permission`, 404 `not_found`; a `Retry-After`
//! goes into the details as `retry_after_secs`.

mod api;
mod auth;
mod sessions;

use super::remote::{GdriveLocation, GdriveOptions};
use super::{Backend, ReadStream, WriteSink};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::diff::NameRules;
use crate::manifest::hash::{HashAlgo, version_fingerprint};
use crate::manifest::scan::{ScanOptions, ScanOutcome};
use crate::manifest::{BLAKE3, Entry, EntryKind, Manifest, SHA256, validate_rel_path};
use crate::report::{Warning, WarningReason};
use api::{Api, CHUNK_UNIT, DriveFile, FOLDER_MIME, UploadState, q_str};
use async_trait::async_trait;
use serde_json::{Value, json};
use sessions::{SessionRecord, Sessions};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// The API's address unless the options give another.
pub const DEFAULT_API_BASE: &str = "https://www.googleapis.com";
/// Folder listings run at once during a scan.
const SCAN_PARALLEL: usize = 4;

/// A snapshot folder tree in Google Drive.
pub struct GdriveBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GdriveBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GdriveBackend")
            .field("location", &self.inner.loc.to_string())
            .field("snapshot", &self.inner.snapshot)
            .field("manifest_parent", &self.inner.manifest_parent)
            .finish()
    }
}

#[derive(Debug)]
struct Inner {
    loc: GdriveLocation,
    /// The service account's address: the breaker target is the account's (`gdrive://ACCOUNT`).
    account: String,
    snapshot: String,
    manifest_parent: String,
    api: Api,
    chunk: u64,
    /// Folder ids by relative path ("" is the snapshot's folder).
    folders: Mutex<HashMap<String, String>>,
    /// One folder creation at a time, so parallel transfers never make two folders of one name.
    creating: tokio::sync::Mutex<()>,
    /// State file ids by name (None: known to be missing), filled by lookups and kept up to date by writes.
    state_ids: tokio::sync::Mutex<HashMap<String, Option<String>>>,
    sessions: Sessions,
}

impl GdriveBackend {
    /// Opens `loc` for snapshot `snapshot` (default `default`): reads the service account's key, does no network
    /// I/O. With `cache_dir` (the engine's `<state>/cache`), interrupted uploads resume across runs.
    pub fn open(
        loc: GdriveLocation,
        snapshot: Option<&str>,
        o: &GdriveOptions,
        cache_dir: Option<&Path>,
    ) -> Result<Arc<dyn Backend>> {
        Ok(Arc::new(Self::new(loc, snapshot, o, cache_dir)?))
    }

    /// Like [`GdriveBackend::open`], as the concrete type.
    pub fn new(
        loc: GdriveLocation,
        snapshot: Option<&str>,
        o: &GdriveOptions,
        cache_dir: Option<&Path>,
    ) -> Result<GdriveBackend> {
        let account = match &o.credentials_json {
            Some(json) => auth::ServiceAccount::parse(
                json.expose().as_bytes(),
                &format!(
                    "the vault's {}.credentials",
                    o.credentials_key.as_deref().unwrap_or("gdrive")
                ),
            )?,
            None => {
                let creds = o
                    .credentials
                    .clone()
                    .or_else(|| std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").map(Into::into))
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Auth,
                            format!(
                                "{loc} needs a service account's key file (--gdrive-credentials FILE, the \
                                 gdrive options' credentials or credentials_key, or \
                                 GOOGLE_APPLICATION_CREDENTIALS)"
                            ),
                        )
                    })?;
                auth::ServiceAccount::load(&creds)?
            }
        };
        let email = account.client_email().to_ascii_lowercase();
        let scopes =
            if o.scopes.is_empty() { GdriveOptions::default().scopes } else { o.scopes.clone() };
        let base = o.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        auth::check_url(base, "the Drive API base")?;
        let api = Api::new(base, auth::TokenSource::new(account, &scopes))?;
        let snapshot = snapshot.unwrap_or("default").to_string();
        validate_rel_path(&snapshot)?;
        let chunk = (o.chunk_size / CHUNK_UNIT).max(1) * CHUNK_UNIT;
        let sessions_dir = cache_dir.map(|c| {
            super::cached::service_dir(c, "gdrive", &loc.to_string())
                .join("uploads")
                .join(&snapshot)
        });
        let manifest_parent = o.manifest_parent_id.clone().unwrap_or_else(|| loc.folder_id.clone());
        Ok(GdriveBackend {
            inner: Arc::new(Inner {
                loc,
                account: email,
                snapshot,
                manifest_parent,
                api,
                chunk,
                folders: Mutex::new(HashMap::new()),
                creating: tokio::sync::Mutex::new(()),
                state_ids: tokio::sync::Mutex::new(HashMap::new()),
                sessions: Sessions::new(sessions_dir),
            }),
        })
    }
}

/// (`a/b`, `c.png`) of `a/b/c.png`; ("", name) at the top.
fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

/// RFC 3339 (milliseconds, UTC) of an mtime in nanoseconds.
fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// syncwright's properties of an entry; unknown hashes are null (which clears an old value on update).
fn app_properties(e: &Entry) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("sw_mtime_ns".into(), e.mtime_ns.to_string().into());
    m.insert("sw_mode".into(), format!("{:o}", e.mode).into());
    if e.kind == EntryKind::File {
        m.insert("sw_sha256".into(), e.hashes.get(SHA256).map_or(Value::Null, Value::from));
        m.insert("sw_blake3".into(), e.hashes.get(BLAKE3).map_or(Value::Null, Value::from));
    }
    m
}

/// Metadata of a new version of `e`: `create` names it and its folder for a new file (nulls dropped there).
fn file_meta(e: &Entry, create: Option<(&str, &str)>) -> Value {
    let mut props = app_properties(e);
    let mut v = json!({ "modifiedTime": rfc3339(e.mtime_ns) });
    if let Some((name, parent)) = create {
        props.retain(|_, x| !x.is_null());
        v["name"] = name.into();
        v["parents"] = json!([parent]);
    }
    v["appProperties"] = Value::Object(props);
    v
}

/// The entry a Drive file stands for.
fn entry_of(rel: &str, f: &DriveFile) -> Entry {
    let p = &f.app_properties;
    let folder = f.is_folder();
    let mtime_ns = p.get("sw_mtime_ns").and_then(|v| v.parse::<i64>().ok()).unwrap_or_else(|| {
        f.modified_time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(0)
    });
    let mode = p.get("sw_mode").and_then(|m| u32::from_str_radix(m, 8).ok()).unwrap_or(if folder {
        0o755
    } else {
        0o644
    });
    let mut e = Entry {
        path: rel.to_string(),
        kind: if folder { EntryKind::Dir } else { EntryKind::File },
        size: if folder { 0 } else { f.size.unwrap_or(0) },
        mtime_ns,
        mode,
        target: None,
        hashes: Default::default(),
    };
    if !folder {
        for (prop, algo) in [("sw_sha256", SHA256), ("sw_blake3", BLAKE3)] {
            if let Some(h) = p.get(prop) {
                e.hashes.insert(algo, h.clone());
            }
        }
        if let Some(md5) = &f.md5_checksum {
            e.hashes.insert("md5", md5.clone());
        }
    }
    e
}

/// The entry of `f` for a checksum comparison: Drive's own SHA-256 of the content, never the hashes syncwright
/// recorded in appProperties (an edit in Drive keeps those); a file without one has no hash, so it is copied.
fn checksum_entry_of(rel: &str, f: &DriveFile) -> Entry {
    let mut e = entry_of(rel, f);
    e.hashes = Default::default();
    if let Some(h) = f.sha256_checksum.as_deref().filter(|h| h.len() == 64) {
        e.hashes.insert(SHA256, h.to_ascii_lowercase());
    }
    e
}

/// A name that cannot be part of a relative path.
fn unusable_name(name: &str) -> bool {
    name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0')
}

impl Inner {
    fn not_found(&self, path: &str) -> Error {
        Error::new(ErrorKind::NotFound, format!("{}: {path} does not exist", self.location()))
            .with_path(path)
    }

    fn location(&self) -> String {
        self.loc.to_string()
    }

    fn cached_folder(&self, rel: &str) -> Option<String> {
        self.folders.lock().unwrap_or_else(|p| p.into_inner()).get(rel).cloned()
    }

    fn cache_folder(&self, rel: &str, id: &str) {
        self.folders.lock().unwrap_or_else(|p| p.into_inner()).insert(rel.into(), id.into());
    }

    /// Forgets `rel` and the folders below it.
    fn forget_folder(&self, rel: &str) {
        let below = format!("{rel}/");
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| k != rel && !(rel.is_empty() || k.starts_with(&below)));
    }

    /// The id of folder `rel` ("" is the snapshot's folder), creating it and its parents with `create`.
    async fn folder(&self, rel: &str, create: bool) -> Result<Option<String>> {
        if let Some(id) = self.cached_folder(rel) {
            return Ok(Some(id));
        }
        let segs: Vec<&str> = if rel.is_empty() { vec![] } else { rel.split('/').collect() };
        // The deepest folder already known.
        let mut known = segs.len();
        let mut id = loop {
            if known == 0 {
                break None;
            }
            if let Some(id) = self.cached_folder(&segs[..known].join("/")) {
                break Some(id);
            }
            known -= 1;
        };
        if id.is_none() {
            match self.child_folder(&self.loc.folder_id, &self.snapshot, "", create).await? {
                Some(root) => id = Some(root),
                None => return Ok(None),
            }
        }
        let mut id = id.unwrap_or_default();
        for i in known..segs.len() {
            let here = segs[..=i].join("/");
            match self.child_folder(&id, segs[i], &here, create).await? {
                Some(child) => id = child,
                None => return Ok(None),
            }
        }
        Ok(Some(id))
    }

    /// The folder `name` in `parent` (relative path `rel`), created with `create`.
    async fn child_folder(
        &self,
        parent: &str,
        name: &str,
        rel: &str,
        create: bool,
    ) -> Result<Option<String>> {
        let what = format!("look up folder {}", if rel.is_empty() { &self.snapshot } else { rel });
        if let Some(f) = self.api.find(parent, name, Some(true), &what).await?.first() {
            self.cache_folder(rel, &f.id);
            return Ok(Some(f.id.clone()));
        }
        if !create {
            return Ok(None);
        }
        let _one = self.creating.lock().await;
        if let Some(id) = self.cached_folder(rel) {
            return Ok(Some(id));
        }
        if let Some(f) = self.api.find(parent, name, Some(true), &what).await?.first() {
            self.cache_folder(rel, &f.id);
            return Ok(Some(f.id.clone()));
        }
        let meta = json!({ "name": name, "mimeType": FOLDER_MIME, "parents": [parent] });
        let shown = if rel.is_empty() { self.snapshot.clone() } else { rel.to_string() };
        let f = self.api.create(&meta, &format!("create folder {shown}")).await.map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                // A folder above was removed since it was looked up.
                self.forget_folder("");
            }
            e.with_path(&shown)
        })?;
        self.cache_folder(rel, &f.id);
        Ok(Some(f.id))
    }

    /// The file or folder at `path`: a file (not a folder) is preferred when both exist.
    async fn lookup(&self, path: &str) -> Result<Option<DriveFile>> {
        validate_rel_path(path)?;
        let (dir, name) = split_parent(path);
        let Some(parent) = self.folder(dir, false).await? else { return Ok(None) };
        let found = self.api.find(&parent, name, None, &format!("look up {path}")).await?;
        let file = found.iter().find(|f| !f.is_folder()).or_else(|| found.first()).cloned();
        if let Some(f) = &file
            && f.is_folder()
        {
            self.cache_folder(path, &f.id);
        }
        Ok(file)
    }

    /// The file (not folder) at `path`.
    async fn lookup_file(&self, path: &str) -> Result<Option<DriveFile>> {
        Ok(self.lookup(path).await?.filter(|f| !f.is_folder()))
    }

    /// Reads the content of file `id` whole.
    async fn download_all(&self, id: &str, what: &str) -> Result<Vec<u8>> {
        let resp = self.api.download(id, 0, what).await?;
        resp.bytes().await.map(|b| b.to_vec()).map_err(|e| api::net_err(e, what))
    }

    /// Uploads `size` bytes from `read` through a resumable session (state files too large for one request).
    async fn upload_resumable(
        &self,
        existing: Option<&str>,
        meta: &Value,
        size: u64,
        read: &mut (dyn std::io::Read + Send),
        what: &str,
    ) -> Result<DriveFile> {
        let uri = self.api.start_resumable(existing, meta, size, what).await?;
        let mut pos = 0u64;
        let mut buf = vec![0u8; self.chunk as usize];
        loop {
            let want = (size - pos).min(self.chunk) as usize;
            super::blocking(|| read.read_exact(&mut buf[..want]))
                .map_err(|e| Error::io(&e, "cannot read", what))?;
            match self.api.put_chunk(&uri, pos, &buf[..want], size, what).await? {
                UploadState::Done(f) => return Ok(f),
                UploadState::Incomplete(held) if held == pos + want as u64 => pos = held,
                UploadState::Incomplete(held) => {
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        format!(
                            "{what}: the server holds {held} bytes, not {}: try again",
                            pos + want as u64
                        ),
                    ));
                }
                UploadState::Gone => {
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        format!("{what}: the upload session expired: try again"),
                    ));
                }
            }
        }
    }

    // State files.

    /// The Drive name of state `key`: `S.json` for manifests, `.syncwright.<key, / as ~>` for the rest.
    fn state_name(&self, key: &str) -> Result<String> {
        validate_rel_path(key)?;
        if let Some(m) = key.strip_prefix("manifests/")
            && !m.contains('/')
        {
            return Ok(m.to_string());
        }
        Ok(format!(".syncwright.{}", key.replace('/', "~")))
    }

    /// The id of state file `name`. The first lookup of this snapshot's manifest or run marker finds both in one
    /// listing (a no-change run then costs that listing and the manifest's download).
    async fn state_id(&self, name: &str) -> Result<Option<String>> {
        let mut ids = self.state_ids.lock().await;
        if let Some(known) = ids.get(name) {
            return Ok(known.clone());
        }
        let together = [
            format!("{}.json", self.snapshot),
            format!(".syncwright.runs~{}.inflight", self.snapshot),
        ];
        let names: Vec<&str> = if together.iter().any(|t| t == name) {
            together.iter().map(String::as_str).collect()
        } else {
            vec![name]
        };
        let any_name = names.iter().map(|n| format!("name = {}", q_str(n))).collect::<Vec<_>>();
        let q = format!(
            "{} in parents and trashed = false and mimeType != {} and ({})",
            q_str(&self.manifest_parent),
            q_str(FOLDER_MIME),
            any_name.join(" or ")
        );
        let found = self.api.list(&q, 100, "look up syncwright's state files").await?;
        for n in names {
            let id = found.iter().find(|f| f.name == n).map(|f| f.id.clone());
            ids.insert(n.to_string(), id);
        }
        Ok(ids.get(name).cloned().flatten())
    }

    async fn remember_state(&self, name: &str, id: Option<String>) {
        self.state_ids.lock().await.insert(name.to_string(), id);
    }

    /// Uploads state `name` from `size` bytes of `read`, replacing the existing file's content.
    async fn put_state(
        &self,
        name: &str,
        size: u64,
        read: &mut (dyn std::io::Read + Send),
    ) -> Result<()> {
        let what = format!("upload {name}");
        let now = crate::manifest::now_rfc3339();
        let existing = self.state_id(name).await?;
        let meta = match &existing {
            Some(_) => json!({ "modifiedTime": now }),
            None => json!({ "name": name, "parents": [self.manifest_parent], "modifiedTime": now }),
        };
        let f = if size < self.chunk {
            let mut data = Vec::with_capacity(size as usize);
            super::blocking(|| read.read_to_end(&mut data))
                .map_err(|e| Error::io(&e, "cannot read", &what))?;
            self.api.upload_multipart(existing.as_deref(), &meta, &data, &what).await
        } else {
            self.upload_resumable(existing.as_deref(), &meta, size, read, &what).await
        };
        match f {
            Ok(f) => {
                self.remember_state(name, Some(f.id)).await;
                Ok(())
            }
            Err(e) => {
                if e.kind() == ErrorKind::NotFound {
                    // Gone since it was looked up (or the manifest folder is missing): look again next time.
                    self.state_ids.lock().await.remove(name);
                }
                Err(e)
            }
        }
    }
}

#[async_trait]
impl Backend for GdriveBackend {
    fn scheme(&self) -> &'static str {
        "gdrive"
    }

    fn location(&self) -> String {
        self.inner.location()
    }

    /// `gdrive://ACCOUNT` (the service account's address): Drive's limits and outages are the account's.
    fn breaker_target(&self) -> Option<String> {
        Some(format!("gdrive://{}", self.inner.account))
    }

    fn rules(&self) -> NameRules {
        NameRules {
            case_insensitive: false,
            normalizes_unicode: false,
            max_path_bytes: None,
            max_name_bytes: None,
            symlinks: false,
            // Drive names may hold any character.
            control_chars: true,
        }
    }

    fn wants_sha256(&self) -> bool {
        true
    }

    async fn scan(&self, opts: ScanOptions) -> Result<ScanOutcome> {
        let inner = &self.inner;
        let root = inner.folder("", false).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("{} has no folder {} yet", inner.location(), inner.snapshot),
            )
        })?;
        let mut entries: Vec<Entry> = Vec::new();
        let mut warnings: Vec<Warning> = Vec::new();
        let mut folders: Vec<(String, DriveFile)> = Vec::new();
        let mut queue: Vec<(String, String)> = vec![(String::new(), root)];
        let mut running = tokio::task::JoinSet::new();
        loop {
            if opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                running.abort_all();
                return Err(Error::cancelled());
            }
            while running.len() < SCAN_PARALLEL
                && let Some((rel, id)) = queue.pop()
            {
                let inner = self.inner.clone();
                running.spawn(async move {
                    let what = format!(
                        "list {}",
                        if rel.is_empty() { inner.snapshot.as_str() } else { &rel }
                    );
                    let r = inner.api.children(&id, &what).await;
                    (rel, r)
                });
            }
            let Some(done) = running.join_next().await else { break };
            let (rel, children) =
                done.map_err(|e| Error::internal(format!("a listing task failed: {e}")))?;
            let children =
                children.map_err(|e| if rel.is_empty() { e } else { e.with_path(&rel) })?;
            // Several files of one name (made by other tools): the most recent counts.
            let mut by_name: HashMap<&str, Vec<&DriveFile>> = HashMap::new();
            for f in &children {
                by_name.entry(f.name.as_str()).or_default().push(f);
            }
            let mut names: Vec<&str> = by_name.keys().copied().collect();
            names.sort_unstable();
            for name in names {
                let group = &by_name[name];
                let child = join(&rel, name);
                if unusable_name(name) {
                    warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::UnusableName,
                        format!("{child:?} in Drive has a name that cannot be a path: skipped"),
                    ));
                    continue;
                }
                if let Some(dir) = group.iter().find(|f| f.is_folder()) {
                    inner.cache_folder(&child, &dir.id);
                    if opts.filter.enter_dir(&child) {
                        queue.push((child.clone(), dir.id.clone()));
                        folders.push((child.clone(), (*dir).clone()));
                    }
                }
                let mut files: Vec<&&DriveFile> = group.iter().filter(|f| !f.is_folder()).collect();
                if files.is_empty() || !opts.filter.keep(&child) {
                    continue;
                }
                if files.iter().all(|f| f.is_google_doc()) {
                    warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::NoContent,
                        format!("{child} is a Google Docs document with no file content: skipped"),
                    ));
                    continue;
                }
                files.retain(|f| !f.is_google_doc());
                files.sort_by(|a, b| b.modified_time.cmp(&a.modified_time));
                if files.len() > 1 {
                    warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::DuplicateName,
                        format!(
                            "{child} exists {} times in its Drive folder: the most recent one is used",
                            files.len()
                        ),
                    ));
                }
                if let Some(c) = &opts.counters {
                    c.entries.fetch_add(1, Ordering::Relaxed);
                }
                entries.push(if opts.hash.is_some() {
                    checksum_entry_of(&child, files[0])
                } else {
                    entry_of(&child, files[0])
                });
            }
        }
        // A folder with nothing below it is an empty directory entry (deepest first, as a local scan has it).
        let mut has_below: std::collections::HashSet<String> = std::collections::HashSet::new();
        for e in &entries {
            let mut p = e.path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                if !has_below.insert(parent.to_string()) {
                    break;
                }
                p = parent;
            }
        }
        folders.sort_by_key(|(rel, _)| std::cmp::Reverse(rel.matches('/').count()));
        for (rel, f) in folders {
            if has_below.contains(&rel) || !opts.filter.keep(&rel) {
                continue;
            }
            // Its parents are not empty now.
            let mut p = split_parent(&rel).0;
            while !p.is_empty() && has_below.insert(p.to_string()) {
                p = split_parent(p).0;
            }
            // Its metadata (mtime, mode) is on the folder itself.
            entries.push(entry_of(&rel, &f));
        }
        let mut manifest = Manifest::new(opts.name.clone(), self.location());
        manifest.entries = entries;
        manifest.normalise()?;
        Ok(ScanOutcome {
            manifest,
            warnings,
            errors: Vec::new(),
            temporaries: Vec::new(),
            dirs: Vec::new(),
        })
    }

    fn native_hash(&self) -> Option<HashAlgo> {
        Some(HashAlgo::Sha256)
    }

    async fn stat(&self, path: &str) -> Result<Option<Entry>> {
        Ok(self.inner.lookup(path).await?.map(|f| entry_of(path, &f)))
    }

    async fn open_read(&self, path: &str, offset: u64) -> Result<Box<dyn ReadStream>> {
        let f = self.inner.lookup_file(path).await?.ok_or_else(|| self.inner.not_found(path))?;
        let what = format!("download {path}");
        let resp =
            self.inner.api.download(&f.id, offset, &what).await.map_err(|e| e.with_path(path))?;
        Ok(Box::new(DriveReader { resp, left: Vec::new(), at: 0, what }))
    }

    async fn open_write(&self, path: &str, version: &Entry) -> Result<Box<dyn WriteSink>> {
        validate_rel_path(path)?;
        let inner = &self.inner;
        let (dir, name) = split_parent(path);
        let parent = inner
            .folder(dir, true)
            .await?
            .ok_or_else(|| Error::internal("a folder that was created is missing"))?;
        let key = version_fingerprint(path, version.size, version.mtime_ns);
        let mut w = DriveWriter {
            inner: inner.clone(),
            path: path.to_string(),
            name: name.to_string(),
            parent,
            size: version.size,
            key,
            state: WriteState::Buffer(Vec::new()),
            meta_sent: None,
            resume: 0,
        };
        if version.size < inner.chunk {
            return Ok(Box::new(w));
        }
        let what = format!("upload {path}");
        // An interrupted upload of this very version continues where the server stopped.
        if let Some(s) = inner.sessions.get(&w.key).filter(|s| s.size == version.size) {
            match inner.api.put_chunk(&s.uri, 0, &[], version.size, &what).await? {
                UploadState::Incomplete(held) if held < version.size => {
                    w.resume = held;
                    w.meta_sent = Some(s.meta.clone());
                    w.state = WriteState::Session { uri: s.uri, held, pending: Vec::new() };
                    return Ok(Box::new(w));
                }
                UploadState::Done(f) => {
                    w.resume = version.size;
                    w.meta_sent = Some(s.meta.clone());
                    w.state = WriteState::Complete(f);
                    return Ok(Box::new(w));
                }
                _ => inner.sessions.remove(&w.key),
            }
        }
        let existing =
            inner.api.find(&w.parent, name, Some(false), &format!("look up {path}")).await?;
        let existing = existing.first().map(|f| f.id.clone());
        let meta = file_meta(version, existing.is_none().then_some((name, w.parent.as_str())));
        let uri = inner
            .api
            .start_resumable(existing.as_deref(), &meta, version.size, &what)
            .await
            .map_err(|e| e.with_path(path))?;
        inner.sessions.put(
            &w.key,
            SessionRecord {
                uri: uri.clone(),
                path: path.to_string(),
                size: version.size,
                meta: meta.clone(),
                created_at: chrono::Utc::now().timestamp(),
            },
        )?;
        w.meta_sent = Some(meta);
        w.state = WriteState::Session { uri, held: 0, pending: Vec::new() };
        Ok(Box::new(w))
    }

    async fn set_meta(&self, path: &str, entry: &Entry) -> Result<()> {
        let f = self.inner.lookup(path).await?.ok_or_else(|| self.inner.not_found(path))?;
        let meta = json!({
            "modifiedTime": rfc3339(entry.mtime_ns),
            "appProperties": {
                "sw_mtime_ns": entry.mtime_ns.to_string(),
                "sw_mode": format!("{:o}", entry.mode),
            },
        });
        self.inner
            .api
            .update(&f.id, &meta, None, None, &format!("set the metadata of {path}"))
            .await
            .map_err(|e| e.with_path(path))?;
        Ok(())
    }

    async fn create_dir(&self, path: &str, entry: &Entry) -> Result<()> {
        validate_rel_path(path)?;
        let id = self
            .inner
            .folder(path, true)
            .await?
            .ok_or_else(|| Error::internal("a folder that was created is missing"))?;
        let meta = json!({
            "modifiedTime": rfc3339(entry.mtime_ns),
            "appProperties": app_properties(entry),
        });
        self.inner
            .api
            .update(&id, &meta, None, None, &format!("set the metadata of {path}"))
            .await
            .map_err(|e| e.with_path(path))?;
        Ok(())
    }

    async fn create_symlink(&self, path: &str, _entry: &Entry) -> Result<()> {
        Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{path}: Google Drive cannot hold symlinks"),
        )
        .with_path(path))
    }

    async fn delete(&self, path: &str, kind: EntryKind) -> Result<()> {
        let inner = &self.inner;
        let Some(f) = inner.lookup(path).await? else { return Ok(()) };
        let what = format!("delete {path}");
        match (kind, f.is_folder()) {
            (EntryKind::Dir, true) => {
                if inner.api.has_children(&f.id, &what).await? {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("cannot delete {path}: the folder is not empty"),
                    )
                    .with_path(path));
                }
                inner.api.delete(&f.id, &what).await.map_err(|e| e.with_path(path))?;
                inner.forget_folder(path);
            }
            (EntryKind::Dir, false) | (_, true) => {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("cannot delete {path}: it is not a {kind:?} in Drive"),
                )
                .with_path(path));
            }
            _ => inner.api.delete(&f.id, &what).await.map_err(|e| e.with_path(path))?,
        }
        Ok(())
    }

    async fn remove_empty_dir(&self, path: &str) -> Result<bool> {
        let inner = &self.inner;
        let Some(f) = inner.lookup(path).await?.filter(|f| f.is_folder()) else { return Ok(false) };
        let what = format!("remove folder {path}");
        if inner.api.has_children(&f.id, &what).await? {
            return Ok(false);
        }
        inner.api.delete(&f.id, &what).await.map_err(|e| e.with_path(path))?;
        inner.forget_folder(path);
        Ok(true)
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let inner = &self.inner;
        validate_rel_path(to)?;
        let f = inner.lookup(from).await?.ok_or_else(|| inner.not_found(from))?;
        let (from_dir, _) = split_parent(from);
        let (to_dir, to_name) = split_parent(to);
        let old_parent =
            inner.folder(from_dir, false).await?.ok_or_else(|| inner.not_found(from))?;
        let new_parent = inner
            .folder(to_dir, true)
            .await?
            .ok_or_else(|| Error::internal("a folder that was created is missing"))?;
        // Replaced, as a rename over an existing file is: never two files of one name.
        if let Some(old) = inner.lookup(to).await?.filter(|o| !o.is_folder() && o.id != f.id) {
            inner.api.delete(&old.id, &format!("replace {to}")).await?;
        }
        let moving = old_parent != new_parent;
        inner
            .api
            .update(
                &f.id,
                &json!({ "name": to_name }),
                moving.then_some(new_parent.as_str()),
                moving.then_some(old_parent.as_str()),
                &format!("rename {from}"),
            )
            .await
            .map_err(|e| e.with_path(from))?;
        if f.is_folder() {
            inner.forget_folder(from);
        }
        Ok(())
    }

    async fn read_state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let inner = &self.inner;
        let name = inner.state_name(key)?;
        let Some(id) = inner.state_id(&name).await? else { return Ok(None) };
        match inner.download_all(&id, &format!("download {name}")).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                inner.remember_state(&name, None).await;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn read_state_to(&self, key: &str, dest: &Path) -> Result<bool> {
        let inner = &self.inner;
        let name = inner.state_name(key)?;
        let Some(id) = inner.state_id(&name).await? else { return Ok(false) };
        let what = format!("download {name}");
        let mut resp = match inner.api.download(&id, 0, &what).await {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                inner.remember_state(&name, None).await;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let shown = dest.display().to_string();
        let mut out = super::blocking(|| std::fs::File::create(dest))
            .map_err(|e| Error::io(&e, "cannot create", &shown))?;
        while let Some(chunk) = resp.chunk().await.map_err(|e| api::net_err(e, &what))? {
            use std::io::Write;
            super::blocking(|| out.write_all(&chunk))
                .map_err(|e| Error::io(&e, "cannot write", &shown))?;
        }
        super::blocking(|| out.sync_all()).map_err(|e| Error::io(&e, "cannot flush", &shown))?;
        Ok(true)
    }

    async fn write_state(&self, key: &str, data: &[u8]) -> Result<()> {
        let name = self.inner.state_name(key)?;
        let mut cur = std::io::Cursor::new(data);
        self.inner.put_state(&name, data.len() as u64, &mut cur).await
    }

    async fn write_state_from(&self, key: &str, src: &Path) -> Result<()> {
        let name = self.inner.state_name(key)?;
        let shown = src.display().to_string();
        let mut f = super::blocking(|| std::fs::File::open(src))
            .map_err(|e| Error::io(&e, "cannot open", &shown))?;
        let size = f.metadata().map_err(|e| Error::io(&e, "cannot stat", &shown))?.len();
        self.inner.put_state(&name, size, &mut f).await
    }

    async fn delete_state(&self, key: &str) -> Result<()> {
        let inner = &self.inner;
        let name = inner.state_name(key)?;
        let Some(id) = inner.state_id(&name).await? else { return Ok(()) };
        inner.api.delete(&id, &format!("delete {name}")).await?;
        inner.remember_state(&name, None).await;
        Ok(())
    }
}

/// Reads a file's content from a download response.
struct DriveReader {
    resp: reqwest::Response,
    left: Vec<u8>,
    at: usize,
    what: String,
}

#[async_trait]
impl ReadStream for DriveReader {
    async fn read_chunk(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<()> {
        buf.clear();
        while buf.len() < max {
            if self.at < self.left.len() {
                let n = (max - buf.len()).min(self.left.len() - self.at);
                buf.extend_from_slice(&self.left[self.at..self.at + n]);
                self.at += n;
                continue;
            }
            match self.resp.chunk().await {
                Ok(Some(c)) => {
                    self.left.clear();
                    self.left.extend_from_slice(&c);
                    self.at = 0;
                }
                Ok(None) => break,
                Err(e) => {
                    buf.clear();
                    return Err(api::net_err(e, &self.what));
                }
            }
        }
        Ok(())
    }
}

enum WriteState {
    /// A small file, sent whole by the commit.
    Buffer(Vec<u8>),
    /// A resumable session: the server holds `held` bytes; `pending` are the next ones, sent in chunks (the last
    /// chunk by the commit, so that nothing becomes visible before).
    Session { uri: String, held: u64, pending: Vec<u8> },
    /// An earlier attempt's upload completed (its answer was lost): only the metadata may be left to set.
    Complete(DriveFile),
}

/// Writes one file: nothing is visible at the target until the commit completes the upload.
struct DriveWriter {
    inner: Arc<Inner>,
    path: String,
    name: String,
    parent: String,
    size: u64,
    /// The session's key (the source version's fingerprint).
    key: String,
    state: WriteState,
    /// Metadata sent when the session was opened.
    meta_sent: Option<Value>,
    resume: u64,
}

impl DriveWriter {
    fn what(&self) -> String {
        format!("upload {}", self.path)
    }

    fn too_much(&self) -> Error {
        Error::internal(format!("{}: more bytes than the {} announced", self.path, self.size))
    }

    /// Sends full chunks of the pending bytes, keeping at least one byte back for the commit.
    async fn send_chunks(&mut self) -> Result<()> {
        let chunk = self.inner.chunk as usize;
        let what = self.what();
        let WriteState::Session { uri, held, pending } = &mut self.state else { return Ok(()) };
        while pending.len() > chunk {
            match self.inner.api.put_chunk(uri, *held, &pending[..chunk], self.size, &what).await? {
                UploadState::Incomplete(h) if h > *held => {
                    let took = ((h - *held) as usize).min(chunk);
                    pending.drain(..took);
                    *held += took as u64;
                }
                UploadState::Incomplete(h) => {
                    // The server has fewer bytes than were sent before: the next attempt asks where to go on.
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        format!(
                            "{what}: the server holds {h} bytes, not {}: resuming from there",
                            *held
                        ),
                    )
                    .with_path(&self.path));
                }
                UploadState::Done(_) => {
                    return Err(Error::internal(format!(
                        "{what}: the upload ended before its last chunk"
                    )));
                }
                UploadState::Gone => {
                    self.inner.sessions.remove(&self.key);
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        format!("{what}: the upload session expired: the upload starts again"),
                    )
                    .with_path(&self.path));
                }
            }
        }
        Ok(())
    }

    /// Completes the upload; returns the file.
    async fn finish(&mut self, entry: &Entry) -> Result<DriveFile> {
        let what = self.what();
        let api = &self.inner.api;
        match std::mem::replace(&mut self.state, WriteState::Buffer(Vec::new())) {
            WriteState::Buffer(data) => {
                if data.len() as u64 != self.size {
                    return Err(Error::internal(format!(
                        "{what}: {} bytes written, {} announced",
                        data.len(),
                        self.size
                    )));
                }
                let existing = api.find(&self.parent, &self.name, Some(false), &what).await?;
                let existing = existing.first().map(|f| f.id.clone());
                let meta =
                    file_meta(entry, existing.is_none().then_some((&self.name, &self.parent)));
                api.upload_multipart(existing.as_deref(), &meta, &data, &what).await
            }
            WriteState::Session { uri, held, pending } => {
                if held + pending.len() as u64 != self.size {
                    let (h, p) = (held, pending.len());
                    self.state = WriteState::Session { uri, held, pending };
                    return Err(Error::internal(format!(
                        "{what}: {} bytes written, {} announced",
                        h + p as u64,
                        self.size
                    )));
                }
                let r = api.put_chunk(&uri, held, &pending, self.size, &what).await;
                match r {
                    Ok(UploadState::Done(f)) => {
                        self.inner.sessions.remove(&self.key);
                        self.set_meta_if_changed(&f, entry).await?;
                        Ok(f)
                    }
                    Ok(UploadState::Gone) => {
                        self.inner.sessions.remove(&self.key);
                        Err(Error::new(
                            ErrorKind::Unavailable,
                            format!("{what}: the upload session expired: the upload starts again"),
                        ))
                    }
                    Ok(UploadState::Incomplete(h)) => {
                        self.state = WriteState::Session { uri, held, pending };
                        Err(Error::new(
                            ErrorKind::Unavailable,
                            format!(
                                "{what}: the server holds {h} of {} bytes: resuming",
                                self.size
                            ),
                        ))
                    }
                    Err(e) => {
                        self.state = WriteState::Session { uri, held, pending };
                        Err(e)
                    }
                }
            }
            WriteState::Complete(f) => {
                self.inner.sessions.remove(&self.key);
                self.set_meta_if_changed(&f, entry).await?;
                Ok(f)
            }
        }
    }

    /// Sets what the session's metadata lacked (hashes known only now, a changed mode).
    async fn set_meta_if_changed(&self, f: &DriveFile, entry: &Entry) -> Result<()> {
        let want = file_meta(entry, None);
        let sent = self.meta_sent.as_ref().and_then(|m| m.get("appProperties"));
        let mut wanted = want["appProperties"].as_object().cloned().unwrap_or_default();
        // Properties the session already set need not be sent again.
        if let Some(Value::Object(sent)) = sent {
            wanted.retain(|k, v| match sent.get(k) {
                Some(was) => was != v,
                // A null clears a property the session did not set: nothing to do.
                None => !v.is_null(),
            });
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let meta = json!({ "modifiedTime": want["modifiedTime"], "appProperties": wanted });
        self.inner
            .api
            .update(&f.id, &meta, None, None, &format!("set the metadata of {}", self.path))
            .await?;
        Ok(())
    }

    /// Reads the uploaded content back and compares its BLAKE3.
    async fn verify(&self, f: &DriveFile, want: &str) -> Result<()> {
        let what = format!("read back {}", self.path);
        let mut resp = self.inner.api.download(&f.id, 0, &what).await?;
        let mut h = blake3::Hasher::new();
        while let Some(c) = resp.chunk().await.map_err(|e| api::net_err(e, &what))? {
            h.update(&c);
        }
        let got = h.finalize().to_hex().to_string();
        if got != want {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "{}: what Drive holds does not match the source (blake3 {got}, expected {want})",
                    self.path
                ),
            )
            .with_path(&self.path));
        }
        Ok(())
    }
}

#[async_trait]
impl WriteSink for DriveWriter {
    fn resume_offset(&self) -> u64 {
        self.resume
    }

    async fn write_chunk(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.state {
            WriteState::Buffer(buf) => {
                if (buf.len() + data.len()) as u64 > self.size {
                    return Err(self.too_much());
                }
                buf.extend_from_slice(data);
                Ok(())
            }
            WriteState::Session { held, pending, .. } => {
                if *held + (pending.len() + data.len()) as u64 > self.size {
                    return Err(self.too_much());
                }
                pending.extend_from_slice(data);
                self.send_chunks().await.map_err(|e| e.with_path(&self.path))
            }
            WriteState::Complete(_) => {
                if data.is_empty() {
                    Ok(())
                } else {
                    Err(self.too_much())
                }
            }
        }
    }

    async fn commit(mut self: Box<Self>, entry: &Entry, verify_blake3: Option<&str>) -> Result<()> {
        let path = self.path.clone();
        let f = self.finish(entry).await.map_err(|e| e.with_path(&path))?;
        if let Some(got) = f.size
            && got != self.size
        {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("{path}: Drive holds {got} bytes, {} were sent", self.size),
            )
            .with_path(&path));
        }
        if let Some(want) = verify_blake3 {
            self.verify(&f, want).await?;
        }
        Ok(())
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        // Nothing became visible; the session (if any) is forgotten and expires on Drive's side.
        if matches!(self.state, WriteState::Session { .. } | WriteState::Complete(_)) {
            self.inner.sessions.remove(&self.key);
        }
        Ok(())
    }

    async fn keep_partial(self: Box<Self>) -> Result<()> {
        // The session was saved when it was opened: the next attempt asks the server where to go on.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_through_app_properties() {
        let mut e = Entry::file("a/b.bin", 5, 1_763_766_000_123_456_789, 0o640);
        e.hashes.insert(SHA256, "ab".repeat(32));
        let meta = file_meta(&e, Some(("b.bin", "P")));
        assert_eq!(meta["modifiedTime"], "2025-11-21T23:00:00.123Z");
        assert_eq!(meta["parents"], json!(["P"]));
        let props = meta["appProperties"].as_object().unwrap();
        assert!(!props.contains_key("sw_blake3"), "nulls are only for updates");
        for (k, v) in props {
            assert!(k.len() + v.as_str().unwrap().len() <= 124, "{k}");
        }
        let f = DriveFile {
            id: "x".into(),
            name: "b.bin".into(),
            mime_type: "application/octet-stream".into(),
            size: Some(5),
            modified_time: Some("2025-11-21T23:00:00.123Z".into()),
            md5_checksum: Some("0".repeat(32)),
            sha256_checksum: None,
            app_properties: props
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect(),
        };
        let back = entry_of("a/b.bin", &f);
        assert!(back.same_version(&e));
        assert_eq!(back.mode, 0o640);
        assert_eq!(back.sha256(), e.sha256());
        assert_eq!(back.hashes.get("md5"), Some("0".repeat(32)));
        // Written by another tool: the mtime comes from modifiedTime.
        let other = DriveFile { app_properties: HashMap::new(), ..f };
        assert_eq!(entry_of("a/b.bin", &other).mtime_ns, 1_763_766_000_123_000_000);
        let upd = file_meta(&Entry::file("x", 1, 0, 0o644), None);
        assert_eq!(upd["appProperties"]["sw_sha256"], Value::Null, "an update clears old hashes");
    }
}
