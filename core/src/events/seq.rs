//! Where event sequence numbers come from, so that `seq` only grows: across restarts, and across a state store
//! rebuilt after damage, which loses the events it kept.
//!
//! The high-water mark lives in a file of its own, `events.seq` in the state directory, beside the store but not
//! in it (a damaged store is moved aside whole). The bus hands out numbers from blocks reserved in that file:
//! before a number is used, the file says that every number up to the end of its block may be in use, durably
//! (written to a temporary, flushed, renamed over the file, the directory flushed). A block is [`BLOCK`] numbers;
//! the next one is reserved by a helper thread when half of the current one is used, so publishing waits for the
//! disk only when events come faster than one reservation (a few milliseconds) per half block.
//!
//! An engine opening starts after the largest of the file's reservation and the store's largest `seq`, so numbers
//! unused at the end of a block are skipped (a gap, never a repeat). An engine that shuts down cleanly writes the
//! last number it used into the file as well (`used`): the next one then knows that nothing after it was
//! published, and what the store kept is complete; after a crash it does not know which numbers of the last block
//! were published but not yet stored, and treats them all as lost (see `keep`).
//!
//! Several engines sharing a state directory (a CLI run while a server runs, in one process or several) take turns
//! on `events.seq.lock` and reserve disjoint blocks: their numbers never collide. Each engine's own numbers only
//! grow. Each engine also holds a shared lock on `events.live.lock` while it lives (the system drops it when its
//! process dies): an engine that opens while another one lives knows that the mark's missing `used` may be the
//! living one's, not a crash's.
//!
//! The file is JSON: `{"reserved": 3000, "used": 2117}` (`used` only after a clean end). A file that cannot be
//! read counts as missing; then the store's largest `seq` is the only mark left.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Name of the mark file in the state directory.
pub const SEQ_FILE: &str = "events.seq";
/// Name of the lock file processes take turns on while they read and write the mark.
pub const SEQ_LOCK_FILE: &str = "events.seq.lock";
/// Name of the lock file every living engine holds a shared lock on.
pub const LIVE_LOCK_FILE: &str = "events.live.lock";
/// How many numbers one reservation covers.
pub const BLOCK: u64 = 1000;

/// What the mark file says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Mark {
    /// Every number up to this one may have been used.
    pub reserved: u64,
    /// The last number used, written by a clean shutdown (None while an engine runs, or after a crash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<u64>,
}

/// The first block of an engine's life, and what the mark said before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Start {
    /// The mark as the previous engine left it (None: no mark, or an unreadable one).
    pub prior: Option<Mark>,
    /// The first number of the block.
    pub first: u64,
    /// Its last number.
    pub end: u64,
    /// Whether no other engine of the state directory was alive (then a mark without `used` means a crash).
    pub alone: bool,
}

/// The mark file of one state directory.
#[derive(Debug)]
pub(crate) struct SeqMark {
    file: PathBuf,
    lock: PathBuf,
    dir: PathBuf,
    /// The shared lock on `events.live.lock`, held from `start` to `finish`.
    live: std::sync::Mutex<Option<std::fs::File>>,
}

impl SeqMark {
    /// The mark of the state directory `dir` (created when missing).
    pub fn new(dir: &Path) -> SeqMark {
        SeqMark {
            file: dir.join(SEQ_FILE),
            lock: dir.join(SEQ_LOCK_FILE),
            dir: dir.to_path_buf(),
            live: Default::default(),
        }
    }

    /// Reserves the first block of an engine's life: after the mark's reservation and after `at_least` (the
    /// store's largest `seq`), durably.
    pub fn start(&self, at_least: u64) -> std::io::Result<Start> {
        let _held = self.hold()?;
        let live = Self::open_lock(&self.dir.join(LIVE_LOCK_FILE))?;
        let alone = match live.try_lock() {
            Ok(()) => true,
            Err(std::fs::TryLockError::WouldBlock) => false,
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        };
        // Shared from now on: the next engine to open sees this one alive.
        live.lock_shared()?;
        let prior = self.read();
        let first = prior.map_or(0, |m| m.reserved).max(at_least).saturating_add(1);
        let end = first.saturating_add(BLOCK - 1);
        self.write(&Mark { reserved: end, used: None })?;
        *self.live.lock().unwrap_or_else(|p| p.into_inner()) = Some(live);
        Ok(Start { prior, first, end, alone })
    }

    /// Reserves the next block after `after` (the end of this engine's last one), durably: it follows on from it
    /// unless another process reserved beyond it meanwhile. Returns its first and last numbers.
    pub fn reserve(&self, after: u64) -> std::io::Result<(u64, u64)> {
        let _held = self.hold()?;
        let first = self.read().map_or(0, |m| m.reserved).max(after).saturating_add(1);
        let end = first.saturating_add(BLOCK - 1);
        self.write(&Mark { reserved: end, used: None })?;
        Ok((first, end))
    }

    /// Records a clean end: `used` was the last number used, `reserved` the end of the last block.
    pub fn finish(&self, reserved: u64, used: u64) -> std::io::Result<()> {
        let _held = self.hold()?;
        let reserved = self.read().map_or(0, |m| m.reserved).max(reserved);
        let r = self.write(&Mark { reserved, used: Some(used) });
        // No longer alive (closing the file releases its lock).
        self.live.lock().unwrap_or_else(|p| p.into_inner()).take();
        r
    }

    /// The lock on the mark, held until dropped.
    fn hold(&self) -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(&self.dir)?;
        let f = Self::open_lock(&self.lock)?;
        f.lock()?;
        Ok(f)
    }

    /// A lock file, opened (created when missing).
    fn open_lock(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)
    }

    /// The mark, if the file holds one.
    fn read(&self) -> Option<Mark> {
        let text = match std::fs::read(&self.file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(file = %self.file.display(), error = %e, "cannot read the event mark");
                return None;
            }
        };
        match serde_json::from_slice(&text) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(file = %self.file.display(), error = %e, "the event mark is not readable");
                None
            }
        }
    }

    /// Replaces the file with `m`, durably.
    fn write(&self, m: &Mark) -> std::io::Result<()> {
        let tmp = self.dir.join(format!("{SEQ_FILE}.tmp"));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(m).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.file)?;
        // The rename itself must reach the disk before the numbers are used.
        std::fs::File::open(&self.dir)?.sync_all()
    }
}

/// The numbers an engine hands out: the current block and the next one once reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counter {
    /// The last number handed out (at the start: the one before the first block).
    pub last: u64,
    /// The end of the block in use.
    pub end: u64,
    /// The next block, reserved ahead.
    pub next: Option<(u64, u64)>,
    /// Whether a reservation is under way.
    pub reserving: bool,
    /// Whether numbers come from reserved blocks at all (false: no mark could be kept, count freely).
    pub bounded: bool,
}

impl Counter {
    /// A counter whose first number is `first`, reserved up to `end`.
    pub fn new(first: u64, end: u64, bounded: bool) -> Counter {
        Counter { last: first.saturating_sub(1), end, next: None, reserving: false, bounded }
    }

    /// The next number, or None when the reservation has not caught up yet (wait for it).
    pub fn take(&mut self) -> Option<u64> {
        if self.bounded && self.last >= self.end {
            let (first, end) = self.next.take()?;
            self.last = first.saturating_sub(1).max(self.last);
            self.end = end;
        }
        self.last += 1;
        Some(self.last)
    }

    /// Whether the next block should be reserved now (half of this one used, none reserved or under way).
    pub fn wants_reservation(&self) -> bool {
        self.bounded
            && !self.reserving
            && self.next.is_none()
            && self.end.saturating_sub(self.last) < BLOCK / 2
    }

    /// The last number reserved (the end of the next block if there is one).
    pub fn reserved(&self) -> u64 {
        self.next.map_or(self.end, |(_, e)| e)
    }

    /// Takes the block a reservation made.
    pub fn reserved_block(&mut self, first: u64, end: u64) {
        self.reserving = false;
        if first == self.end + 1 && self.next.is_none() {
            self.end = end;
        } else {
            self.next = Some((first, end));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_on_skip_what_another_process_reserved_and_survive_a_bad_file() {
        let d = tempfile::tempdir().unwrap();
        let m = SeqMark::new(&d.path().join("state"));
        let s = m.start(0).unwrap();
        assert_eq!(s, Start { prior: None, first: 1, end: BLOCK, alone: true });
        // A second engine while the first lives is not alone; once the first has finished, the next one is.
        let other = SeqMark::new(&d.path().join("state"));
        assert!(!other.start(0).unwrap().alone);
        other.finish(2 * BLOCK, BLOCK + 1).unwrap();
        assert_eq!(
            m.reserve(BLOCK).unwrap(),
            (2 * BLOCK + 1, 3 * BLOCK),
            "after the other's block"
        );
        // Another process reserved up to 5000: the next block comes after it.
        std::fs::write(m.file.clone(), br#"{"reserved":5000}"#).unwrap();
        assert_eq!(m.reserve(3 * BLOCK).unwrap(), (5001, 5000 + BLOCK));
        m.finish(5000 + BLOCK, 5003).unwrap();
        let again = SeqMark::new(&d.path().join("state")).start(10).unwrap();
        assert!(again.alone);
        assert_eq!(again.prior, Some(Mark { reserved: 5000 + BLOCK, used: Some(5003) }));
        assert_eq!(again.first, 5001 + BLOCK);
        // The store's largest seq wins when it is larger; a garbled file counts as missing.
        std::fs::write(m.file.clone(), b"\x00garbage").unwrap();
        let s = m.start(70_000).unwrap();
        assert_eq!((s.prior, s.first), (None, 70_001));
        let text = std::fs::read_to_string(&m.file).unwrap();
        assert_eq!(text, format!("{{\"reserved\":{}}}", 70_000 + BLOCK));
    }

    #[test]
    fn the_counter_waits_for_a_reservation_and_jumps_to_a_block_that_does_not_follow_on() {
        let mut c = Counter::new(1, 4, true);
        assert!(c.wants_reservation());
        assert_eq!((c.take(), c.take(), c.take(), c.take()), (Some(1), Some(2), Some(3), Some(4)));
        assert_eq!(c.take(), None);
        c.reserving = true;
        c.reserved_block(5, 9);
        assert_eq!((c.take(), c.end), (Some(5), 9));
        c.reserved_block(20, 30);
        for want in 6..=9 {
            assert_eq!(c.take(), Some(want));
        }
        assert_eq!(c.reserved(), 30);
        assert_eq!(c.take(), Some(20));
        let mut free = Counter::new(1, 0, false);
        assert_eq!((free.take(), free.take()), (Some(1), Some(2)));
        assert!(!free.wants_reservation());
    }
}
