"""Serverless mode on the sandbox's own delivery: a notebook enters InService -> SageMaker's event ->
EventBridge rule -> the watch function (this binary in Lambda mode, run by the sandbox's Runtime API)
-> URL stored. Nobody polls: the sandbox's scheduler sends the event when the transition is due.

    python scripts/bench/serverless_delivery.py BIN [RUNS]     (BIN: a Linux build, e.g. stripped release)

Starts a sandbox of its own (free port, temporary dir), deploys the repo's stacks, the function and
the rule, provisions one user through Service Catalog, then stops and starts the notebook RUNS times.
Per start: InService (the transition's own moment, events.log) -> the function's answer `stored`
(lambda-invocations `at`, after the URL was written). Also the init time of the function's first
environment (process start -> first /next). Prints JSON. Nothing here is asserted by a test.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "sandbox", "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "sandbox"))

import test_serverless_delivery as t  # noqa: E402
from support import bootstrap, client, control, new_account, provision  # noqa: E402


def start_sandbox(python: str) -> tuple[subprocess.Popen, dict]:
    d = tempfile.mkdtemp(prefix="bench-delivery-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "AWS_"))}
    env.update(
        SANDBOX_DIR=d,
        PYTHONPATH=os.path.join(ROOT, "tests", "sandbox"),
        SANDBOX_RECORD_SECONDS="0.2",
        SANDBOX_PENDING_SECONDS="0.3",
    )
    proc = subprocess.Popen(
        [python, "-m", "nvsandbox", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(os.path.join(d, "server.log"), "w"),
        text=True,
    )
    port = int(proc.stdout.readline().split()[1])
    return proc, {"dir": d, "url": f"http://127.0.0.1:{port}"}


def zipped(binary: str) -> bytes:
    """The Lambda package: the binary as an executable `bootstrap`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(binary, "rb") as f:
            z.writestr(info, f.read())
    return buf.getvalue()


def main() -> None:
    binary, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
    proc, sb = start_sandbox(sys.executable)
    try:
        package = zipped(binary)
        a = new_account()
        control(sb, "config", {"account_id": a, "sagemaker_event_duplicate_rate": 0})
        d = bootstrap(sb, a)
        fn = t.function(sb, a, package, "nv-watch", "watch")
        t.rule_to(sb, a, fn)
        assert provision(sb, a, d, "alice")["Status"] == "SUCCEEDED"
        ssm, sm = client(sb, "ssm", a), client(sb, "sagemaker", a)
        assert t.wait_for(lambda: t.stored(ssm, "alice"))
        control(sb, "events-flush", {"account_id": a})
        for _ in range(runs):
            time.sleep(1.0)  # a later second than the last write (see the test's next_second)
            sm.stop_notebook_instance(NotebookInstanceName="alice-Notebook")
            time.sleep(0.4)
            sm.start_notebook_instance(NotebookInstanceName="alice-Notebook")
            time.sleep(0.4)
            control(sb, "events-flush", {"account_id": a})
        with open(os.path.join(sb["dir"], "events.log")) as f:
            lines = [ln.split() for ln in f]
        in_service = sorted(float(x[0]) for x in lines if x[1:5] == [a, "notebook", "alice-Notebook", "InService"])
        stored = []
        invs = t.invocations(sb, a, "nv-watch")
        for inv in invs:
            answer = json.loads(inv["payload"]) if inv["ok"] else {}
            if answer.get("result") == "stored":
                stored.append(inv["at"])
        latencies = []
        for at in stored:
            before = [s for s in in_service if s <= at]
            if before:
                latencies.append((at - before[-1]) * 1000)
        init = [i["init_ms"] for i in invs if i.get("init_ms") is not None]
        out = {
            "runs": len(latencies),
            "in_service_to_stored_ms": {
                "p50": round(statistics.median(latencies), 1),
                "max": round(max(latencies), 1),
                "all": [round(x, 1) for x in latencies],
            },
            "init_ms": [round(x, 1) for x in init],
        }
        print(json.dumps(out, indent=2))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
