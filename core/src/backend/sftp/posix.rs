//! posix-rename@openssh.com: the atomic replace SFTP v3 lacks.
//!
//! A plain SFTP rename fails when the target exists (OpenSSH's server links, then unlinks), and ssh2 0.9 does not
//! wrap libssh2's `libssh2_sftp_posix_rename_ex`. This module opens a second SFTP channel on the session with
//! libssh2 itself and calls the extension on it; every call holds the session's lock, as ssh2's own calls do.

use ssh2::{ErrorCode, Session};
use std::os::raw::{c_char, c_int, c_ulong};

unsafe extern "C" {
    // libssh2 >= 1.11 (the bundled libssh2-sys 0.3.x builds 1.11): LIBSSH2_API int
    // libssh2_sftp_posix_rename_ex(LIBSSH2_SFTP *sftp, const char *source_filename, size_t source_filename_len,
    //                              const char *dest_filename, size_t dest_filename_len);
    fn libssh2_sftp_posix_rename_ex(
        sftp: *mut libssh2_sys::LIBSSH2_SFTP,
        source: *const c_char,
        source_len: usize,
        dest: *const c_char,
        dest_len: usize,
    ) -> c_int;
}

/// A raw SFTP channel used only for posix renames.
pub(super) struct PosixSftp {
    raw: *mut libssh2_sys::LIBSSH2_SFTP,
    sess: Session,
}

// SAFETY: the raw handle is only used while holding the session's mutex (`Session::raw`), which serialises every
// libssh2 call on the session, exactly as ssh2's own `Sftp` does.
unsafe impl Send for PosixSftp {}
unsafe impl Sync for PosixSftp {}

impl PosixSftp {
    /// Opens the channel; None when the server refuses a second SFTP channel.
    pub fn open(sess: &Session) -> Option<PosixSftp> {
        let raw = {
            let mut guard = sess.raw();
            // SAFETY: the session pointer is valid and locked for the duration of the call.
            unsafe { libssh2_sys::libssh2_sftp_init(&mut *guard) }
        };
        (!raw.is_null()).then(|| PosixSftp { raw, sess: sess.clone() })
    }

    /// Renames `from` over `to` atomically.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), ssh2::Error> {
        let mut guard = self.sess.raw();
        // SAFETY: the handle is valid until drop; the strings outlive the call; the session is locked.
        let rc = unsafe {
            libssh2_sftp_posix_rename_ex(
                self.raw,
                from.as_ptr() as *const c_char,
                from.len(),
                to.as_ptr() as *const c_char,
                to.len(),
            )
        };
        match rc {
            0 => Ok(()),
            libssh2_sys::LIBSSH2_ERROR_SFTP_PROTOCOL => {
                // SAFETY: as above.
                let status: c_ulong = unsafe { libssh2_sys::libssh2_sftp_last_error(self.raw) };
                Err(ssh2::Error::new(ErrorCode::SFTP(status as c_int), "posix-rename failed"))
            }
            rc => Err(ssh2::Error::last_session_error_raw(&mut *guard)
                .filter(|e| e.code() == ErrorCode::Session(rc))
                .unwrap_or_else(|| {
                    ssh2::Error::new(ErrorCode::Session(rc), "posix-rename failed")
                })),
        }
    }
}

impl Drop for PosixSftp {
    fn drop(&mut self) {
        let _guard = self.sess.raw();
        // SAFETY: the handle came from libssh2_sftp_init and is shut down once, under the session's lock.
        unsafe {
            libssh2_sys::libssh2_sftp_shutdown(self.raw);
        }
    }
}
