//! Google Drive backend (issue 8): placeholder until the implementation lands.

use super::Backend;
use super::remote::{GdriveLocation, GdriveOptions};
use crate::error::{Error, ErrorKind, Result};
use std::sync::Arc;

/// A folder tree in Google Drive.
#[derive(Debug)]
pub struct GdriveBackend;

impl GdriveBackend {
    /// Opens `loc` for snapshot `snapshot` (connects lazily).
    pub fn open(
        loc: GdriveLocation,
        _snapshot: Option<&str>,
        _o: &GdriveOptions,
    ) -> Result<Arc<dyn Backend>> {
        Err(Error::new(ErrorKind::FeatureDisabled, format!("{loc}: Drive is not implemented yet")))
    }
}
