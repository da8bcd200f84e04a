"""nvsandbox/cloudformation/takeover.py: ListImports, exports in use, IAM role and S3 bucket updates, ExportName.

.sandbox/venv/bin/python -m pytest -q tests/sandbox/tests/test_cloudformation_takeover.py
"""

from __future__ import annotations

import json
import os

import botocore.exceptions
import pytest
from support import BLOG_FIXTURE as FIXTURE
from support import blog, client, grant_tagging, new_account

from nvsandbox.cloudformation.stacks import load_template

ROLE_EXPORT = "s3-iam-config-SageMakerNotebookInstanceRole-ARN"


def _update(cfn, name, template: dict, params: dict):
    cfn.update_stack(
        StackName=name,
        TemplateBody=json.dumps(template, default=str),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
    )
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def _fixture_template(name: str) -> dict:
    with open(os.path.join(FIXTURE, "templates", name)) as f:
        return load_template(f.read())


@pytest.fixture
def blog_deployed(sandbox):
    acct = new_account()
    info = blog.deploy(sandbox["url"], acct)
    grant_tagging()
    return acct, info


def test_list_imports_names_the_notebook_stacks_and_an_export_in_use_cannot_be_removed(sandbox, blog_deployed):
    acct, _ = blog_deployed
    cfn = client(sandbox, "cloudformation", acct)
    params = {"SageMakerNotebookInstanceRoleName": "SageMakerNotebookInstanceRole"}
    # Only the catalog stack imports the role export so far.
    assert cfn.list_imports(ExportName=ROLE_EXPORT)["Imports"] == ["service-catalog-config"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cfn.list_imports(ExportName="no-such-export")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cfn.list_imports(ExportName="s3-iam-config-Bucket-URL")
    assert e.value.response["Error"]["Message"] == "Export 's3-iam-config-Bucket-URL' is not imported by any stack."

    assert blog.launch_readme_style()["record_status"] == "SUCCEEDED"
    imports = cfn.list_imports(ExportName=ROLE_EXPORT)["Imports"]
    assert "service-catalog-config" in imports and len(imports) == 2, imports
    assert any(n.startswith("SC-") for n in imports), imports

    # Removing the imported export: refused, rolled back, nothing changed.
    template = _fixture_template("s3-iam-config.yml")
    template["Outputs"].pop("SageMakerNotebookInstanceRoleARN")
    stack = _update(cfn, "s3-iam-config", template, params)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", stack["StackStatus"]
    reasons = [
        ev.get("ResourceStatusReason", "") for ev in cfn.describe_stack_events(StackName="s3-iam-config")["StackEvents"]
    ]
    assert any(r.startswith(f"Export {ROLE_EXPORT} cannot be updated as it is in use by ") for r in reasons), reasons
    exports = {x["Name"] for x in cfn.list_exports()["Exports"]}
    assert ROLE_EXPORT in exports
    assert "SageMakerNotebookInstanceRoleARN" in json.dumps(cfn.get_template(StackName="s3-iam-config")["TemplateBody"])

    # Changing its value (the role replaced under a new name): refused too.
    template = _fixture_template("s3-iam-config.yml")
    template["Resources"]["SageMakerNotebookInstanceRole"]["Properties"]["RoleName"] = {
        "Fn::Sub": "${AWS::StackName}-${SageMakerNotebookInstanceRoleName}"
    }
    stack = _update(cfn, "s3-iam-config", template, params)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    iam = client(sandbox, "iam", acct)
    iam.get_role(RoleName="SageMakerNotebookInstanceRole")

    # An export nobody imports may go; ListExports follows the stack's outputs.
    template = _fixture_template("s3-iam-config.yml")
    template["Outputs"].pop("S3BucketWebsiteURL")
    stack = _update(cfn, "s3-iam-config", template, params)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack["StackStatus"]
    exports = {x["Name"] for x in cfn.list_exports()["Exports"]}
    assert "s3-iam-config-Bucket-URL" not in exports and ROLE_EXPORT in exports, exports


def test_an_update_keeps_and_lists_every_resource_with_its_logical_id_and_type(sandbox, blog_deployed):
    acct, _ = blog_deployed
    cfn = client(sandbox, "cloudformation", acct)
    before = {
        r["LogicalResourceId"]: (r["ResourceType"], r["PhysicalResourceId"])
        for r in cfn.list_stack_resources(StackName="service-catalog-config")["StackResourceSummaries"]
    }
    assert before["NotebookCloudWatchLogGroup"][0] == "AWS::Logs::LogGroup"
    template = _fixture_template("service-catalog.yml")
    # a change elsewhere; the log group (no update handler in moto) is kept as it is
    template["Resources"]["AppServicesPortfolio"]["Properties"]["Description"] = "changed"
    params = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in cfn.describe_stacks(StackName="service-catalog-config")["Stacks"][0]["Parameters"]
    }
    template["Resources"]["Extra"] = {"Type": "AWS::Logs::LogGroup"}
    stack = _update(cfn, "service-catalog-config", template, params)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack["StackStatus"]
    after = {
        r["LogicalResourceId"]: (r["ResourceType"], r["PhysicalResourceId"])
        for r in cfn.list_stack_resources(StackName="service-catalog-config")["StackResourceSummaries"]
    }
    assert "" not in after, after
    assert after["NotebookCloudWatchLogGroup"] == before["NotebookCloudWatchLogGroup"]
    assert after["Extra"][0] == "AWS::Logs::LogGroup" and after["Extra"][1]
    assert set(after) == set(before) | {"Extra"}


ROLE_TEMPLATE = {
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "R": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": "adopt-rules-role",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sagemaker.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "old",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
                        },
                    }
                ],
                "Tags": [{"Key": "gone", "Value": "1"}],
            },
        },
    },
    "Outputs": {
        "RoleArn": {"Value": {"Fn::GetAtt": ["R", "Arn"]}, "Export": {"Name": "adopt-rules-role-arn"}},
        "SameValueNotExported": {"Value": {"Fn::GetAtt": ["R", "Arn"]}},
    },
}


def test_role_update_applies_policies_trust_tags_and_session_and_bucket_update_keeps_its_name(sandbox):
    acct = new_account()
    cfn, iam = client(sandbox, "cloudformation", acct), client(sandbox, "iam", acct)
    cfn.create_stack(StackName="roles", TemplateBody=json.dumps(ROLE_TEMPLATE), Capabilities=["CAPABILITY_NAMED_IAM"])
    role_id = iam.get_role(RoleName="adopt-rules-role")["Role"]["RoleId"]
    # a policy put outside CloudFormation stays
    iam.put_role_policy(
        RoleName="adopt-rules-role",
        PolicyName="by-hand",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
        ),
    )
    outputs = cfn.describe_stacks(StackName="roles")["Stacks"][0]["Outputs"]
    assert {o["OutputKey"]: o.get("ExportName") for o in outputs} == {
        "RoleArn": "adopt-rules-role-arn",
        "SameValueNotExported": None,
    }

    new = json.loads(json.dumps(ROLE_TEMPLATE))
    props = new["Resources"]["R"]["Properties"]
    props["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"] = "servicecatalog.amazonaws.com"
    props["Policies"] = [
        {
            "PolicyName": "new",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sagemaker:DescribeNotebookInstance", "Resource": "*"}],
            },
        }
    ]
    props["Tags"] = [{"Key": "kept", "Value": "2"}]
    props["MaxSessionDuration"] = 7200
    new["Resources"]["Bucket"]["Properties"] = {"Tags": [{"Key": "Application", "Value": "notebook-vend"}]}
    stack = _update(cfn, "roles", new, {})
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack

    role = iam.get_role(RoleName="adopt-rules-role")["Role"]
    assert role["RoleId"] == role_id
    assert role["MaxSessionDuration"] == 7200
    assert "servicecatalog.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])
    assert sorted(iam.list_role_policies(RoleName="adopt-rules-role")["PolicyNames"]) == ["by-hand", "new"]
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="adopt-rules-role")["Tags"]}
    assert tags == {"kept": "2"}, tags
    bucket = next(
        r
        for r in cfn.list_stack_resources(StackName="roles")["StackResourceSummaries"]
        if r["LogicalResourceId"] == "Bucket"
    )["PhysicalResourceId"]
    s3 = client(sandbox, "s3", acct)
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "Application", "Value": "notebook-vend"}]
