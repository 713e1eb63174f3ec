#!/usr/bin/env bash
# Unlock time of the secrets vault with the default key derivation (Argon2id, m = 64 MiB, t = 3, p = 4): times
# `syncwright vault ls` (one unlock, one read) and `vault get` against a vault of 20 keys, whole processes, with
# hyperfine; prints the peak RSS of one unlock from /usr/bin/time.
#   bash bench/vault.sh            RUNS=20 bash bench/vault.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
WORK=${BENCH_DIR:-/tmp/syncwright-bench}/vault
if ! command -v hyperfine >/dev/null || [ ! -x /usr/bin/time ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine time >/dev/null
fi
cargo build --release -p syncwright-cli
BIN=$PWD/target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release/syncwright
[ -x "$BIN" ] || BIN=$PWD/target/release/syncwright
rm -rf "$WORK" && mkdir -p "$WORK"
printf '[settings]\nstate_dir = "state"\n' > "$WORK/pod.toml"
export SYNCWRIGHT_SECRETS_KEY='bench passphrase'
"$BIN" --config "$WORK/pod.toml" vault init
for i in $(seq 1 20); do
  echo "value-$i" | "$BIN" --config "$WORK/pod.toml" vault set "bench.key$i"
done
hyperfine -N -w 2 -r "$RUNS" \
  "$BIN --config $WORK/pod.toml vault ls" \
  "$BIN --config $WORK/pod.toml vault get bench.key7"
/usr/bin/time -f 'peak RSS of one unlock: %M KiB, %e s' "$BIN" --config "$WORK/pod.toml" vault ls >/dev/null
