#!/usr/bin/env bash
# Install a notebook-vend wheel into a fresh venv with no index (offline: the wheel must need nothing
# else) and run the installed command: `--version` (the wheel's version is the crate's) and
# `policy end-user --output json` (must parse as JSON). Used by scripts/release.sh on the release wheel
# and by scripts/test.sh on a dev-profile wheel.
#
#   scripts/wheel-check.sh path/to/notebook_vend-*.whl
#   scripts/wheel-check.sh --build       # build a dev-profile wheel from target/debug first (CI)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

[ $# = 1 ] || { echo "wheel-check: give one wheel file, or --build" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
VERSION="$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["package"]["version"])')"

if [ "$1" = --build ]; then
  . "$ROOT/scripts/release-venv.sh"
  # The dev profile reuses what `cargo build`/`cargo test` compiled in target/debug: only the
  # binary is linked again. `--compatibility linux`: no manylinux audit for a wheel that never
  # leaves this machine (the release wheel is built and audited by scripts/release.sh).
  start=$(date +%s)
  "$VENV/bin/maturin" build --profile dev --locked --strip --compatibility linux --out "$WORK/wheel" >&2
  echo "wheel-check: dev wheel built in $(( $(date +%s) - start )) s" >&2
  wheel="$(ls "$WORK"/wheel/*.whl)"
else
  wheel="$1"
  [ -f "$wheel" ] || { echo "wheel-check: no such wheel: $wheel" >&2; exit 2; }
fi

"${PYTHON:-python3}" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check --no-index "$wheel" >&2
nv="$WORK/venv/bin/notebook-vend"
[ -x "$nv" ] || { echo "wheel-check: FAILED: the wheel installed no notebook-vend command" >&2; exit 1; }

got="$("$nv" --version)"
[ "$got" = "notebook-vend $VERSION" ] ||
  { echo "wheel-check: FAILED: --version printed '$got', expected 'notebook-vend $VERSION'" >&2; exit 1; }
# A blank HOME and no AWS settings: `policy` needs no credentials and sends nothing.
env -i PATH=/usr/bin:/bin HOME="$WORK" "$nv" policy end-user --output json >"$WORK/policy.json"
"$WORK/venv/bin/python" - "$WORK/policy.json" <<'PY'
import json
import sys

with open(sys.argv[1]) as f:
    doc = json.load(f)
statements = doc.get("Statement") if isinstance(doc, dict) else None
if not statements:
    sys.exit(f"wheel-check: FAILED: policy end-user --output json has no Statement: {str(doc)[:200]}")
PY
echo "wheel-check: ok: $(basename "$wheel") installs offline; $got; policy end-user is JSON" >&2
