#!/usr/bin/env bash
# Installs the C library of syncwright: `bash scripts/install-c.sh PREFIX`.
#
# Builds the ffi crate (a no-op when it is built already) and installs
#   PREFIX/include/syncwright.h
#   PREFIX/lib/libsyncwright_ffi.so.<version>      soname libsyncwright_ffi.so.<major>
#   PREFIX/lib/libsyncwright_ffi.so.<major>        -> libsyncwright_ffi.so.<version>
#   PREFIX/lib/libsyncwright_ffi.so                -> libsyncwright_ffi.so.<major>
#   PREFIX/lib/libsyncwright_ffi.a
#   PREFIX/lib/pkgconfig/syncwright.pc             pkg-config module `syncwright`
# so that a program builds with `cc app.c $(pkg-config --cflags --libs syncwright)` once PREFIX/lib/pkgconfig is
# on PKG_CONFIG_PATH (and runs once PREFIX/lib is on the loader's path: ldconfig, LD_LIBRARY_PATH or an rpath).
#
# Environment:
#   DESTDIR             staging root: files go to $DESTDIR$PREFIX, while the .pc file still names PREFIX
#   PROFILE             cargo profile to build with (default: release; scripts/test.sh uses ci)
#   CARGO_TARGET_DIR    as for cargo (default: the workspace's target/)
#   CARGO_BUILD_TARGET  as for cargo (scripts/test.sh sets it)
#   CARGO               the cargo to run (default: cargo)
# With the same PROFILE, CARGO_TARGET_DIR and CARGO_BUILD_TARGET as an earlier build, nothing is compiled again.

set -euo pipefail

usage() { echo "usage: [DESTDIR=...] [PROFILE=release] $0 PREFIX" >&2; exit 2; }
die() { printf 'install-c.sh: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || usage
PREFIX=$1
case "$PREFIX" in
    /*) ;;
    "") usage ;;
    *) die "PREFIX must be an absolute path (it is written into syncwright.pc): $PREFIX" ;;
esac
PREFIX=${PREFIX%/}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROFILE=${PROFILE:-release}
CARGO=${CARGO:-cargo}
DEST="${DESTDIR:-}$PREFIX"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One build of the library with its usual crate types (cdylib, staticlib, rlib), asking rustc for the native
# libraries the static library needs. When the crate is fresh, cargo replays rustc's messages, that note included.
# The JSON messages on stdout name the files built; the note is rendered on stderr.
echo "building syncwright-ffi (profile $PROFILE)" >&2
if ! (cd "$ROOT" && "$CARGO" rustc -p syncwright-ffi --lib --profile "$PROFILE" \
    --message-format=json-render-diagnostics -- --print native-static-libs) >"$work/messages" 2>"$work/stderr"; then
    cat "$work/stderr" >&2
    die "cargo rustc -p syncwright-ffi failed"
fi
grep -v '^note: \|^ *$' "$work/stderr" >&2 || true

artefact() {
    # The path of the built file ending in $1, from the compiler-artifact message of syncwright-ffi.
    grep '"reason":"compiler-artifact"' "$work/messages" | grep '"name":"syncwright_ffi"' |
        grep -o '"[^"]*/libsyncwright_ffi\.'"$1"'"' | tail -n 1 | tr -d '"'
}
SO=$(artefact so)
ARCHIVE=$(artefact a)
[ -f "$SO" ] || die "cargo built no libsyncwright_ffi.so"
[ -f "$ARCHIVE" ] || die "cargo built no libsyncwright_ffi.a"

NATIVE_LIBS=$(sed -n 's/^note: native-static-libs: //p' "$work/stderr" | tail -n 1)
[ -n "$NATIVE_LIBS" ] || die "rustc did not say which native libraries libsyncwright_ffi.a needs"

# The package id ends in "#syncwright-ffi@0.1.0" (or "#0.1.0" in older cargo).
PKGID=$(cd "$ROOT" && "$CARGO" pkgid -p syncwright-ffi)
VERSION=${PKGID##*#}
VERSION=${VERSION##*@}
case "$VERSION" in
    [0-9]*.[0-9]*.[0-9]*) ;;
    *) die "cannot read the crate version from $PKGID" ;;
esac
MAJOR=${VERSION%%.*}
SONAME=libsyncwright_ffi.so.$MAJOR
if command -v readelf >/dev/null 2>&1; then
    readelf -d "$SO" | grep -q "Library soname: \[$SONAME\]" || die "$SO does not have the soname $SONAME"
fi

echo "installing syncwright $VERSION into ${DEST}" >&2
install -d "$DEST/include" "$DEST/lib/pkgconfig"
install -m 644 "$ROOT/include/syncwright.h" "$DEST/include/syncwright.h"
install -m 755 "$SO" "$DEST/lib/libsyncwright_ffi.so.$VERSION"
ln -sfn "libsyncwright_ffi.so.$VERSION" "$DEST/lib/$SONAME"
ln -sfn "$SONAME" "$DEST/lib/libsyncwright_ffi.so"
install -m 644 "$ARCHIVE" "$DEST/lib/libsyncwright_ffi.a"

cat >"$work/syncwright.pc" <<EOF
prefix=$PREFIX
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: syncwright
Description: Keeps folders in sync with NAS shares, SSH hosts and cloud storage (the C library of syncwright)
Version: $VERSION
Cflags: -I\${includedir}
Libs: -L\${libdir} -lsyncwright_ffi
Libs.private: $NATIVE_LIBS
EOF
install -m 644 "$work/syncwright.pc" "$DEST/lib/pkgconfig/syncwright.pc"

echo "installed: $PREFIX/include/syncwright.h, $PREFIX/lib/libsyncwright_ffi.{so.$VERSION,so.$MAJOR,so,a}," \
    "$PREFIX/lib/pkgconfig/syncwright.pc" >&2
