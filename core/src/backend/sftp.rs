//! SSH/SFTP backend (issue 6): placeholder until the implementation lands.

use super::Backend;
use super::remote::{SftpLocation, SftpOptions};
use crate::error::{Error, ErrorKind, Result};
use std::sync::Arc;

/// A tree on an SSH host, reached over SFTP.
#[derive(Debug)]
pub struct SftpBackend;

impl SftpBackend {
    /// Opens `loc` (connects lazily).
    pub fn open(loc: SftpLocation, _o: &SftpOptions) -> Result<Arc<dyn Backend>> {
        Err(Error::new(ErrorKind::FeatureDisabled, format!("{loc}: SFTP is not implemented yet")))
    }
}
