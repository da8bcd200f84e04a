"""The blog-deployment fixture (tests/fixtures/blog) against the sandbox: it deploys the way the blog's
steps do, and launches made the sample README's way and the console's way reach AVAILABLE.

    .sandbox/venv/bin/python -m pytest -q tests/sandbox/tests/test_blog_fixture.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import botocore.exceptions
import pytest
from support import BLOG_FIXTURE as FIXTURE
from support import blog, grant_tagging

SANDBOX_ENV = {"SANDBOX_RECORD_SECONDS": "0.2", "SANDBOX_PENDING_SECONDS": "0.2"}


_n = [0]


def account() -> str:
    _n[0] += 1
    return f"7{os.getpid() % 100000:05d}{_n[0]:06d}"


@pytest.fixture
def deployed(sandbox):
    acct = account()
    info = blog.deploy(sandbox["url"], acct)
    return acct, info


def requests(sandbox, acct):
    with open(os.path.join(sandbox["dir"], "requests.log")) as f:
        return [ln.split()[2:4] for ln in f if ln.split()[1] == acct]


def test_deploy_reproduces_the_sample_shape(deployed):
    acct, info = deployed
    cfn, iam, sc = blog.client("cloudformation"), blog.client("iam"), blog.client("servicecatalog")
    for name in ("s3-iam-config", "service-catalog-config"):
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    exports = {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}
    for name in (
        "s3-iam-config-Bucket-URL",
        "s3-iam-config-Bucket-ARN",
        "s3-iam-config-Bucket-Name",
        "s3-iam-config-SageMakerNotebookInstanceRole-ARN",
        "service-catalog-config-SMNotebookRole-ARN",
    ):
        assert name in exports, (name, sorted(exports))
    assert exports["s3-iam-config-Bucket-Name"] == info["bucket"]
    role = iam.get_role(RoleName="SageMakerNotebookInstanceRole")["Role"]
    assert role["Path"] == "/" and exports["s3-iam-config-SageMakerNotebookInstanceRole-ARN"] == role["Arn"]
    launch = iam.get_role(RoleName="ServiceCatalogExecutionRole")["Role"]
    assert launch["Path"] == "/service-role/"
    assert exports["service-catalog-config-SMNotebookRole-ARN"] == launch["Arn"]
    attached = {
        p["PolicyName"]
        for p in iam.list_attached_role_policies(RoleName="ServiceCatalogExecutionRole")["AttachedPolicies"]
    }
    assert attached == {
        "SVCSMExecutionPolicy",
        "SVCLogsExecutionPolicy",
        "SVCEC2KMSExecutionPolicy",
        "SVCS3ExecutionPolicy",
        "SVCIAMExecutionPolicy",
        "SVCCFTExecutionPolicy",
    }
    attached = {
        p["PolicyName"]
        for p in iam.list_attached_role_policies(RoleName="SageMakerNotebookInstanceRole")["AttachedPolicies"]
    }
    assert attached == {"SMNotebookEC2Policy", "SMNotebookPolicy"}
    port = sc.describe_portfolio(Id=info["portfolio_id"])["PortfolioDetail"]
    assert port["DisplayName"] == "Demo-Portfolio"
    principals = {
        p["PrincipalARN"] for p in sc.list_principals_for_portfolio(PortfolioId=info["portfolio_id"])["Principals"]
    }
    assert principals == {launch["Arn"], info["user_principal"]}
    assert info["user_principal"] == f"arn:aws:iam::{acct}:user/moto"
    assert info["artifact_name"] == "Sage Maker Notebook" and len(info["artifact_ids"]) == 1
    art = sc.describe_provisioning_artifact(ProductId=info["product_id"], ProvisioningArtifactId=info["artifact_id"])
    assert art["Info"]["TemplateUrl"] == f"https://{info['bucket']}.s3.amazonaws.com/sm-notebook.yml"
    cons = sc.list_constraints_for_portfolio(PortfolioId=info["portfolio_id"])["ConstraintDetails"]
    assert [c["Type"] for c in cons] == ["LAUNCH"]
    params = sc.describe_provisioning_parameters(
        ProductId=info["product_id"], ProvisioningArtifactId=info["artifact_id"], PathId=info["path_id"]
    )["ProvisioningArtifactParameters"]
    assert [p["ParameterKey"] for p in params] == ["NotebookInstanceType", "S3IAMConfigStackName", "NotebookUserName"]


def test_iam_principal_is_what_a_reader_would_paste():
    assert (
        blog.iam_principal("arn:aws:sts::123456789012:assumed-role/Admin/alice")
        == "arn:aws:iam::123456789012:role/Admin"
    )
    assert blog.iam_principal("arn:aws:iam::123456789012:user/bob") == "arn:aws:iam::123456789012:user/bob"
    assert blog.iam_principal("arn:aws:sts::123456789012:user/moto") == "arn:aws:iam::123456789012:user/moto"


def test_deploy_twice_writes_nothing(sandbox, deployed):
    acct, info = deployed
    before = len(requests(sandbox, acct))
    again = blog.deploy(sandbox["url"], acct)
    assert again["product_id"] == info["product_id"]
    ops = [op for _, op in requests(sandbox, acct)[before:]]
    assert "CreateStack" not in ops, ops
    assert ops.count("PutObject") == 1  # step 3 (aws s3 cp) re-uploads the same template; nothing else writes


def test_readme_launch_reaches_available_with_joes_notebook(deployed):
    acct, info = deployed
    grant_tagging()
    out = blog.launch_readme_style("joe", "demoProduct2", "awsjoe")
    assert out["record_status"] == "SUCCEEDED", out
    assert out["provisioned_product_status"] == "AVAILABLE", out
    sm, sc, cfn = blog.client("sagemaker"), blog.client("servicecatalog"), blog.client("cloudformation")
    nb = sm.describe_notebook_instance(NotebookInstanceName="joe-Notebook")
    assert nb["InstanceType"] == "ml.t3.medium"
    role = blog.client("iam").get_role(RoleName="SageMakerNotebookInstanceRole")["Role"]["Arn"]
    assert nb["RoleArn"] == role
    pp = sc.describe_provisioned_product(Id=out["provisioned_product_id"])["ProvisionedProductDetail"]
    assert pp["Name"] == "demoProduct2" and pp["ProductId"] == info["product_id"]
    # the Owner tag is not the user: the user is only in the NotebookUserName parameter
    found = sc.search_provisioned_products(AccessLevelFilter={"Key": "Account", "Value": "self"})["ProvisionedProducts"]
    attr = next(p for p in found if p["Id"] == pp["Id"])
    assert {t["Key"]: t["Value"] for t in attr.get("Tags", [])}.get("Owner") == "awsjoe"
    # ProvisionedProductAttribute.PhysicalId (SearchProvisionedProducts) is the stack ARN
    stack = cfn.describe_stacks(StackName=attr["PhysicalId"])["Stacks"][0]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params["NotebookUserName"] == "joe"
    # every provisioned notebook's stack imports the role export (read from its template: moto 5.2.5
    # has no ListImports)
    body = cfn.get_template(StackName=stack["StackName"])["TemplateBody"]
    assert 'Fn::ImportValue: !Sub "${S3IAMConfigStackName}-SageMakerNotebookInstanceRole-ARN"' in body


def test_console_launch_has_no_owner_tag_and_any_name(deployed):
    acct, info = deployed
    grant_tagging()
    out = blog.launch_console_style("maria", "my-notebook-for-tuesday")
    assert out["record_status"] == "SUCCEEDED" and out["provisioned_product_status"] == "AVAILABLE", out
    blog.client("sagemaker").describe_notebook_instance(NotebookInstanceName="maria-Notebook")
    sc = blog.client("servicecatalog")
    found = sc.search_provisioned_products(AccessLevelFilter={"Key": "Account", "Value": "self"})["ProvisionedProducts"]
    pp = next(p for p in found if p["Id"] == out["provisioned_product_id"])
    assert pp["Name"] == "my-notebook-for-tuesday"
    assert "Owner" not in {t["Key"] for t in pp.get("Tags", [])}


def test_readme_command_verbatim_fails_on_undeclared_parameters(deployed):
    """The README's literal command also sends NotebookInstanceName and KMSStackName, which the
    product template does not declare: CloudFormation refuses undeclared parameters
    ("Parameters: [...] do not exist in the template"), so the launch fails and no notebook is made."""
    out = blog.launch_readme_style("ann", "demoProduct3", "awsann", readme_extra=True)
    assert out["record_status"] == "FAILED", out
    assert any("do not exist" in e.get("Description", "") for e in out["record_errors"]), out
    with pytest.raises(botocore.exceptions.ClientError):
        blog.client("sagemaker").describe_notebook_instance(NotebookInstanceName="ann-Notebook")


def test_terminate_removes_the_notebook(deployed):
    grant_tagging()
    out = blog.launch_readme_style("bob", "demoProduct4", "awsbob")
    assert out["provisioned_product_status"] == "AVAILABLE", out
    sc = blog.client("servicecatalog")
    sc.terminate_provisioned_product(ProvisionedProductId=out["provisioned_product_id"], TerminateToken="t-bob")
    import time

    for _ in range(200):
        try:
            sc.describe_provisioned_product(Id=out["provisioned_product_id"])
        except botocore.exceptions.ClientError:
            break
        time.sleep(0.1)
    status = "gone"
    try:
        status = blog.client("sagemaker").describe_notebook_instance(NotebookInstanceName="bob-Notebook")[
            "NotebookInstanceStatus"
        ]
    except botocore.exceptions.ClientError:
        pass
    assert status in ("gone", "Deleting"), status


def test_cli_deploys_and_launches(sandbox):
    acct = account()
    py = sys.executable
    script = os.path.join(FIXTURE, "deploy.py")
    base = [py, script, "--endpoint", sandbox["url"], "--account", acct]
    r = subprocess.run(base + ["deploy"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["product_id"].startswith("prod-") and info["bucket"]
    import boto3

    grant_tagging(
        boto3.client(
            "iam",
            endpoint_url=sandbox["url"],
            region_name="us-east-1",
            aws_access_key_id=acct,
            aws_secret_access_key="sandbox",
        )
    )
    r = subprocess.run(base + ["launch", "readme"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["provisioned_product_name"], out["notebook"], out["provisioned_product_status"]) == (
        "demoProduct2",
        "joe-Notebook",
        "AVAILABLE",
    )
    r = subprocess.run(
        base + ["launch", "console", "--user", "sam", "--name", "whatever-1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["notebook"] == "sam-Notebook"
    r = subprocess.run(
        base + ["launch", "readme", "--user", "x", "--name", "demoProduct9", "--readme-extra"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1 and json.loads(r.stdout)["record_status"] == "FAILED"
