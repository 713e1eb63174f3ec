//! One structured log per profile: JSON lines `{timestamp, level, message, data}` in `<dir>/<profile>.log`,
//! rotated by size (`.1` is the newest rotated file, up to `.3`), read back as the last N entries or as pages with
//! a level filter; every entry written is also an event on the bus.

use crate::error::{Error, Result};
use crate::events::{Event, EventBus};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The default size at which a log is rotated.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
/// Rotated files kept besides the current one.
pub const ROTATIONS: usize = 3;

/// How important an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Details.
    Debug,
    /// Normal operation.
    Info,
    /// Something left out or worth a look.
    Warning,
    /// Something failed.
    Error,
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// RFC 3339 time.
    pub timestamp: String,
    /// Level.
    pub level: LogLevel,
    /// What happened.
    pub message: String,
    /// Structured details (an object; `{}` when none).
    #[serde(default = "empty_object")]
    pub data: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

impl LogEntry {
    /// An entry stamped now.
    pub fn now(level: LogLevel, message: impl Into<String>, data: serde_json::Value) -> LogEntry {
        LogEntry { timestamp: crate::manifest::now_rfc3339(), level, message: message.into(), data }
    }
}

/// A page of entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogPage {
    /// The entries of the page, oldest first.
    pub logs: Vec<LogEntry>,
    /// Where the page is.
    pub pagination: Pagination,
}

/// The position of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// 1-based page number.
    pub page: usize,
    /// Entries per page.
    pub per_page: usize,
    /// Entries matching the filter.
    pub total: usize,
    /// Pages.
    pub pages: usize,
}

/// The logs of every profile, in one folder.
#[derive(Debug, Clone)]
pub struct LogStore {
    dir: PathBuf,
    max_size: u64,
    bus: Option<Arc<EventBus>>,
    write: Arc<Mutex<()>>,
}

fn check_profile(profile: &str) -> Result<()> {
    let ok = !profile.is_empty()
        && profile.len() <= 64
        && profile.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(Error::invalid(format!("bad profile name {profile:?}"))) }
}

impl LogStore {
    /// Logs in `dir` (created on first write), rotated at `max_size` bytes; entries are published on `bus`.
    pub fn new(dir: impl Into<PathBuf>, max_size: u64, bus: Option<Arc<EventBus>>) -> LogStore {
        LogStore { dir: dir.into(), max_size: max_size.max(1024), bus, write: Arc::default() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, profile: &str, rotation: usize) -> PathBuf {
        if rotation == 0 {
            self.dir.join(format!("{profile}.log"))
        } else {
            self.dir.join(format!("{profile}.log.{rotation}"))
        }
    }

    /// Appends an entry to `profile`'s log (rotating it first when full) and publishes it.
    pub fn append(&self, profile: &str, entry: LogEntry) -> Result<()> {
        check_profile(profile)?;
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        {
            let _g = self.write.lock().unwrap_or_else(|p| p.into_inner());
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| Error::io(&e, "cannot create", self.dir.display().to_string()))?;
            let cur = self.file(profile, 0);
            let size = std::fs::metadata(&cur).map(|m| m.len()).unwrap_or(0);
            if size > 0 && size + line.len() as u64 > self.max_size {
                for i in (1..ROTATIONS).rev() {
                    let _ = std::fs::rename(self.file(profile, i), self.file(profile, i + 1));
                }
                std::fs::rename(&cur, self.file(profile, 1))
                    .map_err(|e| Error::io(&e, "cannot rotate", cur.display().to_string()))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&cur)
                .map_err(|e| Error::io(&e, "cannot open", cur.display().to_string()))?;
            f.write_all(&line)
                .map_err(|e| Error::io(&e, "cannot write", cur.display().to_string()))?;
        }
        if let Some(bus) = &self.bus {
            bus.publish(Event::Log { profile: profile.to_string(), log: entry });
        }
        Ok(())
    }

    /// Every entry of `profile` (rotated files included), oldest first; lines that are not entries are skipped.
    pub fn read_all(&self, profile: &str) -> Result<Vec<LogEntry>> {
        check_profile(profile)?;
        let mut out = Vec::new();
        for i in (0..=ROTATIONS).rev() {
            let p = self.file(profile, i);
            let text = match std::fs::read_to_string(&p) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&e, "cannot read", p.display().to_string())),
            };
            out.extend(text.lines().filter_map(|l| serde_json::from_str::<LogEntry>(l).ok()));
        }
        Ok(out)
    }

    /// The last `n` entries of `profile`, oldest first.
    pub fn tail(&self, profile: &str, n: usize) -> Result<Vec<LogEntry>> {
        let mut all = self.read_all(profile)?;
        let skip = all.len().saturating_sub(n);
        Ok(all.split_off(skip))
    }

    /// Page `page` (1-based) of `per_page` entries of at least `level`, oldest first.
    pub fn page(
        &self,
        profile: &str,
        page: usize,
        per_page: usize,
        level: Option<LogLevel>,
    ) -> Result<LogPage> {
        if page == 0 || per_page == 0 {
            return Err(Error::invalid("page and per_page start at 1"));
        }
        let all: Vec<LogEntry> = self
            .read_all(profile)?
            .into_iter()
            .filter(|e| level.is_none_or(|l| e.level == l))
            .collect();
        let total = all.len();
        let logs = all.into_iter().skip((page - 1) * per_page).take(per_page).collect();
        Ok(LogPage {
            logs,
            pagination: Pagination { page, per_page, total, pages: total.div_ceil(per_page) },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize, level: LogLevel) -> LogEntry {
        LogEntry::now(level, format!("entry {i}"), serde_json::json!({ "i": i }))
    }

    #[test]
    fn tail_returns_exactly_the_last_n_across_rotations() {
        let d = tempfile::tempdir().unwrap();
        let bus = Arc::new(EventBus::new());
        let sub = bus.subscribe();
        let logs = LogStore::new(d.path(), 2048, Some(bus));
        for i in 0..100 {
            logs.append(
                "user_data",
                entry(i, if i % 10 == 0 { LogLevel::Error } else { LogLevel::Info }),
            )
            .unwrap();
        }
        assert!(d.path().join("user_data.log.1").exists(), "the log was rotated");
        let kept = logs.read_all("user_data").unwrap();
        let first_kept = kept[0].data["i"].as_u64().unwrap() as usize;
        assert_eq!(kept.len(), 100 - first_kept, "rotation drops only the oldest files");
        for n in [0, 1, 7, 20] {
            let t = logs.tail("user_data", n).unwrap();
            let idx: Vec<usize> =
                t.iter().map(|e| e.data["i"].as_u64().unwrap() as usize).collect();
            assert_eq!(idx, ((100 - n)..100).collect::<Vec<_>>());
        }
        let p = logs.page("user_data", 1, 3, Some(LogLevel::Error)).unwrap();
        assert!(p.logs.iter().all(|e| e.level == LogLevel::Error));
        assert_eq!(p.pagination.pages, p.pagination.total.div_ceil(3));
        assert_eq!(logs.tail("nobody", 5).unwrap(), vec![]);
        assert!(logs.append("../x", entry(0, LogLevel::Info)).is_err());
        let ev = sub.try_next().unwrap();
        assert!(matches!(ev.event(), Event::Log { profile, .. } if profile == "user_data"));
    }
}
