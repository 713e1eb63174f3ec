//! syncwright: keeps media, models, user data and logs of AI-image workstations in sync with NAS, SSH hosts and
//! cloud storage.
//!
//! A sync flows one way through five stages: scan, diff, plan, execute, commit (see `ARCHITECTURE.md`).

/// The library version, as in Cargo.toml.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

pub mod error;
pub use error::{Error, ErrorKind, Result};
pub mod manifest;
pub mod naming;
pub mod report;
pub mod state;
pub mod usage;

pub use manifest::scan::build_manifest_json;
pub mod backend;
/// Local backups: zip archives of a project's folders, with a manifest, rotation, verify and restore.
pub mod backup;
pub mod cancel;
/// ComfyUI's prompt graphs and workflows, read for media metadata and for workflows.
pub mod comfy;
pub mod config;
/// Durable file operations shared by the modules that write whole files.
mod durable;
pub mod engine;
pub mod events;
pub mod jobs;
pub mod locks;
pub mod logs;
/// Generation metadata of AI images (PNG, JPEG, WebP) read without decoding pixels, and XMP sidecars.
pub mod media;
pub mod progress;
pub mod recovery;
pub mod sync;
pub mod vault;

pub use engine::{Engine, EngineConfig, EngineCore, SyncOptions};
pub use jobs::Job;
pub use report::{Status, SyncReport};
