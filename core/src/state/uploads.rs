//! Unfinished multipart uploads to object stores (S3): the upload id, the source version it holds and the parts
//! already sent, so that an interrupted upload is resumed by the next attempt or run instead of restarted.
//!
//! One row per destination object (`location` + `key`); its parts are rows of `upload_parts`. A row is written
//! when the upload is created, each part as soon as the service acknowledged it, and the row goes when the upload
//! is completed or aborted.

use super::Store;
use crate::error::Result;
use rusqlite::{OptionalExtension, params};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS uploads (
    location TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    part_size INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    PRIMARY KEY (location, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS upload_parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    etag TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
";

/// An unfinished multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The service and place (`s3://bucket/prefix`).
    pub location: String,
    /// The object key.
    pub key: String,
    /// The source version it holds ([`crate::manifest::hash::version_fingerprint`]).
    pub fingerprint: String,
    /// The service's upload id.
    pub upload_id: String,
    /// Bytes per part (all parts but the last).
    pub part_size: u64,
    /// When it was created (ns since the epoch).
    pub created_ns: i64,
}

/// A part the service acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    /// 1-based part number.
    pub number: u32,
    /// The ETag the service returned.
    pub etag: String,
    /// Its size.
    pub size: u64,
}

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        location: r.get(0)?,
        key: r.get(1)?,
        fingerprint: r.get(2)?,
        upload_id: r.get(3)?,
        part_size: r.get::<_, i64>(4)? as u64,
        created_ns: r.get(5)?,
    })
}

const COLUMNS: &str = "location, key, fingerprint, upload_id, part_size, created_ns";

impl Store {
    /// The unfinished upload to `key` at `location`, if any.
    pub fn upload(&self, location: &str, key: &str) -> Result<Option<Upload>> {
        let conn = self.lock();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM uploads WHERE location = ?1 AND key = ?2"
        ))?;
        Ok(st.query_row(params![location, key], upload_row).optional()?)
    }

    /// Every unfinished upload at `location`.
    pub fn uploads(&self, location: &str) -> Result<Vec<Upload>> {
        let conn = self.lock();
        let mut st =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM uploads WHERE location = ?1"))?;
        let rows = st.query_map(params![location], upload_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Records a new upload (replacing any other to the same key, with its parts).
    pub fn put_upload(&self, u: &Upload) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        if let Some(old) = tx
            .query_row(
                "SELECT upload_id FROM uploads WHERE location = ?1 AND key = ?2",
                params![u.location, u.key],
                |r| r.get::<_, String>(0),
            )
            .optional()?
        {
            tx.execute("DELETE FROM upload_parts WHERE upload_id = ?1", params![old])?;
        }
        tx.execute(
            &format!("INSERT OR REPLACE INTO uploads ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            params![
                u.location,
                u.key,
                u.fingerprint,
                u.upload_id,
                u.part_size as i64,
                u.created_ns
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records an acknowledged part of upload `upload_id`.
    pub fn put_upload_part(&self, upload_id: &str, p: &UploadedPart) -> Result<()> {
        let conn = self.lock();
        conn.prepare_cached(
            "INSERT OR REPLACE INTO upload_parts (upload_id, part_number, etag, size) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![upload_id, p.number, p.etag, p.size as i64])?;
        Ok(())
    }

    /// The acknowledged parts of `upload_id`, by part number.
    pub fn upload_parts(&self, upload_id: &str) -> Result<Vec<UploadedPart>> {
        let conn = self.lock();
        let mut st = conn.prepare_cached(
            "SELECT part_number, etag, size FROM upload_parts WHERE upload_id = ?1 ORDER BY part_number",
        )?;
        let rows = st.query_map(params![upload_id], |r| {
            Ok(UploadedPart {
                number: r.get::<_, i64>(0)? as u32,
                etag: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Forgets upload `upload_id` (completed or aborted) and its parts.
    pub fn forget_upload(&self, upload_id: &str) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM upload_parts WHERE upload_id = ?1", params![upload_id])?;
        tx.execute("DELETE FROM uploads WHERE upload_id = ?1", params![upload_id])?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_round_trip() {
        let s = Store::in_memory().unwrap();
        let u = Upload {
            location: "s3://b/p".into(),
            key: "p/n/a.bin".into(),
            fingerprint: "f1".into(),
            upload_id: "u1".into(),
            part_size: 5 << 20,
            created_ns: 7,
        };
        s.put_upload(&u).unwrap();
        assert_eq!(s.upload("s3://b/p", "p/n/a.bin").unwrap(), Some(u.clone()));
        assert_eq!(s.upload("s3://b/q", "p/n/a.bin").unwrap(), None);
        let p = |n: u32| UploadedPart { number: n, etag: format!("e{n}"), size: 5 << 20 };
        s.put_upload_part("u1", &p(2)).unwrap();
        s.put_upload_part("u1", &p(1)).unwrap();
        assert_eq!(s.upload_parts("u1").unwrap(), vec![p(1), p(2)]);
        // A new upload to the same key replaces the old one and its parts.
        s.put_upload(&Upload { upload_id: "u2".into(), ..u.clone() }).unwrap();
        assert!(s.upload_parts("u1").unwrap().is_empty());
        assert_eq!(s.uploads("s3://b/p").unwrap().len(), 1);
        s.forget_upload("u2").unwrap();
        assert!(s.uploads("s3://b/p").unwrap().is_empty());
    }
}
