#!/usr/bin/env python3
"""A naive concurrent peer of `notebook-vend refresh --all`: the sequential loop's per-user body
(sequential_refresh.py: describe, presign, PutParameter, AddTagsToResource) on a pool of threads,
with botocore's standard retry mode (3 attempts, exponential backoff with jitter) and no pacing:
what a script that "just adds threads" does under AWS's request quotas.

    concurrent_refresh.py --product-id prod-... [--threads 8]

Credentials, region and endpoint come from the environment. Prints one JSON line:
{"users", "seconds", "failures"} (a user whose calls still fail after the retries is a failure).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import time

import boto3
import botocore.config
import botocore.exceptions
from sequential_refresh import refresh_one


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--product-id", required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--session-seconds", type=int, default=43200)
    args = ap.parse_args()
    cfg = botocore.config.Config(retries={"mode": "standard"}, max_pool_connections=args.threads)
    sc = boto3.client("servicecatalog", config=cfg)
    sm = boto3.client("sagemaker", config=cfg)
    ssm = boto3.client("ssm", config=cfg)
    boto3.client("sts").get_caller_identity()  # part of the measured sequence; its answer is not used

    start = time.time()
    users = []
    token = None
    while True:
        kw = {"PageToken": token} if token else {}
        out = sc.search_provisioned_products(
            AccessLevelFilter={"Key": "Account", "Value": "self"},
            Filters={"SearchQuery": [f"productId:{args.product_id}"]},
            PageSize=100,
            **kw,
        )
        for p in out.get("ProvisionedProducts", []):
            owner = next((t["Value"] for t in p.get("Tags", []) if t["Key"] == "Owner"), None)
            users.append(owner or p["Name"].removesuffix("-Notebook"))
        token = out.get("NextPageToken")
        if not token:
            break

    def one(user: str) -> bool:
        try:
            refresh_one(sm, ssm, user, args.session_seconds)
            return True
        except botocore.exceptions.ClientError:
            return False

    with cf.ThreadPoolExecutor(args.threads) as ex:
        ok = list(ex.map(one, sorted(set(users))))
    print(json.dumps({"users": len(ok), "seconds": round(time.time() - start, 3), "failures": ok.count(False)}))


if __name__ == "__main__":
    main()
