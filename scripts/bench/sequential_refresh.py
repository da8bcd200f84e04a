#!/usr/bin/env python3
"""The peer of `notebook-vend refresh --all`: a sequential boto3 loop doing the same calls.

List the provisioned products of the product (SearchProvisionedProducts, paged), then for each user:
DescribeNotebookInstance, CreatePresignedNotebookInstanceUrl, PutParameter (SecureString, overwrite),
AddTagsToResource. What a RefreshURL Lambda looping over every user would do.

    sequential_refresh.py --product-id prod-...

Credentials, region and endpoint come from the environment. Prints one JSON line:
{"users", "seconds", "calls", "failures"}: a user whose calls fail after botocore's retries is
counted as a failure and the loop goes on (what a Lambda looping over users would report).
"""

from __future__ import annotations

import argparse
import json
import time

import boto3
import botocore.exceptions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--product-id", required=True)
    ap.add_argument("--session-seconds", type=int, default=43200)
    args = ap.parse_args()
    sc = boto3.client("servicecatalog")
    sm = boto3.client("sagemaker")
    ssm = boto3.client("ssm")
    boto3.client("sts").get_caller_identity()  # part of the measured sequence; its answer is not used

    start = time.time()
    calls = 0
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
        calls += 1
        for p in out.get("ProvisionedProducts", []):
            owner = next((t["Value"] for t in p.get("Tags", []) if t["Key"] == "Owner"), None)
            users.append(owner or p["Name"].removesuffix("-Notebook"))
        token = out.get("NextPageToken")
        if not token:
            break
    failures = 0
    for user in sorted(set(users)):
        try:
            calls += refresh_one(sm, ssm, user, args.session_seconds)
        except botocore.exceptions.ClientError:
            failures += 1
    print(
        json.dumps(
            {"users": len(set(users)), "seconds": round(time.time() - start, 3), "calls": calls, "failures": failures}
        )
    )


def refresh_one(sm, ssm, user: str, session_seconds: int) -> int:
    """The refresh Lambda's body for one user; returns the calls it made (not counting retries)."""
    name = f"{user}-Notebook"
    status = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
    if status != "InService":
        return 1
    url = sm.create_presigned_notebook_instance_url(
        NotebookInstanceName=name, SessionExpirationDurationInSeconds=session_seconds
    )["AuthorizedUrl"]
    param = f"/SageMaker/Notebooks/{name}"
    ssm.put_parameter(Name=param, Value=url, Type="SecureString", Overwrite=True)
    ssm.add_tags_to_resource(
        ResourceType="Parameter",
        ResourceId=param,
        Tags=[{"Key": "Owner", "Value": user}, {"Key": "ManagedBy", "Value": "notebook-vend"}],
    )
    return 4


if __name__ == "__main__":
    main()
