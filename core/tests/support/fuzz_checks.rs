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
pub const TARGETS: [(&str, Check); 7] = [
    ("manifest", manifest),
    ("manifest_entries", manifest_entries),
    ("import", import),
    ("config", config),
    ("units", units),
    ("rclone", rclone),
    ("backup_archive", backup_archive),
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
    let report = serde_json::to_string(&p.report).expect("the report serialises");
    for s in &sections {
        for k in ["secret_access_key", "session_token", "service_account_credentials", "key_pem"] {
            if let Some(v) = s.values.get(k).filter(|v| v.len() >= 8) {
                assert!(!report.contains(v.as_str()), "the report holds {k} of [{}]", s.name);
            }
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
