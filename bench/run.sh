#!/usr/bin/env bash
# Benchmarks syncwright against rsync on a generated media-like tree (see README.md here).
#   bash bench/run.sh                 # the ~20,000-file media tree, 5 interleaved runs per command
#   PROFILE=small COUNT=1000000 bash bench/run.sh   # the 1,000,000-file no-change test
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/syncwright-bench}
RUNS=${RUNS:-5}
PROFILE=${PROFILE:-media}
COUNT=${COUNT:-1000000}
if ! command -v rsync >/dev/null || ! command -v hyperfine >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync hyperfine >/dev/null
fi
cargo build --release -p syncwright-cli
BIN=$PWD/target/release/syncwright
SRC=$BENCH_DIR/src-$PROFILE
if [ ! -d "$SRC" ]; then
  python3 bench/gen_tree.py "$SRC" --profile "$PROFILE" --count "$COUNT"
fi
if [ "$PROFILE" = small ]; then
  SCEN=${SCENARIOS:-nochange}
else
  SCEN=${SCENARIOS:-initial,initial_fsync,nochange,checksum}
fi
python3 bench/bench.py --src "$SRC" --work "$BENCH_DIR/work-$PROFILE" --bin "$BIN" --runs "$RUNS" \
  --scenarios "$SCEN" --json "$BENCH_DIR/results-$PROFILE.json"
