//! A backend wrapper for tests: counts calls and bytes, and at call N or at byte N of a file fails with a chosen
//! error kind, pauses until released, or runs a hook (for example to change the source file under the copy). A
//! seeded schedule fails a share of calls at random, reproducibly.

use super::{Backend, ReadStream, WriteSink};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::diff::NameRules;
use crate::manifest::scan::{ScanOptions, ScanOutcome};
use crate::manifest::{Entry, EntryKind};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A point where a paused stream waits until the test releases it.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<(bool, bool)>, // (reached, released)
    cv: Condvar,
    notify: tokio::sync::Notify,
}

impl Gate {
    /// Blocks until the gate is reached or `timeout` passes; returns whether it was reached.
    pub fn wait_reached(&self, timeout: Duration) -> bool {
        let g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (g, _) =
            self.cv.wait_timeout_while(g, timeout, |s| !s.0).unwrap_or_else(|p| p.into_inner());
        g.0
    }

    /// Whether the gate has been reached.
    pub fn is_reached(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Lets the paused stream go on.
    pub fn release(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.cv.notify_all();
        self.notify.notify_waiters();
    }

    async fn pass(&self) {
        {
            let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
            g.0 = true;
            self.cv.notify_all();
        }
        loop {
            let notified = self.notify.notified();
            if self.state.lock().unwrap_or_else(|p| p.into_inner()).1 {
                return;
            }
            notified.await;
        }
    }
}

/// What happens when a trigger fires.
#[derive(Clone)]
pub enum Fault {
    /// The call fails with this kind.
    Fail(ErrorKind),
    /// The call fails with this kind and message (what a service would say: "429 slow down", ...).
    FailWith(ErrorKind, String),
    /// The stream waits at the gate.
    Pause(Arc<Gate>),
    /// The hook runs with the path, then the call goes on.
    Hook(Arc<dyn Fn(&str) + Send + Sync>),
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Fail(k) => write!(f, "Fail({k})"),
            Fault::FailWith(k, m) => write!(f, "FailWith({k}, {m:?})"),
            Fault::Pause(_) => f.write_str("Pause"),
            Fault::Hook(_) => f.write_str("Hook"),
        }
    }
}

#[derive(Debug, Clone)]
struct ByteRule {
    path: Option<String>,
    at: u64,
    fault: Fault,
    /// Fire on every stream of a matching file (true) or on the first only.
    every_time: bool,
    fired: u64,
}

#[derive(Debug)]
struct Random {
    rng: fastrand::Rng,
    probability: f64,
    kind: ErrorKind,
    max_per_path: u32,
    failed: HashMap<String, u32>,
    message: Option<String>,
}

#[derive(Debug, Default)]
struct Rules {
    calls: Vec<(u64, Fault)>,
    bytes: Vec<ByteRule>,
    random: Option<Random>,
    /// (path, renames of it still to fail, how).
    renames: Vec<(String, u32, ErrorKind)>,
}

/// Wraps a backend and injects faults. Byte triggers apply to data read from this backend and written to it.
#[derive(Debug)]
pub struct Instrumented {
    inner: Arc<dyn Backend>,
    calls: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    rules: Arc<Mutex<Rules>>,
    /// The breaker target it claims (None: the inner backend's).
    breaker_target: Mutex<Option<String>>,
}

impl Instrumented {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Backend>) -> Arc<Instrumented> {
        Arc::new(Instrumented {
            inner,
            calls: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            rules: Arc::default(),
            breaker_target: Mutex::new(None),
        })
    }

    /// Claims the remote target `target` for the circuit breakers (a local folder then stands for a remote
    /// host, say `sftp://test@nas:22`, whose breaker is shared with every other backend claiming it).
    pub fn set_breaker_target(&self, target: &str) {
        *self.breaker_target.lock().unwrap_or_else(|p| p.into_inner()) = Some(target.to_string());
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `n`th backend call from now on (1-based, counting every method) gets `fault`.
    pub fn at_call(&self, n: u64, fault: Fault) {
        let base = self.calls.load(Ordering::SeqCst);
        self.rules().calls.push((base + n, fault));
    }

    /// When a stream of `path` (any file when None) reaches byte `at`, `fault` happens; on the first such
    /// stream only, or on every one when `every_time`.
    pub fn at_byte(&self, path: Option<&str>, at: u64, fault: Fault, every_time: bool) {
        self.rules().bytes.push(ByteRule {
            path: path.map(str::to_string),
            at,
            fault,
            every_time,
            fired: 0,
        });
    }

    /// Pauses the first stream of `path` at byte `at`; returns the gate to wait on and release.
    pub fn pause_at_byte(&self, path: Option<&str>, at: u64) -> Arc<Gate> {
        let g = Arc::new(Gate::default());
        self.at_byte(path, at, Fault::Pause(g.clone()), false);
        g
    }

    /// Fails a share `probability` of data calls (reads, writes, opens) at random, reproducibly from `seed`, but
    /// never more than `max_per_path` times for one path (so that a file with N attempts always gets through when
    /// `max_per_path` < N). Which calls fail depends on the seed and on the order of the calls.
    pub fn fail_randomly(&self, seed: u64, probability: f64, kind: ErrorKind, max_per_path: u32) {
        self.set_random(seed, probability, kind, None, max_per_path);
    }

    /// [`Instrumented::fail_randomly`] with the message the failures carry.
    pub fn fail_randomly_with(
        &self,
        seed: u64,
        probability: f64,
        kind: ErrorKind,
        message: &str,
        max_per_path: u32,
    ) {
        self.set_random(seed, probability, kind, Some(message.to_string()), max_per_path);
    }

    fn set_random(
        &self,
        seed: u64,
        probability: f64,
        kind: ErrorKind,
        message: Option<String>,
        max_per_path: u32,
    ) {
        self.rules().random = Some(Random {
            rng: fastrand::Rng::with_seed(seed),
            probability,
            kind,
            max_per_path,
            failed: HashMap::new(),
            message,
        });
    }

    /// The next `times` renames of `path`'s complete temporary over its target (the commit of a prepared
    /// write, after its batch was flushed) fail with `kind`. Not counted as calls.
    pub fn fail_renames(&self, path: &str, times: u32, kind: ErrorKind) {
        self.rules().renames.push((path.to_string(), times, kind));
    }

    /// Backend calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Bytes read through this wrapper.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::SeqCst)
    }

    /// Bytes written through this wrapper.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::SeqCst)
    }

    async fn call(&self, what: &str, path: &str, data: bool) -> Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let fault = {
            let mut r = self.rules();
            let idx = r.calls.iter().position(|(at, _)| *at == n);
            let mut fault = idx.map(|i| r.calls.remove(i).1);
            if fault.is_none()
                && data
                && let Some(rand) = r.random.as_mut()
            {
                let failed = rand.failed.entry(path.to_string()).or_insert(0);
                if *failed < rand.max_per_path && rand.rng.f64() < rand.probability {
                    *failed += 1;
                    fault = Some(match &rand.message {
                        Some(m) => Fault::FailWith(rand.kind, m.clone()),
                        None => Fault::Fail(rand.kind),
                    });
                }
            }
            fault
        };
        match fault {
            Some(f) => fire(&f, what, path).await,
            None => Ok(()),
        }
    }
}

async fn fire(f: &Fault, what: &str, path: &str) -> Result<()> {
    match f {
        Fault::Fail(kind) => {
            Err(Error::new(*kind, format!("injected {kind} fault during {what} of {path}"))
                .with_path(path))
        }
        Fault::FailWith(kind, msg) => {
            Err(Error::new(*kind, format!("{msg} (injected during {what} of {path})"))
                .with_path(path))
        }
        Fault::Pause(g) => {
            g.pass().await;
            Ok(())
        }
        Fault::Hook(h) => {
            h(path);
            Ok(())
        }
    }
}

/// Byte accounting shared by the read and write wrappers.
struct ByteWatch {
    path: String,
    pos: u64,
    rules: Arc<Mutex<Rules>>,
    /// Rules (by index) that this stream has to honour, with their byte offsets.
    armed: Vec<(usize, u64)>,
}

impl ByteWatch {
    fn new(path: &str, start: u64, rules: Arc<Mutex<Rules>>) -> ByteWatch {
        let armed = {
            let r = rules.lock().unwrap_or_else(|p| p.into_inner());
            r.bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| {
                    b.path.as_deref().is_none_or(|p| p == path) && (b.every_time || b.fired == 0)
                })
                .filter(|(_, b)| b.at >= start)
                .map(|(i, b)| (i, b.at))
                .collect()
        };
        ByteWatch { path: path.to_string(), pos: start, rules, armed }
    }

    /// How many of the next `want` bytes may pass before a trigger.
    fn allowance(&self, want: usize) -> usize {
        let next = self.armed.iter().map(|(_, at)| *at).min();
        match next {
            Some(at) if at >= self.pos => want.min((at - self.pos) as usize),
            _ => want,
        }
    }

    /// Fires every armed rule whose byte has been reached.
    async fn check(&mut self, op: &str) -> Result<()> {
        let due: Vec<usize> =
            self.armed.iter().filter(|(_, at)| *at <= self.pos).map(|(i, _)| *i).collect();
        self.armed.retain(|(_, at)| *at > self.pos);
        for i in due {
            let fault = {
                let mut r = self.rules.lock().unwrap_or_else(|p| p.into_inner());
                let b = &mut r.bytes[i];
                if !b.every_time && b.fired > 0 {
                    continue;
                }
                b.fired += 1;
                b.fault.clone()
            };
            fire(&fault, op, &self.path).await?;
        }
        Ok(())
    }
}

struct InstReader {
    inner: Box<dyn ReadStream>,
    watch: ByteWatch,
    owner: Arc<Instrumented>,
}

#[async_trait]
impl ReadStream for InstReader {
    async fn read_chunk(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<()> {
        self.watch.check("read").await?;
        self.owner.call("read", &self.watch.path.clone(), true).await?;
        let allowed = self.watch.allowance(max).max(1);
        self.inner.read_chunk(buf, allowed).await?;
        self.watch.pos += buf.len() as u64;
        self.owner.bytes_read.fetch_add(buf.len() as u64, Ordering::SeqCst);
        Ok(())
    }
}

struct InstWriter {
    inner: Box<dyn WriteSink>,
    watch: ByteWatch,
    owner: Arc<Instrumented>,
}

/// A prepared write whose rename can be made to fail ([`Instrumented::fail_renames`]).
struct InstPrepared {
    inner: Box<dyn super::PreparedWrite>,
    path: String,
    owner: Arc<Instrumented>,
}

#[async_trait]
impl super::PreparedWrite for InstPrepared {
    async fn commit(&self) -> Result<()> {
        let fail = {
            let mut r = self.owner.rules();
            r.renames.iter_mut().find(|(p, left, _)| *p == self.path && *left > 0).map(
                |(_, left, kind)| {
                    *left -= 1;
                    *kind
                },
            )
        };
        if let Some(kind) = fail {
            return Err(Error::new(kind, format!("injected: cannot rename {}", self.path))
                .with_path(&self.path));
        }
        self.inner.commit().await
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl WriteSink for InstWriter {
    fn resume_offset(&self) -> u64 {
        self.inner.resume_offset()
    }

    async fn write_chunk(&mut self, mut data: &[u8]) -> Result<()> {
        self.owner.call("write", &self.watch.path.clone(), true).await?;
        while !data.is_empty() {
            self.watch.check("write").await?;
            let n = self.watch.allowance(data.len()).max(1);
            self.inner.write_chunk(&data[..n]).await?;
            self.watch.pos += n as u64;
            self.owner.bytes_written.fetch_add(n as u64, Ordering::SeqCst);
            data = &data[n..];
        }
        Ok(())
    }

    async fn commit(self: Box<Self>, entry: &Entry, verify_blake3: Option<&str>) -> Result<()> {
        let mut s = *self;
        s.watch.check("write").await?;
        s.owner.call("commit", &s.watch.path.clone(), true).await?;
        s.inner.commit(entry, verify_blake3).await
    }

    async fn prepare(
        self: Box<Self>,
        entry: &Entry,
        verify_blake3: Option<&str>,
    ) -> Result<Box<dyn super::PreparedWrite>> {
        let mut s = *self;
        s.watch.check("write").await?;
        let path = s.watch.path.clone();
        s.owner.call("commit", &path, true).await?;
        let inner = s.inner.prepare(entry, verify_blake3).await?;
        Ok(Box::new(InstPrepared { inner, path, owner: s.owner }))
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        self.inner.abort().await
    }

    async fn keep_partial(self: Box<Self>) -> Result<()> {
        self.inner.keep_partial().await
    }
}

/// An instrumented backend shared as `Arc<dyn Backend>` keeps its counters reachable through this handle.
#[derive(Debug, Clone)]
pub struct InstrumentedBackend(pub Arc<Instrumented>);

#[async_trait]
impl Backend for InstrumentedBackend {
    fn scheme(&self) -> &'static str {
        self.0.inner.scheme()
    }
    fn location(&self) -> String {
        self.0.inner.location()
    }
    fn breaker_target(&self) -> Option<String> {
        let claimed = self.0.breaker_target.lock().unwrap_or_else(|p| p.into_inner()).clone();
        claimed.or_else(|| self.0.inner.breaker_target())
    }
    fn rules(&self) -> NameRules {
        self.0.inner.rules()
    }
    fn mtime_precision_ns(&self) -> i64 {
        self.0.inner.mtime_precision_ns()
    }
    fn wants_sha256(&self) -> bool {
        self.0.inner.wants_sha256()
    }
    fn listing_has_metadata(&self) -> bool {
        self.0.inner.listing_has_metadata()
    }
    fn temp_path(&self, path: &str, version: &Entry) -> Option<String> {
        self.0.inner.temp_path(path, version)
    }
    fn folder_metadata(&self) -> bool {
        self.0.inner.folder_metadata()
    }
    fn native_hash(&self) -> Option<crate::manifest::hash::HashAlgo> {
        self.0.inner.native_hash()
    }
    fn root_id(&self) -> Option<super::RootId> {
        self.0.inner.root_id()
    }
    fn supports_absolute_backup(&self) -> bool {
        self.0.inner.supports_absolute_backup()
    }
    async fn backup(&self, path: &str, backup_dir: &str) -> Result<String> {
        self.0.inner.backup(path, backup_dir).await
    }
    async fn list_state(&self, dir: &str) -> Result<Vec<String>> {
        self.0.inner.list_state(dir).await
    }
    async fn scan(&self, opts: ScanOptions) -> Result<ScanOutcome> {
        self.0.call("scan", "", false).await?;
        self.0.inner.scan(opts).await
    }
    async fn stat(&self, path: &str) -> Result<Option<Entry>> {
        self.0.call("stat", path, false).await?;
        self.0.inner.stat(path).await
    }
    async fn stat_follow(&self, path: &str) -> Result<Option<Entry>> {
        self.0.call("stat", path, false).await?;
        self.0.inner.stat_follow(path).await
    }
    async fn open_read(&self, path: &str, offset: u64) -> Result<Box<dyn ReadStream>> {
        self.0.call("open_read", path, true).await?;
        let inner = self.0.inner.open_read(path, offset).await?;
        Ok(Box::new(InstReader {
            inner,
            watch: ByteWatch::new(path, offset, self.0.rules.clone()),
            owner: self.0.clone(),
        }))
    }
    async fn open_write(&self, path: &str, version: &Entry) -> Result<Box<dyn WriteSink>> {
        self.0.call("open_write", path, true).await?;
        let inner = self.0.inner.open_write(path, version).await?;
        let start = inner.resume_offset();
        Ok(Box::new(InstWriter {
            inner,
            watch: ByteWatch::new(path, start, self.0.rules.clone()),
            owner: self.0.clone(),
        }))
    }
    async fn set_meta(&self, path: &str, entry: &Entry) -> Result<()> {
        self.0.call("set_meta", path, false).await?;
        self.0.inner.set_meta(path, entry).await
    }
    async fn create_dir(&self, path: &str, entry: &Entry) -> Result<()> {
        self.0.call("create_dir", path, false).await?;
        self.0.inner.create_dir(path, entry).await
    }
    async fn create_symlink(&self, path: &str, entry: &Entry) -> Result<()> {
        self.0.call("create_symlink", path, false).await?;
        self.0.inner.create_symlink(path, entry).await
    }
    async fn delete(&self, path: &str, kind: EntryKind) -> Result<()> {
        self.0.call("delete", path, false).await?;
        self.0.inner.delete(path, kind).await
    }
    async fn remove_empty_dir(&self, path: &str) -> Result<bool> {
        self.0.call("remove_empty_dir", path, false).await?;
        self.0.inner.remove_empty_dir(path).await
    }
    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.0.call("rename", from, false).await?;
        self.0.inner.rename(from, to).await
    }
    async fn flush(&self) -> Result<()> {
        self.0.call("flush", "", false).await?;
        self.0.inner.flush().await
    }
    async fn read_state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.0.call("read_state", key, false).await?;
        self.0.inner.read_state(key).await
    }
    async fn state_file(&self, key: &str) -> Result<Option<std::path::PathBuf>> {
        self.0.call("state_file", key, false).await?;
        self.0.inner.state_file(key).await
    }
    async fn write_state(&self, key: &str, data: &[u8]) -> Result<()> {
        self.0.call("write_state", key, false).await?;
        self.0.inner.write_state(key, data).await
    }
    async fn write_state_with(&self, key: &str, write: super::StateWriteFn<'_>) -> Result<()> {
        self.0.call("write_state", key, false).await?;
        self.0.inner.write_state_with(key, write).await
    }
    async fn read_state_to(&self, key: &str, dest: &std::path::Path) -> Result<bool> {
        self.0.call("read_state_to", key, false).await?;
        self.0.inner.read_state_to(key, dest).await
    }
    async fn write_state_from(&self, key: &str, src: &std::path::Path) -> Result<()> {
        self.0.call("write_state_from", key, false).await?;
        self.0.inner.write_state_from(key, src).await
    }
    async fn cached_state_file(&self, key: &str) -> Result<Option<super::CachedState>> {
        self.0.inner.cached_state_file(key).await
    }
    async fn delete_state(&self, key: &str) -> Result<()> {
        self.0.call("delete_state", key, false).await?;
        self.0.inner.delete_state(key).await
    }
    /// The inner backend's, unwatched (lock calls are not counted, so call numbers mean what they did).
    fn lock_files(&self) -> Option<Arc<dyn crate::locks::LockFiles>> {
        self.0.inner.lock_files()
    }
}

impl Instrumented {
    /// This wrapper as a backend to hand to the engine.
    pub fn backend(self: &Arc<Self>) -> Arc<dyn Backend> {
        Arc::new(InstrumentedBackend(self.clone()))
    }
}
