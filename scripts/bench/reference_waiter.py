#!/usr/bin/env python3
"""The reference workflow's detection, as the blog's Lambda does it (boto3, no notebook-vend).

On a ProvisionProduct (here: made by this script, as the console would), read the user name from
the provisioning parameters, wait with the SageMaker waiter `notebook_instance_in_service` at its
blog settings (Delay 30 s, MaxAttempts 20 = 10 minutes), presign with a 12 h session and PutParameter
(String, overwrite) under /SageMaker/Notebooks/<user>-Notebook.

    reference_waiter.py --user U --product-id prod-... --artifact-id pa-... --path-id lpv3-... [--delay 30]

Credentials, region and endpoint come from the environment (AWS_ENDPOINT_URL, ...). Prints one JSON
line: {"user", "provisioned_at", "stored_at"} (epoch seconds).
"""

from __future__ import annotations

import argparse
import json
import time

import boto3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", required=True)
    ap.add_argument("--product-id", required=True)
    ap.add_argument("--artifact-id", required=True)
    ap.add_argument("--path-id", required=True)
    ap.add_argument("--delay", type=int, default=30)
    ap.add_argument("--max-attempts", type=int, default=20)
    args = ap.parse_args()

    sc = boto3.client("servicecatalog")
    sm = boto3.client("sagemaker")
    ssm = boto3.client("ssm")

    # What the console does when a data scientist launches the product.
    sc.provision_product(
        ProductId=args.product_id,
        ProvisioningArtifactId=args.artifact_id,
        PathId=args.path_id,
        ProvisionedProductName=f"{args.user}-Notebook",
        ProvisioningParameters=[
            {"Key": "NotebookInstanceType", "Value": "ml.t3.medium"},
            {"Key": "NotebookUserName", "Value": args.user},
        ],
    )
    provisioned_at = time.time()

    # The Lambda's body (the blog's sample: SageMakerNotebookCreated function).
    name = f"{args.user}-Notebook"
    waiter = sm.get_waiter("notebook_instance_in_service")
    waiter.wait(NotebookInstanceName=name, WaiterConfig={"Delay": args.delay, "MaxAttempts": args.max_attempts})
    url = sm.create_presigned_notebook_instance_url(
        NotebookInstanceName=name, SessionExpirationDurationInSeconds=43200
    )["AuthorizedUrl"]
    ssm.put_parameter(Name=f"/SageMaker/Notebooks/{name}", Value=url, Type="String", Overwrite=True)
    print(json.dumps({"user": args.user, "provisioned_at": provisioned_at, "stored_at": time.time()}))


if __name__ == "__main__":
    main()
