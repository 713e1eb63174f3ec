#!/usr/bin/env bash
# A first look at syncwright: `bash scripts/demo.sh`.
#
# Builds the `syncwright` command, generates a small sample tree (nested folders, a few MiB of data, an empty
# folder, a symlink) in a temporary directory, syncs it into another temporary directory with
# `syncwright sync SRC DST --json`, prints the report, runs the same sync again (nothing left to do), and checks
# that the destination matches the source. KEEP=1 keeps the temporary directory for a look around.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PROFILE=${PROFILE:-ci} # the profile scripts/test.sh builds, so the two share one build

command -v cargo >/dev/null 2>&1 || { echo "demo.sh: cargo not found: install Rust (1.95 or newer) first" >&2; exit 1; }

echo "==> building the syncwright command (cargo profile $PROFILE)"
cargo build --profile "$PROFILE" -p syncwright-cli
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}$PROFILE/syncwright"
"$BIN" --version || true

WORK=$(mktemp -d "${TMPDIR:-/tmp}/syncwright-demo.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    echo "==> keeping $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi
# syncwright's state store (hash cache, history) for this demo lives in the temporary directory too.
export SYNCWRIGHT_STATE_DIR="${SYNCWRIGHT_STATE_DIR:-$WORK/state}"
SRC="$WORK/source"
DST="$WORK/destination"
mkdir -p "$SRC" "$DST"

echo "==> generating a sample tree in $SRC"
mkdir -p "$SRC/outputs/2026-11-21" "$SRC/models/checkpoints" "$SRC/user/settings" "$SRC/logs" "$SRC/empty-folder"
for i in 1 2 3 4 5; do
    head -c $((200 * 1024 + i)) /dev/urandom >"$SRC/outputs/2026-11-21/image_$i.png"
    printf '{"seed": %d, "steps": 30}\n' "$i" >"$SRC/outputs/2026-11-21/image_$i.json"
done
head -c $((4 * 1024 * 1024)) /dev/urandom >"$SRC/models/checkpoints/tiny-model.safetensors"
printf 'theme = "dark"\n' >"$SRC/user/settings/preferences.toml"
printf 'started\nfinished\n' >"$SRC/logs/run.log"
printf 'a name with spaces and ünïcödé\n' >"$SRC/user/notes – ünïcödé.txt"
ln -s checkpoints/tiny-model.safetensors "$SRC/models/latest"
echo "$(find "$SRC" -type f | wc -l) files, $(du -sh "$SRC" | cut -f1) in total"

show() { if command -v python3 >/dev/null 2>&1; then python3 -m json.tool; else cat; fi; }

run_sync() {
    local rc=0 out
    out=$("$BIN" sync "$SRC" "$DST" --json) || rc=$?
    printf '%s\n' "$out" | show || printf '%s\n' "$out"
    # CLI exit codes: 0 completed, 1 failed, 2 usage or invalid input, 3 partial, 4 cancelled, 5 conflict.
    if [ "$rc" -ne 0 ]; then
        echo "demo.sh: syncwright sync exited $rc" >&2
        exit "$rc"
    fi
}

echo "==> syncwright sync $SRC $DST --json"
run_sync

echo "==> the same sync again: nothing should be left to do"
run_sync

echo "==> comparing the destination with the source (syncwright's own .syncwright/ state folder aside)"
if diff -r --no-dereference -x .syncwright "$SRC" "$DST" >/dev/null; then
    echo "demo.sh: the destination matches the source"
    echo "what the destination holds:"
    (cd "$DST" && find . -mindepth 1 | LC_ALL=C sort | sed 's/^/  /')
else
    diff -r --no-dereference -x .syncwright "$SRC" "$DST" | head -20 >&2 || true
    echo "demo.sh: the destination differs from the source" >&2
    exit 1
fi
