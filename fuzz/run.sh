#!/usr/bin/env bash
# Runs every fuzz target of the parsers for a bounded time and collects what crashed.
#
#   bash fuzz/run.sh                      # every target, 60 s each
#   FUZZ_SECONDS=300 bash fuzz/run.sh     # longer
#   bash fuzz/run.sh config units         # some targets only
#   bash fuzz/run.sh --minimise [TARGET...]   # shrink the corpora before committing them (no fuzzing)
#
# Targets (fuzz/fuzz_targets/, each calling the check of the same name in core/tests/support/fuzz_checks.rs):
# manifest, manifest_entries, import, config, units, rclone, backup_archive, png_metadata, exif (EXIF blocks, also
# inside a JPEG and a WebP), a1111 (A1111 parameters text). New interesting inputs go into fuzz/corpus/<target>/;
# every crash, timeout or out-of-memory input is copied into fuzz/crashes/<target>/ (libFuzzer's own copy stays in
# fuzz/artifacts/). A crash input, once fixed, gets a line in fuzz/crashes/expected.txt with the outcome its
# check must give; core/tests/fuzz_replay.rs replays the corpora and the crashes in plain `cargo test`.
# Needs cargo-fuzz (installed here when missing) and a C++ compiler. The exit status is 1 when anything crashed.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
minimise=0
if [ "${1:-}" = "--minimise" ]; then minimise=1; shift; fi
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=(manifest manifest_entries import config units rclone backup_archive png_metadata exif a1111); fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# cargo fuzz passes --target itself; the sanitizers need a nightly compiler, so none (-s none) on stable;
# -a keeps debug assertions and overflow checks on, so an arithmetic overflow is a crash as in the tests.
unset CARGO_BUILD_TARGET
flags=(-O -a -s none)
cargo fuzz build "${flags[@]}"
if [ "$minimise" = 1 ]; then
    # A set cover of the features, inputs cut at 800 bytes (cmin alone keeps megabytes), plus the seeds: the
    # files whose names are not libFuzzer's 40-hex ones.
    for t in "${targets[@]}"; do
        tmp=$(mktemp -d)
        "target/x86_64-unknown-linux-gnu/release/$t" -set_cover_merge=1 -max_len=800 "$tmp" "corpus/$t" 2>/dev/null
        find "corpus/$t" -type f -regextype posix-extended ! -regex '.*/[0-9a-f]{40}' -exec cp {} "$tmp/" \;
        rm -rf "corpus/$t"
        mv "$tmp" "corpus/$t"
        echo "$t: $(ls "corpus/$t" | wc -l) inputs, $(cat "corpus/$t"/* | wc -c) bytes"
    done
    exit 0
fi
found=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t" "crashes/$t"
    before=$(ls "artifacts/$t" | wc -l)
    echo "== $t: ${seconds} s"
    # Fork mode goes on after a crash, so one run finds more than the first. dicts/<target>.dict holds the
    # tokens of its format (keys, units, extreme numbers).
    dict=()
    [ -f "dicts/$t.dict" ] && dict=(-dict="dicts/$t.dict")
    cargo fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 "${dict[@]}" || true
    for f in "artifacts/$t"/*; do
        [ -e "$f" ] || continue
        if [ ! -e "crashes/$t/$(basename "$f")" ]; then
            cp "$f" "crashes/$t/"
            echo "!! $t: new crash input crashes/$t/$(basename "$f")"
        fi
    done
    after=$(ls "artifacts/$t" | wc -l)
    [ "$after" -gt "$before" ] && found=1
done
exit "$found"
