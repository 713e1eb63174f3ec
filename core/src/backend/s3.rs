//! S3 backend (issue 7): placeholder until the implementation lands.

use super::Backend;
use super::remote::{S3Location, S3Options};
use crate::error::{Error, ErrorKind, Result};
use std::sync::Arc;

/// Objects under a prefix of an S3 bucket.
#[derive(Debug)]
pub struct S3Backend;

impl S3Backend {
    /// Opens `loc` for snapshot `snapshot` (connects lazily).
    pub fn open(
        loc: S3Location,
        _snapshot: Option<&str>,
        _o: &S3Options,
    ) -> Result<Arc<dyn Backend>> {
        Err(Error::new(ErrorKind::FeatureDisabled, format!("{loc}: S3 is not implemented yet")))
    }
}
