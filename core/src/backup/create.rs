//! Making an archive: the walk of the configured paths, a second thread that reads, hashes and compresses the
//! files in order while this one writes them, the manifest last, then fsync, a rename that never replaces, and
//! rotation.

use std::fs::OpenOptions;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use super::manifest::{FORMAT, MANIFEST_PATH, Manifest, ManifestEntry, SCHEMA_VERSION};
use super::names::{check_label, fold_paths};
use super::out::HoleReader;
use super::zip::{DEFLATED, STORED, ZIP64_THRESHOLD, ZipWriter};
use super::{BackupCreated, BackupPlace, check_max_backups, rotation};
use crate::durable::{rename_noreplace, sync_dir};
use crate::error::{Error, ErrorKind, Result};

/// Extensions of already-compressed media, stored rather than deflated (compared case-insensitively).
pub const STORED_EXTENSIONS: &[&str] = &[
    "png",
    "jpg",
    "jpeg",
    "webp",
    "gif",
    "mp4",
    "webm",
    "mkv",
    "mov",
    "safetensors",
    "ckpt",
    "pt",
    "pth",
    "bin",
    "gguf",
    "zip",
    "7z",
    "gz",
    "xz",
    "zst",
    "bz2",
];

/// The deflate level (Info-ZIP's default).
const LEVEL: u32 = 6;
/// The piece files are read and handed over in.
const CHUNK: usize = 1 << 20;
/// Pieces in flight between the two threads (memory stays under about `(QUEUE + 3) * CHUNK`).
const QUEUE: usize = 4;

/// Whether a file of this name is stored (already compressed).
pub fn is_stored(name: &str) -> bool {
    let Some((_, ext)) = name.rsplit_once('.') else { return false };
    STORED_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext))
}

/// A file to archive.
struct Item {
    rel: String,
    abs: PathBuf,
    size: u64,
    mtime: i64,
    mtime_ns: u32,
    mode: u32,
}

fn rfc3339(secs: i64, nanos: u32) -> String {
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Walks the configured paths in name order; what cannot be archived is a warning.
fn walk(
    root: &Path,
    paths: &[String],
    skip_dir: Option<(u64, u64)>,
    warnings: &mut Vec<String>,
    cancel: &dyn Fn() -> bool,
) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let item = |rel: String, abs: PathBuf, m: &std::fs::Metadata| Item {
        rel,
        abs,
        size: m.len(),
        mtime: m.mtime(),
        mtime_ns: m.mtime_nsec().clamp(0, 999_999_999) as u32,
        mode: m.permissions().mode() & 0o7777,
    };
    for p in paths {
        let abs = root.join(p);
        let m = match std::fs::symlink_metadata(&abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                warnings.push(format!("{p}: does not exist, skipped"));
                continue;
            }
            Err(e) => {
                warnings.push(format!("{p}: cannot be read ({e}), skipped"));
                continue;
            }
        };
        let ft = m.file_type();
        if ft.is_symlink() {
            warnings.push(format!("{p}: a symbolic link, skipped"));
            continue;
        }
        if ft.is_file() {
            items.push(item(p.clone(), abs, &m));
            continue;
        }
        if !ft.is_dir() {
            warnings.push(format!("{p}: not a regular file or folder, skipped"));
            continue;
        }
        if skip_dir == Some((m.dev(), m.ino())) {
            continue;
        }
        let mut stack = vec![(abs, p.clone())];
        while let Some((dir, rel)) = stack.pop() {
            if cancel() {
                return Err(Error::cancelled());
            }
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) => {
                    warnings.push(format!("{rel}: cannot be listed ({e}), skipped"));
                    continue;
                }
            };
            let mut children = Vec::new();
            for de in rd {
                match de {
                    Ok(de) => children.push(de),
                    Err(e) => warnings.push(format!("{rel}: cannot be listed completely ({e})")),
                }
            }
            children.sort_by_key(|d| d.file_name());
            let mut subdirs = Vec::new();
            for de in children {
                let name = de.file_name();
                let Some(name) = name.to_str() else {
                    warnings.push(format!(
                        "{rel}/{}: the name is not UTF-8, skipped",
                        name.to_string_lossy()
                    ));
                    continue;
                };
                let crel = format!("{rel}/{name}");
                if name.contains('\\') {
                    warnings.push(format!("{crel}: a backslash in the name, skipped"));
                    continue;
                }
                let m = match de.metadata() {
                    Ok(m) => m,
                    Err(e) => {
                        warnings.push(format!("{crel}: cannot be read ({e}), skipped"));
                        continue;
                    }
                };
                let ft = m.file_type();
                if ft.is_symlink() {
                    warnings.push(format!("{crel}: a symbolic link, skipped"));
                } else if ft.is_file() {
                    items.push(item(crel, de.path(), &m));
                } else if ft.is_dir() {
                    if skip_dir != Some((m.dev(), m.ino())) {
                        subdirs.push((de.path(), crel));
                    }
                } else {
                    warnings.push(format!("{crel}: not a regular file or folder, skipped"));
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
    }
    Ok(items)
}

/// What the reading thread hands the writing one.
enum Msg {
    /// A file in one piece (`data` is what the archive holds: deflated or not).
    Whole { idx: usize, method: u16, crc: u32, size: u64, sha: [u8; 32], data: Vec<u8> },
    /// A larger file begins.
    Begin { idx: usize, method: u16 },
    /// The next piece of the file begun.
    Chunk(Vec<u8>),
    /// The file begun ends.
    End { crc: u32, size: u64, sha: [u8; 32] },
    /// A file that could not be opened (gone, no permission): a warning.
    Skipped(String),
    /// A file that broke while it was read.
    Failed(Error),
}

struct Producer<'a> {
    tx: mpsc::SyncSender<Msg>,
    pool: mpsc::Receiver<Vec<u8>>,
    stop: &'a AtomicBool,
    z: flate2::Compress,
}

impl Producer<'_> {
    /// A buffer of [`CHUNK`] bytes' capacity from the pool (its length and bytes as they were left).
    fn buffer(&self) -> Vec<u8> {
        self.pool.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK))
    }

    /// An empty buffer for deflate's output.
    fn out_buffer(&self) -> Vec<u8> {
        let mut b = self.buffer();
        b.clear();
        b
    }

    /// Sends `m`; false when the writer has stopped listening.
    fn send(&self, m: Msg) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.tx.send(m).is_ok()
    }

    /// Sends a failure; always false (the file, and the archive, end here).
    fn fail(&self, m: Msg) -> bool {
        let _ = self.send(m);
        false
    }

    fn run(&mut self, items: &[Item]) {
        for (idx, it) in items.iter().enumerate() {
            if !self.file(idx, it) {
                return;
            }
        }
    }

    /// Reads up to `want` bytes into `buf` (only bytes past its length are zeroed first: a buffer of the pool
    /// is reused as it is); the number of bytes read, which is `buf`'s length then.
    fn fill(f: &mut HoleReader, buf: &mut Vec<u8>, want: usize) -> std::io::Result<usize> {
        if buf.len() < want {
            buf.resize(want, 0);
        } else {
            buf.truncate(want);
        }
        let mut n = 0;
        while n < want {
            match f.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => {
                    buf.truncate(n);
                    return Err(e);
                }
            }
        }
        buf.truncate(n);
        Ok(n)
    }

    /// Archives one file; false when the writer has stopped.
    fn file(&mut self, idx: usize, it: &Item) -> bool {
        let file = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&it.abs)
        {
            Ok(f) => f,
            Err(e) => {
                return self
                    .send(Msg::Skipped(format!("{}: cannot be opened ({e}), skipped", it.rel)));
            }
        };
        let mut f = HoleReader::new(&file, 0, None, it.size >= CHUNK as u64);
        let read_err = |e: std::io::Error| {
            Msg::Failed(Error::io(&e, "cannot read", it.abs.display().to_string()))
        };
        let deflate = !is_stored(&it.rel);
        // A small file is read into a buffer of its size (and one byte more, to see its end).
        let first = if it.size < CHUNK as u64 { it.size as usize + 1 } else { CHUNK };
        let mut buf = if first < CHUNK { Vec::new() } else { self.buffer() };
        let n = match Self::fill(&mut f, &mut buf, first) {
            Ok(n) => n,
            Err(e) => return self.fail(read_err(e)),
        };
        let mut crc = crc32fast::Hasher::new();
        let mut sha = Sha256::new();
        crc.update(&buf);
        sha.update(&buf);
        if n < first {
            let (crc, sha) = (crc.finalize(), sha.finalize().into());
            if deflate && n > 0 {
                let mut out = self.out_buffer();
                out.reserve(n);
                self.z.reset();
                let done = loop {
                    let before = self.z.total_in() as usize;
                    let status = self.z.compress_vec(
                        &buf[before..],
                        &mut out,
                        flate2::FlushCompress::Finish,
                    );
                    match status {
                        Ok(flate2::Status::StreamEnd) => break out.len() < n,
                        Ok(_) if out.len() < out.capacity() && out.len() < n => continue,
                        _ => break false,
                    }
                };
                if done {
                    return self.send(Msg::Whole {
                        idx,
                        method: DEFLATED,
                        crc,
                        size: n as u64,
                        sha,
                        data: out,
                    });
                }
            }
            return self.send(Msg::Whole {
                idx,
                method: STORED,
                crc,
                size: n as u64,
                sha,
                data: buf,
            });
        }
        let method = if deflate { DEFLATED } else { STORED };
        if !self.send(Msg::Begin { idx, method }) {
            return false;
        }
        let mut size = 0u64;
        self.z.reset();
        let mut out = self.out_buffer();
        loop {
            size += buf.len() as u64;
            if deflate {
                let flush = if buf.is_empty() {
                    flate2::FlushCompress::Finish
                } else {
                    flate2::FlushCompress::None
                };
                let start = self.z.total_in();
                loop {
                    let used = (self.z.total_in() - start) as usize;
                    if out.len() == out.capacity() {
                        let full = std::mem::replace(&mut out, self.out_buffer());
                        if !self.send(Msg::Chunk(full)) {
                            return false;
                        }
                    }
                    let r = self.z.compress_vec(&buf[used..], &mut out, flush);
                    let used = (self.z.total_in() - start) as usize;
                    match r {
                        Ok(flate2::Status::StreamEnd) => break,
                        Ok(_)
                            if flush == flate2::FlushCompress::None
                                && used == buf.len()
                                && out.len() < out.capacity() =>
                        {
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            return self
                                .fail(Msg::Failed(Error::internal(format!("deflate: {e}"))));
                        }
                    }
                }
                if buf.is_empty() {
                    if !out.is_empty() && !self.send(Msg::Chunk(std::mem::take(&mut out))) {
                        return false;
                    }
                    break;
                }
            } else if buf.is_empty() {
                break;
            } else {
                let full = std::mem::replace(&mut buf, self.buffer());
                if !self.send(Msg::Chunk(full)) {
                    return false;
                }
            }
            if let Err(e) = Self::fill(&mut f, &mut buf, CHUNK) {
                return self.fail(read_err(e));
            }
            crc.update(&buf);
            sha.update(&buf);
        }
        self.send(Msg::End { crc: crc.finalize(), size, sha: sha.finalize().into() })
    }
}

/// Removes a temporary unless it was kept.
struct Temp(Option<PathBuf>);

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// See [`super::create`].
pub fn create(
    place: &BackupPlace,
    label: Option<&str>,
    max_backups: Option<usize>,
    cancel: &dyn Fn() -> bool,
) -> Result<BackupCreated> {
    if let Some(l) = label {
        check_label(l)?;
    }
    let keep = max_backups.unwrap_or(place.max_backups);
    check_max_backups(keep)?;
    let paths = fold_paths(&place.paths)?;
    if !place.root.is_absolute() || !place.dir.is_absolute() {
        return Err(Error::invalid(
            "the backup root and folder must be absolute (see BackupPlace::resolve)",
        ));
    }
    let root_meta = std::fs::metadata(&place.root).map_err(|e| {
        Error::io(&e, "cannot open the backup root", place.root.display().to_string())
    })?;
    if !root_meta.is_dir() {
        return Err(Error::invalid(format!(
            "the backup root {} is not a folder",
            place.root.display()
        )));
    }
    if cancel() {
        return Err(Error::cancelled());
    }
    let dir = &place.dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(&e, "cannot create", dir.display().to_string()))?;
    let dm = std::fs::metadata(dir)
        .map_err(|e| Error::io(&e, "cannot open", dir.display().to_string()))?;
    let now = chrono::Utc::now();
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let created_at = now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let base = match label {
        Some(l) => format!("{stamp}-{l}"),
        None => stamp,
    };
    let mut warnings = Vec::new();
    let items = walk(&place.root, &paths, Some((dm.dev(), dm.ino())), &mut warnings, cancel)?;

    let tmp_path = dir.join(format!(".{base}.partial-{}", uuid::Uuid::new_v4().simple()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp_path)
        .map_err(|e| Error::io(&e, "cannot create", tmp_path.display().to_string()))?;
    let mut temp = Temp(Some(tmp_path.clone()));
    let werr = |e: std::io::Error| Error::io(&e, "cannot write", tmp_path.display().to_string());
    let mut zw = ZipWriter::new(&file);
    let mut entries: Vec<ManifestEntry> = Vec::with_capacity(items.len());
    let mut total = 0u64;

    let stop = AtomicBool::new(false);
    let written: Result<()> = std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
        let (pool_tx, pool_rx) = mpsc::channel::<Vec<u8>>();
        let items_ref = &items;
        let stop_ref = &stop;
        let producer = std::thread::Builder::new()
            .name("backup-read".into())
            .spawn_scoped(s, move || {
                let z = flate2::Compress::new(flate2::Compression::new(LEVEL), false);
                Producer { tx, pool: pool_rx, stop: stop_ref, z }.run(items_ref);
            })
            .map_err(|e| Error::new(ErrorKind::Resource, format!("cannot start a thread: {e}")))?;
        let mut entry = |idx: usize, size: u64, sha: &[u8; 32]| {
            let it = &items[idx];
            total += size;
            entries.push(ManifestEntry {
                path: it.rel.clone(),
                size,
                mode: it.mode,
                mtime: rfc3339(it.mtime, it.mtime_ns),
                sha256: hex::encode(sha),
            });
        };
        let r = (|| {
            let mut pending = None;
            for m in rx.iter() {
                if cancel() {
                    return Err(Error::cancelled());
                }
                match m {
                    Msg::Whole { idx, method, crc, size, sha, data } => {
                        let it = &items[idx];
                        zw.whole(&it.rel, method, it.mtime, it.mode, crc, size, &data)
                            .map_err(werr)?;
                        entry(idx, size, &sha);
                        if data.capacity() >= CHUNK {
                            let _ = pool_tx.send(data);
                        }
                    }
                    Msg::Begin { idx, method } => {
                        let it = &items[idx];
                        let large = it.size >= ZIP64_THRESHOLD;
                        pending = Some((
                            idx,
                            zw.begin(&it.rel, method, it.mtime, it.mode, large).map_err(werr)?,
                        ));
                    }
                    Msg::Chunk(data) => {
                        zw.data(&data).map_err(werr)?;
                        if data.capacity() >= CHUNK {
                            let _ = pool_tx.send(data);
                        }
                    }
                    Msg::End { crc, size, sha } => {
                        let (idx, p) = pending
                            .take()
                            .ok_or_else(|| Error::internal("an entry ended twice"))?;
                        zw.end(p, crc, size).map_err(|e| {
                            Error::new(ErrorKind::Conflict, e.to_string())
                                .with_path(items[idx].rel.clone())
                        })?;
                        entry(idx, size, &sha);
                    }
                    Msg::Skipped(w) => warnings.push(w),
                    Msg::Failed(e) => return Err(e),
                }
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        drop(rx);
        if producer.join().is_err() {
            return Err(Error::internal("the backup's reading thread panicked"));
        }
        r
    });
    written?;
    if cancel() {
        return Err(Error::cancelled());
    }

    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        format: FORMAT.to_string(),
        created_at: created_at.clone(),
        label: label.map(str::to_string),
        root: place.root.display().to_string(),
        paths,
        entry_count: entries.len() as u64,
        total_bytes: total,
        entries,
    };
    let json = serde_json::to_vec(&manifest)?;
    let mut z = flate2::Compress::new(flate2::Compression::new(LEVEL), false);
    let mut packed = Vec::with_capacity(json.len() / 2 + 1024);
    loop {
        let used = z.total_in() as usize;
        packed.reserve(64 << 10);
        match z.compress_vec(&json[used..], &mut packed, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => break,
            Ok(_) => {}
            Err(e) => return Err(Error::internal(format!("deflate: {e}"))),
        }
    }
    let mtime = now.timestamp();
    zw.whole(
        MANIFEST_PATH,
        DEFLATED,
        mtime,
        0o644,
        crc32fast::hash(&json),
        json.len() as u64,
        &packed,
    )
    .map_err(werr)?;
    let size = zw.finish().map_err(werr)?;
    file.sync_all().map_err(werr)?;
    drop(file);
    if cancel() {
        return Err(Error::cancelled());
    }

    let mut n = 0u32;
    let (name, path) = loop {
        let name = if n == 0 { format!("{base}.zip") } else { format!("{base}-{n}.zip") };
        let path = dir.join(&name);
        match rename_noreplace(&tmp_path, &path) {
            Ok(()) => break (name, path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
            Err(e) => {
                return Err(Error::io(
                    &e,
                    "cannot rename the new archive to",
                    path.display().to_string(),
                ));
            }
        }
    };
    temp.0 = None;
    sync_dir(dir);
    let rotated = rotation::rotate(dir, keep, &name, &mut warnings);
    Ok(BackupCreated {
        name,
        path,
        size,
        created_at,
        label: label.map(str::to_string),
        entries: manifest.entry_count,
        bytes: manifest.total_bytes,
        rotated,
        warnings,
    })
}
