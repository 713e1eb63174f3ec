//! The events kept in the embedded store for a retention window, so that a subscriber can ask for what it missed
//! (`since`): one row per event (its sequence number, time, type, what it is about, its JSON), and the floor: the
//! highest `seq` no longer kept. Kept rows are always every event with `seq` above the floor (that any process
//! stored): pruning removes the oldest ones and raises the floor to the last one removed.

use super::Store;
use crate::error::Result;
use rusqlite::{OptionalExtension, params};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    type TEXT NOT NULL,
    job_id TEXT,
    profile TEXT,
    operation_id TEXT,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_at ON events (at);
CREATE TABLE IF NOT EXISTS event_floor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
";

/// One kept event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its sequence number.
    pub seq: u64,
    /// When it was published (RFC 3339, UTC, milliseconds: sorts as text).
    pub at: String,
    /// Its `type`.
    pub kind: String,
    /// The job it is about.
    pub job_id: Option<String>,
    /// The profile it is about.
    pub profile: Option<String>,
    /// The operation it is about.
    pub operation_id: Option<String>,
    /// Its JSON, `seq` included.
    pub json: String,
}

/// What the store keeps of the events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventBounds {
    /// The highest `seq` no longer kept; None in a store that never kept events (new, or rebuilt).
    pub floor: Option<u64>,
    /// The oldest kept `seq`.
    pub oldest: Option<u64>,
    /// The latest kept `seq`.
    pub latest: Option<u64>,
    /// How many are kept.
    pub count: u64,
}

/// How many events to keep, and from when.
#[derive(Debug, Clone, Copy)]
pub struct EventRetention<'a> {
    /// At most this many.
    pub max_count: u64,
    /// Events published before this time (RFC 3339, as [`StoredEvent::at`]) go.
    pub older_than: &'a str,
}

fn seq_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn db_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// The bounds; `count` when the caller knows it (counting reads the whole table).
fn bounds(conn: &rusqlite::Connection, count: Option<u64>) -> rusqlite::Result<EventBounds> {
    let floor = conn
        .query_row("SELECT seq FROM event_floor WHERE id = 1", [], |r| r.get::<_, i64>(0))
        .optional()?
        .map(seq_of);
    let (oldest, latest) = conn.query_row("SELECT MIN(seq), MAX(seq) FROM events", [], |r| {
        Ok((r.get::<_, Option<i64>>(0)?.map(seq_of), r.get::<_, Option<i64>>(1)?.map(seq_of)))
    })?;
    let count = match count {
        Some(c) => c,
        None => seq_of(conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?),
    };
    Ok(EventBounds { floor, oldest, latest, count })
}

/// Removes every event up to `floor` and records it as the floor; returns how many went.
fn cut(conn: &rusqlite::Connection, floor: u64) -> rusqlite::Result<u64> {
    let gone = conn.execute("DELETE FROM events WHERE seq <= ?1", params![db_seq(floor)])?;
    conn.execute(
        "INSERT INTO event_floor (id, seq) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET seq = ?1",
        params![db_seq(floor)],
    )?;
    Ok(gone as u64)
}

impl Store {
    /// What is kept of the events.
    pub fn event_bounds(&self) -> Result<EventBounds> {
        Ok(bounds(&self.lock(), None)?)
    }

    /// Sets the floor to `floor`, removing every kept event up to it (an engine that opens after a crash gives
    /// up on the events before its start, see [`crate::events`]).
    pub fn set_event_floor(&self, floor: u64) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        cut(&tx, floor)?;
        tx.commit()?;
        Ok(())
    }

    /// Stores `rows` and prunes by `keep`, in one transaction; `count` is how many were kept before (None: count
    /// them). Returns what is kept after (`count` as the caller's count goes, which is the table's unless another
    /// process stores events too).
    pub fn keep_events(
        &self,
        rows: &[StoredEvent],
        keep: EventRetention<'_>,
        count: Option<u64>,
    ) -> Result<EventBounds> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut count = match count {
            Some(c) => c,
            None => bounds(&tx, None)?.count,
        };
        {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (seq, at, type, job_id, profile, operation_id, json) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for r in rows {
                count += st.execute(params![
                    db_seq(r.seq),
                    r.at,
                    r.kind,
                    r.job_id,
                    r.profile,
                    r.operation_id,
                    r.json
                ])? as u64;
            }
        }
        let floor = tx
            .query_row("SELECT seq FROM event_floor WHERE id = 1", [], |r| r.get::<_, i64>(0))
            .optional()?
            .map(seq_of)
            .unwrap_or(0);
        let mut to = floor;
        if count > keep.max_count {
            let nth: Option<i64> = tx
                .query_row(
                    "SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET ?1",
                    params![db_seq(count - keep.max_count - 1)],
                    |r| r.get(0),
                )
                .optional()?;
            to = to.max(nth.map_or(0, seq_of));
        }
        let aged: Option<i64> = tx.query_row(
            "SELECT MAX(seq) FROM events WHERE at < ?1",
            params![keep.older_than],
            |r| r.get(0),
        )?;
        to = to.max(aged.map_or(0, seq_of));
        if to > floor {
            count = count.saturating_sub(cut(&tx, to)?);
        }
        let b = bounds(&tx, Some(count))?;
        tx.commit()?;
        Ok(b)
    }

    /// The kept events with `seq` in `since + 1 ..= upto`, in order, and the bounds read with them (in one go,
    /// so no pruning comes between; their `count` is not read and is 0). No rows when `since` is below the floor
    /// (events after it are gone).
    pub fn events_after(&self, since: u64, upto: u64) -> Result<(EventBounds, Vec<StoredEvent>)> {
        let conn = self.lock();
        let b = bounds(&conn, Some(0))?;
        if since < b.floor.unwrap_or(0) || since >= upto {
            return Ok((b, Vec::new()));
        }
        let mut st = conn.prepare_cached(
            "SELECT seq, at, type, job_id, profile, operation_id, json FROM events \
             WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        )?;
        let rows = st.query_map(params![db_seq(since), db_seq(upto)], |r| {
            Ok(StoredEvent {
                seq: seq_of(r.get(0)?),
                at: r.get(1)?,
                kind: r.get(2)?,
                job_id: r.get(3)?,
                profile: r.get(4)?,
                operation_id: r.get(5)?,
                json: r.get(6)?,
            })
        })?;
        let rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((b, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: u64, at: &str) -> StoredEvent {
        StoredEvent {
            seq,
            at: at.into(),
            kind: "log".into(),
            job_id: None,
            profile: Some("p".into()),
            operation_id: None,
            json: format!("{{\"seq\":{seq}}}"),
        }
    }

    #[test]
    fn pruning_by_count_and_age_keeps_a_suffix_and_raises_the_floor() {
        let s = Store::in_memory().unwrap();
        assert_eq!(s.event_bounds().unwrap(), EventBounds::default());
        let keep = |n| EventRetention { max_count: n, older_than: "2026-01-01T00:00:00.000Z" };
        let rows: Vec<_> = (1..=10).map(|i| row(i, "2026-01-02T00:00:00.000Z")).collect();
        let b = s.keep_events(&rows, keep(100), Some(0)).unwrap();
        assert_eq!((b.floor, b.oldest, b.latest, b.count), (None, Some(1), Some(10), 10));
        // Over the cap: the oldest go, the floor is the last one removed.
        let b = s.keep_events(&[row(11, "2026-01-02T00:00:01.000Z")], keep(4), Some(10)).unwrap();
        assert_eq!((b.floor, b.oldest, b.latest, b.count), (Some(7), Some(8), Some(11), 4));
        // By age: everything published before the cutoff goes, and every older seq with it.
        let mut old = row(12, "2025-12-31T00:00:00.000Z");
        old.kind = "job_started".into();
        let b =
            s.keep_events(&[old, row(13, "2026-01-02T00:00:02.000Z")], keep(100), Some(4)).unwrap();
        assert_eq!((b.floor, b.oldest, b.latest, b.count), (Some(12), Some(13), Some(13), 1));
        let (b, rows) = s.events_after(12, 13).unwrap();
        assert_eq!((b.floor, rows.len(), rows[0].seq), (Some(12), 1, 13));
        assert_eq!(s.events_after(11, 13).unwrap().1, vec![], "below the floor");
        // A cap of 0 keeps nothing; the floor is set by hand at an engine's start.
        s.keep_events(&[row(20, "2026-01-02T00:00:03.000Z")], keep(0), None).unwrap();
        assert_eq!(s.event_bounds().unwrap().floor, Some(20));
        s.keep_events(&[row(30, "2026-01-02T00:00:03.000Z")], keep(9), None).unwrap();
        s.set_event_floor(40).unwrap();
        let b = s.event_bounds().unwrap();
        assert_eq!((b.floor, b.oldest, b.count), (Some(40), None, 0));
    }
}
