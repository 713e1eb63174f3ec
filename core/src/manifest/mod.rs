//! Manifests: what a tree holds (entries sorted by path), their canonical JSON, and the change detection that
//! turns two manifests into a [`Plan`](crate::manifest::plan::Plan).
//!
//! # The canonical manifest document
//!
//! ```text
//! {"schema_version":1,"name":"default","root":"/data/media","created_at":"2026-11-21T23:00:00.000000000Z","entries":[
//! {"path":"a/b.png","kind":"file","size":3,"mtime_ns":1763766000000000000,"mode":420,"hashes":{"sha256":"…"}},
//! {"path":"a/link","kind":"symlink","size":5,"mtime_ns":1763766000000000000,"mode":511,"target":"b.png"}
//! ],"entry_count":2,"checksum":"…"}
//! ```
//!
//! One entry per line, sorted by path (byte order of the UTF-8 string), so a million entries stream in and out.
//! `checksum` is the SHA-256 (hex) of the entries' lines, each followed by `\n`; it comes last so that a writer
//! never holds the entries in memory. [`Manifest::write_to`] of a manifest read by [`Manifest::read_from`]
//! reproduces the document byte for byte.

pub mod diff;
pub mod filter;
pub mod hash;
pub mod hashes;
pub mod import;
pub mod plan;
pub mod scan;
pub(crate) mod walk;

pub use scan::build_manifest_json;

use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};

/// The version of the manifest, plan and report documents this library writes.
pub const SCHEMA_VERSION: u32 = 1;

pub use hashes::{BLAKE3, Hashes, SHA256};

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A symbolic link (kept as a link under `links = preserve`).
    Symlink,
    /// An empty directory (directories with content are implied by their entries' paths).
    Dir,
}

/// One file, symlink or empty directory of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative, '/'-separated, UTF-8 path; never empty, absolute, or with `.`/`..` components.
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Size in bytes (for a symlink, the length of its target; 0 for a directory).
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Permission bits (for example 0o644 = 420).
    pub mode: u32,
    /// The link target of a symlink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Content hashes by algorithm (`sha256` is canonical; backends may add `md5`, `etag`, ...), lowercase hex.
    #[serde(default, skip_serializing_if = "Hashes::is_empty")]
    pub hashes: Hashes,
}

impl Entry {
    /// The canonical SHA-256 of the content, if known.
    pub fn sha256(&self) -> Option<String> {
        self.hashes.sha256()
    }

    /// A new file entry without hashes.
    pub fn file(path: impl Into<String>, size: u64, mtime_ns: i64, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File,
            size,
            mtime_ns,
            mode,
            target: None,
            hashes: Hashes::new(),
        }
    }

    /// Whether this live destination entry is still the one syncwright `recorded` there: the same kind, size and
    /// link target, and an mtime equal within what the destination stores (`precision_ns`: 1 for local disks,
    /// whole seconds over SFTP; links there keep the time the host gave them, so only their target counts).
    pub fn same_at_dest(&self, recorded: &Entry, precision_ns: i64) -> bool {
        if self.kind != recorded.kind {
            return false;
        }
        match self.kind {
            EntryKind::Dir => true,
            EntryKind::Symlink => self.target == recorded.target,
            EntryKind::File => {
                self.size == recorded.size
                    && if precision_ns <= 1 {
                        self.mtime_ns == recorded.mtime_ns
                    } else {
                        self.mtime_ns.div_euclid(precision_ns)
                            == recorded.mtime_ns.div_euclid(precision_ns)
                    }
            }
        }
    }

    /// True when kind, size, mtime and link target are the same (hashes and mode aside).
    pub fn same_version(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.size == other.size
            && self.mtime_ns == other.mtime_ns
            && self.target == other.target
    }
}

/// Checks that `path` is a relative, normalised, '/'-separated path that cannot escape a root.
pub fn validate_rel_path(path: &str) -> Result<()> {
    let bad =
        |why: &str| Err(Error::invalid(format!("invalid path {path:?}: {why}")).with_path(path));
    if path.is_empty() {
        return bad("empty");
    }
    if path.starts_with('/') {
        return bad("absolute");
    }
    if path.contains('\0') {
        return bad("contains NUL");
    }
    for c in path.split('/') {
        match c {
            "" => return bad("empty component"),
            "." | ".." => return bad("'.' or '..' component"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks the path of a manifest entry: a [`validate_rel_path`] path that is not syncwright's own state folder
/// (`.syncwright` at the root, or anything under it). That folder holds the destination's manifests and run
/// markers; no tree has it as content, and an entry there could make a mirror run delete another snapshot's
/// manifest. `invalid_input` otherwise (the readers of canonical documents report it as `corrupt`).
pub fn validate_entry_path(path: &str) -> Result<()> {
    validate_rel_path(path)?;
    if filter::is_state_path(path) {
        return Err(Error::invalid(format!(
            "invalid path {path:?}: {}/ is syncwright's own state folder",
            filter::STATE_DIR
        ))
        .with_path(path));
    }
    Ok(())
}

/// A tree's list of entries with its name, root and creation time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of this document's schema.
    pub schema_version: u32,
    /// The snapshot name (for example `default`, `nightly`).
    pub name: String,
    /// Where the tree was scanned (a path or a URL without credentials).
    pub root: String,
    /// RFC 3339 time of creation, UTC.
    pub created_at: String,
    /// Entries, sorted by path, unique.
    pub entries: Vec<Entry>,
}

/// Header and trailer of the canonical document, for reading.
#[derive(Deserialize)]
struct ManifestDocument {
    schema_version: u32,
    name: String,
    root: String,
    created_at: String,
    entries: Vec<Entry>,
    entry_count: u64,
    checksum: String,
}

#[derive(Serialize)]
struct ManifestHeader<'a> {
    schema_version: u32,
    name: &'a str,
    root: &'a str,
    created_at: &'a str,
}

/// The current time as RFC 3339 with nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Manifest {
    /// An empty manifest named `name` for `root`, created now.
    pub fn new(name: impl Into<String>, root: impl Into<String>) -> Manifest {
        Manifest {
            schema_version: SCHEMA_VERSION,
            name: name.into(),
            root: root.into(),
            created_at: now_rfc3339(),
            entries: Vec::new(),
        }
    }

    /// Sorts entries by path and checks every path ([`validate_entry_path`]); a duplicate path is an error.
    pub fn normalise(&mut self) -> Result<()> {
        self.entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        for e in &self.entries {
            validate_entry_path(&e.path)?;
        }
        if let Some(w) = self.entries.windows(2).find(|w| w[0].path == w[1].path) {
            return Err(Error::invalid(format!("duplicate path {:?} in manifest", w[0].path)));
        }
        Ok(())
    }

    /// Looks an entry up by path (binary search; entries must be sorted).
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.binary_search_by(|e| e.path.as_str().cmp(path)).ok().map(|i| &self.entries[i])
    }

    /// Total bytes of the file entries.
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().filter(|e| e.kind == EntryKind::File).map(|e| e.size).sum()
    }

    /// The checksum over the entries, as written in the document.
    pub fn checksum(&self) -> Result<String> {
        let mut h = Sha256::new();
        let mut line = Vec::with_capacity(256);
        for e in &self.entries {
            line.clear();
            serde_json::to_writer(&mut line, e)?;
            line.push(b'\n');
            h.update(&line);
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Writes the canonical document (see the module docs), streaming one entry at a time.
    pub fn write_to<W: Write>(&self, mut w: W) -> Result<()> {
        let io = |e: std::io::Error| {
            Error::new(ErrorKind::from_io(&e), format!("writing manifest: {e}"))
        };
        let header = serde_json::to_string(&ManifestHeader {
            schema_version: self.schema_version,
            name: &self.name,
            root: &self.root,
            created_at: &self.created_at,
        })?;
        // Drop the closing brace to continue the object with the entries array.
        w.write_all(&header.as_bytes()[..header.len() - 1]).map_err(io)?;
        w.write_all(b",\"entries\":[").map_err(io)?;
        let mut h = Sha256::new();
        let mut line = Vec::with_capacity(256);
        for (i, e) in self.entries.iter().enumerate() {
            line.clear();
            serde_json::to_writer(&mut line, e)?;
            line.push(b'\n');
            h.update(&line);
            w.write_all(if i == 0 { b"\n" } else { b",\n" }).map_err(io)?;
            w.write_all(&line[..line.len() - 1]).map_err(io)?;
        }
        if !self.entries.is_empty() {
            w.write_all(b"\n").map_err(io)?;
        }
        writeln!(
            w,
            "],\"entry_count\":{},\"checksum\":\"{}\"}}",
            self.entries.len(),
            hex::encode(h.finalize())
        )
        .map_err(io)?;
        w.flush().map_err(io)
    }

    /// The canonical document as a string.
    pub fn to_json(&self) -> Result<String> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        String::from_utf8(out).map_err(|e| Error::internal(e.to_string()))
    }

    /// Reads a canonical document, checking schema version, order, paths, count and checksum.
    /// A document that fails a check is an error of kind `corrupt`.
    pub fn read_from<R: BufRead>(r: R) -> Result<Manifest> {
        let doc: ManifestDocument = serde_json::from_reader(r)
            .map_err(|e| Error::new(ErrorKind::Corrupt, format!("manifest is not valid: {e}")))?;
        Manifest::check(doc)
    }

    fn check(doc: ManifestDocument) -> Result<Manifest> {
        if doc.schema_version == 0 || doc.schema_version > SCHEMA_VERSION {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "manifest schema_version {} is not supported (max {SCHEMA_VERSION})",
                    doc.schema_version
                ),
            ));
        }
        let m = Manifest {
            schema_version: doc.schema_version,
            name: doc.name,
            root: doc.root,
            created_at: doc.created_at,
            entries: doc.entries,
        };
        if m.entries.len() as u64 != doc.entry_count {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("manifest says {} entries but holds {}", doc.entry_count, m.entries.len()),
            ));
        }
        for e in &m.entries {
            validate_entry_path(&e.path)
                .map_err(|e| Error::new(ErrorKind::Corrupt, e.message().to_string()))?;
        }
        if let Some(w) = m.entries.windows(2).find(|w| w[0].path >= w[1].path) {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("manifest entries are not sorted and unique at {:?}", w[1].path),
            ));
        }
        let sum = m.checksum()?;
        if sum != doc.checksum {
            return Err(Error::new(
                ErrorKind::Corrupt,
                "manifest checksum does not match its entries",
            ));
        }
        Ok(m)
    }

    /// Parses a canonical document from a string.
    pub fn from_json(s: &str) -> Result<Manifest> {
        Manifest::from_slice(s.as_bytes())
    }

    /// Parses a canonical document held in memory (faster than [`Manifest::read_from`]).
    pub fn from_slice(b: &[u8]) -> Result<Manifest> {
        let doc: ManifestDocument = serde_json::from_slice(b)
            .map_err(|e| Error::new(ErrorKind::Corrupt, format!("manifest is not valid: {e}")))?;
        Manifest::check(doc)
    }
}

/// The fields of a manifest besides its entries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManifestHead {
    /// Version of the document's schema.
    pub schema_version: u32,
    /// Snapshot name.
    pub name: String,
    /// Where the tree was scanned.
    pub root: String,
    /// RFC 3339 time of creation.
    pub created_at: String,
}

#[derive(Deserialize)]
struct Trailer {
    entry_count: u64,
    checksum: String,
}

/// Streams the entries of a canonical manifest written by [`Manifest::write_to`] (one entry per line) to `f`,
/// holding one entry at a time, and checks order, paths, count and checksum at the end. A document in any other
/// layout, or one that fails a check, is an error of kind `corrupt` (possibly after some entries were passed on:
/// the caller then discards what it built). [`Manifest::read_from`] reads any layout.
pub fn stream_entries<R: BufRead>(
    r: R,
    f: impl FnMut(Entry) -> Result<()>,
) -> Result<ManifestHead> {
    stream_entries_with(r, true, f)
}

/// An entry without its hashes, parsed faster when they are not needed (the checksum still covers them).
#[derive(Deserialize)]
struct EntryWithoutHashes {
    path: String,
    kind: EntryKind,
    size: u64,
    mtime_ns: i64,
    mode: u32,
    #[serde(default)]
    target: Option<String>,
}

fn parse_entry(line: &[u8], with_hashes: bool) -> serde_json::Result<Entry> {
    if with_hashes {
        return serde_json::from_slice(line);
    }
    let e: EntryWithoutHashes = serde_json::from_slice(line)?;
    Ok(Entry {
        path: e.path,
        kind: e.kind,
        size: e.size,
        mtime_ns: e.mtime_ns,
        mode: e.mode,
        target: e.target,
        hashes: Hashes::new(),
    })
}

/// [`stream_entries`], leaving the entries' hashes out unless `with_hashes` (a comparison by size and mtime does
/// not need them; parsing them is most of the work).
pub fn stream_entries_with<R: BufRead>(
    mut r: R,
    with_hashes: bool,
    mut f: impl FnMut(Entry) -> Result<()>,
) -> Result<ManifestHead> {
    let corrupt = |m: String| Error::new(ErrorKind::Corrupt, m);
    let io =
        |e: std::io::Error| Error::new(ErrorKind::from_io(&e), format!("reading manifest: {e}"));
    let mut line = Vec::with_capacity(512);
    r.read_until(b'\n', &mut line).map_err(io)?;
    let first = line.strip_suffix(b"\n").unwrap_or(&line);
    let Some(head_part) = first.strip_suffix(b",\"entries\":[") else {
        // An empty manifest is one line; anything else is not in the streaming layout.
        let m = Manifest::from_slice(first)?;
        let Manifest { schema_version, name, root, created_at, entries } = m;
        if !entries.is_empty() {
            return Err(corrupt("manifest is not one entry per line".into()));
        }
        return Ok(ManifestHead { schema_version, name, root, created_at });
    };
    let mut head_json = head_part.to_vec();
    head_json.push(b'}');
    let head: ManifestHead = serde_json::from_slice(&head_json)
        .map_err(|e| corrupt(format!("manifest header is not valid: {e}")))?;
    if head.schema_version == 0 || head.schema_version > SCHEMA_VERSION {
        return Err(corrupt(format!(
            "manifest schema_version {} is not supported",
            head.schema_version
        )));
    }
    // Lines are read in blocks of about 8 MiB and parsed on all cores; the checksum, the order check and `f` see
    // them one by one, in order. Memory stays bounded by the block, whatever the number of entries.
    const BLOCK: usize = 8 << 20;
    let mut h = Sha256::new();
    let mut count = 0u64;
    let mut prev = String::new();
    let mut block: Vec<u8> = Vec::with_capacity(BLOCK + 4096);
    let mut spans: Vec<(usize, usize)> = Vec::new();
    loop {
        block.clear();
        spans.clear();
        let mut trailer: Option<(usize, usize)> = None;
        while block.len() < BLOCK {
            let start = block.len();
            if r.read_until(b'\n', &mut block).map_err(io)? == 0 {
                return Err(corrupt("manifest ends before its trailer".into()));
            }
            let mut end = block.len();
            if block[end - 1] == b'\n' {
                end -= 1;
            }
            if end == start {
                return Err(corrupt("manifest has an empty line".into()));
            }
            if block[start] == b']' {
                trailer = Some((start, end));
                break;
            }
            if block[end - 1] == b',' {
                end -= 1;
            }
            spans.push((start, end));
        }
        // Small manifests are parsed here; large ones on all cores.
        let parse = |&(a, b): &(usize, usize)| parse_entry(&block[a..b], with_hashes);
        let parsed: Vec<std::result::Result<Entry, serde_json::Error>> = if spans.len() < 4096 {
            spans.iter().map(parse).collect()
        } else {
            use rayon::prelude::*;
            spans.par_iter().with_min_len(256).map(parse).collect()
        };
        for (&(a, b), e) in spans.iter().zip(parsed) {
            h.update(&block[a..b]);
            h.update(b"\n");
            let e = e.map_err(|e| corrupt(format!("manifest entry is not valid: {e}")))?;
            validate_entry_path(&e.path).map_err(|x| corrupt(x.message().to_string()))?;
            if count > 0 && prev >= e.path {
                return Err(corrupt(format!(
                    "manifest entries are not sorted and unique at {:?}",
                    e.path
                )));
            }
            prev.clear();
            prev.push_str(&e.path);
            count += 1;
            f(e)?;
        }
        if let Some((a, b)) = trailer {
            let rest = &block[a + 1..b];
            let mut t = b"{".to_vec();
            t.extend_from_slice(rest.strip_prefix(b",").unwrap_or(rest));
            let t: Trailer = serde_json::from_slice(&t)
                .map_err(|e| corrupt(format!("manifest trailer is not valid: {e}")))?;
            if t.entry_count != count {
                return Err(corrupt(format!(
                    "manifest says {} entries but holds {count}",
                    t.entry_count
                )));
            }
            if hex::encode(h.finalize()) != t.checksum {
                return Err(corrupt("manifest checksum does not match its entries".into()));
            }
            return Ok(head);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut m = Manifest::new("default", "/r");
        m.created_at = "2026-11-21T00:00:00.000000000Z".into();
        let mut a = Entry::file("a b/ü.png", 3, 1_700_000_000_123_456_789, 0o644);
        a.hashes.insert(SHA256, "ab".repeat(32));
        let l = Entry {
            path: "link".into(),
            kind: EntryKind::Symlink,
            size: 9,
            mtime_ns: -5,
            mode: 0o777,
            target: Some("a b/ü.png".into()),
            hashes: Hashes::new(),
        };
        m.entries = vec![a, l];
        m
    }

    #[test]
    fn streams_entries_with_the_same_checks() {
        let m = sample();
        let text = m.to_json().unwrap();
        let mut got = Vec::new();
        let head = stream_entries(text.as_bytes(), |e| {
            got.push(e);
            Ok(())
        })
        .unwrap();
        assert_eq!((head.name.as_str(), got), ("default", m.entries.clone()));
        let empty = Manifest { entries: vec![], ..m.clone() }.to_json().unwrap();
        assert_eq!(stream_entries(empty.as_bytes(), |_| Ok(())).unwrap().root, "/r");
        let bad = text.replace("\"size\":3", "\"size\":4");
        assert_eq!(
            stream_entries(bad.as_bytes(), |_| Ok(())).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
        let blank = text.replacen("\n", "\n\n", 1);
        assert_eq!(
            stream_entries(blank.as_bytes(), |_| Ok(())).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
        let short = text.replace("\"entry_count\":2", "\"entry_count\":3");
        assert_eq!(
            stream_entries(short.as_bytes(), |_| Ok(())).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        )
        .unwrap();
        assert_eq!(
            stream_entries(pretty.as_bytes(), |_| Ok(())).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
        assert_eq!(Manifest::from_json(&pretty).unwrap(), m, "the full reader takes any layout");
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let m = sample();
        let text = m.to_json().unwrap();
        let back = Manifest::from_json(&text).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_json().unwrap(), text);
        assert!(text.contains("\"entry_count\":2"));
        let empty = Manifest { entries: vec![], ..m };
        let t = empty.to_json().unwrap();
        assert_eq!(Manifest::from_json(&t).unwrap().to_json().unwrap(), t);
    }

    #[test]
    fn tampering_is_corrupt() {
        let text = sample().to_json().unwrap().replace("\"size\":3", "\"size\":4");
        assert_eq!(Manifest::from_json(&text).unwrap_err().kind(), ErrorKind::Corrupt);
        let text = sample().to_json().unwrap().replace("a b/ü.png\",\"kind", "../x\",\"kind");
        assert_eq!(Manifest::from_json(&text).unwrap_err().kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn entries_in_the_state_folder_are_corrupt_to_the_readers_and_refused_by_normalise() {
        for p in [".syncwright", ".syncwright/manifests/x.json", ".syncwright/runs/x.inflight"] {
            let mut m = sample();
            m.entries.insert(0, Entry::file(p, 1, 0, 0o644));
            m.entries.sort_by(|a, b| a.path.cmp(&b.path));
            // Written as a well-formed document (the writer does not check), with a matching checksum.
            let text = m.to_json().unwrap();
            let e = Manifest::from_json(&text).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{p}");
            assert!(e.message().contains(".syncwright"), "{}", e.message());
            let e = Manifest::read_from(text.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{p}");
            for with_hashes in [true, false] {
                let mut seen = Vec::new();
                let e = stream_entries_with(text.as_bytes(), with_hashes, |e| {
                    seen.push(e.path);
                    Ok(())
                })
                .unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Corrupt, "{p}");
                assert!(!seen.iter().any(|s| s == p), "{p} was passed on: {seen:?}");
            }
            let e = m.clone().normalise().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{p}");
            assert_eq!(validate_entry_path(p).unwrap_err().kind(), ErrorKind::InvalidInput);
        }
        for ok in [
            ".syncwrightx",
            ".syncwright-locks/a",
            "a/.syncwright",
            "a/.syncwright/manifests/x.json",
        ] {
            validate_entry_path(ok).unwrap();
        }
    }

    #[test]
    fn paths_are_validated() {
        for bad in ["", "/a", "a//b", "a/../b", "./a", "a/.", "a\0b"] {
            assert_eq!(
                validate_rel_path(bad).unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
        for good in ["a", "a/b", "-x", ".hidden/..x", "a b/ü"] {
            validate_rel_path(good).unwrap();
        }
    }
}
