"""The one fixture of the sandbox tests: a sandbox server of its own per test module (own SANDBOX_DIR,
free port), started as scripts/sandbox.sh starts it (`python -m nvsandbox`).

A test module that needs other settings than DEFAULT_ENV says so in a module-level `SANDBOX_ENV` dict
(e.g. shorter notebook and record times)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

SANDBOX_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/sandbox: holds nvsandbox
if SANDBOX_ROOT not in sys.path:
    sys.path.insert(0, SANDBOX_ROOT)

DEFAULT_ENV = {"SANDBOX_RECORD_SECONDS": "0.5"}
# a developer's environment must not fault, slow down, throttle or re-route the tests' sandbox
CLEARED_ENV = ("SANDBOX_FAULT_RATE", "SANDBOX_LATENCY_MS", "SANDBOX_QUOTAS", "AWS_PROFILE")


@pytest.fixture(scope="module")
def sandbox(request):
    d = tempfile.mkdtemp(prefix="sandbox-test-")
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(DEFAULT_ENV)
    env.update(getattr(request.module, "SANDBOX_ENV", {}))
    env.update(SANDBOX_DIR=d, PYTHONPATH=SANDBOX_ROOT)
    log_path = os.path.join(d, "server.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nvsandbox", "--port", "0"], env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.wait(10)
        with open(log_path) as f:
            pytest.fail(f"the sandbox did not start (exit {proc.returncode}):\n{f.read()}")
    port = int(line.split()[1])
    with open(os.path.join(d, "port")) as f:
        assert f.read().strip() == str(port)
    yield {"dir": d, "url": f"http://127.0.0.1:{port}"}
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()
    # The server's logs and state (with Lambda functions, their unpacked code: hundreds of MB per
    # module) go with it, unless SANDBOX_TEST_KEEP=1 keeps them to look at.
    if os.environ.get("SANDBOX_TEST_KEEP") != "1":
        shutil.rmtree(d, ignore_errors=True)
