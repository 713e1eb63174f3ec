//! What tests/differential.rs and tests/crash.rs share: a source tree S with two destinations, D1 written by
//! `syncwright sync S D1 --delete` and D2 by `rsync -a --delete S/ D2/`; random trees and random changes between
//! runs; snapshots of trees and their comparison.
//!
//! Environment (read by both tests):
//! - `SYNCWRIGHT_DIFF_SEED=N` runs every test of the file with seed N (`random`: a fresh seed, printed) instead of
//!   its fixed one; a failure prints the seed and the command that replays it.
//! - `SYNCWRIGHT_DIFF_STEPS=N`: steps per test (differential), kills per test (crash).
//! - `SYNCWRIGHT_DIFF_WITHOUT=a,b`: leave generator features out (triage): `dest-edits`, `dest-adds`, `filters`,
//!   `temp-names`, `symlinks`, `type-changes`, `renames`, `odd-names`, `folder-modes`.
//! - `SYNCWRIGHT_DIFF_CONTINUE=1`: on a discrepancy, record it, make D1 what D2 is, drop D1's manifest, go on, and
//!   fail at the end with every discrepancy (triage).
//! - `SYNCWRIGHT_DIFF_SYNCWRIGHT_ARGS="--rescan-dest ..."`: more arguments for every syncwright sync (triage).
//! - `SYNCWRIGHT_DIFF_TOLERATE=exit-code`: a wrong exit code alone is no failure (triage of other classes).
//! - `SYNCWRIGHT_DIFF_KEEP=1`: keep the scratch folder (its path is printed).
#![allow(dead_code)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::fs;
use std::hash::Hasher;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_syncwright");

// ---------------------------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------------------------

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The seed: `SYNCWRIGHT_DIFF_SEED` when set, else `default`.
pub fn seed(default: u64) -> u64 {
    match env("SYNCWRIGHT_DIFF_SEED").as_deref() {
        None => default,
        Some("random") => fastrand::u64(..1_000_000_000),
        Some(s) => {
            s.parse().unwrap_or_else(|_| panic!("SYNCWRIGHT_DIFF_SEED={s:?} is not a number"))
        }
    }
}

/// `SYNCWRIGHT_DIFF_STEPS` when set, else `default`.
pub fn steps(default: usize) -> usize {
    env("SYNCWRIGHT_DIFF_STEPS").map_or(default, |s| {
        s.parse().unwrap_or_else(|_| panic!("SYNCWRIGHT_DIFF_STEPS={s:?} is not a number"))
    })
}

pub fn continue_on_failure() -> bool {
    env("SYNCWRIGHT_DIFF_CONTINUE").is_some_and(|v| v != "0")
}

/// `SYNCWRIGHT_DIFF_TOLERATE=exit-code`: a wrong exit code alone is no failure (triage of other classes).
fn tolerate_exit_codes() -> bool {
    env("SYNCWRIGHT_DIFF_TOLERATE").is_some_and(|v| v.split(',').any(|t| t.trim() == "exit-code"))
}

fn keep_scratch() -> bool {
    env("SYNCWRIGHT_DIFF_KEEP").is_some_and(|v| v != "0")
}

// ---------------------------------------------------------------------------------------------------------------
// Snapshots and comparison
// ---------------------------------------------------------------------------------------------------------------

/// An mtime as the file system keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mtime {
    pub sec: i64,
    pub nsec: u32,
}

impl fmt::Display for Mtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.sec, self.nsec)
    }
}

impl Mtime {
    fn system_time(self) -> SystemTime {
        assert!(self.sec >= 0, "mtimes before 1970 are not generated");
        UNIX_EPOCH + Duration::new(self.sec as u64, self.nsec)
    }
}

/// One entry of a tree. Folder mtimes are not kept (rsync sets them after filling a folder, syncwright need not);
/// symlinks have no mode on Linux and their mtimes are not compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir {
        mode: u32,
    },
    /// `digest` is 0 in snapshots taken without content.
    File {
        mode: u32,
        len: u64,
        mtime: Mtime,
        digest: u64,
    },
    Link {
        target: PathBuf,
    },
    Other {
        what: &'static str,
    },
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Dir { mode } => write!(f, "folder (mode {mode:04o})"),
            Node::File { mode, len, mtime, digest } => {
                write!(f, "file ({len} B, mode {mode:04o}, mtime {mtime}")?;
                if *digest != 0 {
                    write!(f, ", digest {:08x}", digest >> 32)?;
                }
                write!(f, ")")
            }
            Node::Link { target } => write!(f, "symlink -> {:?}", target),
            Node::Other { what } => write!(f, "{what}"),
        }
    }
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Dir { .. } => "folder",
            Node::File { .. } => "file",
            Node::Link { .. } => "symlink",
            Node::Other { what } => what,
        }
    }
}

/// Every entry below a root (relative paths; the root itself is not an entry), not following symlinks.
#[derive(Clone, Debug)]
pub struct Snap {
    pub root: PathBuf,
    pub nodes: BTreeMap<PathBuf, Node>,
}

impl Snap {
    pub fn get(&self, p: &Path) -> Option<&Node> {
        self.nodes.get(p)
    }

    /// Real folders (not symlinks to folders), the root ("") first.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut v = vec![PathBuf::new()];
        v.extend(
            self.nodes
                .iter()
                .filter(|(_, n)| matches!(n, Node::Dir { .. }))
                .map(|(p, _)| p.clone()),
        );
        v
    }

    pub fn files(&self) -> Vec<PathBuf> {
        self.nodes
            .iter()
            .filter(|(_, n)| matches!(n, Node::File { .. }))
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn links(&self) -> Vec<PathBuf> {
        self.nodes
            .iter()
            .filter(|(_, n)| matches!(n, Node::Link { .. }))
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn total_bytes(&self) -> u64 {
        self.nodes.values().map(|n| if let Node::File { len, .. } = n { *len } else { 0 }).sum()
    }
}

fn digest_of(p: &Path) -> u64 {
    let mut f = fs::File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        if n == 0 {
            break;
        }
        h.write(&buf[..n]);
    }
    // Never 0, which means "not read".
    h.finish() | 1
}

/// The tree below `root`; `skip_state` leaves out `root/.syncwright`; `content` reads every file for its digest.
pub fn snapshot(root: &Path, skip_state: bool, content: bool) -> Snap {
    fn rec(
        root: &Path,
        dir: &Path,
        skip_state: bool,
        content: bool,
        out: &mut BTreeMap<PathBuf, Node>,
    ) {
        let rd = fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
        for ent in rd {
            let ent = ent.unwrap();
            let p = ent.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if skip_state && rel == Path::new(".syncwright") {
                continue;
            }
            let md =
                fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()));
            let ft = md.file_type();
            let mode = md.mode() & 0o7777;
            let node = if ft.is_symlink() {
                Node::Link { target: fs::read_link(&p).unwrap() }
            } else if ft.is_dir() {
                Node::Dir { mode }
            } else if ft.is_file() {
                let mtime = Mtime { sec: md.mtime(), nsec: md.mtime_nsec() as u32 };
                let digest = if content { digest_of(&p) } else { 0 };
                Node::File { mode, len: md.len(), mtime, digest }
            } else {
                Node::Other { what: "special file" }
            };
            let is_dir = matches!(node, Node::Dir { .. });
            out.insert(rel, node);
            if is_dir {
                rec(root, &p, skip_state, content, out);
            }
        }
    }
    let mut nodes = BTreeMap::new();
    if root.exists() {
        rec(root, root, skip_state, content, &mut nodes);
    }
    Snap { root: root.to_path_buf(), nodes }
}

/// The first offset at which two files differ.
fn first_difference(a: &Path, b: &Path) -> Option<u64> {
    let (x, y) = (fs::read(a).ok()?, fs::read(b).ok()?);
    x.iter()
        .zip(&y)
        .position(|(p, q)| p != q)
        .map(|i| i as u64)
        .or((x.len() != y.len()).then(|| x.len().min(y.len()) as u64))
}

/// One way in which D1 (syncwright) differs from D2 (rsync).
#[derive(Clone, Debug)]
pub struct Difference {
    pub path: PathBuf,
    /// `missing` (rsync has it, syncwright not), `extra`, `kind`, `content`, `mode`, `mtime`, `target`.
    pub class: &'static str,
    pub detail: String,
}

/// How D1 (syncwright's, `.syncwright/` left out) differs from D2 (rsync's): paths, kinds, link targets, file
/// bytes, file and folder modes, file mtimes to the nanosecond. Both must have been taken with content.
pub fn compare(d1: &Snap, d2: &Snap) -> Vec<Difference> {
    let mut out = Vec::new();
    let paths: BTreeSet<&PathBuf> = d1.nodes.keys().chain(d2.nodes.keys()).collect();
    for p in paths {
        let mut push =
            |class, detail: String| out.push(Difference { path: p.clone(), class, detail });
        match (d1.nodes.get(p), d2.nodes.get(p)) {
            (None, None) => unreachable!(),
            (Some(a), None) => push("extra", format!("syncwright has {a}, rsync has nothing")),
            (None, Some(b)) => push("missing", format!("syncwright has nothing, rsync has {b}")),
            (Some(a), Some(b)) if a.kind() != b.kind() => {
                push("kind", format!("syncwright has {a}, rsync has {b}"))
            }
            (
                Some(Node::File { mode: m1, len: l1, mtime: t1, digest: h1 }),
                Some(Node::File { mode: m2, len: l2, mtime: t2, digest: h2 }),
            ) => {
                if (l1, h1) != (l2, h2) {
                    let at = first_difference(&d1.root.join(p), &d2.root.join(p))
                        .map_or(String::new(), |o| format!(", first difference at byte {o}"));
                    push(
                        "content",
                        format!(
                            "syncwright has {l1} B (digest {:08x}), rsync {l2} B (digest {:08x}){at}",
                            h1 >> 32,
                            h2 >> 32
                        ),
                    );
                }
                if m1 != m2 {
                    push("mode", format!("syncwright has mode {m1:04o}, rsync {m2:04o}"));
                }
                if t1 != t2 {
                    push("mtime", format!("syncwright has mtime {t1}, rsync {t2}"));
                }
            }
            (Some(Node::Dir { mode: m1 }), Some(Node::Dir { mode: m2 })) => {
                if m1 != m2 {
                    push("mode", format!("folder: syncwright has mode {m1:04o}, rsync {m2:04o}"));
                }
            }
            (Some(Node::Link { target: a }), Some(Node::Link { target: b })) => {
                if a != b {
                    push("target", format!("symlink: syncwright points to {a:?}, rsync to {b:?}"))
                }
            }
            (Some(_), Some(_)) => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------------------------

/// An exclude pattern as each tool spells it (the same set of paths).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub syncwright: &'static str,
    pub rsync: &'static str,
}

/// The patterns the generator adds and removes. Names without `/` match at any depth for both tools; a pattern
/// with an inner `/` is anchored at the root by syncwright and only with a leading `/` by rsync.
pub const PATTERNS: &[Pattern] = &[
    Pattern { syncwright: "models/", rsync: "models/" },
    Pattern { syncwright: "*.tmp", rsync: "*.tmp" },
    Pattern { syncwright: "cache", rsync: "cache" },
    Pattern { syncwright: "data/raw/", rsync: "/data/raw/" },
];

impl Pattern {
    /// Whether the entry at `path` (of kind `is_dir`) is excluded by this pattern itself (not by a parent).
    pub fn matches(&self, path: &Path, is_dir: bool) -> bool {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match self.syncwright {
            "models/" => is_dir && name == "models",
            "*.tmp" => name.ends_with(".tmp"),
            "cache" => name == "cache",
            "data/raw/" => is_dir && path == Path::new("data/raw"),
            p => panic!("no matcher for pattern {p}"),
        }
    }
}

/// The pattern that excludes `path` or one of its parents, if any (per the kinds found in `snaps`, the first
/// that has the entry).
pub fn excluded_by(patterns: &[Pattern], snaps: &[&Snap], path: &Path) -> Option<Pattern> {
    let mut cur = PathBuf::new();
    let comps: Vec<_> = path.components().collect();
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        let is_dir = i + 1 < comps.len()
            || snaps
                .iter()
                .find_map(|s| s.get(&cur))
                .is_some_and(|n| matches!(n, Node::Dir { .. }));
        if let Some(p) = patterns.iter().find(|p| p.matches(&cur, is_dir)) {
            return Some(*p);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------------------------
// Changes
// ---------------------------------------------------------------------------------------------------------------

/// Where a change is made: the source, or both destinations alike (behind both tools' backs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Src,
    Dests,
}

/// One change.
#[derive(Clone, Debug)]
pub enum Act {
    /// Write a file (create, or rewrite in place); `mtime: None` leaves the time of the write.
    Write {
        path: PathBuf,
        len: usize,
        seed: u64,
        mode: u32,
        mtime: Option<Mtime>,
        note: &'static str,
    },
    Mkdir {
        path: PathBuf,
        mode: u32,
    },
    Symlink {
        path: PathBuf,
        target: PathBuf,
    },
    /// Set a file's mtime only.
    Touch {
        path: PathBuf,
        mtime: Mtime,
        note: &'static str,
    },
    Chmod {
        path: PathBuf,
        mode: u32,
    },
    /// `rm -rf`.
    Remove {
        path: PathBuf,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
    },
    /// The destinations made copies of S by rsync -a ([`Pair::seed_destinations`], not [`Action::apply`]).
    CopyOfSource,
    /// Add or remove an exclude pattern (both tools).
    Filter {
        pattern: Pattern,
        on: bool,
    },
}

#[derive(Clone, Debug)]
pub struct Action {
    pub side: Side,
    pub act: Act,
}

/// Single-quoted for sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn q(root: &str, p: &Path) -> String {
    let rel = sh_quote(&p.display().to_string());
    if root.starts_with('$') { format!("\"{root}\"/{rel}") } else { format!("{root}/{rel}") }
}

impl Action {
    /// The change as shell commands on S, or on D1 and D2 (`$d`), for a reproduction by hand (file contents come
    /// from /dev/urandom there).
    pub fn shell(&self) -> String {
        let r = match self.side {
            Side::Src => "S",
            Side::Dests => "$d",
        };
        let (cmd, note) = match &self.act {
            Act::Write { path, len, mode, mtime, note, .. } => {
                let mut s = if *len == 0 {
                    format!(": > {}", q(r, path))
                } else {
                    format!("head -c {len} /dev/urandom > {}", q(r, path))
                };
                let _ = write!(s, " && chmod {mode:o} {}", q(r, path));
                if let Some(t) = mtime {
                    let _ = write!(s, " && touch -m -d @{t} {}", q(r, path));
                }
                (s, *note)
            }
            Act::Mkdir { path, mode } => {
                (format!("mkdir {} && chmod {mode:o} {}", q(r, path), q(r, path)), "")
            }
            Act::Symlink { path, target } => {
                (format!("ln -s {} {}", sh_quote(&target.to_string_lossy()), q(r, path)), "")
            }
            Act::Touch { path, mtime, note } => {
                (format!("touch -m -d @{mtime} {}", q(r, path)), *note)
            }
            Act::Chmod { path, mode } => (format!("chmod {mode:o} {}", q(r, path)), ""),
            Act::Remove { path } => (format!("rm -rf {}", q(r, path)), ""),
            Act::Rename { from, to } => (format!("mv {} {}", q(r, from), q(r, to)), ""),
            Act::CopyOfSource => ("rsync -a S/ \"$d\"/".to_string(), "filled by another tool"),
            Act::Filter { pattern, on } => {
                return format!(
                    "# filter {} --exclude {} (rsync --exclude {})",
                    if *on { "added:" } else { "removed:" },
                    sh_quote(pattern.syncwright),
                    sh_quote(pattern.rsync)
                );
            }
        };
        let cmd = match self.side {
            Side::Src => cmd,
            Side::Dests => format!("for d in D1 D2; do {cmd}; done"),
        };
        match (self.side, note) {
            (Side::Src, "") => cmd,
            (Side::Src, n) => format!("{cmd}   # {n}"),
            (Side::Dests, "") => format!("{cmd}   # at the destinations"),
            (Side::Dests, n) => format!("{cmd}   # at the destinations: {n}"),
        }
    }

    /// Applies the change below `root` (the filter changes are the caller's).
    pub fn apply(&self, root: &Path) {
        apply(&self.act, root)
    }
}

/// Pseudo-random bytes.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fastrand::Rng::with_seed(seed).fill(&mut v);
    v
}

pub fn set_mtime(p: &Path, t: Mtime) {
    let f = fs::File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
    f.set_times(fs::FileTimes::new().set_modified(t.system_time()))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", p.display()));
}

pub fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

fn apply(act: &Act, root: &Path) {
    match act {
        Act::Write { path, len, seed, mode, mtime, .. } => {
            let p = root.join(path);
            if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
                // Writable first, so that this works without root too.
                chmod(&p, 0o600);
            }
            fs::write(&p, content(*len, *seed))
                .unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
            chmod(&p, *mode);
            if let Some(t) = mtime {
                set_mtime(&p, *t);
            }
        }
        Act::Mkdir { path, mode } => {
            let p = root.join(path);
            fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
            chmod(&p, *mode);
        }
        Act::Symlink { path, target } => {
            let p = root.join(path);
            std::os::unix::fs::symlink(target, &p)
                .unwrap_or_else(|e| panic!("symlink {}: {e}", p.display()));
        }
        Act::Touch { path, mtime, .. } => set_mtime(&root.join(path), *mtime),
        Act::Chmod { path, mode } => chmod(&root.join(path), *mode),
        Act::Remove { path } => {
            let p = root.join(path);
            let md =
                fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()));
            if md.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) }
                .unwrap_or_else(|e| panic!("remove {}: {e}", p.display()));
        }
        Act::Rename { from, to } => fs::rename(root.join(from), root.join(to))
            .unwrap_or_else(|e| panic!("rename {}: {e}", from.display())),
        Act::Filter { .. } | Act::CopyOfSource => {}
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------------------------------

/// What the generator may produce.
#[derive(Clone, Debug)]
pub struct Features {
    /// Files deleted, rewritten, chmod-ed or touched at both destinations between runs.
    pub dest_edits: bool,
    /// Files and folders created at both destinations only (`--delete` removes them unless excluded).
    pub dest_adds: bool,
    /// Exclude patterns added and removed.
    pub filters: bool,
    /// User files named like syncwright temporaries (`.name.swtmp-0123456789abcdef`).
    pub temp_names: bool,
    pub symlinks: bool,
    /// file <-> folder <-> symlink at one path between two runs.
    pub type_changes: bool,
    pub renames: bool,
    /// Names with spaces, unicode (NFC and NFD), glob characters, quotes.
    pub odd_names: bool,
    /// Folders of modes other than 0755, and chmod of folders.
    pub folder_modes: bool,
    /// Rewrites that keep the size and the mtime: only `--checksum` (both tools) sees them.
    pub same_size_same_mtime: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            dest_edits: true,
            dest_adds: true,
            filters: true,
            temp_names: true,
            symlinks: true,
            type_changes: true,
            renames: true,
            odd_names: true,
            folder_modes: true,
            same_size_same_mtime: false,
        }
    }
}

impl Features {
    /// These features without the ones `SYNCWRIGHT_DIFF_WITHOUT` names.
    pub fn narrowed_by_env(mut self) -> Features {
        for f in env("SYNCWRIGHT_DIFF_WITHOUT")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
        {
            match f {
                "dest-edits" => self.dest_edits = false,
                "dest-adds" => self.dest_adds = false,
                "filters" => self.filters = false,
                "temp-names" => self.temp_names = false,
                "symlinks" => self.symlinks = false,
                "type-changes" => self.type_changes = false,
                "renames" => self.renames = false,
                "odd-names" => self.odd_names = false,
                "folder-modes" => self.folder_modes = false,
                other => panic!("SYNCWRIGHT_DIFF_WITHOUT: unknown feature {other:?}"),
            }
        }
        self
    }
}

/// Sizes of the files written: (percent, smallest, largest).
#[derive(Clone, Debug)]
pub struct Sizes(pub &'static [(u32, usize, usize)]);

/// Mostly small files, some of a few MiB.
pub const SMALL_SIZES: Sizes = Sizes(&[
    (10, 0, 0),
    (35, 1, 64),
    (33, 65, 8192),
    (17, 8193, 256 << 10),
    (5, 256 << 10, 3 << 20),
]);
/// Large-ish files, so that a run takes a while (crash test).
pub const LARGE_SIZES: Sizes =
    Sizes(&[(10, 0, 0), (20, 1, 4096), (20, 4097, 256 << 10), (50, 1 << 20, 6 << 20)]);

pub struct Generator {
    pub rng: fastrand::Rng,
    pub features: Features,
    pub sizes: Sizes,
    /// About how many entries the source holds.
    pub target_entries: usize,
    /// The exclude patterns in force.
    pub filters: Vec<Pattern>,
    counter: u64,
}

const PLAIN_NAMES: &[&str] = &[
    "a",
    "b",
    "c",
    "sub",
    "models",
    "cache",
    "data",
    "raw",
    "img",
    "x.tmp",
    "out.png",
    "notes.txt",
    "w.safetensors",
    ".hidden",
];
const ODD_NAMES: &[&str] = &[
    "a b",
    " lead",
    "trail ",
    "two  spaces",
    "ünïcödé",
    "日本語",
    "emoji 🎨",
    "cafe\u{301}",
    "caf\u{e9}",
    "A",
    "-dash",
    "brack[et]",
    "star*",
    "q?",
    "back\\slash",
    "semi;colon",
    "quote'd",
    "dq\"",
    "#hash",
    "~tilde",
    "100%",
    "$HOME",
    ".syncwright",
];
const EXTS: &[&str] = &["", ".png", ".txt", ".bin", ".tmp", ".json", ".safetensors"];
const FILE_MODES: &[u32] =
    &[0o644, 0o600, 0o640, 0o664, 0o666, 0o755, 0o700, 0o775, 0o444, 0o400, 0o555, 0o777];
const DIR_MODES: &[u32] = &[0o755, 0o750, 0o700, 0o775, 0o711, 0o777];

/// Whether `name` has the form of a syncwright temporary (`.<name>.swtmp-<16 hex>`).
pub fn temp_like(name: &str) -> bool {
    name.starts_with('.')
        && name.rfind(".swtmp-").is_some_and(|i| {
            let fp = &name[i + 7..];
            fp.len() == 16 && fp.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

fn name_of(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn now_sec() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

impl Generator {
    pub fn new(seed: u64, features: Features, sizes: Sizes, target_entries: usize) -> Generator {
        Generator {
            rng: fastrand::Rng::with_seed(seed),
            features,
            sizes,
            target_entries,
            filters: Vec::new(),
            counter: 0,
        }
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.rng.usize(..v.len())].clone()
    }

    fn len(&mut self) -> usize {
        let total: u32 = self.sizes.0.iter().map(|s| s.0).sum();
        let mut r = self.rng.u32(..total);
        for &(w, lo, hi) in self.sizes.0 {
            if r < w {
                return self.rng.usize(lo..=hi);
            }
            r -= w;
        }
        0
    }

    /// An mtime whose whole seconds differ from `avoid`'s: rsync -a (without --modify-window=-1) compares mtimes
    /// to the second, so a change within the second is one neither tool is asked to see. Consumes the same
    /// random numbers whatever the clock says.
    fn mtime(&mut self, avoid: Option<Mtime>) -> Mtime {
        let near_now = self.rng.u32(..100) < 25;
        let past = 1_500_000_000 + self.rng.i64(0..300_000_000);
        let jitter = self.rng.i64(-3..=3);
        let nsec = match self.rng.u32(..10) {
            0 => 0,
            1 => 999_999_999,
            _ => self.rng.u32(..1_000_000_000),
        };
        let mut sec = if near_now { now_sec() + jitter } else { past };
        if avoid.is_some_and(|a| a.sec == sec) {
            sec += 1;
        }
        Mtime { sec, nsec }
    }

    fn mode_other_than(&mut self, modes: &[u32], old: u32) -> u32 {
        let i = self.rng.usize(..modes.len());
        if modes[i] == old { modes[(i + 1) % modes.len()] } else { modes[i] }
    }

    /// A name not yet in folder `dir` of `snap`.
    fn fresh_name(&mut self, snap: &Snap, dir: &Path, for_dir: bool) -> PathBuf {
        for _ in 0..20 {
            let r = self.rng.u32(..100);
            let name = if r < 25 {
                self.pick(PLAIN_NAMES).to_string()
            } else if r < 40 && self.features.odd_names {
                self.pick(ODD_NAMES).to_string()
            } else if for_dir {
                format!("d{}", self.rng.u32(..100))
            } else {
                let ext = self.pick(EXTS);
                format!("f{}{ext}", self.rng.u32(..1000))
            };
            if dir.as_os_str().is_empty() && name == ".syncwright" {
                continue;
            }
            let p = dir.join(&name);
            if !snap.nodes.contains_key(&p) {
                return p;
            }
        }
        self.counter += 1;
        dir.join(format!("n{}", self.counter))
    }

    /// A name of the form of a syncwright temporary, beside an existing entry's name now and then.
    fn temp_name(&mut self, snap: &Snap, dir: &Path) -> PathBuf {
        let siblings: Vec<String> =
            snap.nodes.keys().filter(|p| p.parent() == Some(dir)).map(|p| name_of(p)).collect();
        let base = if !siblings.is_empty() && self.rng.bool() {
            self.pick(&siblings)
        } else {
            format!("f{}.png", self.rng.u32(..100))
        };
        let hex = if self.rng.bool() {
            "0123456789abcdef".to_string()
        } else {
            format!("{:016x}", self.rng.u64(..))
        };
        let p = dir.join(format!(".{base}.swtmp-{hex}"));
        if snap.nodes.contains_key(&p) { self.fresh_name(snap, dir, false) } else { p }
    }

    /// A real folder of `snap` (the root is "").
    fn some_dir(&mut self, snap: &Snap) -> PathBuf {
        let dirs: Vec<PathBuf> =
            snap.dirs().into_iter().filter(|d| d.components().count() < 5).collect();
        self.pick(&dirs)
    }

    fn write_new(&mut self, path: PathBuf, note: &'static str) -> Act {
        let len = self.len();
        let mode = if self.rng.u32(..100) < 60 { 0o644 } else { self.pick(FILE_MODES) };
        let mtime = if self.rng.u32(..100) < 20 { None } else { Some(self.mtime(None)) };
        Act::Write { path, len, seed: self.rng.u64(..), mode, mtime, note }
    }

    /// A new file for both destinations: an explicit mtime, the same at both (the time of the write would not be).
    fn write_at_dests(&mut self, path: PathBuf) -> Act {
        let mut a = self.write_new(path, "created at the destination only");
        if let Act::Write { mtime, .. } = &mut a {
            *mtime = Some(mtime.unwrap_or(Mtime { sec: 1_650_000_000, nsec: 1 }));
        }
        a
    }

    /// A relative symlink target for a link at `link`: an entry of the tree, a missing name, or out of the root.
    fn link_target(&mut self, snap: &Snap, link: &Path) -> PathBuf {
        let depth = link.components().count() - 1;
        let up = |n: usize| "../".repeat(n);
        let r = self.rng.u32(..100);
        let entries: Vec<PathBuf> = snap.nodes.keys().cloned().collect();
        if r < 60 && !entries.is_empty() {
            let t = self.pick(&entries);
            if t.parent() == link.parent() && self.rng.bool() {
                return PathBuf::from(name_of(&t));
            }
            return PathBuf::from(format!("{}{}", up(depth), t.display()));
        }
        if r < 85 {
            return PathBuf::from(format!(
                "{}missing-{}",
                up(self.rng.usize(..=depth)),
                self.rng.u32(..100)
            ));
        }
        if r < 95 {
            return PathBuf::from(format!("{}outside/of/the/root", up(depth + 1)));
        }
        // Itself: a loop.
        PathBuf::from(name_of(link))
    }

    /// Whether the root holds a file that no pattern of the pool can exclude (the source root is never emptied).
    fn has_anchor(snap: &Snap) -> bool {
        snap.nodes.iter().any(|(p, n)| {
            p.components().count() == 1
                && matches!(n, Node::File { .. })
                && !temp_like(&name_of(p))
                && !PATTERNS.iter().any(|pat| pat.matches(p, false))
        })
    }

    /// Makes one change at the source and returns it (applied).
    fn src_change(&mut self, src: &Path, initial: bool) -> Vec<Action> {
        let snap = snapshot(src, false, false);
        let files = snap.files();
        let dirs: Vec<PathBuf> = snap.dirs().into_iter().skip(1).collect();
        let links = snap.links();
        let crowded = snap.nodes.len() > self.target_entries;
        let f = self.features.clone();
        let mut acts = Vec::new();
        // (weight, kind)
        let table: &[(u32, &str)] = if initial {
            &[(60, "create-file"), (20, "create-dir"), (10, "create-link"), (4, "temp-file")]
        } else {
            &[
                (if crowded { 8 } else { 22 }, "create-file"),
                (if crowded { 2 } else { 7 }, "create-dir"),
                (if crowded { 2 } else { 5 }, "create-link"),
                (12, "modify"),
                (9, "modify-same-size"),
                (8, "touch"),
                (5, "chmod-file"),
                (3, "chmod-dir"),
                (if crowded { 20 } else { 7 }, "delete-file"),
                (if crowded { 8 } else { 3 }, "delete-dir"),
                (7, "type-change"),
                (4, "rename"),
                (3, "temp-file"),
                (6, "same-size-same-mtime"),
            ]
        };
        let total: u32 = table.iter().map(|t| t.0).sum();
        let mut r = self.rng.u32(..total);
        let mut kind = "create-file";
        for &(w, k) in table {
            if r < w {
                kind = k;
                break;
            }
            r -= w;
        }
        let kind = match kind {
            "create-link" if !f.symlinks => "create-file",
            "type-change" if !f.type_changes => "modify",
            "rename" if !f.renames => "modify",
            "temp-file" if !f.temp_names => "create-file",
            "same-size-same-mtime" if !f.same_size_same_mtime => "modify-same-size",
            k => k,
        };
        let files_with_bytes: Vec<PathBuf> = files
            .iter()
            .filter(|p| matches!(snap.get(p), Some(Node::File { len, .. }) if *len > 0))
            .cloned()
            .collect();
        let kind = match kind {
            "modify" | "touch" | "chmod-file" | "delete-file" if files.is_empty() => "create-file",
            "modify-same-size" | "same-size-same-mtime" if files_with_bytes.is_empty() => {
                "create-file"
            }
            "chmod-dir" | "delete-dir" if dirs.is_empty() => "create-dir",
            "chmod-dir" if !f.folder_modes => "chmod-file",
            "type-change" | "rename" if snap.nodes.is_empty() => "create-file",
            k => k,
        };
        let old = |p: &Path| match snap.get(p) {
            Some(Node::File { mode, len, mtime, .. }) => (*mode, *len as usize, *mtime),
            _ => unreachable!(),
        };
        match kind {
            "create-file" => {
                let d = self.some_dir(&snap);
                let p = self.fresh_name(&snap, &d, false);
                acts.push(self.write_new(p, "new file"));
            }
            "temp-file" => {
                let d = self.some_dir(&snap);
                let p = self.temp_name(&snap, &d);
                acts.push(self.write_new(p, "new file named like a syncwright temporary"));
            }
            "create-dir" => {
                let d = self.some_dir(&snap);
                let p = self.fresh_name(&snap, &d, true);
                let mode = if self.rng.u32(..100) < 70 || !f.folder_modes {
                    0o755
                } else {
                    self.pick(DIR_MODES)
                };
                acts.push(Act::Mkdir { path: p.clone(), mode });
                // Empty, or with a few files.
                for i in 0..self.rng.usize(0..=3) {
                    let ext = self.pick(EXTS);
                    acts.push(
                        self.write_new(p.join(format!("g{i}{ext}")), "new file in a new folder"),
                    );
                }
            }
            "create-link" => {
                let d = self.some_dir(&snap);
                let p = self.fresh_name(&snap, &d, false);
                let target = self.link_target(&snap, &p);
                acts.push(Act::Symlink { path: p, target });
            }
            "modify" => {
                let p = self.pick(&files);
                let (mode, len, mtime) = old(&p);
                let mut new_len = self.len();
                if new_len == len {
                    new_len += 1;
                }
                let t = if self.rng.u32(..100) < 20 { None } else { Some(self.mtime(Some(mtime))) };
                acts.push(Act::Write {
                    path: p,
                    len: new_len,
                    seed: self.rng.u64(..),
                    mode,
                    mtime: t,
                    note: "modify (new size)",
                });
            }
            "modify-same-size" => {
                let p = self.pick(&files_with_bytes);
                let (mode, len, mtime) = old(&p);
                let t = self.mtime(Some(mtime));
                acts.push(Act::Write {
                    path: p,
                    len,
                    seed: self.rng.u64(..),
                    mode,
                    mtime: Some(t),
                    note: "modify, same size, new mtime",
                });
            }
            "same-size-same-mtime" => {
                let p = self.pick(&files_with_bytes);
                let (mode, len, mtime) = old(&p);
                acts.push(Act::Write {
                    path: p,
                    len,
                    seed: self.rng.u64(..),
                    mode,
                    mtime: Some(mtime),
                    note: "modify, same size, SAME mtime",
                });
            }
            "touch" => {
                let p = self.pick(&files);
                let (_, _, mtime) = old(&p);
                let t = self.mtime(Some(mtime));
                acts.push(Act::Touch { path: p, mtime: t, note: "mtime only" });
            }
            "chmod-file" => {
                let p = self.pick(&files);
                let (mode, _, _) = old(&p);
                let m = self.mode_other_than(FILE_MODES, mode);
                acts.push(Act::Chmod { path: p, mode: m });
            }
            "chmod-dir" => {
                let p = self.pick(&dirs);
                let Some(Node::Dir { mode }) = snap.get(&p) else { unreachable!() };
                let m = self.mode_other_than(DIR_MODES, *mode);
                acts.push(Act::Chmod { path: p, mode: m });
            }
            "delete-file" => {
                let mut v = files.clone();
                v.extend(links.iter().cloned());
                let p = self.pick(&v);
                acts.push(Act::Remove { path: p });
            }
            "delete-dir" => {
                let p = self.pick(&dirs);
                acts.push(Act::Remove { path: p });
            }
            "type-change" => {
                let all: Vec<PathBuf> = snap.nodes.keys().cloned().collect();
                let p = self.pick(&all);
                let was = snap.get(&p).unwrap().kind();
                acts.push(Act::Remove { path: p.clone() });
                let choices: Vec<&str> = ["file", "folder", "symlink"]
                    .into_iter()
                    .filter(|k| *k != was && (f.symlinks || *k != "symlink"))
                    .collect();
                match self.pick(&choices) {
                    "file" => acts.push(self.write_new(p, "type change: now a file")),
                    "folder" => {
                        acts.push(Act::Mkdir { path: p.clone(), mode: 0o755 });
                        if self.rng.bool() {
                            acts.push(self.write_new(
                                p.join("inside.txt"),
                                "type change: file in the new folder",
                            ));
                        }
                    }
                    _ => {
                        let target = self.link_target(&snap, &p);
                        acts.push(Act::Symlink { path: p, target });
                    }
                }
            }
            "rename" => {
                let all: Vec<PathBuf> = snap.nodes.keys().cloned().collect();
                let from = self.pick(&all);
                let candidates: Vec<PathBuf> =
                    snap.dirs().into_iter().filter(|d| !d.starts_with(&from)).collect();
                let d = self.pick(&candidates);
                let to =
                    self.fresh_name(&snap, &d, matches!(snap.get(&from), Some(Node::Dir { .. })));
                acts.push(Act::Rename { from, to });
            }
            k => unreachable!("{k}"),
        }
        let acts: Vec<Action> =
            acts.into_iter().map(|act| Action { side: Side::Src, act }).collect();
        for a in &acts {
            a.apply(src);
        }
        acts
    }

    /// Makes one change at both destinations alike (chosen from D2, which equals D1 after a passing step).
    fn dest_change(&mut self, d1: &Path, d2: &Path, src: &Snap) -> Vec<Action> {
        let snap = snapshot(d2, false, false);
        let files = snap.files();
        let f = self.features.clone();
        let mut kinds = vec![];
        if f.dest_edits && !files.is_empty() {
            kinds.extend(["delete", "delete", "rewrite", "rewrite", "chmod", "touch"]);
            if snap.nodes.len() > files.len() {
                kinds.push("delete-any");
            }
        }
        if f.dest_adds {
            kinds.extend(["add-file", "add-dir"]);
        }
        if kinds.is_empty() {
            return Vec::new();
        }
        let mut acts = Vec::new();
        match self.pick(&kinds) {
            "delete" => acts.push(Act::Remove { path: self.pick(&files) }),
            "delete-any" => {
                let all: Vec<PathBuf> = snap.nodes.keys().cloned().collect();
                acts.push(Act::Remove { path: self.pick(&all) });
            }
            "rewrite" => {
                let p = self.pick(&files);
                let Some(Node::File { mode, mtime, .. }) = snap.get(&p).cloned() else {
                    unreachable!()
                };
                let t = self.mtime(Some(mtime));
                let len = self.len();
                acts.push(Act::Write {
                    path: p,
                    len,
                    seed: self.rng.u64(..),
                    mode,
                    mtime: Some(t),
                    note: "edited at the destination",
                });
            }
            "chmod" => {
                let p = self.pick(&files);
                let Some(Node::File { mode, .. }) = snap.get(&p).cloned() else { unreachable!() };
                let m = self.mode_other_than(FILE_MODES, mode);
                acts.push(Act::Chmod { path: p, mode: m });
            }
            "touch" => {
                let p = self.pick(&files);
                let Some(Node::File { mtime, .. }) = snap.get(&p).cloned() else { unreachable!() };
                let t = self.mtime(Some(mtime));
                acts.push(Act::Touch { path: p, mtime: t, note: "mtime only" });
            }
            "add-file" => {
                let d = self.some_dir(&snap);
                let mut p = match self.rng.u32(..4) {
                    0 if f.temp_names => self.temp_name(&snap, &d),
                    1 => d.join(format!("only-at-dest-{}.tmp", self.rng.u32(..100))),
                    _ => self.fresh_name(&snap, &d, false),
                };
                if src.nodes.contains_key(&p) || snap.nodes.contains_key(&p) {
                    p = self.fresh_name(&snap, &d, false);
                }
                acts.push(self.write_at_dests(p));
            }
            _ => {
                let d = self.some_dir(&snap);
                let p = match self.rng.u32(..3) {
                    0 if !snap.nodes.contains_key(&d.join("cache")) => d.join("cache"),
                    _ => self.fresh_name(&snap, &d, true),
                };
                acts.push(Act::Mkdir { path: p.clone(), mode: 0o755 });
                acts.push(self.write_at_dests(p.join("x.bin")));
            }
        }
        let acts: Vec<Action> =
            acts.into_iter().map(|act| Action { side: Side::Dests, act }).collect();
        for a in &acts {
            a.apply(d1);
            a.apply(d2);
        }
        acts
    }

    /// One step of changes: at the source (the first step builds the tree), maybe a filter, maybe at the
    /// destinations. Applied; returned for the report.
    ///
    /// `d2` is rsync's destination, the reference for [`Generator::keep_visible`]. `synced`: D1 and D2 are alike
    /// (the last syncwright run was checked against rsync), so changes at both destinations and of the filters
    /// may be made (a filter change after a run that rsync did not mirror, such as a killed one, would leave at D1
    /// what an excluded file was then, which rsync never copies).
    pub fn step(
        &mut self,
        src: &Path,
        d1: &Path,
        d2: &Path,
        synced: bool,
        first: bool,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let n = if first {
            self.target_entries / 3 + self.rng.usize(0..8)
        } else if self.rng.u32(..100) < 12 {
            self.rng.usize(5..12)
        } else {
            self.rng.usize(1..=4)
        };
        for _ in 0..n {
            out.extend(self.src_change(src, first));
        }
        let snap = snapshot(src, false, false);
        if !Self::has_anchor(&snap) {
            self.counter += 1;
            let a = Action {
                side: Side::Src,
                act: self.write_new(
                    PathBuf::from(format!("top-{}.txt", self.counter)),
                    "keeps the source root non-empty",
                ),
            };
            a.apply(src);
            out.push(a);
        }
        if synced && !first && self.features.filters && self.rng.u32(..100) < 8 {
            let pattern = self.pick(PATTERNS);
            let on = !self.filters.contains(&pattern);
            if on {
                self.filters.push(pattern);
            } else {
                self.filters.retain(|p| *p != pattern);
            }
            out.push(Action { side: Side::Src, act: Act::Filter { pattern, on } });
        }
        if synced
            && !first
            && (self.features.dest_edits || self.features.dest_adds)
            && self.rng.u32(..100) < 15
        {
            for _ in 0..self.rng.usize(1..=2) {
                out.extend(self.dest_change(d1, d2, &snap));
            }
        }
        out.extend(self.keep_visible(src, d2));
        out
    }

    /// Moves the mtime of every source file that the step left with the size and the whole second of its copy at
    /// D2 (and another nanosecond or other bytes) one second on: rsync -a compares mtimes to the second, so such
    /// a change is one it is not asked to see (and leaves the nanoseconds stale even with -c). Rewrites that keep
    /// the exact mtime stay when the test compares content (`same_size_same_mtime`).
    fn keep_visible(&mut self, src: &Path, d2: &Path) -> Vec<Action> {
        let (s, d) = (snapshot(src, false, false), snapshot(d2, false, false));
        let mut out = Vec::new();
        for (p, n) in &s.nodes {
            let (Node::File { len, mtime, .. }, Some(Node::File { len: l2, mtime: t2, .. })) =
                (n, d.get(p))
            else {
                continue;
            };
            if len != l2 || mtime.sec != t2.sec {
                continue;
            }
            let invisible = if mtime.nsec != t2.nsec {
                true
            } else {
                !self.features.same_size_same_mtime
                    && fs::read(src.join(p)).ok() != fs::read(d2.join(p)).ok()
            };
            if invisible {
                let t = Mtime { sec: mtime.sec + 1, nsec: mtime.nsec };
                let a = Action {
                    side: Side::Src,
                    act: Act::Touch {
                        path: p.clone(),
                        mtime: t,
                        note: "harness: same size and second as at D2, so moved a second on for rsync to see it",
                    },
                };
                a.apply(src);
                out.push(a);
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The two tools
// ---------------------------------------------------------------------------------------------------------------

/// Options given to both tools alike.
#[derive(Clone, Debug, Default)]
pub struct Mode {
    /// `-c` for both.
    pub checksum: bool,
    /// `--delete-excluded` for both.
    pub delete_excluded: bool,
    /// syncwright only: `--trust-dest-manifest` (the destination is not scanned; nobody edits it).
    pub trust_manifest: bool,
    /// syncwright only: `--rescan-dest` (the destination is scanned whatever the manifest says).
    pub rescan: bool,
    /// Both destinations start as a copy of the first source tree (made by rsync -a), as when syncwright takes
    /// over a destination another tool filled.
    pub seeded: bool,
    /// Neither tool gets `--delete` (nor syncwright `--max-delete`): nothing at the destination may go, except
    /// files named like syncwright temporaries that the source does not have (syncwright may take them for
    /// leftovers of its own).
    pub no_delete: bool,
}

/// A scratch folder with S, D1 (syncwright), D2 (rsync) and syncwright's state folder.
pub struct Pair {
    dir: Option<tempfile::TempDir>,
    pub root: PathBuf,
    pub src: PathBuf,
    pub d1: PathBuf,
    pub d2: PathBuf,
    pub state: PathBuf,
    pub mode: Mode,
}

impl Pair {
    pub fn new(mode: Mode) -> Pair {
        let dir = tempfile::Builder::new().prefix("swdiff-").tempdir().expect("create temp dir");
        let root = dir.path().to_path_buf();
        let (src, d1, d2, state) =
            (root.join("S"), root.join("D1"), root.join("D2"), root.join("state"));
        fs::create_dir(&src).unwrap();
        chmod(&src, 0o755);
        fs::create_dir(&state).unwrap();
        let dir = if keep_scratch() {
            eprintln!("scratch kept at {}", root.display());
            let _ = dir.keep();
            None
        } else {
            Some(dir)
        };
        Pair { dir, root, src, d1, d2, state, mode }
    }

    /// `syncwright` with this pair's state folder (flag and environment), run in the scratch folder (so that S,
    /// D1, D2 are valid relative paths).
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(&self.root)
            .env("SYNCWRIGHT_STATE_DIR", &self.state)
            .env("NO_COLOR", "1")
            .arg("--state-dir")
            .arg(&self.state)
            .stdin(Stdio::null());
        c
    }

    /// `syncwright ARGS` (see [`Pair::cmd`]).
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run syncwright")
    }

    /// `syncwright sync S D1 --delete --max-delete 1000000 ...` with this pair's state folder.
    pub fn syncwright_cmd(&self, filters: &[Pattern], extra: &[&str]) -> Command {
        let mut c = self.cmd();
        c.arg("sync").arg(&self.src).arg(&self.d1).arg("--no-progress");
        if !self.mode.no_delete {
            c.args(["--delete", "--max-delete", "1000000"]);
        }
        for p in filters {
            c.arg("--exclude").arg(p.syncwright);
        }
        if self.mode.checksum {
            c.arg("--checksum");
        }
        if self.mode.delete_excluded {
            c.arg("--delete-excluded");
        }
        if self.mode.trust_manifest {
            c.arg("--trust-dest-manifest");
        }
        if self.mode.rescan {
            c.arg("--rescan-dest");
        }
        if let Some(more) = env("SYNCWRIGHT_DIFF_SYNCWRIGHT_ARGS") {
            c.args(more.split_whitespace());
        }
        c.args(extra);
        c
    }

    pub fn syncwright(&self, filters: &[Pattern], extra: &[&str]) -> Output {
        self.syncwright_cmd(filters, extra).output().expect("run syncwright")
    }

    /// The same command line as a shell string (for reproductions).
    pub fn syncwright_shell(&self, filters: &[Pattern]) -> String {
        let mut s = "syncwright sync S D1".to_string();
        if !self.mode.no_delete {
            s.push_str(" --delete --max-delete 1000000");
        }
        for p in filters {
            let _ = write!(s, " --exclude {}", sh_quote(p.syncwright));
        }
        if self.mode.checksum {
            s.push_str(" --checksum");
        }
        if self.mode.delete_excluded {
            s.push_str(" --delete-excluded");
        }
        if self.mode.trust_manifest {
            s.push_str(" --trust-dest-manifest");
        }
        if self.mode.rescan {
            s.push_str(" --rescan-dest");
        }
        if let Some(more) = env("SYNCWRIGHT_DIFF_SYNCWRIGHT_ARGS") {
            let _ = write!(s, " {more}");
        }
        s
    }

    fn rsync_args(&self, filters: &[Pattern]) -> Vec<String> {
        let mut a = vec!["-a".to_string()];
        if !self.mode.no_delete {
            a.push("--delete".into());
        }
        if self.mode.delete_excluded {
            a.push("--delete-excluded".into());
        }
        if self.mode.checksum {
            a.push("-c".into());
        }
        for p in filters {
            a.push(format!("--exclude={}", p.rsync));
        }
        a
    }

    /// `rsync -a --delete ... S/ D2/`.
    pub fn rsync(&self, filters: &[Pattern]) -> Output {
        let out = Command::new("rsync")
            .args(self.rsync_args(filters))
            .arg(format!("{}/", self.src.display()))
            .arg(format!("{}/", self.d2.display()))
            .stdin(Stdio::null())
            .output()
            .expect("run rsync (is it installed?)");
        // 23: some files could not be transferred (rsync keeps a folder that holds excluded files instead of
        // deleting it, and says so); anything else is the harness's problem.
        let code = out.status.code();
        assert!(matches!(code, Some(0 | 23 | 24)), "rsync failed: {}", show(&out));
        out
    }

    pub fn rsync_shell(&self, filters: &[Pattern]) -> String {
        let args: Vec<String> = self.rsync_args(filters).iter().map(|a| sh_quote(a)).collect();
        format!("rsync {} S/ D2/", args.join(" "))
    }

    /// [`compare`], less what this mode allows: without `--delete`, files named like syncwright temporaries that
    /// the source does not have may be gone from D1.
    pub fn differences(&self, d1: &Snap, d2: &Snap, src: &Snap) -> Vec<Difference> {
        let mut diffs = compare(d1, d2);
        if self.mode.no_delete {
            diffs.retain(|d| {
                !(d.class == "missing"
                    && temp_like(&name_of(&d.path))
                    && src.get(&d.path).is_none())
            });
        }
        diffs
    }

    /// D1 and D2 := copies of S by `rsync -a` (for [`Mode::seeded`]).
    pub fn seed_destinations(&self) {
        for d in [&self.d1, &self.d2] {
            let out = Command::new("rsync")
                .arg("-a")
                .arg(format!("{}/", self.src.display()))
                .arg(format!("{}/", d.display()))
                .output()
                .unwrap();
            assert!(out.status.success(), "seed {}: {}", d.display(), show(&out));
        }
    }

    /// D1 := D2 and D1's manifest removed (continue mode, after a discrepancy).
    pub fn reset_d1(&self) {
        let out = Command::new("rsync")
            .args(["-a", "--delete", "--exclude=/.syncwright"])
            .arg(format!("{}/", self.d2.display()))
            .arg(format!("{}/", self.d1.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "reset D1: {}", show(&out));
        let _ = fs::remove_dir_all(self.d1.join(".syncwright"));
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            // A folder of mode 0500 and the like would not go otherwise (when not root).
            for (p, n) in snapshot(d.path(), false, false).nodes {
                if matches!(n, Node::Dir { .. }) {
                    let _ =
                        fs::set_permissions(d.path().join(p), fs::Permissions::from_mode(0o755));
                }
            }
            drop(d);
        }
    }
}

pub fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

pub fn show(o: &Output) -> String {
    let cut = |b: &[u8]| {
        let s = String::from_utf8_lossy(b);
        if s.len() > 6000 {
            let mut i = 6000;
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            format!("{}... ({} bytes)", &s[..i], s.len())
        } else {
            s.into_owned()
        }
    };
    format!(
        "status: {:?}\n  stdout: {}\n  stderr: {}",
        o.status,
        cut(&o.stdout).trim_end(),
        cut(&o.stderr).trim_end()
    )
}

/// The differences, one per line, each with what the source has there and whether a filter excludes it.
pub fn describe(diffs: &[Difference], src: &Snap, d2: &Snap, filters: &[Pattern]) -> String {
    const SHOWN: usize = 40;
    let mut s = String::new();
    for d in diffs.iter().take(SHOWN) {
        let at_src = src.get(&d.path).map_or("nothing".to_string(), |n| n.to_string());
        let excl = excluded_by(filters, &[src, d2], &d.path)
            .map_or(String::new(), |p| format!(" [excluded by {}]", sh_quote(p.syncwright)));
        let _ = writeln!(
            s,
            "  {:?}: {}: {}\n      source has {at_src}{excl}",
            d.path, d.class, d.detail
        );
    }
    if diffs.len() > SHOWN {
        let _ = writeln!(s, "  ... and {} more", diffs.len() - SHOWN);
    }
    s
}

// ---------------------------------------------------------------------------------------------------------------
// One step checked
// ---------------------------------------------------------------------------------------------------------------

pub fn report_json(o: &Output) -> Option<Value> {
    serde_json::from_slice(&o.stdout).ok()
}

/// A SyncReport without its plan: status, stats, errors, warnings, fatal.
pub fn report_summary(o: &Output) -> String {
    match report_json(o) {
        Some(v) => {
            let pick = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
            format!(
                "status {} stats {} errors {} warnings {} fatal {}",
                pick("status"),
                pick("stats"),
                pick("errors"),
                pick("warnings"),
                pick("fatal")
            )
        }
        None => show(o),
    }
}

pub fn stat(v: &Value, k: &str) -> u64 {
    v["stats"][k].as_u64().unwrap_or(0)
}

/// What one step found wrong (empty: nothing).
pub struct StepCheck {
    pub problems: String,
    pub rsync_ok: bool,
}

/// Runs syncwright and rsync after a step and says what differs.
pub fn check_step(pair: &Pair, filters: &[Pattern], idempotence: bool) -> StepCheck {
    let sw = pair.syncwright(filters, &["--json"]);
    let rs = pair.rsync(filters);
    let (s1, s2) = (snapshot(&pair.d1, true, true), snapshot(&pair.d2, false, true));
    let src = snapshot(&pair.src, false, false);
    let mut problems = String::new();
    let (c1, c2) = (code(&sw), code(&rs));
    let rsync_ok = c2 == Some(0);
    // When rsync itself cannot do everything (a folder that holds excluded files, or without --delete one that
    // is not empty, where the source has a file now), syncwright may end partial or failed too.
    let code_ok = if rsync_ok { c1 == Some(0) } else { matches!(c1, Some(0 | 1 | 3)) };
    if !code_ok && !tolerate_exit_codes() {
        let _ = writeln!(
            problems,
            "syncwright exited {c1:?} where rsync exited {c2:?} (expected {})",
            if rsync_ok { "0" } else { "0, 1 or 3" }
        );
    }
    let mut diffs = pair.differences(&s1, &s2, &src);
    // Where rsync fails part of a run and still deletes, syncwright refuses every delete of a run with an error
    // (and says so with `deletes_skipped`): it keeps more than rsync, never less.
    let deletes_skipped = report_json(&sw).is_some_and(|v| {
        v["warnings"].as_array().is_some_and(|w| w.iter().any(|w| w["reason"] == "deletes_skipped"))
    });
    if !rsync_ok && deletes_skipped {
        diffs.retain(|d| d.class != "extra");
    }
    if !diffs.is_empty() {
        let _ = write!(
            problems,
            "D1 (syncwright) and D2 (rsync) differ in {} ways:\n{}",
            diffs.len(),
            describe(&diffs, &src, &s2, filters)
        );
    }
    let mut again_out = None;
    if problems.is_empty() && rsync_ok && idempotence {
        // A second run right away has nothing to do and changes nothing.
        let again = pair.syncwright(filters, &["--json"]);
        let changed = report_json(&again).map(|v| {
            stat(&v, "created")
                + stat(&v, "updated")
                + stat(&v, "deleted")
                + stat(&v, "dirs_created")
        });
        let diffs = pair.differences(&snapshot(&pair.d1, true, true), &s2, &src);
        if (code(&again) != Some(0) && !tolerate_exit_codes())
            || changed != Some(0)
            || !diffs.is_empty()
        {
            let _ = write!(
                problems,
                "a second syncwright run right after a clean one was not a no-op (exit {:?}, {changed:?} entries \
                 written or deleted){}\n{}",
                code(&again),
                if diffs.is_empty() {
                    String::new()
                } else {
                    ", and D1 now differs from D2:".into()
                },
                describe(&diffs, &src, &s2, filters)
            );
            again_out = Some(again);
        }
    }
    if !problems.is_empty() {
        let _ = writeln!(problems, "syncwright: {}", report_summary(&sw));
        if let Some(a) = again_out {
            let _ = writeln!(problems, "second syncwright run: {}", report_summary(&a));
        }
        let _ = writeln!(problems, "rsync: {}", show(&rs));
    }
    StepCheck { problems, rsync_ok }
}

pub fn shell_lines(acts: &[Action]) -> String {
    acts.iter().map(|a| format!("    {}\n", a.shell())).collect()
}
