#!/usr/bin/env bash
# Benchmarks local backups (create and restore) against Info-ZIP's zip and unzip on the media tree (see README.md).
#   bash bench/backup.sh                      # media tree (seed 42), 5 interleaved runs per command
#   RUNS=3 SCENARIOS=restore bash bench/backup.sh
#   CARGO_PROFILE=ci bash bench/backup.sh     # a quicker build (add opt-level overrides for a fair figure)
# Both sides are whole commands: `syncwright backup create|restore` against `zip -r -q` and `unzip -q && sync`.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/syncwright-bench-backup}
RUNS=${RUNS:-5}
SCALE=${SCALE:-1}
SCENARIOS=${SCENARIOS:-create,restore}
CARGO_PROFILE=${CARGO_PROFILE:-release}
if ! command -v zip >/dev/null || ! command -v unzip >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zip unzip >/dev/null
fi
cargo build --profile "$CARGO_PROFILE" -p syncwright-cli
DIRNAME=$CARGO_PROFILE
[ "$CARGO_PROFILE" = dev ] && DIRNAME=debug
BIN=target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}$DIRNAME/syncwright
[ -x "$BIN" ] || BIN=target/$DIRNAME/syncwright
SRC=$BENCH_DIR/src-media
[ "$SCALE" = 1 ] || SRC=$BENCH_DIR/src-media-$SCALE
if [ ! -d "$SRC" ]; then
  python3 bench/gen_tree.py "$SRC" --profile media --scale "$SCALE" --seed 42
fi
echo "tree: $(find "$SRC" -type f | wc -l) files, $(du -sh "$SRC" | cut -f1); binary: $BIN"
python3 bench/backup_bench.py --src "$SRC" --work "$BENCH_DIR/work" --bin "$PWD/$BIN" --runs "$RUNS" \
  --scenarios "$SCENARIOS" --json "$BENCH_DIR/results-backup.json"
