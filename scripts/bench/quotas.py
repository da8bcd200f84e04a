#!/usr/bin/env python3
"""Benchmark of bulk work at AWS's request quotas (does bulk work finish when AWS throttles?), on a
running sandbox (scripts/bench.sh starts one; `BENCH_ONLY=quotas scripts/bench.sh` runs only this part).

Printed figures only, never assertions.

1. N users (BENCH_QUOTA_USERS, default 1000) at the sandbox's default quotas (tests/sandbox/nvsandbox/core/quotas.py:
   Parameter Store throughput 40/s, documented; SageMaker notebook calls 20/s and Service Catalog
   reads 10/s, undocumented and set conservatively): `notebook-vend refresh --all` (concurrency 8,
   the default), then the peers under the same quotas: the sequential boto3 loop
   (sequential_refresh.py, botocore's default retries) and a naive concurrent loop
   (concurrent_refresh.py, 8 threads, standard retries). For each: wall time, stored PutParameter
   per second and as % of the PutParameter quota and of the binding quota, calls sent, throttles
   received, failures. The buckets are refilled (a pause) before each run.
2. M users (BENCH_USERS, default 200) at 50 ms latency without quotas: refresh --all (c8) vs the
   sequential loop, today's figure, for comparison.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "sandbox"))

import run as bench  # noqa: E402  (helpers: accounts, sandbox control, the request log)

# Default rates, from the sandbox's table (with their sources there).
from nvsandbox.core.quotas import BUCKETS  # noqa: E402

PUT_QUOTA = BUCKETS["ParameterStoreThroughput"][0]


def provision_users(account: str, ids: dict, n: int, prefix: str) -> None:
    sc = bench.client(account, "servicecatalog")

    def provision(i: int):
        user = f"{prefix}{i:04d}"
        sc.provision_product(
            ProductId=ids["product_id"],
            ProvisioningArtifactId=ids["artifact_id"],
            PathId=ids["path_id"],
            ProvisionedProductName=f"{user}-Notebook",
            ProvisionToken=f"bench-{user}",
            ProvisioningParameters=[{"Key": "NotebookUserName", "Value": user}],
            Tags=[{"Key": "Owner", "Value": user}],
        )

    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(provision, range(n)))


def served(account: str, mark: int) -> dict:
    """What the sandbox served since a mark: calls, throttles, stored PutParameter, per operation."""
    reqs = bench.requests(account)[mark:]
    ops: dict[str, dict] = {}
    for _, _, op, status in reqs:
        o = ops.setdefault(op, {"sent": 0, "ok": 0})
        o["sent"] += 1
        o["ok"] += status == "200"
    throttled = 0
    with open(os.path.join(bench.SANDBOX_DIR, "requests.log")) as f:
        lines = [ln.split() for ln in f if ln.split()[1:2] == [account]]
    for p in lines[mark:]:
        if len(p) >= 6 and p[5] == "fault=quota":
            throttled += 1
    puts = [t for t, _, op, st in reqs if op == "PutParameter" and st == "200"]
    return {
        "calls": len(reqs),
        "throttled": throttled,
        "puts": len(puts),
        "put_span": (max(puts) - min(puts)) if len(puts) > 1 else 0.0,
        "ops": ops,
    }


def figures(name: str, secs: float, users: int, failures: int, s: dict, binding: float) -> dict:
    rate = s["puts"] / secs if secs else 0.0
    return {
        "tool": name,
        "seconds": round(secs, 2),
        "users": users,
        "failures": failures,
        "stored": s["puts"],
        "put_rate": round(rate, 2),
        "pct_put_quota": round(100 * rate / PUT_QUOTA, 1),
        "pct_binding_quota": round(100 * rate / binding, 1),
        "calls": s["calls"],
        "throttled": s["throttled"],
        "pct_throttled": round(100 * s["throttled"] / s["calls"], 2) if s["calls"] else 0.0,
        "calls_per_user": round(s["calls"] / users, 2) if users else 0.0,
        "ops": s["ops"],
    }


def refill() -> None:
    time.sleep(3)  # every bucket holds at most 1 s of its rate: 3 s refills them all


def bench_at_quotas(n: int) -> dict:
    account = bench.new_account()
    ids = bench.bootstrap(account)
    bench.configure(account, record_seconds=0, pending_seconds=0)
    bench.log(f"quotas: provisioning {n} users through the sandbox API")
    t0 = time.time()
    provision_users(account, ids, n, "u")
    bench.log(f"quotas: provisioned in {time.time() - t0:.0f} s; warm-up refresh (parameters' first versions)")
    bench.nv(account, "refresh", "--all", "-q", "--concurrency", "16")
    bench.configure(account, quotas=1)
    # refresh --all calls CreatePresignedNotebookInstanceUrl then PutParameter per user: the lower of
    # their quotas binds. The peers also call DescribeNotebookInstance and AddTagsToResource.
    binding_nv = min(BUCKETS["CreatePresignedNotebookInstanceUrl"][0], PUT_QUOTA)
    binding_peer = min(
        BUCKETS[b][0]
        for b in (
            "DescribeNotebookInstance",
            "CreatePresignedNotebookInstanceUrl",
            "ParameterStoreThroughput",
            "AddTagsToResource",
        )
    )
    rows = []

    refill()
    bench.log("quotas: notebook-vend refresh --all (concurrency 8)")
    mark = len(bench.requests(account))
    code, out, err, secs, _ = bench.nv(account, "refresh", "--all", "-q", "--output", "json", check=False)
    res = json.loads(out) if out.strip() else {"failed": n, "refreshed": 0}
    row = figures("notebook-vend refresh --all (c8)", secs, n, res.get("failed", n), served(account, mark), binding_nv)
    row["client_counts"] = res.get("aws_calls", {})
    row["exit"] = code
    rows.append(row)
    bench.log(f"   {row}")

    # The same with SageMaker's (undocumented, conservatively low) rates raised above Parameter
    # Store's: PutParameter's documented quota binds, the case the target is about.
    bench.configure(account, quota_CreatePresignedNotebookInstanceUrl=100, quota_DescribeNotebookInstance=100)
    refill()
    bench.log("quotas: notebook-vend refresh --all (concurrency 8), SageMaker at 100/s")
    mark = len(bench.requests(account))
    code, out, err, secs, _ = bench.nv(account, "refresh", "--all", "-q", "--output", "json", check=False)
    res = json.loads(out) if out.strip() else {"failed": n, "refreshed": 0}
    row = figures(
        "notebook-vend refresh --all (c8), SageMaker quotas raised to 100/s",
        secs,
        n,
        res.get("failed", n),
        served(account, mark),
        PUT_QUOTA,
    )
    row["client_counts"] = res.get("aws_calls", {})
    row["exit"] = code
    rows.append(row)
    bench.log(f"   {row}")
    bench.configure(
        account,
        quota_CreatePresignedNotebookInstanceUrl=BUCKETS["CreatePresignedNotebookInstanceUrl"][0],
        quota_DescribeNotebookInstance=BUCKETS["DescribeNotebookInstance"][0],
    )

    for name, script, extra in (
        ("naive concurrent boto3 (8 threads, standard retries)", "concurrent_refresh.py", ["--threads", "8"]),
        ("sequential boto3 loop (default retries)", "sequential_refresh.py", []),
    ):
        refill()
        bench.log(f"quotas: {name}")
        mark = len(bench.requests(account))
        code, out, err, secs, _ = bench.run(
            [bench.PY, os.path.join(HERE, script), "--product-id", ids["product_id"], *extra], account
        )
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {"failures": n, "error": err[-500:]}
        row = figures(name, secs, n, res.get("failures", n), served(account, mark), binding_peer)
        row["exit"] = code
        rows.append(row)
        bench.log(f"   {row}")
    return {"users": n, "put_quota": PUT_QUOTA, "binding_nv": binding_nv, "binding_peer": binding_peer, "rows": rows}


def bench_latency(n: int) -> dict:
    account = bench.new_account()
    ids = bench.bootstrap(account)
    bench.configure(account, record_seconds=0, pending_seconds=0)
    bench.log(f"latency: provisioning {n} users")
    provision_users(account, ids, n, "r")
    bench.nv(account, "refresh", "--all", "-q", "--concurrency", "16")
    bench.configure(account, latency_ms=50)
    mark = len(bench.requests(account))
    _, out, _, nv_secs, _ = bench.nv(account, "refresh", "--all", "-q", "--output", "json")
    assert json.loads(out)["refreshed"] == n
    nv_calls = len(bench.requests(account)) - mark
    mark = len(bench.requests(account))
    code, out, err, seq_secs, _ = bench.run(
        [bench.PY, os.path.join(HERE, "sequential_refresh.py"), "--product-id", ids["product_id"]], account
    )
    if code != 0:
        raise SystemExit(f"sequential_refresh failed: {err[-2000:]}")
    seq_calls = len(bench.requests(account)) - mark
    return {
        "users": n,
        "nv8": round(nv_secs, 2),
        "nv8_calls": nv_calls,
        "seq": round(seq_secs, 2),
        "seq_calls": seq_calls,
        "ratio": round(seq_secs / nv_secs, 1),
    }


def render(r: dict) -> str:
    q = r["quotas"]
    out = [
        f"At the sandbox's default quotas, {q['users']} users (PutParameter quota {q['put_quota']:.0f}/s; "
        f"binding quota {q['binding_nv']:.0f}/s for notebook-vend's 2 calls per user, "
        f"{q['binding_peer']:.0f}/s for the peers' 4):",
        "",
        "| tool | wall time | failures | stored / s | % of PutParameter quota | % of binding quota "
        "| calls sent | throttled (% of calls) | calls / user |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in q["rows"]:
        out.append(
            f"| {row['tool']} | {row['seconds']:.1f} s | {row['failures']} | {row['put_rate']:.1f} "
            f"| {row['pct_put_quota']:.0f} % | {row['pct_binding_quota']:.0f} % | {row['calls']} "
            f"| {row['throttled']} ({row['pct_throttled']:.1f} %) | {row['calls_per_user']:.2f} |"
        )
    lat = r["latency"]
    out += [
        "",
        f"Without quotas, {lat['users']} users at 50 ms per request: notebook-vend refresh --all (c8) "
        f"{lat['nv8']:.2f} s ({lat['nv8_calls']} calls), sequential boto3 {lat['seq']:.2f} s "
        f"({lat['seq_calls']} calls): {lat['ratio']}x.",
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    n = int(os.environ.get("BENCH_QUOTA_USERS", "1000"))
    m = int(os.environ.get("BENCH_USERS", "200"))
    machine = bench.machine()
    bench.log(f"machine: {machine}")
    result = {"machine": machine, "binary": bench.NV, "quotas": bench_at_quotas(n)}
    result["latency"] = bench_latency(m)
    result["machine"]["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=2, default=str))
    md = render(result)
    with open(os.path.join(bench.SANDBOX_DIR, "results-quotas.md"), "w") as f:
        f.write(md)
    print(md, file=sys.stderr)


if __name__ == "__main__":
    main()
