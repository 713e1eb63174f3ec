//! The S3 backend against a real S3-compatible server: moto_server, started by each test on a free loopback port
//! (`$SW_MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server`; without it the tests fail and say how to install
//! it). A small recording proxy sits between syncwright and the server: it counts requests and bytes, and injects
//! failures (a reset connection for one part, 503 SlowDown for one object).

#[path = "support/files.rs"]
mod files;
use files::write;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use syncwright::backend::remote::Secret;
use syncwright::manifest::plan::Op;
use syncwright::recovery::{Category, RetryPolicy};
use syncwright::report::{ErrorAction, WarningReason};
use syncwright::{Engine, EngineConfig, ErrorKind, Status, SyncOptions, SyncReport};

const BUCKET: &str = "sw-test";
const MIB: usize = 1 << 20;

fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SW_MOTO_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    root.join(".venv/bin/moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A moto_server process, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let bin = moto_binary();
        assert!(
            bin.exists(),
            "moto_server not found at {}: install it with `python3 -m venv .venv && .venv/bin/pip install 'moto[server]'` \
             at the workspace root (scripts/test.sh does), or set SW_MOTO_SERVER",
            bin.display()
        );
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut m = Moto { child, port };
        let t0 = Instant::now();
        loop {
            if let Ok((200, _)) = raw(port, "GET", "/moto-api/data.json", &[], b"") {
                return m;
            }
            if let Ok(Some(st)) = m.child.try_wait() {
                panic!("moto_server exited at start: {st}");
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "moto_server did not answer in 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn create_bucket(&self, name: &str) {
        let (st, body) = raw(self.port, "PUT", &format!("/{name}"), &[], b"").unwrap();
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain HTTP/1.1 request (Connection: close) to 127.0.0.1:`port`.
fn raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").map_or(out.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, out[end..].to_vec()))
}

/// A request the proxy saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    body_len: usize,
}

/// What the proxy does with a request.
enum Hook {
    Forward,
    Respond(u16, String),
    Reset,
}

type HookFn = Box<dyn Fn(&Seen) -> Hook + Send + Sync>;

/// A recording, fault-injecting HTTP proxy in front of a server on 127.0.0.1.
struct Proxy {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    hook: Arc<Mutex<Option<HookFn>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let hook: Arc<Mutex<Option<HookFn>>> = Arc::default();
        let (s2, h2) = (seen.clone(), hook.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { return };
                let (s3, h3) = (s2.clone(), h2.clone());
                std::thread::spawn(move || {
                    let _ = serve(c, upstream, &s3, &h3);
                });
            }
        });
        Proxy { port, seen, hook }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    fn set(&self, h: impl Fn(&Seen) -> Hook + Send + Sync + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(h));
    }

    fn clear(&self) {
        *self.hook.lock().unwrap() = None;
    }
}

fn serve(
    client: TcpStream,
    upstream: u16,
    seen: &Mutex<Vec<Seen>>,
    hook: &Mutex<Option<HookFn>>,
) -> std::io::Result<()> {
    let mut out = client.try_clone()?;
    let mut r = BufReader::new(client);
    loop {
        let mut head: Vec<String> = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            head.push(line);
        }
        let Some(first) = head.first().cloned() else { return Ok(()) };
        let mut parts = first.split_whitespace();
        let (method, target) =
            (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let len: usize = head
            .iter()
            .find_map(|h| {
                let (n, v) = h.split_once(':')?;
                n.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        assert!(
            !head.iter().any(|h| h.to_ascii_lowercase().starts_with("transfer-encoding")),
            "the test proxy handles Content-Length bodies only"
        );
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        let s = Seen { method, target, body_len: len };
        seen.lock().unwrap().push(s.clone());
        let action = hook.lock().unwrap().as_ref().map(|h| h(&s)).unwrap_or(Hook::Forward);
        match action {
            Hook::Reset => {
                let _ = out.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            Hook::Respond(status, text) => {
                write!(
                    out,
                    "HTTP/1.1 {status} Injected\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                )?;
            }
            Hook::Forward => {
                let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
                for h in &head {
                    if !h.to_ascii_lowercase().starts_with("connection:") {
                        up.write_all(h.as_bytes())?;
                    }
                }
                up.write_all(b"Connection: close\r\n\r\n")?;
                up.write_all(&body)?;
                let mut resp = Vec::new();
                up.read_to_end(&mut resp)?;
                out.write_all(&resp)?;
                let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(resp.len());
                if String::from_utf8_lossy(&resp[..head_end])
                    .to_ascii_lowercase()
                    .contains("connection: close")
                {
                    return Ok(());
                }
            }
        }
    }
}

struct Env {
    dir: tempfile::TempDir,
    moto: Moto,
    proxy: Proxy,
    engine: Engine,
}

impl Env {
    fn new() -> Env {
        let moto = Moto::start();
        moto.create_bucket(BUCKET);
        let proxy = Proxy::start(moto.port);
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::new(EngineConfig {
            state_dir: Some(dir.path().join("state")),
            worker_threads: 2,
            ..Default::default()
        })
        .unwrap();
        Env { dir, moto, proxy, engine }
    }

    fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }

    fn opts(&self) -> SyncOptions {
        opts_for(&self.proxy.url())
    }

    fn sync(&self, src: &str, dst: &str, o: SyncOptions) -> SyncReport {
        self.engine
            .start_sync(src, dst, o, None)
            .unwrap()
            .wait(Some(Duration::from_secs(120)))
            .unwrap()
    }

    fn push(&self, o: SyncOptions) -> SyncReport {
        self.sync(self.src().to_str().unwrap(), &format!("s3://{BUCKET}/assets"), o)
    }

    /// An object's bytes, straight from the server (moto wants some credential, not a valid signature).
    fn object_bytes(&self, key: &str) -> Option<Vec<u8>> {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIATESTKEY000000001/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
        let path = format!("/{BUCKET}/{key}");
        let (st, body) =
            raw(self.moto.port, "GET", &path, &[("Authorization", auth)], b"").unwrap();
        (st == 200).then_some(body)
    }

    fn object(&self, key: &str) -> Option<String> {
        self.object_bytes(key).map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

fn opts_for(endpoint: &str) -> SyncOptions {
    let mut o = SyncOptions { name: "nightly".into(), max_attempts: 1, ..Default::default() };
    for c in [Category::NetworkConnection, Category::RateLimited, Category::ServiceUnavailable] {
        o.retry.set(c, RetryPolicy { max_attempts: 1, ..RetryPolicy::NONE });
    }
    o.remote.s3.endpoint_url = Some(endpoint.to_string());
    o.remote.s3.region = Some("us-east-1".into());
    o.remote.s3.access_key_id = Some(Secret::new("AKIATESTKEY000000001"));
    o.remote.s3.secret_access_key = Some(Secret::new("test-secret-value-0001"));
    o
}

fn set_mtime(root: &Path, rel: &str, secs: i64, nanos: u32) {
    let f = std::fs::File::options().write(true).open(root.join(rel)).unwrap();
    let t = std::time::UNIX_EPOCH + Duration::new(secs as u64, nanos);
    f.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t)).unwrap();
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8).collect()
}

#[test]
fn push_dry_run_run_no_change_pull_back_and_mirror_deletes() {
    let env = Env::new();
    let src = env.src();
    write(&src, "a/one.png", &data(3000, 1));
    write(&src, "a/b/two.safetensors", &data(70_000, 2));
    write(&src, "three.json", b"{\"x\": 3}");
    write(&src, "empty.txt", b"");
    set_mtime(&src, "three.json", 1_700_000_000, 123_456_789);

    // Dry run: the plan lists the uploads, nothing is written.
    env.proxy.take();
    let r = env.push(SyncOptions { dry_run: true, ..env.opts() });
    assert_eq!(r.status, Status::Completed, "{r:?}");
    let plan = r.plan.as_ref().unwrap();
    let copies: Vec<_> =
        plan.actions.iter().filter(|a| a.op == Op::Copy).map(|a| a.path.as_str()).collect();
    assert_eq!(copies, ["a/b/two.safetensors", "a/one.png", "empty.txt", "three.json"]);
    assert!(env.proxy.take().iter().all(|s| s.method == "GET"), "a dry run writes nothing");

    // Run.
    let r = env.push(env.opts());
    assert_eq!((r.status, r.stats.created), (Status::Completed, 4), "{r:?}");
    assert_eq!(env.object_bytes("assets/nightly/a/b/two.safetensors").unwrap().len(), 70_000);
    let manifest = env.object("assets/manifests/nightly.json").expect("the manifest is uploaded");
    assert!(manifest.contains("\"sha256\""), "S3 manifests carry SHA-256: {manifest}");
    assert!(env.object("assets/.syncwright/runs/nightly.inflight").is_none());

    // Metadata: mtime to the nanosecond and mode.
    let s3 = syncwright::backend::open_with(
        &format!("s3://{BUCKET}/assets"),
        &syncwright::backend::OpenOptions {
            snapshot: Some("nightly".into()),
            remote: env.opts().remote,
            ..Default::default()
        },
    )
    .unwrap();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let e = rt.block_on(s3.stat("three.json")).unwrap().unwrap();
    assert_eq!(e.mtime_ns, 1_700_000_000_123_456_789);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(src.join("three.json")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(e.mode, mode);
    assert!(rt.block_on(s3.stat("nope")).unwrap().is_none());

    // No change: the run marker and the manifest are read and the objects listed (one LIST per 1,000 keys),
    // nothing else: no HEAD or GET per object, nothing written.
    env.proxy.take();
    let r = env.push(env.opts());
    assert_eq!((r.status, r.stats.created, r.stats.unchanged), (Status::Completed, 0, 4), "{r:?}");
    let seen = env.proxy.take();
    let manifest_gets = seen
        .iter()
        .filter(|s| s.method == "GET" && s.target.ends_with("/assets/manifests/nightly.json"))
        .count();
    assert_eq!(manifest_gets, 1, "{seen:#?}");
    let lists =
        seen.iter().filter(|s| s.method == "GET" && s.target.contains("list-type=2")).count();
    assert_eq!(lists, 1, "{seen:#?}");
    assert_eq!(seen.len(), 3, "the run marker, the manifest and one LIST: {seen:#?}");
    assert!(seen.iter().all(|s| s.method == "GET" && !s.target.contains("/nightly/")), "{seen:#?}");
    // An object removed behind syncwright's back is seen and uploaded again.
    rt.block_on(s3.delete("three.json", syncwright::manifest::EntryKind::File)).unwrap();
    let r = env.push(env.opts());
    assert_eq!((r.status, r.stats.created, r.stats.unchanged), (Status::Completed, 1, 3), "{r:?}");
    // A backup folder inside the prefix (excluded) keeps the version a run overwrites: a copy on the server.
    let old = std::fs::read(src.join("three.json")).unwrap();
    std::fs::write(src.join("three.json"), b"{\"three\": \"is now longer than it was\"}").unwrap();
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_123_456_789);
    std::fs::File::options()
        .write(true)
        .open(src.join("three.json"))
        .unwrap()
        .set_modified(at)
        .unwrap();
    let backed =
        SyncOptions { backup_dir: Some(".bk".into()), exclude: vec!["/.bk/".into()], ..env.opts() };
    let r = env.push(backed);
    assert_eq!((r.status, r.stats.updated), (Status::Completed, 1), "{r:?}");
    assert_eq!(env.object_bytes("assets/nightly/.bk/three.json").unwrap(), old);
    rt.block_on(s3.delete(".bk/three.json", syncwright::manifest::EntryKind::File)).unwrap();
    let r = env.push(SyncOptions { backup_dir: Some("/abs".into()), ..env.opts() });
    assert_eq!(r.fatal.map(|f| f.kind), Some(syncwright::ErrorKind::InvalidInput));
    // Trusting the manifest: the two GETs alone (for destinations nothing else writes).
    env.proxy.take();
    let r = env.push(SyncOptions { trust_dest_manifest: true, ..env.opts() });
    assert_eq!((r.status, r.stats.created, r.stats.unchanged), (Status::Completed, 0, 4), "{r:?}");
    assert_eq!(env.proxy.take().len(), 2);

    // Pull back, byte for byte, mtimes kept.
    let back = env.dir.path().join("back");
    let r = env.sync(&format!("s3://{BUCKET}/assets"), back.to_str().unwrap(), env.opts());
    assert_eq!((r.status, r.stats.created), (Status::Completed, 4), "{r:?}");
    for rel in ["a/one.png", "a/b/two.safetensors", "three.json", "empty.txt"] {
        assert_eq!(
            std::fs::read(src.join(rel)).unwrap(),
            std::fs::read(back.join(rel)).unwrap(),
            "{rel}"
        );
    }
    let m = std::fs::metadata(back.join("three.json")).unwrap().modified().unwrap();
    assert_eq!(
        m.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos(),
        1_700_000_000_123_456_789
    );

    // Mirror: a file removed at the source goes from the bucket; an added one arrives.
    std::fs::remove_file(src.join("a/one.png")).unwrap();
    write(&src, "four.bin", b"4");
    let r = env.push(SyncOptions { delete: true, ..env.opts() });
    assert_eq!((r.status, r.stats.created, r.stats.deleted), (Status::Completed, 1, 1), "{r:?}");
    assert!(env.object("assets/nightly/a/one.png").is_none());
    assert_eq!(env.object("assets/nightly/four.bin").unwrap(), "4");
    let manifest = env.object("assets/manifests/nightly.json").unwrap();
    assert!(!manifest.contains("a/one.png") && manifest.contains("four.bin"), "{manifest}");

    // A rescan of the bucket (no manifest trusted) finds it as it is: nothing to do.
    let r = env.push(SyncOptions { delete: true, rescan_dest: true, ..env.opts() });
    assert_eq!((r.status, r.stats.created, r.stats.deleted), (Status::Completed, 0, 0), "{r:?}");
}

#[test]
fn a_multipart_upload_interrupted_at_part_3_resumes_on_the_next_run() {
    let env = Env::new();
    let size = 3 * 5 * MIB + MIB;
    let content = data(size, 7);
    write(&env.src(), "model.safetensors", &content);
    let mut o = env.opts();
    o.remote.s3.multipart_threshold = 5 * MIB as u64;
    o.remote.s3.part_size = 5 * MIB as u64;
    o.remote.s3.part_concurrency = 1;

    // Part 3 never gets through: the connection is reset every time.
    env.proxy.set(|s| {
        let part3 = s.target.contains("partNumber=3&") || s.target.ends_with("partNumber=3");
        if s.method == "PUT" && part3 { Hook::Reset } else { Hook::Forward }
    });
    let r = env.push(o.clone());
    assert_ne!(r.status, Status::Completed, "{r:?}");
    let e = r.errors.iter().find(|e| e.path == "model.safetensors").expect("the file failed");
    assert_eq!((e.action, e.kind), (ErrorAction::Copy, ErrorKind::Network), "{e:?}");
    assert!(
        env.object("assets/manifests/nightly.json").is_none(),
        "no manifest after a failed run"
    );
    let store = env.engine.store().unwrap();
    let uploads = store.uploads(&format!("s3://{BUCKET}/assets")).unwrap();
    assert_eq!(uploads.len(), 1, "the upload is kept for the next run");
    let parts = store.upload_parts(&uploads[0].upload_id).unwrap();
    assert_eq!(parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2], "{parts:?}");

    // The next run continues the same upload from part 3.
    env.proxy.clear();
    env.proxy.take();
    let r = env.push(o);
    assert_eq!((r.status, r.stats.created), (Status::Completed, 1), "{r:?}");
    let seen = env.proxy.take();
    let sent: usize = seen.iter().filter(|s| s.method == "PUT").map(|s| s.body_len).sum();
    assert!(sent < size, "parts 1 and 2 were sent again: {sent} bytes of {size}: {seen:#?}");
    assert_eq!(r.stats.bytes_transferred, (size - 10 * MIB) as u64, "{r:?}");
    let got = env.object_bytes("assets/nightly/model.safetensors").unwrap();
    assert!(got == content, "the object differs from the file");
    let back = env.dir.path().join("back");
    let r = env.sync(&format!("s3://{BUCKET}/assets"), back.to_str().unwrap(), env.opts());
    assert_eq!(r.status, Status::Completed, "{r:?}");
    assert!(std::fs::read(back.join("model.safetensors")).unwrap() == content, "content differs");
    assert!(store.uploads(&format!("s3://{BUCKET}/assets")).unwrap().is_empty());
}

#[test]
fn server_errors_give_a_partial_run_and_leave_the_manifest() {
    let env = Env::new();
    let src = env.src();
    write(&src, "a.bin", b"a");
    write(&src, "b.bin", b"b");
    let r = env.push(env.opts());
    assert_eq!(r.status, Status::Completed, "{r:?}");
    let before = env.object("assets/manifests/nightly.json").unwrap();

    write(&src, "a.bin", b"a2");
    write(&src, "c.bin", b"c");
    env.proxy.set(|s| {
        if s.method == "PUT" && s.target.ends_with("/nightly/c.bin") {
            Hook::Respond(
                503,
                "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".into(),
            )
        } else {
            Hook::Forward
        }
    });
    let r = env.push(env.opts());
    assert_eq!((r.status, r.stats.updated), (Status::Partial, 1), "{r:?}");
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    let e = serde_json::to_value(&r.errors[0]).unwrap();
    assert_eq!(e["action"], "copy");
    assert_eq!(e["path"], "c.bin");
    assert_eq!(e["kind"], "unavailable");
    assert!(e["error"].as_str().unwrap().contains("SlowDown"), "{e}");
    assert_eq!(
        syncwright::recovery::classify(&syncwright::Error::new(
            r.errors[0].kind,
            &r.errors[0].error
        ))
        .category,
        Category::RateLimited
    );
    assert_eq!(env.object("assets/manifests/nightly.json").unwrap(), before, "manifest untouched");
    assert_eq!(env.object("assets/nightly/a.bin").unwrap(), "a2");

    // Once the server is well again, the next run finishes the job.
    env.proxy.clear();
    let r = env.push(env.opts());
    assert_eq!((r.status, r.stats.created), (Status::Completed, 1), "{r:?}");
    assert_ne!(env.object("assets/manifests/nightly.json").unwrap(), before);
}

#[test]
fn an_offline_dry_run_plans_from_the_cached_manifest() {
    let env = Env::new();
    write(&env.src(), "a.bin", b"a");
    let r = env.push(env.opts());
    assert_eq!(r.status, Status::Completed, "{r:?}");
    write(&env.src(), "b.bin", b"b");
    // The server goes away.
    let dead = env.moto.port;
    drop(env.moto);
    let o = opts_for(&format!("http://127.0.0.1:{dead}"));
    let dst = format!("s3://{BUCKET}/assets");
    let src = env.dir.path().join("src");
    let r = env
        .engine
        .start_sync(src.to_str().unwrap(), &dst, SyncOptions { dry_run: true, ..o.clone() }, None)
        .unwrap()
        .wait(Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(r.status, Status::Completed, "{r:?}");
    let w =
        r.warnings.iter().find(|w| w.reason == WarningReason::RemoteUnreachable).expect("warned");
    assert!(w.message.contains("cached at"), "{w:?}");
    let plan = r.plan.unwrap();
    let copies: Vec<_> =
        plan.actions.iter().filter(|a| a.op == Op::Copy).map(|a| a.path.as_str()).collect();
    assert_eq!(copies, ["b.bin"]);
    // A real run does not plan from the cache.
    let r = env
        .engine
        .start_sync(src.to_str().unwrap(), &dst, o, None)
        .unwrap()
        .wait(Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(r.status, Status::Failed, "{r:?}");
    assert_eq!(r.fatal.unwrap().kind, ErrorKind::Network);
}

#[test]
fn over_long_keys_and_control_characters_are_plan_errors() {
    let env = Env::new();
    let src = env.src();
    // 5 levels of 205 bytes: a path of 1,029 bytes, a key of over 1,024 with "assets/nightly/".
    let long: String =
        (0..5).map(|i| format!("{i}{}", "d".repeat(204))).collect::<Vec<_>>().join("/");
    write(&src, &long, b"x");
    write(&src, "bell\u{7}.txt", b"x");
    write(&src, "ok.txt", b"x");
    let r = env.push(SyncOptions { dry_run: true, ..env.opts() });
    assert_eq!(r.status, Status::Partial, "{r:?}");
    let bad: Vec<_> = r.errors.iter().map(|e| (e.path.clone(), e.action, e.kind)).collect();
    assert_eq!(
        bad,
        [
            (long.clone(), ErrorAction::Plan, ErrorKind::InvalidInput),
            ("bell\u{7}.txt".to_string(), ErrorAction::Plan, ErrorKind::InvalidInput)
        ]
    );
    let r = env.push(env.opts());
    assert_eq!((r.status, r.stats.created, r.errors.len()), (Status::Partial, 1, 2), "{r:?}");
    assert_eq!(env.object("assets/nightly/ok.txt").unwrap(), "x");
    assert!(env.object("assets/manifests/nightly.json").is_none(), "no manifest after errors");
}

/// Sets moto up to check signatures: an IAM user with a key and an allow-all policy, a bucket, then auth on.
fn moto_with_auth() -> (Moto, String, String) {
    let moto = Moto::start();
    let iam = |body: &str| {
        let (st, text) = raw(
            moto.port,
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                ),
            ],
            body.as_bytes(),
        )
        .unwrap();
        let text = String::from_utf8_lossy(&text).into_owned();
        assert_eq!(st, 200, "{body}: {text}");
        text
    };
    iam("Action=CreateUser&UserName=sw&Version=2010-05-08");
    let key = iam("Action=CreateAccessKey&UserName=sw&Version=2010-05-08");
    let tag = |t: &str| {
        assert!(key.contains(&format!("<{t}>")), "{key}");
        let a = key.find(&format!("<{t}>")).unwrap() + t.len() + 2;
        key[a..a + key[a..].find('<').unwrap()].to_string()
    };
    let (id, secret) = (tag("AccessKeyId"), tag("SecretAccessKey"));
    let policy = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
    iam(&format!(
        "Action=PutUserPolicy&UserName=sw&PolicyName=all&PolicyDocument={policy}&Version=2010-05-08"
    ));
    moto.create_bucket(BUCKET);
    let (st, text) = raw(moto.port, "POST", "/moto-api/reset-auth", &[], b"0").unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&text));
    (moto, id, secret)
}

#[test]
fn signatures_are_checked_and_a_wrong_secret_is_an_auth_error_that_does_not_show_it() {
    let (moto, id, secret) = moto_with_auth();
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("src"), "a.bin", b"a");
    let engine = Engine::new(EngineConfig {
        state_dir: Some(dir.path().join("state")),
        worker_threads: 2,
        ..Default::default()
    })
    .unwrap();
    let src = dir.path().join("src");
    let dst = format!("s3://{BUCKET}/p");
    let mut o = opts_for(&format!("http://127.0.0.1:{}", moto.port));
    o.remote.s3.access_key_id = Some(Secret::new(&id));
    o.remote.s3.secret_access_key = Some(Secret::new("wrong-secret-value-4242"));
    let r = engine.sync(src.to_str().unwrap(), &dst, o.clone()).unwrap();
    assert_eq!(r.status, Status::Failed, "{r:?}");
    let f = r.fatal.as_ref().unwrap();
    assert_eq!(f.kind, ErrorKind::Auth, "{f:?}");
    let text = format!("{r:?} {}", serde_json::to_string(&r).unwrap());
    assert!(!text.contains("wrong-secret-value-4242") && !text.contains(&id), "{text}");
    assert!(!format!("{o:?}").contains("wrong-secret-value-4242"));

    // The right secret signs requests moto accepts.
    o.remote.s3.secret_access_key = Some(Secret::new(&secret));
    let r = engine.sync(src.to_str().unwrap(), &dst, o).unwrap();
    assert_eq!((r.status, r.stats.created), (Status::Completed, 1), "{r:?}");
}

/// Document 3's cloud sync over the vault: the feature flags refuse profile runs and the cloud-sync calls while
/// they are off (a direct sync is allowed), and with them on the S3 keys come from the vault by
/// `credentials_key` (nothing in the options or the environment), for profiles and cloud-sync calls alike.
#[test]
fn cloud_sync_and_profiles_follow_the_flags_and_take_their_keys_from_the_vault() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let proxy = Proxy::start(moto.port);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let proj = d.join("proj");
    write(&proj, "assets/a.png", b"png bytes");
    write(&proj, "assets/b.txt", b"text");
    write(&proj, "config/app.json", b"{}");
    write(&proj, "cache/big.bin", b"cache stays home");
    let config = |flags: bool| {
        serde_json::json!({
            "settings": {
                "vault": d.join("vault.json"),
                "vault_kdf": {"m_kib": 64, "t": 1, "p": 1},
                "coordination_dir": d.join("coord"),
            },
            "features": {"enable_cloud_sync": flags, "enable_cloud_sync_s3": flags},
            "cloud_sync": {
                "root": proj,
                "s3": {
                    "bucket": BUCKET,
                    "prefix": "cloud",
                    "endpoint_url": proxy.url(),
                    "region": "us-east-1",
                    "credentials_key": "cloud_sync.s3",
                },
            },
            "profiles": {"to_s3": {
                "source": proj,
                "destination": format!("s3://{BUCKET}/profile"),
                "max_attempts": 1,
                "remote": {"s3": {
                    "endpoint_url": proxy.url(),
                    "region": "us-east-1",
                    "credentials_key": "cloud_sync.s3",
                }},
            }},
        })
    };
    let open = |flags: bool| {
        Engine::new(EngineConfig {
            config: Some(config(flags)),
            state_dir: Some(d.join("state")),
            worker_threads: 2,
            ..Default::default()
        })
        .unwrap()
    };
    let pass = Secret::new("cloud passphrase");
    let s3_request = || syncwright::engine::cloud::CloudRequest {
        service: "s3".into(),
        snapshot: Some("nightly".into()),
        ..Default::default()
    };

    // Flags off: the profile and the cloud-sync calls are refused, naming the flags; a direct sync is not.
    let off = open(false);
    off.vault_init(Some(&pass)).unwrap();
    let keys = serde_json::json!({
        "access_key_id": "AKIAVAULTKEY00000001",
        "secret_access_key": "vault-secret-value-0001",
    });
    off.vault_set("cloud_sync.s3", keys, None).unwrap();
    let e = off.run_profile("to_s3", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::FeatureDisabled, "{e}");
    assert!(e.message().contains("enable_cloud_sync_s3"), "{e}");
    for e in [
        off.cloud_dry_run(&s3_request()).unwrap_err(),
        off.cloud_run(&s3_request()).unwrap_err(),
        off.cloud_manifest(None, None).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::FeatureDisabled, "{e}");
    }
    let mut direct = opts_for(&proxy.url());
    direct.remote.s3.access_key_id = None;
    direct.remote.s3.secret_access_key = None;
    direct.remote.s3.credentials_key = Some("cloud_sync.s3".into());
    let r = off
        .start_sync(proj.to_str().unwrap(), &format!("s3://{BUCKET}/direct"), direct, None)
        .unwrap()
        .wait(Some(Duration::from_secs(120)))
        .unwrap();
    assert_eq!((r.status, r.stats.created), (Status::Completed, 4), "{}", r.to_json());
    drop(off);

    // Flags on: a new engine unlocks the vault once; the profile runs with the vault's keys.
    let on = open(true);
    on.vault_unlock(Some(&pass)).unwrap();
    let r = on.run_profile("to_s3", None).unwrap().wait(Some(Duration::from_secs(120))).unwrap();
    assert_eq!((r.status, r.stats.created), (Status::Completed, 4), "{}", r.to_json());

    let m = on.cloud_manifest(Some("nightly"), None).unwrap();
    assert_eq!(m.manifest.entries, 3, "the cache folder stays home: {m:?}");
    assert_eq!(m.manifest.name, "nightly");
    assert_eq!(m.checksum.len(), 64);
    let only = on.cloud_manifest(Some("nightly"), Some(&["config".to_string()])).unwrap();
    assert_eq!(only.manifest.entries, 1);

    let dry = on.cloud_dry_run(&s3_request()).unwrap();
    assert_eq!(dry.summary.status, "dry_run");
    let mut up: Vec<&str> = dry.summary.uploads.iter().map(|u| u.path.as_str()).collect();
    up.sort();
    assert_eq!(up, ["assets/a.png", "assets/b.txt", "config/app.json"]);
    assert_eq!(dry.summary.bytes, 15);
    assert!(!dry.manifest_committed);
    assert_eq!(dry.manifest.checksum, m.checksum);

    let run = on.cloud_run(&s3_request()).unwrap();
    assert_eq!((run.summary.status.as_str(), run.errors.len()), ("completed", 0), "{run:?}");
    assert!(run.manifest_committed);
    let mut done: Vec<&str> = run.summary.uploads.iter().map(|u| u.path.as_str()).collect();
    done.sort();
    assert_eq!(
        done,
        ["assets/a.png", "assets/b.txt", "config/app.json"],
        "a run lists what it uploaded"
    );
    let again = on.cloud_dry_run(&s3_request()).unwrap();
    assert!(again.summary.uploads.is_empty(), "{again:?}");
    assert_eq!(again.summary.unchanged, 3);
    // A file gone from the tree is a planned delete.
    std::fs::remove_file(proj.join("assets/b.txt")).unwrap();
    let gone = on.cloud_dry_run(&s3_request()).unwrap();
    let del: Vec<&str> = gone.summary.deletes.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(del, ["assets/b.txt"]);

    // A file the service refuses: the run goes on, ends partial with the file's error, and keeps the remote
    // manifest as it was.
    write(&proj, "assets/c.png", b"refused");
    write(&proj, "assets/d.png", b"fine");
    proxy.set(|s| {
        if s.method == "PUT" && s.target.ends_with("/assets/c.png") {
            Hook::Respond(
                403,
                "<Error><Code>AccessDenied</Code><Message>no</Message></Error>".into(),
            )
        } else {
            Hook::Forward
        }
    });
    let partial = on.cloud_run(&s3_request()).unwrap();
    proxy.clear();
    assert_eq!(partial.summary.status, "partial", "{partial:?}");
    assert!(!partial.manifest_committed);
    let failed: Vec<(&str, &str)> =
        partial.errors.iter().map(|e| (e.action.as_str(), e.path.as_str())).collect();
    assert_eq!(failed, [("upload", "assets/c.png")], "{partial:?}");
    let next = on.cloud_dry_run(&s3_request()).unwrap();
    let up: Vec<&str> = next.summary.uploads.iter().map(|u| u.path.as_str()).collect();
    assert!(up.contains(&"assets/c.png"), "the refused file is planned again: {next:?}");

    // Endpoints never come from a request; a vault key that is not there is named.
    let bad: Result<syncwright::engine::cloud::CloudRequest, _> = serde_json::from_value(
        serde_json::json!({"service": "s3", "service_config": {"endpoint_url": "http://evil"}}),
    );
    assert!(bad.is_err());
    let mut missing = s3_request();
    missing.credentials_key = Some("no.such.key".into());
    let e = on.cloud_dry_run(&missing).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("no.such.key"), "{e}");
    let mut gd = s3_request();
    gd.service = "gdrive".into();
    assert_eq!(on.cloud_dry_run(&gd).unwrap_err().kind(), ErrorKind::FeatureDisabled);
}
