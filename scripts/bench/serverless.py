"""Serverless mode figures: the binary as a Lambda custom runtime, polled through a minimal Lambda
Runtime API (the shape the Lambda developer guide documents), against a running sandbox.

    python scripts/bench/serverless.py BIN PORT [RUNS]

1. init time: process start -> first GET /2018-06-01/runtime/invocation/next, for the binary
   (`_HANDLER=watch`: settings parsed, SDK config loaded, clients built) and for a Python custom
   runtime that imports boto3 and builds the same clients (what a Python Lambda pays before its
   first event);
2. event -> URL stored: one SageMaker "Notebook Instance State Change" (InService) invocation, from
   the event handed over on /next to the answer posted (the URL is stored before the answer), for
   RUNS notebooks whose URL was deleted first (a fresh InService each).

Prints JSON. Nothing here is asserted by a test.
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PY_RUNTIME = r"""
import os, time, urllib.request
import boto3
s = boto3.session.Session()
clients = [s.client(n) for n in ("sagemaker", "ssm", "servicecatalog", "cloudformation", "sts")]
urllib.request.urlopen("http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/next")
"""


class Api:
    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()
        self.answers: dict[str, queue.Queue] = {}
        self.first_next: float | None = None
        self.handed: dict[str, float] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # noqa: ANN002
                pass

            def do_GET(self):  # noqa: N802
                if api.first_next is None:
                    api.first_next = time.perf_counter()
                rid, body = api.events.get()
                api.handed[rid] = time.perf_counter()
                data = body.encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:1:function:f")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                parts = self.path.split("/")
                rid = parts[4] if len(parts) > 5 else "init"
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                api.answers.setdefault(rid, queue.Queue()).put((time.perf_counter(), parts[-1], body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.authority = f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, rid: str, event: dict) -> tuple[float, str, bytes]:
        q = self.answers.setdefault(rid, queue.Queue())
        self.events.put((rid, json.dumps(event)))
        at, kind, body = q.get(timeout=60)
        return at - self.handed[rid], kind, body


def env(account: str, port: str, api: Api, handler: str) -> dict:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_RUNTIME_API": api.authority,
        "_HANDLER": handler,
    }


def init_time(cmd: list[str], account: str, port: str) -> float:
    api = Api()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env(account, port, api, "watch"), stderr=subprocess.DEVNULL)
    while api.first_next is None:
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[0]} exited {proc.returncode} before /next")
        time.sleep(0.0005)
    took = api.first_next - start
    proc.kill()
    proc.wait()
    api.server.shutdown()
    return took


def state_event(account: str, name: str) -> dict:
    return {
        "version": "0",
        "id": "bench",
        "detail-type": "SageMaker Notebook Instance State Change",
        "source": "aws.sagemaker",
        "account": account,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "us-east-1",
        "resources": [],
        "detail": {"NotebookInstanceName": name, "NotebookInstanceStatus": "InService"},
    }


def main() -> None:
    binary, port = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    account = "7" + str(int(time.time() * 1000))[-11:]
    base = env(account, port, Api(), "watch")
    for k in ("AWS_LAMBDA_RUNTIME_API", "_HANDLER"):
        base.pop(k)
    control = {"account_id": account, "record_seconds": 0.2, "pending_seconds": 0.2}
    subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-d", json.dumps(control), f"http://127.0.0.1:{port}/_sandbox/config"],
        check=True,
    )
    subprocess.run([binary, "bootstrap", "-q"], env=base, check=True, stdout=subprocess.DEVNULL)
    users = [f"bench{i}" for i in range(runs)]
    for u in users:
        subprocess.run([binary, "provision", "--user", u, "-q"], env=base, check=True, stdout=subprocess.DEVNULL)

    bin_init = [init_time([binary], account, port) for _ in range(runs)]
    py_init = [init_time([sys.executable, "-c", PY_RUNTIME], account, port) for _ in range(runs)]

    api = Api()
    proc = subprocess.Popen([binary], env=env(account, port, api, "watch"), stderr=subprocess.DEVNULL)
    import boto3

    ssm = boto3.client(
        "ssm",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id=account,
        aws_secret_access_key="sandbox",
    )
    lags, first = [], None
    for i, u in enumerate(users):
        ssm.delete_parameter(Name=f"/SageMaker/Notebooks/{u}-Notebook")
        time.sleep(1.05)  # the parameter's time must be after the event's (second precision)
        took, kind, body = api.invoke(f"r{i}", state_event(account, f"{u}-Notebook"))
        assert kind == "response" and json.loads(body)["result"] == "stored", body
        if first is None:
            first = took
        else:
            lags.append(took)
    proc.kill()
    proc.wait()
    ms = lambda xs: round(statistics.median(xs) * 1000, 1)  # noqa: E731
    print(
        json.dumps(
            {
                "runs": runs,
                "init_ms_median": {"notebook-vend": ms(bin_init), "python+boto3": ms(py_init)},
                "init_ms_max": {
                    "notebook-vend": round(max(bin_init) * 1000, 1),
                    "python+boto3": round(max(py_init) * 1000, 1),
                },
                "event_to_url_stored_ms": {
                    "first_invocation": round(first * 1000, 1),
                    "warm_median": ms(lags),
                    "warm_max": round(max(lags) * 1000, 1),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
