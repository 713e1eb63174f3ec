//! Generation metadata and XMP sidecars (`syncwright::media`, `syncwright::comfy::graph`) on images saved by
//! Pillow and piexif in A1111's and ComfyUI's own layouts (`tests/data/media/gen_fixtures.py`), sidecars read
//! back with exiftool, and hostile files (truncated, huge lengths, a zTXt bomb, EXIF loops).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use syncwright::ErrorKind;
use syncwright::comfy::graph::{PromptGraph, Workflow};
use syncwright::media::xmp::{
    self, SidecarOutcome, XmpNaming, XmpOptions, write_sidecar, write_sidecar_for_image,
};
use syncwright::media::{
    self, GenerationMetadata, GenerationParams, Generator, ImageFormat, Lora, read_metadata,
    read_metadata_bytes,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/media").join(name)
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

fn text(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

fn json(name: &str) -> Value {
    serde_json::from_str(&text(name)).unwrap()
}

fn lora(name: &str, weight: Option<f64>, hash: Option<&str>) -> Lora {
    Lora { name: name.into(), weight, hash: hash.map(String::from) }
}

fn extra(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn read(name: &str) -> GenerationMetadata {
    let from_file = read_metadata(&data(name)).unwrap().expect("metadata");
    let from_bytes = read_metadata_bytes(&bytes(name)).unwrap().expect("metadata");
    assert_eq!(from_file, from_bytes, "{name}: the file and its bytes read differently");
    from_file
}

fn a1111_png_params() -> GenerationParams {
    GenerationParams {
        prompt: Some(
            "masterpiece, a \"red\" fox in snow,\n(detailed fur:1.2), <lora:fox_style_v2:0.8> <lora:snow-detail:1>"
                .into(),
        ),
        negative_prompt: Some("lowres, bad anatomy\nwatermark".into()),
        steps: Some(28),
        sampler: Some("DPM++ 2M".into()),
        scheduler: Some("Karras".into()),
        cfg_scale: Some(6.5),
        seed: Some(3141592653),
        width: Some(512),
        height: Some(768),
        model: Some("v1-5-pruned-emaonly".into()),
        model_hash: Some("6ce0161689".into()),
        loras: vec![
            lora("fox_style_v2", Some(0.8), Some("1a2b3c4d5e6f")),
            lora("snow-detail", Some(1.0), Some("0f9e8d7c6b5a")),
        ],
        extra: extra(&[
            ("ADetailer prompt", "a \"smiling\" face, detailed"),
            ("Emphasis", "Original"),
            ("Version", "v1.10.1"),
        ]),
    }
}

fn a1111_jpeg_params() -> GenerationParams {
    GenerationParams {
        prompt: Some("café au lait, 狐 🦊 <lora:fox_style_v2:0.65>".into()),
        negative_prompt: None,
        steps: Some(20),
        sampler: Some("Euler a".into()),
        scheduler: Some("Automatic".into()),
        cfg_scale: Some(7.0),
        seed: Some(42),
        width: Some(832),
        height: Some(1216),
        model: Some("sd_xl_base_1.0".into()),
        model_hash: Some("31e35c80fc".into()),
        loras: vec![lora("fox_style_v2", Some(0.65), Some("1a2b3c4d5e6f"))],
        extra: extra(&[("Version", "f2.0.1v1.10.1-previous-313-g8a042934")]),
    }
}

fn comfyui_params() -> GenerationParams {
    GenerationParams {
        prompt: Some("beautiful scenery, café terrace, \"golden\" hour".into()),
        negative_prompt: Some("text, watermark".into()),
        steps: Some(20),
        sampler: Some("euler_ancestral".into()),
        scheduler: Some("karras".into()),
        cfg_scale: Some(8.0),
        seed: Some(156680208700286),
        width: Some(512),
        height: Some(768),
        model: Some("v1-5-pruned-emaonly.safetensors".into()),
        model_hash: None,
        loras: vec![
            lora("styles/fox_style_v2.safetensors", Some(0.8), None),
            lora("snow-detail.safetensors", Some(1.0), None),
        ],
        extra: extra(&[("denoise", "1")]),
    }
}

#[test]
fn an_a1111_png_gives_every_field() {
    let m = read("a1111.png");
    assert_eq!(m.schema_version, 1);
    assert_eq!((m.generator, m.format), (Generator::A1111, ImageFormat::Png));
    assert_eq!(m.parameters.as_deref(), Some(text("a1111-parameters.txt").as_str()));
    assert_eq!(m.params, a1111_png_params());
    assert_eq!((&m.comfy_prompt, &m.comfy_workflow), (&None, &None));
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn an_a1111_jpeg_and_webp_give_the_unicode_user_comment() {
    for (name, format) in [("a1111.jpg", ImageFormat::Jpeg), ("a1111.webp", ImageFormat::Webp)] {
        let m = read(name);
        assert_eq!((m.generator, m.format), (Generator::A1111, format), "{name}");
        assert_eq!(
            m.parameters.as_deref(),
            Some(text("a1111-jpeg-parameters.txt").as_str()),
            "{name}"
        );
        assert_eq!(m.params, a1111_jpeg_params(), "{name}");
        assert!(m.warnings.is_empty(), "{name}: {:?}", m.warnings);
    }
}

#[test]
fn comfyui_pngs_and_webp_follow_the_graph() {
    for (name, format) in [
        ("comfyui.png", ImageFormat::Png),
        ("comfyui-compressed.png", ImageFormat::Png),
        ("comfyui.webp", ImageFormat::Webp),
    ] {
        let m = read(name);
        assert_eq!((m.generator, m.format), (Generator::ComfyUI, format), "{name}");
        assert_eq!(m.parameters, None, "{name}");
        assert_eq!(m.comfy_prompt.as_ref(), Some(&json("comfyui-prompt.json")), "{name}");
        assert_eq!(m.comfy_workflow.as_ref(), Some(&json("comfyui-workflow.json")), "{name}");
        assert_eq!(m.params, comfyui_params(), "{name}");
        assert!(m.warnings.is_empty(), "{name}: {:?}", m.warnings);
    }
}

#[test]
fn the_workflow_alone_gives_the_same_fields() {
    let wf = Workflow::parse(&json("comfyui-workflow.json")).unwrap();
    assert_eq!(wf.node_count(), 9);
    assert_eq!(wf.generation(), comfyui_params());
    let g = PromptGraph::parse(&json("comfyui-prompt.json")).unwrap();
    assert_eq!(g.main_sampler(), Some("3"));
    assert_eq!(g.generation(), comfyui_params());
}

#[test]
fn images_without_metadata_and_other_files_give_none() {
    assert_eq!(read_metadata(&data("none.png")).unwrap(), None);
    assert_eq!(read_metadata(&data("gen_fixtures.py")).unwrap(), None);
    assert_eq!(read_metadata_bytes(b"").unwrap(), None);
    assert_eq!(read_metadata_bytes(b"GIF89a").unwrap(), None);
    let e = read_metadata(&data("missing.png")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(read_metadata(&data("")).unwrap_err().kind(), ErrorKind::InvalidInput);
}

/// The chunks of a PNG (type, data), without the signature.
fn png_chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = png[at + 4..at + 8].try_into().unwrap();
        out.push((kind, png[at + 8..at + 8 + len].to_vec()));
        at += 12 + len;
    }
    out
}

fn chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut h = crc32fast::Hasher::new();
    h.update(kind);
    h.update(body);
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out.extend_from_slice(&h.finalize().to_be_bytes());
    out
}

fn png_of(chunks: &[([u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (k, b) in chunks {
        out.extend(chunk(k, b));
    }
    out
}

#[test]
fn text_chunks_after_the_image_data_are_read() {
    let mut chunks = png_chunks(&bytes("a1111.png"));
    let text_at = chunks.iter().position(|(k, _)| k == b"tEXt").unwrap();
    let text = chunks.remove(text_at);
    let end = chunks.len() - 1;
    assert_eq!(&chunks[end].0, b"IEND");
    chunks.insert(end, text);
    let idat = chunks.iter().position(|(k, _)| k == b"IDAT").unwrap();
    assert!(idat < end, "the text chunk now follows the image data");
    let m = read_metadata_bytes(&png_of(&chunks)).unwrap().unwrap();
    assert_eq!(m.params, a1111_png_params());
}

#[test]
fn metadata_serialises_flat_with_its_schema_version() {
    let m = read("a1111.jpg");
    let v = serde_json::to_value(&m).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "schema_version",
        "generator",
        "format",
        "parameters",
        "prompt",
        "negative_prompt",
        "steps",
        "sampler",
        "scheduler",
        "cfg_scale",
        "seed",
        "width",
        "height",
        "model",
        "model_hash",
        "loras",
        "extra",
        "comfy_prompt",
        "comfy_workflow",
    ];
    let mut keys = keys;
    keys.sort();
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(v["generator"], "a1111");
    assert_eq!(v["format"], "jpeg");
    assert_eq!(v["negative_prompt"], Value::Null);
    assert_eq!(
        v["loras"],
        serde_json::json!([{"name": "fox_style_v2", "weight": 0.65, "hash": "1a2b3c4d5e6f"}])
    );
    let back: GenerationMetadata = serde_json::from_value(v).unwrap();
    assert_eq!(back, m);
    let c = serde_json::to_value(read("comfyui.webp")).unwrap();
    assert_eq!((c["generator"].as_str(), c["format"].as_str()), (Some("comfyui"), Some("webp")));
}

#[test]
fn info_reads_every_path_and_never_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("a.png");
    std::fs::copy(data("a1111.png"), &png).unwrap();
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "not an image").unwrap();
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &bytes("a1111.png")[..40]).unwrap();
    let missing = dir.path().join("missing.webp");
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let fifo = dir.path().join("pipe.png");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let paths =
        [png.clone(), txt.clone(), missing.clone(), folder.clone(), cut.clone(), fifo.clone()];
    let infos = quick("info", || media::info(&paths));
    assert_eq!(infos.len(), 6);
    let f = &infos[5];
    assert_eq!((f.format, &f.metadata, &f.error, f.size), (None, &None, &None, None));
    assert_eq!(read_metadata(&fifo).unwrap(), None);
    let i = &infos[0];
    assert_eq!((i.path.as_str(), i.format), (png.to_str().unwrap(), Some(ImageFormat::Png)));
    assert_eq!(i.size, Some(std::fs::metadata(&png).unwrap().len()));
    assert_eq!(i.metadata.as_ref().unwrap().params, a1111_png_params());
    assert_eq!(i.error, None);
    let t = &infos[1];
    assert_eq!((t.format, &t.metadata, &t.error, t.size), (None, &None, &None, Some(12)));
    let m = &infos[2];
    assert_eq!(
        (m.format, m.size, m.error.as_ref().unwrap().kind),
        (None, None, ErrorKind::NotFound)
    );
    assert_eq!(infos[3].error.as_ref().unwrap().kind, ErrorKind::InvalidInput);
    let c = &infos[4];
    assert_eq!(
        (c.format, c.error.as_ref().unwrap().kind),
        (Some(ImageFormat::Png), ErrorKind::Corrupt)
    );
    assert!(c.error.as_ref().unwrap().message.contains("cut.png"), "{:?}", c.error);
    let v = serde_json::to_value(&infos).unwrap();
    assert_eq!(v[1]["metadata"], Value::Null);
    assert_eq!(v[1]["error"], Value::Null);
    assert_eq!(v[1]["format"], Value::Null);
    assert_eq!(v[2]["error"]["kind"], "not_found");
    assert_eq!(v[0]["schema_version"], 1);
}

// ---------------------------------------------------------------------------------------------------------
// XMP sidecars, read back with exiftool.

/// What exiftool reads from an XMP file: its XMP tags by `group:name` (`-G1`), values as text (lists as
/// lists).
fn exiftool(path: &Path) -> BTreeMap<String, Value> {
    let out = Command::new("exiftool")
        .args(["-j", "-G1", "-XMP:all"])
        .arg(path)
        .output()
        .expect("exiftool (Debian: libimage-exiftool-perl) must be installed for these tests");
    assert!(out.status.success(), "exiftool: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let obj = v[0].as_object().unwrap().clone();
    obj.into_iter().filter(|(k, _)| k != "SourceFile").collect()
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What exiftool must show for `meta`.
fn expected_tags(meta: &GenerationMetadata) -> BTreeMap<String, Value> {
    let p = &meta.params;
    let mut want = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            want.insert(format!("XMP-sw:{k}"), Value::String(v));
        }
    };
    put("Generator", Some(meta.generator.as_str().into()));
    put("Prompt", p.prompt.clone());
    put("NegativePrompt", p.negative_prompt.clone());
    put("Steps", p.steps.map(|n| n.to_string()));
    put("Sampler", p.sampler.clone());
    put("Scheduler", p.scheduler.clone());
    put("CFGScale", p.cfg_scale.map(|n| n.to_string()));
    put("Seed", p.seed.map(|n| n.to_string()));
    put("Width", p.width.map(|n| n.to_string()));
    put("Height", p.height.map(|n| n.to_string()));
    put("Model", p.model.clone());
    put("ModelHash", p.model_hash.clone());
    let list = |items: Vec<String>| match items.len() {
        1 => Value::String(items[0].clone()),
        _ => Value::Array(items.into_iter().map(Value::String).collect()),
    };
    let loras: Vec<String> = p
        .loras
        .iter()
        .map(|l| match l.weight {
            Some(w) => format!("{}:{w}", l.name),
            None => l.name.clone(),
        })
        .collect();
    if !loras.is_empty() {
        want.insert("XMP-sw:Loras".into(), list(loras));
    }
    let hashes: Vec<String> =
        p.loras.iter().filter_map(|l| l.hash.as_ref().map(|h| format!("{}:{h}", l.name))).collect();
    if !hashes.is_empty() {
        want.insert("XMP-sw:LoraHashes".into(), list(hashes));
    }
    let extra: Vec<String> = p.extra.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    if !extra.is_empty() {
        want.insert("XMP-sw:Extra".into(), list(extra));
    }
    let description = meta.parameters.clone().unwrap_or_else(|| media::a1111::format(p));
    want.insert("XMP-dc:Description".into(), Value::String(description));
    want
}

/// exiftool's tags with every scalar as text.
fn textual(tags: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    tags.into_iter()
        .filter(|(k, _)| k != "XMP-x:XMPToolkit")
        .map(|(k, v)| {
            let v = match v {
                Value::Array(a) => {
                    Value::Array(a.iter().map(|x| Value::String(as_text(x))).collect())
                }
                other => Value::String(as_text(&other)),
            };
            (k, v)
        })
        .collect()
}

#[test]
fn sidecars_of_every_fixture_read_back_in_exiftool() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "a1111.png",
        "a1111.jpg",
        "a1111.webp",
        "comfyui.png",
        "comfyui-compressed.png",
        "comfyui.webp",
    ] {
        let image = dir.path().join(name);
        std::fs::copy(data(name), &image).unwrap();
        let r = write_sidecar_for_image(&image, &XmpOptions::default()).unwrap();
        assert_eq!(r.outcome, SidecarOutcome::Written, "{name}");
        assert_eq!(r.path, dir.path().join(format!("{name}.xmp")));
        let meta = read_metadata(&image).unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&r.path).unwrap(), xmp::render(&meta));
        let tags = exiftool(&r.path);
        assert_eq!(
            tags.get("XMP-x:XMPToolkit").map(as_text),
            Some(format!("syncwright {}", syncwright::version()))
        );
        assert_eq!(textual(tags), expected_tags(&meta), "{name}");
    }
    // A ComfyUI sidecar's description is the A1111 layout of its fields.
    let tags = exiftool(&dir.path().join("comfyui.png.xmp"));
    assert_eq!(
        as_text(&tags["XMP-dc:Description"]),
        "beautiful scenery, café terrace, \"golden\" hour\nNegative prompt: text, watermark\n\
         Steps: 20, Sampler: euler_ancestral, Schedule type: karras, CFG scale: 8, Seed: 156680208700286, \
         Size: 512x768, Model: v1-5-pruned-emaonly.safetensors, denoise: 1"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "temporaries left: {names:?}");
}

fn meta_with(params: GenerationParams, parameters: Option<&str>) -> GenerationMetadata {
    GenerationMetadata {
        schema_version: media::SCHEMA_VERSION,
        generator: Generator::A1111,
        format: ImageFormat::Png,
        parameters: parameters.map(String::from),
        params,
        comfy_prompt: None,
        comfy_workflow: None,
        warnings: Vec::new(),
    }
}

#[test]
fn markup_and_forbidden_characters_are_escaped_or_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("x.png");
    let prompt =
        "a <b>tag</b> & \"quotes\" 'single' \u{1}ctl\u{7} \u{FFFE}\u{FFFF}end\ttab\nline ]]> &amp;";
    let params = GenerationParams {
        prompt: Some(prompt.into()),
        negative_prompt: Some("<lora:x:1> & </rdf:li>".into()),
        sampler: Some("a\u{0}b".into()),
        loras: vec![lora("<&>", Some(0.5), Some("\"h\""))],
        extra: extra(&[("k<", "v&\u{1b}")]),
        ..GenerationParams::default()
    };
    let meta = meta_with(params, Some("raw <parameters> & \u{2}text"));
    let r = write_sidecar(&image, &meta, &XmpOptions::default()).unwrap();
    assert_eq!(r.outcome, SidecarOutcome::Written);
    let body = std::fs::read_to_string(&r.path).unwrap();
    assert!(!body.contains('\u{1}') && !body.contains('\u{FFFE}') && !body.contains('\u{0}'));
    let tags = textual(exiftool(&r.path));
    let s = |k: &str| tags.get(k).cloned().unwrap_or(Value::Null);
    assert_eq!(
        s("XMP-sw:Prompt"),
        "a <b>tag</b> & \"quotes\" 'single' ctl end\ttab\nline ]]> &amp;"
    );
    assert_eq!(s("XMP-sw:NegativePrompt"), "<lora:x:1> & </rdf:li>");
    assert_eq!(s("XMP-sw:Sampler"), "ab");
    assert_eq!(s("XMP-sw:Loras"), "<&>:0.5");
    assert_eq!(s("XMP-sw:LoraHashes"), "<&>:\"h\"");
    assert_eq!(s("XMP-sw:Extra"), "k<: v&");
    assert_eq!(s("XMP-dc:Description"), "raw <parameters> & text");
}

#[test]
fn carriage_returns_survive() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("cr.png");
    let params = GenerationParams {
        prompt: Some("one\r\ntwo\rthree".into()),
        ..GenerationParams::default()
    };
    let r = write_sidecar(&image, &meta_with(params, None), &XmpOptions::default()).unwrap();
    let tags = textual(exiftool(&r.path));
    assert_eq!(tags["XMP-sw:Prompt"], "one\r\ntwo\rthree");
}

#[test]
fn an_existing_sidecar_is_kept_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("a.png");
    std::fs::copy(data("a1111.png"), &image).unwrap();
    let side = dir.path().join("a.png.xmp");
    std::fs::write(&side, "mine").unwrap();
    let keep = XmpOptions::default();
    let r = write_sidecar_for_image(&image, &keep).unwrap();
    assert_eq!((r.outcome, r.path.as_path()), (SidecarOutcome::Kept, side.as_path()));
    assert_eq!(std::fs::read_to_string(&side).unwrap(), "mine");
    let meta = read_metadata(&image).unwrap().unwrap();
    assert_eq!(write_sidecar(&image, &meta, &keep).unwrap().outcome, SidecarOutcome::Kept);
    assert_eq!(std::fs::read_to_string(&side).unwrap(), "mine");
    let over = XmpOptions { overwrite: true, ..XmpOptions::default() };
    assert_eq!(write_sidecar_for_image(&image, &over).unwrap().outcome, SidecarOutcome::Written);
    assert_eq!(std::fs::read_to_string(&side).unwrap(), xmp::render(&meta));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn adobe_naming_replaces_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("shot.webp");
    std::fs::copy(data("comfyui.webp"), &image).unwrap();
    let opts = XmpOptions { naming: XmpNaming::Adobe, overwrite: false };
    let r = write_sidecar_for_image(&image, &opts).unwrap();
    assert_eq!((r.outcome, r.path.clone()), (SidecarOutcome::Written, dir.path().join("shot.xmp")));
    assert_eq!(textual(exiftool(&r.path))["XMP-sw:Generator"], "comfyui");
    assert_eq!(xmp::sidecar_name("out/2025/shot.webp", XmpNaming::Adobe), "out/2025/shot.xmp");
    assert_eq!(
        xmp::sidecar_name("out/2025/shot.webp", XmpNaming::Darktable),
        "out/2025/shot.webp.xmp"
    );
    let opts_json = serde_json::to_value(opts).unwrap();
    assert_eq!(opts_json, serde_json::json!({"naming": "adobe", "overwrite": false}));
    let r_json = serde_json::to_value(&r).unwrap();
    assert_eq!(r_json["outcome"], "written");
}

#[test]
fn images_without_metadata_get_no_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("plain.png");
    std::fs::copy(data("none.png"), &image).unwrap();
    let r = write_sidecar_for_image(&image, &XmpOptions::default()).unwrap();
    assert_eq!(r.outcome, SidecarOutcome::NoMetadata);
    assert!(!r.path.exists());
    assert_eq!(serde_json::to_value(r.outcome).unwrap(), "no_metadata");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let e = write_sidecar_for_image(&dir.path().join("gone.png"), &XmpOptions::default());
    assert_eq!(e.unwrap_err().kind(), ErrorKind::NotFound);
}

// ---------------------------------------------------------------------------------------------------------
// Hostile files.

/// Runs `f` and fails when it takes longer than a few seconds.
fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    assert!(start.elapsed() < Duration::from_secs(20), "{what} took {:?}", start.elapsed());
    out
}

#[test]
fn truncated_files_fail_as_corrupt_or_keep_what_came_first() {
    for name in [
        "a1111.png",
        "a1111.jpg",
        "a1111.webp",
        "comfyui.png",
        "comfyui-compressed.png",
        "comfyui.webp",
        "none.png",
    ] {
        let full = bytes(name);
        let whole = read_metadata_bytes(&full).unwrap().unwrap_or_else(|| read("a1111.png"));
        for k in 0..16 {
            let cut = &full[..full.len() * k / 16];
            match quick(name, || read_metadata_bytes(cut)) {
                // The metadata came before the cut (a JPEG is not read past its first scan, so a cut there
                // goes unnoticed).
                Ok(Some(m)) => assert_eq!(m.params, whole.params, "{name} cut at {k}/16"),
                Ok(None) => assert!(cut.len() < 12, "{name} cut at {k}/16 read as no image"),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Corrupt, "{name} at {k}/16: {}", e.message())
                }
            }
        }
    }
    // ComfyUI writes its text before the image data: a partial download still has it.
    let full = bytes("comfyui.png");
    let idat = full.windows(4).position(|w| w == b"IDAT").unwrap();
    let m = read_metadata_bytes(&full[..idat + 10]).unwrap().unwrap();
    assert_eq!(m.params, comfyui_params());
    assert_eq!(m.warnings.len(), 1);
    assert!(m.warnings[0].contains("truncated"), "{:?}", m.warnings);
}

fn ihdr() -> ([u8; 4], Vec<u8>) {
    (*b"IHDR", vec![0, 0, 0, 8, 0, 0, 0, 8, 8, 2, 0, 0, 0])
}

#[test]
fn a_huge_chunk_length_is_corrupt_without_allocating() {
    let mut png = png_of(&[ihdr()]);
    png.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    png.extend_from_slice(b"tEXtparameters\0Steps: 1");
    let e = quick("huge length", || read_metadata_bytes(&png)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.message().contains("4294967280"), "{}", e.message());
    // Within PNG's limit but over ours, after metadata already read: a warning.
    let mut png =
        png_of(&[ihdr(), (*b"tEXt", b"parameters\0a fox\nSteps: 1, Seed: 2, Size: 3x4".to_vec())]);
    png.extend_from_slice(&0x7FFF_FFF0u32.to_be_bytes());
    png.extend_from_slice(b"zTXtworkflow\0\0");
    let m = quick("big text", || read_metadata_bytes(&png)).unwrap().unwrap();
    assert_eq!(m.params.prompt.as_deref(), Some("a fox"));
    assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
    assert!(m.warnings[0].contains("more than the 33554432 read"), "{:?}", m.warnings);
    // A length past the end of a big image file.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.png");
    std::fs::write(&p, &png).unwrap();
    let m = read_metadata(&p).unwrap().unwrap();
    assert_eq!(m.warnings.len(), 2);
}

#[test]
fn a_ztxt_bomb_stops_at_the_cap() {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let filler = vec![b'{'; 1 << 20];
    for _ in 0..40 {
        z.write_all(&filler).unwrap();
    }
    let bomb = z.finish().unwrap();
    assert!(bomb.len() < 100_000, "{} bytes", bomb.len());
    let mut body = b"workflow\0\0".to_vec();
    body.extend_from_slice(&bomb);
    let idat = (*b"IDAT", vec![0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    let png = png_of(&[ihdr(), (*b"zTXt", body.clone()), idat.clone(), (*b"IEND", vec![])]);
    let e = quick("zTXt bomb", || read_metadata_bytes(&png)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.message().contains("inflates to more than 33554432 bytes"), "{}", e.message());
    // The same in an iTXt, beside a good parameters chunk: that one is read, the bomb is a warning.
    let mut itxt = b"prompt\0\x01\x00\0\0".to_vec();
    itxt.extend_from_slice(&bomb);
    let png = png_of(&[
        ihdr(),
        (*b"iTXt", itxt),
        (*b"tEXt", b"parameters\0p\nSteps: 1, Seed: 2, Size: 3x4".to_vec()),
        idat,
        (*b"IEND", vec![]),
    ]);
    let m = quick("iTXt bomb", || read_metadata_bytes(&png)).unwrap().unwrap();
    assert_eq!((m.generator, m.params.steps), (Generator::A1111, Some(1)));
    assert_eq!(m.warnings.len(), 1);
    assert!(m.warnings[0].contains("\"prompt\" inflates to more than"), "{:?}", m.warnings);
}

#[test]
fn a_damaged_text_chunk_fails_its_crc() {
    let mut png = bytes("a1111.png");
    let at = png.windows(10).position(|w| w == b"parameters").unwrap();
    png[at + 20] ^= 0x20;
    let e = read_metadata_bytes(&png).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.message().contains("fails its CRC"), "{}", e.message());
}

fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9]);
    out
}

fn webp_with_exif(tiff: &[u8]) -> Vec<u8> {
    let mut chunks = b"VP8L".to_vec();
    chunks.extend_from_slice(&5u32.to_le_bytes());
    chunks.extend_from_slice(&[0x2f, 0, 0, 0, 0, 0]);
    chunks.extend_from_slice(b"EXIF");
    chunks.extend_from_slice(&(tiff.len() as u32).to_le_bytes());
    chunks.extend_from_slice(tiff);
    if tiff.len() % 2 == 1 {
        chunks.push(0);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((chunks.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend(chunks);
    out
}

/// A little-endian TIFF with IFD0 at 8 holding `entries` (tag, type, count, value) and `tail` after it.
fn tiff(entries: &[(u16, u16, u32, u32)], next: u32, tail: &[u8]) -> Vec<u8> {
    let mut out = b"II*\0\x08\0\0\0".to_vec();
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&next.to_le_bytes());
    out.extend_from_slice(tail);
    out
}

#[test]
fn exif_loops_and_bad_offsets_end_quickly() {
    let loop_to_itself = tiff(&[(0x8769, 4, 1, 8), (0x9286, 7, 0xFFFF_FFFF, 0x10)], 8, b"");
    let huge_count = {
        let mut t = tiff(&[], 0, b"");
        t[8] = 0xFF;
        t[9] = 0xFF;
        t
    };
    let outside = tiff(&[(0x0110, 2, 100, 0xFFFF_FF00), (0x8769, 4, 1, 0x7FFF_FFFF)], 0, b"");
    for (what, t) in [("loop", &loop_to_itself), ("count", &huge_count), ("outside", &outside)] {
        let text = quick(what, || media::exif::parse(t)).unwrap();
        assert_eq!((text.user_comment.as_ref(), text.ifd0_text.len()), (None, 0), "{what}");
        assert!(!text.warnings.is_empty(), "{what}");
        for image in [jpeg_with_exif(t), webp_with_exif(t)] {
            let e = quick(what, || read_metadata_bytes(&image)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{what}: {}", e.message());
        }
    }
    assert!(
        media::exif::parse(&loop_to_itself).unwrap().warnings.iter().any(|w| w.contains("loop"))
    );
    // A UserComment in a good Exif IFD, in a big-endian TIFF, with a Model tag ComfyUI-style.
    let mut t = b"MM\0*\0\0\0\x08\0\x02".to_vec();
    let model = b"Prompt:{\"1\": {\"class_type\": \"KSampler\", \"inputs\": {\"steps\": 3}}}\0";
    let exif_ifd = 8 + 2 + 24 + 4;
    let model_at = exif_ifd + 2 + 12 + 4;
    let comment_at = model_at + model.len();
    t.extend_from_slice(&[0x01, 0x10, 0, 2]);
    t.extend_from_slice(&(model.len() as u32).to_be_bytes());
    t.extend_from_slice(&(model_at as u32).to_be_bytes());
    t.extend_from_slice(&[0x87, 0x69, 0, 4, 0, 0, 0, 1]);
    t.extend_from_slice(&(exif_ifd as u32).to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0x92, 0x86, 0, 7]);
    let comment: Vec<u8> = b"UNICODE\0"
        .iter()
        .copied()
        .chain("x\nSteps: 9, Seed: 1, Size: 2x3".encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    t.extend_from_slice(&(comment.len() as u32).to_be_bytes());
    t.extend_from_slice(&(comment_at as u32).to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(t.len(), model_at);
    t.extend_from_slice(model);
    t.extend_from_slice(&comment);
    let m = read_metadata_bytes(&jpeg_with_exif(&t)).unwrap().unwrap();
    assert_eq!(m.generator, Generator::ComfyUI);
    assert_eq!(m.parameters.as_deref(), Some("x\nSteps: 9, Seed: 1, Size: 2x3"));
    assert_eq!(
        (m.params.steps, m.params.seed, m.params.prompt.as_deref()),
        (Some(9), Some(1), Some("x"))
    );
    assert_eq!(m.comfy_prompt.as_ref().unwrap()["1"]["inputs"]["steps"], 3);
    let w = read_metadata_bytes(&webp_with_exif(&t)).unwrap().unwrap();
    assert_eq!((w.format, w.params), (ImageFormat::Webp, m.params));
}

#[test]
fn hostile_jpeg_and_webp_structures_are_corrupt() {
    let cases: [(&str, Vec<u8>); 5] = [
        ("short segment", vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01]),
        ("no marker", vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, 0x00, 0x00]),
        ("segment past the end", vec![0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, b'E']),
        ("riff too small", b"RIFF\x02\0\0\0WEBP".to_vec()),
        ("chunk past riff", b"RIFF\x10\0\0\0WEBPEXIF\xF0\xFF\xFF\xFF".to_vec()),
    ];
    for (what, data) in cases {
        let e = quick(what, || read_metadata_bytes(&data)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{what}: {}", e.message());
    }
    // A camera's comment is not a prompt; an unparsable ComfyUI graph is a warning.
    let plain = tiff(&[(0x010F, 2, 4, u32::from_le_bytes(*b"Cano"))], 0, b"");
    assert_eq!(read_metadata_bytes(&jpeg_with_exif(&plain)).unwrap(), None);
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x0B];
    jpeg.extend_from_slice(b"a holiday");
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    assert_eq!(read_metadata_bytes(&jpeg).unwrap(), None);
    let broken = tiff(&[(0x0110, 2, 12, 26)], 0, b"prompt:{oops\0");
    let m = read_metadata_bytes(&jpeg_with_exif(&broken)).unwrap().unwrap();
    assert_eq!((m.generator, m.comfy_prompt.as_ref()), (Generator::ComfyUI, None));
    assert_eq!(m.warnings.len(), 1);
    assert!(m.warnings[0].starts_with("the ComfyUI prompt is not valid JSON"), "{:?}", m.warnings);
}

#[test]
fn python_json_with_nan_is_read() {
    let mut png = png_chunks(&bytes("none.png"));
    let end = png.len() - 1;
    png.insert(
        end,
        (*b"tEXt", br#"prompt{"1": {"class_type": "KSampler", "inputs": {"cfg": NaN, "steps": 4, "text": "NaN"}}}"#.to_vec()),
    );
    // "prompt" then NUL: put the NUL in.
    assert_eq!(&png[end].0, b"tEXt");
    png[end].1.insert(6, 0);
    let m = read_metadata_bytes(&png_of(&png)).unwrap().unwrap();
    assert_eq!(m.params.steps, Some(4));
    assert_eq!(m.params.cfg_scale, None);
    assert_eq!(m.comfy_prompt.unwrap()["1"]["inputs"]["text"], "NaN");
}
