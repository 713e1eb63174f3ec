//! Names: the archives' file names (`20251215T080530Z-label-1.zip`), labels, configured paths and the entry names
//! inside an archive (the checks that run before a restore writes anything).

use crate::error::{Error, Result};

/// The longest label.
pub const MAX_LABEL: usize = 64;

fn label_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-')
}

/// Checks a label: 1 to 64 of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn check_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.len() <= MAX_LABEL
        && label.bytes().all(label_char)
        && label != "."
        && label != "..";
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{label:?} is not a backup label (1 to {MAX_LABEL} of A-Z, a-z, 0-9, '.', '_' and '-'; not '.' or '..')"
        )))
    }
}

/// An archive's file name taken apart: the timestamp (`%Y%m%dT%H%M%SZ`) and the number of a `-N` suffix (0 when
/// there is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveName {
    /// The 16 characters of the timestamp.
    pub stamp: String,
    /// The trailing `-N` (a label that ends in `-digits` reads as one too: the order is the same).
    pub suffix: u64,
}

/// Parses a file name against `^\d{8}T\d{6}Z(-[A-Za-z0-9._-]{1,64})?(-\d+)?\.zip$`.
pub fn parse_archive_name(name: &str) -> Option<ArchiveName> {
    let b = name.as_bytes();
    let stem = name.strip_suffix(".zip")?;
    if b.len() < 20 {
        return None;
    }
    let stamp_ok = b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z';
    if !stamp_ok {
        return None;
    }
    let tail = &stem[16..];
    let mut suffix = 0;
    if !tail.is_empty() {
        let t = tail.strip_prefix('-')?;
        if t.is_empty() || !t.bytes().all(label_char) {
            return None;
        }
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        // label alone, suffix alone, or label + '-' + suffix.
        let label_only = t.len() <= MAX_LABEL;
        let split = t
            .rmatch_indices('-')
            .map(|(i, _)| (&t[..i], &t[i + 1..]))
            .find(|(l, d)| digits(d) && !l.is_empty() && l.len() <= MAX_LABEL);
        if !(label_only || digits(t) || split.is_some()) {
            return None;
        }
        let last = t.rsplit('-').next().unwrap_or("");
        if digits(last) && (digits(t) || t.len() > last.len()) {
            suffix = last.parse().unwrap_or(u64::MAX);
        }
    }
    Some(ArchiveName { stamp: name[..16].to_string(), suffix })
}

/// Checks a configured path (relative to the root) and returns it with `/` separators, no `.` components and no
/// trailing `/`.
pub fn normalise_path(p: &str) -> Result<String> {
    let bad = |why: &str| Err(Error::invalid(format!("backup path {p:?}: {why}")));
    if p.is_empty() {
        return bad("empty");
    }
    if p.starts_with('/') || p.contains('\\') || p.contains('\0') || has_drive(p) {
        return bad("must be relative to the root ('/' separators, no drive)");
    }
    let mut parts = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => return bad("'..' is not allowed"),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return bad("names no folder below the root");
    }
    if parts[0] == META_DIR {
        return bad("__meta__ is the archive's own folder");
    }
    Ok(parts.join("/"))
}

/// Checks and normalises configured paths, folding nested paths into their parents (`data/scenes` into `data`)
/// and dropping repeats; the order of first mention is kept.
pub fn fold_paths(paths: &[String]) -> Result<Vec<String>> {
    let mut norm = Vec::with_capacity(paths.len());
    for p in paths {
        norm.push(normalise_path(p)?);
    }
    let inside =
        |a: &str, b: &str| a == b || (a.starts_with(b) && a.as_bytes().get(b.len()) == Some(&b'/'));
    let mut out: Vec<String> = Vec::new();
    for (i, p) in norm.iter().enumerate() {
        let covered =
            norm.iter().enumerate().any(|(j, q)| j != i && inside(p, q) && (p != q || j < i));
        if !covered {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The folder of the archive's own entries.
pub const META_DIR: &str = "__meta__";

fn has_drive(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Why an entry name is refused, or None for a name a restore may write.
pub fn entry_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.contains('\0') {
        return Some("a NUL byte in the name");
    }
    if name.contains('\\') {
        return Some("a backslash in the name");
    }
    if name.starts_with('/') {
        return Some("an absolute path");
    }
    if has_drive(name) || name.split('/').any(|c| c.len() == 2 && has_drive(c)) {
        return Some("a drive letter");
    }
    for c in name.split('/') {
        match c {
            "" => return Some("an empty path component"),
            ".." => return Some("a '..' component"),
            "." => return Some("a '.' component"),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names() {
        let n = |s: &str| parse_archive_name(s).map(|a| a.suffix);
        assert_eq!(n("20251215T080530Z.zip"), Some(0));
        assert_eq!(n("20251215T080530Z-pre-cloud-sync.zip"), Some(0));
        assert_eq!(n("20251215T080530Z-pre-cloud-sync-2.zip"), Some(2));
        assert_eq!(n("20251215T080530Z-3.zip"), Some(3));
        assert_eq!(n(&format!("20251215T080530Z-{}.zip", "a".repeat(64))), Some(0));
        assert_eq!(n(&format!("20251215T080530Z-{}-7.zip", "a".repeat(64))), Some(7));
        assert_eq!(n(&format!("20251215T080530Z-{}.zip", "a".repeat(65))), None);
        assert_eq!(n("20251215T080530Z-.zip"), None);
        assert_eq!(n("20251215T080530Z-a b.zip"), None);
        assert_eq!(n("20251215T080530Zx.zip"), None);
        assert_eq!(n("2025121T080530Z.zip"), None);
        assert_eq!(n("photos.zip"), None);
        assert_eq!(n(".20251215T080530Z.partial-abc"), None);
        assert_eq!(n("20251215T080530Z.zip.partial"), None);
        assert_eq!(n("20251215T080530Z.ZIP"), None);
    }

    #[test]
    fn labels() {
        assert!(check_label("pre-cloud-sync_1.0").is_ok());
        for bad in ["", ".", "..", "../x", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(check_label(bad).is_err(), "{bad:?}");
        }
        assert!(check_label(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn paths_fold_into_parents() {
        let v = |a: &[&str]| fold_paths(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            v(&["data", "data/scenes", "assets", "config"]).unwrap(),
            ["data", "assets", "config"]
        );
        assert_eq!(v(&["data/scenes", "./data/", "data"]).unwrap(), ["data"]);
        assert_eq!(v(&["datas", "data"]).unwrap(), ["datas", "data"]);
        for bad in ["/etc", "../x", "a/../b", "C:x", "a\\b", "", ".", "__meta__/x"] {
            assert!(v(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn entry_names() {
        assert_eq!(entry_name_problem("data/a.txt"), None);
        assert_eq!(entry_name_problem("data/c:d"), None);
        assert_eq!(entry_name_problem("../evil"), Some("a '..' component"));
        assert_eq!(entry_name_problem("/tmp/x"), Some("an absolute path"));
        assert_eq!(entry_name_problem("C:\\x"), Some("a backslash in the name"));
        assert_eq!(entry_name_problem("C:/x"), Some("a drive letter"));
        assert_eq!(entry_name_problem("a//b"), Some("an empty path component"));
        assert_eq!(entry_name_problem("a/"), Some("an empty path component"));
        assert_eq!(entry_name_problem("a\0b"), Some("a NUL byte in the name"));
    }
}
