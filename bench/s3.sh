#!/usr/bin/env bash
# Benchmarks pushing a tree to S3-compatible servers: `syncwright sync` against `rclone sync` (see README.md here).
#   bash bench/s3.sh                    # media tree at SCALE=0.1 (~340 MB), s3s-fs and moto, 5 interleaved runs
#   SERVERS=s3s RUNS=7 bash bench/s3.sh
# Needs rclone (apt), s3s-fs (`cargo install --locked s3s-fs@0.14.1 --features binary`) and moto_server
# (<repo>/.venv, as scripts/test.sh installs it, or MOTO_SERVER=...).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH_DIR=${BENCH_DIR:-/tmp/syncwright-bench-s3}
RUNS=${RUNS:-5}
SCALE=${SCALE:-0.1}
SERVERS=${SERVERS:-s3s,moto}
# Extra rclone flags, e.g. RCLONE_ARGS="--low-level-retries 1" (see README.md: s3s-fs answers one of rclone's HEADs
# with a 500, which rclone retries for ~90 s by default).
RCLONE_ARGS=${RCLONE_ARGS:-}
MOTO_SERVER=${MOTO_SERVER:-$ROOT/.venv/bin/moto_server}
KEY=benchkey0000000000001
SECRET=benchsecret000000000000000000000000001
BUCKET=bench
if ! command -v rclone >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null
fi
cargo build --release -p syncwright-cli
BIN=${BIN:-$ROOT/target/release/syncwright}
[ -x "$BIN" ] || BIN=$ROOT/target/x86_64-unknown-linux-gnu/release/syncwright
SRC=$BENCH_DIR/src-media-$SCALE
if [ ! -d "$SRC" ]; then
  python3 bench/gen_tree.py "$SRC" --profile media --scale "$SCALE"
fi
echo "tree: $(find "$SRC" -type f | wc -l) files, $(du -sh "$SRC" | cut -f1)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2
  return 1
}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

mkbucket() {
  env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null rclone mkdir ":s3,provider=Other,access_key_id=$KEY,secret_access_key=$SECRET,endpoint='$1',force_path_style=true:$BUCKET"
}

IFS=, read -r -a servers <<<"$SERVERS"
for server in "${servers[@]}"; do
  port=$(free_port)
  extra=()
  case $server in
    s3s)
      extra=(--data-dir "$BENCH_DIR/s3s-data/$BUCKET")
      data=$BENCH_DIR/s3s-data
      rm -rf "$data" && mkdir -p "$data"
      s3s-fs --host 127.0.0.1 --port "$port" --access-key "$KEY" --secret-key "$SECRET" "$data" >"$BENCH_DIR/s3s.log" 2>&1 &
      ;;
    moto)
      "$MOTO_SERVER" -H 127.0.0.1 -p "$port" >"$BENCH_DIR/moto.log" 2>&1 &
      ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
  esac
  pid=$!
  PIDS+=("$pid")
  wait_port "$port"
  endpoint=http://127.0.0.1:$port
  mkbucket "$endpoint"
  echo "--- $server at $endpoint"
  python3 bench/s3_bench.py --src "$SRC" --bin "$BIN" --endpoint "$endpoint" --bucket "$BUCKET" --key "$KEY" \
    --secret "$SECRET" --work "$BENCH_DIR/work-$server" --runs "$RUNS" --label "$server" \
    --rclone-args "$RCLONE_ARGS" \
    --json "$BENCH_DIR/results-s3-$server.json" "${extra[@]}"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$BENCH_DIR/s3s-data"
done
