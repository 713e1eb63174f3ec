//! A real OpenSSH server on 127.0.0.1 for tests: generated host and client keys, a known_hosts file, the
//! internal SFTP server logging every operation, and a loopback TCP proxy that can cut a connection at byte N.
//! Everything stops when the fixture is dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// A running sshd.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    /// Client private key (no passphrase).
    pub key: PathBuf,
    /// known_hosts with the server's key for [127.0.0.1]:port.
    pub known_hosts: PathBuf,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

fn keygen(path: &Path, passphrase: &str) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (apt-get install openssh-client)");
    assert!(st.success());
}

/// The login name of this process's user.
pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Sshd {
    /// Starts sshd; returns once it listens.
    pub fn start() -> Sshd {
        Sshd::start_with("")
    }

    /// Starts sshd with `extra` lines in its config (`ForceCommand internal-sftp` for an sftp-only account).
    pub fn start_with(extra: &str) -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd missing: apt-get install openssh-server (scripts/test.sh does)"
        );
        if unsafe { libc::geteuid() } == 0 {
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host_ed25519");
        let key = dir.path().join("client_ed25519");
        keygen(&host, "");
        keygen(&key, "");
        std::fs::copy(dir.path().join("client_ed25519.pub"), dir.path().join("authorized_keys"))
            .unwrap();
        for attempt in 0..5 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {auth}\n\
                     PidFile {pid}\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                     Subsystem sftp internal-sftp\nLogLevel VERBOSE\nMaxStartups 100\nMaxSessions 100\n{extra}\n",
                    host = host.display(),
                    auth = dir.path().join("authorized_keys").display(),
                    pid = dir.path().join("sshd.pid").display(),
                ),
            )
            .unwrap();
            let mut child = Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start sshd");
            let log = Arc::new(Mutex::new(Vec::new()));
            let (tx, rx) = mpsc::channel();
            let stderr = child.stderr.take().unwrap();
            {
                let log = log.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                        if line.contains("Server listening on") || line.contains("Bind to port") {
                            let _ = tx.send(line.clone());
                        }
                        log.lock().unwrap().push(line);
                    }
                    let _ = tx.send(String::from("<exited>"));
                });
            }
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(l) if l.contains("Server listening on") => {
                    let pubkey =
                        std::fs::read_to_string(dir.path().join("host_ed25519.pub")).unwrap();
                    let known_hosts = dir.path().join("known_hosts");
                    std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {pubkey}")).unwrap();
                    return Sshd { dir, port, user: current_user(), key, known_hosts, child, log };
                }
                other => {
                    let _ = child.kill();
                    let _ = child.wait();
                    if attempt == 4 {
                        panic!("sshd did not start: {other:?}\n{}", log.lock().unwrap().join("\n"));
                    }
                }
            }
        }
        unreachable!()
    }

    /// `sftp://user@127.0.0.1:port/abs` for `abs`, through `port` (the proxy's, say) when given.
    pub fn url(&self, abs: &Path, port: Option<u16>) -> String {
        format!("sftp://{}@127.0.0.1:{}{}", self.user, port.unwrap_or(self.port), abs.display())
    }

    /// Options with the test key and known_hosts.
    pub fn options(&self) -> syncwright::backend::remote::SftpOptions {
        syncwright::backend::remote::SftpOptions {
            key_file: Some(self.key.clone()),
            known_hosts: Some(self.known_hosts.clone()),
            agent: false,
            timeout_secs: 20,
            ..Default::default()
        }
    }

    /// Lists the server's key for `port` too (a proxy in front of it).
    pub fn trust_port(&self, port: u16) {
        let pubkey = std::fs::read_to_string(self.dir.path().join("host_ed25519.pub")).unwrap();
        let mut kh = std::fs::read_to_string(&self.known_hosts).unwrap();
        kh.push_str(&format!("[127.0.0.1]:{port} {pubkey}"));
        std::fs::write(&self.known_hosts, kh).unwrap();
    }

    /// Lines sshd logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Forgets the log so far.
    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }

    /// Stops the listener (open sessions live on in their own processes).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
        // Sessions still open belong to this server: end them too.
        let _ = Command::new("pkill").arg("-f").arg(self.dir.path().join("sshd_config")).status();
    }
}

/// Which way the bytes a proxy counts flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server (uploads).
    Up,
    /// Server to client (downloads).
    Down,
}

/// A loopback TCP proxy in front of a port; it can cut the first connection that moves more than N bytes one
/// way.
pub struct Proxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    cut: Arc<Mutex<Option<(Direction, u64)>>>,
    /// Connections cut so far.
    pub cuts: Arc<AtomicU64>,
    /// Bytes moved each way over all connections.
    pub up: Arc<AtomicU64>,
    pub down: Arc<AtomicU64>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let cut: Arc<Mutex<Option<(Direction, u64)>>> = Arc::default();
        let (cuts, up, down): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicU64>) =
            (Arc::default(), Arc::default(), Arc::default());
        {
            let (stop, cut, cuts, up, down) =
                (stop.clone(), cut.clone(), cuts.clone(), Arc::clone(&up), Arc::clone(&down));
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let plan = *cut.lock().unwrap();
                    let conn = Arc::new(ConnState {
                        client: client.try_clone().unwrap(),
                        server: server.try_clone().unwrap(),
                        cut_plan: cut.clone(),
                        armed: plan,
                        cuts: cuts.clone(),
                    });
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    spawn_pipe(conn.clone(), client, s2, Direction::Up, up.clone());
                    spawn_pipe(conn, server, c2, Direction::Down, down.clone());
                }
            });
        }
        Proxy { port, stop, cut, cuts, up, down }
    }

    /// Cuts the next connection that moves more than `n` bytes in `dir` (once).
    pub fn cut_after(&self, dir: Direction, n: u64) {
        *self.cut.lock().unwrap() = Some((dir, n));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct ConnState {
    client: TcpStream,
    server: TcpStream,
    cut_plan: Arc<Mutex<Option<(Direction, u64)>>>,
    armed: Option<(Direction, u64)>,
    cuts: Arc<AtomicU64>,
}

impl ConnState {
    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

fn spawn_pipe(
    conn: Arc<ConnState>,
    mut from: TcpStream,
    mut to: TcpStream,
    dir: Direction,
    total: Arc<AtomicU64>,
) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut moved = 0u64;
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut send = n;
            if let Some((d, limit)) = conn.armed
                && d == dir
                && moved + n as u64 > limit
            {
                // Take the cut only if no other connection took it first.
                let mut plan = conn.cut_plan.lock().unwrap();
                if plan.is_some() {
                    *plan = None;
                    drop(plan);
                    send = (limit - moved) as usize;
                    let _ = to.write_all(&buf[..send]);
                    total.fetch_add(send as u64, Ordering::SeqCst);
                    conn.cuts.fetch_add(1, Ordering::SeqCst);
                    conn.close();
                    return;
                }
            }
            if to.write_all(&buf[..send]).is_err() {
                break;
            }
            moved += send as u64;
            total.fetch_add(send as u64, Ordering::SeqCst);
        }
        conn.close();
    });
}
