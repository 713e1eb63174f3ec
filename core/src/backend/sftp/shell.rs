//! Commands on the host: `sync -f ROOT` once per batch of writes.
//!
//! The first command runs on an exec channel of its own, with end of input sent: that is what tells whether the
//! account runs commands at all (an sftp-only account answers an exec with the SFTP server, which must see end of
//! input to go away). Once one has succeeded, later commands go to one `sh` kept open on a session of its own, one
//! line each, so that the user's shell and its start-up files (`.bashrc` with conda or pyenv on GPU hosts, tens of
//! milliseconds of the host's CPU each time) run once per backend instead of once per batch.

use super::conn::{Conn, Pool};
use ssh2::{Channel, ExtendedData};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;

/// A non-interactive `sh` on the host, reading commands from its standard input.
pub(super) struct HostShell {
    out: BufReader<Channel>,
    /// The session the channel lives on, out of the pool: nothing else runs on it.
    _conn: Arc<Conn>,
    seq: u64,
}

impl std::fmt::Debug for HostShell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostShell").field("commands", &self.seq).finish()
    }
}

/// Why a command did not run to an exit status.
#[derive(Debug)]
pub(super) struct ShellGone;

impl HostShell {
    /// Opens the shell on a session taken out of `pool`.
    pub fn open(pool: &Arc<Pool>) -> Result<HostShell, ShellGone> {
        let conn = pool.lease().map_err(|_| ShellGone)?.detach();
        let mut ch = conn.sess.channel_session().map_err(|_| ShellGone)?;
        // What the start-up files print on standard error is not read by anyone.
        ch.handle_extended_data(ExtendedData::Ignore).map_err(|_| ShellGone)?;
        ch.exec("exec sh").map_err(|_| ShellGone)?;
        Ok(HostShell { out: BufReader::new(ch), _conn: conn, seq: 0 })
    }

    /// Runs one line of POSIX shell (its output discarded) and returns its exit status.
    pub fn run(&mut self, cmd: &str) -> Result<i32, ShellGone> {
        self.seq += 1;
        let mark = format!("syncwright-exit-{}-", self.seq);
        let line = format!("{cmd} </dev/null >/dev/null 2>&1; echo {mark}$?\n");
        let ch = self.out.get_mut();
        ch.write_all(line.as_bytes()).map_err(|_| ShellGone)?;
        ch.flush().map_err(|_| ShellGone)?;
        let mut got = String::new();
        loop {
            got.clear();
            // Anything before the mark (a banner printed by a start-up file) is skipped.
            if self.out.read_line(&mut got).map_err(|_| ShellGone)? == 0 {
                return Err(ShellGone);
            }
            if let Some(code) = got.trim_end().strip_prefix(&mark) {
                return code.parse().map_err(|_| ShellGone);
            }
        }
    }
}

/// Runs `cmd` on an exec channel of its own on one of `pool`'s sessions, with end of input sent; true when it
/// exited 0 and printed `mark`.
pub(super) fn exec_once(pool: &Arc<Pool>, cmd: &str, mark: &str) -> bool {
    (|| -> Result<bool, ssh2::Error> {
        let lease = pool.lease().map_err(|_| ssh2::Error::unknown())?;
        let mut ch = lease.conn().sess.channel_session()?;
        ch.exec(&format!("{cmd} && echo {mark}"))?;
        ch.send_eof()?;
        let mut out = String::new();
        let _ = ch.read_to_string(&mut out);
        ch.wait_close()?;
        Ok(ch.exit_status()? == 0 && out.contains(mark))
    })()
    .unwrap_or(false)
}
