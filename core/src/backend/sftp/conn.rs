//! SSH sessions: connecting, checking the host key, authenticating, and the pool that parallel transfers share.
//!
//! Every call runs on a session it has to itself: a file stream keeps one while it runs, a short request (stat,
//! mkdir, rename, a listing) takes one for its duration. libssh2 serialises calls on a session, but its resumable
//! operations do not survive interleaving: a pipelined write can return with requests in flight, and a rename from
//! another thread then fails with "unable to send" or waits for a reply that never comes. Sessions go back to an
//! idle list after use (at most twice `sessions` are kept). A call that finds none idle starts opening one in the
//! background and takes whichever comes first, that one or a session another call gives back: a short listing
//! runs on the first session while the others are still shaking hands (an SSH handshake costs the host more than
//! a few dozen directory reads), and no call waits for a stream to end, so open streams cannot deadlock the pool.
//!
//! A session whose connection broke is dropped; the next call opens a new one.

use super::posix::PosixSftp;
use crate::backend::remote::{SftpLocation, SftpOptions};
use crate::error::{Error, ErrorKind, Result};
use ssh2::{CheckResult, ErrorCode, KnownHostFileKind, Session, Sftp};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// One SSH connection with its SFTP channel.
pub(super) struct Conn {
    /// The session (kept for exec channels).
    pub sess: Session,
    /// The SFTP channel.
    pub sftp: Sftp,
    /// A second SFTP handle for posix-rename@openssh.com, which ssh2 does not wrap; None when it cannot be opened.
    pub posix: Option<PosixSftp>,
    /// Set when the connection failed: the session is not reused.
    broken: AtomicBool,
}

/// A session leased to one file stream; it goes back to the pool when dropped (unless its connection broke).
pub(super) struct Lease {
    conn: Option<Arc<Conn>>,
    pool: Arc<Pool>,
}

impl Lease {
    /// The session.
    pub fn conn(&self) -> &Arc<Conn> {
        self.conn.as_ref().expect("a lease holds its session until dropped")
    }

    /// Keeps the session out of the pool for good (a long-lived channel on it, such as the host shell).
    pub fn detach(mut self) -> Arc<Conn> {
        self.conn.take().expect("a lease holds its session until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take()
            && !c.broken.load(Ordering::Relaxed)
        {
            self.pool.give_back(c);
        }
    }
}

/// Ciphers in order of preference. libssh2 encrypts AES one 16-byte block per call (a copy and a call for each),
/// ChaCha20-Poly1305 a whole packet at once: measured here, the difference is most of the client's CPU time.
const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,\
                       aes128-ctr,aes192-ctr,aes256-ctr";

/// The sessions of one backend.
pub(super) struct Pool {
    loc: SftpLocation,
    opts: SftpOptions,
    slots: Mutex<Slots>,
    /// Signalled when a session becomes idle or a background connection fails.
    ready: Condvar,
    warned_insecure: AtomicBool,
}

/// Sessions not in use, and the callers waiting for one.
#[derive(Default)]
struct Slots {
    idle: Vec<Arc<Conn>>,
    /// Calls waiting in [`Pool::lease`].
    waiting: usize,
    /// Connections being opened in the background.
    connecting: usize,
    /// Errors of background connections, each handed to one waiting call.
    failed: Vec<Error>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("location", &self.loc.to_string()).finish()
    }
}

/// SFTP status codes (draft-ietf-secsh-filexfer-02 and later).
mod status {
    pub const NO_SUCH_FILE: i32 = 2;
    pub const PERMISSION_DENIED: i32 = 3;
    pub const NO_CONNECTION: i32 = 6;
    pub const CONNECTION_LOST: i32 = 7;
    pub const OP_UNSUPPORTED: i32 = 8;
    pub const NO_SUCH_PATH: i32 = 10;
    pub const FILE_ALREADY_EXISTS: i32 = 11;
    pub const NO_SPACE_ON_FILESYSTEM: i32 = 14;
    pub const QUOTA_EXCEEDED: i32 = 15;
}

/// libssh2 session error codes used here.
mod session_code {
    pub const TIMEOUT: i32 = -9;
    pub const FILE: i32 = -16;
    pub const AUTHENTICATION_FAILED: i32 = -18;
    pub const PUBLICKEY_UNVERIFIED: i32 = -19;
    pub const SOCKET_TIMEOUT: i32 = -30;
}

/// Whether `e` means the connection itself is gone (the session must be replaced).
pub(super) fn breaks_session(e: &ssh2::Error) -> bool {
    match e.code() {
        ErrorCode::Session(c) => c != session_code::FILE,
        ErrorCode::SFTP(s) => matches!(s, status::NO_CONNECTION | status::CONNECTION_LOST),
    }
}

/// The syncwright error for an SSH/SFTP error while `doing` something to `path`.
pub(super) fn map_err(e: &ssh2::Error, doing: &str, path: &str) -> Error {
    let (kind, what) = match e.code() {
        ErrorCode::SFTP(s) => match s {
            status::NO_SUCH_FILE | status::NO_SUCH_PATH => (ErrorKind::NotFound, "no such file"),
            status::PERMISSION_DENIED => (ErrorKind::Permission, "permission denied"),
            status::FILE_ALREADY_EXISTS => (ErrorKind::Conflict, "already exists"),
            status::NO_SPACE_ON_FILESYSTEM => (ErrorKind::Resource, "no space left on the host"),
            status::QUOTA_EXCEEDED => (ErrorKind::Resource, "quota exceeded on the host"),
            status::NO_CONNECTION | status::CONNECTION_LOST => {
                (ErrorKind::Network, "connection lost")
            }
            status::OP_UNSUPPORTED => {
                (ErrorKind::FeatureDisabled, "operation not supported by the SFTP server")
            }
            // SFTP v3 servers (OpenSSH) say "failure" for every other errno: a full disk, a file where a folder
            // should be, a folder that is not empty.
            _ => (ErrorKind::Internal, "the server reported a failure"),
        },
        ErrorCode::Session(c) => match c {
            session_code::TIMEOUT | session_code::SOCKET_TIMEOUT => {
                (ErrorKind::Timeout, "timed out")
            }
            session_code::AUTHENTICATION_FAILED | session_code::PUBLICKEY_UNVERIFIED => {
                (ErrorKind::Auth, "authentication failed")
            }
            session_code::FILE => (ErrorKind::InvalidInput, "cannot use the file"),
            _ => (ErrorKind::Network, "connection error"),
        },
    };
    let detail = e.message();
    let code = match e.code() {
        ErrorCode::SFTP(c) => format!("SFTP status {c}"),
        ErrorCode::Session(c) => format!("libssh2 {c}"),
    };
    let msg = if detail.is_empty() || detail.eq_ignore_ascii_case(what) {
        format!("{doing} {path}: {what} ({code})")
    } else {
        format!("{doing} {path}: {what} ({detail}; {code})")
    };
    Error::new(kind, msg).with_path(path)
}

impl Pool {
    /// A pool for `loc`; nothing is opened yet.
    pub fn new(loc: SftpLocation, opts: SftpOptions) -> Pool {
        Pool {
            loc,
            opts,
            slots: Mutex::new(Slots::default()),
            ready: Condvar::new(),
            warned_insecure: AtomicBool::new(false),
        }
    }

    /// How many sessions run in parallel for listings.
    pub fn size(&self) -> usize {
        self.opts.sessions.max(1)
    }

    /// A session for one call or file stream (blocking): an idle one, else the first of a session given back and
    /// one opened for this call in the background. A failed connection is this call's error.
    pub fn lease(self: &Arc<Self>) -> Result<Lease> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.waiting += 1;
        let got = loop {
            if let Some(c) = slots.idle.pop() {
                break Ok(c);
            }
            if let Some(e) = slots.failed.pop() {
                break Err(e);
            }
            if slots.connecting < slots.waiting {
                slots.connecting += 1;
                let pool = self.clone();
                let spawned = std::thread::Builder::new()
                    .name("syncwright-ssh-connect".into())
                    .spawn(move || {
                        // A panic in there must still wake the caller.
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            pool.connect()
                        }))
                        .unwrap_or_else(|_| {
                            Err(Error::internal("opening an SSH session panicked".to_string()))
                        });
                        pool.connected(r)
                    });
                if let Err(e) = spawned {
                    slots.connecting -= 1;
                    break Err(Error::internal(format!("cannot start a thread: {e}")));
                }
            }
            slots = self.ready.wait(slots).unwrap_or_else(|p| p.into_inner());
        };
        slots.waiting -= 1;
        // Errors of connections nobody waits for any more are dropped.
        let keep = slots.waiting;
        slots.failed.truncate(keep);
        Ok(Lease { conn: Some(got?), pool: self.clone() })
    }

    /// Ends a background connection: its session becomes idle, or its error goes to a waiting call.
    fn connected(&self, r: Result<Conn>) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.connecting -= 1;
        match r {
            Ok(c) => slots.idle.push(Arc::new(c)),
            Err(e) if slots.waiting > slots.failed.len() => slots.failed.push(e),
            // Nobody waits for it any more (a session came back first).
            Err(_) => {}
        }
        drop(slots);
        self.ready.notify_all();
    }

    /// A session back from a lease: idle for the next call (at most twice `sessions` are kept, more when calls
    /// wait).
    fn give_back(&self, c: Arc<Conn>) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.waiting > 0 || slots.idle.len() < 2 * self.opts.sessions.max(1) {
            slots.idle.push(c);
            drop(slots);
            self.ready.notify_one();
        }
    }

    /// Marks `c` broken: it is not reused.
    pub fn discard(&self, c: &Arc<Conn>) {
        c.broken.store(true, Ordering::Relaxed);
    }

    /// Runs `f` on a session and maps its error; a broken session is replaced for the next call.
    pub fn with<R>(
        self: &Arc<Self>,
        doing: &str,
        path: &str,
        f: impl FnOnce(&Conn) -> std::result::Result<R, ssh2::Error>,
    ) -> Result<R> {
        let lease = self.lease()?;
        let c = lease.conn();
        f(c).map_err(|e| self.fail(c, &e, doing, path))
    }

    /// Maps an error of a call on `c`, dropping `c` when its connection is gone.
    pub fn fail(&self, c: &Arc<Conn>, e: &ssh2::Error, doing: &str, path: &str) -> Error {
        if breaks_session(e) {
            self.discard(c);
        }
        map_err(e, doing, path)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.opts.timeout_secs.max(1))
    }

    fn net(&self, what: String) -> Error {
        Error::new(ErrorKind::Network, what).with_path(self.loc.to_string())
    }

    /// Opens, verifies and authenticates a new session.
    fn connect(&self) -> Result<Conn> {
        let (host, port) = (self.loc.host.as_str(), self.loc.port);
        let shown = format!("{}:{}", self.loc.host, port);
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .map_err(|e| self.net(format!("cannot resolve {host}: {e} (dns lookup failed)")))?
            .collect();
        let mut last = None;
        let mut tcp = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, self.timeout()) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            let e = last.map(|e| e.to_string()).unwrap_or_else(|| "no address".into());
            let kind =
                if e.contains("timed out") { ErrorKind::Timeout } else { ErrorKind::Network };
            Error::new(kind, format!("cannot connect to {shown}: {e}"))
                .with_path(self.loc.to_string())
        })?;
        let _ = tcp.set_nodelay(true);
        let mut sess = Session::new()
            .map_err(|e| Error::internal(format!("cannot start an SSH session: {e}")))?;
        sess.set_tcp_stream(tcp);
        sess.set_timeout(self.timeout().as_millis() as u32);
        sess.set_compress(false);
        // AES-GCM first: with AES-NI it costs a fraction of CTR + HMAC per byte. libssh2 drops names it lacks.
        for m in [ssh2::MethodType::CryptCs, ssh2::MethodType::CryptSc] {
            let _ = sess.method_pref(m, CIPHERS);
        }
        sess.handshake().map_err(|e| {
            let mut err = map_err(&e, "SSH handshake with", &shown);
            if err.kind() == ErrorKind::InvalidInput {
                err = Error::new(ErrorKind::Network, err.message().to_string());
            }
            err
        })?;
        self.check_host_key(&sess, &shown)?;
        self.authenticate(&sess, &shown)?;
        let sftp = sess.sftp().map_err(|e| {
            let err = map_err(&e, "cannot start SFTP on", &shown);
            if err.kind() == ErrorKind::Network {
                err
            } else {
                Error::new(
                    ErrorKind::FeatureDisabled,
                    format!("{} (is the sftp subsystem enabled in sshd_config?)", err.message()),
                )
            }
        })?;
        let posix = PosixSftp::open(&sess);
        Ok(Conn { sess, sftp, posix, broken: AtomicBool::new(false) })
    }

    fn known_hosts_file(&self) -> PathBuf {
        self.opts.known_hosts.clone().unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/root"))
                .join(".ssh/known_hosts")
        })
    }

    /// The host key must be the one the known_hosts file lists for this host and port.
    fn check_host_key(&self, sess: &Session, shown: &str) -> Result<()> {
        let (key, _) =
            sess.host_key().ok_or_else(|| self.net(format!("{shown} sent no host key")))?;
        let fingerprint = sess
            .host_key_hash(ssh2::HashType::Sha256)
            .map(|h| format!("SHA256:{}", base64_nopad(h)))
            .unwrap_or_default();
        if self.opts.insecure_ignore_host_key {
            if !self.warned_insecure.swap(true, Ordering::Relaxed) || self.size() == 1 {
                tracing::warn!(
                    host = shown,
                    fingerprint = fingerprint.as_str(),
                    "the host key of {shown} ({fingerprint}) is NOT checked (insecure_ignore_host_key): \
                     anyone who can intercept the connection can read and change the data"
                );
            }
            return Ok(());
        }
        let file = self.known_hosts_file();
        let auth = |m: String| Error::new(ErrorKind::Auth, m).with_path(self.loc.to_string());
        let mut kh = sess
            .known_hosts()
            .map_err(|e| Error::internal(format!("cannot check host keys: {e}")))?;
        kh.read_file(&file, KnownHostFileKind::OpenSSH).map_err(|e| {
            auth(format!(
                "cannot read the known_hosts file {} ({}): the host key of {shown} cannot be checked; \
                 pass --known-hosts FILE, or --insecure-ignore-host-key to skip the check",
                file.display(),
                e.message()
            ))
        })?;
        match kh.check_port(&self.loc.host, self.loc.port, key) {
            CheckResult::Match => Ok(()),
            CheckResult::Mismatch => Err(auth(format!(
                "HOST KEY MISMATCH: {shown} offered {fingerprint}, which is not the key {} lists for it; \
                 someone may be intercepting the connection (or the host was reinstalled): refusing to connect",
                file.display()
            ))),
            CheckResult::NotFound => Err(auth(format!(
                "the host key of {shown} ({fingerprint}) is not in {}: add it (ssh-keyscan -p {} {} >> {}) \
                 after checking the fingerprint, or pass --insecure-ignore-host-key",
                file.display(),
                self.loc.port,
                self.loc.host,
                file.display()
            ))),
            CheckResult::Failure => Err(auth(format!(
                "cannot check the host key of {shown} against {}",
                file.display()
            ))),
        }
    }

    /// Public-key authentication: the key file (passphrase from the options or SYNCWRIGHT_SSH_PASSPHRASE), then
    /// ssh-agent, then the default keys in ~/.ssh when no key file was given.
    fn authenticate(&self, sess: &Session, shown: &str) -> Result<()> {
        let user = self.loc.user.as_str();
        let env_pass = std::env::var("SYNCWRIGHT_SSH_PASSPHRASE").ok();
        let pass: Option<&str> =
            self.opts.passphrase.as_ref().map(|s| s.expose()).or(env_pass.as_deref());
        let mut tried: Vec<String> = Vec::new();
        let try_key = |k: &std::path::Path, tried: &mut Vec<String>| -> bool {
            match sess.userauth_pubkey_file(user, None, k, pass) {
                Ok(()) => sess.authenticated(),
                Err(e) => {
                    tried.push(format!("key {} ({})", k.display(), e.message()));
                    false
                }
            }
        };
        if let Some(key) = &self.opts.private_key {
            match sess.userauth_pubkey_memory(user, None, key.expose(), pass) {
                Ok(()) if sess.authenticated() => return Ok(()),
                Ok(()) => tried.push("the vault's private_key (not accepted)".into()),
                Err(e) => tried.push(format!("the vault's private_key ({})", e.message())),
            }
        }
        if let Some(k) = &self.opts.key_file {
            if !k.is_file() {
                return Err(Error::invalid(format!("SSH key file {} not found", k.display()))
                    .with_path(k.display().to_string()));
            }
            if try_key(k, &mut tried) {
                return Ok(());
            }
        }
        if self.opts.agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
            match sess.userauth_agent(user) {
                Ok(()) if sess.authenticated() => return Ok(()),
                Ok(()) => tried.push("ssh-agent (no key accepted)".into()),
                Err(e) => tried.push(format!("ssh-agent ({})", e.message())),
            }
        }
        if self.opts.key_file.is_none()
            && self.opts.private_key.is_none()
            && let Some(home) = std::env::var_os("HOME")
        {
            for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                let k = PathBuf::from(&home).join(".ssh").join(name);
                if k.is_file() && try_key(&k, &mut tried) {
                    return Ok(());
                }
            }
        }
        if tried.is_empty() {
            tried.push("no key file given, no ssh-agent, no key in ~/.ssh".into());
        }
        Err(Error::new(
            ErrorKind::Auth,
            format!("SSH authentication as {user} at {shown} failed: tried {}", tried.join("; ")),
        )
        .with_path(self.loc.to_string()))
    }
}

/// Base64 without padding, as OpenSSH prints fingerprints.
fn base64_nopad(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 3);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_errors() {
        assert_eq!(base64_nopad(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_nopad(b"fooba"), "Zm9vYmE");
        assert_eq!(base64_nopad(b"f"), "Zg");
        let e =
            map_err(&ssh2::Error::new(ErrorCode::SFTP(2), "no such file"), "cannot open", "a/b");
        assert_eq!((e.kind(), e.path()), (ErrorKind::NotFound, Some("a/b")));
        let e = map_err(&ssh2::Error::new(ErrorCode::Session(-13), "disconnected"), "x", "y");
        assert_eq!(e.kind(), ErrorKind::Network);
        assert!(breaks_session(&ssh2::Error::new(ErrorCode::Session(-13), "d")));
        assert!(!breaks_session(&ssh2::Error::new(ErrorCode::SFTP(2), "d")));
        let e = map_err(&ssh2::Error::new(ErrorCode::Session(-9), "t"), "x", "y");
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }
}
