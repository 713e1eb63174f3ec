//! `syncwright media info FILE...`: the generation metadata of images (core's `media_info`), as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::profiles::Ctx;
use clap::Subcommand;
use syncwright::Error;

#[derive(Subcommand)]
pub(crate) enum MediaCmd {
    /// Print each file's format, size and generation metadata (A1111 parameters, ComfyUI prompt and workflow,
    /// parsed fields) as a JSON array; exit 1 when a file could not be read (it carries its error).
    Info {
        /// The images.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Indent the JSON.
        #[arg(long)]
        pretty: bool,
    },
}

/// Runs a media command.
pub(crate) fn run(cmd: MediaCmd, ctx: &Ctx) -> Result<ExitCode, Error> {
    let engine = ctx.engine_any()?;
    match cmd {
        MediaCmd::Info { files, pretty } => {
            let infos = engine.media_info(&files)?;
            let text = if pretty {
                serde_json::to_string_pretty(&infos)?
            } else {
                serde_json::to_string(&infos)?
            };
            println!("{text}");
            let failed = infos.iter().any(|i| i.error.is_some());
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
    }
}
