#!/usr/bin/env bash
# Local AWS sandbox (moto + extensions) for notebook-vend's tests.
#   scripts/sandbox.sh up|down|env|status
# SANDBOX_DIR (default .sandbox), SANDBOX_PORT (default: a free port) and every other SANDBOX_*
# variable (SANDBOX_RECORD_SECONDS, SANDBOX_PENDING_SECONDS, SANDBOX_FAULT_RATE, SANDBOX_FAULT_SEED,
# SANDBOX_LATENCY_MS) are passed to the server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SANDBOX_DIR="${SANDBOX_DIR:-$ROOT/.sandbox}"
mkdir -p "$SANDBOX_DIR"
SANDBOX_DIR="$(cd "$SANDBOX_DIR" && pwd)"
export SANDBOX_DIR
# one venv per checkout, shared by every sandbox dir
VENV="${SANDBOX_VENV:-$ROOT/.sandbox/venv}"
REQ="$ROOT/tests/sandbox/requirements.txt"
PIDFILE="$SANDBOX_DIR/server.pid"
PYTHON="${PYTHON:-python3}"

gitignore() {
  local gi="$ROOT/.gitignore"
  touch "$gi"
  grep -qxF '/target' "$gi" || echo '/target' >>"$gi"
  grep -qxF '/.sandbox/' "$gi" || echo '/.sandbox/' >>"$gi"
}

ensure_venv() {
  local want have=""
  want="$(sha256sum "$REQ" | cut -d' ' -f1)"
  [ -f "$VENV/.req-hash" ] && have="$(cat "$VENV/.req-hash")"
  if [ ! -x "$VENV/bin/python" ] || [ "$want" != "$have" ]; then
    echo "sandbox: installing $REQ into $VENV" >&2
    mkdir -p "$(dirname "$VENV")"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" >&2
    echo "$want" >"$VENV/.req-hash"
  fi
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

write_env() {
  local port="$1"
  cat >"$SANDBOX_DIR/env" <<EOT
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=123456789012
export AWS_SECRET_ACCESS_KEY=sandbox
export SANDBOX_DIR=$SANDBOX_DIR
export SANDBOX_PORT=$port
EOT
}

up() {
  gitignore
  ensure_venv
  if running; then
    local port
    port="$(cat "$SANDBOX_DIR/port")"
    write_env "$port"
    echo "sandbox: already running (pid $(cat "$PIDFILE"), port $port)" >&2
    return 0
  fi
  rm -f "$SANDBOX_DIR/port"
  local port_arg="${SANDBOX_PORT:-0}"
  # never reach a real endpoint or pick up a user's profile
  nohup env -u AWS_PROFILE PYTHONPATH="$ROOT/tests/sandbox" "$VENV/bin/python" -m nvsandbox --port "$port_arg" \
    >"$SANDBOX_DIR/server.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local i
  for i in $(seq 1 300); do
    if grep -q '^READY ' "$SANDBOX_DIR/server.log" 2>/dev/null && [ -s "$SANDBOX_DIR/port" ]; then
      local port
      port="$(tr -d '[:space:]' <"$SANDBOX_DIR/port")"
      write_env "$port"
      echo "sandbox: up on 127.0.0.1:$port (pid $(cat "$PIDFILE")); source $SANDBOX_DIR/env" >&2
      return 0
    fi
    if ! running; then
      echo "sandbox: server exited during start; log:" >&2
      tail -n 40 "$SANDBOX_DIR/server.log" >&2 || true
      rm -f "$PIDFILE"
      return 1
    fi
    sleep 0.1
  done
  echo "sandbox: not ready after 30 s; log:" >&2
  tail -n 40 "$SANDBOX_DIR/server.log" >&2 || true
  kill "$(cat "$PIDFILE")" 2>/dev/null || true
  rm -f "$PIDFILE"
  return 1
}

down() {
  if running; then
    local pid
    pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    echo "sandbox: stopped (pid $pid)" >&2
  else
    echo "sandbox: not running" >&2
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) cat "$SANDBOX_DIR/env" ;;
  status)
    if running; then echo "running pid $(cat "$PIDFILE") port $(cat "$SANDBOX_DIR/port")"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 up|down|env|status" >&2; exit 2 ;;
esac
