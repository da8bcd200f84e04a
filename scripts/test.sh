#!/usr/bin/env bash
# The whole test suite, end-to-end tests included, from a fresh clone:
#   1. the Python sandbox in .sandbox/venv (pinned: tests/sandbox/requirements.txt), started on a free port;
#   2. checkov and parliament in .sandbox/checkov-venv (pinned: tests/templates/requirements-checkov.txt; its pins
#      clash with moto's, hence its own venv);
#   3. the sandbox's and the templates' own tests (pytest, cfn-lint, checkov);
#   4. cargo test: unit, parser and end-to-end tests of the real binary against the sandbox (the home page's
#      browser test drives Debian's chromium through chromium-driver: both installed here with apt-get when
#      missing, as root or through sudo);
#   5. the pip wheel: built with the dev profile from target/debug (maturin, pinned in
#      scripts/requirements-release.txt), installed offline into a fresh venv and run (scripts/wheel-check.sh).
# Before all of that, and failing the run on any finding: rustfmt and clippy (warnings are errors), then,
# once the sandbox venv exists, ruff (lint and format, ruff.toml) over all the Python, so that formatting
# and lints are checked by the same command CI and a developer run.
# A sandbox this script started is stopped at the end; one already running is reused and left up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "== cargo fmt --check and cargo clippy -D warnings" >&2
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

started=0
scripts/sandbox.sh status >/dev/null 2>&1 || started=1
# `up` also brings the venv up to date with tests/sandbox/requirements.txt when a sandbox already runs
scripts/sandbox.sh up
stop() { [ "$started" = 1 ] && scripts/sandbox.sh down >/dev/null 2>&1 || true; }
trap stop EXIT

# the sandbox venv (ensured by `scripts/sandbox.sh up` above) holds the pinned ruff
echo "== ruff check and ruff format --check (all Python: tests/sandbox, tests/templates, tests/fixtures, scripts/bench)" >&2
.sandbox/venv/bin/ruff check .
.sandbox/venv/bin/ruff format --check .

CK_VENV="$ROOT/.sandbox/checkov-venv"
CK_REQ="$ROOT/tests/templates/requirements-checkov.txt"
want="$(sha256sum "$CK_REQ" | cut -d' ' -f1)"
if [ ! -x "$CK_VENV/bin/checkov" ] || [ "$(cat "$CK_VENV/.req-hash" 2>/dev/null)" != "$want" ]; then
  echo "test: installing checkov into $CK_VENV" >&2
  python3 -m venv "$CK_VENV"
  "$CK_VENV/bin/pip" install -q --disable-pip-version-check -r "$CK_REQ"
  echo "$want" >"$CK_VENV/.req-hash"
fi

echo "== sandbox and template tests (pytest)" >&2
CHECKOV="$CK_VENV/bin/checkov" .sandbox/venv/bin/python -m pytest -q tests/sandbox tests/templates

echo "== chromium and chromium-driver for the browser test (tests/e2e/browser.rs)" >&2
if ! command -v chromedriver >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; then
  as_root=""
  [ "$(id -u)" = 0 ] || as_root="sudo"
  $as_root apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
echo "$(chromium --version 2>/dev/null)" >&2  # the Debian wrapper script warns on stderr about its own tests

echo "== cargo test" >&2
PARLIAMENT="$CK_VENV/bin/parliament" cargo test --locked --all-targets -- --test-threads "${TEST_THREADS:-4}"

echo "== the pip wheel (dev profile), installed into a fresh venv" >&2
scripts/wheel-check.sh --build
