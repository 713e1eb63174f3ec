//! Document 3's cloud sync as calls: the manifest of the configured tree (`[cloud_sync]`), and a dry run or a
//! run that mirrors it to S3 or Google Drive. The server's `/api/sync/{manifest,dry_run,run}` only adapt these.
//!
//! A run is an ordinary sync job (it shows in the engine's jobs, events and history, takes the destination's
//! lock and can be cancelled) from the tree's root to `s3://bucket/prefix` or `gdrive://parent_id`, mirroring
//! (deletes are capped as in every mirror run), with the snapshot as its name. The feature flags apply
//! (`[features]`); endpoints and API bases come only from the config. The vault's credentials are named by
//! `credentials_key` (the request's, else `[cloud_sync.<service>]`'s).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::EngineCore;
use crate::backend::remote::{GdriveOptions, RemoteOptions, S3Options};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::filter::Filter;
use crate::manifest::hash::HashAlgo;
use crate::manifest::plan::{Op, Plan};
use crate::manifest::scan::{ScanOptions, scan_local};
use crate::report::{Status, SyncReport};
use crate::sync::SyncOptions;

/// A service's settings in a request (document 3's `service_config`). Endpoints are not among them: they come
/// only from `[cloud_sync.<service>]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// S3: the bucket.
    pub bucket: Option<String>,
    /// S3: the key prefix.
    pub prefix: Option<String>,
    /// S3: the region.
    pub region: Option<String>,
    /// Drive: the folder of the files.
    pub parent_id: Option<String>,
    /// Drive: the folder of the manifests.
    pub manifest_parent_id: Option<String>,
}

/// A dry run or run of document 3 (`POST /api/sync/dry_run`, `/api/sync/run`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloudRequest {
    /// `s3` or `gdrive`.
    pub service: String,
    /// The snapshot (default `[cloud_sync] default_snapshot`); `[cloud_sync] snapshot_prefix` goes before it.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Paths under the root to mirror (default `[cloud_sync] include`, else the whole root).
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// The vault key of the credentials (default `[cloud_sync.<service>] credentials_key`).
    #[serde(default)]
    pub credentials_key: Option<String>,
    /// The service's settings.
    #[serde(default)]
    pub service_config: ServiceConfig,
    /// Replace the remote manifest after a clean run (default true); false leaves it for inspection.
    #[serde(default)]
    pub commit_manifest: Option<bool>,
}

/// A manifest in short (document 3's `manifest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestSummary {
    /// The snapshot name.
    pub name: String,
    /// The tree's root.
    pub root: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// Its number of entries.
    pub entries: u64,
    /// SHA-256 over each entry's `path NUL size NUL sha256 LF`, in path order.
    pub checksum: String,
}

/// What [`EngineCore::cloud_manifest`] gives (document 3's `GET /api/sync/manifest`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudManifest {
    /// Version of this document's schema.
    pub schema_version: u32,
    /// The manifest in short.
    pub manifest: ManifestSummary,
    /// The paths taken.
    pub include: Vec<String>,
    /// The patterns left out.
    pub exclude: Vec<String>,
    /// The manifest's checksum again, as document 3 gives it.
    pub checksum: String,
    /// Entries that could not be read (`{action, path, error, kind}`): they are not in the manifest.
    pub errors: Vec<crate::report::FileError>,
}

/// One planned action, expanded (document 3's uploads, deletes and skipped entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudAction {
    /// The relative path.
    pub path: String,
    /// Bytes it moves (uploads).
    pub size: u64,
    /// Why (the plan's reason).
    pub reason: String,
}

/// An action that failed (document 3's `errors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudError {
    /// `upload`, `delete`, or the run's other stages (`scan`, `plan`, `commit`...).
    pub action: String,
    /// The relative path ("" for the whole tree).
    pub path: String,
    /// The message.
    pub error: String,
    /// The stable error kind.
    pub kind: ErrorKind,
}

/// The summary of a dry run or run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudSummary {
    /// `dry_run`, `completed` or `partial`.
    pub status: String,
    /// The service.
    pub service: String,
    /// The snapshot (with its prefix).
    pub snapshot: String,
    /// Files to upload (a dry run) or uploaded.
    pub uploads: Vec<CloudAction>,
    /// Remote files to delete (or deleted): those gone from the tree.
    pub deletes: Vec<CloudAction>,
    /// Entries left as they are, with why (identical ones are counted, not listed).
    pub skipped: Vec<CloudAction>,
    /// Bytes of the uploads.
    pub bytes: u64,
    /// Entries already identical at the remote.
    pub unchanged: u64,
}

/// What [`EngineCore::cloud_dry_run`] and [`EngineCore::cloud_run`] give (document 3's
/// `{manifest, plan, summary, remote_manifest}`, with `errors`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudSyncResult {
    /// Version of this document's schema.
    pub schema_version: u32,
    /// The local manifest in short.
    pub manifest: ManifestSummary,
    /// The plan.
    pub plan: Plan,
    /// The summary.
    pub summary: CloudSummary,
    /// The remote side as the plan saw it: its location and number of files.
    pub remote_manifest: serde_json::Value,
    /// What failed (empty unless `summary.status` is `partial`).
    pub errors: Vec<CloudError>,
    /// The sync job that ran it.
    pub job_id: String,
    /// Whether the remote manifest was replaced.
    pub manifest_committed: bool,
}

fn checksum(entries: &[crate::manifest::Entry]) -> String {
    let mut h = Sha256::new();
    for e in entries {
        h.update(e.path.as_bytes());
        h.update([0]);
        h.update(e.size.to_string().as_bytes());
        h.update([0]);
        h.update(e.hashes.get("sha256").unwrap_or_default().as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn reason(r: crate::manifest::plan::Reason) -> String {
    serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

impl EngineCore {
    fn cloud_root(&self) -> std::path::PathBuf {
        let c = &self.config.cloud_sync;
        match &c.root {
            Some(r) => self.config.resolve(r),
            None => self
                .config
                .origin
                .as_deref()
                .and_then(std::path::Path::parent)
                .map(std::path::Path::to_path_buf)
                .unwrap_or_else(|| std::path::PathBuf::from(".")),
        }
    }

    fn cloud_snapshot(&self, snapshot: Option<&str>) -> Result<String> {
        let c = &self.config.cloud_sync;
        let name = format!("{}{}", c.snapshot_prefix, snapshot.unwrap_or(&c.default_snapshot));
        let ok = !name.is_empty()
            && name.len() <= 128
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && name != "."
            && name != "..";
        if !ok {
            return Err(Error::invalid(format!(
                "bad snapshot {name:?}: letters, digits, '.', '_' and '-'"
            )));
        }
        Ok(name)
    }

    /// The include patterns of `paths` (each a relative path under the root: a folder takes all below it).
    fn cloud_include(&self, paths: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for p in paths {
            let rel = p.trim_matches('/');
            crate::manifest::validate_rel_path(rel)
                .map_err(|_| Error::invalid(format!("bad path {p:?}: relative, without '..'")))?;
            out.push(format!("{rel}/**"));
            if self.cloud_root().join(rel).is_file() {
                out.push(rel.to_string());
            }
        }
        Ok(out)
    }

    fn cloud_summary_of(
        &self,
        snapshot: &str,
        include: &[String],
    ) -> Result<(ManifestSummary, Vec<crate::report::FileError>)> {
        let root = self.cloud_root();
        let c = &self.config.cloud_sync;
        let opts = ScanOptions {
            name: snapshot.to_string(),
            filter: Filter::new(&self.cloud_include(include)?, &c.exclude)?,
            hash: Some(HashAlgo::Sha256),
            hash_cache: self.store.clone(),
            ..Default::default()
        };
        let out = scan_local(&root, &opts)?;
        let files: Vec<_> = out.manifest.entries.into_iter().collect();
        Ok((
            ManifestSummary {
                name: snapshot.to_string(),
                root: root.display().to_string(),
                created_at: out.manifest.created_at,
                entries: files.len() as u64,
                checksum: checksum(&files),
            },
            out.errors,
        ))
    }

    /// The manifest of the configured tree (`[cloud_sync]` root, include, exclude) for `snapshot` (default the
    /// config's), taking only `include` when given; touches no remote. Every file is hashed (SHA-256, through the
    /// store's hash cache).
    pub fn cloud_manifest(
        &self,
        snapshot: Option<&str>,
        include: Option<&[String]>,
    ) -> Result<CloudManifest> {
        self.config.features.require_general("the cloud-sync manifest")?;
        let snapshot = self.cloud_snapshot(snapshot)?;
        let include = include
            .map(<[String]>::to_vec)
            .unwrap_or_else(|| self.config.cloud_sync.include.clone());
        let (manifest, errors) = self.cloud_summary_of(&snapshot, &include)?;
        Ok(CloudManifest {
            schema_version: 1,
            checksum: manifest.checksum.clone(),
            manifest,
            include,
            exclude: self.config.cloud_sync.exclude.clone(),
            errors,
        })
    }

    /// The destination and remote options of a request.
    fn cloud_target(&self, req: &CloudRequest) -> Result<(String, RemoteOptions)> {
        let c = &self.config.cloud_sync;
        let sc = &req.service_config;
        let mut remote = RemoteOptions::default();
        let location = match req.service.as_str() {
            "s3" => {
                if sc.parent_id.is_some() || sc.manifest_parent_id.is_some() {
                    return Err(Error::invalid("service_config: parent ids are Drive's, not S3's"));
                }
                let bucket =
                    sc.bucket.clone().or_else(|| c.s3.bucket.clone()).ok_or_else(|| {
                        Error::invalid(
                            "s3 needs a bucket (service_config.bucket or [cloud_sync.s3] bucket)",
                        )
                    })?;
                remote.s3 = S3Options {
                    region: sc.region.clone().or_else(|| c.s3.region.clone()),
                    endpoint_url: c.s3.endpoint_url.clone(),
                    path_style: c.s3.path_style,
                    credentials_key: req
                        .credentials_key
                        .clone()
                        .or_else(|| c.s3.credentials_key.clone()),
                    ..S3Options::default()
                };
                match sc.prefix.clone().or_else(|| c.s3.prefix.clone()) {
                    Some(p) if !p.trim_matches('/').is_empty() => {
                        format!("s3://{bucket}/{}", p.trim_matches('/'))
                    }
                    _ => format!("s3://{bucket}"),
                }
            }
            "gdrive" => {
                if sc.bucket.is_some() || sc.prefix.is_some() || sc.region.is_some() {
                    return Err(Error::invalid(
                        "service_config: bucket, prefix and region are S3's, not Drive's",
                    ));
                }
                let parent = sc.parent_id.clone().or_else(|| c.gdrive.parent_id.clone()).ok_or_else(|| {
                    Error::invalid("gdrive needs a parent_id (service_config.parent_id or [cloud_sync.gdrive] parent_id)")
                })?;
                remote.gdrive = GdriveOptions {
                    manifest_parent_id: sc
                        .manifest_parent_id
                        .clone()
                        .or_else(|| c.gdrive.manifest_parent_id.clone()),
                    api_base: c.gdrive.api_base.clone(),
                    credentials_key: req
                        .credentials_key
                        .clone()
                        .or_else(|| c.gdrive.credentials_key.clone()),
                    ..GdriveOptions::default()
                };
                format!("gdrive://{parent}")
            }
            other => {
                return Err(Error::invalid(format!("unknown service {other:?} (s3 or gdrive)")));
            }
        };
        Ok((location, remote))
    }

    fn cloud_sync(&self, req: &CloudRequest, dry_run: bool) -> Result<CloudSyncResult> {
        self.config.features.require(&req.service, "cloud sync")?;
        let snapshot = self.cloud_snapshot(req.snapshot.as_deref())?;
        let (dest, remote) = self.cloud_target(req)?;
        let c = &self.config.cloud_sync;
        let paths = req.paths.clone().unwrap_or_else(|| c.include.clone());
        let (manifest, _) = self.cloud_summary_of(&snapshot, &paths)?;
        let commit = req.commit_manifest.unwrap_or(true);
        let opts = SyncOptions {
            name: snapshot.clone(),
            include: self.cloud_include(&paths)?,
            exclude: c.exclude.clone(),
            delete: true,
            dry_run,
            report_plan: true,
            commit_manifest: commit,
            remote,
            ..SyncOptions::default()
        };
        let root = self.cloud_root();
        let job = self.start_sync(&root.display().to_string(), &dest, opts, None)?;
        let report: SyncReport =
            job.wait(None).ok_or_else(|| Error::internal("job ended without a report"))?;
        if let Some(f) = &report.fatal {
            return Err(f.to_error());
        }
        let status = match report.status {
            Status::Completed if dry_run => "dry_run",
            Status::Completed => "completed",
            Status::Partial => "partial",
            Status::Cancelled => {
                return Err(Error::new(ErrorKind::Cancelled, "the cloud sync was cancelled"));
            }
            other => {
                return Err(Error::internal(format!(
                    "the cloud sync ended {other:?} without a cause"
                )));
            }
        };
        let plan = report.plan.clone().unwrap_or_else(|| Plan {
            schema_version: 1,
            compare: Default::default(),
            actions: Vec::new(),
            errors: Vec::new(),
            totals: Default::default(),
        });
        let (mut uploads, mut deletes, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
        for a in &plan.actions {
            let item = CloudAction { path: a.path.clone(), size: a.size, reason: reason(a.reason) };
            match a.op {
                Op::Copy | Op::Symlink => uploads.push(item),
                Op::Delete => deletes.push(item),
                Op::Keep | Op::Skip => skipped.push(item),
                Op::Mkdir | Op::SetMeta => {}
            }
        }
        let errors: Vec<CloudError> = report
            .errors
            .iter()
            .map(|e| CloudError {
                action: match serde_json::to_value(e.action)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                {
                    Some(a) if a == "copy" => "upload".into(),
                    Some(a) => a,
                    None => String::new(),
                },
                path: e.path.clone(),
                error: e.error.clone(),
                kind: e.kind,
            })
            .collect();
        let bytes = uploads.iter().map(|u| u.size).sum();
        Ok(CloudSyncResult {
            schema_version: 1,
            manifest,
            summary: CloudSummary {
                status: status.into(),
                service: req.service.clone(),
                snapshot,
                uploads,
                deletes,
                skipped,
                bytes,
                unchanged: plan.totals.identical,
            },
            remote_manifest: serde_json::json!({
                "location": report.destination,
                "files": plan.totals.dest_files,
            }),
            plan,
            errors,
            job_id: job.id().to_string(),
            manifest_committed: !dry_run && commit && status == "completed",
        })
    }

    /// The plan of mirroring the configured tree to a service, without writing anything (document 3's dry
    /// run): `feature_disabled` unless `[features]` turns the service on.
    pub fn cloud_dry_run(&self, req: &CloudRequest) -> Result<CloudSyncResult> {
        self.cloud_sync(req, true)
    }

    /// Mirrors the configured tree to a service (document 3's run): continues past a file that fails and ends
    /// `partial` with `errors`; the remote manifest is replaced only after a clean run (and `commit_manifest`).
    /// `feature_disabled` unless `[features]` turns the service on.
    pub fn cloud_run(&self, req: &CloudRequest) -> Result<CloudSyncResult> {
        self.cloud_sync(req, false)
    }
}
