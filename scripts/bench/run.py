#!/usr/bin/env python3
"""Benchmarks of notebook-vend against its peers, on a running sandbox (scripts/bench.sh starts one).

Printed figures only, never assertions. Every part runs in its own sandbox account, so the request
and event logs (SANDBOX_DIR/requests.log, events.log) are read per account.

Environment: NV_BIN (the binary), SANDBOX_DIR, SANDBOX_PORT, BENCH_PENDINGS (seconds; default
BENCH_LAG_N=20 drawn uniformly from 5..60 s with seed 8), BENCH_USERS (default 200), BENCH_RUNS (url runs,
default 7), BENCH_BUILD_LOG.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import urllib.request

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
NV = os.environ["NV_BIN"]
SANDBOX_DIR = os.environ["SANDBOX_DIR"]
PORT = os.environ["SANDBOX_PORT"]
ENDPOINT = f"http://127.0.0.1:{PORT}"
PY = sys.executable
AWS_CLI = os.path.join(os.path.dirname(PY), "aws")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def new_account() -> str:
    return "7" + "".join(random.choice("0123456789") for _ in range(11))


def env_for(account: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NOTEBOOK_VEND_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": account,
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": ENDPOINT,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "NO_COLOR": "1",
        }
    )
    return env


def control(name: str, body: dict) -> dict:
    req = urllib.request.Request(
        f"{ENDPOINT}/_sandbox/{name}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def configure(account: str, **settings) -> None:
    control("config", {"account_id": account, **settings})


def run(cmd: list[str], account: str, rss: bool = False) -> tuple[int, str, str, float, int | None]:
    """Run a command as `account`; (exit code, stdout, stderr, wall seconds, peak RSS KiB)."""
    rss_file = None
    if rss:
        rss_file = os.path.join(SANDBOX_DIR, f"rss-{account}-{time.time_ns()}")
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env_for(account), capture_output=True, text=True)
    secs = time.perf_counter() - t0
    peak = None
    if rss_file:
        with open(rss_file) as f:
            peak = int(f.read().strip().splitlines()[-1])
        os.remove(rss_file)
    return p.returncode, p.stdout, p.stderr, secs, peak


def nv(account: str, *args: str, rss: bool = False, check: bool = True):
    out = run([NV, *args], account, rss=rss)
    if check and out[0] != 0:
        raise SystemExit(f"notebook-vend {' '.join(args)} failed ({out[0]}): {out[2][-2000:]}")
    return out


def requests(account: str) -> list[tuple[float, str, str, str]]:
    rows = []
    with open(os.path.join(SANDBOX_DIR, "requests.log")) as f:
        for line in f:
            p = line.split()
            if len(p) >= 5 and p[1] == account:
                rows.append((float(p[0]), p[2], p[3], p[4]))
    return rows


def events(account: str) -> list[tuple[float, str, str, str]]:
    rows = []
    with open(os.path.join(SANDBOX_DIR, "events.log")) as f:
        for line in f:
            p = line.split()
            if len(p) >= 5 and p[1] == account:
                rows.append((float(p[0]), p[2], p[3], p[4]))
    return rows


def session(account: str) -> boto3.Session:
    return boto3.Session(aws_access_key_id=account, aws_secret_access_key="sandbox", region_name="us-east-1")


def client(account: str, service: str):
    return session(account).client(service, endpoint_url=ENDPOINT)


def bootstrap(account: str) -> dict:
    configure(account, record_seconds=1, pending_seconds=2)
    _, out, _, _, _ = nv(account, "bootstrap", "-q", "--output", "json")
    summary = json.loads(out)
    sc = client(account, "servicecatalog")
    pid = summary["product_id"]
    path = sc.list_launch_paths(ProductId=pid)["LaunchPathSummaries"][0]["Id"]
    arts = sc.list_provisioning_artifacts(ProductId=pid)["ProvisioningArtifactDetails"]
    art = max(arts, key=lambda a: a["CreatedTime"])["Id"]
    return {"product_id": pid, "path_id": path, "artifact_id": art}


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ------------------------------------------------------------------------------------------------
# 1. detection lag


def lag_of(account: str, user: str) -> dict:
    name = f"{user}-Notebook"
    in_service = min(t for t, kind, n, d in events(account) if kind == "notebook" and n == name and d == "InService")
    reqs = requests(account)
    stored = min(t for t, _, op, st in reqs if op == "PutParameter" and st == "200" and t >= in_service)
    describes = [t for t, _, op, _ in reqs if op == "DescribeNotebookInstance" and t <= stored]
    window = stored - describes[0] if describes else float("nan")
    return {"lag": stored - in_service, "describes": len(describes), "window": window}


def bench_lag(pendings: list[float], per_pending: int = 1) -> dict:
    """Each notebook in its own account: the request log does not name the notebook a
    DescribeNotebookInstance was about, so one notebook per account makes the count per notebook.
    The Pending durations are drawn at random (fixed seed): on AWS they vary, so the moment of
    InService falls anywhere between two polls; fixed round durations would all land on the same
    phase of the polling interval and measure that phase, not the lag."""
    per_tool = {"notebook-vend": [], "reference": []}

    def one_nv(pending: float, i: int):
        account = new_account()
        bootstrap(account)
        configure(account, record_seconds=1, pending_seconds=pending)
        user = f"lag{int(pending * 10)}x{i}"
        peak = nv(account, "provision", "--user", user, "-q", rss=True)[4]
        return "notebook-vend", pending, lag_of(account, user), peak

    def one_ref(pending: float):
        account = new_account()
        ids = bootstrap(account)
        configure(account, record_seconds=1, pending_seconds=pending)
        code, _, err, _, _ = run(
            [
                PY,
                os.path.join(HERE, "reference_waiter.py"),
                "--user",
                "ref",
                "--product-id",
                ids["product_id"],
                "--artifact-id",
                ids["artifact_id"],
                "--path-id",
                ids["path_id"],
            ],
            account,
        )
        if code != 0:
            raise SystemExit(f"reference_waiter failed: {err[-2000:]}")
        return "reference", pending, lag_of(account, "ref"), None

    jobs = [(one_ref, (p,)) for p in pendings] + [(one_nv, (p, i)) for p in pendings for i in range(per_pending)]
    with cf.ThreadPoolExecutor(len(jobs)) as ex:
        results = [f.result() for f in [ex.submit(fn, *a) for fn, a in jobs]]
    rows: dict[float, dict[str, list]] = {}
    rss = []
    for tool, pending, lag, peak in results:
        per_tool[tool].append(lag)
        rows.setdefault(pending, {"notebook-vend": [], "reference": []})[tool].append(round(lag["lag"], 2))
        if peak:
            rss.append(peak)
    summary = {}
    for tool, lags in per_tool.items():
        summary[tool] = {
            "median": median([x["lag"] for x in lags]),
            "max": max(x["lag"] for x in lags),
            "rate": sum(x["describes"] for x in lags) / sum(x["window"] for x in lags),
            "n": len(lags),
        }
    return {"summary": summary, "rows": rows, "rss_provision": max(rss)}


# ------------------------------------------------------------------------------------------------
# 2. refresh --all over many users


def bench_refresh(n_users: int) -> dict:
    account = new_account()
    ids = bootstrap(account)
    configure(account, record_seconds=0, pending_seconds=0)
    sc = client(account, "servicecatalog")
    log(f"refresh: provisioning {n_users} users through the sandbox API")

    def provision(i: int):
        user = f"r{i:03d}"
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
        list(ex.map(provision, range(n_users)))
    # warm-up (and the parameters' first versions), not timed
    nv(account, "refresh", "--all", "-q", "--concurrency", "16")
    out = {"users": n_users}

    def timed(latency: int):
        configure(account, latency_ms=latency)
        res = {}
        for conc in (8, 32):
            mark = len(requests(account))
            _, stdout, _, secs, peak = nv(
                account, "refresh", "--all", "-q", "--output", "json", "--concurrency", str(conc), rss=True
            )
            assert json.loads(stdout)["refreshed"] == n_users, stdout
            res[f"nv{conc}"] = secs
            res[f"nv{conc}_calls"] = len(requests(account)) - mark
            res["rss"] = max(res.get("rss", 0), peak)
        mark = len(requests(account))
        code, stdout, err, secs, _ = run(
            [PY, os.path.join(HERE, "sequential_refresh.py"), "--product-id", ids["product_id"]], account
        )
        if code != 0:
            raise SystemExit(f"sequential_refresh failed: {err[-2000:]}")
        res["seq"] = secs
        res["seq_calls"] = len(requests(account)) - mark
        return res

    log("refresh: with 50 ms latency per request")
    out["lat50"] = timed(50)
    log("refresh: without latency (server ceiling)")
    out["lat0"] = timed(0)
    return out


# ------------------------------------------------------------------------------------------------
# 3. one url call vs the AWS CLI; 4. no-op bootstrap


def bench_url_and_bootstrap(runs: int) -> dict:
    account = new_account()
    bootstrap(account)
    configure(account, record_seconds=0.5, pending_seconds=0.5)
    nv(account, "provision", "--user", "urlbench", "-q")
    nv_times, cli_times = [], []
    for _ in range(runs):
        code, out, _, secs, _ = nv(account, "url", "--user", "urlbench")
        assert out.startswith("https://"), out[:40]
        nv_times.append(secs)
        code, out, err, secs, _ = run(
            [
                AWS_CLI,
                "sagemaker",
                "create-presigned-notebook-instance-url",
                "--notebook-instance-name",
                "urlbench-Notebook",
                "--endpoint-url",
                ENDPOINT,
                "--output",
                "text",
            ],
            account,
        )
        if code != 0:
            raise SystemExit(f"aws cli failed: {err[-2000:]}")
        cli_times.append(secs)
    mark = len(requests(account))
    _, out, _, secs, _ = nv(account, "bootstrap", "--output", "json", "-q")
    reqs = requests(account)[mark:]
    ops = {}
    for _, _, op, _ in reqs:
        ops[op] = ops.get(op, 0) + 1
    return {
        "nv_url": median(nv_times),
        "cli_url": median(cli_times),
        "runs": runs,
        "bootstrap_secs": secs,
        "bootstrap_calls": len(reqs),
        "bootstrap_ops": ops,
    }


# ------------------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    aws = subprocess.run([AWS_CLI, "--version"], capture_output=True, text=True)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem": mem,
        "kernel": platform.release(),
        "rustc": rustc,
        "python": platform.python_version(),
        "awscli": (aws.stdout or aws.stderr).strip(),
        "boto3": boto3.__version__,
        "load": os.getloadavg(),
    }


def main() -> None:
    if os.environ.get("BENCH_PENDINGS"):
        pendings = [float(x) for x in os.environ["BENCH_PENDINGS"].split()]
    else:
        rng = random.Random(8)
        pendings = sorted(round(rng.uniform(5, 60), 1) for _ in range(int(os.environ.get("BENCH_LAG_N", "20"))))
    n_users = int(os.environ.get("BENCH_USERS", "200"))
    runs = int(os.environ.get("BENCH_RUNS", "7"))
    m = machine()
    log(f"machine: {m}")
    log("1. detection lag")
    lag = bench_lag(pendings)
    log(f"   {lag}")
    log("3-4. url vs AWS CLI, no-op bootstrap")
    ub = bench_url_and_bootstrap(runs)
    log(f"   {ub}")
    log("2. refresh --all")
    rf = bench_refresh(n_users)
    log(f"   {rf}")
    m["load_after"] = os.getloadavg()
    result = {
        "machine": m,
        "lag": lag,
        "url_bootstrap": ub,
        "refresh": rf,
        "binary": NV,
        "binary_bytes": os.path.getsize(NV),
    }
    build = os.environ.get("BENCH_BUILD_LOG")
    if build and os.path.exists(build):
        tail = open(build).read().strip().splitlines()[-1:]
        result["build"] = tail[0] if tail else ""
    print(json.dumps(result, indent=2, default=str))
    md = render(result)
    with open(os.path.join(SANDBOX_DIR, "results.md"), "w") as f:
        f.write(md)
    print(md, file=sys.stderr)


def render(r: dict) -> str:
    """The figures as a Markdown table (what BENCHMARKS.md shows)."""
    lag, ub, rf = r["lag"]["summary"], r["url_bootstrap"], r["refresh"]
    nvl, ref = lag["notebook-vend"], lag["reference"]
    l50, l0 = rf["lat50"], rf["lat0"]
    ratio = lambda a, b: f"{a / b:.1f}x"  # noqa: E731
    rows = [
        (
            "detection lag, median (n notebooks)",
            f"{nvl['median']:.2f} s ({nvl['n']})",
            f"{ref['median']:.2f} s ({ref['n']})",
            "<= 1.5 s",
        ),
        ("detection lag, max", f"{nvl['max']:.2f} s", f"{ref['max']:.2f} s", ""),
        ("DescribeNotebookInstance calls / s / notebook", f"{nvl['rate']:.2f}", f"{ref['rate']:.3f}", "<= 0.5"),
        (
            f"refresh --all, {rf['users']} users, 50 ms latency, concurrency 8 (default)",
            f"{l50['nv8']:.2f} s",
            f"{l50['seq']:.2f} s (sequential boto3)",
            f"ratio {ratio(l50['seq'], l50['nv8'])} (>= 10x)",
        ),
        (
            f"refresh --all, {rf['users']} users, 50 ms latency, concurrency 32",
            f"{l50['nv32']:.2f} s",
            f"{l50['seq']:.2f} s",
            f"ratio {ratio(l50['seq'], l50['nv32'])}",
        ),
        (
            f"refresh --all, {rf['users']} users, no latency (server ceiling)",
            f"{l0['nv8']:.2f} s / {l0['nv32']:.2f} s (c8 / c32)",
            f"{l0['seq']:.2f} s",
            f"{l0['nv32_calls'] / l0['nv32']:.0f} req/s: the sandbox server, not the client, bounds this",
        ),
        (
            f"one url call, median of {ub['runs']}",
            f"{ub['nv_url'] * 1000:.0f} ms",
            f"{ub['cli_url'] * 1000:.0f} ms (aws CLI)",
            f"ratio {ub['nv_url'] / ub['cli_url']:.3f} (<= 0.1)",
        ),
        (
            "no-op bootstrap",
            f"{ub['bootstrap_secs'] * 1000:.0f} ms, {ub['bootstrap_calls']} calls, no write",
            "",
            ", ".join(f"{k} {v}" for k, v in ub["bootstrap_ops"].items()),
        ),
        (
            "peak RSS: provision / refresh --all",
            f"{r['lag']['rss_provision'] / 1024:.1f} MiB / {max(l50['rss'], l0['rss']) / 1024:.1f} MiB",
            "",
            "",
        ),
        ("release binary size", f"{r['binary_bytes'] / 1024 / 1024:.1f} MiB", "", "stripped, thin LTO"),
    ]
    if r.get("build"):
        rows.append(("clean release build", r["build"], "", "nice, own CARGO_TARGET_DIR"))
    out = ["| figure | notebook-vend | peer | target / note |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    per = r["lag"]["rows"]
    out += ["", "| Pending (s) | notebook-vend lag (s) | reference lag (s) |", "|---|---|---|"]
    out += [
        f"| {p} | {', '.join(map(str, v['notebook-vend']))} | {', '.join(map(str, v['reference']))} |"
        for p, v in sorted(per.items())
    ]
    m = r["machine"]
    out += [
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem']}, Linux {m['kernel']}; {m['rustc']}; "
        f"Python {m['python']}, boto3 {m['boto3']}, {m['awscli']}; "
        f"load average at start {m['load'][0]:.1f}, at end {m['load_after'][0]:.1f}.",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
