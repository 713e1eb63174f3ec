//! Writing objects. S3 objects appear whole or not at all, so no temporary name is needed: a small file is
//! buffered and sent with one PUT when committed; a large one is a multipart upload whose parts go out in
//! parallel while the file is read (at most `part_concurrency` parts in memory), completed when committed. The
//! upload id and every acknowledged part are kept in the embedded store, so an interrupted upload of the same
//! source version continues where it stopped.

use super::S3Backend;
use super::client::map_err;
use crate::backend::WriteSink;
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::Entry;
use crate::manifest::hash::version_fingerprint;
use crate::state::uploads::{Upload, UploadedPart};
use async_trait::async_trait;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ObjectStore, PutMultipartOptions, PutOptions, PutPayload};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::task::JoinSet;

/// A small object: buffered, one PUT on commit.
pub(super) struct SmallSink {
    pub b: Arc<S3Backend>,
    pub path: String,
    pub buf: Vec<u8>,
}

#[async_trait]
impl WriteSink for SmallSink {
    fn resume_offset(&self) -> u64 {
        0
    }

    async fn write_chunk(&mut self, data: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(data);
        Ok(())
    }

    async fn commit(self: Box<Self>, entry: &Entry, verify_blake3: Option<&str>) -> Result<()> {
        let conn = self.b.conn()?;
        let key = self.b.object_path(&self.path)?;
        let opts = PutOptions { attributes: super::meta_attributes(entry), ..Default::default() };
        let data = std::mem::take(&mut { self.buf });
        conn.store
            .put_opts(&key, PutPayload::from(data), opts)
            .await
            .map_err(|e| map_err(&e, "PUT", &self.path, &conn.redact).with_path(&self.path))?;
        if let Some(want) = verify_blake3 {
            self.b.verify(&self.path, want).await?;
        }
        Ok(())
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }

    async fn keep_partial(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

type PartResult = Result<(u32, String, u64)>;

/// A large object: a multipart upload.
pub(super) struct MultipartSink {
    b: Arc<S3Backend>,
    path: String,
    key: Path,
    upload_id: String,
    part_size: u64,
    /// Number of the next part to send.
    next_part: u32,
    buf: Vec<u8>,
    inflight: JoinSet<PartResult>,
    parts: BTreeMap<u32, String>,
    resume: u64,
    /// Whether the upload is in the store (so it can be resumed).
    stored: bool,
}

impl MultipartSink {
    /// Opens the upload of `version` to `path`: resumes the stored upload of that very version when the service
    /// still has it (and its parts), else aborts any other and creates a new one.
    pub async fn open(b: Arc<S3Backend>, path: &str, version: &Entry) -> Result<MultipartSink> {
        let conn = b.conn()?;
        let key = b.object_path(path)?;
        let fp = version_fingerprint(path, version.size, version.mtime_ns);
        let part_size = b.opts.part_size;
        let loc = b.location_string();
        let mut parts = BTreeMap::new();
        let mut resume = 0u64;
        let mut upload_id = None;
        if let Some(store) = &b.store
            && let Some(u) = store.upload(&loc, key.as_ref())?
        {
            let young = super::now_ns() - u.created_ns < b.stale_ns();
            if u.fingerprint == fp && u.part_size == part_size && young {
                match b.list_parts(key.as_ref(), &u.upload_id).await {
                    Ok(Some(live)) => {
                        // The parts both we and the service know, from the first on without a gap.
                        let stored = store.upload_parts(&u.upload_id)?;
                        for p in stored {
                            let expect = parts.len() as u32 + 1;
                            let full = p.size == part_size || resume + p.size == version.size;
                            let same = live.get(&p.number).map(String::as_str)
                                == Some(p.etag.trim_matches('"'));
                            if p.number != expect || !full || !same {
                                break;
                            }
                            resume += p.size;
                            parts.insert(p.number, p.etag);
                        }
                        upload_id = Some(u.upload_id.clone());
                        tracing::info!(
                            path,
                            resume,
                            parts = parts.len(),
                            "resuming the multipart upload of an earlier attempt"
                        );
                    }
                    Ok(None) => store.forget_upload(&u.upload_id)?,
                    Err(e) => return Err(e),
                }
            } else {
                // Another source version, or too old: it can never be completed.
                b.abort_upload(key.as_ref(), &u.upload_id).await;
            }
        }
        let upload_id = match upload_id {
            Some(id) => id,
            None => {
                let opts = PutMultipartOptions {
                    attributes: super::meta_attributes(version),
                    ..Default::default()
                };
                let id = conn.store.create_multipart_opts(&key, opts).await.map_err(|e| {
                    map_err(&e, "CreateMultipartUpload", path, &conn.redact).with_path(path)
                })?;
                if let Some(store) = &b.store {
                    store.put_upload(&Upload {
                        location: loc.clone(),
                        key: key.as_ref().to_string(),
                        fingerprint: fp,
                        upload_id: id.clone(),
                        part_size,
                        created_ns: super::now_ns(),
                    })?;
                }
                id
            }
        };
        Ok(MultipartSink {
            stored: b.store.is_some(),
            next_part: parts.len() as u32 + 1,
            b,
            path: path.to_string(),
            key,
            upload_id,
            part_size,
            buf: Vec::new(),
            inflight: JoinSet::new(),
            parts,
            resume,
        })
    }

    /// Sends one part in the background, after waiting for room.
    async fn send(&mut self, data: Vec<u8>) -> Result<()> {
        while self.inflight.len() >= self.b.opts.part_concurrency.max(1) {
            self.reap_one().await?;
        }
        let number = self.next_part;
        self.next_part += 1;
        let (b, key, id, path) =
            (self.b.clone(), self.key.clone(), self.upload_id.clone(), self.path.clone());
        self.inflight.spawn(async move {
            let conn = b.conn()?;
            let size = data.len() as u64;
            let PartId { content_id } = conn
                .store
                .put_part(&key, &id, number as usize - 1, PutPayload::from(data))
                .await
                .map_err(|e| {
                    map_err(&e, "UploadPart", &format!("{path} (part {number})"), &conn.redact)
                        .with_path(&path)
                })?;
            if let Some(store) = &b.store {
                store.put_upload_part(
                    &id,
                    &UploadedPart { number, etag: content_id.clone(), size },
                )?;
            }
            Ok((number, content_id, size))
        });
        Ok(())
    }

    /// Waits for one part in flight; its failure fails the upload.
    async fn reap_one(&mut self) -> Result<()> {
        match self.inflight.join_next().await {
            Some(Ok(Ok((n, etag, _)))) => {
                self.parts.insert(n, etag);
                Ok(())
            }
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(Error::internal(format!("a part upload task failed: {e}"))),
            None => Ok(()),
        }
    }

    /// Forgets the upload when the service no longer knows it, so that the next attempt starts afresh.
    fn forget_if_gone(&self, e: &Error) {
        if upload_gone(e)
            && let Some(store) = &self.b.store
        {
            let _ = store.forget_upload(&self.upload_id);
        }
    }

    /// Waits for every part in flight; the first failure is returned after all have ended.
    async fn reap_all(&mut self) -> Result<()> {
        let mut first = None;
        while !self.inflight.is_empty() {
            if let Err(e) = self.reap_one().await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[async_trait]
impl WriteSink for MultipartSink {
    fn resume_offset(&self) -> u64 {
        self.resume
    }

    async fn write_chunk(&mut self, mut data: &[u8]) -> Result<()> {
        let ps = self.part_size as usize;
        while !data.is_empty() {
            let take = (ps - self.buf.len()).min(data.len());
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(ps);
            }
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == ps {
                let part = std::mem::take(&mut self.buf);
                self.send(part).await?;
            }
        }
        Ok(())
    }

    async fn commit(
        mut self: Box<Self>,
        _entry: &Entry,
        verify_blake3: Option<&str>,
    ) -> Result<()> {
        if !self.buf.is_empty() || self.next_part == 1 {
            let last = std::mem::take(&mut self.buf);
            self.send(last).await?;
        }
        if let Err(e) = self.reap_all().await {
            self.forget_if_gone(&e);
            return Err(e);
        }
        let conn = self.b.conn()?;
        let parts: Vec<PartId> = (1..self.next_part)
            .map(|n| {
                self.parts.get(&n).cloned().map(|content_id| PartId { content_id }).ok_or_else(
                    || Error::internal(format!("{}: part {n} of the upload is missing", self.path)),
                )
            })
            .collect::<Result<_>>()?;
        if let Err(e) = conn.store.complete_multipart(&self.key, &self.upload_id, parts).await {
            let e = map_err(&e, "CompleteMultipartUpload", &self.path, &conn.redact)
                .with_path(&self.path);
            self.forget_if_gone(&e);
            return Err(e);
        }
        if let Some(store) = &self.b.store {
            store.forget_upload(&self.upload_id)?;
        }
        if let Some(want) = verify_blake3 {
            self.b.verify(&self.path, want).await?;
        }
        Ok(())
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.inflight.abort_all();
        while self.inflight.join_next().await.is_some() {}
        self.b.abort_upload(self.key.as_ref(), &self.upload_id).await;
        Ok(())
    }

    async fn keep_partial(mut self: Box<Self>) -> Result<()> {
        if !self.stored {
            // Nothing remembers it: it could never be resumed.
            return self.abort().await;
        }
        // Parts already on their way are let finish (and recorded), so the next attempt skips them.
        let _ = self.reap_all().await;
        Ok(())
    }
}

impl Drop for MultipartSink {
    fn drop(&mut self) {
        self.inflight.abort_all();
    }
}

/// Whether an error means the upload must start over (the service no longer knows it).
pub(super) fn upload_gone(e: &Error) -> bool {
    e.kind() == ErrorKind::NotFound
}
