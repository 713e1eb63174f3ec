//! Change detection: a source manifest against a destination manifest -> [`Plan`].

use super::filter::Filter;
use super::plan::{Action, CompareMode, DestChangedPolicy, Op, Plan, Reason};
use super::{Entry, EntryKind, Manifest, SCHEMA_VERSION};
use crate::error::{Error, ErrorKind};
use crate::report::{ErrorAction, FileError};
use std::collections::{BTreeMap, HashMap, HashSet};
use unicode_normalization::UnicodeNormalization;

/// What a destination can hold, for name checks at plan time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRules {
    /// `A.png` and `a.png` are the same name there.
    pub case_insensitive: bool,
    /// NFC and NFD spellings of a name are the same name there.
    pub normalizes_unicode: bool,
    /// Longest whole relative path in bytes (S3: 1,024).
    pub max_path_bytes: Option<usize>,
    /// Longest single name in bytes (most file systems: 255).
    pub max_name_bytes: Option<usize>,
    /// Whether symlinks can be created.
    pub symlinks: bool,
    /// Whether names may hold ASCII control characters (S3 keys may not: they cannot be listed back).
    pub control_chars: bool,
}

impl Default for NameRules {
    fn default() -> Self {
        NameRules {
            case_insensitive: false,
            normalizes_unicode: false,
            max_path_bytes: None,
            max_name_bytes: Some(255),
            symlinks: true,
            control_chars: true,
        }
    }
}

/// How to diff.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// How entries are compared.
    pub compare: CompareMode,
    /// mtimes closer than this (nanoseconds) are equal. A destination mtime that is a whole multiple of
    /// `dest_precision_ns` (as a listing gives it) is compared within that precision too.
    pub modify_window_ns: i64,
    /// The granularity of the destination's mtimes (1 for local disks): a scanned destination entry is still the
    /// one syncwright recorded when its mtime matches to this precision.
    pub dest_precision_ns: i64,
    /// Mirror mode: plan deletes of entries only at the destination.
    pub delete: bool,
    /// Source files modified after this time (ns since the epoch) are busy and left for the next run.
    pub busy_after_ns: Option<i64>,
    /// The destination's limits.
    pub rules: NameRules,
    /// List identical entries as `keep` actions (for the combined report).
    pub list_identical: bool,
    /// Destination paths whose live entry differs from what syncwright recorded there (edited or removed behind
    /// its back): their actions get the reason `dest_changed`.
    pub changed: HashSet<String>,
    /// The run's filters, when destination entries they exclude are protected from mirror deletes (all but
    /// `delete_excluded` runs).
    pub protect: Option<Filter>,
    /// What to do with `dest_changed` entries.
    pub dest_changed: DestChangedPolicy,
}

fn mtime_equal(a: i64, b: i64, window: i64) -> bool {
    (a - b).abs() <= window
}

/// Whether two files hold the same content, by the fastest hash both sides know (BLAKE3, then SHA-256); None
/// when they share none.
fn same_content(a: &Entry, b: &Entry) -> Option<bool> {
    if let (Some(x), Some(y)) = (a.hashes.blake3_raw(), b.hashes.blake3_raw()) {
        return Some(x == y);
    }
    if let (Some(x), Some(y)) = (a.hashes.sha256_raw(), b.hashes.sha256_raw()) {
        return Some(x == y);
    }
    None
}

/// Compares one entry present on both sides; `None` when identical.
fn compare_both(s: &Entry, d: &Entry, o: &DiffOptions) -> Option<(Op, Reason)> {
    if s.kind != d.kind {
        let op = match s.kind {
            EntryKind::File => Op::Copy,
            EntryKind::Symlink => Op::Symlink,
            EntryKind::Dir => Op::Mkdir,
        };
        return Some((op, Reason::TypeChanged));
    }
    match s.kind {
        EntryKind::Dir => (s.mode != d.mode).then_some((Op::SetMeta, Reason::ModeChanged)),
        EntryKind::Symlink => {
            (s.target != d.target).then_some((Op::Symlink, Reason::ContentMismatch))
        }
        EntryKind::File => {
            if s.size != d.size {
                return Some((Op::Copy, Reason::SizeChanged));
            }
            // A destination that keeps coarser mtimes (SFTP: whole seconds) lists them truncated; a recorded
            // entry carries the source's exact one. A whole multiple of the precision is taken for a listing's.
            let p = o.dest_precision_ns;
            let window = if p > 1 && d.mtime_ns.rem_euclid(p) == 0 {
                o.modify_window_ns.max(p - 1)
            } else {
                o.modify_window_ns
            };
            let same_time = mtime_equal(s.mtime_ns, d.mtime_ns, window);
            match o.compare {
                CompareMode::SizeOnly => {}
                CompareMode::SizeMtime => {
                    if !same_time {
                        let r = if s.mtime_ns > d.mtime_ns { Reason::Newer } else { Reason::Older };
                        return Some((Op::Copy, r));
                    }
                }
                CompareMode::Checksum => match same_content(s, d) {
                    Some(true) => {
                        if !same_time {
                            return Some((Op::SetMeta, Reason::MtimeChanged));
                        }
                    }
                    _ => return Some((Op::Copy, Reason::ContentMismatch)),
                },
            }
            (s.mode != d.mode).then_some((Op::SetMeta, Reason::ModeChanged))
        }
    }
}

fn create_op(s: &Entry, rules: &NameRules) -> (Op, Reason) {
    match s.kind {
        EntryKind::File => (Op::Copy, Reason::New),
        EntryKind::Dir => (Op::Mkdir, Reason::New),
        EntryKind::Symlink if rules.symlinks => (Op::Symlink, Reason::New),
        EntryKind::Symlink => (Op::Skip, Reason::Unsupported),
    }
}

/// The key under which two names are the same on the destination.
fn name_key(path: &str, rules: &NameRules) -> String {
    let p: String = if rules.normalizes_unicode { path.nfc().collect() } else { path.to_string() };
    if rules.case_insensitive { p.to_lowercase() } else { p }
}

/// Source entries that the destination cannot hold: over-long names, and names that collide with each other there.
fn name_errors(src: &Manifest, rules: &NameRules) -> HashMap<String, FileError> {
    let mut bad = HashMap::new();
    for e in &src.entries {
        if !rules.control_chars
            && let Some(c) = e.path.chars().find(char::is_ascii_control)
        {
            let err = Error::invalid(format!(
                "path {:?} holds the control character {c:?}, which the destination cannot hold",
                e.path
            ));
            bad.insert(e.path.clone(), FileError::new(ErrorAction::Plan, &e.path, &err));
            continue;
        }
        if let Some(max) = rules.max_path_bytes
            && e.path.len() > max
        {
            let err = Error::invalid(format!(
                "path is {} bytes; the destination allows at most {max}",
                e.path.len()
            ));
            bad.insert(e.path.clone(), FileError::new(ErrorAction::Plan, &e.path, &err));
            continue;
        }
        if let Some(max) = rules.max_name_bytes
            && let Some(c) = e.path.split('/').find(|c| c.len() > max)
        {
            let err = Error::invalid(format!(
                "name {c:?} is {} bytes; the destination allows at most {max}",
                c.len()
            ));
            bad.insert(e.path.clone(), FileError::new(ErrorAction::Plan, &e.path, &err));
        }
    }
    if !needs_keys(rules) {
        return bad;
    }
    let mut by_key: HashMap<String, Vec<&str>> = HashMap::new();
    for e in &src.entries {
        by_key.entry(name_key(&e.path, rules)).or_default().push(&e.path);
    }
    for paths in by_key.values().filter(|p| p.len() > 1) {
        for p in paths {
            let with: Vec<&str> = paths.iter().copied().filter(|o| o != p).collect();
            bad.insert(p.to_string(), collision(p, &with));
        }
    }
    bad
}

fn needs_keys(rules: &NameRules) -> bool {
    rules.case_insensitive || rules.normalizes_unicode
}

fn collision(p: &str, with: &[&str]) -> FileError {
    let err = Error::invalid(format!(
        "{p:?} and {with:?} would be the same name on the destination (case-insensitive or Unicode-normalising); \
         rename one of them"
    ));
    FileError::new(ErrorAction::Plan, p, &err)
}

/// Computes the plan that makes `dst` hold what `src` holds.
pub fn diff(src: &Manifest, dst: &Manifest, o: &DiffOptions) -> Plan {
    let mut d = Differ::new(src, o);
    for e in &dst.entries {
        d.push_dest(e);
    }
    d.finish()
}

/// The plan built one destination entry at a time, so that a destination manifest streams through without being
/// held in memory. Destination entries must come sorted by path (as manifests store them).
pub struct Differ<'a> {
    src: &'a Manifest,
    o: &'a DiffOptions,
    next: usize,
    plan: Plan,
    identical: u64,
    bad: HashMap<String, FileError>,
    /// Destination-name key -> source path, when the destination folds names.
    src_keys: Option<HashMap<String, &'a str>>,
    /// Source paths found to collide with a different destination name.
    late_bad: Vec<(String, String)>,
    /// Source files and links that replace a folder at the destination -> how many entries that folder holds.
    replaced: BTreeMap<String, u64>,
    /// The last destination folder checked for a replacing source entry above it, and what was found.
    last_parent: Option<(String, Option<String>)>,
    /// Files and links at the destination.
    dest_files: u64,
    /// The folder of the last destination entry whose folders were looked at.
    last_dest_parent: Option<String>,
    /// Replaced folders holding entries the filters protect: they cannot go.
    held: HashSet<String>,
}

impl<'a> Differ<'a> {
    /// A differ of `src` against a destination to be pushed.
    pub fn new(src: &'a Manifest, o: &'a DiffOptions) -> Differ<'a> {
        let src_keys = needs_keys(&o.rules).then(|| {
            src.entries.iter().map(|e| (name_key(&e.path, &o.rules), e.path.as_str())).collect()
        });
        Differ {
            src,
            o,
            next: 0,
            plan: Plan { schema_version: SCHEMA_VERSION, compare: o.compare, ..Default::default() },
            identical: 0,
            bad: name_errors(src, &o.rules),
            src_keys,
            late_bad: Vec::new(),
            replaced: BTreeMap::new(),
            last_parent: None,
            dest_files: 0,
            last_dest_parent: None,
            held: HashSet::new(),
        }
    }

    /// The nearest folder above `path` that is a file or link at the source (so the destination's folder there
    /// is replaced), if any.
    fn replacing_ancestor(&mut self, path: &str) -> Option<String> {
        let parent = path.rsplit_once('/')?.0;
        if let Some((p, found)) = &self.last_parent
            && p == parent
        {
            return found.clone();
        }
        let s = &self.src.entries;
        let mut found = None;
        let mut p = parent;
        loop {
            if let Ok(i) = s.binary_search_by(|e| e.path.as_str().cmp(p))
                && s[i].kind != EntryKind::Dir
            {
                found = Some(p.to_string());
            }
            match p.rsplit_once('/') {
                Some((up, _)) => p = up,
                None => break,
            }
        }
        self.last_parent = Some((parent.to_string(), found.clone()));
        found
    }

    /// The next destination entry.
    pub fn push_dest(&mut self, d: &Entry) {
        if let Some(keys) = &self.src_keys
            && let Some(p) = keys.get(&name_key(&d.path, &self.o.rules))
            && *p != d.path
        {
            self.late_bad.push((p.to_string(), d.path.clone()));
        }
        if d.kind != EntryKind::Dir {
            self.dest_files += 1;
        }
        let s = &self.src.entries;
        while self.next < s.len() && s[self.next].path < d.path {
            self.next += 1;
            self.emit(Some(&s[self.next - 1]), None);
        }
        self.folder_exists_at_dest(&d.path);
        if self.next < s.len() && s[self.next].path == d.path {
            self.next += 1;
            self.emit(Some(&s[self.next - 1]), Some(d));
        } else if let Some(a) = self.replacing_ancestor(&d.path) {
            // Inside a folder the source has as a file or link: it goes with its folder (mirror mode only), unless
            // the filters protect it (then the folder stays).
            if self
                .o
                .protect
                .as_ref()
                .is_some_and(|f| f.excludes(&d.path, d.kind == EntryKind::Dir))
            {
                self.held.insert(a.clone());
            }
            *self.replaced.entry(a).or_default() += 1;
            let op = if self.o.delete { Op::Delete } else { Op::Keep };
            let reason = if self.o.delete { Reason::TypeChanged } else { Reason::MissingAtSource };
            let mut a = action(op, reason, d, d);
            a.entry = Some(d.clone());
            self.plan.actions.push(a);
        } else {
            self.emit(None, Some(d));
        }
    }

    /// A destination entry below `path`'s folders shows that they exist there: a source's empty folder among them
    /// needs no mkdir (it is identical).
    fn folder_exists_at_dest(&mut self, path: &str) {
        let Some((parent, _)) = path.rsplit_once('/') else { return };
        if self.last_dest_parent.as_deref() == Some(parent) {
            return;
        }
        self.last_dest_parent = Some(parent.to_string());
        let mut p = parent;
        loop {
            let acts = &mut self.plan.actions;
            if let Ok(i) = acts.binary_search_by(|x| x.path.as_str().cmp(p))
                && acts[i].op == Op::Mkdir
                && acts[i].reason == Reason::New
            {
                acts.remove(i);
                self.identical += 1;
            }
            match p.rsplit_once('/') {
                Some((up, _)) => p = up,
                None => break,
            }
        }
    }

    /// Settles the folders the source replaces with a file or link: in mirror mode the action replacing each
    /// is marked `type_changed` (its entries are deleted first); without it, replacing would delete a folder's
    /// content, so the path is a `conflict` error and everything stays.
    fn settle_replacements(&mut self) {
        let replaced = std::mem::take(&mut self.replaced);
        let mut inactive: Vec<&str> = Vec::new();
        for (a, n) in &replaced {
            let acts = &mut self.plan.actions;
            let Ok(i) = acts.binary_search_by(|x| x.path.as_str().cmp(a)) else {
                inactive.push(a);
                continue;
            };
            if !matches!(acts[i].op, Op::Copy | Op::Symlink) {
                inactive.push(a);
                continue;
            }
            if self.held.contains(a) {
                acts.remove(i);
                inactive.push(a);
                let e = Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "{a} is a folder at the destination and a file or link at the source: not replaced, \
                         because the folder holds entries the filters exclude"
                    ),
                )
                .with_path(a.as_str());
                self.plan.errors.push(FileError::new(ErrorAction::Copy, a.as_str(), &e));
            } else if self.o.delete {
                let x = &mut acts[i];
                x.reason = Reason::TypeChanged;
                let mtime = x.entry.as_ref().map_or(0, |e| e.mtime_ns);
                x.dest = Some(Entry {
                    path: a.clone(),
                    kind: EntryKind::Dir,
                    size: 0,
                    mtime_ns: mtime,
                    mode: 0o755,
                    target: None,
                    hashes: Default::default(),
                });
            } else {
                acts.remove(i);
                let e = Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "{a} is a folder at the destination ({n} entries) and a file or link at the source: \
                         replacing it deletes the folder's content, which needs delete (mirror mode)"
                    ),
                )
                .with_path(a.as_str());
                self.plan.errors.push(FileError::new(ErrorAction::Copy, a.as_str(), &e));
            }
        }
        if !inactive.is_empty() {
            // The replacing entry is not written this run (busy, say): its folder's entries stay.
            for x in self.plan.actions.iter_mut() {
                if x.op == Op::Delete
                    && x.reason == Reason::TypeChanged
                    && inactive
                        .iter()
                        .any(|a| x.path.strip_prefix(a).is_some_and(|r| r.starts_with('/')))
                {
                    x.op = Op::Keep;
                    x.reason = Reason::MissingAtSource;
                }
            }
        }
        self.plan.errors.sort_by(|a, b| a.path.cmp(&b.path));
    }

    /// The plan, once every destination entry was pushed.
    pub fn finish(mut self) -> Plan {
        let s = &self.src.entries;
        while self.next < s.len() {
            self.next += 1;
            self.emit(Some(&s[self.next - 1]), None);
        }
        if !self.late_bad.is_empty() {
            let late: HashMap<String, String> =
                std::mem::take(&mut self.late_bad).into_iter().collect();
            self.plan.actions.retain(|a| !late.contains_key(&a.path));
            for (p, d) in late {
                self.plan.errors.push(collision(&p, &[d.as_str()]));
            }
            self.plan.errors.sort_by(|a, b| a.path.cmp(&b.path));
        }
        if !self.replaced.is_empty() {
            self.settle_replacements();
        }
        self.plan.totals.identical = self.identical;
        self.plan.totals.dest_files = self.dest_files;
        self.plan.recount();
        self.plan
    }

    fn emit(&mut self, se: Option<&Entry>, de: Option<&Entry>) {
        let o = self.o;
        let plan = &mut self.plan;
        let path = se.or(de).map(|e| e.path.as_str()).unwrap_or_default();
        if let Some(err) = self.bad.get(path) {
            plan.errors.push(err.clone());
            return;
        }
        let (op, reason) = match (se, de) {
            (Some(se), None) => create_op(se, &o.rules),
            (Some(se), Some(de)) => match compare_both(se, de, o) {
                Some(x) => x,
                None => {
                    self.identical += 1;
                    if o.list_identical {
                        plan.actions.push(action(Op::Keep, Reason::Identical, se, de));
                    }
                    return;
                }
            },
            (None, Some(de))
                if de.kind == EntryKind::Dir && source_has_children(self.src, &de.path) =>
            {
                // An empty folder at the destination that the source has with content: the same folder.
                self.identical += 1;
                return;
            }
            (None, Some(de)) => {
                if de.kind != EntryKind::Dir && source_has_children(self.src, &de.path) {
                    // A file or link where the source has a folder: replaced by the folder (before the folder's
                    // files are copied), as any overwrite.
                    let dir = Entry {
                        path: de.path.clone(),
                        kind: EntryKind::Dir,
                        size: 0,
                        mtime_ns: de.mtime_ns,
                        mode: 0o755,
                        target: None,
                        hashes: Default::default(),
                    };
                    let mut a = action(Op::Mkdir, Reason::TypeChanged, &dir, de);
                    if o.changed.contains(&de.path) {
                        a.reason = Reason::DestChanged;
                    }
                    plan.actions.push(a);
                    return;
                }
                let protected = o
                    .protect
                    .as_ref()
                    .is_some_and(|f| f.excludes(&de.path, de.kind == EntryKind::Dir));
                let op = if o.delete && !protected { Op::Delete } else { Op::Keep };
                (op, Reason::MissingAtSource)
            }
            (None, None) => return,
        };
        // Busy source files are left for the next run, whatever they would have needed.
        let busy = se.is_some_and(|e| {
            e.kind == EntryKind::File && o.busy_after_ns.is_some_and(|t| e.mtime_ns > t)
        });
        let (mut op, mut reason) =
            if busy && op != Op::Keep { (Op::Skip, Reason::Busy) } else { (op, reason) };
        if matches!(op, Op::Copy | Op::Symlink | Op::Mkdir | Op::Delete | Op::SetMeta)
            && o.changed.contains(path)
        {
            reason = Reason::DestChanged;
            if o.dest_changed == DestChangedPolicy::Skip {
                op = Op::Skip;
            } else if o.dest_changed == DestChangedPolicy::KeepBoth && op == Op::Delete {
                op = Op::Keep;
            }
        }
        let entry = se.or(de).expect("one side");
        let mut a = action(op, reason, entry, de.unwrap_or(entry));
        if de.is_none() {
            a.dest = None;
        }
        if se.is_none() {
            a.entry = de.cloned();
        }
        plan.actions.push(a);
    }
}

/// Whether `src` has entries below `path` (so `path` is a folder there).
fn source_has_children(src: &Manifest, path: &str) -> bool {
    let prefix = format!("{path}/");
    let s = &src.entries;
    let i = s.partition_point(|e| e.path.as_str() < prefix.as_str());
    s.get(i).is_some_and(|e| e.path.starts_with(&prefix))
}

fn action(op: Op, reason: Reason, entry: &Entry, dest: &Entry) -> Action {
    Action {
        op,
        path: entry.path.clone(),
        reason,
        size: if op == Op::Copy { entry.size } else { 0 },
        entry: Some(entry.clone()),
        dest: Some(dest.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::SHA256;

    fn m(entries: Vec<Entry>) -> Manifest {
        let mut m = Manifest::new("t", "/x");
        m.entries = entries;
        m.normalise().unwrap();
        m
    }

    fn f(p: &str, size: u64, mtime: i64) -> Entry {
        Entry::file(p, size, mtime, 0o644)
    }

    fn hashed(mut e: Entry, h: &str) -> Entry {
        e.hashes.insert(SHA256, h.repeat(32));
        e
    }

    fn ops(p: &Plan) -> Vec<(String, Op, Reason)> {
        p.actions.iter().map(|a| (a.path.clone(), a.op, a.reason)).collect()
    }

    #[test]
    fn reasons_by_compare_mode() {
        let src = m(vec![
            f("new", 1, 1),
            f("size", 2, 1),
            f("newer", 1, 5),
            f("older", 1, 1),
            f("same", 1, 1),
        ]);
        let dst = m(vec![
            f("size", 3, 1),
            f("newer", 1, 1),
            f("older", 1, 5),
            f("same", 1, 1),
            f("gone", 1, 1),
        ]);
        let p = diff(&src, &dst, &DiffOptions::default());
        assert_eq!(
            ops(&p),
            vec![
                ("gone".into(), Op::Keep, Reason::MissingAtSource),
                ("new".into(), Op::Copy, Reason::New),
                ("newer".into(), Op::Copy, Reason::Newer),
                ("older".into(), Op::Copy, Reason::Older),
                ("size".into(), Op::Copy, Reason::SizeChanged),
            ]
        );
        assert_eq!(p.totals.identical, 1);
        assert_eq!(p.totals.copy_files, 4);
        assert_eq!(p.totals.copy_bytes, 5);
        assert_eq!(p.totals.new_files, 1);
        assert_eq!(p.combined(), "- gone\n+ new\n* newer\n* older\n* size\n");

        let p = diff(
            &src,
            &dst,
            &DiffOptions { compare: CompareMode::SizeOnly, delete: true, ..Default::default() },
        );
        assert_eq!(
            ops(&p),
            vec![
                ("gone".into(), Op::Delete, Reason::MissingAtSource),
                ("new".into(), Op::Copy, Reason::New),
                ("size".into(), Op::Copy, Reason::SizeChanged),
            ]
        );
        let win = DiffOptions { modify_window_ns: 4, ..Default::default() };
        assert_eq!(diff(&src, &dst, &win).totals.copy_files, 2);
    }

    #[test]
    fn checksum_mode_fixes_mtime_without_copying() {
        let src = m(vec![hashed(f("a", 1, 9), "aa"), hashed(f("b", 1, 1), "bb"), f("c", 1, 1)]);
        let dst = m(vec![
            hashed(f("a", 1, 1), "aa"),
            hashed(f("b", 1, 1), "cc"),
            hashed(f("c", 1, 1), "cc"),
        ]);
        let p =
            diff(&src, &dst, &DiffOptions { compare: CompareMode::Checksum, ..Default::default() });
        assert_eq!(
            ops(&p),
            vec![
                ("a".into(), Op::SetMeta, Reason::MtimeChanged),
                ("b".into(), Op::Copy, Reason::ContentMismatch),
                ("c".into(), Op::Copy, Reason::ContentMismatch),
            ]
        );
    }

    #[test]
    fn busy_files_wait_and_are_not_deleted() {
        let src = m(vec![f("hot", 1, 100), f("cold", 1, 1)]);
        let dst = m(vec![f("hot", 2, 1)]);
        let o = DiffOptions { busy_after_ns: Some(50), delete: true, ..Default::default() };
        assert_eq!(
            ops(&diff(&src, &dst, &o)),
            vec![("cold".into(), Op::Copy, Reason::New), ("hot".into(), Op::Skip, Reason::Busy)]
        );
    }

    #[test]
    fn collisions_and_long_names_are_errors() {
        let nfc = "caf\u{e9}";
        let nfd = "cafe\u{301}";
        let src =
            m(vec![f("A.png", 1, 1), f("a.png", 1, 1), f(nfc, 1, 1), f(nfd, 1, 1), f("ok", 1, 1)]);
        let dst = m(vec![]);
        // A case-sensitive, non-normalising destination holds all of them.
        assert_eq!(diff(&src, &dst, &DiffOptions::default()).totals.copy_files, 5);
        let rules =
            NameRules { case_insensitive: true, normalizes_unicode: true, ..Default::default() };
        let p = diff(&src, &dst, &DiffOptions { rules, ..Default::default() });
        assert_eq!(p.errors.len(), 4);
        assert!(p.errors.iter().all(|e| e.kind == crate::ErrorKind::InvalidInput));
        assert_eq!(ops(&p), vec![("ok".into(), Op::Copy, Reason::New)]);
        assert!(p.combined().contains("! A.png\n"));

        let long = "k".repeat(1025);
        let src = m(vec![f(&long, 1, 1)]);
        let rules =
            NameRules { max_path_bytes: Some(1024), max_name_bytes: None, ..Default::default() };
        let p = diff(&src, &dst, &DiffOptions { rules, ..Default::default() });
        assert_eq!(p.errors.len(), 1);
        assert!(p.actions.is_empty());

        let src = m(vec![f("bell\u{7}.png", 1, 1), f("ok", 1, 1)]);
        assert_eq!(diff(&src, &dst, &DiffOptions::default()).totals.copy_files, 2);
        let rules = NameRules { control_chars: false, ..Default::default() };
        let p = diff(&src, &dst, &DiffOptions { rules, ..Default::default() });
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].kind, crate::ErrorKind::InvalidInput);
        assert_eq!(ops(&p), vec![("ok".into(), Op::Copy, Reason::New)]);
    }

    #[test]
    fn dest_changed_follows_the_policy() {
        let src = m(vec![f("a", 1, 5), f("b", 1, 5)]);
        let live = m(vec![f("a", 9, 9), f("b", 1, 1)]);
        let changed: HashSet<String> = ["a".to_string()].into();
        for (pol, op) in [
            (DestChangedPolicy::Overwrite, Op::Copy),
            (DestChangedPolicy::Skip, Op::Skip),
            (DestChangedPolicy::KeepBoth, Op::Copy),
        ] {
            let o =
                DiffOptions { changed: changed.clone(), dest_changed: pol, ..Default::default() };
            assert_eq!(
                ops(&diff(&src, &live, &o)),
                vec![("a".into(), op, Reason::DestChanged), ("b".into(), Op::Copy, Reason::Newer)]
            );
        }
    }

    #[test]
    fn kinds_and_links() {
        let mut l = f("l", 1, 1);
        l.kind = EntryKind::Symlink;
        l.target = Some("x".into());
        let mut d = f("d", 0, 1);
        d.kind = EntryKind::Dir;
        let src = m(vec![l.clone(), d]);
        let dst = m(vec![f("l", 1, 1)]);
        assert_eq!(
            ops(&diff(&src, &dst, &DiffOptions::default())),
            vec![
                ("d".into(), Op::Mkdir, Reason::New),
                ("l".into(), Op::Symlink, Reason::TypeChanged)
            ]
        );
        let rules = NameRules { symlinks: false, ..Default::default() };
        let p = diff(&m(vec![l]), &m(vec![]), &DiffOptions { rules, ..Default::default() });
        assert_eq!(ops(&p), vec![("l".into(), Op::Skip, Reason::Unsupported)]);
    }
}
