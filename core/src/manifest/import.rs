//! Import of the manifests of the systems syncwright replaces (documents 2 and 3; samples in
//! `shared/docs/samples`). Both become canonical [`Manifest`]s; nothing is guessed silently:
//!
//! - **media-sync** (document 2): an object keyed by absolute remote path, `{path, size, mtime (float seconds),
//!   checksum (usually null), last_sync}`. Paths are made relative to `root` (given, or the longest common
//!   directory of all paths); float seconds are kept to the microsecond (a double holds no more); a path outside `root` is an error. A 64-hex checksum becomes `sha256`, a 32-hex one
//!   `md5`; `last_sync` has no place in a manifest and is dropped.
//! - **cloud-sync** (document 3): `{name, root, created_at, entries: {rel: {path, size, mtime, sha256}}}`, or the
//!   cached wrapper `{service, name, checksum, manifest: {...}}`. The old checksum cannot be recomputed exactly
//!   (its serialisation was never specified), so it is not trusted; the canonical checksum replaces it.
//!
//! A document that is not JSON, has fields of the wrong type, an mtime no `i64` of nanoseconds holds, or a path
//! that escapes its root or lies in syncwright's own `.syncwright/` folder is `invalid_input`: the input is bad,
//! nothing of syncwright's is damaged.

use super::{Entry, Manifest, SHA256, validate_entry_path};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Which older format a document is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyFormat {
    /// Document 2's media-sync manifest.
    MediaSync,
    /// Document 3's cloud-sync manifest (bare or cached wrapper).
    CloudSync,
}

/// Float seconds as nanoseconds, kept to the microsecond; `invalid_input` when not a number or outside what an
/// `i64` of nanoseconds holds (about the years 1678 to 2262).
fn secs_to_ns(secs: f64) -> Result<i64> {
    let out_of_range = || bad(format!("mtime {secs} is not a time syncwright can hold"));
    if !secs.is_finite() {
        return Err(bad(format!("mtime {secs} is not a number")));
    }
    // A double holds a 2026 time to about 0.2 µs: keep whole microseconds, not noise.
    let whole = secs.floor();
    // Within ±2^53 an f64 converts to i64 exactly; beyond it the nanoseconds overflow anyway.
    if whole.abs() > 9_007_199_254_740_992.0 {
        return Err(out_of_range());
    }
    let micros = ((secs - whole) * 1e6).round() as i64;
    (whole as i64)
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(micros * 1_000))
        .ok_or_else(out_of_range)
}

/// A malformed document: `invalid_input` (the user handed it over; nothing of syncwright's is damaged).
fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg)
}

/// Detects which format `json` is in.
pub fn detect(json: &serde_json::Value) -> Option<LegacyFormat> {
    let obj = json.as_object()?;
    if obj.contains_key("manifest") || obj.contains_key("entries") {
        return Some(LegacyFormat::CloudSync);
    }
    if obj.values().all(|v| v.get("path").is_some() && v.get("size").is_some()) {
        return Some(LegacyFormat::MediaSync);
    }
    None
}

#[derive(Deserialize)]
struct MediaEntry {
    path: Option<String>,
    size: u64,
    mtime: f64,
    #[serde(default)]
    checksum: Option<String>,
}

/// Imports document 2's manifest. `root` is the remote directory the paths are under (None: their common
/// directory). `name` names the snapshot.
pub fn import_media_sync(json: &str, root: Option<&str>, name: &str) -> Result<Manifest> {
    let doc: BTreeMap<String, MediaEntry> =
        serde_json::from_str(json).map_err(|e| bad(format!("not a media-sync manifest: {e}")))?;
    let root = match root {
        Some(r) => r.trim_end_matches('/').to_string(),
        None => common_dir(doc.keys().map(String::as_str)),
    };
    let mut m = Manifest::new(name, if root.is_empty() { "/".to_string() } else { root.clone() });
    for (key, e) in doc {
        let abs = e.path.unwrap_or(key);
        let rel = abs.strip_prefix(&root).and_then(|r| r.strip_prefix('/')).ok_or_else(|| {
            Error::invalid(format!("{abs:?} is not under {root:?}")).with_path(&abs)
        })?;
        validate_entry_path(rel)?;
        let mut entry = Entry::file(rel, e.size, secs_to_ns(e.mtime)?, 0o644);
        if let Some(c) = e.checksum.filter(|c| !c.is_empty()) {
            let c = c.to_ascii_lowercase();
            let algo = match c.len() {
                64 => SHA256,
                32 => "md5",
                _ => "legacy",
            };
            entry.hashes.insert(algo, c);
        }
        m.entries.push(entry);
    }
    m.normalise()?;
    Ok(m)
}

fn common_dir<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    let mut common: Option<Vec<&str>> = None;
    for p in paths {
        let mut parts: Vec<&str> = p.split('/').collect();
        parts.pop(); // the file name
        common = Some(match common {
            None => parts,
            Some(c) => {
                c.iter().zip(parts.iter()).take_while(|(a, b)| a == b).map(|(a, _)| *a).collect()
            }
        });
    }
    common.map(|c| c.join("/")).unwrap_or_default()
}

#[derive(Deserialize)]
struct CloudEntry {
    path: Option<String>,
    size: u64,
    mtime: f64,
    #[serde(default)]
    sha256: Option<String>,
}

#[derive(Deserialize)]
struct CloudManifest {
    name: String,
    root: String,
    created_at: String,
    entries: BTreeMap<String, CloudEntry>,
}

/// Imports document 3's manifest, bare or in its cached wrapper.
pub fn import_cloud_sync(json: &str) -> Result<Manifest> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let inner = v.get("manifest").cloned().unwrap_or(v);
    let doc: CloudManifest = serde_json::from_value(inner)
        .map_err(|e| bad(format!("not a cloud-sync manifest: {e}")))?;
    let mut m = Manifest::new(doc.name, doc.root);
    m.created_at = normalise_time(&doc.created_at);
    for (key, e) in doc.entries {
        let path = e.path.unwrap_or(key);
        validate_entry_path(&path)?;
        let mut entry = Entry::file(path, e.size, secs_to_ns(e.mtime)?, 0o644);
        if let Some(h) = e.sha256.filter(|h| !h.is_empty()) {
            entry.hashes.insert(SHA256, h.to_ascii_lowercase());
        }
        m.entries.push(entry);
    }
    m.normalise()?;
    Ok(m)
}

fn normalise_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_else(|_| t.to_string())
}

/// Imports either format, detected from its shape. `root` and `name` apply to media-sync documents.
pub fn import_any(json: &str, root: Option<&str>, name: &str) -> Result<Manifest> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
    match detect(&v) {
        Some(LegacyFormat::CloudSync) => import_cloud_sync(json),
        Some(LegacyFormat::MediaSync) => import_media_sync(json, root, name),
        None => Err(Error::invalid("neither a media-sync nor a cloud-sync manifest")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const MEDIA: &str = include_str!("../../tests/data/media-sync-manifest.json");
    const CLOUD: &str = include_str!("../../tests/data/cloud-sync-manifest.json");

    #[test]
    fn imports_the_media_sync_sample() {
        let m = import_any(MEDIA, None, "forge").unwrap();
        assert_eq!(m.root, "/workspace/stable-diffusion-webui/outputs/txt2img-images/2025-10-21");
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries[0].path, "00001-1234567890.png");
        assert_eq!(m.entries[0].size, 1482113);
        assert_eq!(m.entries[0].mtime_ns, 1_761_048_000_512_346_000);
        assert!(m.entries[0].hashes.is_empty());
        let m = import_media_sync(MEDIA, Some("/workspace/stable-diffusion-webui/outputs/"), "f")
            .unwrap();
        assert_eq!(m.entries[1].path, "txt2img-images/2025-10-21/00002-1234567891.png");
        let e = import_media_sync(MEDIA, Some("/elsewhere"), "f").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        // The canonical form round-trips.
        let text = m.to_json().unwrap();
        assert_eq!(Manifest::from_json(&text).unwrap(), m);
    }

    #[test]
    fn imports_the_cloud_sync_sample_bare_and_wrapped() {
        let m = import_any(CLOUD, None, "x").unwrap();
        assert_eq!(m.name, "nightly");
        assert_eq!(m.root, "/abs/workspace");
        assert_eq!(m.created_at, "2025-12-15T08:05:30.000000000Z");
        assert_eq!(m.entries[0].path, "assets/bg/forest.png");
        assert_eq!(m.entries[0].mtime_ns, 1_765_785_930_250_000_000);
        assert_eq!(m.entries[1].sha256().unwrap().len(), 64);
        let v: serde_json::Value = serde_json::from_str(CLOUD).unwrap();
        let bare = serde_json::to_string(&v["manifest"]).unwrap();
        assert_eq!(import_any(&bare, None, "x").unwrap().entries, m.entries);
    }

    #[test]
    fn escaping_paths_are_refused() {
        let doc = r#"{"entries": {"../x": {"size": 1, "mtime": 1.0}}, "name": "n", "root": "/", "created_at": "t"}"#;
        assert_eq!(import_cloud_sync(doc).unwrap_err().kind(), ErrorKind::InvalidInput);
    }

    fn cloud(path: &str, mtime: &str) -> String {
        format!(
            r#"{{"name": "n", "root": "/r", "created_at": "t", "entries": {{"{path}": {{"size": 1, "mtime": {mtime}}}}}}}"#
        )
    }

    fn media(path: &str, mtime: &str) -> String {
        format!(
            r#"{{"{path}": {{"path": "{path}", "size": 1, "mtime": {mtime}, "checksum": null}}}}"#
        )
    }

    #[test]
    fn out_of_range_mtimes_are_invalid_input() {
        for mtime in
            ["1e19", "-1e19", "1e300", "9223372037", "-9223372037", "1.7976931348623157e308"]
        {
            for (what, r) in [
                ("cloud", import_any(&cloud("a", mtime), None, "x")),
                ("media", import_any(&media("/m/a", mtime), None, "x")),
                ("media with root", import_media_sync(&media("/m/a", mtime), Some("/m"), "x")),
            ] {
                let e = r.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what} {mtime}: {}", e.message());
                assert!(e.message().contains("mtime"), "{what} {mtime}: {}", e.message());
            }
        }
        // The edges of the i64 range still import, to the microsecond.
        let m = import_any(&cloud("a", "9223372036.5"), None, "x").unwrap();
        assert_eq!(m.entries[0].mtime_ns, 9_223_372_036_500_000_000);
        let m = import_any(&cloud("a", "-1.25"), None, "x").unwrap();
        assert_eq!(m.entries[0].mtime_ns, -1_250_000_000);
    }

    #[test]
    fn malformed_documents_are_invalid_input() {
        for doc in [
            "",
            "{",
            "[1, 2]",
            "null",
            r#"{"entries": 5, "name": "n", "root": "/", "created_at": "t"}"#,
            r#"{"manifest": {"name": 1}}"#,
            &cloud("a", "\"yesterday\""),
            &media("/m/a", "\"yesterday\""),
            r#"{"/m/a": {"path": "/m/a", "size": -1, "mtime": 1.0}}"#,
            r#"{"/m/a": {"path": 7, "size": 1, "mtime": 1.0}}"#,
        ] {
            for r in [
                import_any(doc, None, "x"),
                import_any(doc, Some("/m"), "x"),
                import_cloud_sync(doc),
                import_media_sync(doc, None, "x"),
            ] {
                assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput, "{doc}");
            }
        }
    }

    #[test]
    fn entries_in_the_state_folder_are_refused() {
        for p in [".syncwright", ".syncwright/manifests/x.json", ".syncwright/runs/a.inflight"] {
            let e = import_cloud_sync(&cloud(p, "1.0")).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{p}");
            assert!(e.message().contains(".syncwright"), "{}", e.message());
            let abs = format!("/m/{p}");
            let e = import_media_sync(&media(&abs, "1.0"), Some("/m"), "x").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{p}");
        }
        // Names that only start the same way are content.
        for p in [".syncwrightx", "a/.syncwright/manifests/x.json", ".syncwright-locks/x"] {
            import_cloud_sync(&cloud(p, "1.0")).unwrap();
        }
    }
}
