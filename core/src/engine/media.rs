//! Generation metadata as a call of the engine (see [`crate::media`]): what `syncwright media info FILE...` and
//! the bindings print for images, read without decoding pixels.

use std::path::PathBuf;

use super::EngineCore;
use crate::error::{Error, Result};
use crate::media::{self, MediaInfo};

/// The most paths one `media_info` call takes.
const MAX_MEDIA_PATHS: usize = 100_000;

impl EngineCore {
    /// The format, size and generation metadata (A1111 parameters, ComfyUI prompt and workflow, parsed fields) of
    /// each path, in order. A file that is not an image has no metadata and no error; one that cannot be read
    /// carries its error and the others are still read. `invalid_input` for no paths or more than 100,000.
    pub fn media_info(&self, paths: &[PathBuf]) -> Result<Vec<MediaInfo>> {
        if paths.is_empty() {
            return Err(Error::invalid("media_info: give at least one path"));
        }
        if paths.len() > MAX_MEDIA_PATHS {
            return Err(Error::invalid(format!(
                "media_info: at most {MAX_MEDIA_PATHS} paths a call ({} given)",
                paths.len()
            )));
        }
        Ok(media::info(paths))
    }
}
