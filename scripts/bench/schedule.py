#!/usr/bin/env python3
"""Benchmark of what schedules add to the per-user commands, on a running sandbox
(`BENCH_ONLY=schedule scripts/bench.sh`). Printed figures only, never assertions.

Two accounts side by side, N users each (BENCH_SCHEDULE_USERS, default 10), provisioned one after
the other with `provision`: one deployment without a default schedule, one bootstrapped with
`--default-stop/--default-start`. For each provision: wall time, and the calls sent after the URL
was stored (PutParameter answered), which is where the default schedule step runs; then `list` over
the N users (NEXT-START/NEXT-STOP: one ListSchedules, then GetSchedule per schedule found), and a
second `bootstrap` with the default (every notebook checked, nothing to write).
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402  (helpers: accounts, sandbox control, the request log)

STOP = "cron(0 19 ? * MON-FRI *)"
START = "cron(0 8 ? * MON-FRI *)"


def after_store(account: str, mark: int) -> tuple[int, float, dict]:
    """Calls sent after the last stored PutParameter since `mark`, their span, and per operation."""
    reqs = bench.requests(account)[mark:]
    puts = [i for i, (_, _, op, st) in enumerate(reqs) if op == "PutParameter" and st == "200"]
    if not puts:
        return 0, 0.0, {}
    tail = reqs[puts[-1] + 1 :]
    ops: dict[str, int] = {}
    for _, _, op, _ in tail:
        ops[op] = ops.get(op, 0) + 1
    span = (tail[-1][0] - reqs[puts[-1]][0]) if tail else 0.0
    return len(tail), span, ops


def one_deployment(n: int, default: bool) -> dict:
    account = bench.new_account()
    args = ["bootstrap", "-q", "--output", "json"]
    if default:
        args += ["--default-stop", STOP, "--default-start", START, "--tz", "Europe/Berlin"]
    bench.configure(account, record_seconds=0.3, pending_seconds=0.3)
    bench.nv(account, *args)
    walls, extra_calls, extra_spans, ops_total = [], [], [], {}
    for i in range(n):
        mark = len(bench.requests(account))
        wall = bench.nv(account, "provision", "--user", f"u{i:03d}", "-q")[3]
        calls, span, ops = after_store(account, mark)
        walls.append(wall)
        extra_calls.append(calls)
        extra_spans.append(span)
        for op, k in ops.items():
            ops_total[op] = ops_total.get(op, 0) + k
    mark = len(bench.requests(account))
    list_wall = bench.nv(account, "list", "--output", "json")[3]
    list_calls = len(bench.requests(account)[mark:])
    mark = len(bench.requests(account))
    boot_wall = bench.nv(account, *args)[3]
    boot_calls = len(bench.requests(account)[mark:])
    return {
        "default": default,
        "users": n,
        "provision_wall_median": bench.median(walls),
        "calls_after_store_median": bench.median(extra_calls),
        "after_store_span_median": bench.median(extra_spans),
        "after_store_ops": ops_total,
        "list_wall": list_wall,
        "list_calls": list_calls,
        "bootstrap_again_wall": boot_wall,
        "bootstrap_again_calls": boot_calls,
    }


def main() -> None:
    n = int(os.environ.get("BENCH_SCHEDULE_USERS", "10"))
    m = bench.machine()
    bench.log(f"machine: {m}")
    results = [one_deployment(n, default=False), one_deployment(n, default=True)]
    m["load_after"] = os.getloadavg()
    print(json.dumps({"machine": m, "binary": bench.NV, "schedule": results}, indent=2, default=str))


if __name__ == "__main__":
    main()
