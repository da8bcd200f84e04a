#!/usr/bin/env bash
# Release artifacts, from one release build per target (README, "Releasing"):
#   notebook_vend-<version>-py3-none-manylinux2014_<arch>.manylinux_2_17_<arch>.whl   (PyPI; maturin, bindings = "bin")
#   notebook-vend-<version>-<target>.tar.gz + .sha256                                (GitHub release; cargo binstall)
#   notebook-vend-<version>-lambda-<x86_64|arm64>.zip + .sha256                      (Lambda, runtime provided.al2023)
# The binary in the tarball and in the zip is the one in the wheel (taken out of it), so the three ship
# the same bytes. Checked before anything is written to the output directory: the binary's glibc floor
# (highest GLIBC_x.y symbol version it needs: <= 2.17 for manylinux2014, <= 2.34 for AL2023's Lambda
# runtime) and its size (<= 15 MB); the x86_64 wheel is installed into a fresh venv, offline, and run.
#
#   scripts/release.sh                       # x86_64, into dist/
#   scripts/release.sh --out DIR             # another output directory
#   scripts/release.sh --aarch64             # also aarch64-unknown-linux-gnu (cross, through zig)
#   scripts/release.sh --target aarch64-unknown-linux-gnu   # that target only
#
# maturin and zig (the `ziglang` package) come from PyPI, pinned in scripts/requirements-release.txt,
# installed into .sandbox/release-venv. zig links against glibc 2.17's symbols (`--zig`): a plain build
# on this machine (glibc 2.36) would need newer ones, which a manylinux2014 wheel may not.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

OUT="$ROOT/dist"
TARGETS=(x86_64-unknown-linux-gnu)
while [ $# -gt 0 ]; do
  case "$1" in
    --out)
      [ $# -ge 2 ] || { echo "release: --out needs a directory" >&2; exit 2; }
      OUT="$2"
      shift 2
      ;;
    --aarch64) TARGETS+=(aarch64-unknown-linux-gnu); shift ;;
    --target)
      # one target only (a rebuild of one architecture): x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu
      case "${2:-}" in
        x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu) TARGETS=("$2") ;;
        *) echo "release: --target takes x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu, not '${2:-}'" >&2; exit 2 ;;
      esac
      shift 2
      ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "release: unknown argument '$1' (allowed: --out DIR, --aarch64, --target TRIPLE)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# Limits checked on every binary (see the header).
MAX_BYTES=15000000
WHEEL_GLIBC=2.17
LAMBDA_GLIBC=2.34

. "$ROOT/scripts/release-venv.sh"

VERSION="$("$VENV/bin/python" -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["package"]["version"])')"
NAME=notebook-vend
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# Reproducible archives: file times from the last commit, not the build's clock.
EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 0)"

# version_le A B: A <= B as dotted versions
version_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ]; }

# The highest GLIBC_x.y version the binary needs (readelf reads any architecture's ELF).
glibc_floor() {
  readelf -W --version-info "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -n1
}

human() { awk -v b="$1" 'BEGIN { printf "%.1f MiB (%d bytes)", b / 1048576, b }'; }

fail() { echo "release: FAILED: $*" >&2; exit 1; }

declare -a PRODUCED=()
for target in "${TARGETS[@]}"; do
  arch="${target%%-*}"
  case "$arch" in
    x86_64) lambda_arch=x86_64 ;;
    aarch64) lambda_arch=arm64 ;;
    *) fail "no Lambda architecture for $target" ;;
  esac
  echo "== $target: release build and wheel (maturin, manylinux2014, zig)" >&2
  start=$(date +%s)
  wheels="$WORK/wheels-$arch"
  "$VENV/bin/maturin" build --release --locked --zig --target "$target" \
    --compatibility manylinux2014 --out "$wheels" >&2
  echo "release: $target built in $(( $(date +%s) - start )) s" >&2
  wheel="$(ls "$wheels"/*.whl)"
  [ "$(echo "$wheel" | wc -l)" = 1 ] || fail "expected one wheel in $wheels, found: $wheel"

  # The binary as shipped: the wheel's own copy.
  bin="$WORK/$arch/$NAME"
  mkdir -p "$WORK/$arch"
  unzip -p "$wheel" "notebook_vend-$VERSION.data/scripts/$NAME" >"$bin"
  chmod 0755 "$bin"

  floor="$(glibc_floor "$bin")"
  size="$(stat -c %s "$bin")"
  echo "release: $target binary: $(human "$size"), glibc floor $floor" >&2
  version_le "$floor" "$WHEEL_GLIBC" ||
    fail "$target binary needs GLIBC_$floor; a manylinux2014 wheel allows at most $WHEEL_GLIBC"
  version_le "$floor" "$LAMBDA_GLIBC" ||
    fail "$target binary needs GLIBC_$floor; Lambda's provided.al2023 has glibc $LAMBDA_GLIBC"
  [ "$size" -le "$MAX_BYTES" ] ||
    fail "$target binary is $(human "$size"), over the $MAX_BYTES-byte limit (see Cargo.toml [profile.release])"

  if [ "$arch" = "$(uname -m)" ]; then
    echo "== $target: the wheel in a fresh venv, offline" >&2
    "$ROOT/scripts/wheel-check.sh" "$wheel"
  else
    echo "release: $target wheel not run here (host is $(uname -m))" >&2
  fi

  # tarball for GitHub releases / cargo binstall ([package.metadata.binstall] in Cargo.toml)
  stem="$NAME-$VERSION-$target"
  stage="$WORK/$stem"
  mkdir -p "$stage"
  cp "$bin" "$stage/$NAME"
  cp README.md "$stage/"
  [ -f LICENSE ] && cp LICENSE "$stage/"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$EPOCH" -C "$WORK" -cf - "$stem" |
    gzip -9n >"$WORK/$stem.tar.gz"

  # Lambda: a custom runtime runs the executable named `bootstrap` at the zip's root.
  zipname="$NAME-$VERSION-lambda-$lambda_arch.zip"
  zdir="$WORK/lambda-$arch"
  mkdir -p "$zdir"
  cp "$bin" "$zdir/bootstrap"
  touch -d "@$EPOCH" "$zdir/bootstrap"
  (cd "$zdir" && TZ=UTC zip -q -X -9 "$WORK/$zipname" bootstrap)

  mv "$wheel" "$OUT/"
  mv "$WORK/$stem.tar.gz" "$WORK/$zipname" "$OUT/"
  for f in "$stem.tar.gz" "$zipname"; do
    (cd "$OUT" && sha256sum "$f" >"$f.sha256")
  done
  PRODUCED+=("$(basename "$wheel")" "$stem.tar.gz" "$stem.tar.gz.sha256" "$zipname" "$zipname.sha256")
  echo "$size $target binary" >>"$WORK/binaries"
done

if ! "$VENV/bin/python" -c 'import sys, tomllib; sys.exit(0 if tomllib.load(open("Cargo.toml", "rb"))["package"].get("repository") else 1)'; then
  echo "release: warning: Cargo.toml has no [package] repository: cargo binstall cannot build the tarball URL" >&2
fi
echo "== produced in $OUT" >&2
while read -r size what; do
  printf '%-60s %s\n' "$what" "$(human "$size")"
done <"$WORK/binaries"
for f in "${PRODUCED[@]}"; do
  printf '%-60s %s\n' "$f" "$(human "$(stat -c %s "$OUT/$f")")"
done
