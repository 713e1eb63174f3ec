//! What each fuzz target does with one input, shared by the targets in `fuzz/fuzz_targets/` and by
//! `tests/fuzz_replay.rs`, which replays the committed corpora and crash inputs in plain `cargo test`.
//!
//! Every check feeds the input to the parsers, panics when an invariant breaks (a parser panicking is the first
//! one), and returns a one-line summary of the outcome (`ok` or the error kind of each call) that the replay
//! compares with what `fuzz/crashes/expected.txt` says for a crash input.
#![allow(dead_code)]

use syncwright::ErrorKind;
use syncwright::config::{
    Config, DurationSpec, MAX_DURATION, RateSpec, parse_duration, parse_rate,
};
use syncwright::manifest::import::{import_any, import_cloud_sync, import_media_sync};
use syncwright::manifest::{
    Entry, Manifest, stream_entries, stream_entries_with, validate_entry_path,
};

/// A check: runs one input, panics on a broken invariant, returns the summary of the outcome.
pub type Check = fn(&[u8]) -> String;

/// The fuzz targets, by the name of their folder under `fuzz/corpus/` and `fuzz/crashes/`.
pub const TARGETS: [(&str, Check); 10] = [
    ("manifest", manifest),
    ("manifest_entries", manifest_entries),
    ("import", import),
    ("config", config),
    ("units", units),
    ("rclone", rclone),
    ("backup_archive", backup_archive),
    ("png_metadata", png_metadata),
    ("exif", exif),
    ("a1111", a1111),
];

fn outcome<T>(r: &Result<T, syncwright::Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.kind().as_str(),
    }
}

#[track_caller]
fn expect_kind<T>(r: &Result<T, syncwright::Error>, want: ErrorKind, what: &str) {
    if let Err(e) = r {
        assert_eq!(e.kind(), want, "{what}: {}", e.message());
    }
}

/// The manifest readers on `data`: `Manifest::from_slice`, `read_from`, `stream_entries` with and without hashes.
/// Every failure is `corrupt`; readers that accept agree on the entries; an accepted manifest round-trips through
/// its canonical form, and holds no path the entry checks refuse.
pub fn manifest(data: &[u8]) -> String {
    let full = Manifest::from_slice(data);
    let read = Manifest::read_from(data);
    let mut streamed: Vec<Entry> = Vec::new();
    let stream = stream_entries(data, |e| {
        streamed.push(e);
        Ok(())
    });
    let mut light: Vec<Entry> = Vec::new();
    let stream_light = stream_entries_with(data, false, |e| {
        light.push(e);
        Ok(())
    });
    expect_kind(&full, ErrorKind::Corrupt, "from_slice");
    expect_kind(&read, ErrorKind::Corrupt, "read_from");
    expect_kind(&stream, ErrorKind::Corrupt, "stream_entries");
    expect_kind(&stream_light, ErrorKind::Corrupt, "stream_entries_with(false)");
    match (&full, &read) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "from_slice and read_from disagree"),
        (a, b) => assert_eq!(outcome(a), outcome(b), "from_slice and read_from disagree"),
    }
    if let Ok(m) = &full {
        for e in &m.entries {
            validate_entry_path(&e.path).expect("the reader let a bad path through");
        }
        let text = m.to_json().expect("an accepted manifest serialises");
        let back = Manifest::from_json(&text)
            .expect("the canonical form of an accepted manifest reads back");
        assert_eq!(&back, m, "the canonical form changed the manifest");
        let mut again = Vec::new();
        let head = stream_entries(text.as_bytes(), |e| {
            again.push(e);
            Ok(())
        })
        .expect("the canonical form streams");
        assert_eq!(again, m.entries, "streaming the canonical form gave other entries");
        assert_eq!((head.name.as_str(), head.root.as_str()), (m.name.as_str(), m.root.as_str()));
        if let Ok(h) = &stream {
            assert_eq!(streamed, m.entries, "stream_entries and from_slice read other entries");
            assert_eq!(h.created_at, m.created_at);
        }
    }
    if let (Ok(_), Ok(_)) = (&stream, &stream_light) {
        assert_eq!(light.len(), streamed.len());
        for (a, b) in light.iter().zip(&streamed) {
            assert!(a.same_version(b) && a.path == b.path && a.mode == b.mode, "{a:?} / {b:?}");
        }
    }
    format!(
        "from_slice={} read_from={} stream={} stream_light={}",
        outcome(&full),
        outcome(&read),
        outcome(&stream),
        outcome(&stream_light)
    )
}

/// `data` as entry lines (one per line) inside a well-formed document with the right count and checksum, so
/// that the fuzzer gets past the checksum to the checks of the entries themselves; then [`manifest`].
pub fn manifest_entries(data: &[u8]) -> String {
    manifest(&document_of_lines(data))
}

/// The canonical streaming layout around the lines of `data` (empty lines and lines starting with `]` left out).
pub fn document_of_lines(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let lines: Vec<&[u8]> =
        data.split(|b| *b == b'\n').filter(|l| !l.is_empty() && l[0] != b']').collect();
    let mut h = sha2::Sha256::new();
    let mut out = br#"{"schema_version":1,"name":"fuzz","root":"/r","created_at":"2026-01-01T00:00:00.000000000Z","entries":["#.to_vec();
    for (i, l) in lines.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        out.extend_from_slice(l);
        h.update(l);
        h.update(b"\n");
    }
    if !lines.is_empty() {
        out.push(b'\n');
    }
    out.extend_from_slice(
        format!(
            "],\"entry_count\":{},\"checksum\":\"{}\"}}\n",
            lines.len(),
            hex::encode(h.finalize())
        )
        .as_bytes(),
    );
    out
}

/// The legacy imports on `data` (as text): `import_any` without and with a root, and each format's importer.
/// Every failure is `invalid_input`; an imported manifest is one the manifest reader accepts as it is.
pub fn import(data: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(data) else { return "not utf-8".into() };
    let results = [
        import_any(text, None, "fuzz"),
        import_any(text, Some("/m"), "fuzz"),
        import_media_sync(text, Some("/"), "fuzz"),
        import_cloud_sync(text),
    ];
    for (i, r) in results.iter().enumerate() {
        expect_kind(r, ErrorKind::InvalidInput, &format!("import #{i}"));
        if let Ok(m) = r {
            let doc = m.to_json().expect("an imported manifest serialises");
            let back = Manifest::from_json(&doc).unwrap_or_else(|e| {
                panic!("import #{i} made a manifest the reader refuses: {}", e.message())
            });
            assert_eq!(&back, m, "import #{i}: the canonical form changed the manifest");
        }
    }
    results.iter().map(outcome).collect::<Vec<_>>().join(" ")
}

/// `Config::from_toml` on `data` (as text). A failure is `invalid_input`; an accepted config gives every profile
/// its options, and what it parsed can be used without a panic: retry delays, breakers, timeouts, intervals.
pub fn config(data: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(data) else { return "not utf-8".into() };
    let c = Config::from_toml(text);
    expect_kind(&c, ErrorKind::InvalidInput, "from_toml");
    let Ok(c) = c else { return outcome(&c).into() };
    if let Some(r) = &c.settings.log_max_size {
        assert!(r.get().expect("a checked log_max_size") >= 1);
    }
    // Every breaker config it accepted (the defaults, each target's) can run a breaker without a panic.
    let b = &c.settings.breaker;
    let mut rng = fastrand::Rng::with_seed(1);
    for (target, cfg) in
        std::iter::once(("", &b.defaults)).chain(b.targets.iter().map(|(k, c)| (k.as_str(), c)))
    {
        if !target.is_empty() {
            assert_eq!(
                b.config_for(target),
                *cfg,
                "a target's own override applies to it: {target}"
            );
        }
        let br = syncwright::recovery::CircuitBreaker::new(target, *cfg, None);
        for i in 0..cfg.failure_threshold.clamp(1, 8) {
            br.record(i % 3 == 2);
        }
        let _ = br.admit();
        let _ = br.check();
        let _ = br.status();
    }
    for (name, p) in &c.profiles {
        if p.command.is_none() {
            let o = p.sync_options(name).expect("a checked profile has options");
            o.validate().expect("a checked profile's options are valid");
            assert!(o.min_age_secs <= MAX_DURATION.as_secs_f64());
            for (_, policy) in o.retry.table() {
                for n in [1, 2, 3, 7, 64, u32::MAX] {
                    let _ = policy.delay(n, &mut rng);
                }
            }
        }
        for d in [&p.timeout, &p.interval].into_iter().flatten() {
            let d = d.get().expect("a checked duration");
            assert!(d <= MAX_DURATION);
            assert!(std::time::Instant::now().checked_add(d.mul_f64(1.1)).is_some());
        }
    }
    "ok".into()
}

/// The unit parsers on `data`: `parse_duration`, `parse_rate` and their spec forms on the text, and the first 8
/// bytes as seconds (`DurationSpec::Seconds`) and bytes per second (`RateSpec::Bytes`). A failure is
/// `invalid_input`; a duration is at most `MAX_DURATION`, a rate at least 1.
pub fn units(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let d = parse_duration(&text);
    expect_kind(&d, ErrorKind::InvalidInput, "parse_duration");
    if let Ok(d) = d {
        assert!(d <= MAX_DURATION, "{text:?} gave {d:?}");
    }
    assert_eq!(DurationSpec::Text(text.to_string()).get(), d);
    let r = parse_rate(&text);
    expect_kind(&r, ErrorKind::InvalidInput, "parse_rate");
    if let Ok(r) = r {
        assert!(r >= 1);
    }
    assert_eq!(RateSpec::Text(text.to_string()).get(), r);
    let mut out = format!("duration={} rate={}", outcome(&d), outcome(&r));
    if let Some(b) = data.get(..8) {
        let b: [u8; 8] = b.try_into().expect("8 bytes");
        let secs = DurationSpec::Seconds(f64::from_le_bytes(b)).get();
        expect_kind(&secs, ErrorKind::InvalidInput, "DurationSpec::Seconds");
        assert!(secs.as_ref().map_or(true, |d| *d <= MAX_DURATION));
        let bytes = RateSpec::Bytes(u64::from_le_bytes(b)).get();
        expect_kind(&bytes, ErrorKind::InvalidInput, "RateSpec::Bytes");
        out.push_str(&format!(" seconds={} bytes={}", outcome(&secs), outcome(&bytes)));
    }
    out
}

/// The rclone.conf reader and the import plan on `data` (as text): a failure is `invalid_input` and never quotes
/// the input past the line number; every planned entry has a vault key of the prefix, a string or object value,
/// and the report carries none of the values of the sections (a secret).
pub fn rclone(data: &[u8]) -> String {
    use syncwright::vault::rclone::{parse, plan};
    let text = String::from_utf8_lossy(data);
    let sections = parse(&text);
    expect_kind(&sections, ErrorKind::InvalidInput, "rclone::parse");
    let Ok(sections) = sections else { return outcome(&sections).to_string() };
    let dir = std::env::temp_dir().join("syncwright-fuzz-rclone-none");
    let p = plan(&sections, &dir, "rclone", "fuzz.conf");
    for (key, value) in &p.entries {
        assert!(key.starts_with("rclone."), "{key}");
        assert!(value.is_object(), "{key}");
    }
    assert_eq!(p.entries.len(), p.report.imported.len());
    assert_eq!(p.report.imported.len() + p.report.not_imported.len(), sections.len());
    // What the report copies from the input: sections, services, keys and the stubs (reasons and notes are the
    // importer's own words).
    let report = serde_json::to_string(&(
        p.report
            .imported
            .iter()
            .map(|i| (&i.section, &i.service, &i.key, &i.profile, &i.profile_toml))
            .collect::<Vec<_>>(),
        p.report.not_imported.iter().map(|s| (&s.section, &s.service)).collect::<Vec<_>>(),
    ))
    .expect("the report serialises");
    const SECRET_KEYS: [&str; 4] =
        ["secret_access_key", "session_token", "service_account_credentials", "key_pem"];
    for s in &sections {
        for k in SECRET_KEYS {
            let Some(v) = s.values.get(k).filter(|v| v.len() >= 8) else { continue };
            // The report may echo what is not secret (a section's name, endpoint, host...): a secret that the
            // input also wrote there is not a leak.
            let echoed = sections.iter().any(|o| {
                o.name.contains(v.as_str())
                    || o.values.iter().any(|(ok, ov)| {
                        !SECRET_KEYS.contains(&ok.as_str()) && ov.contains(v.as_str())
                    })
            });
            assert!(echoed || !report.contains(v.as_str()), "the report holds {k} of [{}]", s.name);
        }
    }
    format!("ok imported={} skipped={}", p.report.imported.len(), p.report.not_imported.len())
}

/// The backup archive reader on `data` as a zip file: `verify` and `restore` never panic, fail only with
/// `corrupt` (or `invalid_input`), agree on whether the archive is acceptable as a whole, and a restore writes
/// nothing outside its target folder.
pub fn backup_archive(data: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("20250101T000000Z.zip");
    std::fs::write(&archive, data).expect("write the archive");
    let target = dir.path().join("target");
    let v = syncwright::backup::verify(&archive);
    if let Err(e) = &v {
        assert!(
            matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::InvalidInput),
            "verify: {:?} {}",
            e.kind(),
            e.message()
        );
    }
    let r = syncwright::backup::restore(&archive, &target, false, &|| false);
    if let Err(e) = &r {
        assert!(
            matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::InvalidInput),
            "restore: {:?} {}",
            e.kind(),
            e.message()
        );
    }
    if v.is_err() {
        assert!(r.is_err(), "restore took an archive verify refused");
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.retain(|n| n != "target");
    assert_eq!(names, ["20250101T000000Z.zip"], "a restore wrote outside its target");
    match (&v, &r) {
        (Ok(v), Ok(r)) => format!("ok verified={} status={:?}", v.ok, r.status),
        _ => format!("verify={} restore={}", outcome(&v), outcome(&r)),
    }
}

/// An XMP packet as `media::xmp::render` makes it: no character XML forbids, every `&` an entity, markup
/// balanced (text holds no raw `<` or `>`).
fn check_xmp(x: &str) {
    assert!(x.starts_with("<?xpacket begin=") && x.ends_with("<?xpacket end=\"w\"?>\n"));
    for c in x.chars() {
        let ok = matches!(c, '\t' | '\n') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}');
        assert!(ok, "the XMP holds U+{:04X}", c as u32);
    }
    for (i, _) in x.match_indices('&') {
        let rest = &x[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#xD;"]
                .iter()
                .any(|e| rest.starts_with(e)),
            "a bare & in the XMP"
        );
    }
    assert_eq!(x.matches('<').count(), x.matches('>').count(), "unbalanced markup in the XMP");
}

/// The invariants of metadata that was read: it serialises, its numbers are finite, its LoRAs are named, its
/// XMP is well-formed.
fn check_metadata(m: &syncwright::media::GenerationMetadata) {
    let json = serde_json::to_value(m).expect("metadata serialises");
    assert_eq!(json["schema_version"], 1);
    assert!(m.params.cfg_scale.is_none_or(f64::is_finite));
    for l in &m.params.loras {
        assert!(!l.name.is_empty(), "a LoRA without a name");
        assert!(l.weight.is_none_or(f64::is_finite));
    }
    check_xmp(&syncwright::media::xmp::render(m));
}

fn media_outcome(r: &syncwright::Result<Option<syncwright::media::GenerationMetadata>>) -> String {
    match r {
        Ok(Some(m)) => format!("{}({})", m.generator.as_str(), m.warnings.len()),
        Ok(None) => "none".into(),
        Err(e) => e.kind().as_str().into(),
    }
}

/// Reads `data` as an image: only `corrupt` failures, and metadata that passes [`check_metadata`].
fn read_image(data: &[u8], what: &str) -> String {
    let r = syncwright::media::read_metadata_bytes(data);
    expect_kind(&r, ErrorKind::Corrupt, what);
    if let Ok(Some(m)) = &r {
        check_metadata(m);
    }
    media_outcome(&r)
}

/// The CRC-32 of PNG (bitwise; the fuzz crate has no crc32 crate).
fn png_crc(parts: &[&[u8]]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for p in parts {
        for &b in *p {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
            }
        }
    }
    !c
}

/// `data` with the CRC of every whole PNG chunk recomputed, so that the fuzzer's changes reach the chunk
/// parsers (the CRC check would refuse nearly all of them).
fn with_png_crcs(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut at = 8usize;
    while at + 12 <= out.len() && out.starts_with(b"\x89PNG\r\n\x1a\n") {
        let len = u32::from_be_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]]) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|e| e + 4 <= out.len()) else { break };
        let crc = png_crc(&[&out[at + 4..end]]);
        out[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
    out
}

/// The image metadata reader on `data` as it is and with its PNG chunk CRCs repaired: never a panic, only
/// `corrupt` failures, and readable metadata (JSON, finite numbers, named LoRAs, a well-formed XMP).
pub fn png_metadata(data: &[u8]) -> String {
    let plain = read_image(data, "read_metadata_bytes");
    let fixed = read_image(&with_png_crcs(data), "read_metadata_bytes (CRCs repaired)");
    format!("as_is={plain} crc_fixed={fixed}")
}

/// `data` as an EXIF block: `media::exif::parse` (fails only `corrupt`), and the same block in a JPEG APP1
/// segment and in a WebP EXIF chunk through the image reader.
pub fn exif(data: &[u8]) -> String {
    let parsed = syncwright::media::exif::parse(data);
    expect_kind(&parsed, ErrorKind::Corrupt, "exif::parse");
    let mut out = format!("parse={}", outcome(&parsed));
    if data.len() <= 65_000 {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
        jpeg.extend_from_slice(&((data.len() + 8) as u16).to_be_bytes());
        jpeg.extend_from_slice(b"Exif\0\0");
        jpeg.extend_from_slice(data);
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9]);
        out.push_str(&format!(" jpeg={}", read_image(&jpeg, "jpeg")));
    }
    let mut chunks = b"EXIF".to_vec();
    chunks.extend_from_slice(&(data.len() as u32).to_le_bytes());
    chunks.extend_from_slice(data);
    if data.len() % 2 == 1 {
        chunks.push(0);
    }
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&((chunks.len() + 4) as u32).to_le_bytes());
    webp.extend_from_slice(b"WEBP");
    webp.extend(chunks);
    out.push_str(&format!(" webp={}", read_image(&webp, "webp")));
    out
}

/// The A1111 parser on `data` (as text, lossily): its fields, the text `format` lays out from them and that
/// text parsed again, and the XMP of the result; never a panic, finite numbers, named LoRAs, well-formed XMP.
pub fn a1111(data: &[u8]) -> String {
    use syncwright::media::{GenerationMetadata, Generator, ImageFormat, SCHEMA_VERSION, a1111};
    let text = String::from_utf8_lossy(data);
    let p = a1111::parse(&text);
    for (k, _) in &p.settings {
        assert!(!k.is_empty(), "a setting without a name");
    }
    let g = p.generation();
    let again = a1111::format(&g);
    let g2 = a1111::parse(&again).generation();
    for params in [&g, &g2] {
        let m = GenerationMetadata {
            schema_version: SCHEMA_VERSION,
            generator: Generator::A1111,
            format: ImageFormat::Png,
            parameters: Some(text.to_string()),
            params: params.clone(),
            comfy_prompt: None,
            comfy_workflow: None,
            warnings: Vec::new(),
        };
        check_metadata(&m);
    }
    format!("ok settings={} loras={}", p.settings.len(), g.loras.len())
}
