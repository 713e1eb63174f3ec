//! The Drive v3 REST calls syncwright makes, and how their failures map to error kinds.
//!
//! | call | request |
//! |---|---|
//! | files.list | `GET /drive/v3/files?q=…&fields=nextPageToken,files(…)&pageSize=1000[&pageToken=…]` |
//! | files.get | `GET /drive/v3/files/ID?fields=…`, content with `alt=media` (and `Range`) |
//! | files.create (folders) | `POST /drive/v3/files` with the metadata as JSON |
//! | files.update (metadata, moves) | `PATCH /drive/v3/files/ID[?addParents=…&removeParents=…]` |
//! | files.delete | `DELETE /drive/v3/files/ID` |
//! | uploads | `POST /upload/drive/v3/files` (create) or `PATCH /upload/drive/v3/files/ID` (new content of an existing file) with `uploadType=multipart` (metadata and content in one `multipart/related` body) or `uploadType=resumable` (a session URI from `Location`, then `PUT`s with `Content-Range`, `308 Resume Incomplete` until the last) |
//!
//! Errors: 401 (after one token refresh) is `auth`; 403 `userRateLimitExceeded`/`rateLimitExceeded` and 429 are
//! `unavailable` with "rate limit" in the message (classified rate_limited); other 403s are `permission`
//! (`storageQuotaExceeded`: `resource`); 404 `not_found`; 5xx `unavailable`; broken connections `network`;
//! time-outs `timeout`. A `Retry-After` header goes into the details as `retry_after_secs`.

use super::auth::TokenSource;
use crate::error::{Error, ErrorKind, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;

/// The MIME type of Drive folders.
pub(super) const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
/// The fields syncwright reads of every file.
pub(super) const FILE_FIELDS: &str =
    "id,name,mimeType,size,modifiedTime,md5Checksum,sha256Checksum,appProperties";
/// Resumable chunks are multiples of this (Drive's rule).
pub(super) const CHUNK_UNIT: u64 = 256 << 10;

/// A file or folder as Drive describes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DriveFile {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub mime_type: String,
    #[serde(default, deserialize_with = "de_size")]
    pub size: Option<u64>,
    #[serde(default)]
    pub modified_time: Option<String>,
    #[serde(default)]
    pub md5_checksum: Option<String>,
    /// Drive's own SHA-256 of the content (binary files), what a checksum comparison trusts.
    #[serde(default)]
    pub sha256_checksum: Option<String>,
    #[serde(default)]
    pub app_properties: HashMap<String, String>,
}

impl DriveFile {
    /// Whether it is a folder.
    pub fn is_folder(&self) -> bool {
        self.mime_type == FOLDER_MIME
    }

    /// Whether it is a Google Docs, Sheets, ... document (no binary content to copy).
    pub fn is_google_doc(&self) -> bool {
        self.mime_type.starts_with("application/vnd.google-apps.") && !self.is_folder()
    }
}

/// Drive sends int64 values as JSON strings.
fn de_size<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        Str(String),
        Num(u64),
    }
    Ok(match Option::<S>::deserialize(d)? {
        Some(S::Str(s)) => s.parse().ok(),
        Some(S::Num(n)) => Some(n),
        None => None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileList {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    files: Vec<DriveFile>,
}

/// Quotes a value for a files.list query (`'` and `\` escaped).
pub(super) fn q_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A reqwest failure as an error of kind network or timeout; never shows the URL (session URIs are
/// credentials).
pub(super) fn net_err(e: reqwest::Error, what: &str) -> Error {
    let e = e.without_url();
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_builder() {
        ErrorKind::InvalidInput
    } else if e.is_decode() {
        ErrorKind::Corrupt
    } else {
        ErrorKind::Network
    };
    let mut msg = format!("{what}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::new(kind, msg)
}

/// Seconds of a `Retry-After` header given in seconds.
pub(super) fn retry_after(h: &reqwest::header::HeaderMap) -> Option<u64> {
    h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

/// The error a Drive response with a failure status stands for.
pub(super) fn status_error(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    what: &str,
) -> Error {
    // {"error": {"code": 403, "message": "...", "errors": [{"domain": "usageLimits", "reason": "..."}]}}
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let short = |s: &str| s.chars().take(300).collect::<String>();
    let message = v["error"]["message"].as_str().map(short).unwrap_or_default();
    let reason = v["error"]["errors"][0]["reason"].as_str().map(short).unwrap_or_default();
    let detail = match (reason.is_empty(), message.is_empty()) {
        (true, true) => String::new(),
        (true, false) => format!(": {message}"),
        (false, true) => format!(" ({reason})"),
        (false, false) => format!(" ({reason}): {message}"),
    };
    let (kind, msg) = match status {
        401 => (ErrorKind::Auth, format!("{what}: 401 not authorised{detail}")),
        403 if matches!(reason.as_str(), "userRateLimitExceeded" | "rateLimitExceeded") => {
            (ErrorKind::Unavailable, format!("{what}: 403 rate limit ({reason}): {message}"))
        }
        403 if matches!(reason.as_str(), "storageQuotaExceeded" | "quotaExceeded") => {
            (ErrorKind::Resource, format!("{what}: 403 over the storage quota{detail}"))
        }
        403 => (ErrorKind::Permission, format!("{what}: 403 forbidden{detail}")),
        404 | 410 => (ErrorKind::NotFound, format!("{what}: {status} not found{detail}")),
        400 | 416 => (ErrorKind::InvalidInput, format!("{what}: {status} bad request{detail}")),
        409 | 412 => (ErrorKind::Conflict, format!("{what}: {status} conflict{detail}")),
        429 => (ErrorKind::Unavailable, format!("{what}: 429 rate limited{detail}")),
        500..=599 => {
            (ErrorKind::Unavailable, format!("{what}: {status} service unavailable{detail}"))
        }
        _ => (ErrorKind::Internal, format!("{what}: unexpected status {status}{detail}")),
    };
    let e = Error::new(kind, msg);
    match retry_after(headers) {
        Some(s) => e.with_details(serde_json::json!({ "retry_after_secs": s })),
        None => e,
    }
}

/// What a `PUT` to an upload session said.
#[derive(Debug)]
pub(super) enum UploadState {
    /// `308 Resume Incomplete`: the server holds this many bytes.
    Incomplete(u64),
    /// The upload is complete: the file.
    Done(DriveFile),
    /// The session expired or is unknown (404/410): start a new one.
    Gone,
}

/// A Drive client: an HTTP client, the API's base URL and the account's tokens.
#[derive(Debug)]
pub(super) struct Api {
    http: reqwest::Client,
    base: String,
    auth: TokenSource,
}

/// Builds one request (called again when it is re-sent with a fresh token).
pub(super) type Build<'a> = &'a (dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync);

impl Api {
    /// A client for the API at `base` (no trailing `/`).
    pub fn new(base: &str, auth: TokenSource) -> Result<Api> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .pool_idle_timeout(Duration::from_secs(30))
            // A resumable upload's "308 Resume Incomplete" is an answer, never a redirect to follow.
            .redirect(reqwest::redirect::Policy::custom(|a| {
                if a.status().as_u16() == 308 || a.previous().len() >= 10 {
                    a.stop()
                } else {
                    a.follow()
                }
            }));
        if super::auth::is_loopback_url(base) {
            b = b.no_proxy();
        }
        let http = b.build().map_err(|e| net_err(e, "cannot set up the HTTP client"))?;
        Ok(Api { http, base: base.trim_end_matches('/').to_string(), auth })
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with the current access token; a 401 makes it fetch a new token and send once more.
    /// Returns the response whatever its status.
    pub async fn send(&self, what: &str, build: Build<'_>) -> Result<reqwest::Response> {
        let mut refreshed = false;
        loop {
            let token = self.auth.token(&self.http).await?;
            let resp = build(&self.http)
                .bearer_auth(token.expose())
                .send()
                .await
                .map_err(|e| net_err(e, what))?;
            if resp.status().as_u16() == 401 && !refreshed {
                self.auth.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// [`Api::send`], with failure statuses turned into errors.
    pub async fn send_ok(&self, what: &str, build: Build<'_>) -> Result<reqwest::Response> {
        let resp = self.send(what, build).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(Self::fail(resp, what).await)
    }

    /// The error of a failed response.
    pub async fn fail(resp: reqwest::Response, what: &str) -> Error {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        status_error(status, &headers, &body, what)
    }

    /// [`Api::send_ok`] and the JSON of the answer.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        build: Build<'_>,
    ) -> Result<T> {
        let resp = self.send_ok(what, build).await?;
        let bytes = resp.bytes().await.map_err(|e| net_err(e, what))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::new(ErrorKind::Corrupt, format!("{what}: unreadable answer: {e}")))
    }

    /// Every file matching `q`, following `nextPageToken`; `page_size` at most (Drive caps it at 1000).
    pub async fn list(&self, q: &str, page_size: u32, what: &str) -> Result<Vec<DriveFile>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page: FileList = self.list_page(q, page_size, token.as_deref(), what).await?;
            out.extend(page.files);
            match page.next_page_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }

    async fn list_page(
        &self,
        q: &str,
        page_size: u32,
        page_token: Option<&str>,
        what: &str,
    ) -> Result<FileList> {
        let url = self.url("/drive/v3/files");
        let fields = format!("nextPageToken,files({FILE_FIELDS})");
        let size = page_size.to_string();
        self.json(what, &|c| {
            let mut query: Vec<(&str, &str)> = vec![
                ("q", q),
                ("fields", &fields),
                ("pageSize", &size),
                ("spaces", "drive"),
                ("supportsAllDrives", "true"),
                ("includeItemsFromAllDrives", "true"),
            ];
            if let Some(t) = page_token {
                query.push(("pageToken", t));
            }
            c.get(with_query(&url, &query))
        })
        .await
    }

    /// The children of `folder` (files and folders, not trashed).
    pub async fn children(&self, folder: &str, what: &str) -> Result<Vec<DriveFile>> {
        let q = format!("{} in parents and trashed = false", q_str(folder));
        self.list(&q, 1000, what).await
    }

    /// Whether `folder` has any child that is not trashed.
    pub async fn has_children(&self, folder: &str, what: &str) -> Result<bool> {
        let q = format!("{} in parents and trashed = false", q_str(folder));
        Ok(!self.list_page(&q, 1, None, what).await?.files.is_empty())
    }

    /// The children of `parent` named `name` (`folders`: only folders, or only other files; None: both).
    pub async fn find(
        &self,
        parent: &str,
        name: &str,
        folders: Option<bool>,
        what: &str,
    ) -> Result<Vec<DriveFile>> {
        let mut q =
            format!("{} in parents and name = {} and trashed = false", q_str(parent), q_str(name));
        match folders {
            Some(true) => q.push_str(&format!(" and mimeType = {}", q_str(FOLDER_MIME))),
            Some(false) => q.push_str(&format!(" and mimeType != {}", q_str(FOLDER_MIME))),
            None => {}
        }
        self.list(&q, 100, what).await
    }

    /// Creates a file without content (a folder) from its metadata.
    pub async fn create(&self, meta: &serde_json::Value, what: &str) -> Result<DriveFile> {
        let url = with_query(
            &self.url("/drive/v3/files"),
            &[("fields", FILE_FIELDS), ("supportsAllDrives", "true")],
        );
        let body = meta.to_string();
        self.json(what, &|c| {
            c.post(&url)
                .header("Content-Type", "application/json; charset=UTF-8")
                .body(body.clone())
        })
        .await
    }

    /// Changes metadata (and moves, with `add_parent`/`remove_parent`).
    pub async fn update(
        &self,
        id: &str,
        meta: &serde_json::Value,
        add_parent: Option<&str>,
        remove_parent: Option<&str>,
        what: &str,
    ) -> Result<DriveFile> {
        let mut query = vec![("fields", FILE_FIELDS), ("supportsAllDrives", "true")];
        if let Some(p) = add_parent {
            query.push(("addParents", p));
        }
        if let Some(p) = remove_parent {
            query.push(("removeParents", p));
        }
        let url = with_query(&self.url(&format!("/drive/v3/files/{id}")), &query);
        let body = meta.to_string();
        self.json(what, &|c| {
            c.patch(&url)
                .header("Content-Type", "application/json; charset=UTF-8")
                .body(body.clone())
        })
        .await
    }

    /// Deletes a file (a folder with everything in it) for good; a missing one is fine.
    pub async fn delete(&self, id: &str, what: &str) -> Result<()> {
        let url = with_query(
            &self.url(&format!("/drive/v3/files/{id}")),
            &[("supportsAllDrives", "true")],
        );
        let resp = self.send(what, &|c| c.delete(&url)).await?;
        match resp.status().as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(Self::fail(resp, what).await),
        }
    }

    /// The content of a file from `offset` on, as a response to read in chunks.
    pub async fn download(&self, id: &str, offset: u64, what: &str) -> Result<reqwest::Response> {
        let url = with_query(
            &self.url(&format!("/drive/v3/files/{id}")),
            &[("alt", "media"), ("supportsAllDrives", "true")],
        );
        self.send_ok(what, &|c| {
            let r = c.get(&url);
            if offset > 0 { r.header("Range", format!("bytes={offset}-")) } else { r }
        })
        .await
    }

    /// Uploads a whole file in one `multipart/related` request: a new file (`existing` None, the metadata names
    /// its parent) or new content and metadata for `existing`.
    pub async fn upload_multipart(
        &self,
        existing: Option<&str>,
        meta: &serde_json::Value,
        data: &[u8],
        what: &str,
    ) -> Result<DriveFile> {
        let mut boundary = format!("syncwright-{:032x}", fastrand::u128(..));
        while data.windows(boundary.len()).any(|w| w == boundary.as_bytes()) {
            boundary = format!("syncwright-{:032x}", fastrand::u128(..));
        }
        let mut body = Vec::with_capacity(data.len() + 512);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n\
                 --{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = self.upload_url(existing, "multipart");
        let ctype = format!("multipart/related; boundary={boundary}");
        self.json(what, &|c| {
            let r = match existing {
                Some(_) => c.patch(&url),
                None => c.post(&url),
            };
            r.header("Content-Type", &ctype).body(body.clone())
        })
        .await
    }

    fn upload_url(&self, existing: Option<&str>, kind: &str) -> String {
        let path = match existing {
            Some(id) => format!("/upload/drive/v3/files/{id}"),
            None => "/upload/drive/v3/files".to_string(),
        };
        with_query(
            &self.url(&path),
            &[("uploadType", kind), ("fields", FILE_FIELDS), ("supportsAllDrives", "true")],
        )
    }

    /// Opens a resumable upload session for `size` bytes; returns the session URI.
    pub async fn start_resumable(
        &self,
        existing: Option<&str>,
        meta: &serde_json::Value,
        size: u64,
        what: &str,
    ) -> Result<String> {
        let url = self.upload_url(existing, "resumable");
        let body = meta.to_string();
        let resp = self
            .send_ok(what, &|c| {
                let r = match existing {
                    Some(_) => c.patch(&url),
                    None => c.post(&url),
                };
                r.header("Content-Type", "application/json; charset=UTF-8")
                    .header("X-Upload-Content-Type", "application/octet-stream")
                    .header("X-Upload-Content-Length", size.to_string())
                    .body(body.clone())
            })
            .await?;
        resp.headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                Error::new(ErrorKind::Corrupt, format!("{what}: no upload session in the answer"))
            })
    }

    /// Sends bytes `start..start + data.len()` of `total` to a session (`data` empty: asks how much the server
    /// holds).
    pub async fn put_chunk(
        &self,
        session: &str,
        start: u64,
        data: &[u8],
        total: u64,
        what: &str,
    ) -> Result<UploadState> {
        let range = if data.is_empty() {
            format!("bytes */{total}")
        } else {
            format!("bytes {start}-{}/{total}", start + data.len() as u64 - 1)
        };
        let resp = self
            .send(what, &|c| c.put(session).header("Content-Range", &range).body(data.to_vec()))
            .await?;
        let status = resp.status().as_u16();
        match status {
            308 => {
                // "Range: bytes=0-N": the server holds N + 1 bytes; no header: none.
                let held = resp
                    .headers()
                    .get(reqwest::header::RANGE)
                    .and_then(|r| r.to_str().ok())
                    .and_then(|r| r.trim().strip_prefix("bytes=0-"))
                    .and_then(|n| n.parse::<u64>().ok())
                    .map(|n| n + 1)
                    .unwrap_or(0);
                Ok(UploadState::Incomplete(held))
            }
            200 | 201 => {
                let bytes = resp.bytes().await.map_err(|e| net_err(e, what))?;
                let f: DriveFile = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::new(ErrorKind::Corrupt, format!("{what}: unreadable answer: {e}"))
                })?;
                Ok(UploadState::Done(f))
            }
            404 | 410 => Ok(UploadState::Gone),
            _ => Err(Self::fail(resp, what).await),
        }
    }
}

/// `url` with `query` appended, encoded.
fn with_query(url: &str, query: &[(&str, &str)]) -> String {
    let mut u = reqwest::Url::parse(url).expect("the API base was checked to be a URL");
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in query {
            q.append_pair(k, v);
        }
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::{Category, classify};

    fn err(status: u16, reason: &str, retry: Option<&str>) -> Error {
        let mut h = reqwest::header::HeaderMap::new();
        if let Some(r) = retry {
            h.insert(reqwest::header::RETRY_AFTER, r.parse().unwrap());
        }
        let body = serde_json::json!({"error": {"code": status, "message": "m",
            "errors": [{"domain": "usageLimits", "reason": reason, "message": "m"}]}});
        status_error(status, &h, body.to_string().as_bytes(), "upload a.bin")
    }

    #[test]
    fn drive_errors_classify() {
        let c = |e: &Error| classify(e).category;
        assert_eq!(c(&err(403, "userRateLimitExceeded", None)), Category::RateLimited);
        assert_eq!(c(&err(403, "rateLimitExceeded", None)), Category::RateLimited);
        assert_eq!(c(&err(429, "rateLimitExceeded", None)), Category::RateLimited);
        assert_eq!(c(&err(403, "insufficientFilePermissions", None)), Category::Permission);
        assert_eq!(c(&err(403, "storageQuotaExceeded", None)), Category::ResourceQuota);
        assert_eq!(c(&err(500, "backendError", None)), Category::ServiceUnavailable);
        assert_eq!(c(&err(503, "backendError", None)), Category::ServiceUnavailable);
        assert_eq!(c(&err(401, "authError", None)), Category::Auth);
        assert_eq!(err(404, "notFound", None).kind(), ErrorKind::NotFound);
        let e = err(429, "rateLimitExceeded", Some("7"));
        assert_eq!(classify(&e).retry_after, Some(Duration::from_secs(7)));
        assert!(e.message().contains("upload a.bin"));
    }

    #[test]
    fn query_values_are_quoted() {
        assert_eq!(q_str("it's a\\b"), "'it\\'s a\\\\b'");
    }
}
