//! Differential tests: syncwright against rsync.
//!
//! A source tree S gets random changes between runs (tests/support: files created, rewritten with a new size or
//! the same size, touched, chmod-ed, deleted, renamed; folders, empty ones too; symlinks, some dangling; type
//! changes; exclude patterns added and removed; edits at the destinations behind both tools' backs). After each
//! step `syncwright sync S D1 --delete --max-delete 1000000 [--exclude P]...` and
//! `rsync -a --delete [--exclude P]... S/ D2/` run from the same start, and D1 (less `.syncwright/`) must hold what
//! D2 holds: the same paths, kinds, link targets, bytes, file modes and file mtimes (to the nanosecond; rsync sets
//! them exactly after every transfer), folder modes. Not compared: folder mtimes (rsync sets them after filling a
//! folder; syncwright need not), symlink mtimes and modes, owners (nothing here changes them), the root folder's
//! own mode and mtime.
//!
//! The generator changes mtimes only by whole seconds at least: without `--modify-window=-1`, rsync -a compares
//! mtimes to the second, so an mtime that moves within its second is a change rsync is not asked to see. A
//! rewrite that keeps both the size and the mtime is invisible to both tools without `-c`: it is generated only in
//! the `--checksum` test.
//!
//! The tests below also cover syncwright's own guards (no rsync equivalent): an empty source root, more than half
//! of the destination deleted, what a dry run says about them, `--backup-dir`.
//!
//! Environment: `SYNCWRIGHT_DIFF_SEED`, `SYNCWRIGHT_DIFF_STEPS` (default 60 per test), and for triage
//! `SYNCWRIGHT_DIFF_WITHOUT`, `SYNCWRIGHT_DIFF_CONTINUE`, `SYNCWRIGHT_DIFF_TOLERATE`,
//! `SYNCWRIGHT_DIFF_SYNCWRIGHT_ARGS`, `SYNCWRIGHT_DIFF_KEEP`: see tests/support/mod.rs.

mod support;

use std::fmt::Write as _;
use support::*;

const DEFAULT_STEPS: usize = 60;

/// `steps` random steps from `seed`, each checked against rsync.
fn differential(test: &str, default_seed: u64, mode: Mode, features: Features) {
    let seed = seed(default_seed);
    let steps = steps(DEFAULT_STEPS);
    let features = features.narrowed_by_env();
    eprintln!("{test}: seed {seed}, {steps} steps, {mode:?}, {features:?}");
    let pair = Pair::new(mode);
    let mut g = Generator::new(seed, features.clone(), SMALL_SIZES, 90);
    let mut history: Vec<Vec<Action>> = Vec::new();
    let mut failures = Vec::new();
    for k in 0..steps {
        let mut acts = g.step(&pair.src, &pair.d1, &pair.d2, true, k == 0);
        if k == 0 && pair.mode.seeded {
            pair.seed_destinations();
            acts.push(Action { side: Side::Dests, act: Act::CopyOfSource });
        }
        history.push(acts);
        let filters = g.filters.clone();
        let idem = g.rng.u32(..100) < 20 || k + 1 == steps;
        let check = check_step(&pair, &filters, idem);
        if check.problems.is_empty() {
            continue;
        }
        let mut r = String::new();
        let _ = writeln!(
            r,
            "{test}: syncwright and rsync disagree after step {} of {steps} (seed {seed})",
            k + 1
        );
        let _ = writeln!(
            r,
            "replay: SYNCWRIGHT_DIFF_SEED={seed} SYNCWRIGHT_DIFF_STEPS={} cargo test --profile ci -p \
             syncwright-cli --test differential -- --exact {test}",
            k + 1
        );
        let _ = writeln!(r, "scratch: {} ({features:?})", pair.root.display());
        let _ = writeln!(
            r,
            "the commands:\n    {}\n    {}",
            pair.syncwright_shell(&filters),
            pair.rsync_shell(&filters)
        );
        let _ = writeln!(
            r,
            "this step's changes (shell, from the scratch folder):\n{}",
            shell_lines(&history[k])
        );
        let _ = write!(r, "{}", check.problems);
        let first = k.saturating_sub(3);
        if k > 0 {
            let _ = writeln!(r, "steps {}..{} before it:", first + 1, k);
            for (i, acts) in history.iter().enumerate().take(k).skip(first) {
                let _ = writeln!(r, "  step {}:\n{}", i + 1, shell_lines(acts));
            }
        }
        if !continue_on_failure() {
            panic!("{r}");
        }
        eprintln!("{r}");
        failures.push(r);
        // Go on from D1 = D2, with no manifest to trust.
        pair.reset_d1();
    }
    assert!(
        failures.is_empty(),
        "{} of {steps} steps disagreed (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn random_changes_match_rsync_1() {
    differential("random_changes_match_rsync_1", 1, Mode::default(), Features::default());
}

#[test]
fn random_changes_match_rsync_2() {
    differential("random_changes_match_rsync_2", 2, Mode::default(), Features::default());
}

#[test]
fn random_changes_match_rsync_with_checksum() {
    let features = Features { same_size_same_mtime: true, ..Features::default() };
    differential(
        "random_changes_match_rsync_with_checksum",
        3,
        Mode { checksum: true, ..Mode::default() },
        features,
    );
}

#[test]
fn random_changes_match_rsync_with_delete_excluded() {
    differential(
        "random_changes_match_rsync_with_delete_excluded",
        4,
        Mode { delete_excluded: true, ..Mode::default() },
        Features::default(),
    );
}

/// Without `--delete`: nothing at the destination goes (but what a type change replaces). Both destinations start
/// as copies of the source made by rsync, as when syncwright takes over from another tool.
#[test]
fn random_changes_match_rsync_without_delete() {
    differential(
        "random_changes_match_rsync_without_delete",
        6,
        Mode { no_delete: true, seeded: true, ..Mode::default() },
        Features::default(),
    );
}

/// With `--trust-dest-manifest` syncwright does not look at the destination, so nobody edits it here.
#[test]
fn random_changes_match_rsync_trusting_the_manifest() {
    let features = Features { dest_edits: false, dest_adds: false, ..Features::default() };
    differential(
        "random_changes_match_rsync_trusting_the_manifest",
        5,
        Mode { trust_manifest: true, ..Mode::default() },
        features,
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The harness itself
// ---------------------------------------------------------------------------------------------------------------

/// rsync mirrors everything the generator makes (nanosecond mtimes, modes, links, empty folders, odd names), so a
/// difference between D1 and D2 is never rsync's own way with something: S and D2 compare equal after every step.
#[test]
fn rsync_mirrors_what_the_generator_makes() {
    let features =
        Features { dest_edits: false, dest_adds: false, filters: false, ..Features::default() };
    let pair = Pair::new(Mode::default());
    let mut g = Generator::new(seed(7), features, SMALL_SIZES, 90);
    for k in 0..steps(DEFAULT_STEPS).min(40) {
        let acts = g.step(&pair.src, &pair.d1, &pair.d2, true, k == 0);
        let out = pair.rsync(&[]);
        assert_eq!(code(&out), Some(0), "rsync: {}", show(&out));
        let (s, d2) = (snapshot(&pair.src, false, true), snapshot(&pair.d2, false, true));
        let diffs = compare(&s, &d2);
        assert!(
            diffs.is_empty(),
            "step {}: rsync's copy differs from the source ('syncwright' below means S):\n{}\nchanges:\n{}",
            k + 1,
            describe(&diffs, &s, &d2, &[]),
            shell_lines(&acts)
        );
    }
}

/// The comparison sees every kind of difference it claims to.
#[test]
fn the_comparison_sees_every_kind_of_difference() {
    let pair = Pair::new(Mode::default());
    let t = Mtime { sec: 1_600_000_000, nsec: 123_456_789 };
    for d in [&pair.d1, &pair.d2] {
        std::fs::create_dir_all(d.join("dir")).unwrap();
        for (name, body) in [("same", "x"), ("content", "abc"), ("mode", "m"), ("mtime", "t")] {
            std::fs::write(d.join(name), body).unwrap();
            chmod(&d.join(name), 0o644);
            set_mtime(&d.join(name), t);
        }
        std::os::unix::fs::symlink("same", d.join("link")).unwrap();
    }
    std::fs::write(pair.d1.join("content"), "abd").unwrap();
    set_mtime(&pair.d1.join("content"), t);
    chmod(&pair.d1.join("mode"), 0o600);
    set_mtime(&pair.d1.join("mtime"), Mtime { sec: t.sec, nsec: t.nsec + 1 });
    chmod(&pair.d1.join("dir"), 0o700);
    std::fs::remove_file(pair.d1.join("link")).unwrap();
    std::os::unix::fs::symlink("other", pair.d1.join("link")).unwrap();
    std::fs::write(pair.d1.join("extra"), "").unwrap();
    std::fs::create_dir(pair.d2.join("missing")).unwrap();
    std::fs::create_dir(pair.d1.join(".syncwright")).unwrap();
    let found: Vec<(String, &str)> =
        compare(&snapshot(&pair.d1, true, true), &snapshot(&pair.d2, false, true))
            .into_iter()
            .map(|d| (d.path.display().to_string(), d.class))
            .collect();
    let want: Vec<(String, &str)> = [
        ("content", "content"),
        ("dir", "mode"),
        ("extra", "extra"),
        ("link", "target"),
        ("missing", "missing"),
        ("mode", "mode"),
        ("mtime", "mtime"),
    ]
    .into_iter()
    .map(|(p, c)| (p.to_string(), c))
    .collect();
    assert_eq!(found, want);
}

// ---------------------------------------------------------------------------------------------------------------
// Fixed scenarios: one class of discrepancy each, the smallest sequence that shows it
// ---------------------------------------------------------------------------------------------------------------

/// Writes `root/rel` with `body`, mode 0644 and mtime `sec` (whole seconds apart between versions, so that rsync
/// sees every change).
fn put(root: &std::path::Path, rel: &str, body: &str, sec: i64) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    chmod(&p, 0o644);
    set_mtime(&p, Mtime { sec, nsec: 250_000_000 });
}

/// Both tools run; they must agree (and a second syncwright run must be a no-op).
#[track_caller]
fn agree(pair: &Pair, filters: &[Pattern], what: &str) {
    let check = check_step(pair, filters, true);
    assert!(
        check.problems.is_empty(),
        "{what}\n    {}\n    {}\n{}",
        pair.syncwright_shell(filters),
        pair.rsync_shell(filters),
        check.problems
    );
}

fn pattern(sw: &str) -> Pattern {
    *PATTERNS.iter().find(|p| p.syncwright == sw).unwrap()
}

/// rsync -a --delete --exclude P leaves destination entries matching P alone (without --delete-excluded).
#[test]
fn scenario_a_new_exclude_protects_what_the_destination_has() {
    let pair = Pair::new(Mode::default());
    put(&pair.src, "keep.txt", "k", 1_600_000_000);
    put(&pair.src, "models/w.bin", "weights", 1_600_000_000);
    put(&pair.src, "sub/a.tmp", "scratch", 1_600_000_000);
    agree(&pair, &[], "first sync");
    agree(&pair, &[pattern("models/"), pattern("*.tmp")], "models/ and *.tmp excluded from now on");
    put(&pair.src, "sub/a.tmp", "scratch, changed", 1_600_000_100);
    agree(&pair, &[pattern("models/"), pattern("*.tmp")], "an excluded file changed at the source");
    agree(&pair, &[], "the excludes removed again");
}

/// A folder removed at the source that holds an excluded file at the destination: rsync deletes the rest and
/// keeps the folder with the excluded file (and says so, exit 0); the next runs have nothing to do.
#[test]
fn scenario_a_removed_folder_with_an_excluded_file_stays_with_it() {
    removed_folder_with_an_excluded_file(Mode::default());
}

/// The same, scanning the destination (as after an unclean run).
#[test]
fn scenario_a_removed_folder_with_an_excluded_file_stays_with_it_rescanning() {
    removed_folder_with_an_excluded_file(Mode { rescan: true, ..Mode::default() });
}

fn removed_folder_with_an_excluded_file(mode: Mode) {
    let pair = Pair::new(mode);
    put(&pair.src, "keep.txt", "k", 1_600_000_000);
    put(&pair.src, "d/x.tmp", "scratch", 1_600_000_000);
    put(&pair.src, "d/y", "y", 1_600_000_000);
    agree(&pair, &[], "first sync");
    std::fs::remove_dir_all(pair.src.join("d")).unwrap();
    agree(&pair, &[pattern("*.tmp")], "d removed at the source, *.tmp excluded");
    agree(&pair, &[pattern("*.tmp")], "the same again");
}

/// Names of the form `.NAME.swtmp-<16 hex>` are ordinary files when the source has them.
#[test]
fn scenario_files_named_like_temporaries_are_copied_and_kept() {
    let pair = Pair::new(Mode::default());
    put(&pair.src, "a.png", "a", 1_600_000_000);
    put(&pair.src, ".a.png.swtmp-0123456789abcdef", "not a temporary", 1_600_000_000);
    put(&pair.src, "sub/.b.swtmp-00112233aabbccdd", "neither", 1_600_000_000);
    agree(&pair, &[], "first sync");
    put(&pair.src, "a.png", "a, changed", 1_600_000_100);
    agree(&pair, &[], "the sibling changed");
    put(&pair.src, ".a.png.swtmp-0123456789abcdef", "changed too", 1_600_000_100);
    agree(&pair, &[], "the file named like a temporary changed");
}

/// A destination that already holds the source's files (copied by another tool): syncwright takes them for its
/// own leftovers and removes them, without --delete too.
#[test]
fn scenario_files_named_like_temporaries_at_a_filled_destination_are_kept() {
    let pair = Pair::new(Mode { no_delete: true, rescan: true, ..Mode::default() });
    put(&pair.src, "foo", "foo", 1_600_000_000);
    put(&pair.src, ".foo.swtmp-0123456789abcdef", "user data", 1_600_000_000);
    put(&pair.src, ".bar.swtmp-0123456789abcdef", "user data too", 1_600_000_000);
    pair.seed_destinations();
    agree(&pair, &[], "first syncwright run into a destination rsync filled");
}

/// Files deleted, edited, chmod-ed and added at the destination behind the tools' backs: rsync puts back what the
/// source has and deletes the rest.
#[test]
fn scenario_edits_at_the_destination_are_undone() {
    let pair = Pair::new(Mode::default());
    for f in ["keep.txt", "deleted", "edited", "chmoded", "touched"] {
        put(&pair.src, f, f, 1_600_000_000);
    }
    agree(&pair, &[], "first sync");
    for d in [&pair.d1, &pair.d2] {
        std::fs::remove_file(d.join("deleted")).unwrap();
        put(d, "edited", "edited at the destination", 1_600_000_500);
        chmod(&d.join("chmoded"), 0o600);
        set_mtime(&d.join("touched"), Mtime { sec: 1_600_000_500, nsec: 0 });
        put(d, "added", "only at the destination", 1_600_000_500);
        put(d, "new/dir/file", "only at the destination", 1_600_000_500);
    }
    agree(&pair, &[], "after edits at both destinations");
}

/// rsync -a keeps folder modes, of folders with files too.
#[test]
fn scenario_folder_modes_are_kept() {
    let pair = Pair::new(Mode::default());
    put(&pair.src, "keep.txt", "k", 1_600_000_000);
    put(&pair.src, "full/f", "f", 1_600_000_000);
    std::fs::create_dir(pair.src.join("empty")).unwrap();
    chmod(&pair.src.join("full"), 0o750);
    chmod(&pair.src.join("empty"), 0o711);
    agree(&pair, &[], "first sync");
    chmod(&pair.src.join("full"), 0o700);
    chmod(&pair.src.join("empty"), 0o775);
    agree(&pair, &[], "both folders chmod-ed");
}

/// An empty folder that gets its first file.
#[test]
fn scenario_an_empty_folder_gets_a_file() {
    let pair = Pair::new(Mode::default());
    put(&pair.src, "keep.txt", "k", 1_600_000_000);
    std::fs::create_dir(pair.src.join("e")).unwrap();
    agree(&pair, &[], "first sync");
    put(&pair.src, "e/x", "x", 1_600_000_000);
    agree(&pair, &[], "a file in the folder that was empty");
}

/// A file or symlink becomes a folder with files, and a folder with files becomes a file or a symlink.
#[test]
fn scenario_type_changes_between_files_and_folders_with_files() {
    let pair = Pair::new(Mode::default());
    put(&pair.src, "keep.txt", "k", 1_600_000_000);
    put(&pair.src, "file-then-dir", "f", 1_600_000_000);
    put(&pair.src, "dir-then-file/x", "x", 1_600_000_000);
    put(&pair.src, "dir-then-link/x", "x", 1_600_000_000);
    std::os::unix::fs::symlink("keep.txt", pair.src.join("link-then-dir")).unwrap();
    agree(&pair, &[], "first sync");
    std::fs::remove_file(pair.src.join("file-then-dir")).unwrap();
    put(&pair.src, "file-then-dir/inside", "i", 1_600_000_000);
    std::fs::remove_dir_all(pair.src.join("dir-then-file")).unwrap();
    put(&pair.src, "dir-then-file", "now a file", 1_600_000_000);
    std::fs::remove_dir_all(pair.src.join("dir-then-link")).unwrap();
    std::os::unix::fs::symlink("keep.txt", pair.src.join("dir-then-link")).unwrap();
    std::fs::remove_file(pair.src.join("link-then-dir")).unwrap();
    put(&pair.src, "link-then-dir/inside", "i", 1_600_000_000);
    agree(&pair, &[], "after the type changes");
}

/// With -c, a rewrite that keeps the size and the mtime is seen (rsync -c reads every file).
#[test]
fn scenario_checksum_sees_a_rewrite_that_keeps_size_and_mtime() {
    let pair = Pair::new(Mode { checksum: true, ..Mode::default() });
    put(&pair.src, "keep.txt", "k", 1_600_000_000);
    put(&pair.src, "f", "hello", 1_600_000_000);
    agree(&pair, &[], "first sync");
    put(&pair.src, "f", "world", 1_600_000_000);
    agree(&pair, &[], "f rewritten with the same size and mtime");
}

/// Without --delete, a folder that is empty at the source but not at the destination is no work for the next
/// run.
#[test]
fn scenario_without_delete_an_empty_source_folder_over_a_full_one_is_no_work() {
    let pair = Pair::new(Mode { no_delete: true, ..Mode::default() });
    put(&pair.src, "keep.txt", "k", 1_600_000_000);
    put(&pair.src, "d/x", "x", 1_600_000_000);
    agree(&pair, &[], "first sync");
    std::fs::remove_file(pair.src.join("d/x")).unwrap();
    agree(&pair, &[], "d emptied at the source (its file stays at the destination)");
}

// ---------------------------------------------------------------------------------------------------------------
// syncwright's own guards (no rsync equivalent)
// ---------------------------------------------------------------------------------------------------------------

fn sync_json(pair: &Pair, args: &[&str]) -> (Option<i32>, serde_json::Value, std::process::Output) {
    let mut all = vec!["sync", "S", "D1", "--json", "--no-progress"];
    all.extend_from_slice(args);
    let out = pair.run(&all);
    let v = report_json(&out).unwrap_or(serde_json::Value::Null);
    (code(&out), v, out)
}

/// The messages of a report's errors, warnings and fatal error.
fn messages(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for (list, key) in [("errors", "error"), ("warnings", "message")] {
        if let Some(a) = v[list].as_array() {
            out.extend(a.iter().filter_map(|e| e[key].as_str().map(str::to_string)));
        }
    }
    if let Some(f) = v["fatal"]["error"].as_str() {
        out.push(f.to_string());
    }
    out
}

fn mentions(v: &serde_json::Value, word: &str) -> bool {
    messages(v).iter().any(|m| m.to_lowercase().contains(word))
}

/// D1's files (less `.syncwright/`) with their bytes.
fn files_of(pair: &Pair) -> Vec<(String, Vec<u8>)> {
    snapshot(&pair.d1, true, false)
        .files()
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(pair.d1.join(&p)).unwrap()))
        .collect()
}

fn ten_files(pair: &Pair) {
    for i in 0..10 {
        put(&pair.src, &format!("f{i}"), &format!("file {i}"), 1_600_000_000);
    }
    let (c, _, out) = sync_json(pair, &["--delete"]);
    assert_eq!(c, Some(0), "first sync: {}", show(&out));
}

/// With --delete and no --max-delete, an empty source root (an unmounted disk, a wrong path) deletes nothing and
/// ends partial; --allow-empty-source (with an explicit --max-delete) lets it empty the destination.
#[test]
fn guard_an_empty_source_root_deletes_nothing_without_allow_empty_source() {
    let pair = Pair::new(Mode::default());
    put(&pair.src, "a.txt", "a", 1_600_000_000);
    put(&pair.src, "sub/b.txt", "b", 1_600_000_000);
    put(&pair.src, "c.bin", "c", 1_600_000_000);
    let (c, _, out) = sync_json(&pair, &["--delete"]);
    assert_eq!(c, Some(0), "first sync: {}", show(&out));
    let before = files_of(&pair);
    for e in std::fs::read_dir(&pair.src).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) }.unwrap();
    }

    let (c, v, out) = sync_json(&pair, &["--delete", "--dry-run"]);
    assert!(
        mentions(&v, "empty"),
        "a dry run says that the empty source would delete nothing: {}",
        show(&out)
    );
    assert_eq!(files_of(&pair), before, "a dry run deleted files");
    let _ = c;

    let (c, v, out) = sync_json(&pair, &["--delete"]);
    assert_eq!(c, Some(3), "an empty source root ends partial: {}", show(&out));
    assert_eq!(v["status"], "partial", "{}", show(&out));
    assert!(mentions(&v, "empty"), "the report says why: {}", show(&out));
    assert_eq!(files_of(&pair), before, "files were deleted from an empty source root");

    let (c, _, out) = sync_json(&pair, &["--delete", "--allow-empty-source", "--max-delete", "10"]);
    assert_eq!(c, Some(0), "--allow-empty-source: {}", show(&out));
    assert_eq!(files_of(&pair), vec![], "--allow-empty-source empties the destination");
}

/// With --delete and no --max-delete, a run that would delete more than half of the destination's files
/// deletes nothing (partial); an explicit --max-delete decides instead.
#[test]
fn guard_deleting_more_than_half_needs_an_explicit_max_delete() {
    let pair = Pair::new(Mode::default());
    ten_files(&pair);
    for i in 0..6 {
        std::fs::remove_file(pair.src.join(format!("f{i}"))).unwrap();
    }
    let before = files_of(&pair);
    let (c, v, out) = sync_json(&pair, &["--delete"]);
    assert_eq!(c, Some(3), "6 of 10 deletes without --max-delete end partial: {}", show(&out));
    assert!(mentions(&v, "delet"), "the report says why: {}", show(&out));
    assert_eq!(files_of(&pair), before, "files were deleted");

    let (c, _, out) = sync_json(&pair, &["--delete", "--max-delete", "5"]);
    assert_eq!(c, Some(3), "6 deletes over --max-delete 5: {}", show(&out));
    assert_eq!(files_of(&pair), before, "files were deleted over --max-delete");

    let (c, _, out) = sync_json(&pair, &["--delete", "--max-delete", "6"]);
    assert_eq!(c, Some(0), "6 deletes within --max-delete 6: {}", show(&out));
    assert_eq!(files_of(&pair).len(), 4);
}

/// Half of the destination's files is not more than half.
#[test]
fn guard_deleting_half_of_the_destination_is_allowed() {
    let pair = Pair::new(Mode::default());
    ten_files(&pair);
    for i in 0..5 {
        std::fs::remove_file(pair.src.join(format!("f{i}"))).unwrap();
    }
    let (c, _, out) = sync_json(&pair, &["--delete"]);
    assert_eq!(c, Some(0), "5 of 10 deletes: {}", show(&out));
    assert_eq!(files_of(&pair).len(), 5);
}

/// A dry run says when a cap (the implicit half, or --max-delete) would refuse the deletes, and not otherwise.
#[test]
fn guard_a_dry_run_says_when_a_cap_would_refuse() {
    let pair = Pair::new(Mode::default());
    ten_files(&pair);
    for i in 0..6 {
        std::fs::remove_file(pair.src.join(format!("f{i}"))).unwrap();
    }
    let before = files_of(&pair);
    let (_, v, out) = sync_json(&pair, &["--delete", "--dry-run"]);
    assert!(mentions(&v, "delet"), "dry run, 6 of 10 deletes, no --max-delete: {}", show(&out));
    let (_, v, out) = sync_json(&pair, &["--delete", "--dry-run", "--max-delete", "2"]);
    assert!(mentions(&v, "delet"), "dry run, 6 deletes over --max-delete 2: {}", show(&out));
    let (_, v, out) = sync_json(&pair, &["--delete", "--dry-run", "--max-delete", "6"]);
    assert!(
        !mentions(&v, "delet"),
        "dry run within --max-delete 6 warns of nothing: {}",
        show(&out)
    );
    assert_eq!(files_of(&pair), before, "a dry run deleted files");
}

/// --backup-dir DIR: what a run replaces or deletes goes to DIR under its relative path, as with
/// rsync --backup --backup-dir=DIR (compared with it: paths, bytes, modes, mtimes of the files).
#[test]
fn guard_backup_dir_keeps_what_a_run_replaces_or_deletes() {
    let pair = Pair::new(Mode::default());
    put(&pair.src, "keep.txt", "k", 1_600_000_000);
    put(&pair.src, "a.txt", "one", 1_600_000_000);
    put(&pair.src, "sub/b.txt", "two", 1_600_000_000);
    agree(&pair, &[], "first sync");
    put(&pair.src, "a.txt", "one, changed", 1_600_000_100);
    std::fs::remove_dir_all(pair.src.join("sub")).unwrap();
    let (b1, b2) = (pair.root.join("B1"), pair.root.join("B2"));
    let (c, _, out) =
        sync_json(&pair, &["--delete", "--max-delete", "10", "--backup-dir", b1.to_str().unwrap()]);
    assert_eq!(c, Some(0), "{}", show(&out));
    let rs = std::process::Command::new("rsync")
        .args(["-a", "--delete", "--backup"])
        .arg(format!("--backup-dir={}", b2.display()))
        .arg(format!("{}/", pair.src.display()))
        .arg(format!("{}/", pair.d2.display()))
        .output()
        .unwrap();
    assert_eq!(code(&rs), Some(0), "{}", show(&rs));
    let diffs = compare(&snapshot(&pair.d1, true, true), &snapshot(&pair.d2, false, true));
    assert!(diffs.is_empty(), "destinations differ: {diffs:?}");
    let (s1, s2) = (snapshot(&b1, false, true), snapshot(&b2, false, true));
    let files = |s: &Snap| {
        s.nodes
            .iter()
            .filter(|(_, n)| matches!(n, Node::File { .. }))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        files(&s1),
        files(&s2),
        "the backup folders differ (left syncwright's, right rsync's)"
    );
    assert_eq!(std::fs::read(b1.join("a.txt")).unwrap(), b"one");
    assert_eq!(std::fs::read(b1.join("sub/b.txt")).unwrap(), b"two");
}
