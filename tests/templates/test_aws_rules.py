"""The templates against AWS rules moto alone lets pass (launch-role and notebook-role permissions,
regional template URLs, the role name limit), read from the templates themselves so that a template
breaking one fails here, before any deployment.

Each test names its AWS source. The policies are evaluated with the sandbox's IAM evaluator
(tests/sandbox/nvsandbox/iam/policy.py), Fn::Sub resolved with example values.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from test_templates import TEMPLATE_FILES, TEMPLATES, load

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sandbox"))
from nvsandbox.iam import policy as iam_policy  # noqa: E402

ACCOUNT, REGION = "123456789012", "af-south-1"
BUCKET = "s3-iam-config-s3bucket-1p85zr5051d86"
VARS = {
    "AWS::Partition": "aws",
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "s3-iam-config",
    "S3BucketName": BUCKET,
    "ServiceCatalogTemplateName": "sm-notebook.yml",
    "S3IAMConfigStackName": "s3-iam-config",
    "S3Bucket.Arn": f"arn:aws:s3:::{BUCKET}",
}


def role_policies(template: str, logical_id: str) -> list[dict]:
    res = load(template)["Resources"][logical_id]["Properties"]
    vars_ = dict(VARS)
    return [iam_policy.substitute(p["PolicyDocument"], vars_) for p in res.get("Policies", [])]


# A1 ---------------------------------------------------------------------------------------------
# Service Catalog admin guide, "AWS Service Catalog launch constraints" (constraints-launch.html):
# the launch role needs "read access to the AWS CloudFormation template in a service-owned Amazon S3
# bucket": s3:GetObject on "*" with condition s3:ExistingObjectTag/servicecatalog:provisioning = "true".

SC_COPY = "arn:aws:s3:::cf-templates-servicecatalog-af-south-1-abc123/prod-x/pa-y/sm-notebook.yml"


def test_launch_role_reads_service_catalogs_copy_of_the_template():
    pols = role_policies("service-catalog.yml", "LaunchRole")
    tagged = {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}
    assert iam_policy.allowed(pols, "s3:GetObject", SC_COPY, tagged)
    # ... only objects Service Catalog tagged for provisioning
    assert not iam_policy.allowed(pols, "s3:GetObject", SC_COPY, {})
    assert not iam_policy.allowed(pols, "s3:GetObject", "arn:aws:s3:::someone-elses-bucket/secret.txt", {})


def test_launch_role_needs_no_access_to_the_bootstrap_bucket():
    # Service Catalog reads LoadTemplateFromURL with the caller's credentials when the product version
    # is created and keeps its own copy; CloudFormation reads that copy with the launch role.
    pols = role_policies("service-catalog.yml", "LaunchRole")
    assert not iam_policy.allowed(pols, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/sm-notebook.yml", {})


# A2 ---------------------------------------------------------------------------------------------
# S3 user guide, "Virtual hosting of buckets" (VirtualHosting.html): the legacy global endpoint
# <bucket>.s3.amazonaws.com answers 400 for buckets in Regions launched after 2019-03-20 and may
# redirect (307) for other Regions right after a bucket is created; other partitions have other
# domains (amazonaws.com.cn). Regional form: <bucket>.s3.<region>.<url suffix>.


def test_product_template_url_is_regional_and_partition_aware():
    props = load("service-catalog.yml")["Resources"]["Product"]["Properties"]
    url = props["ProvisioningArtifactParameters"][0]["Info"]["LoadTemplateFromURL"]
    assert url == {
        "Fn::Sub": "https://${S3BucketName}.s3.${AWS::Region}.${AWS::URLSuffix}/${ServiceCatalogTemplateName}"
    }


def test_no_hard_coded_amazonaws_hosts():
    for name in TEMPLATE_FILES:
        text = (TEMPLATES / name).read_text()
        assert "s3.amazonaws.com" not in text, name
        # a regional service host must use ${AWS::URLSuffix} (kms:ViaService sagemaker.<region>.<suffix>)
        assert not re.search(r"\$\{AWS::Region\}\.amazonaws\.com", text), name


def test_kms_via_service_names_the_regional_sagemaker_endpoint():
    pols = role_policies("service-catalog.yml", "LaunchRole")
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    via = {"kms:ViaService": f"sagemaker.{REGION}.amazonaws.com"}
    assert iam_policy.allowed(pols, "kms:CreateGrant", key, via)
    assert not iam_policy.allowed(pols, "kms:CreateGrant", key, {"kms:ViaService": "ec2.af-south-1.amazonaws.com"})


# A13 --------------------------------------------------------------------------------------------
# Least privilege: the bootstrap bucket holds the product template only. A notebook reads nothing
# from it (the lifecycle script is inline in sm-notebook.yml; Service Catalog keeps its own copy of
# the template) and must never write it: a notebook user who could replace sm-notebook.yml would
# change what the next bootstrap publishes to every user.


def test_notebook_role_has_no_access_to_the_bootstrap_bucket():
    pols = role_policies("s3-iam-config.yml", "SageMakerNotebookInstanceRole")
    obj = f"arn:aws:s3:::{BUCKET}/sm-notebook.yml"
    for action in (
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObjectAcl",
        "s3:DeleteObjectVersion",
        "s3:ListBucket",
    ):
        resource = f"arn:aws:s3:::{BUCKET}" if action == "s3:ListBucket" else obj
        assert not iam_policy.allowed(pols, action, resource, {}), action
    # every s3 grant the role may have is gone: no statement names the bucket at all
    text = json.dumps(load("s3-iam-config.yml")["Resources"]["SageMakerNotebookInstanceRole"])
    assert "S3Bucket" not in text


def test_notebook_role_still_stops_its_notebook():
    pols = role_policies("s3-iam-config.yml", "SageMakerNotebookInstanceRole")
    nb = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/demo-user-notebook"
    assert iam_policy.allowed(pols, "sagemaker:StopNotebookInstance", nb, {})
    assert not iam_policy.allowed(pols, "sagemaker:DeleteNotebookInstance", nb, {})


# A4 (template part) ------------------------------------------------------------------------------
# IAM user guide, "IAM and AWS STS quotas": role names are at most 64 characters
# (CreateRole.RoleName, botocore iam model: min 1, max 64). The role is named
# <stack name>-<SageMakerNotebookInstanceRoleName>: with the parameter at its MaxLength the stack
# name may have 64 - 1 - MaxLength characters; the Rust side validates the derived name.


def test_notebook_role_name_fits_iam_limit():
    tpl = load("s3-iam-config.yml")
    role = tpl["Resources"]["SageMakerNotebookInstanceRole"]["Properties"]["RoleName"]
    assert role == {"Fn::Sub": "${AWS::StackName}-${SageMakerNotebookInstanceRoleName}"}
    param = tpl["Parameters"]["SageMakerNotebookInstanceRoleName"]
    default_name = f"s3-iam-config-{param['Default']}"
    assert len(default_name) <= 64
    # the constraint says the rule, where CloudFormation users see it
    assert "64" in param["ConstraintDescription"] and "stack name" in param["ConstraintDescription"]
    # and the stack name left over at MaxLength is not absurd
    assert 64 - 1 - int(param["MaxLength"]) >= 13  # "s3-iam-config"


# Serverless mode -------------------------------------------------------------------------------
# Least privilege for the two functions' roles: what `watch` and `serve` call (src/permissions.rs,
# rows "lambda watch" / "lambda serve"), on the deployment's notebooks and URL parameters only. The
# rule matches SageMaker's own event (EventBridge events reference for SageMaker: source
# aws.sagemaker, detail-type "SageMaker Notebook Instance State Change"); the Function URL uses
# AuthType AWS_IAM (Lambda developer guide, "Control access to Lambda function URLs").

SERVERLESS_VARS = {"SsmPrefix": "/SageMaker/Notebooks/"}


def serverless_role(logical_id: str) -> list[dict]:
    res = load("serverless.yml")["Resources"][logical_id]["Properties"]
    vars_ = {**VARS, **SERVERLESS_VARS}
    return [iam_policy.substitute(p["PolicyDocument"], vars_) for p in res["Policies"]]


def test_function_roles_reach_only_the_deployments_notebooks_and_parameters():
    nb = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/alice-notebook"
    param = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/SageMaker/Notebooks/alice-Notebook"
    for role in ("WatchRole", "ServeRole"):
        pols = serverless_role(role)
        assert iam_policy.allowed(pols, "sagemaker:CreatePresignedNotebookInstanceUrl", nb, {}), role
        assert iam_policy.allowed(pols, "sagemaker:DescribeNotebookInstance", nb, {}), role
        assert iam_policy.allowed(pols, "ssm:PutParameter", param, {}), role
        other = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/other/secret"
        assert not iam_policy.allowed(pols, "ssm:PutParameter", other, {}), role
        assert not iam_policy.allowed(pols, "ssm:GetParameter", param, {}), role
        for action in (
            "sagemaker:StartNotebookInstance",
            "sagemaker:StopNotebookInstance",
            "sagemaker:DeleteNotebookInstance",
        ):
            assert not iam_policy.allowed(pols, action, nb, {}), (role, action)
        for action in ("servicecatalog:ProvisionProduct", "servicecatalog:TerminateProvisionedProduct"):
            assert not iam_policy.allowed(pols, action, "*", {}), (role, action)
        assert not iam_policy.allowed(pols, "sagemaker:CreatePresignedNotebookInstanceUrl", f"{nb[:-8]}other-box", {})


def test_the_rule_matches_sagemakers_own_event_and_the_url_needs_iam():
    res = load("serverless.yml")["Resources"]
    pattern = res["StateChangeRule"]["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == ["SageMaker Notebook Instance State Change"]
    assert "InService" in pattern["detail"]["NotebookInstanceStatus"]
    assert res["ServeUrl"]["Properties"]["AuthType"] == "AWS_IAM"
    for fn, handler in (("WatchFunction", "watch"), ("ServeFunction", "serve")):
        props = res[fn]["Properties"]
        assert props["Runtime"] == "provided.al2023"
        assert props["Handler"] == handler
        assert props["Code"]["S3Key"] == {"Ref": "CodeKey"}
        assert props["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    on_failure = res["WatchInvokeConfig"]["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert on_failure == {"Fn::GetAtt": ["FailureQueue", "Arn"]}
    key = load("serverless.yml")["Parameters"]["CodeKey"]["AllowedPattern"]
    assert re.fullmatch(key, "lambda/" + "0" * 64 + ".zip")
    assert not re.fullmatch(key, "lambda/bootstrap.zip")
