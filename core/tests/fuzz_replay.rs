//! Replays what the fuzz targets found (`fuzz/`, run by `bash fuzz/run.sh`, never built in CI) through the same
//! checks the targets run: every corpus input must pass them, and every crash input must now give the outcome
//! `fuzz/crashes/expected.txt` records for it (the typed error, or `ok`).

#[path = "support/fuzz_checks.rs"]
mod fuzz_checks;

use fuzz_checks::{Check, TARGETS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir` (none when it does not exist), sorted.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Runs `check` on the file, naming it when the check panics.
fn replay(check: Check, file: &Path) -> String {
    let data = std::fs::read(file).unwrap();
    std::panic::catch_unwind(|| check(&data)).unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("{} fails its check: {why}", file.display())
    })
}

#[test]
fn every_corpus_input_passes_its_check() {
    for (target, check) in TARGETS {
        let files = inputs(&fuzz_dir().join("corpus").join(target));
        assert!(files.len() >= 3, "fuzz/corpus/{target} holds {} inputs", files.len());
        for f in files {
            replay(check, &f);
        }
    }
}

#[test]
fn every_crash_input_gives_its_recorded_outcome() {
    let listed = std::fs::read_to_string(fuzz_dir().join("crashes/expected.txt")).unwrap();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for line in listed.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let (file, outcome) = line.split_once(' ').unwrap_or_else(|| panic!("bad line {line:?}"));
        assert!(
            expected.insert(file.to_string(), outcome.trim().to_string()).is_none(),
            "{file} twice"
        );
    }
    let mut seen = 0;
    for (target, check) in TARGETS {
        for f in inputs(&fuzz_dir().join("crashes").join(target)) {
            let name = format!("{target}/{}", f.file_name().unwrap().to_string_lossy());
            let want = expected.remove(&name).unwrap_or_else(|| {
                panic!("crash input {name} has no line in fuzz/crashes/expected.txt")
            });
            assert_eq!(replay(check, &f), want, "{name}");
            seen += 1;
        }
    }
    assert!(expected.is_empty(), "expected.txt lists inputs that are not there: {expected:?}");
    assert!(seen > 0, "no crash inputs replayed");
}
