//! Storage usage: bytes by model category (the folders under a models root: checkpoints, loras, vae, ...), by
//! profile, and by top-level folder of a tree, with the disk's total, used and free space. Sizes come from the
//! manifests syncwright keeps at destinations where one is there and clean, else from a scan (no hashing).

use crate::config::Config;
use crate::error::{Error, Result};
use crate::manifest::filter::Filter;
use crate::manifest::scan::{ScanOptions, scan_local};
use crate::manifest::{EntryKind, Manifest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A size with its human-readable form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeEntry {
    /// Bytes.
    pub size: u64,
    /// For example `117.74 MB` (binary units).
    pub human_readable: String,
}

impl SizeEntry {
    /// `size` bytes.
    pub fn new(size: u64) -> SizeEntry {
        SizeEntry { size, human_readable: human_size(size) }
    }
}

/// Space on the file system that holds a tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// Bytes in all.
    pub total: u64,
    /// Bytes in use.
    pub used: u64,
    /// Bytes free for unprivileged users.
    pub free: u64,
    /// `used` as a percentage of `used + free`.
    pub percent: f64,
    /// `total`, human-readable.
    pub total_human_readable: String,
    /// `used`, human-readable.
    pub used_human_readable: String,
    /// `free`, human-readable.
    pub free_human_readable: String,
}

/// What [`storage_usage`] measures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageQuery {
    /// A models folder whose subfolders are the categories.
    pub models_root: Option<PathBuf>,
    /// A tree whose top-level folders are counted.
    pub root: Option<PathBuf>,
}

/// Storage usage, in the shape of document 4's `/api/storage/usage` (plus `by_folder`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageUsage {
    /// Bytes under the models root (else the root, else all profiles).
    pub total_size: u64,
    /// `total_size`, human-readable.
    pub total_human_readable: String,
    /// By category folder under the models root (`other` for files directly in it).
    pub by_type: BTreeMap<String, SizeEntry>,
    /// By profile (the destination's size).
    pub by_project: BTreeMap<String, SizeEntry>,
    /// By top-level folder of the root.
    pub by_folder: BTreeMap<String, SizeEntry>,
    /// The file system of the models root (else the root).
    pub disk: Option<DiskUsage>,
}

/// `117.74 MB`: binary units, two decimals (bytes plain).
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.2} {}", UNITS[u]) }
}

/// The file sizes of a local tree by relative path: from a clean syncwright manifest at its root when there is
/// one (`prefer` names the snapshot to look for first), else from a scan.
pub fn tree_sizes(root: &Path, prefer: Option<&str>) -> Result<Vec<(String, u64)>> {
    let state = root.join(crate::manifest::filter::STATE_DIR);
    let mut names: Vec<String> = Vec::new();
    if let Some(p) = prefer {
        names.push(p.to_string());
    }
    if let Ok(rd) = std::fs::read_dir(state.join("manifests")) {
        let mut found: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
            .collect();
        found.sort();
        names.extend(found);
    }
    for name in names {
        let clean = !state.join("runs").join(format!("{name}.inflight")).exists();
        let path = state.join("manifests").join(format!("{name}.json"));
        if clean
            && let Ok(bytes) = std::fs::read(&path)
            && let Ok(m) = Manifest::from_slice(&bytes)
        {
            return Ok(files(&m));
        }
    }
    let opts = ScanOptions { filter: Filter::default(), ..Default::default() };
    Ok(files(&scan_local(root, &opts)?.manifest))
}

fn files(m: &Manifest) -> Vec<(String, u64)> {
    m.entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| (e.path.clone(), e.size))
        .collect()
}

fn by_top(entries: &[(String, u64)], loose: &str) -> BTreeMap<String, SizeEntry> {
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    for (p, s) in entries {
        let key = match p.split_once('/') {
            Some((top, _)) => top.to_string(),
            None => loose.to_string(),
        };
        *sums.entry(key).or_default() += s;
    }
    sums.into_iter().map(|(k, v)| (k, SizeEntry::new(v))).collect()
}

/// Space on the file system holding `path`.
pub fn disk_usage(path: &Path) -> Result<DiskUsage> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::invalid("path contains NUL"))?;
    // SAFETY: `st` is written by statvfs before it is read; `c` is a valid NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(Error::io(
            &std::io::Error::last_os_error(),
            "cannot read disk space of",
            path.display().to_string(),
        ));
    }
    let frag = st.f_frsize as u64;
    let total = st.f_blocks as u64 * frag;
    let free = st.f_bavail as u64 * frag;
    let used = total.saturating_sub(st.f_bfree as u64 * frag);
    let percent = if used + free > 0 {
        (used as f64 * 10000.0 / (used + free) as f64).round() / 100.0
    } else {
        0.0
    };
    Ok(DiskUsage {
        total,
        used,
        free,
        percent,
        total_human_readable: human_size(total),
        used_human_readable: human_size(used),
        free_human_readable: human_size(free),
    })
}

/// Measures storage usage (see the module docs). Profiles whose destination is not a local folder are counted
/// by their source when that is local, and left out otherwise.
pub fn storage_usage(q: &UsageQuery, config: Option<&Config>) -> Result<StorageUsage> {
    let mut by_type = BTreeMap::new();
    let mut by_folder = BTreeMap::new();
    let mut by_project = BTreeMap::new();
    let mut total = None;
    if let Some(m) = &q.models_root {
        let e = tree_sizes(m, None)?;
        total = Some(e.iter().map(|(_, s)| s).sum::<u64>());
        by_type = by_top(&e, "other");
    }
    if let Some(r) = &q.root {
        let e = tree_sizes(r, None)?;
        total = total.or(Some(e.iter().map(|(_, s)| s).sum::<u64>()));
        by_folder = by_top(&e, ".");
    }
    if let Some(c) = config {
        for (name, p) in &c.profiles {
            let local = |l: &Option<String>| {
                l.as_deref()
                    .filter(|l| !l.contains("://") || l.starts_with("file://"))
                    .map(|l| PathBuf::from(l.strip_prefix("file://").unwrap_or(l)))
            };
            let tree = local(&p.destination)
                .filter(|d| d.is_dir())
                .or_else(|| local(&p.source).filter(|s| s.is_dir()));
            if let Some(t) = tree {
                let size = tree_sizes(&t, Some(name))?.iter().map(|(_, s)| s).sum();
                by_project.insert(name.clone(), SizeEntry::new(size));
            }
        }
    }
    let total = total.unwrap_or_else(|| by_project.values().map(|s: &SizeEntry| s.size).sum());
    let disk_path = q.models_root.as_deref().or(q.root.as_deref());
    Ok(StorageUsage {
        total_size: total,
        total_human_readable: human_size(total),
        by_type,
        by_project,
        by_folder,
        disk: disk_path.map(disk_usage).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_match_document_4() {
        assert_eq!(human_size(123456789), "117.74 MB");
        assert_eq!(human_size(1000000000000), "931.32 GB");
        assert_eq!(human_size(512), "512 B");
    }

    #[test]
    fn categories_folders_and_disk() {
        let d = tempfile::tempdir().unwrap();
        let models = d.path().join("models");
        for (p, n) in [
            ("checkpoints/a.safetensors", 3000),
            ("checkpoints/b.ckpt", 1000),
            ("loras/x/l.safetensors", 500),
            ("readme.txt", 7),
        ] {
            let f = models.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, vec![0u8; n]).unwrap();
        }
        let u = storage_usage(
            &UsageQuery { models_root: Some(models.clone()), root: Some(d.path().to_path_buf()) },
            None,
        )
        .unwrap();
        assert_eq!(u.total_size, 4507);
        assert_eq!(u.by_type["checkpoints"].size, 4000);
        assert_eq!(u.by_type["loras"].size, 500);
        assert_eq!(u.by_type["other"].size, 7);
        assert_eq!(u.by_folder["models"].size, 4507);
        let disk = u.disk.unwrap();
        assert!(disk.total > 0 && disk.total >= disk.free);
        // A clean manifest at the root is used instead of a walk: it says what syncwright wrote.
        let mut m = Manifest::new("default", "x");
        m.entries = vec![crate::manifest::Entry::file("vae/v.pt", 42, 0, 0o644)];
        std::fs::create_dir_all(models.join(".syncwright/manifests")).unwrap();
        std::fs::write(models.join(".syncwright/manifests/default.json"), m.to_json().unwrap())
            .unwrap();
        let u = storage_usage(&UsageQuery { models_root: Some(models), root: None }, None).unwrap();
        assert_eq!(u.by_type.keys().collect::<Vec<_>>(), ["vae"]);
        assert_eq!(u.total_size, 42);
    }
}
