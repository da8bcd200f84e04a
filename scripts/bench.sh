#!/usr/bin/env bash
# Benchmarks: notebook-vend vs the blog's reference workflow (boto3 waiter), a sequential boto3
# refresh loop and the AWS CLI, on a dedicated sandbox (.sandbox/bench, its own port) so that tests
# on the shared one are not disturbed. Prints figures (JSON on stdout, progress on stderr); never
# asserts a timing. See BENCHMARKS.md for the last results and how to read them.
#
#   scripts/bench.sh                    # release binary (built if missing), all parts
#   NV_BIN=path/to/notebook-vend scripts/bench.sh
#   BENCH_PENDINGS="8 25 50" BENCH_USERS=200 BENCH_RUNS=7 scripts/bench.sh
#   BENCH_CLEAN_BUILD=1 scripts/bench.sh   # also time one clean release build (nice, own target dir)
#   BENCH_ONLY=quotas NV_BIN=target/debug/notebook-vend scripts/bench.sh   # request quotas only
#   BENCH_ONLY=size BENCH_BINS="before=path after=path" scripts/bench.sh   # binaries side by side: size, RSS, CPU
#   BENCH_ONLY=schedule NV_BIN=target/debug/notebook-vend scripts/bench.sh   # what schedules add per user
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export SANDBOX_DIR="$ROOT/.sandbox/bench"
VENV="$ROOT/.sandbox/bench-venv"
REQ="$ROOT/scripts/bench/requirements.txt"
PYTHON="${PYTHON:-python3}"

# bench venv: boto3 and the AWS CLI, pinned
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat "$VENV/.req-hash" 2>/dev/null || true)"
if [ ! -x "$VENV/bin/python" ] || [ "$want" != "$have" ]; then
  echo "bench: installing $REQ into $VENV" >&2
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" >&2
  echo "$want" >"$VENV/.req-hash"
fi

BUILD_LOG="${BENCH_BUILD_LOG:-}"
if [ "${BENCH_CLEAN_BUILD:-0}" = 1 ]; then
  BUILD_LOG="$SANDBOX_DIR/clean-build.log"
  mkdir -p "$SANDBOX_DIR"
  tdir="$(mktemp -d)"
  echo "bench: clean release build in $tdir (nice)" >&2
  start=$(date +%s)
  rc=0
  CARGO_TARGET_DIR="$tdir" nice cargo build --release --locked >"$BUILD_LOG" 2>&1 || rc=$?
  echo "rc=$rc secs=$(( $(date +%s) - start ))" >>"$BUILD_LOG"
  rm -rf "$tdir"
fi

NV_BIN="${NV_BIN:-$ROOT/target/release/notebook-vend}"
if [ -n "${BENCH_BINS:-}" ]; then
  NV_BIN="${BENCH_BINS%% *}"
  NV_BIN="${NV_BIN#*=}"
elif [ ! -x "$NV_BIN" ]; then
  echo "bench: building the release binary" >&2
  cargo build --release --locked >&2
fi
export NV_BIN

# dedicated sandbox, stopped on exit whatever happens
rm -f "$SANDBOX_DIR/requests.log" "$SANDBOX_DIR/events.log"
SANDBOX_PORT="${BENCH_PORT:-}" scripts/sandbox.sh up
trap 'scripts/sandbox.sh down' EXIT
export SANDBOX_PORT="$(cat "$SANDBOX_DIR/port")"
# BENCH_ONLY=quotas runs only the request-quota part (scripts/bench/quotas.py); BENCH_ONLY=base only
# the original parts (run.py); default both.
case "${BENCH_ONLY:-all}" in
  base) BENCH_BUILD_LOG="$BUILD_LOG" "$VENV/bin/python" "$ROOT/scripts/bench/run.py" ;;
  quotas) "$VENV/bin/python" "$ROOT/scripts/bench/quotas.py" ;;
  size) "$VENV/bin/python" "$ROOT/scripts/bench/size.py" ;;
  schedule) "$VENV/bin/python" "$ROOT/scripts/bench/schedule.py" ;;
  *)
    BENCH_BUILD_LOG="$BUILD_LOG" "$VENV/bin/python" "$ROOT/scripts/bench/run.py"
    "$VENV/bin/python" "$ROOT/scripts/bench/quotas.py"
    ;;
esac
