//! A Plan: the actions a sync will take, each with its reason, and its totals. A dry run is the plan alone.

use super::Entry;
use crate::report::FileError;
use serde::{Deserialize, Serialize};

/// How source and destination entries are compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareMode {
    /// Size and modification time (within the modify window), as rsync does.
    #[default]
    SizeMtime,
    /// Size, then SHA-256 of the content; an mtime-only difference is fixed without copying.
    Checksum,
    /// Size alone.
    SizeOnly,
}

/// What the destination should get when its copy was edited since syncwright wrote it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestChangedPolicy {
    /// Write the source version over it (as rsync does).
    #[default]
    Overwrite,
    /// Leave the edited file alone and warn.
    Skip,
    /// Keep the edited file under a `.conflict-<time>` name beside it, then write the source version.
    KeepBoth,
}

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Copy a file (create or replace).
    Copy,
    /// Create or replace a symlink.
    Symlink,
    /// Create an empty directory.
    Mkdir,
    /// Set mtime and mode of an entry whose content is already right.
    SetMeta,
    /// Delete at the destination (mirror mode).
    Delete,
    /// Nothing to do: identical, or only at the destination without mirror mode.
    Keep,
    /// Left alone on purpose (busy, dest_changed with `skip`, unsupported).
    Skip,
}

/// Why an action is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Not at the destination.
    New,
    /// Sizes differ.
    SizeChanged,
    /// Same size, the source is newer.
    Newer,
    /// Same size, the source is older (it was restored or rolled back).
    Older,
    /// Same size, different content hash (or a different link target).
    ContentMismatch,
    /// A file became a directory or link, or the other way: the destination's entry is replaced (a folder's
    /// entries are deleted with it, in mirror mode only).
    TypeChanged,
    /// Same content, different permission bits.
    ModeChanged,
    /// Same content, different mtime (checksum mode).
    MtimeChanged,
    /// Only at the destination.
    MissingAtSource,
    /// The destination copy was edited since syncwright wrote it.
    DestChanged,
    /// Identical.
    Identical,
    /// Modified within `min_age`: left for the next run.
    Busy,
    /// The destination cannot hold this kind of entry (for example symlinks on object stores).
    Unsupported,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// What to do.
    pub op: Op,
    /// Relative path.
    pub path: String,
    /// Why.
    pub reason: Reason,
    /// Bytes this action moves (copies only).
    pub size: u64,
    /// The source entry (copy, symlink, mkdir, set_meta, skip) or the destination entry (delete, keep of an
    /// entry only at the destination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Entry>,
    /// The destination entry this plan saw, for checks at execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest: Option<Entry>,
}

impl Action {
    /// The `check --combined` symbol: `=` identical, `+` only at the source, `-` only at the destination,
    /// `*` different.
    pub fn symbol(&self) -> char {
        match (self.reason, self.op) {
            (Reason::Identical, _) => '=',
            (Reason::MissingAtSource, _) => '-',
            (Reason::New, _) => '+',
            (_, _) if self.dest.is_none() && self.op != Op::Delete => '+',
            _ => '*',
        }
    }
}

/// Totals of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanTotals {
    /// Entries identical on both sides.
    pub identical: u64,
    /// Files to copy.
    pub copy_files: u64,
    /// Bytes to copy.
    pub copy_bytes: u64,
    /// Of the copies and links, those new at the destination.
    pub new_files: u64,
    /// Of the copies and links, those replacing a destination entry.
    pub updated_files: u64,
    /// Symlinks to create or replace.
    pub symlinks: u64,
    /// Empty directories to create.
    pub mkdirs: u64,
    /// Entries whose metadata only is set.
    pub set_meta: u64,
    /// Entries to delete.
    pub deletes: u64,
    /// Entries only at the destination that stay (no mirror mode).
    pub extra_at_dest: u64,
    /// Entries skipped on purpose.
    pub skipped: u64,
    /// Entries that cannot be synced (name collisions, limits).
    pub errors: u64,
    /// Files and links at the destination as the plan saw it (the base of the default delete cap).
    #[serde(default)]
    pub dest_files: u64,
}

/// The plan of a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Version of this document's schema.
    pub schema_version: u32,
    /// How entries were compared.
    pub compare: CompareMode,
    /// Every action, sorted by path. Identical entries are listed only when asked for.
    pub actions: Vec<Action>,
    /// Entries that cannot be synced, `{action: "plan", path, error, kind}`.
    pub errors: Vec<FileError>,
    /// Totals.
    pub totals: PlanTotals,
}

impl Plan {
    /// Recomputes the totals from the actions and errors.
    pub fn recount(&mut self) {
        let identical_listed =
            self.actions.iter().filter(|a| a.reason == Reason::Identical).count() as u64;
        let mut t = PlanTotals {
            identical: self.totals.identical.max(identical_listed),
            dest_files: self.totals.dest_files,
            ..Default::default()
        };
        for a in &self.actions {
            match a.op {
                Op::Copy | Op::Symlink => {
                    if a.op == Op::Copy {
                        t.copy_files += 1;
                        t.copy_bytes += a.size;
                    } else {
                        t.symlinks += 1;
                    }
                    if a.dest.is_some() {
                        t.updated_files += 1;
                    } else {
                        t.new_files += 1;
                    }
                }
                Op::Mkdir => t.mkdirs += 1,
                Op::SetMeta => t.set_meta += 1,
                Op::Delete => t.deletes += 1,
                Op::Keep if a.reason == Reason::MissingAtSource => t.extra_at_dest += 1,
                Op::Keep => {}
                Op::Skip => t.skipped += 1,
            }
        }
        t.errors = self.errors.len() as u64;
        self.totals = t;
    }

    /// True when the plan changes nothing and has no errors.
    pub fn is_noop(&self) -> bool {
        self.errors.is_empty() && self.actions.iter().all(|a| matches!(a.op, Op::Keep | Op::Skip))
    }

    /// The plan as rclone's `check --combined` lines: `= path`, `+ path`, `- path`, `* path`, `! path`.
    pub fn combined(&self) -> String {
        let mut lines: Vec<(&str, char)> =
            self.actions.iter().map(|a| (a.path.as_str(), a.symbol())).collect();
        lines.extend(self.errors.iter().map(|e| (e.path.as_str(), '!')));
        lines.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::new();
        for (p, s) in lines {
            out.push(s);
            out.push(' ');
            out.push_str(p);
            out.push('\n');
        }
        out
    }
}
