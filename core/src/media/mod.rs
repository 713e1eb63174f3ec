//! Generation metadata of AI images, read from the file's headers without decoding a pixel, and XMP sidecars
//! made from it.
//!
//! What is read:
//! - **PNG** text chunks (`tEXt`, `zTXt`, `iTXt`, before or after the image data, which is skipped with seeks):
//!   `parameters` (A1111 / Forge), `prompt` and `workflow` (ComfyUI's `SaveImage`).
//! - **JPEG** EXIF (the first `Exif` APP1 segment) and, failing that, a `COM` segment; reading stops at the
//!   first scan (SOS).
//! - **WebP** EXIF (the `EXIF` chunk, with or without an `Exif\0\0` prefix).
//! - In EXIF: the `UserComment` as A1111 writes it (an 8-byte `UNICODE\0` or `ASCII\0\0\0` prefix; UTF-16 in the
//!   TIFF byte order unless a BOM or the text itself says otherwise) and ComfyUI's `prompt:{json}` in Model
//!   (0x0110) and `workflow:{json}` in Make (0x010F) or the tags below it (any case of the prefix). A
//!   UserComment holding a JSON object with `prompt` / `workflow` keys is read as ComfyUI's too; any other
//!   UserComment counts only when it has an A1111 settings line (a camera's comment is not a prompt).
//!
//! The A1111 text is parsed by [`a1111`](crate::media::a1111), ComfyUI's graphs by [`crate::comfy::graph`].
//! When an image carries both (some ComfyUI savers add A1111 text), the text's fields come first and the graph
//! fills the rest.
//!
//! Limits: a text chunk or EXIF block read into memory is at most
//! [`MAX_TEXT_BYTES`](crate::media::MAX_TEXT_BYTES), an inflated one at most
//! [`MAX_INFLATED_BYTES`](crate::media::MAX_INFLATED_BYTES); larger ones are left out with a warning. Damage met
//! after some metadata was found is a warning in
//! [`GenerationMetadata::warnings`](crate::media::GenerationMetadata::warnings); damage before any is a
//! `corrupt` error.

pub mod a1111;
pub mod exif;
mod jpeg;
mod png;
mod source;
mod webp;
pub mod xmp;

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use source::Source;

/// The version of the JSON of [`GenerationMetadata`] and [`MediaInfo`].
pub const SCHEMA_VERSION: u32 = 1;
/// The largest text chunk or EXIF block read into memory (32 MiB).
pub const MAX_TEXT_BYTES: usize = 32 << 20;
/// The most a compressed text chunk may inflate to (32 MiB).
pub const MAX_INFLATED_BYTES: usize = 32 << 20;

/// The tool that made an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generator {
    /// AUTOMATIC1111's web UI, Forge and the tools that write its `parameters` text.
    A1111,
    /// ComfyUI (a `prompt` graph or a `workflow`).
    ComfyUI,
}

impl Generator {
    /// The name in JSON and XMP: `a1111`, `comfyui`.
    pub fn as_str(self) -> &'static str {
        match self {
            Generator::A1111 => "a1111",
            Generator::ComfyUI => "comfyui",
        }
    }
}

/// An image file format this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG (JFIF or EXIF).
    Jpeg,
    /// WebP (simple or extended, still or animated).
    Webp,
}

impl ImageFormat {
    /// The name in JSON: `png`, `jpeg`, `webp`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Webp => "webp",
        }
    }
}

/// The format of an image by its first bytes (12 are enough), or `None` for anything else.
pub fn sniff(head: &[u8]) -> Option<ImageFormat> {
    if head.starts_with(png::SIGNATURE) {
        Some(ImageFormat::Png)
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        Some(ImageFormat::Webp)
    } else {
        None
    }
}

/// A LoRA applied to a generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lora {
    /// Its name as the tool wrote it (A1111: the network's alias; ComfyUI: `lora_name`, with folder and
    /// extension).
    pub name: String,
    /// Its weight (A1111: the first multiplier of `<lora:name:weight>`, 1 when none is given; ComfyUI:
    /// `strength_model`); `None` when only a hash names it.
    pub weight: Option<f64>,
    /// Its short hash from A1111's `Lora hashes`, if given.
    pub hash: Option<String>,
}

/// The generation parameters of an image, as far as its metadata gives them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationParams {
    /// The positive prompt.
    pub prompt: Option<String>,
    /// The negative prompt.
    pub negative_prompt: Option<String>,
    /// Sampling steps.
    pub steps: Option<u32>,
    /// The sampler (A1111's `Sampler`, ComfyUI's `sampler_name`).
    pub sampler: Option<String>,
    /// The scheduler (A1111's `Schedule type`, ComfyUI's `scheduler`).
    pub scheduler: Option<String>,
    /// The CFG scale (finite).
    pub cfg_scale: Option<f64>,
    /// The seed.
    pub seed: Option<u64>,
    /// The width generated, in pixels.
    pub width: Option<u32>,
    /// The height generated, in pixels.
    pub height: Option<u32>,
    /// The checkpoint (A1111's `Model`, ComfyUI's `ckpt_name` or `unet_name`).
    pub model: Option<String>,
    /// The checkpoint's short hash (A1111's `Model hash`).
    pub model_hash: Option<String>,
    /// The LoRAs, in the order the prompt or the model chain applies them.
    pub loras: Vec<Lora>,
    /// Every other setting, by the tool's own name (A1111: `Version`, `Denoising strength`...; ComfyUI:
    /// `denoise`).
    pub extra: BTreeMap<String, String>,
}

impl GenerationParams {
    /// Fills what `self` lacks from `other`: empty fields, no LoRAs, extra keys it does not have.
    pub fn fill_from(&mut self, other: GenerationParams) {
        fn fill<T>(a: &mut Option<T>, b: Option<T>) {
            if a.is_none() {
                *a = b;
            }
        }
        fill(&mut self.prompt, other.prompt);
        fill(&mut self.negative_prompt, other.negative_prompt);
        fill(&mut self.steps, other.steps);
        fill(&mut self.sampler, other.sampler);
        fill(&mut self.scheduler, other.scheduler);
        fill(&mut self.cfg_scale, other.cfg_scale);
        fill(&mut self.seed, other.seed);
        fill(&mut self.width, other.width);
        fill(&mut self.height, other.height);
        fill(&mut self.model, other.model);
        fill(&mut self.model_hash, other.model_hash);
        if self.loras.is_empty() {
            self.loras = other.loras;
        }
        for (k, v) in other.extra {
            self.extra.entry(k).or_insert(v);
        }
    }

    /// Whether no field is known.
    pub fn is_empty(&self) -> bool {
        *self == GenerationParams::default()
    }
}

/// What an image's metadata says about its generation. Its JSON is flat: the fields of
/// [`GenerationParams`] sit beside `generator`, `format` and the raw texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationMetadata {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The tool that made the image: `comfyui` when a ComfyUI graph is present, else `a1111`.
    pub generator: Generator,
    /// The file format it was read from.
    pub format: ImageFormat,
    /// The raw A1111 `parameters` text, if any.
    pub parameters: Option<String>,
    /// The parsed fields.
    #[serde(flatten)]
    pub params: GenerationParams,
    /// ComfyUI's `prompt` (the API-format graph that ran), if any and valid JSON.
    pub comfy_prompt: Option<serde_json::Value>,
    /// ComfyUI's `workflow` (the UI-format graph), if any and valid JSON.
    pub comfy_workflow: Option<serde_json::Value>,
    /// What could not be read (a damaged chunk, a text over the limits, JSON that does not parse).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The texts found in a file, before parsing.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub parameters: Option<String>,
    pub comfy_prompt: Option<String>,
    pub comfy_workflow: Option<String>,
    /// Metadata that was there but could not be read.
    pub warnings: Vec<String>,
}

impl Found {
    fn is_empty(&self) -> bool {
        self.parameters.is_none() && self.comfy_prompt.is_none() && self.comfy_workflow.is_none()
    }

    /// Takes a ComfyUI `key:{json}` text (an EXIF tag of ComfyUI's WebP saver), if it is one.
    pub(crate) fn take_comfy_tagged(&mut self, text: &str) -> bool {
        let Some((key, rest)) = text.split_once(':') else { return false };
        let rest = rest.trim_start();
        if !rest.starts_with('{') {
            return false;
        }
        let slot = if key.trim().eq_ignore_ascii_case("prompt") {
            &mut self.comfy_prompt
        } else if key.trim().eq_ignore_ascii_case("workflow") {
            &mut self.comfy_workflow
        } else {
            return false;
        };
        if slot.is_none() {
            *slot = Some(rest.to_string());
        }
        true
    }

    /// Takes the text of an EXIF UserComment or a JPEG comment: ComfyUI JSON, A1111 text with a settings line,
    /// or nothing.
    pub(crate) fn take_comment(&mut self, text: &str) {
        let t = text.trim();
        if t.starts_with('{')
            && let Ok(serde_json::Value::Object(map)) = parse_json_lenient(t)
        {
            let as_text = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let mut any = false;
            if let Some(p) = map.get("prompt") {
                self.comfy_prompt.get_or_insert_with(|| as_text(p));
                any = true;
            }
            if let Some(w) = map.get("workflow") {
                self.comfy_workflow.get_or_insert_with(|| as_text(w));
                any = true;
            }
            if any {
                return;
            }
        }
        if self.parameters.is_none() && !t.is_empty() && a1111::parse(t).has_settings() {
            self.parameters = Some(text.to_string());
        }
    }
}

/// Parses JSON as Python's `json.dumps` writes it: bare `NaN`, `Infinity` and `-Infinity` become `null`.
pub(crate) fn parse_json_lenient(text: &str) -> std::result::Result<serde_json::Value, String> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) => {
            let fixed = python_json_to_json(text);
            serde_json::from_str(&fixed).map_err(|_| first.to_string())
        }
    }
}

fn python_json_to_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let mut replaced = false;
        for token in ["-Infinity", "Infinity", "NaN"] {
            if let Some(after) = rest.strip_prefix(token) {
                out.push_str("null");
                rest = after;
                replaced = true;
                break;
            }
        }
        if replaced {
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Turns the texts found into metadata (`None` when there are none).
fn build(format: ImageFormat, found: Found) -> Option<GenerationMetadata> {
    if found.is_empty() {
        return None;
    }
    let mut warnings = found.warnings;
    let mut json = |text: Option<String>, what: &str| {
        let text = text?;
        match parse_json_lenient(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                warnings.push(format!("the ComfyUI {what} is not valid JSON: {e}"));
                None
            }
        }
    };
    let had_comfy = found.comfy_prompt.is_some() || found.comfy_workflow.is_some();
    let comfy_prompt = json(found.comfy_prompt, "prompt");
    let comfy_workflow = json(found.comfy_workflow, "workflow");
    let mut params = match &found.parameters {
        Some(text) => a1111::parse(text).generation(),
        None => GenerationParams::default(),
    };
    if let Some(v) = &comfy_prompt {
        match crate::comfy::graph::PromptGraph::parse(v) {
            Ok(g) => params.fill_from(g.generation()),
            Err(e) => warnings.push(format!("the ComfyUI prompt: {}", e.message())),
        }
    }
    if let Some(v) = &comfy_workflow {
        match crate::comfy::graph::Workflow::parse(v) {
            Ok(w) => params.fill_from(w.generation()),
            Err(e) => warnings.push(format!("the ComfyUI workflow: {}", e.message())),
        }
    }
    Some(GenerationMetadata {
        schema_version: SCHEMA_VERSION,
        generator: if had_comfy { Generator::ComfyUI } else { Generator::A1111 },
        format,
        parameters: found.parameters,
        params,
        comfy_prompt,
        comfy_workflow,
        warnings,
    })
}

/// Reads the metadata of an image of `format` from `src`.
fn read_format<R: Read + Seek>(
    src: &mut Source<R>,
    format: ImageFormat,
) -> Result<Option<GenerationMetadata>> {
    let mut found = Found::default();
    let walked = match format {
        ImageFormat::Png => png::read(src, &mut found),
        ImageFormat::Jpeg => jpeg::read(src, &mut found),
        ImageFormat::Webp => webp::read(src, &mut found),
    };
    match walked {
        Ok(()) => {}
        // Damage after the metadata: keep what was read.
        Err(e) if e.kind() == ErrorKind::Corrupt && !found.is_empty() => {
            found.warnings.push(e.message().to_string())
        }
        Err(e) => return Err(e),
    }
    if found.is_empty()
        && let Some(w) = found.warnings.first()
    {
        return Err(src.corrupt(w));
    }
    Ok(build(format, found))
}

/// Sniffs and reads `r` (of `len` bytes, named `name` in errors): its format, and its metadata.
fn read_any<R: Read + Seek>(
    r: R,
    len: u64,
    name: &str,
) -> Result<(Option<ImageFormat>, Option<GenerationMetadata>)> {
    let mut src = Source::new(r, len, name);
    let head = src.peek_head()?;
    let Some(format) = sniff(&head) else { return Ok((None, None)) };
    Ok((Some(format), read_format(&mut src, format)?))
}

/// The generation metadata of the image at `path`: `None` for an image without any, or a file that is not a
/// PNG, JPEG or WebP. Reads only headers and metadata chunks. `corrupt` for a damaged image, io kinds when
/// the file cannot be read.
pub fn read_metadata(path: &Path) -> Result<Option<GenerationMetadata>> {
    Ok(read_path(path)?.1)
}

fn read_path(path: &Path) -> Result<(Option<ImageFormat>, Option<GenerationMetadata>)> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(&e, "cannot read", &shown))?;
    if meta.is_dir() {
        return Err(Error::invalid(format!("{shown} is a folder, not an image")).with_path(&shown));
    }
    if !meta.is_file() {
        // A device, a FIFO or a socket: no image, and opening a FIFO would wait for a writer.
        return Ok((None, None));
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(&e, "cannot open", &shown))?;
    let len = f.metadata().map_err(|e| Error::io(&e, "cannot read", &shown))?.len();
    read_any(f, len, &shown).map_err(|e| e.with_path(&shown))
}

/// [`read_metadata`] on an image in memory.
pub fn read_metadata_bytes(data: &[u8]) -> Result<Option<GenerationMetadata>> {
    Ok(read_any(std::io::Cursor::new(data), data.len() as u64, "the image")?.1)
}

/// An error as [`MediaInfo`] carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaError {
    /// Its kind.
    pub kind: ErrorKind,
    /// Its message.
    pub message: String,
}

impl From<&Error> for MediaError {
    fn from(e: &Error) -> MediaError {
        MediaError { kind: e.kind(), message: e.message().to_string() }
    }
}

/// What `syncwright media info FILE...` prints for one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The path as given.
    pub path: String,
    /// Its image format, `None` when it is not a PNG, JPEG or WebP.
    pub format: Option<ImageFormat>,
    /// Its size in bytes, when it could be read.
    pub size: Option<u64>,
    /// Its generation metadata, if any.
    pub metadata: Option<GenerationMetadata>,
    /// Why it could not be read, if it could not.
    pub error: Option<MediaError>,
}

/// The [`MediaInfo`] of each path, in order. A file that is not an image (or not a regular file: a device, a
/// FIFO) has no metadata and no error; one that cannot be read carries its error, and the others are read all
/// the same.
pub fn info(paths: &[PathBuf]) -> Vec<MediaInfo> {
    paths.iter().map(|p| info_of(p)).collect()
}

fn info_of(path: &Path) -> MediaInfo {
    let shown = path.display().to_string();
    let mut out = MediaInfo {
        schema_version: SCHEMA_VERSION,
        path: shown.clone(),
        format: None,
        size: None,
        metadata: None,
        error: None,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            out.error = Some(MediaError {
                kind: ErrorKind::InvalidInput,
                message: format!("{shown} is a folder, not an image"),
            });
            return out;
        }
        Ok(m) if !m.is_file() => return out,
        Ok(m) => out.size = Some(m.len()),
        Err(e) => {
            out.error = Some((&Error::io(&e, "cannot read", &shown)).into());
            return out;
        }
    }
    let opened = std::fs::File::open(path).map_err(|e| Error::io(&e, "cannot open", &shown));
    let read = opened.and_then(|f| {
        let len = f.metadata().map(|m| m.len()).unwrap_or(out.size.unwrap_or(0));
        let mut src = Source::new(f, len, &shown);
        let head = src.peek_head()?;
        let format = sniff(&head);
        out.format = format;
        match format {
            Some(f) => read_format(&mut src, f),
            None => Ok(None),
        }
    });
    match read {
        Ok(m) => out.metadata = m,
        Err(e) => out.error = Some((&e).into()),
    }
    out
}
