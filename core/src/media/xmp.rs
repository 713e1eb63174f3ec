//! XMP sidecars of generated images: `<image name>.<ext>.xmp` as darktable and digiKam name them
//! ([`XmpNaming::Darktable`], the default) or `<image name>.xmp` ([`XmpNaming::Adobe`]).
//!
//! The packet is a standard `x:xmpmeta` / `rdf:RDF` / `rdf:Description` in an `xpacket` wrapper holding:
//! - `dc:description` (an `rdf:Alt`, `x-default`): the A1111 parameters text as the image holds it, or for a
//!   ComfyUI image the same layout made from the parsed fields ([`super::a1111::format`]);
//! - in [`NAMESPACE`] (prefix `sw`): `Generator` (`a1111` / `comfyui`), `Prompt`, `NegativePrompt`, `Steps`,
//!   `Sampler`, `Scheduler`, `CFGScale`, `Seed`, `Width`, `Height`, `Model`, `ModelHash`, `Loras` (an `rdf:Bag`
//!   of `name:weight`, or `name` when the weight is unknown), `LoraHashes` (an `rdf:Bag` of `name:hash`) and
//!   `Extra` (an `rdf:Bag` of `key: value`, the other settings); a field that is not known is left out.
//!
//! Text is escaped (`&<>"'`, and CR as `&#xD;` so that it survives parsing); characters XML 1.0 cannot hold
//! (control characters other than tab, LF and CR, U+FFFE, U+FFFF) are dropped.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::GenerationMetadata;
use crate::durable::rename_noreplace;
use crate::error::{Error, Result};

/// The namespace of syncwright's generation fields (prefix `sw`).
pub const NAMESPACE: &str = "urn:syncwright:generation:1";

/// How a sidecar is named after its image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum XmpNaming {
    /// `<image name>.<ext>.xmp` (darktable, digiKam).
    #[default]
    Darktable,
    /// `<image name>.xmp`, the extension replaced (Adobe Lightroom, Bridge).
    Adobe,
}

/// How a sidecar is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct XmpOptions {
    /// How it is named.
    pub naming: XmpNaming,
    /// Whether an existing sidecar is replaced (by default it is kept).
    pub overwrite: bool,
}

/// What writing a sidecar did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SidecarOutcome {
    /// The sidecar was written.
    Written,
    /// A sidecar was there and was kept (no `overwrite`).
    Kept,
    /// The image has no generation metadata: nothing was written.
    NoMetadata,
}

/// A sidecar and what was done to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidecarReport {
    /// The sidecar's path (written, kept, or where it would go).
    pub path: PathBuf,
    /// What was done.
    pub outcome: SidecarOutcome,
}

/// The sidecar's name for an image's relative path (`/`-separated): `a/b.png` gives `a/b.png.xmp`
/// (darktable) or `a/b.xmp` (Adobe; a name without an extension gets `.xmp` added).
pub fn sidecar_name(image_rel_path: &str, naming: XmpNaming) -> String {
    match naming {
        XmpNaming::Darktable => format!("{image_rel_path}.xmp"),
        XmpNaming::Adobe => {
            let file_start = image_rel_path.rfind('/').map_or(0, |i| i + 1);
            let file = &image_rel_path[file_start..];
            match file.rfind('.').filter(|i| *i > 0) {
                Some(dot) => format!("{}.xmp", &image_rel_path[..file_start + dot]),
                None => format!("{image_rel_path}.xmp"),
            }
        }
    }
}

/// The sidecar path of an image file. `invalid_input` when the image has no file name that is UTF-8, or
/// when the sidecar would be the image itself (an Adobe-named `.xmp` image).
pub fn sidecar_path(image: &Path, naming: XmpNaming) -> Result<PathBuf> {
    let name = image
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::invalid(format!("{} has no file name in UTF-8", image.display())))?;
    let side = sidecar_name(name, naming);
    if side == name {
        return Err(Error::invalid(format!(
            "{}: the sidecar would be the file itself",
            image.display()
        )));
    }
    Ok(image.with_file_name(side))
}

/// `s` as XML text: `&<>"'` escaped, CR as a character reference, characters XML forbids dropped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn simple(out: &mut String, name: &str, value: Option<String>) {
    if let Some(v) = value {
        out.push_str(&format!("   <sw:{name}>{}</sw:{name}>\n", escape(&v)));
    }
}

fn bag(out: &mut String, name: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("   <sw:{name}>\n    <rdf:Bag>\n"));
    for i in items {
        out.push_str(&format!("     <rdf:li>{}</rdf:li>\n", escape(i)));
    }
    out.push_str(&format!("    </rdf:Bag>\n   </sw:{name}>\n"));
}

/// The XMP packet of `meta` (see the module's documentation for its fields).
pub fn render(meta: &GenerationMetadata) -> String {
    let p = &meta.params;
    let description = match &meta.parameters {
        Some(t) => Some(t.clone()),
        None if !p.is_empty() => Some(super::a1111::format(p)),
        None => None,
    };
    let mut x = String::new();
    x.push_str("<?xpacket begin=\"\u{FEFF}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n");
    x.push_str(&format!(
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"syncwright {}\">\n",
        crate::version()
    ));
    x.push_str(" <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n");
    x.push_str("  <rdf:Description rdf:about=\"\"\n");
    x.push_str("    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n");
    x.push_str(&format!("    xmlns:sw=\"{NAMESPACE}\">\n"));
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        x.push_str("   <dc:description>\n    <rdf:Alt>\n");
        x.push_str(&format!("     <rdf:li xml:lang=\"x-default\">{}</rdf:li>\n", escape(&d)));
        x.push_str("    </rdf:Alt>\n   </dc:description>\n");
    }
    simple(&mut x, "Generator", Some(meta.generator.as_str().to_string()));
    simple(&mut x, "Prompt", p.prompt.clone());
    simple(&mut x, "NegativePrompt", p.negative_prompt.clone());
    simple(&mut x, "Steps", p.steps.map(|n| n.to_string()));
    simple(&mut x, "Sampler", p.sampler.clone());
    simple(&mut x, "Scheduler", p.scheduler.clone());
    simple(&mut x, "CFGScale", p.cfg_scale.map(|f| f.to_string()));
    simple(&mut x, "Seed", p.seed.map(|n| n.to_string()));
    simple(&mut x, "Width", p.width.map(|n| n.to_string()));
    simple(&mut x, "Height", p.height.map(|n| n.to_string()));
    simple(&mut x, "Model", p.model.clone());
    simple(&mut x, "ModelHash", p.model_hash.clone());
    let loras: Vec<String> = p
        .loras
        .iter()
        .map(|l| match l.weight {
            Some(w) => format!("{}:{w}", l.name),
            None => l.name.clone(),
        })
        .collect();
    bag(&mut x, "Loras", &loras);
    let hashes: Vec<String> =
        p.loras.iter().filter_map(|l| l.hash.as_ref().map(|h| format!("{}:{h}", l.name))).collect();
    bag(&mut x, "LoraHashes", &hashes);
    let extra: Vec<String> = p.extra.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    bag(&mut x, "Extra", &extra);
    x.push_str("  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>\n");
    x
}

/// Writes the sidecar of the image at `image` from `meta`: a temporary beside it, flushed, then renamed into
/// place. An existing sidecar is kept (`kept`) unless `opts.overwrite`; a sidecar that appears while this
/// writes is kept too.
pub fn write_sidecar(
    image: &Path,
    meta: &GenerationMetadata,
    opts: &XmpOptions,
) -> Result<SidecarReport> {
    let path = sidecar_path(image, opts.naming)?;
    let kept = SidecarReport { path: path.clone(), outcome: SidecarOutcome::Kept };
    if !opts.overwrite && std::fs::symlink_metadata(&path).is_ok() {
        return Ok(kept);
    }
    let shown = path.display().to_string();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("sidecar.xmp");
    let tmp = dir.join(format!(".{file}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let body = render(meta);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
        drop(f);
        if opts.overwrite { std::fs::rename(&tmp, &path) } else { rename_noreplace(&tmp, &path) }
    })();
    match written {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(SidecarReport { path, outcome: SidecarOutcome::Written })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(kept)
            } else {
                Err(Error::io(&e, "cannot write the sidecar", &shown))
            }
        }
    }
}

/// Reads the metadata of the image at `image` and writes its sidecar ([`write_sidecar`]); an image without
/// metadata is `no_metadata`, not an error, and gets no sidecar.
pub fn write_sidecar_for_image(image: &Path, opts: &XmpOptions) -> Result<SidecarReport> {
    let path = sidecar_path(image, opts.naming)?;
    if !opts.overwrite && std::fs::symlink_metadata(&path).is_ok() {
        return Ok(SidecarReport { path, outcome: SidecarOutcome::Kept });
    }
    match super::read_metadata(image)? {
        Some(meta) => write_sidecar(image, &meta, opts),
        None => Ok(SidecarReport { path, outcome: SidecarOutcome::NoMetadata }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention() {
        assert_eq!(sidecar_name("a/b.png", XmpNaming::Darktable), "a/b.png.xmp");
        assert_eq!(sidecar_name("a/b.png", XmpNaming::Adobe), "a/b.xmp");
        assert_eq!(sidecar_name("a.b/c", XmpNaming::Adobe), "a.b/c.xmp");
        assert_eq!(sidecar_name("x.tar.webp", XmpNaming::Adobe), "x.tar.xmp");
        assert_eq!(sidecar_name(".hidden", XmpNaming::Adobe), ".hidden.xmp");
        assert!(sidecar_path(Path::new("/t/a.xmp"), XmpNaming::Adobe).is_err());
        assert_eq!(
            sidecar_path(Path::new("/t/a.png"), XmpNaming::Adobe).unwrap(),
            Path::new("/t/a.xmp")
        );
    }

    #[test]
    fn escaping_drops_what_xml_cannot_hold() {
        assert_eq!(
            escape("a<b>&\"c'\u{1}\u{7}\t\r\n\u{FFFE}\u{FFFF}\u{FFFD}é"),
            "a&lt;b&gt;&amp;&quot;c&apos;\t&#xD;\n\u{FFFD}é"
        );
    }
}
