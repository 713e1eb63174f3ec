//! A fake Google Drive for tests: a real HTTP/1.1 server on 127.0.0.1 (a free port) that implements exactly the
//! Drive v3 calls syncwright makes, on their documented wire format, and fails the way Drive fails.
//!
//! - `POST /token`: Google's OAuth token endpoint for service accounts. Checks the JWT assertion (RS256 signature
//!   against the test key's public key, `iss`, `aud`, `scope`, `iat`/`exp`); answers `{"access_token", "expires_in",
//!   "token_type"}` or `400 {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}`.
//! - `GET /drive/v3/files`: files.list with the `q` forms syncwright sends (`'ID' in parents`, `name = '…'`,
//!   `mimeType = / != '…'`, `trashed = false`, `and`, `or`, parentheses), paged with `nextPageToken` (the page size
//!   is capped small to force paging).
//! - `GET /drive/v3/files/ID` (metadata) and `?alt=media` (content, with `Range: bytes=a-[b]` → 206).
//! - `POST /drive/v3/files` (metadata-only create: folders), `PATCH /drive/v3/files/ID` (metadata, `addParents`,
//!   `removeParents`; `appProperties` entries set to null are cleared), `DELETE /drive/v3/files/ID` (recursive).
//! - Uploads: `POST /upload/drive/v3/files` and `PATCH /upload/drive/v3/files/ID` with `uploadType=multipart`
//!   (`multipart/related`: JSON metadata part, media part) and `uploadType=resumable` (session URI in `Location`;
//!   `PUT` with `Content-Range: bytes a-b/total`, chunks a multiple of 256 KiB except the last, `308 Resume
//!   Incomplete` with `Range: bytes=0-N`, status queries with `Content-Range: bytes */total`).
//! - Every API call needs `Authorization: Bearer` with a live token (else `401 authError`); upload session URIs
//!   are their own credential. `appProperties` are limited to 124 bytes per key and value, as on Drive.
//! - Errors have Drive's body: `{"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}`.
//!
//! Fault injection: the next N matching requests answer 403 `userRateLimitExceeded`, 429 `rateLimitExceeded`
//! or a 5xx ([`Fault`]); a resumable upload can be cut after byte N (the connection is closed mid-body, the
//! server keeps what it had, rounded down to 256 KiB as Drive does); the next token can expire after N requests.
//! Counters of every kind of request let tests check what was sent.
#![allow(dead_code)]

use aws_lc_rs::encoding::AsDer;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

pub const FOLDER: &str = "application/vnd.google-apps.folder";
pub const CLIENT_EMAIL: &str = "syncwright-test@fake-project.iam.gserviceaccount.com";
pub const SCOPE: &str = "https://www.googleapis.com/auth/drive.file";
const UNIT: usize = 256 << 10;

/// An RSA key made for one test run.
#[derive(Clone)]
pub struct TestKey {
    /// The private key, PKCS#8 PEM (what a service-account JSON holds).
    pub pem: String,
    /// The public key, DER RSAPublicKey.
    pub public_der: Vec<u8>,
}

impl TestKey {
    pub fn generate() -> TestKey {
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).unwrap();
        let b64 = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> =
            b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let public_der = aws_lc_rs::signature::KeyPair::public_key(&kp).as_ref().to_vec();
        TestKey { pem, public_der }
    }
}

/// What a fault answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 403 with reason userRateLimitExceeded.
    UserRateLimit,
    /// 429 with reason rateLimitExceeded (and `Retry-After` when given).
    TooManyRequests(Option<u64>),
    /// This 5xx with reason backendError.
    Server(u16),
}

/// Which requests a fault hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Any API request (not the token endpoint).
    Any,
    /// Upload requests (multipart, session starts, chunks).
    Uploads,
    /// Uploads of a file of this name (new or replaced).
    UploadsOf(String),
    /// files.list.
    Lists,
    /// Content downloads.
    Media,
}

/// The next `times` requests matching `target` fail with `kind`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub target: Target,
    pub kind: FaultKind,
    pub times: u64,
}

/// Requests seen, by kind.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Token endpoint calls.
    pub token: u64,
    /// API requests (everything but the token endpoint).
    pub requests: u64,
    pub lists: u64,
    pub meta_gets: u64,
    pub media: u64,
    pub creates: u64,
    pub updates: u64,
    pub deletes: u64,
    pub multipart: u64,
    pub resumable_starts: u64,
    pub chunk_puts: u64,
    pub status_queries: u64,
    /// Content bytes received (media parts and chunks).
    pub upload_bytes: u64,
    /// Requests refused with 401.
    pub unauthorized: u64,
    /// Requests answered by an injected fault.
    pub faults: u64,
    /// Connections cut mid-upload.
    pub cuts: u64,
    /// Content bytes received, by the name of the file they are for.
    pub uploaded: BTreeMap<String, u64>,
}

impl Counters {
    /// Content bytes received for files named `name`.
    pub fn uploaded(&self, name: &str) -> u64 {
        self.uploaded.get(name).copied().unwrap_or(0)
    }
}

/// A file or folder.
#[derive(Debug, Clone)]
pub struct FFile {
    pub id: String,
    pub name: String,
    pub mime_type: String,
    pub parents: Vec<String>,
    pub content: Vec<u8>,
    pub app_properties: BTreeMap<String, String>,
    pub modified_time: String,
    pub trashed: bool,
    seq: u64,
}

impl FFile {
    fn json(&self) -> Value {
        let mut v = json!({
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "modifiedTime": self.modified_time,
            "parents": self.parents,
        });
        if self.mime_type != FOLDER {
            v["size"] = self.content.len().to_string().into();
            // Drive computes it for files with binary content.
            use sha2::Digest;
            v["sha256Checksum"] = hex::encode(sha2::Sha256::digest(&self.content)).into();
        }
        if !self.app_properties.is_empty() {
            v["appProperties"] = json!(self.app_properties);
        }
        v
    }
}

struct Token {
    issued: Instant,
    ttl: Duration,
    requests: u64,
    max_requests: Option<u64>,
}

struct Session {
    /// The file to update, or None to create one from `meta`.
    file: Option<String>,
    meta: Value,
    total: u64,
    data: Vec<u8>,
    done: Option<String>,
}

pub struct State {
    pub public_der: Vec<u8>,
    pub files: BTreeMap<String, FFile>,
    seq: u64,
    sessions: HashMap<String, Session>,
    tokens: HashMap<String, Token>,
    pub counters: Counters,
    pub faults: Vec<Fault>,
    /// Largest page files.list returns.
    pub page_size: usize,
    /// Cut the connection of the resumable upload that reaches this byte.
    pub cut_upload_at: Option<u64>,
    /// The next token issued expires after this many API requests.
    pub next_token_max_requests: Option<u64>,
    /// Lifetime of issued tokens.
    pub token_ttl: Duration,
    base: String,
}

/// The fake server; stops when dropped.
pub struct Fake {
    pub base: String,
    pub state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    /// Starts a fake that accepts tokens signed with `key`.
    pub fn start(key: &TestKey) -> Fake {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", std_listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            public_der: key.public_der.clone(),
            files: BTreeMap::new(),
            seq: 0,
            sessions: HashMap::new(),
            tokens: HashMap::new(),
            counters: Counters::default(),
            faults: Vec::new(),
            page_size: 3,
            cut_upload_at: None,
            next_token_max_requests: None,
            token_ttl: Duration::from_secs(3600),
            base: base.clone(),
        }));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                tokio::select! {
                    _ = rx => {}
                    _ = async {
                        loop {
                            let Ok((sock, _)) = listener.accept().await else { continue };
                            tokio::spawn(connection(sock, st.clone()));
                        }
                    } => {}
                }
            });
            // Dropping the runtime closes every connection.
        });
        Fake { base, state, stop: Some(tx), thread: Some(thread) }
    }

    /// Stops the server: the port refuses connections from now on.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// The token endpoint's URL.
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.base)
    }

    /// A service-account JSON key for this fake, signed with `key`'s private half, written into `dir`.
    pub fn write_credentials(&self, dir: &Path, key: &TestKey) -> PathBuf {
        let json = json!({
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": "0123456789abcdef",
            "private_key": key.pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000000",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri(),
        });
        let p = dir.join("service-account.json");
        std::fs::write(&p, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        p
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a folder with a given id at the top (a folder shared with the service account).
    pub fn add_folder(&self, id: &str) {
        let mut s = self.lock();
        s.seq += 1;
        let seq = s.seq;
        s.files.insert(
            id.into(),
            FFile {
                id: id.into(),
                name: id.into(),
                mime_type: FOLDER.into(),
                parents: vec![],
                content: vec![],
                app_properties: BTreeMap::new(),
                modified_time: now(),
                trashed: false,
                seq,
            },
        );
    }

    /// Adds a file `name` in `parent` (as another tool would); returns its id.
    pub fn add_file(&self, parent: &str, name: &str, mime: &str, content: &[u8]) -> String {
        let mut s = self.lock();
        let id = s.new_id();
        let seq = s.seq;
        s.files.insert(
            id.clone(),
            FFile {
                id: id.clone(),
                name: name.into(),
                mime_type: mime.into(),
                parents: vec![parent.into()],
                content: content.to_vec(),
                app_properties: BTreeMap::new(),
                modified_time: now(),
                trashed: false,
                seq,
            },
        );
        id
    }

    pub fn counters(&self) -> Counters {
        self.lock().counters.clone()
    }

    pub fn inject(&self, target: Target, kind: FaultKind, times: u64) {
        self.lock().faults.push(Fault { target, kind, times });
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    pub fn cut_upload_at(&self, byte: u64) {
        self.lock().cut_upload_at = Some(byte);
    }

    pub fn expire_next_token_after(&self, requests: u64) {
        self.lock().next_token_max_requests = Some(requests);
    }

    /// Upload sessions not completed yet.
    pub fn open_sessions(&self) -> usize {
        self.lock().sessions.values().filter(|s| s.done.is_none()).count()
    }

    /// Everything below folder `root`: relative path → file (folders end with `/`).
    /// Replaces a file's content as an edit in Drive does: appProperties (syncwright's recorded hashes and mtime)
    /// and the modified time stay, `sha256Checksum` follows the content.
    pub fn edit_content(&self, id: &str, content: &[u8]) {
        let mut s = self.lock();
        let f = s.files.get_mut(id).expect("a file of the fake");
        f.content = content.to_vec();
    }

    pub fn tree(&self, root: &str) -> BTreeMap<String, FFile> {
        let s = self.lock();
        let mut out = BTreeMap::new();
        let mut stack = vec![(root.to_string(), String::new())];
        while let Some((id, rel)) = stack.pop() {
            for f in s.files.values().filter(|f| !f.trashed && f.parents.contains(&id)) {
                let p = if rel.is_empty() { f.name.clone() } else { format!("{rel}/{}", f.name) };
                if f.mime_type == FOLDER {
                    stack.push((f.id.clone(), p.clone()));
                    out.insert(format!("{p}/"), f.clone());
                } else {
                    out.insert(p, f.clone());
                }
            }
        }
        out
    }

    /// How many files (not folders) are named `name` in `parent`.
    pub fn count_named(&self, parent: &str, name: &str) -> usize {
        let s = self.lock();
        s.files
            .values()
            .filter(|f| !f.trashed && f.name == name && f.parents.iter().any(|p| p == parent))
            .count()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop();
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl State {
    fn new_id(&mut self) -> String {
        self.seq += 1;
        format!("fid{:06}{}", self.seq, "x".repeat(20))
    }

    fn is_live_folder(&self, id: &str) -> bool {
        self.files.get(id).is_some_and(|f| f.mime_type == FOLDER && !f.trashed)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------------------------

struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
    fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, v: Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json; charset=UTF-8".into())],
            body: v.to_string().into_bytes(),
        }
    }
    fn empty(status: u16) -> Response {
        Response { status, headers: vec![], body: vec![] }
    }
    fn with_header(mut self, k: &str, v: impl Into<String>) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// Drive's error body.
fn drive_error(code: u16, reason: &str, domain: &str, message: &str) -> Response {
    Response::json(
        code,
        json!({"error": {"code": code, "message": message,
            "errors": [{"domain": domain, "reason": reason, "message": message}]}}),
    )
}

fn not_found(id: &str) -> Response {
    drive_error(404, "notFound", "global", &format!("File not found: {id}."))
}

fn bad_request(message: &str) -> Response {
    drive_error(400, "invalid", "global", message)
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        308 => "Resume Incomplete",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

async fn connection(sock: tokio::net::TcpStream, st: Arc<Mutex<State>>) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    loop {
        let mut line = String::new();
        match r.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else { return };
        let (method, target) = (method.to_string(), target.to_string());
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let mut req = Request {
            method,
            path: path.to_string(),
            query: parse_query(query),
            headers,
            body: vec![],
        };
        let len: usize = req.header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        // A resumable chunk that crosses the cut point: take the bytes up to it, keep what Drive would, and
        // close the connection without an answer.
        if req.method == "PUT"
            && let Some(sid) = req.param("upload_id").map(str::to_string)
            && let Some((start, _end, _total)) = req
                .header("content-range")
                .and_then(parse_content_range)
                .and_then(|r| r.0.map(|(a, b)| (a, b, r.1)))
        {
            let cut = {
                let s = st.lock().unwrap();
                s.cut_upload_at.filter(|c| *c > start && *c <= start + len as u64)
            };
            if let Some(cut) = cut {
                let take = (cut - start) as usize;
                let mut got = vec![0u8; take];
                let n = read_up_to(&mut r, &mut got).await;
                got.truncate(n);
                let mut s = st.lock().unwrap();
                s.cut_upload_at = None;
                s.counters.cuts += 1;
                s.counters.chunk_puts += 1;
                s.counters.requests += 1;
                s.counters.upload_bytes += n as u64;
                let name = session_name(&s, &sid).unwrap_or_default();
                *s.counters.uploaded.entry(name).or_default() += n as u64;
                if let Some(sess) = s.sessions.get_mut(&sid)
                    && start as usize <= sess.data.len()
                {
                    sess.data.truncate(start as usize);
                    sess.data.extend_from_slice(&got);
                    let keep = sess.data.len() / UNIT * UNIT;
                    sess.data.truncate(keep);
                }
                drop(s);
                // Dropping both halves closes the connection mid-request.
                return;
            }
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).await.is_err() {
            return;
        }
        req.body = body;
        let resp = {
            let mut s = st.lock().unwrap();
            handle(&mut s, &req)
        };
        let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason_phrase(resp.status));
        for (k, v) in &resp.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", resp.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&resp.body);
        if w.write_all(&bytes).await.is_err() {
            return;
        }
        if req.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
            return;
        }
    }
}

async fn read_up_to(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// `bytes a-b/total` → (Some((a, b)), total); `bytes */total` → (None, total).
fn parse_content_range(h: &str) -> Option<(Option<(u64, u64)>, u64)> {
    let rest = h.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let total = total.parse().ok()?;
    if range == "*" {
        return Some((None, total));
    }
    let (a, b) = range.split_once('-')?;
    Some((Some((a.parse().ok()?, b.parse().ok()?)), total))
}

// ---------------------------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------------------------

fn handle(s: &mut State, req: &Request) -> Response {
    if req.method == "POST" && req.path == "/token" {
        return token(s, req);
    }
    s.counters.requests += 1;
    let session_put = req.method == "PUT" && req.param("upload_id").is_some();
    if !session_put {
        let tok = req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
        let ok = match s.tokens.get_mut(tok) {
            Some(t) => {
                t.requests += 1;
                t.issued.elapsed() < t.ttl && t.max_requests.is_none_or(|m| t.requests <= m)
            }
            None => false,
        };
        if !ok {
            s.counters.unauthorized += 1;
            let mut r = drive_error(
                401,
                "authError",
                "global",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            );
            r = r.with_header(
                "WWW-Authenticate",
                "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
            );
            return r;
        }
    }
    if let Some(r) = fault(s, req) {
        s.counters.faults += 1;
        return r;
    }
    let upload = req.path.starts_with("/upload/drive/v3/files");
    let id = req
        .path
        .strip_prefix("/upload/drive/v3/files/")
        .or_else(|| req.path.strip_prefix("/drive/v3/files/"))
        .map(str::to_string);
    match (req.method.as_str(), upload, id) {
        ("GET", false, None) if req.path == "/drive/v3/files" => list(s, req),
        ("GET", false, Some(id)) => get(s, req, &id),
        ("POST", false, None) if req.path == "/drive/v3/files" => create_meta(s, req),
        ("PATCH", false, Some(id)) => update_meta(s, req, &id),
        ("DELETE", false, Some(id)) => delete(s, &id),
        ("PUT", true, _) if session_put => session_put_chunk(s, req),
        ("POST", true, None) | ("PATCH", true, Some(_)) => {
            let existing = req.path.strip_prefix("/upload/drive/v3/files/").map(str::to_string);
            match req.param("uploadType") {
                Some("multipart") => multipart(s, req, existing.as_deref()),
                Some("resumable") => start_session(s, req, existing.as_deref()),
                _ => bad_request("Invalid uploadType"),
            }
        }
        _ => Response::json(404, json!({"error": {"code": 404, "message": "Not Found"}})),
    }
}

fn session_name(s: &State, sid: &str) -> Option<String> {
    let sess = s.sessions.get(sid)?;
    match &sess.file {
        Some(id) => s.files.get(id).map(|f| f.name.clone()),
        None => sess.meta["name"].as_str().map(str::to_string),
    }
}

fn upload_name(s: &State, req: &Request) -> Option<String> {
    if let Some(sid) = req.param("upload_id") {
        return session_name(s, sid);
    }
    if let Some(id) = req.path.strip_prefix("/upload/drive/v3/files/") {
        return s.files.get(id).map(|f| f.name.clone());
    }
    if req.param("uploadType") == Some("resumable") {
        return serde_json::from_slice::<Value>(&req.body).ok()?["name"]
            .as_str()
            .map(str::to_string);
    }
    // Multipart: the name is in the JSON part.
    let text = String::from_utf8_lossy(&req.body);
    let i = text.find("\"name\":")?;
    let v: Value =
        serde_json::from_str(&format!("{{{}}}", text[i..].split([',', '}']).next()?)).ok()?;
    v["name"].as_str().map(str::to_string)
}

fn fault(s: &mut State, req: &Request) -> Option<Response> {
    let upload = req.path.starts_with("/upload/");
    let name = if upload { upload_name(s, req) } else { None };
    let hit = s.faults.iter_mut().find(|f| {
        f.times > 0
            && match &f.target {
                Target::Any => true,
                Target::Uploads => upload,
                Target::UploadsOf(n) => upload && name.as_deref() == Some(n.as_str()),
                Target::Lists => req.method == "GET" && req.path == "/drive/v3/files",
                Target::Media => req.param("alt") == Some("media"),
            }
    })?;
    hit.times -= 1;
    Some(match hit.kind {
        FaultKind::UserRateLimit => drive_error(
            403,
            "userRateLimitExceeded",
            "usageLimits",
            "User Rate Limit Exceeded. Rate of requests for user exceed configured project quota.",
        ),
        FaultKind::TooManyRequests(after) => {
            let r = drive_error(429, "rateLimitExceeded", "usageLimits", "Rate Limit Exceeded");
            match after {
                Some(a) => r.with_header("Retry-After", a.to_string()),
                None => r,
            }
        }
        FaultKind::Server(code) => drive_error(code, "backendError", "global", "Backend Error"),
    })
}

fn token(s: &mut State, req: &Request) -> Response {
    s.counters.token += 1;
    let form = parse_query(&String::from_utf8_lossy(&req.body));
    let invalid =
        |d: &str| Response::json(400, json!({"error": "invalid_grant", "error_description": d}));
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return Response::json(
            400,
            json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}),
        );
    }
    let Some(jwt) = form.get("assertion") else { return invalid("Missing assertion") };
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return invalid("Invalid JWT.");
    }
    let dec = |p: &str| {
        URL_SAFE_NO_PAD.decode(p).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let (Some(header), Some(claims), Ok(sig)) =
        (dec(parts[0]), dec(parts[1]), URL_SAFE_NO_PAD.decode(parts[2]))
    else {
        return invalid("Invalid JWT.");
    };
    if header["alg"] != "RS256" {
        return invalid("Invalid JWT: alg must be RS256.");
    }
    let key = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &s.public_der,
    );
    if key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).is_err() {
        return invalid("Invalid JWT Signature.");
    }
    let now = chrono::Utc::now().timestamp();
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
    if claims["iss"] != CLIENT_EMAIL {
        return invalid("Invalid issuer.");
    }
    if claims["aud"] != format!("{}/token", s.base) {
        return invalid("Invalid JWT: aud must be the token endpoint.");
    }
    if claims["scope"].as_str().is_none_or(|sc| sc.is_empty()) {
        return invalid("Invalid JWT: no scope.");
    }
    if exp <= now || iat > now + 60 || exp - iat > 3600 {
        return invalid(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    let value = format!("ya29.fake-{}-{}", s.counters.token, fastrand::u64(..));
    s.tokens.insert(
        value.clone(),
        Token {
            issued: Instant::now(),
            ttl: s.token_ttl,
            requests: 0,
            max_requests: s.next_token_max_requests.take(),
        },
    );
    Response::json(
        200,
        json!({"access_token": value, "expires_in": s.token_ttl.as_secs(), "token_type": "Bearer"}),
    )
}

// files.list queries ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Word(String),
    Op(String),
    Open,
    Close,
}

fn lex(q: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = q.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            ' ' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => {
                            s.push(*c.get(i + 1).ok_or("bad escape")?);
                            i += 2
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '=' => {
                out.push(Tok::Op("=".into()));
                i += 1
            }
            '!' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op("!=".into()));
                i += 2
            }
            ch if ch.is_ascii_alphabetic() => {
                let mut w = String::new();
                while i < c.len() && c[i].is_ascii_alphanumeric() {
                    w.push(c[i]);
                    i += 1;
                }
                out.push(Tok::Word(w));
            }
            ch => return Err(format!("unexpected {ch:?}")),
        }
    }
    Ok(out)
}

#[derive(Debug)]
enum Cond {
    InParents(String),
    Field(String, bool, Value),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

struct Parser {
    t: Vec<Tok>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Option<Tok> {
        self.i += 1;
        self.t.get(self.i - 1).cloned()
    }
    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn expr(&mut self) -> Result<Cond, String> {
        let mut v = vec![self.and()?];
        while self.word("or") {
            self.i += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 { v.pop().unwrap() } else { Cond::Or(v) })
    }
    fn and(&mut self) -> Result<Cond, String> {
        let mut v = vec![self.atom()?];
        while self.word("and") {
            self.i += 1;
            v.push(self.atom()?);
        }
        Ok(if v.len() == 1 { v.pop().unwrap() } else { Cond::And(v) })
    }
    fn atom(&mut self) -> Result<Cond, String> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err("expected )".into()),
                }
            }
            Some(Tok::Str(id)) => match (self.next(), self.next()) {
                (Some(Tok::Word(a)), Some(Tok::Word(b))) if a == "in" && b == "parents" => {
                    Ok(Cond::InParents(id))
                }
                _ => Err("expected 'in parents'".into()),
            },
            Some(Tok::Word(field)) if ["name", "mimeType", "trashed"].contains(&field.as_str()) => {
                let eq = match self.next() {
                    Some(Tok::Op(o)) => o == "=",
                    _ => return Err("expected = or !=".into()),
                };
                let v = match self.next() {
                    Some(Tok::Str(s)) => Value::String(s),
                    Some(Tok::Word(w)) if w == "true" || w == "false" => Value::Bool(w == "true"),
                    _ => return Err("expected a value".into()),
                };
                Ok(Cond::Field(field, eq, v))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn matches(c: &Cond, f: &FFile) -> bool {
    match c {
        Cond::InParents(id) => f.parents.contains(id),
        Cond::Field(field, eq, v) => {
            let actual = match field.as_str() {
                "name" => Value::String(f.name.clone()),
                "mimeType" => Value::String(f.mime_type.clone()),
                _ => Value::Bool(f.trashed),
            };
            (actual == *v) == *eq
        }
        Cond::And(v) => v.iter().all(|c| matches(c, f)),
        Cond::Or(v) => v.iter().any(|c| matches(c, f)),
    }
}

fn list(s: &mut State, req: &Request) -> Response {
    s.counters.lists += 1;
    let q = req.param("q").unwrap_or("");
    let cond = match lex(q).and_then(|t| {
        let mut p = Parser { t, i: 0 };
        let c = p.expr()?;
        if p.i != p.t.len() {
            return Err("trailing tokens".into());
        }
        Ok(c)
    }) {
        Ok(c) => c,
        Err(e) => return bad_request(&format!("Invalid Value: q ({e})")),
    };
    let size = req
        .param("pageSize")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000)
        .min(s.page_size);
    let from: usize = match req.param("pageToken") {
        Some(t) => match t.strip_prefix("page-").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return bad_request("Invalid Value: pageToken"),
        },
        None => 0,
    };
    let mut all: Vec<&FFile> = s.files.values().filter(|f| matches(&cond, f)).collect();
    all.sort_by_key(|f| f.seq);
    let page: Vec<Value> = all.iter().skip(from).take(size).map(|f| f.json()).collect();
    let mut v = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": page});
    if from + size < all.len() {
        v["nextPageToken"] = format!("page-{}", from + size).into();
    }
    Response::json(200, v)
}

fn get(s: &mut State, req: &Request, id: &str) -> Response {
    let Some(f) = s.files.get(id).cloned() else { return not_found(id) };
    if req.param("alt") != Some("media") {
        s.counters.meta_gets += 1;
        return Response::json(200, f.json());
    }
    s.counters.media += 1;
    if f.mime_type.starts_with("application/vnd.google-apps.") {
        return drive_error(
            403,
            "fileNotDownloadable",
            "global",
            "Only files with binary content can be downloaded. Use Export with Docs Editors files.",
        );
    }
    let len = f.content.len() as u64;
    if let Some(r) = req.header("range").and_then(|r| r.strip_prefix("bytes=")) {
        let (a, b) = r.split_once('-').unwrap_or((r, ""));
        let a: u64 = a.parse().unwrap_or(0);
        let b: u64 = b.parse().unwrap_or(len.saturating_sub(1)).min(len.saturating_sub(1));
        if a >= len {
            return Response::empty(416).with_header("Content-Range", format!("bytes */{len}"));
        }
        let mut r =
            Response::empty(206).with_header("Content-Range", format!("bytes {a}-{b}/{len}"));
        r.body = f.content[a as usize..=b as usize].to_vec();
        return r.with_header("Content-Type", "application/octet-stream");
    }
    let mut r = Response::empty(200).with_header("Content-Type", "application/octet-stream");
    r.body = f.content;
    r
}

/// Checks and applies `appProperties` (null clears an entry); Drive's 124-byte limit per key and value.
fn apply_props(f: &mut FFile, meta: &Value) -> Result<(), Response> {
    if let Some(props) = meta.get("appProperties").and_then(|p| p.as_object()) {
        for (k, v) in props {
            match v {
                Value::Null => {
                    f.app_properties.remove(k);
                }
                Value::String(val) => {
                    if k.len() + val.len() > 124 {
                        return Err(bad_request(
                            "The limit for this property's size (124 bytes for key and value) was exceeded.",
                        ));
                    }
                    f.app_properties.insert(k.clone(), val.clone());
                }
                _ => return Err(bad_request("Invalid value for appProperties")),
            }
        }
    }
    if let Some(t) = meta.get("modifiedTime").and_then(|t| t.as_str()) {
        if chrono::DateTime::parse_from_rfc3339(t).is_err() {
            return Err(bad_request("Invalid value for modifiedTime"));
        }
        f.modified_time = t.to_string();
    }
    if let Some(n) = meta.get("name").and_then(|n| n.as_str()) {
        f.name = n.to_string();
    }
    if let Some(t) = meta.get("trashed").and_then(|t| t.as_bool()) {
        f.trashed = t;
    }
    Ok(())
}

/// A new file from metadata (and content).
fn create_file(s: &mut State, meta: &Value, content: Vec<u8>) -> Result<FFile, Response> {
    let parents: Vec<String> = meta["parents"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if parents.len() != 1 {
        return Err(bad_request("A file must have exactly one parent here"));
    }
    if !s.is_live_folder(&parents[0]) {
        return Err(not_found(&parents[0]));
    }
    let id = s.new_id();
    let seq = s.seq;
    let mut f = FFile {
        id: id.clone(),
        name: "Untitled".into(),
        mime_type: meta["mimeType"].as_str().unwrap_or("application/octet-stream").into(),
        parents,
        content,
        app_properties: BTreeMap::new(),
        modified_time: now(),
        trashed: false,
        seq,
    };
    let mut clean = meta.clone();
    if let Some(p) = clean.get_mut("appProperties").and_then(|p| p.as_object_mut()) {
        p.retain(|_, v| !v.is_null());
    }
    apply_props(&mut f, &clean)?;
    s.files.insert(id, f.clone());
    Ok(f)
}

fn create_meta(s: &mut State, req: &Request) -> Response {
    s.counters.creates += 1;
    let Ok(meta) = serde_json::from_slice::<Value>(&req.body) else {
        return bad_request("Invalid JSON");
    };
    match create_file(s, &meta, vec![]) {
        Ok(f) => Response::json(200, f.json()),
        Err(r) => r,
    }
}

fn update_meta(s: &mut State, req: &Request, id: &str) -> Response {
    s.counters.updates += 1;
    let Ok(meta) = serde_json::from_slice::<Value>(&req.body) else {
        return bad_request("Invalid JSON");
    };
    if let Some(p) = req.param("addParents")
        && !s.is_live_folder(p)
    {
        return not_found(p);
    }
    let Some(f) = s.files.get_mut(id) else { return not_found(id) };
    if let Err(r) = apply_props(f, &meta) {
        return r;
    }
    if let Some(p) = req.param("removeParents") {
        f.parents.retain(|x| x != p);
    }
    if let Some(p) = req.param("addParents") {
        f.parents.push(p.to_string());
    }
    Response::json(200, f.json())
}

fn delete(s: &mut State, id: &str) -> Response {
    s.counters.deletes += 1;
    if !s.files.contains_key(id) {
        return not_found(id);
    }
    let mut gone = vec![id.to_string()];
    let mut i = 0;
    while i < gone.len() {
        let p = gone[i].clone();
        gone.extend(s.files.values().filter(|f| f.parents.contains(&p)).map(|f| f.id.clone()));
        i += 1;
    }
    for g in gone {
        s.files.remove(&g);
    }
    Response::empty(204)
}

/// A new version of file `id`: content and metadata at once.
fn replace_file(
    s: &mut State,
    id: &str,
    meta: &Value,
    content: Vec<u8>,
) -> Result<FFile, Response> {
    let Some(f) = s.files.get_mut(id) else { return Err(not_found(id)) };
    let mut next = f.clone();
    apply_props(&mut next, meta)?;
    next.content = content;
    if meta.get("modifiedTime").is_none() {
        next.modified_time = now();
    }
    *f = next.clone();
    Ok(next)
}

fn multipart(s: &mut State, req: &Request, existing: Option<&str>) -> Response {
    s.counters.multipart += 1;
    let ctype = req.header("content-type").unwrap_or("");
    let Some(boundary) = ctype
        .strip_prefix("multipart/related")
        .and_then(|r| r.split(';').find_map(|p| p.trim().strip_prefix("boundary=")))
        .map(|b| b.trim_matches('"').to_string())
    else {
        return bad_request("Content-Type must be multipart/related with a boundary");
    };
    let body = &req.body;
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
    };
    let delim = format!("--{boundary}\r\n");
    let Some(p1) = find(body, delim.as_bytes(), 0) else {
        return bad_request("Malformed multipart body");
    };
    let Some(h1) = find(body, b"\r\n\r\n", p1) else {
        return bad_request("Malformed multipart body");
    };
    let mid = format!("\r\n--{boundary}\r\n");
    let Some(p2) = find(body, mid.as_bytes(), h1 + 4) else {
        return bad_request("Malformed multipart body");
    };
    let Ok(meta) = serde_json::from_slice::<Value>(&body[h1 + 4..p2]) else {
        return bad_request("Invalid JSON in the metadata part");
    };
    let Some(h2) = find(body, b"\r\n\r\n", p2 + mid.len()) else {
        return bad_request("Malformed multipart body");
    };
    let close = format!("\r\n--{boundary}--");
    let Some(end) = body.windows(close.len()).rposition(|w| w == close.as_bytes()) else {
        return bad_request("Malformed multipart body");
    };
    if end < h2 + 4 {
        return bad_request("Malformed multipart body");
    }
    let content = body[h2 + 4..end].to_vec();
    let n = content.len() as u64;
    s.counters.upload_bytes += n;
    let r = match existing {
        Some(id) => replace_file(s, id, &meta, content),
        None => create_file(s, &meta, content),
    };
    match r {
        Ok(f) => {
            *s.counters.uploaded.entry(f.name.clone()).or_default() += n;
            Response::json(200, f.json())
        }
        Err(r) => r,
    }
}

fn start_session(s: &mut State, req: &Request, existing: Option<&str>) -> Response {
    s.counters.resumable_starts += 1;
    let meta: Value = if req.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => return bad_request("Invalid JSON"),
        }
    };
    let Some(total) = req.header("x-upload-content-length").and_then(|l| l.parse::<u64>().ok())
    else {
        return bad_request("X-Upload-Content-Length is required here");
    };
    match existing {
        Some(id) if !s.files.contains_key(id) => return not_found(id),
        None if !meta["parents"][0].as_str().is_some_and(|p| s.is_live_folder(p)) => {
            return not_found(meta["parents"][0].as_str().unwrap_or("(none)"));
        }
        _ => {}
    }
    // The metadata is checked now, as Drive does.
    let mut probe = FFile {
        id: String::new(),
        name: String::new(),
        mime_type: String::new(),
        parents: vec![],
        content: vec![],
        app_properties: BTreeMap::new(),
        modified_time: now(),
        trashed: false,
        seq: 0,
    };
    if let Err(r) = apply_props(&mut probe, &meta) {
        return r;
    }
    let sid = format!("sess-{:016x}", fastrand::u64(..));
    s.sessions.insert(
        sid.clone(),
        Session { file: existing.map(str::to_string), meta, total, data: vec![], done: None },
    );
    let path = match existing {
        Some(id) => format!("/upload/drive/v3/files/{id}"),
        None => "/upload/drive/v3/files".into(),
    };
    let location = format!("{}{path}?uploadType=resumable&upload_id={sid}", s.base);
    Response::empty(200).with_header("Location", location)
}

fn session_put_chunk(s: &mut State, req: &Request) -> Response {
    let sid = req.param("upload_id").unwrap_or("").to_string();
    let Some((range, total)) = req.header("content-range").and_then(parse_content_range) else {
        return bad_request("Content-Range is required");
    };
    let Some(sess) = s.sessions.get(&sid) else {
        return drive_error(404, "notFound", "global", "Upload session not found or expired.");
    };
    if total != sess.total {
        return bad_request("The total size does not match the session's");
    }
    let Some((a, b)) = range else {
        // A status query.
        s.counters.status_queries += 1;
        return session_status(s, &sid);
    };
    s.counters.chunk_puts += 1;
    s.counters.upload_bytes += req.body.len() as u64;
    let name = session_name(s, &sid).unwrap_or_default();
    *s.counters.uploaded.entry(name).or_default() += req.body.len() as u64;
    let sess = s.sessions.get_mut(&sid).unwrap();
    if sess.done.is_some() {
        return session_status(s, &sid);
    }
    if b < a || req.body.len() as u64 != b - a + 1 || b >= total {
        return bad_request("Content-Range does not match the body");
    }
    if a > sess.data.len() as u64 {
        return bad_request("Invalid request: the chunk starts after the bytes received so far");
    }
    let last = b + 1 == total;
    if !last && !req.body.len().is_multiple_of(UNIT) {
        return bad_request(
            "Invalid request. Chunks must be a multiple of 256 KiB, except the last.",
        );
    }
    sess.data.truncate(a as usize);
    sess.data.extend_from_slice(&req.body);
    if !last {
        return session_status(s, &sid);
    }
    let sess = s.sessions.get_mut(&sid).unwrap();
    let (file, meta, data) = (sess.file.clone(), sess.meta.clone(), std::mem::take(&mut sess.data));
    let r = match &file {
        Some(id) => replace_file(s, id, &meta, data),
        None => create_file(s, &meta, data),
    };
    match r {
        Ok(f) => {
            s.sessions.get_mut(&sid).unwrap().done = Some(f.id.clone());
            Response::json(200, f.json())
        }
        Err(r) => r,
    }
}

fn session_status(s: &State, sid: &str) -> Response {
    let sess = &s.sessions[sid];
    if let Some(id) = &sess.done {
        return match s.files.get(id) {
            Some(f) => Response::json(200, f.json()),
            None => not_found(id),
        };
    }
    let r = Response::empty(308);
    if sess.data.is_empty() {
        r
    } else {
        r.with_header("Range", format!("bytes=0-{}", sess.data.len() - 1))
    }
}
