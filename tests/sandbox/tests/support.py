"""Helpers of the sandbox tests: accounts, clients, control endpoints, the repo's deployment."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request

import boto3
import botocore.config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))  # the repository
BLOG_FIXTURE = os.path.join(ROOT, "tests", "fixtures", "blog")
if BLOG_FIXTURE not in sys.path:
    sys.path.insert(0, BLOG_FIXTURE)

import deploy as blog  # noqa: E402  (tests/fixtures/blog/deploy.py: the blog sample's deployment)

_counter = [100000000000]


def new_account() -> str:
    _counter[0] += 1
    return str(_counter[0] + os.getpid() % 1000 * 10**6)


def client(sb, service, account, retries=1):
    cfg = botocore.config.Config(
        retries={"total_max_attempts": retries, "mode": "standard"},
        s3={"addressing_style": "path"},
        read_timeout=20,
        connect_timeout=5,
    )
    return boto3.client(
        service,
        endpoint_url=sb["url"],
        region_name="us-east-1",
        aws_access_key_id=account,
        aws_secret_access_key="sandbox",
        config=cfg,
    )


def control(sb, name, body):
    req = urllib.request.Request(
        f"{sb['url']}/_sandbox/{name}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def log_lines(sb, account):
    with open(os.path.join(sb["dir"], "requests.log")) as f:
        return [ln.split() for ln in f if ln.split()[1] == account]


def wait_record(sc, record_id, timeout=10):
    end = time.time() + timeout
    while True:
        rec = sc.describe_record(Id=record_id)
        if rec["RecordDetail"]["Status"] in ("SUCCEEDED", "FAILED") or time.time() > end:
            return rec
        time.sleep(0.1)


TDIR = os.path.join(ROOT, "templates")


def bootstrap(sb, account):
    """The repo's two stacks + the product template, as notebook-vend bootstrap deploys them."""
    cfn, s3, sc = (client(sb, s, account) for s in ("cloudformation", "s3", "servicecatalog"))
    cfn.create_stack(
        StackName="s3-iam-config",
        TemplateBody=open(os.path.join(TDIR, "s3-iam-config.yml")).read(),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    outs = {
        o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="s3-iam-config")["Stacks"][0]["Outputs"]
    }
    bucket = outs["S3BucketName"]
    s3.put_object(Bucket=bucket, Key="sm-notebook.yml", Body=open(os.path.join(TDIR, "sm-notebook.yml"), "rb").read())
    cfn.create_stack(
        StackName="service-catalog-config",
        TemplateBody=open(os.path.join(TDIR, "service-catalog.yml")).read(),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[
            {"ParameterKey": "S3BucketName", "ParameterValue": bucket},
            {"ParameterKey": "UserIAMPrincipal", "ParameterValue": f"arn:aws:iam::{account}:user/u"},
        ],
    )
    stack = cfn.describe_stacks(StackName="service-catalog-config")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    outs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    prod = outs["ProductId"]
    art = sc.list_provisioning_artifacts(ProductId=prod)["ProvisioningArtifactDetails"][-1]["Id"]
    path = sc.list_launch_paths(ProductId=prod)["LaunchPathSummaries"][0]["Id"]
    return {"product": prod, "artifact": art, "path": path, "role": outs["LaunchRoleArn"]}


def provision(sb, account, d, user):
    sc = client(sb, "servicecatalog", account)
    r = sc.provision_product(
        ProductId=d["product"],
        ProvisioningArtifactId=d["artifact"],
        PathId=d["path"],
        ProvisionedProductName=user,
        ProvisionToken=f"tok-{user}",
        ProvisioningParameters=[{"Key": "NotebookUserName", "Value": user}],
    )
    return wait_record(sc, r["RecordDetail"]["RecordId"])["RecordDetail"]


def grant_tagging(iam=None):
    """The sample's launch role has no sagemaker:AddTags, which the notebook's create handler needs when
    the stack is tagged (CloudFormation resource schema of AWS::SageMaker::NotebookInstance,
    handlers.create.permissions); the strict sandbox fails such launches as AWS would. A team running
    the sample has added it; so does the test (tests/e2e/plan/adopt/ does the same)."""
    (iam or blog.client("iam")).put_role_policy(
        RoleName="ServiceCatalogExecutionRole",
        PolicyName="AllowTagOnCreate",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["sagemaker:AddTags"], "Resource": "*"}],
            }
        ),
    )
