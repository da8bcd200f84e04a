"""The deploy side of serverless mode in the sandbox: the Lambda resource types moto's CloudFormation
lacks (awslambda/cfn_resources.py) and Lambda's deployment package limits
(awslambda/package_limits.py)."""

from __future__ import annotations

import io
import json
import zipfile

import botocore.exceptions
import pytest
from support import client, new_account

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _zip(size: int, name: str = "bootstrap") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o100755 << 16
        z.writestr(info, b"\0" * size)
    return buf.getvalue()


def _role(account: str, sb) -> str:
    iam = client(sb, "iam", account)
    return iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]


def test_unzipped_size_over_250_mb_is_refused_and_the_function_keeps_its_code(sandbox):
    account = new_account()
    lam, s3 = client(sandbox, "lambda", account), client(sandbox, "s3", account)
    role = _role(account, sandbox)
    s3.create_bucket(Bucket=f"code-{account}")
    s3.put_object(Bucket=f"code-{account}", Key="ok.zip", Body=_zip(1000))
    s3.put_object(Bucket=f"code-{account}", Key="big.zip", Body=_zip(262_144_000))  # deflates to ~250 KB
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(
            FunctionName="big",
            Runtime="provided.al2023",
            Handler="watch",
            Role=role,
            Code={"S3Bucket": f"code-{account}", "S3Key": "big.zip"},
        )
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "Unzipped size must be smaller than 262144000 bytes" in e.value.response["Error"]["Message"]
    lam.create_function(
        FunctionName="fn",
        Runtime="provided.al2023",
        Handler="watch",
        Role=role,
        Code={"S3Bucket": f"code-{account}", "S3Key": "ok.zip"},
    )
    before = lam.get_function(FunctionName="fn")["Configuration"]["CodeSha256"]
    with pytest.raises(botocore.exceptions.ClientError):
        lam.update_function_code(FunctionName="fn", S3Bucket=f"code-{account}", S3Key="big.zip")
    assert lam.get_function(FunctionName="fn")["Configuration"]["CodeSha256"] == before
    # Just under the limit passes.
    s3.put_object(Bucket=f"code-{account}", Key="edge.zip", Body=_zip(262_143_999))
    lam.update_function_code(FunctionName="fn", S3Bucket=f"code-{account}", S3Key="edge.zip")


def test_a_direct_upload_over_50_mb_zipped_or_not_a_zip_is_refused(sandbox):
    account = new_account()
    lam = client(sandbox, "lambda", account)
    role = _role(account, sandbox)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(
            FunctionName="notzip", Runtime="provided.al2023", Handler="watch", Role=role, Code={"ZipFile": b"not a zip"}
        )
    assert "Could not unzip uploaded file" in e.value.response["Error"]["Message"]
    from nvsandbox.awslambda import package_limits

    with pytest.raises(Exception, match="direct upload"):
        package_limits.check(b"x" * (52_428_800 + 1), direct=True)
    package_limits.check(_zip(10), direct=True)


def test_function_url_and_event_invoke_config_are_created_updated_and_deleted_by_cloudformation(sandbox):
    account = new_account()
    cfn, lam, s3 = (client(sandbox, s, account) for s in ("cloudformation", "lambda", "s3"))
    role = _role(account, sandbox)
    s3.create_bucket(Bucket=f"code-{account}")
    s3.put_object(Bucket=f"code-{account}", Key="ok.zip", Body=_zip(10))

    def template(auth: str, retries: int) -> str:
        return json.dumps(
            {
                "Resources": {
                    "Fn": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "FunctionName": "f",
                            "Runtime": "provided.al2023",
                            "Handler": "serve",
                            "Role": role,
                            "Architectures": ["arm64"],
                            "Code": {"S3Bucket": f"code-{account}", "S3Key": "ok.zip"},
                        },
                    },
                    "Url": {
                        "Type": "AWS::Lambda::Url",
                        "Properties": {"AuthType": auth, "TargetFunctionArn": {"Fn::GetAtt": ["Fn", "Arn"]}},
                    },
                    "Cfg": {
                        "Type": "AWS::Lambda::EventInvokeConfig",
                        "Properties": {
                            "FunctionName": {"Ref": "Fn"},
                            "Qualifier": "$LATEST",
                            "MaximumRetryAttempts": retries,
                        },
                    },
                },
                "Outputs": {"Url": {"Value": {"Fn::GetAtt": ["Url", "FunctionUrl"]}}},
            }
        )

    cfn.create_stack(StackName="s", TemplateBody=template("AWS_IAM", 2))
    stack = cfn.describe_stacks(StackName="s")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    url = lam.get_function_url_config(FunctionName="f")
    assert url["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert url["AuthType"] == "AWS_IAM"
    assert stack["Outputs"][0]["OutputValue"] == url["FunctionUrl"]
    assert lam.get_function(FunctionName="f")["Configuration"]["Architectures"] == ["arm64"]
    assert lam.get_function_event_invoke_config(FunctionName="f")["MaximumRetryAttempts"] == 2

    cfn.update_stack(StackName="s", TemplateBody=template("NONE", 0))
    assert cfn.describe_stacks(StackName="s")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert lam.get_function_url_config(FunctionName="f")["AuthType"] == "NONE"
    assert lam.get_function_event_invoke_config(FunctionName="f")["MaximumRetryAttempts"] == 0

    cfn.delete_stack(StackName="s")
    with pytest.raises(botocore.exceptions.ClientError):
        lam.get_function(FunctionName="f")


def test_a_bad_auth_type_fails_the_stack(sandbox):
    account = new_account()
    cfn, s3 = client(sandbox, "cloudformation", account), client(sandbox, "s3", account)
    role = _role(account, sandbox)
    s3.create_bucket(Bucket=f"code-{account}")
    s3.put_object(Bucket=f"code-{account}", Key="ok.zip", Body=_zip(10))
    body = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "g",
                    "Runtime": "provided.al2023",
                    "Handler": "serve",
                    "Role": role,
                    "Code": {"S3Bucket": f"code-{account}", "S3Key": "ok.zip"},
                },
            },
            "Url": {
                "Type": "AWS::Lambda::Url",
                "Properties": {"AuthType": "SIGV4", "TargetFunctionArn": {"Fn::GetAtt": ["Fn", "Arn"]}},
            },
        }
    }
    cfn.create_stack(StackName="bad", TemplateBody=json.dumps(body))
    assert cfn.describe_stacks(StackName="bad")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"


def test_the_handlers_of_the_lambda_types_and_the_rule_need_their_own_calls():
    """cloudformation/principal.py: a one-permission handler needs that permission; a rule needs PutRule."""
    from nvsandbox.cloudformation import principal

    assert principal.called("us-east-1", "AWS::Lambda::Url", "create") == ("lambda:CreateFunctionUrlConfig",)
    assert principal.called("us-east-1", "AWS::Lambda::Url", "delete") == ("lambda:DeleteFunctionUrlConfig",)
    assert principal.called("us-east-1", "AWS::Lambda::EventInvokeConfig", "create") == (
        "lambda:PutFunctionEventInvokeConfig",
    )
    assert principal.called("us-east-1", "AWS::Lambda::Permission", "create") == ("lambda:AddPermission",)
    assert "events:PutRule" in principal.called("us-east-1", "AWS::Events::Rule", "create")
    assert "events:DeleteRule" in principal.called("us-east-1", "AWS::Events::Rule", "delete")
    assert "lambda:CreateFunction" in principal.called("us-east-1", "AWS::Lambda::Function", "create")
