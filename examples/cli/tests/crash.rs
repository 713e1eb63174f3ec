//! Crash test: random changes as in tests/differential.rs (with larger files, so that a run takes a while), and
//! each syncwright run killed with SIGKILL at a random point. After every kill:
//! - every file at D1 under a real name holds the bytes of either its version at D1 before the run or its
//!   version at S (never a partial file, never a file from nowhere); a file that was at D1 and is still at S is
//!   still there (a replacement is atomic); every symlink points where it pointed before or where the source's
//!   does; every folder was at D1 or is at S. Only names of the form of syncwright's temporaries that S does not
//!   have are left out of these checks (a killed run's temporaries, which the next run resumes or removes).
//! - a following run that is not killed exits 0 and D1 then holds what `rsync -a --delete` makes of the same S
//!   (the comparison of tests/differential.rs).
//!
//! The kill point is the only thing timing decides: a random delay up to the run's expected length (bytes to copy
//! over the `--bwlimit` it is given, plus a no-op run's length), so kills land while scanning, copying,
//! renaming, deleting and committing. A run that ends before its kill is checked the same way (and must exit 0, or 3).
//! Several killed runs may follow one another (with or without changes between them) before the run that must
//! converge, so that the next run meets the temporaries and run markers of the ones before.
//!
//! Environment: `SYNCWRIGHT_DIFF_SEED`, `SYNCWRIGHT_DIFF_STEPS` (kills per test; default 15), and for triage
//! `SYNCWRIGHT_DIFF_WITHOUT`, `SYNCWRIGHT_DIFF_TOLERATE`, `SYNCWRIGHT_DIFF_SYNCWRIGHT_ARGS`,
//! `SYNCWRIGHT_DIFF_KEEP`: see tests/support/mod.rs.

mod support;

use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use support::*;

const DEFAULT_KILLS: usize = 15;
const MIB: u64 = 1 << 20;

/// Runs syncwright and kills it with SIGKILL after `delay` unless it has ended; whether the kill hit it.
fn run_killed(
    pair: &Pair,
    filters: &[Pattern],
    extra: &[String],
    delay: Duration,
) -> (bool, Output) {
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut child = pair
        .syncwright_cmd(filters, &extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn syncwright");
    std::thread::sleep(delay);
    if child.try_wait().expect("try_wait").is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait for syncwright");
    (out.status.signal() == Some(libc::SIGKILL), out)
}

/// What is wrong with D1 after a killed (or ended) run: see the file's doc.
fn check_after_kill(prev: &Snap, src: &Snap, now: &Snap) -> Vec<String> {
    let mut bad = Vec::new();
    let same_bytes = |a: &Node, b: Option<&Node>| match (a, b) {
        (Node::File { len, digest, .. }, Some(Node::File { len: l2, digest: d2, .. })) => {
            len == l2 && digest == d2
        }
        _ => false,
    };
    let describe = |n: Option<&Node>| n.map_or("nothing".to_string(), |n| n.to_string());
    for (p, n) in &now.nodes {
        let (before, at_src) = (prev.get(p), src.get(p));
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if temp_like(&name) && at_src.is_none() {
            continue;
        }
        let ok = match n {
            Node::File { .. } => same_bytes(n, before) || same_bytes(n, at_src),
            Node::Link { .. } => before == Some(n) || at_src == Some(n),
            Node::Dir { .. } => {
                matches!(before, Some(Node::Dir { .. })) || matches!(at_src, Some(Node::Dir { .. }))
            }
            Node::Other { .. } => false,
        };
        if !ok {
            bad.push(format!(
                "{p:?}: D1 has {n}, which is neither what D1 had before the run ({}) nor what S has ({})",
                describe(before),
                describe(at_src)
            ));
        }
    }
    for (p, n) in &prev.nodes {
        if matches!(n, Node::File { .. })
            && matches!(src.get(p), Some(Node::File { .. }))
            && !matches!(now.get(p), Some(Node::File { .. }))
        {
            bad.push(format!(
                "{p:?}: was a file at D1 and is one at S, but after the run D1 has {} (a replacement left a gap)",
                describe(now.get(p))
            ));
        }
    }
    bad
}

/// Bytes of the source files D1 does not hold with the same size and mtime.
fn bytes_to_copy(src: &Snap, d1: &Snap) -> u64 {
    src.nodes
        .iter()
        .map(|(p, n)| match (n, d1.get(p)) {
            (Node::File { len, mtime, .. }, Some(Node::File { len: l2, mtime: t2, .. }))
                if len == l2 && mtime == t2 =>
            {
                0
            }
            (Node::File { len, .. }, _) => *len,
            _ => 0,
        })
        .sum()
}

fn crash(test: &str, default_seed: u64, mode: Mode) {
    let seed = seed(default_seed);
    let kills_wanted = steps(DEFAULT_KILLS);
    let features = Features::default().narrowed_by_env();
    eprintln!("{test}: seed {seed}, {kills_wanted} kills, {mode:?}, {features:?}");
    let pair = Pair::new(mode);
    let mut g = Generator::new(seed, features.clone(), LARGE_SIZES, 30);
    // Kill delays come from their own generator: how long runs take must not change the changes.
    let mut kill_rng = fastrand::Rng::with_seed(seed ^ 0x6b69_6c6c);
    let replay = format!(
        "SYNCWRIGHT_DIFF_SEED={seed} cargo test --profile ci -p syncwright-cli --test crash -- --exact {test} (the \
         changes are the same, the kill points depend on timing)"
    );

    let fail = |what: &str, round: usize, history: &[Vec<Action>], detail: &str| -> ! {
        let mut r = String::new();
        let _ = writeln!(r, "{test}: {what} (seed {seed}, round {round})\nreplay: {replay}");
        let _ = writeln!(r, "scratch: {}", pair.root.display());
        let first = history.len().saturating_sub(4);
        for (i, acts) in history.iter().enumerate().skip(first) {
            let _ = writeln!(r, "changes {}:\n{}", i + 1, shell_lines(acts));
        }
        let _ = write!(r, "{detail}");
        panic!("{r}");
    };

    let mut history: Vec<Vec<Action>> = Vec::new();
    history.push(g.step(&pair.src, &pair.d1, &pair.d2, false, true));
    let check = check_step(&pair, &g.filters, false);
    if !check.problems.is_empty() {
        fail("the first run differs from rsync", 0, &history, &check.problems);
    }
    let t = Instant::now();
    let _ = pair.syncwright(&g.filters, &[]);
    let base_ms = (t.elapsed().as_millis() as u64).max(5);

    let (mut kills, mut runs, mut round) = (0, 0, 0);
    while kills < kills_wanted && runs < kills_wanted * 4 {
        round += 1;
        let tries = 1 + g.rng.usize(0..3);
        let mut log = String::new();
        for t in 0..tries {
            if t == 0 {
                history.push(g.step(&pair.src, &pair.d1, &pair.d2, true, false));
            } else if g.rng.bool() {
                // D1 is half-synced now: changes at the source only.
                history.push(g.step(&pair.src, &pair.d1, &pair.d2, false, false));
            }
            let filters = g.filters.clone();
            let prev = snapshot(&pair.d1, true, true);
            let src = snapshot(&pair.src, false, true);
            let bytes = bytes_to_copy(&src, &prev);
            let (extra, expected_ms) = if kill_rng.u32(..100) < 75 {
                // At most about a second per run: a faster limit for more bytes.
                let rate = [16, 32, 64][kill_rng.usize(..3)].max(bytes / MIB + 1);
                (
                    vec!["--bwlimit".to_string(), format!("{rate}M")],
                    base_ms + bytes * 1000 / (rate * MIB),
                )
            } else {
                (Vec::new(), base_ms + bytes / 200_000)
            };
            let delay = kill_rng.u64(0..=expected_ms);
            let (killed, out) = run_killed(&pair, &filters, &extra, Duration::from_millis(delay));
            runs += 1;
            kills += killed as usize;
            let _ = writeln!(
                log,
                "  run {}: {} after {delay} ms of about {expected_ms} ({bytes} B to copy, {extra:?}); {}",
                t + 1,
                if killed { "killed" } else { "ended" },
                show(&out).replace('\n', "\n    ")
            );
            let now = snapshot(&pair.d1, true, true);
            let mut bad = check_after_kill(&prev, &src, &now);
            // (3 when rsync too would fail on something; the converging run compares exit codes with rsync's.)
            if !killed && !matches!(code(&out), Some(0 | 3)) {
                bad.push(format!("a run that was not killed exited {:?}", code(&out)));
            }
            if !bad.is_empty() {
                let detail = format!("{}\nruns of this round:\n{log}", bad.join("\n"));
                fail("after a killed run, D1 holds what it must not", round, &history, &detail);
            }
        }
        let check = check_step(&pair, &g.filters, false);
        if !check.problems.is_empty() {
            let detail = format!("{}runs of this round:\n{log}", check.problems);
            fail(
                "the run after the killed ones does not converge to rsync's result",
                round,
                &history,
                &detail,
            );
        }
    }
    eprintln!("{test}: {kills} kills in {runs} runs, {round} rounds");
    if kills * 3 < kills_wanted {
        // Timing picks the kill points; a machine fast enough to end most runs first tests less but is no failure.
        eprintln!("{test}: warning: only {kills} of {runs} runs were killed");
    }
}

#[test]
fn killed_runs_leave_whole_files_and_the_next_run_converges_1() {
    crash("killed_runs_leave_whole_files_and_the_next_run_converges_1", 11, Mode::default());
}

#[test]
fn killed_runs_leave_whole_files_and_the_next_run_converges_2() {
    crash("killed_runs_leave_whole_files_and_the_next_run_converges_2", 12, Mode::default());
}

/// The check after a kill sees a partial file, a file from nowhere and a gap, and lets whole versions and
/// temporaries be.
#[test]
fn the_check_after_a_kill_sees_partial_files_and_gaps() {
    let pair = Pair::new(Mode::default());
    let (src, d) = (&pair.src, &pair.d1);
    std::fs::create_dir_all(d).unwrap();
    for (root, body) in [(src, "new version"), (d, "old version")] {
        for f in ["whole", "partial", "gone", "kept"] {
            std::fs::write(root.join(f), body).unwrap();
        }
    }
    let (prev, at_src) = (snapshot(d, true, true), snapshot(src, false, true));
    std::fs::write(d.join("whole"), "new version").unwrap();
    std::fs::write(d.join("partial"), "new ver").unwrap();
    std::fs::remove_file(d.join("gone")).unwrap();
    std::fs::write(d.join("stray"), "from nowhere").unwrap();
    std::fs::write(d.join(".kept.swtmp-0123456789abcdef"), "a temporary").unwrap();
    let bad = check_after_kill(&prev, &at_src, &snapshot(d, true, true));
    let paths: Vec<&str> = bad.iter().map(|b| b.split(':').next().unwrap()).collect();
    assert_eq!(paths, ["\"partial\"", "\"stray\"", "\"gone\""], "{bad:#?}");
}
