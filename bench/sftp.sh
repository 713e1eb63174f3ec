#!/usr/bin/env bash
# Benchmarks syncwright over SFTP against rsync -a -e ssh and rclone sync (sftp remote), all through one loopback
# sshd started here with generated keys (see README.md in this folder).
#   bash bench/sftp.sh                       # the media tree at SCALE=0.25 (~5,000 files, ~700 MB), 5 runs
#   SCALE=1 RUNS=7 bash bench/sftp.sh        # the full ~20,000-file tree
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/syncwright-bench}
RUNS=${RUNS:-5}
SCALE=${SCALE:-0.25}
SCEN=${SCENARIOS:-push_initial,push_nochange,pull_initial,pull_nochange}
need=()
for c in rsync hyperfine rclone ssh-keygen; do command -v "$c" >/dev/null || need+=("$c"); done
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync hyperfine rclone openssh-server openssh-client >/dev/null
fi
cargo build --release -p syncwright-cli
BIN=$PWD/target/release/syncwright
SRC=$BENCH_DIR/src-media-$SCALE
[ -d "$SRC" ] || python3 bench/gen_tree.py "$SRC" --profile media --scale "$SCALE"

S=$BENCH_DIR/sshd
rm -rf "$S" && mkdir -p "$S"
ssh-keygen -q -t ed25519 -N '' -f "$S/host"
ssh-keygen -q -t ed25519 -N '' -f "$S/client"
cp "$S/client.pub" "$S/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$S/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $S/host
AuthorizedKeysFile $S/authorized_keys
PidFile $S/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
MaxStartups 100
MaxSessions 100
CONF
echo "[127.0.0.1]:$PORT $(cat "$S/host.pub")" > "$S/known_hosts"
[ "$(id -u)" -ne 0 ] || mkdir -p /run/sshd
/usr/sbin/sshd -f "$S/sshd_config"   # daemonises once it listens
trap 'kill "$(cat "$S/sshd.pid")" 2>/dev/null || true' EXIT
unset AWS_CA_BUNDLE
python3 bench/sftp.py --src "$SRC" --work "$BENCH_DIR/work-sftp" --bin "$BIN" --port "$PORT" --user "$(id -un)" \
  --key "$S/client" --known-hosts "$S/known_hosts" --runs "$RUNS" --scenarios "$SCEN" \
  --json "$BENCH_DIR/results-sftp-$SCALE.json"
