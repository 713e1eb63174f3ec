//! `syncwright cloud manifest|dry-run|run`: document 3's cloud sync of the config's `[cloud_sync]` tree (core's
//! `cloud_*` calls; the feature flags of `[features]` apply).

use std::process::ExitCode;

use crate::profiles::Ctx;
use clap::{Args, Subcommand};
use syncwright::Error;
use syncwright::engine::cloud::{CloudRequest, CloudSyncResult, ServiceConfig};

#[derive(Subcommand)]
pub(crate) enum CloudCmd {
    /// The manifest of the configured tree, touching no remote.
    Manifest {
        /// The snapshot (default [cloud_sync] default_snapshot).
        #[arg(long)]
        snapshot: Option<String>,
        /// Take only these paths under the root (repeat or separate with commas).
        #[arg(long, value_delimiter = ',')]
        include: Vec<String>,
        /// Print the whole result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The plan of mirroring the tree to a service, writing nothing.
    DryRun(Request),
    /// Mirror the tree to a service (exit 3 when some files failed).
    Run {
        #[command(flatten)]
        request: Request,
        /// Leave the remote manifest as it was (to inspect the result first).
        #[arg(long)]
        no_commit_manifest: bool,
    },
}

/// What a dry run or run takes (endpoints only from the config).
#[derive(Args)]
pub(crate) struct Request {
    /// s3 or gdrive.
    #[arg(long)]
    service: String,
    /// The snapshot (default [cloud_sync] default_snapshot).
    #[arg(long)]
    snapshot: Option<String>,
    /// Paths under the root (repeat or separate with commas; default [cloud_sync] include).
    #[arg(long = "path", value_delimiter = ',')]
    paths: Vec<String>,
    /// The vault key of the credentials (default [cloud_sync.<service>] credentials_key).
    #[arg(long)]
    credentials_key: Option<String>,
    /// S3 bucket.
    #[arg(long)]
    bucket: Option<String>,
    /// S3 key prefix.
    #[arg(long)]
    prefix: Option<String>,
    /// S3 region.
    #[arg(long)]
    region: Option<String>,
    /// Drive folder of the files.
    #[arg(long)]
    parent_id: Option<String>,
    /// Drive folder of the manifests.
    #[arg(long)]
    manifest_parent_id: Option<String>,
    /// Print the whole result as JSON.
    #[arg(long)]
    json: bool,
}

impl Request {
    fn to_core(&self, commit_manifest: Option<bool>) -> CloudRequest {
        CloudRequest {
            service: self.service.clone(),
            snapshot: self.snapshot.clone(),
            paths: (!self.paths.is_empty()).then(|| self.paths.clone()),
            credentials_key: self.credentials_key.clone(),
            service_config: ServiceConfig {
                bucket: self.bucket.clone(),
                prefix: self.prefix.clone(),
                region: self.region.clone(),
                parent_id: self.parent_id.clone(),
                manifest_parent_id: self.manifest_parent_id.clone(),
            },
            commit_manifest,
        }
    }
}

fn print_result(r: &CloudSyncResult, json: bool) -> Result<ExitCode, Error> {
    if json {
        println!("{}", serde_json::to_string(r)?);
    } else {
        let s = &r.summary;
        println!(
            "{} {} snapshot {}: {} uploads ({} bytes), {} deletes, {} skipped, {} unchanged",
            s.status,
            s.service,
            s.snapshot,
            s.uploads.len(),
            s.bytes,
            s.deletes.len(),
            s.skipped.len(),
            s.unchanged
        );
        for e in &r.errors {
            println!("  failed {} {}: {}", e.action, e.path, e.error);
        }
    }
    Ok(if r.summary.status == "partial" { ExitCode::from(3) } else { ExitCode::SUCCESS })
}

/// Runs a cloud command.
pub(crate) fn run(cmd: CloudCmd, ctx: &Ctx) -> Result<ExitCode, Error> {
    let engine = ctx.engine_of_config()?;
    match cmd {
        CloudCmd::Manifest { snapshot, include, json } => {
            let include = (!include.is_empty()).then_some(include);
            let m = engine.cloud_manifest(snapshot.as_deref(), include.as_deref())?;
            if json {
                println!("{}", serde_json::to_string(&m)?);
            } else {
                println!(
                    "{} {}: {} entries, checksum {}",
                    m.manifest.name, m.manifest.root, m.manifest.entries, m.checksum
                );
                for e in &m.errors {
                    println!("  unreadable {}: {}", e.path, e.error);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CloudCmd::DryRun(req) => print_result(&engine.cloud_dry_run(&req.to_core(None))?, req.json),
        CloudCmd::Run { request, no_commit_manifest } => {
            let r = engine.cloud_run(&request.to_core(Some(!no_commit_manifest)))?;
            print_result(&r, request.json)
        }
    }
}
