"""Per-account IAM authorization (iam/enforcement.py): an IAM user's key is checked against its
policies in an account with iam_enforced=1; the root key (12-digit id) never is.

    .sandbox/venv/bin/python -m pytest tests/sandbox/tests/test_iam_enforcement.py -q
"""

from __future__ import annotations

import json

import boto3
import botocore.config
import botocore.exceptions
import pytest
from support import client, control, new_account

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ssm:GetParameter", "servicecatalog:ListPortfolios"], "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data-*/public/*"},
        # AWSServiceCatalogEndUserFullAccess style: own provisioned products only
        {
            "Effect": "Allow",
            "Action": "servicecatalog:SearchProvisionedProducts",
            "Resource": "*",
            "Condition": {"StringEquals": {"servicecatalog:userLevel": "self"}},
        },
        {
            "Effect": "Deny",
            "Action": "ssm:GetParameter",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
        },
    ],
}


def user_client(sb, service, key, region="us-east-1"):
    cfg = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"})
    return boto3.client(
        service,
        endpoint_url=sb["url"],
        region_name=region,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=cfg,
    )


def make_user(sb, account, name, policy):
    """What a Rust e2e test does (see iam/enforcement.py): root creates the user, its policy and a key."""
    iam = client(sb, "iam", account)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="under-test", PolicyDocument=json.dumps(policy))
    return iam.create_access_key(UserName=name)["AccessKey"]


def denied(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_user_key_lands_in_its_account(sandbox):
    a = new_account()
    key = make_user(sandbox, a, "alice", POLICY)
    assert not key["AccessKeyId"].isdigit()
    ident = user_client(sandbox, "sts", key).get_caller_identity()
    assert ident["Account"] == a and ident["Arn"] == f"arn:aws:iam::{a}:user/alice"
    # state is the account's: a parameter root wrote is what alice reads
    client(sandbox, "ssm", a).put_parameter(Name="/p", Value="v", Type="String")
    assert user_client(sandbox, "ssm", key).get_parameter(Name="/p")["Parameter"]["Value"] == "v"


def test_actions_outside_the_policy_are_denied_inside_allowed(sandbox):
    a = new_account()
    key = make_user(sandbox, a, "alice", POLICY)
    root_ssm = client(sandbox, "ssm", a)
    root_ssm.put_parameter(Name="/p", Value="v", Type="String")
    s3 = client(sandbox, "s3", a)
    s3.create_bucket(Bucket=f"data-{a}")
    for k in ("public/a.txt", "private/b.txt"):
        s3.put_object(Bucket=f"data-{a}", Key=k, Body=b"x")
    ssm, sc, us3 = (user_client(sandbox, s, key) for s in ("ssm", "servicecatalog", "s3"))

    # off by default: everything goes
    ssm.put_parameter(Name="/q", Value="v", Type="String")
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})

    # inside the policy
    assert ssm.get_parameter(Name="/p")["Parameter"]["Value"] == "v"
    assert sc.list_portfolios()["PortfolioDetails"] == []
    assert us3.get_object(Bucket=f"data-{a}", Key="public/a.txt")["Body"].read() == b"x"
    assert sc.search_provisioned_products()["ProvisionedProducts"] == []  # userLevel self
    # outside
    code, msg = denied(ssm.put_parameter, Name="/r", Value="v", Type="String")
    assert code in ("AccessDeniedException", "AccessDenied") and "ssm:PutParameter" in msg
    code, msg = denied(sc.create_portfolio, DisplayName="p", ProviderName="x", IdempotencyToken="t")
    assert code == "AccessDeniedException"
    assert msg == (
        f"User: arn:aws:iam::{a}:user/alice is not authorized to perform: servicecatalog:CreatePortfolio "
        "because no identity-based policy allows the servicecatalog:CreatePortfolio action"
    )
    assert denied(us3.get_object, Bucket=f"data-{a}", Key="private/b.txt")[0] == "AccessDenied"
    assert denied(us3.list_buckets)[0] == "AccessDenied"
    # a condition the policy sets: account-wide search is not the user's own
    code, _ = denied(sc.search_provisioned_products, AccessLevelFilter={"Key": "Account", "Value": "self"})
    assert code == "AccessDeniedException"
    # explicit Deny with a condition on the Region
    assert denied(user_client(sandbox, "ssm", key, "eu-west-1").get_parameter, Name="/p")[0] in (
        "AccessDeniedException",
        "AccessDenied",
    )
    # a wrong secret is refused before any policy
    bad = dict(key, SecretAccessKey="wrong")
    assert denied(user_client(sandbox, "ssm", bad).get_parameter, Name="/p")[0] in (
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
    )
    assert denied(user_client(sandbox, "servicecatalog", bad).list_portfolios)[0] == "InvalidSignatureException"
    # root is never checked
    root_ssm.put_parameter(Name="/root", Value="v", Type="String")
    client(sandbox, "servicecatalog", a).create_portfolio(DisplayName="p", ProviderName="x", IdempotencyToken="t")
    # and the switch is per account: another account's users are not checked
    b = new_account()
    other = make_user(
        sandbox, b, "bob", {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    )
    user_client(sandbox, "ssm", other).put_parameter(Name="/free", Value="v", Type="String")
    # off again
    control(sandbox, "config", {"account_id": a, "iam_enforced": 0})
    ssm.put_parameter(Name="/r", Value="v", Type="String")


def test_assumed_role_keys_are_checked_against_the_role(sandbox):
    a = new_account()
    iam = client(sandbox, "iam", a)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{a}:root"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="operator", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName="operator",
        PolicyName="p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ssm:DescribeParameters", "Resource": "*"}],
            }
        ),
    )
    creds = client(sandbox, "sts", a).assume_role(RoleArn=f"arn:aws:iam::{a}:role/operator", RoleSessionName="me")[
        "Credentials"
    ]
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})
    cfg = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
    ssm = boto3.client(
        "ssm",
        endpoint_url=sandbox["url"],
        region_name="us-east-1",
        config=cfg,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    assert ssm.describe_parameters()["Parameters"] == []
    code, msg = denied(ssm.put_parameter, Name="/x", Value="v", Type="String")
    assert code == "AccessDeniedException" and "assumed-role/operator/me" in msg


def test_form_body_is_checked_over_the_bytes_the_client_signed(sandbox):
    """A query-protocol request is signed over its body's bytes. botocore encodes a space as '+',
    the AWS SDK for Rust as '%20' (both valid form encodings): a signature over either must match,
    so the sandbox checks the body as sent, not moto's re-encoding of the parsed form."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    a = new_account()
    key = make_user(
        sandbox,
        a,
        "carl",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "cloudformation:ValidateTemplate", "Resource": "*"}],
        },
    )
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})
    template = '{"Description": "a b ~ c", "Resources": {"T": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}'
    from urllib.parse import quote

    def send(body: bytes, secret: str) -> int:
        req = AWSRequest(
            method="POST",
            url=sandbox["url"] + "/",
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Host": sandbox["url"].split("//", 1)[1],
            },
        )
        SigV4Auth(Credentials(key["AccessKeyId"], secret), "cloudformation", "us-east-1").add_auth(req)
        http = urllib.request.Request(sandbox["url"] + "/", data=body, method="POST", headers=dict(req.headers))
        try:
            with urllib.request.urlopen(http, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    # percent-encoded spaces (%20) and '~' unescaped, as the Rust SDK's query serializer writes them
    body = f"Action=ValidateTemplate&Version=2010-05-15&TemplateBody={quote(template, safe='~')}".encode()
    assert b"%20" in body
    assert send(body, key["SecretAccessKey"]) == 200
    assert send(body, "wrong") == 403


def test_ssm_cloudformation_and_sagemaker_resources_are_named(sandbox):
    """named_resources: an Allow scoped to ARNs applies to the parameters, stacks and notebooks it
    names, not to others; a notebook's ARN must be allowed in its given and lower-case spellings."""
    a = new_account()
    key = make_user(
        sandbox,
        a,
        "rita",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ssm:GetParameter", "ssm:DeleteParameters"],
                    "Resource": f"arn:aws:ssm:*:{a}:parameter/team/*",
                },
                {
                    "Effect": "Allow",
                    "Action": "cloudformation:DescribeStacks",
                    "Resource": f"arn:aws:cloudformation:us-east-1:{a}:stack/app/*",
                },
                {
                    "Effect": "Allow",
                    "Action": "sagemaker:DescribeNotebookInstance",
                    "Resource": [f"arn:aws:sagemaker:us-east-1:{a}:notebook-instance/*-notebook"],
                },
            ],
        },
    )
    ssm = client(sandbox, "ssm", a)
    for name in ("/team/a", "/other/b"):
        ssm.put_parameter(Name=name, Value="v", Type="String")
    body = "Resources:\n  H:\n    Type: AWS::CloudFormation::WaitConditionHandle\n"
    for stack in ("app", "db"):
        client(sandbox, "cloudformation", a).create_stack(StackName=stack, TemplateBody=body)
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})
    ussm, ucfn, usm = (user_client(sandbox, s, key) for s in ("ssm", "cloudformation", "sagemaker"))

    assert ussm.get_parameter(Name="/team/a")["Parameter"]["Value"] == "v"
    code, msg = denied(ussm.get_parameter, Name="/other/b")
    assert code == "AccessDeniedException" and "parameter/other/b" in msg
    # every name of a batch must be allowed
    assert denied(ussm.delete_parameters, Names=["/team/a", "/other/b"])[0] == "AccessDeniedException"
    assert ucfn.describe_stacks(StackName="app")["Stacks"][0]["StackName"] == "app"
    assert denied(ucfn.describe_stacks, StackName="db")[0] == "AccessDenied"
    # lower-case name: both spellings match *-notebook (the answer is "not found", past IAM)
    assert denied(usm.describe_notebook_instance, NotebookInstanceName="x-notebook")[0] == "ValidationException"
    # mixed case: the given spelling does not match, so the worst case denies it
    code, msg = denied(usm.describe_notebook_instance, NotebookInstanceName="x-Notebook")
    assert code == "AccessDeniedException" and "notebook-instance/x-Notebook" in msg


def test_query_protocol_denials_have_awsquery_error_shape(sandbox):
    """CloudFormation (awsQuery) answers AccessDenied as <ErrorResponse><Error><Code>, which every SDK
    parses; moto's <ErrorResponse><Errors><Error> left the AWS SDK for Rust without an error code."""
    import re
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    a = new_account()
    key = make_user(
        sandbox,
        a,
        "dora",
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}]},
    )
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})
    body = b"Action=DescribeStacks&Version=2010-05-15"
    req = AWSRequest(
        method="POST",
        url=sandbox["url"] + "/",
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Host": sandbox["url"].split("//", 1)[1],
        },
    )
    SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "cloudformation", "us-east-1").add_auth(req)
    http = urllib.request.Request(sandbox["url"] + "/", data=body, method="POST", headers=dict(req.headers))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(http, timeout=10)
    assert e.value.code == 403
    xml = e.value.read().decode()
    assert re.match(
        r"<ErrorResponse[^>]*><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: "
        rf"arn:aws:iam::{a}:user/dora is not authorized to perform: cloudformation:DescribeStacks",
        xml,
    ), xml
    assert "<Errors>" not in xml and "<RequestId>" in xml
