"""Attribute-based access control in the sandbox's IAM evaluation (iam/conditions.py, sts/): policy
variables, resource tags of notebooks and parameters, role sessions with session tags, and a
presigned sts:GetCallerIdentity verified and answered as STS does.

    .sandbox/venv/bin/python -m pytest tests/sandbox/tests/test_abac.py -q
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from support import client, control, new_account
from test_iam_enforcement import denied, make_user, user_client

OWNER = "notebook-vend:user"
# The shape `notebook-vend policy end-user` prints for notebooks and parameters.
END_USER = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeNotebookInstance", "sagemaker:StopNotebookInstance"],
            "Resource": [
                "arn:aws:sagemaker:*:*:notebook-instance/*-notebook",
                "arn:aws:sagemaker:*:*:notebook-instance/*-Notebook",
            ],
            "Condition": {"StringEquals": {f"aws:ResourceTag/{OWNER}": var}},
        }
        for var in ("${aws:username}", "${aws:PrincipalTag/notebook-vend:user}")
    ]
    + [
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"],
            "Resource": f"arn:aws:ssm:*:*:parameter/SageMaker/Notebooks/{var}-Notebook",
        }
        for var in ("${aws:username}", "${aws:PrincipalTag/notebook-vend:user}")
    ],
}


def _notebook(sb, account, user):
    sm = client(sb, "sagemaker", account)
    iam = client(sb, "iam", account)
    try:
        role = iam.get_role(RoleName="nb")["Role"]["Arn"]
    except Exception:  # noqa: BLE001
        role = iam.create_role(RoleName="nb", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sm.create_notebook_instance(
        NotebookInstanceName=f"{user}-Notebook",
        InstanceType="ml.t3.medium",
        RoleArn=role,
        Tags=[{"Key": OWNER, "Value": user}],
    )


def _param(sb, account, user):
    client(sb, "ssm", account).put_parameter(Name=f"/SageMaker/Notebooks/{user}-Notebook", Value="u", Type="String")


def _session(sb, account, role_name, session, tags, trust_tag_session=True):
    iam = client(sb, "iam", account)
    actions = ["sts:AssumeRole"] + (["sts:TagSession"] if trust_tag_session else [])
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": actions}],
    }
    arn = iam.create_role(
        RoleName=role_name, Path="/aws-reserved/sso.amazonaws.com/", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    iam.put_role_policy(RoleName=role_name, PolicyName="end-user", PolicyDocument=json.dumps(END_USER))
    out = client(sb, "sts", account).assume_role(
        RoleArn=arn, RoleSessionName=session, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )
    c = out["Credentials"]
    return {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"], "SessionToken": c["SessionToken"]}


def session_client(sb, service, creds):
    return boto3.client(
        service,
        endpoint_url=sb["url"],
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def test_iam_users_reach_only_the_notebook_and_parameter_their_name_owns(sandbox):
    a = new_account()
    alice = make_user(sandbox, a, "alice", END_USER)
    make_user(sandbox, a, "bob", END_USER)
    for u in ("alice", "bob"):
        _notebook(sandbox, a, u)
        _param(sandbox, a, u)
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})
    sm, ssm = user_client(sandbox, "sagemaker", alice), user_client(sandbox, "ssm", alice)
    assert sm.describe_notebook_instance(NotebookInstanceName="alice-Notebook")["NotebookInstanceName"]
    assert ssm.get_parameter(Name="/SageMaker/Notebooks/alice-Notebook")["Parameter"]["Value"] == "u"
    ssm.put_parameter(Name="/SageMaker/Notebooks/alice-Notebook", Value="v", Type="String", Overwrite=True)
    code, msg = denied(sm.describe_notebook_instance, NotebookInstanceName="bob-Notebook")
    assert code == "AccessDeniedException" and "bob-notebook" in msg.lower(), msg
    denied(sm.stop_notebook_instance, NotebookInstanceName="bob-Notebook")
    for call, kw in [
        (ssm.get_parameter, {"Name": "/SageMaker/Notebooks/bob-Notebook"}),
        (
            ssm.put_parameter,
            {"Name": "/SageMaker/Notebooks/bob-Notebook", "Value": "x", "Type": "String", "Overwrite": True},
        ),
        (ssm.delete_parameter, {"Name": "/SageMaker/Notebooks/bob-Notebook"}),
        # a parameter of bob's that does not exist yet: the name decides, not a tag
        (ssm.put_parameter, {"Name": "/SageMaker/Notebooks/bobby-Notebook", "Value": "x", "Type": "String"}),
    ]:
        code, _ = denied(call, **kw)
        assert code == "AccessDeniedException", (call, code)
    # a notebook of alice's name whose owner tag says bob is bob's
    client(sandbox, "sagemaker", a).delete_tags(
        ResourceArn=client(sandbox, "sagemaker", a).describe_notebook_instance(NotebookInstanceName="alice-Notebook")[
            "NotebookInstanceArn"
        ],
        TagKeys=[OWNER],
    )
    denied(sm.describe_notebook_instance, NotebookInstanceName="alice-Notebook")
    assert (
        client(sandbox, "ssm", a).get_parameter(Name="/SageMaker/Notebooks/bob-Notebook")["Parameter"]["Value"] == "u"
    )


def test_role_sessions_are_confined_by_their_session_tag_and_have_no_username(sandbox):
    a = new_account()
    for u in ("carol", "dave"):
        _notebook(sandbox, a, u)
        _param(sandbox, a, u)
    carol = _session(sandbox, a, "AWSReservedSSO_DataScientist_1", "carol", {OWNER: "carol"})
    # a session named like bob but tagged dave: the tag decides, the session name is not aws:username
    dave = _session(sandbox, a, "AWSReservedSSO_DataScientist_2", "carol", {OWNER: "dave"})
    untagged = _session(sandbox, a, "AWSReservedSSO_DataScientist_3", "carol", {})
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})
    ident = session_client(sandbox, "sts", carol).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{a}:assumed-role/AWSReservedSSO_DataScientist_1/carol"
    sm = session_client(sandbox, "sagemaker", carol)
    sm.describe_notebook_instance(NotebookInstanceName="carol-Notebook")
    denied(sm.describe_notebook_instance, NotebookInstanceName="dave-Notebook")
    session_client(sandbox, "ssm", carol).get_parameter(Name="/SageMaker/Notebooks/carol-Notebook")
    denied(session_client(sandbox, "ssm", carol).get_parameter, Name="/SageMaker/Notebooks/dave-Notebook")
    session_client(sandbox, "sagemaker", dave).describe_notebook_instance(NotebookInstanceName="dave-Notebook")
    denied(session_client(sandbox, "sagemaker", dave).describe_notebook_instance, NotebookInstanceName="carol-Notebook")
    # no session tag and no aws:username: nothing
    denied(
        session_client(sandbox, "sagemaker", untagged).describe_notebook_instance, NotebookInstanceName="carol-Notebook"
    )
    denied(session_client(sandbox, "ssm", untagged).get_parameter, Name="/SageMaker/Notebooks/carol-Notebook")


def test_session_tags_need_sts_tag_session_in_the_trust_policy(sandbox):
    a = new_account()
    with pytest.raises(Exception) as e:
        _session(sandbox, a, "NoTagSession", "eve", {OWNER: "eve"}, trust_tag_session=False)
    assert "TagSession" in str(e.value)
    with pytest.raises(Exception) as e:
        _session(sandbox, a, "Dup", "eve", {"k": "1", "K": "2"})
    assert "Duplicate" in str(e.value) or "ValidationError" in str(e.value)


def test_variables_with_defaults_and_an_explicit_deny_by_tag():
    from nvsandbox.iam import policy

    p = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": "arn:aws:ssm:*:*:parameter/${aws:username, 'shared'}/*",
            },
            {
                "Effect": "Deny",
                "Action": "ssm:GetParameter",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"ssm:resourceTag/team": "${aws:PrincipalTag/team}"}},
            },
        ]
    }
    arn = "arn:aws:ssm:us-east-1:1:parameter/shared/x"
    both = {"aws:PrincipalTag/team": "a", "ssm:resourceTag/team": "a"}
    assert policy.allowed([p], "ssm:GetParameter", arn, both)
    assert not policy.allowed([p], "ssm:GetParameter", arn, {**both, "ssm:resourceTag/team": "b"})
    assert policy.allowed(
        [p], "ssm:GetParameter", "arn:aws:ssm:us-east-1:1:parameter/ann/x", {**both, "aws:username": "ann"}
    )
    assert not policy.allowed([p], "ssm:GetParameter", arn, {**both, "aws:username": "ann"})


# -- presigned GetCallerIdentity ----------------------------------------------------------------------


def presign(sb, creds, server_id="serve-1", expires=60, signed_at=None):
    """A presigned GetCallerIdentity as aws-iam-authenticator makes it: query-string SigV4 with a
    server-id header signed in."""
    c = botocore.credentials.Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken"))
    req = botocore.awsrequest.AWSRequest(
        method="GET",
        url=f"{sb['url']}/?Action=GetCallerIdentity&Version=2011-06-15",
        headers={"x-notebook-vend-server-id": server_id},
    )
    signer = botocore.auth.SigV4QueryAuth(c, "sts", "us-east-1", expires=expires)
    if signed_at is None:
        signer.add_auth(req)
    else:  # an old token: signed as at that time
        from unittest import mock

        with mock.patch("botocore.auth.get_current_datetime", lambda: signed_at.replace(tzinfo=None)):
            signer.add_auth(req)
    return req.url


def replay(url, server_id="serve-1"):
    req = urllib.request.Request(url, headers={"x-notebook-vend-server-id": server_id} if server_id else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_a_presigned_caller_identity_answers_the_signer(sandbox):
    import datetime

    a = new_account()
    alice = make_user(sandbox, a, "alice", END_USER)
    status, body = replay(presign(sandbox, alice))
    assert status == 200 and f"<Arn>arn:aws:iam::{a}:user/alice</Arn>" in body, body
    carol = _session(sandbox, a, "AWSReservedSSO_DataScientist_9", "carol", {OWNER: "carol"})
    status, body = replay(presign(sandbox, carol))
    assert status == 200 and "assumed-role/AWSReservedSSO_DataScientist_9/carol</Arn>" in body, body
    # the server-id header is signed: another value (another serve) or none fails
    status, body = replay(presign(sandbox, alice), server_id="serve-2")
    assert status == 403 and "SignatureDoesNotMatch" in body, body
    status, body = replay(presign(sandbox, alice), server_id=None)
    assert status == 403, body
    # a wrong secret, a changed query, an expired token
    status, body = replay(presign(sandbox, {**alice, "SecretAccessKey": "nope"}))
    assert status == 403 and "SignatureDoesNotMatch" in body, body
    status, body = replay(presign(sandbox, alice).replace("Version=2011-06-15", "Version=2011-06-16"))
    assert status == 403, body
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
    status, body = replay(presign(sandbox, alice, expires=900, signed_at=old))
    assert status == 403 and "expired" in body, body
    # an unknown key
    status, body = replay(presign(sandbox, {"AccessKeyId": "AKIAUNKNOWN000000000", "SecretAccessKey": "x"}))
    assert status == 403 and "InvalidClientTokenId" in body, body


# -- Service Catalog user level -----------------------------------------------------------------------

SC_END_USER = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["servicecatalog:ProvisionProduct", "servicecatalog:SearchProducts"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "servicecatalog:DescribeProvisionedProduct",
                "servicecatalog:SearchProvisionedProducts",
                "servicecatalog:DescribeRecord",
                "servicecatalog:TerminateProvisionedProduct",
            ],
            "Resource": "*",
            "Condition": {"StringEquals": {"servicecatalog:userLevel": "self"}},
        },
    ],
}


def test_an_end_user_reaches_only_their_own_provisioned_products(sandbox):
    from support import bootstrap, wait_record

    a = new_account()
    d = bootstrap(sandbox, a)
    keys = {u: make_user(sandbox, a, u, SC_END_USER) for u in ("erin", "finn")}
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})
    sc = {u: user_client(sandbox, "servicecatalog", k) for u, k in keys.items()}
    ids = {}
    for u in ("erin", "finn"):
        r = sc[u].provision_product(
            ProductId=d["product"],
            ProvisioningArtifactId=d["artifact"],
            PathId=d["path"],
            ProvisionedProductName=f"{u}-Notebook",
            ProvisionToken=f"tok-{u}",
            ProvisioningParameters=[{"Key": "NotebookUserName", "Value": u}],
        )
        wait_record(sc[u], r["RecordDetail"]["RecordId"])
        ids[u] = r["RecordDetail"]["ProvisionedProductId"]
    own = sc["erin"].search_provisioned_products(AccessLevelFilter={"Key": "User", "Value": "self"})
    assert [p["Name"] for p in own["ProvisionedProducts"]] == ["erin-Notebook"], own
    assert own["ProvisionedProducts"][0]["UserArn"] == f"arn:aws:iam::{a}:user/erin"
    sc["erin"].describe_provisioned_product(Name="erin-Notebook")
    code, _ = denied(sc["erin"].describe_provisioned_product, Name="finn-Notebook")
    assert code == "AccessDeniedException"
    denied(sc["erin"].terminate_provisioned_product, ProvisionedProductId=ids["finn"], TerminateToken="t-1")
    # account level is an operator's: denied to the end user's policy
    denied(sc["erin"].search_provisioned_products, AccessLevelFilter={"Key": "Account", "Value": "self"})
    everyone = client(sandbox, "servicecatalog", a).search_provisioned_products(
        AccessLevelFilter={"Key": "Account", "Value": "self"}
    )
    assert sorted(p["Name"] for p in everyone["ProvisionedProducts"]) == ["erin-Notebook", "finn-Notebook"]
