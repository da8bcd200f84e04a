#!/usr/bin/env bash
# The main job on the local sandbox, from a fresh clone: starts the sandbox, builds the binary,
# then runs the blog's whole workflow with notebook-vend. Nothing leaves 127.0.0.1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/sandbox.sh up
# shellcheck disable=SC1091
source .sandbox/env
# A fresh account of the sandbox for each demo run, so it always starts from nothing.
export AWS_ACCESS_KEY_ID="$(printf '8%011d' "$(( $(date +%s) % 100000000000 ))")"
# The sandbox's notebooks take a few seconds to come up, like a (much) faster AWS.
curl -fsS -X POST "$AWS_ENDPOINT_URL/_sandbox/config" -H 'content-type: application/json' \
  -d "{\"account_id\": \"$AWS_ACCESS_KEY_ID\", \"pending_seconds\": 3, \"record_seconds\": 1}" >/dev/null

cargo build --quiet
nv() { echo; echo "\$ notebook-vend $*"; ./target/debug/notebook-vend "$@"; }
# A presigned URL is a credential: the demo shows its shape, not its token.
redact() { sed -E 's/authToken=[A-Za-z0-9._-]+/authToken=<redacted>/g'; }

nv bootstrap
nv bootstrap                      # again: nothing changes, nothing is written
nv provision --user demo-user
nv url --user demo-user --stored | redact
nv refresh --user demo-user
nv url --user demo-user | redact  # a fresh URL, valid 5 minutes
nv list
nv status --user demo-user
nv stop --user demo-user
nv start --user demo-user --refresh
nv cull --max-age 1h --dry-run
nv doctor
nv terminate --user demo-user --yes
nv teardown --yes
