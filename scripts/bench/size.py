#!/usr/bin/env python3
"""Release binaries side by side: size, peak RSS and CPU time of `provision`, `url` and `refresh --all`.

For comparing builds of the same code (release profile settings, trimmed dependency features), on a
running sandbox (scripts/bench.sh with BENCH_ONLY=size starts one). Every binary runs the same steps in
turn, interleaved, so that the machine's load falls on all of them alike. Printed figures only.

Environment: BENCH_BINS ("label=path label=path ...", default NV_BIN alone), BENCH_SIZE_USERS
(provisions per binary, default 5), BENCH_RUNS (url and refresh runs per binary, default 7),
BENCH_USERS (users of the refresh --all, default 200).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402  (helpers: accounts, sandbox control, bootstrap)


def binaries() -> list[tuple[str, str]]:
    spec = os.environ.get("BENCH_BINS", "").split()
    if not spec:
        return [("nv", bench.NV)]
    return [tuple(s.split("=", 1)) for s in spec]  # type: ignore[misc]


def timed(binary: str, account: str, *args: str) -> dict:
    """One run: wall seconds, peak RSS (KiB) and user+system CPU seconds (GNU time)."""
    out_file = os.path.join(bench.SANDBOX_DIR, f"time-{account}-{time.time_ns()}")
    cmd = ["/usr/bin/time", "-f", "%M %U %S", "-o", out_file, binary, *args]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=bench.env_for(account), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    with open(out_file) as f:
        rss, user, system = f.read().strip().splitlines()[-1].split()
    os.remove(out_file)
    if p.returncode != 0:
        raise SystemExit(f"{binary} {' '.join(args)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return {"wall": wall, "rss": int(rss), "cpu": float(user) + float(system), "stdout": p.stdout}


def main() -> None:
    bins = binaries()
    n_prov = int(os.environ.get("BENCH_SIZE_USERS", "5"))
    runs = int(os.environ.get("BENCH_RUNS", "7"))
    n_users = int(os.environ.get("BENCH_USERS", "200"))
    res: dict[str, dict] = {label: {"bytes": os.path.getsize(path), "path": path} for label, path in bins}
    bench.log(f"size: binaries {[(label, r['bytes']) for label, r in res.items()]}")

    # provision: each binary bootstraps its own account and provisions users there, interleaved.
    accounts = {}
    for label, path in bins:
        account = bench.new_account()
        bench.configure(account, record_seconds=1, pending_seconds=2)
        timed(path, account, "bootstrap", "-q")
        accounts[label] = account
    prov = {label: [] for label, _ in bins}
    for i in range(n_prov):
        for label, path in bins:
            prov[label].append(timed(path, accounts[label], "provision", "--user", f"size{i}", "-q"))
    # url: a running notebook, a presign and the print.
    url = {label: [] for label, _ in bins}
    for _ in range(runs):
        for label, path in bins:
            r = timed(path, accounts[label], "url", "--user", "size0")
            assert r["stdout"].startswith("https://"), r["stdout"][:40]
            url[label].append(r)

    # refresh --all over many users of one account (provisioned through the API), no added latency:
    # the client's CPU time is the figure the optimisation level moves.
    account = bench.new_account()
    ids = bench.bootstrap(account)
    bench.configure(account, record_seconds=0, pending_seconds=0)
    sc = bench.client(account, "servicecatalog")
    bench.log(f"size: provisioning {n_users} users through the sandbox API")

    def provision(i: int) -> None:
        user = f"s{i:03d}"
        sc.provision_product(
            ProductId=ids["product_id"],
            ProvisioningArtifactId=ids["artifact_id"],
            PathId=ids["path_id"],
            ProvisionedProductName=f"{user}-Notebook",
            ProvisionToken=f"size-{user}",
            ProvisioningParameters=[{"Key": "NotebookUserName", "Value": user}],
            Tags=[{"Key": "Owner", "Value": user}],
        )

    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(provision, range(n_users)))
    timed(bins[0][1], account, "refresh", "--all", "-q")  # warm-up: owners read, first versions written
    refresh = {label: [] for label, _ in bins}
    for _ in range(max(3, runs // 2)):
        for label, path in bins:
            r = timed(path, account, "refresh", "--all", "-q", "--output", "json")
            assert json.loads(r["stdout"])["refreshed"] == n_users, r["stdout"][:200]
            refresh[label].append(r)

    med = statistics.median
    for label, _ in bins:
        res[label].update(
            {
                "provision_rss_max_kib": max(r["rss"] for r in prov[label]),
                "provision_cpu_median_s": med(r["cpu"] for r in prov[label]),
                "url_rss_max_kib": max(r["rss"] for r in url[label]),
                "url_wall_median_ms": med(r["wall"] for r in url[label]) * 1000,
                "url_cpu_median_ms": med(r["cpu"] for r in url[label]) * 1000,
                "refresh_rss_max_kib": max(r["rss"] for r in refresh[label]),
                "refresh_wall_median_s": med(r["wall"] for r in refresh[label]),
                "refresh_cpu_median_s": med(r["cpu"] for r in refresh[label]),
            }
        )
    print(json.dumps({"load": os.getloadavg(), "users": n_users, "runs": runs, "binaries": res}, indent=2))
    rows = [
        "| binary | size | provision peak RSS | url peak RSS | url wall (median) | "
        f"refresh --all {n_users} users: wall / CPU (median) | refresh peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in res.items():
        rows.append(
            f"| {label} | {r['bytes'] / 1e6:.1f} MB ({r['bytes'] / 1048576:.1f} MiB) "
            f"| {r['provision_rss_max_kib'] / 1024:.1f} MiB | {r['url_rss_max_kib'] / 1024:.1f} MiB "
            f"| {r['url_wall_median_ms']:.0f} ms | {r['refresh_wall_median_s']:.2f} s / "
            f"{r['refresh_cpu_median_s']:.2f} s | {r['refresh_rss_max_kib'] / 1024:.1f} MiB |"
        )
    md = "\n".join(rows) + "\n"
    with open(os.path.join(bench.SANDBOX_DIR, "size.md"), "w") as f:
        f.write(md)
    print(md, file=sys.stderr)


if __name__ == "__main__":
    main()
