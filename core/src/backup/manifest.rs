//! The manifest every archive carries as its last entry, `__meta__/cloud_sync/manifest.json`.

use serde::{Deserialize, Serialize};

use super::zip::{ZipEntry, ZipReader};
use crate::error::{Error, ErrorKind, Result};

/// Where the manifest is inside an archive.
pub const MANIFEST_PATH: &str = "__meta__/cloud_sync/manifest.json";
/// The manifest's `format`.
pub const FORMAT: &str = "syncwright-backup";
/// The manifest's `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;
/// The largest manifest read (about 2.5 million entries).
const MAX_MANIFEST: u64 = 512 << 20;

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// [`FORMAT`].
    pub format: String,
    /// When the backup was made (RFC 3339, UTC).
    pub created_at: String,
    /// The label, if any.
    pub label: Option<String>,
    /// The absolute root the entries are relative to.
    pub root: String,
    /// The configured paths (folded).
    pub paths: Vec<String>,
    /// Every file, in archive order.
    pub entries: Vec<ManifestEntry>,
    /// `entries.len()`.
    pub entry_count: u64,
    /// The sum of the entries' sizes.
    pub total_bytes: u64,
}

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The entry name: relative to the root, `/` separators.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Permission bits (`0o644` is 420).
    pub mode: u32,
    /// Modification time, RFC 3339 in UTC with nanoseconds (`2025-12-15T08:05:30.123456789Z`).
    pub mtime: String,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
}

/// What `list` and rotation read of a manifest (the entries are parsed past, not kept).
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestHead {
    /// See [`Manifest::schema_version`].
    pub schema_version: u32,
    /// See [`Manifest::format`].
    pub format: String,
    /// See [`Manifest::created_at`].
    pub created_at: String,
    /// See [`Manifest::label`].
    #[serde(default)]
    pub label: Option<String>,
    /// See [`Manifest::entry_count`].
    pub entry_count: u64,
    #[serde(default)]
    #[allow(dead_code)]
    entries: serde::de::IgnoredAny,
}

/// The manifest's entry in `r`, if there is exactly one.
pub fn find(r: &ZipReader) -> Result<&ZipEntry> {
    let mut it = r.entries.iter().filter(|e| e.name == MANIFEST_PATH);
    match (it.next(), it.next()) {
        (Some(e), None) => Ok(e),
        (None, _) => {
            Err(Error::new(ErrorKind::Corrupt, format!("no {MANIFEST_PATH} in the archive")))
        }
        (Some(_), Some(_)) => {
            Err(Error::new(ErrorKind::Corrupt, format!("{MANIFEST_PATH} is in the archive twice")))
        }
    }
}

/// Reads the bytes of the manifest entry `e` of `r`.
pub fn read_bytes(r: &ZipReader, e: &ZipEntry) -> Result<Vec<u8>> {
    if e.size > MAX_MANIFEST {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!("{MANIFEST_PATH} is too large ({} bytes)", e.size),
        ));
    }
    let mut out = Vec::with_capacity(e.size.min(64 << 20) as usize);
    let mut buf = Vec::with_capacity(1 << 20);
    r.stream(e, e.size, &mut buf, &mut |b| {
        out.extend_from_slice(b);
        Ok(())
    })?;
    Ok(out)
}

fn check_format(format: &str, version: u32) -> Result<()> {
    if format != FORMAT {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!("the manifest's format is {format:?}, not {FORMAT}"),
        ));
    }
    if version != SCHEMA_VERSION {
        return Err(Error::invalid(format!(
            "the manifest's schema_version is {version}: this syncwright reads {SCHEMA_VERSION}"
        )));
    }
    Ok(())
}

/// Reads and parses the whole manifest of `r`.
pub fn read(r: &ZipReader) -> Result<Manifest> {
    let e = find(r)?;
    let bytes = read_bytes(r, e)?;
    // The format first, leniently: another format or version is told apart from damage.
    let head: ManifestHead = serde_json::from_slice(&bytes).map_err(|err| {
        Error::new(ErrorKind::Corrupt, format!("{MANIFEST_PATH} does not parse: {err}"))
    })?;
    check_format(&head.format, head.schema_version)?;
    serde_json::from_slice(&bytes).map_err(|err| {
        Error::new(ErrorKind::Corrupt, format!("{MANIFEST_PATH} does not parse: {err}"))
    })
}

/// Reads the head of the manifest of `r` (format checked).
pub fn read_head(r: &ZipReader) -> Result<ManifestHead> {
    let e = find(r)?;
    let bytes = read_bytes(r, e)?;
    let head: ManifestHead = serde_json::from_slice(&bytes).map_err(|err| {
        Error::new(ErrorKind::Corrupt, format!("{MANIFEST_PATH} does not parse: {err}"))
    })?;
    check_format(&head.format, head.schema_version)?;
    Ok(head)
}
