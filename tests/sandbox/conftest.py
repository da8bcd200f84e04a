"""Shared fixture of the sandbox tests: a sandbox server of its own per test module (own
SANDBOX_DIR, free port), started with tests/sandbox/server.py."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def sandbox():
    d = tempfile.mkdtemp(prefix="sandbox-test-")
    env = dict(os.environ, SANDBOX_DIR=d, SANDBOX_RECORD_SECONDS="0.5")
    for k in ("SANDBOX_FAULT_RATE", "SANDBOX_LATENCY_MS", "AWS_PROFILE"):
        env.pop(k, None)
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=open(os.path.join(d, "server.log"), "w"), text=True)
    line = proc.stdout.readline()
    assert line.startswith("READY "), line
    port = int(line.split()[1])
    assert open(os.path.join(d, "port")).read().strip() == str(port)
    yield {"dir": d, "url": f"http://127.0.0.1:{port}"}
    proc.terminate()
    proc.wait(10)
