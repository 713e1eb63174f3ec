//! The one directory walk behind every tree scan (a local folder, a folder on an SSH host): filters, syncwright's
//! temporaries and state, symlink modes with loop detection, special files, empty folders and parallel descent
//! are decided here; a [`Tree`] only lists, stats and follows.

use super::filter::{STATE_DIR, temp_fingerprint};
use super::scan::{Part, ScanOptions, TempFile};
use super::{Entry, EntryKind};
use crate::error::{Error, Result};
use crate::report::{ErrorAction, FileError, Warning, WarningReason};
use rayon::prelude::*;
use std::sync::atomic::Ordering;

/// What a listed name is, links not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// One name of a directory listing.
pub(crate) struct Child<M> {
    /// The name (UTF-8; others are left out of listings with a warning).
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// What the listing says of it.
    pub meta: M,
}

/// Where a followed symlink leads.
pub(crate) enum Followed<Id> {
    /// A directory with this id.
    Dir(Id),
    /// A regular file: its entry.
    File(Entry),
    /// A FIFO, socket or device.
    Special,
    /// Nothing.
    Dangling,
    /// A chain of links that never ends.
    Loop,
}

/// A tree that can be walked: local directories, SFTP directories.
pub(crate) trait Tree: Sync {
    /// Where a directory or a name is (what it takes to open it).
    type Dir: Send + Sync;
    /// What identifies a directory, so that `links = follow` does not walk into one of its own ancestors.
    type Id: Clone + PartialEq + Send + Sync;
    /// What a listing says of a name.
    type Meta: Send;

    /// The names in directory `dir` (relative path `rel`). Names that are not UTF-8 and names that cannot be
    /// read go to `part` as warnings and errors; an error is the directory's own.
    fn list(&self, rel: &str, dir: &Self::Dir, part: &mut Part) -> Result<Vec<Child<Self::Meta>>>;
    /// Name `name` in directory `dir`.
    fn join(&self, dir: &Self::Dir, name: &str) -> Self::Dir;
    /// Size and mtime (ns) of a regular file at `at`; None for anything else (or when it cannot be read).
    fn temp_stat(&self, at: &Self::Dir, meta: &Self::Meta) -> Option<(u64, i64)>;
    /// The entry of regular file `rel`.
    fn file(&self, rel: &str, at: &Self::Dir, meta: &Self::Meta) -> Result<Entry>;
    /// The id of directory `name` (at `at`, path `rel`) inside the directory with id `parent`.
    fn dir_id(
        &self,
        rel: &str,
        parent: &Self::Id,
        name: &str,
        at: &Self::Dir,
        meta: &Self::Meta,
    ) -> Result<Self::Id>;
    /// The entry of symlink `rel` kept as a link; None when its target is not UTF-8.
    fn link(&self, rel: &str, at: &Self::Dir, meta: &Self::Meta) -> Result<Option<Entry>>;
    /// Where symlink `rel` leads.
    fn follow(&self, rel: &str, at: &Self::Dir) -> Result<Followed<Self::Id>>;
    /// The entry of directory `rel` itself (recorded when it holds nothing else).
    fn dir_entry(&self, rel: &str, dir: &Self::Dir) -> Option<Entry>;
}

/// Walks `tree` from `root` (whose id is `root_id`) on the current rayon pool; the parts come back unsorted.
pub(crate) fn walk<T: Tree>(tree: &T, opts: &ScanOptions, root: &T::Dir, root_id: T::Id) -> Part {
    Walker { tree, opts }.walk("", root, &[root_id])
}

/// Whether the scan was asked to stop.
pub(crate) fn stopped(opts: &ScanOptions) -> bool {
    opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
}

/// Ends a walk: cancelled, or failed at the root (the root's own error), or its parts in path order.
pub(crate) fn finish(mut part: Part, opts: &ScanOptions) -> Result<Part> {
    if stopped(opts) {
        return Err(Error::cancelled());
    }
    if let Some(e) = part.errors.iter().find(|e| e.path.is_empty()) {
        return Err(Error::new(e.kind, e.error.clone()));
    }
    part.entries.par_sort_unstable_by(|a, b| a.path.cmp(&b.path));
    part.warnings.sort_by(|a, b| a.path.cmp(&b.path));
    part.dirs.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    part.errors.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(part)
}

/// The error of a source entry that cannot be synced (a name that is not UTF-8, a reserved name).
fn unsyncable(path: &str, message: &str) -> FileError {
    FileError::new(ErrorAction::Scan, path, &Error::invalid(message.to_string()))
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") }
}

struct Walker<'a, T: Tree> {
    tree: &'a T,
    opts: &'a ScanOptions,
}

/// A directory still to walk: its path, where it is, its id.
type Pending<T> = (String, <T as Tree>::Dir, <T as Tree>::Id);

impl<T: Tree> Walker<'_, T> {
    fn count(&self) {
        if let Some(c) = &self.opts.counters {
            c.entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn push(&self, part: &mut Part, e: Entry) {
        self.count();
        part.entries.push(e);
    }

    fn error(part: &mut Part, rel: &str, e: &Error) {
        part.errors.push(FileError::new(ErrorAction::Scan, rel, e));
    }

    /// Walks directory `dir` (relative path `rel`, "" for the root); `ancestors` are the ids of the directories
    /// from the root down to and including this one.
    fn walk(&self, rel: &str, dir: &T::Dir, ancestors: &[T::Id]) -> Part {
        let mut part = Part::default();
        if stopped(self.opts) {
            return part;
        }
        let warned = part.warnings.len();
        let children = match self.tree.list(rel, dir, &mut part) {
            Ok(c) => c,
            Err(e) => {
                Self::error(&mut part, rel, &e);
                return part;
            }
        };
        if self.opts.strict {
            // A source's names that cannot be synced are errors: the user has a file that was not copied.
            let (bad, keep): (Vec<Warning>, Vec<Warning>) =
                part.warnings.drain(warned..).partition(|w| w.reason == WarningReason::NonUtf8Name);
            part.warnings.extend(keep);
            for w in bad {
                part.errors.push(unsyncable(&w.path, &w.message));
            }
        }
        let here = ancestors.last().expect("the walk starts with the root's id");
        let mut subdirs: Vec<Pending<T>> = Vec::new();
        for c in children {
            let child = join(rel, &c.name);
            let at = self.tree.join(dir, &c.name);
            if child == STATE_DIR {
                // syncwright's own folder (a destination used as a source has one); anything else by that name
                // cannot be synced, since every destination keeps its state there.
                if c.kind != Kind::Dir && self.opts.strict {
                    part.errors.push(unsyncable(
                        &child,
                        &format!(
                            "{child} at the root is not a folder: the name is syncwright's own state folder at \
                             every destination, so it cannot be synced; rename it"
                        ),
                    ));
                }
                continue;
            }
            // A name of a temporary's form is a candidate: the run decides by the run markers whether it is one
            // (listed) or a user's file (not listed), so it is also walked as a normal entry.
            if let Some(fp) = temp_fingerprint(&c.name)
                && c.kind == Kind::File
                && let Some((size, mtime_ns)) = self.tree.temp_stat(&at, &c.meta)
            {
                part.temps.push(TempFile {
                    path: child.clone(),
                    fingerprint: fp.to_string(),
                    size,
                    mtime_ns,
                });
            }
            match c.kind {
                Kind::Dir => {
                    if self.opts.filter.enter_dir(&child) {
                        match self.tree.dir_id(&child, here, &c.name, &at, &c.meta) {
                            Ok(id) => subdirs.push((child, at, id)),
                            Err(e) => Self::error(&mut part, &child, &e),
                        }
                    }
                }
                Kind::File => {
                    if self.opts.filter.keep(&child) {
                        match self.tree.file(&child, &at, &c.meta) {
                            Ok(e) => self.push(&mut part, e),
                            Err(e) => Self::error(&mut part, &child, &e),
                        }
                    }
                }
                Kind::Symlink => {
                    self.symlink(child, at, &c.meta, ancestors, &mut part, &mut subdirs)
                }
                Kind::Other => {
                    if self.opts.filter.keep(&child) {
                        part.warnings.push(Warning::new(
                            child.clone(),
                            WarningReason::SpecialFile,
                            format!("{child} is a FIFO, socket or device: skipped, never opened"),
                        ));
                    }
                }
            }
        }
        let parts: Vec<Part> = subdirs
            .into_par_iter()
            .map(|(child, at, id)| {
                let mut anc = Vec::with_capacity(ancestors.len() + 1);
                anc.extend_from_slice(ancestors);
                anc.push(id);
                self.walk(&child, &at, &anc)
            })
            .collect();
        let had_entries = !part.entries.is_empty();
        let mut child_entries = false;
        // One allocation of the exact size, then each child is moved in and freed: a million entries are never
        // held twice over.
        part.entries.reserve_exact(parts.iter().map(|c| c.entries.len()).sum());
        for c in parts {
            child_entries |= !c.entries.is_empty();
            part.absorb(c);
        }
        if !had_entries
            && !child_entries
            && !rel.is_empty()
            && part.errors.is_empty()
            && self.opts.filter.keep(rel)
            && let Some(e) = self.tree.dir_entry(rel, dir)
        {
            debug_assert_eq!(e.kind, EntryKind::Dir);
            self.push(&mut part, e);
        } else if !rel.is_empty()
            && (had_entries || child_entries)
            && let Some(e) = self.tree.dir_entry(rel, dir)
        {
            // A folder with content is implied by its entries' paths; its own mode and mtime are kept aside.
            part.dirs.push(e);
        }
        part
    }

    fn symlink(
        &self,
        child: String,
        at: T::Dir,
        meta: &T::Meta,
        ancestors: &[T::Id],
        part: &mut Part,
        subdirs: &mut Vec<Pending<T>>,
    ) {
        use super::scan::LinkMode;
        match self.opts.links {
            LinkMode::Skip => {}
            LinkMode::Preserve => {
                if !self.opts.filter.keep(&child) {
                    return;
                }
                match self.tree.link(&child, &at, meta) {
                    Ok(Some(e)) => self.push(part, e),
                    Ok(None) if self.opts.strict => part.errors.push(unsyncable(
                        &child,
                        &format!("the link target of {child} is not valid UTF-8: not synced"),
                    )),
                    Ok(None) => part.warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::NonUtf8Name,
                        format!("link target of {child} is not valid UTF-8, skipped"),
                    )),
                    Err(e) => Self::error(part, &child, &e),
                }
            }
            LinkMode::Follow => {
                match self.tree.follow(&child, &at) {
                    Ok(Followed::Dir(id)) => {
                        if ancestors.contains(&id) {
                            part.warnings.push(Warning::new(
                            child.clone(),
                            WarningReason::SymlinkLoop,
                            format!(
                                "{child} links back to one of its own parent directories: not followed"
                            ),
                        ));
                        } else if self.opts.filter.enter_dir(&child) {
                            subdirs.push((child, at, id));
                        }
                    }
                    Ok(Followed::File(e)) => {
                        if self.opts.filter.keep(&child) {
                            self.push(part, e);
                        }
                    }
                    Ok(Followed::Special) => {
                        if self.opts.filter.keep(&child) {
                            part.warnings.push(Warning::new(
                            child.clone(),
                            WarningReason::SpecialFile,
                            format!("{child} points to a FIFO, socket or device: skipped, never opened"),
                        ));
                        }
                    }
                    Ok(Followed::Dangling) => part.warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::DanglingSymlink,
                        format!("{child} points to nothing: skipped"),
                    )),
                    Ok(Followed::Loop) => part.warnings.push(Warning::new(
                        child.clone(),
                        WarningReason::SymlinkLoop,
                        format!("{child} is a symlink loop: skipped"),
                    )),
                    Err(e) => Self::error(part, &child, &e),
                }
            }
        }
    }
}
