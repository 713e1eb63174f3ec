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
//! Environment: `SYNCWRIGHT_DIFF_SEED`, `SYNCWRIGHT_DIFF_STEPS` (default 60 per test), `SYNCWRIGHT_DIFF_WITHOUT`,
//! `SYNCWRIGHT_DIFF_CONTINUE`, `SYNCWRIGHT_DIFF_KEEP`: see tests/support/mod.rs.

mod support;

use std::fmt::Write as _;
use support::*;

const DEFAULT_STEPS: usize = 60;

/// `steps` random steps from `seed`, each checked against rsync.
fn differential(test: &str, default_seed: u64, mode: Mode, features: Features) {
    let seed = seed(default_seed);
    let steps = steps(DEFAULT_STEPS);
    let features = features.from_env();
    eprintln!("{test}: seed {seed}, {steps} steps, {mode:?}, {features:?}");
    let pair = Pair::new(mode);
    let mut g = Generator::new(seed, features.clone(), SMALL_SIZES, 90);
    let mut history: Vec<Vec<Action>> = Vec::new();
    let mut failures = Vec::new();
    for k in 0..steps {
        let acts = g.step(&pair.src, &pair.d1, &pair.d2, true, k == 0);
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
             syncwright-cli --test differential {test}",
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
        let _ = check.rsync_ok;
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

/// Without `--delete`: nothing at the destination goes (but what a type change replaces).
#[test]
fn random_changes_match_rsync_without_delete() {
    differential(
        "random_changes_match_rsync_without_delete",
        6,
        Mode { no_delete: true, ..Mode::default() },
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
