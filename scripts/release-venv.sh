# Sourced by scripts/release.sh and scripts/wheel-check.sh: the release tools (maturin, ziglang) pinned in
# scripts/requirements-release.txt, in .sandbox/release-venv, reinstalled when the pins change.
# Sets VENV and puts its bin first on PATH (maturin finds zig as `python -m ziglang` there).
VENV="$ROOT/.sandbox/release-venv"
_req="$ROOT/scripts/requirements-release.txt"
_want="$(sha256sum "$_req" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/maturin" ] || [ "$(cat "$VENV/.req-hash" 2>/dev/null)" != "$_want" ]; then
  echo "release: installing $_req into $VENV" >&2
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$_req" >&2
  echo "$_want" >"$VENV/.req-hash"
fi
export PATH="$VENV/bin:$PATH"
unset _req _want
