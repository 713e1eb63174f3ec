//! Storage usage at the front door.

use super::EngineCore;
use crate::error::Result;
use crate::usage::{StorageUsage, UsageQuery};

impl EngineCore {
    /// What the folders of `query` (a models folder, a root) and, when the config has profiles, their
    /// destinations hold, by type, by profile and by folder, with the disk's figures.
    pub fn storage_usage(&self, query: &UsageQuery) -> Result<StorageUsage> {
        let config = (!self.config.profiles.is_empty()).then_some(&*self.config);
        crate::usage::storage_usage(query, config)
    }
}
