//! Include and exclude globs, and the names syncwright keeps for itself.
//!
//! A pattern without `/` matches a name at any depth (`*.tmp`, `cache`); a pattern with `/` matches the whole
//! relative path from the root (`models/*.ckpt`, `logs/**`); `**` crosses directories; a trailing `/` matches
//! directories only. An excluded directory is not entered. When include patterns are given, a file must match one
//! of them (directories are always entered so that included files below them are found).

use crate::error::{Error, Result};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The folder at a root that holds syncwright's manifests and run markers.
pub const STATE_DIR: &str = ".syncwright";

/// The marker inside a temporary file's name.
pub const TEMP_MARKER: &str = ".swtmp-";

/// A compiled set of include and exclude patterns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include_name: Option<GlobSet>,
    include_path: Option<GlobSet>,
    exclude_name: Option<GlobSet>,
    exclude_path: Option<GlobSet>,
    exclude_dir_name: Option<GlobSet>,
    exclude_dir_path: Option<GlobSet>,
    has_include: bool,
}

fn build(patterns: &[&str]) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = GlobBuilder::new(p)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| Error::invalid(format!("bad pattern {p:?}: {e}")))?;
        b.add(g);
    }
    Ok(Some(b.build().map_err(|e| Error::invalid(format!("bad patterns: {e}")))?))
}

/// Splits patterns into (name patterns, path patterns) for files and directories.
fn split(patterns: &[String]) -> (Vec<&str>, Vec<&str>, Vec<&str>, Vec<&str>) {
    let (mut name, mut path, mut dir_name, mut dir_path) = (vec![], vec![], vec![], vec![]);
    for p in patterns {
        let (p, dir_only) = match p.strip_suffix('/') {
            Some(s) => (s, true),
            None => (p.as_str(), false),
        };
        // A leading `/` anchors the pattern at the root, as any `/` inside it does.
        let anchored = p.contains('/');
        let p = p.strip_prefix('/').unwrap_or(p);
        match (anchored, dir_only) {
            (false, false) => {
                name.push(p);
                dir_name.push(p);
            }
            (true, false) => {
                path.push(p);
                dir_path.push(p);
            }
            (false, true) => dir_name.push(p),
            (true, true) => dir_path.push(p),
        }
    }
    (name, path, dir_name, dir_path)
}

impl Filter {
    /// Compiles include and exclude patterns; a bad pattern is an `invalid_input` error.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter> {
        let (in_name, in_path, _, _) = split(include);
        let (ex_name, ex_path, ex_dir_name, ex_dir_path) = split(exclude);
        Ok(Filter {
            include_name: build(&in_name)?,
            include_path: build(&in_path)?,
            exclude_name: build(&ex_name)?,
            exclude_path: build(&ex_path)?,
            exclude_dir_name: build(&ex_dir_name)?,
            exclude_dir_path: build(&ex_dir_path)?,
            has_include: !include.is_empty(),
        })
    }

    fn any(set: &Option<GlobSet>, s: &str) -> bool {
        set.as_ref().is_some_and(|g| g.is_match(s))
    }

    /// Whether the directory at `path` (relative) is entered.
    pub fn enter_dir(&self, path: &str) -> bool {
        if is_own_path(path) {
            return false;
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        !(Self::any(&self.exclude_dir_name, name) || Self::any(&self.exclude_dir_path, path))
    }

    /// Whether a walk leaves out the entry at `path` (of kind `dir` or not): one of its folders is not entered,
    /// or it is not kept. Destination entries the filters exclude are protected from mirror deletes.
    pub fn excludes(&self, path: &str, dir: bool) -> bool {
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !self.enter_dir(parent) {
                return true;
            }
            p = parent;
        }
        (dir && !self.enter_dir(path)) || !self.keep(path)
    }

    /// Whether the file, symlink or empty directory at `path` is part of the tree.
    pub fn keep(&self, path: &str) -> bool {
        if is_own_path(path) {
            return false;
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        if Self::any(&self.exclude_name, name) || Self::any(&self.exclude_path, path) {
            return false;
        }
        if self.has_include {
            return Self::any(&self.include_name, name) || Self::any(&self.include_path, path);
        }
        true
    }
}

/// True for syncwright's own state folder at the root and what is below it. (Temporaries are not told by name
/// alone: a name of their form is a user's file unless a run marker lists it.)
pub fn is_own_path(path: &str) -> bool {
    is_state_path(path)
}

/// True for syncwright's own state folder at the root (`.syncwright`) and everything under it.
pub fn is_state_path(path: &str) -> bool {
    path.strip_prefix(STATE_DIR).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// True when `name` has the form of a syncwright temporary file name (`.<name>.swtmp-<16 hex>`); whether it is
/// one is for the run markers to say.
pub fn is_temp_name(name: &str) -> bool {
    temp_fingerprint(name).is_some()
}

/// The source-version fingerprint encoded in a temporary file name.
pub fn temp_fingerprint(name: &str) -> Option<&str> {
    if !name.starts_with('.') {
        return None;
    }
    let i = name.rfind(TEMP_MARKER)?;
    let fp = &name[i + TEMP_MARKER.len()..];
    (fp.len() == 16 && fp.bytes().all(|b| b.is_ascii_hexdigit())).then_some(fp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(inc: &[&str], exc: &[&str]) -> Filter {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Filter::new(&s(inc), &s(exc)).unwrap()
    }

    #[test]
    fn names_match_at_any_depth_and_paths_from_the_root() {
        let x = f(&[], &["*.tmp", "cache", "logs/**", "build/"]);
        assert!(!x.keep("a.tmp") && !x.keep("d/e/a.tmp"));
        assert!(!x.enter_dir("cache") && !x.enter_dir("x/cache"));
        assert!(!x.keep("logs/a/b.txt") && x.keep("x/logs/a.txt"));
        assert!(
            !x.enter_dir("build") && x.keep("build"),
            "dir-only pattern leaves a file named build"
        );
        assert!(x.keep("a.png"));
    }

    #[test]
    fn includes_restrict_files() {
        let x = f(&["*.png", "models/*.safetensors"], &[]);
        assert!(x.keep("a/b.png") && x.keep("models/m.safetensors"));
        assert!(!x.keep("models/sub/m.safetensors") && !x.keep("a.txt"));
        assert!(x.enter_dir("anything"));
    }

    #[test]
    fn own_files_are_never_part_of_a_tree() {
        let x = f(&[], &[]);
        assert!(!x.enter_dir(".syncwright") && !x.keep(".syncwright/manifests/default.json"));
        // Names of a temporary's form are ordinary names to the filters (the run markers say which are ours).
        assert!(x.keep("a/.b.png.swtmp-0123456789abcdef"));
        assert!(
            is_temp_name(".b.png.swtmp-0123456789abcdef") && !is_temp_name(".b.png.swtmp-nothex")
        );
        assert!(x.enter_dir("sub/.syncwright") && x.keep("sub/.syncwright"));
    }

    #[test]
    fn a_leading_slash_anchors_at_the_root() {
        let x = f(&[], &["/cache", "/logs/"]);
        assert!(!x.keep("cache") && x.keep("a/cache"));
        assert!(!x.enter_dir("logs") && x.enter_dir("a/logs"));
    }

    #[test]
    fn excludes_follow_the_walk() {
        let x = f(&[], &["models/", "*.tmp", "logs/**"]);
        assert!(x.excludes("models", true) && x.excludes("models/a/b", false));
        assert!(!x.excludes("models", false), "a file named models is not a folder");
        assert!(x.excludes("a/b.tmp", false) && x.excludes("logs/x", false));
        assert!(!x.excludes("a/b.png", false) && !x.excludes("x/models2/a", false));
        assert!(x.excludes(".syncwright/manifests/a.json", false));
    }

    #[test]
    fn bad_patterns_are_invalid_input() {
        let e = Filter::new(&["a[".into()], &[]).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
    }
}
