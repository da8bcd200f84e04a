"""SageMaker notebook instances in the sandbox (nvsandbox/sagemaker/notebooks.py), driven with boto3.

.sandbox/venv/bin/python -m pytest tests/sandbox/tests/test_sagemaker_notebooks.py -q
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from support import control

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerNotebookInstanceRole"
PENDING = 0.6

_account_seq = [100000000000 + os.getpid() % 1000 * 10**6]


@pytest.fixture
def account(sandbox):
    """A fresh account per test (isolated state), with a short pending time."""
    _account_seq[0] += 1
    acct = str(_account_seq[0])
    settings(sandbox, acct, pending_seconds=PENDING)
    return acct


def settings(sb, account, **values):
    control(sb, "config", {"account_id": account, **values})


def fail_notebook(sb, body):
    """POST /_sandbox/fail-notebook: (HTTP status, answer)."""
    try:
        return 200, control(sb, "fail-notebook", body)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def client(sb, service, account, **config):
    """The account's root key: the sandbox takes a 12-digit access key id as the account."""
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=sb["url"],
        aws_access_key_id=account,
        aws_secret_access_key="sandbox",
        config=Config(retries={"max_attempts": 1}, **config),
    )


def create(sm, name, **kw):
    return sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE, **kw)[
        "NotebookInstanceArn"
    ]


def status(sm, name):
    return sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]


def wait_for(sm, name, wanted, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = status(sm, name)
        if s == wanted:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {wanted}, last {s}")


def error_of(call, *args, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def events(sb, account, name):
    path = os.path.join(sb["dir"], "events.log")
    out = []
    with open(path) as f:
        for line in f:
            epoch, acct, kind, nb, detail = line.split()
            if acct == account and kind == "notebook" and nb == name:
                out.append((float(epoch), detail))
    return out


# --------------------------------------------------------------------------------------------------


def test_pending_then_in_service_with_timing_and_events(sandbox, account):
    sm = client(sandbox, "sagemaker", account)
    t0 = time.time()
    arn = create(sm, "Demo-User-Notebook")
    assert arn == f"arn:aws:sagemaker:{REGION}:{account}:notebook-instance/demo-user-notebook"
    d = sm.describe_notebook_instance(NotebookInstanceName="Demo-User-Notebook")
    assert d["NotebookInstanceStatus"] == "Pending"
    assert d["NotebookInstanceName"] == "Demo-User-Notebook"
    assert d["Url"] == f"demo-user-notebook.notebook.{REGION}.sagemaker.aws"
    created_modified = d["LastModifiedTime"]

    time.sleep(PENDING / 3)
    assert status(sm, "Demo-User-Notebook") == "Pending"
    wait_for(sm, "Demo-User-Notebook", "InService")
    assert time.time() - t0 >= PENDING
    d = sm.describe_notebook_instance(NotebookInstanceName="Demo-User-Notebook")
    assert d["LastModifiedTime"] > created_modified
    assert "FailureReason" not in d

    ev = events(sandbox, account, "Demo-User-Notebook")
    assert [e[1] for e in ev] == ["Pending", "InService"]
    # the InService line carries the moment of the transition, not of its observation
    assert abs((ev[1][0] - ev[0][0]) - PENDING) < 0.05


def test_list_filters_follow_computed_status(sandbox, account):
    sm = client(sandbox, "sagemaker", account)
    create(sm, "Alice-Notebook")
    create(sm, "Bob-Notebook")
    names = lambda **kw: sorted(  # noqa: E731
        n["NotebookInstanceName"] for n in sm.list_notebook_instances(**kw)["NotebookInstances"]
    )
    assert names(StatusEquals="Pending") == ["Alice-Notebook", "Bob-Notebook"]
    assert names(StatusEquals="InService") == []
    assert names(NameContains="Alice") == ["Alice-Notebook"]
    time.sleep(PENDING + 0.1)
    assert names(StatusEquals="Pending") == []
    assert names(StatusEquals="InService") == ["Alice-Notebook", "Bob-Notebook"]
    summaries = sm.list_notebook_instances(NameContains="Bob")["NotebookInstances"]
    assert summaries[0]["NotebookInstanceStatus"] == "InService"


def test_presigned_url_shape_length_and_errors(sandbox, account):
    sm = client(sandbox, "sagemaker", account)
    raw = client(sandbox, "sagemaker", account, parameter_validation=False)
    create(sm, "Carol-Notebook")

    # presign_any_state=0: only an InService notebook is presigned
    settings(sandbox, account, presign_any_state=0)
    code = error_of(sm.create_presigned_notebook_instance_url, NotebookInstanceName="Carol-Notebook")
    assert code[:2] == (400, "ValidationException")
    assert code[2].startswith("Status (Pending) not in ([InService]).")
    settings(sandbox, account, presign_any_state=1)

    code = error_of(sm.create_presigned_notebook_instance_url, NotebookInstanceName="Nobody-Notebook")
    assert code == (400, "ValidationException", "RecordNotFound")

    wait_for(sm, "Carol-Notebook", "InService")
    for bad, bound in ((1799, "greater than or equal to 1800"), (43201, "less than or equal to 43200")):
        code = error_of(
            raw.create_presigned_notebook_instance_url,
            NotebookInstanceName="Carol-Notebook",
            SessionExpirationDurationInSeconds=bad,
        )
        assert code == (
            400,
            "ValidationException",
            f"1 validation error detected: Value '{bad}' at 'sessionExpirationDurationInSeconds' "
            f"failed to satisfy constraint: Member must have value {bound}",
        )

    urls = set()
    for seconds in (None, 1800, 3600, 43200):
        kw = {} if seconds is None else {"SessionExpirationDurationInSeconds": seconds}
        url = sm.create_presigned_notebook_instance_url(NotebookInstanceName="Carol-Notebook", **kw)["AuthorizedUrl"]
        prefix = f"https://carol-notebook.notebook.{REGION}.sagemaker.aws?authToken="
        assert url.startswith(prefix)
        token = url[len(prefix) :]
        assert len(token) >= 1500
        parts = token.split(".")
        assert len(parts) == 3
        assert all(
            p and set(p) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for p in parts
        )
        pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
        header = json.loads(base64.urlsafe_b64decode(pad(parts[0])))
        payload = json.loads(base64.urlsafe_b64decode(pad(parts[1])))
        assert header["typ"] == "JWT"
        assert payload["notebookInstanceName"] == "Carol-Notebook"
        assert payload["accountId"] == account
        assert payload["exp"] - payload["iat"] == 300
        assert payload["sessionExpirationDurationInSeconds"] == (seconds or 43200)
        urls.add(url)
    assert len(urls) == 4  # a new token on every call


def test_stop_start_delete_state_machine(sandbox, account):
    sm = client(sandbox, "sagemaker", account)
    name = "Dave-Notebook"
    arn = create(sm, name)

    def transition_error(call, current, allowed, target):
        code = error_of(call, NotebookInstanceName=name)
        assert code == (
            400,
            "ValidationException",
            f"Status ({current}) not in ([{allowed}]). Unable to transition to ({target}) "
            f"for Notebook Instance ({arn}).",
        )

    transition_error(sm.stop_notebook_instance, "Pending", "InService", "Stopping")
    transition_error(sm.start_notebook_instance, "Pending", "Stopped, Failed", "Pending")
    transition_error(sm.delete_notebook_instance, "Pending", "Stopped, Failed", "Deleting")
    wait_for(sm, name, "InService")
    transition_error(sm.start_notebook_instance, "InService", "Stopped, Failed", "Pending")
    transition_error(sm.delete_notebook_instance, "InService", "Stopped, Failed", "Deleting")

    sm.stop_notebook_instance(NotebookInstanceName=name)
    assert status(sm, name) == "Stopping"
    transition_error(sm.stop_notebook_instance, "Stopping", "InService", "Stopping")
    wait_for(sm, name, "Stopped")
    transition_error(sm.stop_notebook_instance, "Stopped", "InService", "Stopping")

    # update: only when stopped; Updating -> Stopped
    sm.update_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.large", VolumeSizeInGB=20)
    assert status(sm, name) == "Updating"
    wait_for(sm, name, "Stopped")
    d = sm.describe_notebook_instance(NotebookInstanceName=name)
    assert (d["InstanceType"], d["VolumeSizeInGB"]) == ("ml.t3.large", 20)

    sm.start_notebook_instance(NotebookInstanceName=name)
    assert status(sm, name) == "Pending"
    code = error_of(sm.update_notebook_instance, NotebookInstanceName=name, InstanceType="ml.t3.xlarge")
    assert code[2] == (
        f"Status (Pending) not in ([Stopped, Failed]). Unable to transition to (Updating) "
        f"for Notebook Instance ({arn})."
    )
    wait_for(sm, name, "InService")
    sm.stop_notebook_instance(NotebookInstanceName=name)
    wait_for(sm, name, "Stopped")

    sm.delete_notebook_instance(NotebookInstanceName=name)
    assert status(sm, name) == "Deleting"
    transition_error(sm.delete_notebook_instance, "Deleting", "Stopped, Failed", "Deleting")
    time.sleep(PENDING + 0.1)
    assert error_of(sm.describe_notebook_instance, NotebookInstanceName=name) == (
        400,
        "ValidationException",
        "RecordNotFound",
    )
    assert sm.list_notebook_instances()["NotebookInstances"] == []
    assert [e[1] for e in events(sandbox, account, name)] == [
        "Pending",
        "InService",
        "Stopping",
        "Stopped",
        "Updating",
        "Stopped",
        "Pending",
        "InService",
        "Stopping",
        "Stopped",
        "Deleting",
        "Deleted",
    ]
    # the name is free again
    create(sm, name)
    assert status(sm, name) == "Pending"


def test_fail_notebook_pending_and_next_start(sandbox, account):
    sm = client(sandbox, "sagemaker", account)

    create(sm, "Erin-Notebook")
    code, answer = fail_notebook(sandbox, {"account_id": account, "name": "Erin-Notebook", "reason": "capacity"})
    assert code == 200 and answer["failing"] == "pending"
    assert status(sm, "Erin-Notebook") == "Pending"
    wait_for(sm, "Erin-Notebook", "Failed")
    d = sm.describe_notebook_instance(NotebookInstanceName="Erin-Notebook")
    assert d["FailureReason"] == "capacity"
    settings(sandbox, account, presign_any_state=0)
    assert error_of(sm.create_presigned_notebook_instance_url, NotebookInstanceName="Erin-Notebook")[2].startswith(
        "Status (Failed) not in ([InService])."
    )
    settings(sandbox, account, presign_any_state=1)

    # start from Failed works and, unmarked, reaches InService
    sm.start_notebook_instance(NotebookInstanceName="Erin-Notebook")
    assert "FailureReason" not in sm.describe_notebook_instance(NotebookInstanceName="Erin-Notebook")
    wait_for(sm, "Erin-Notebook", "InService")

    # marked before creation: the next create fails
    code, answer = fail_notebook(sandbox, {"account_id": account, "name": "Frank-Notebook", "reason": "no ENI"})
    assert answer["failing"] == "next-start"
    create(sm, "Frank-Notebook")
    wait_for(sm, "Frank-Notebook", "Failed")
    assert sm.describe_notebook_instance(NotebookInstanceName="Frank-Notebook")["FailureReason"] == "no ENI"
    # a failed notebook can be deleted
    sm.delete_notebook_instance(NotebookInstanceName="Frank-Notebook")
    assert status(sm, "Frank-Notebook") == "Deleting"


def test_accounts_are_isolated(sandbox, account):
    other = str(int(account) + 500000)
    create(client(sandbox, "sagemaker", account), "Gina-Notebook")
    sm2 = client(sandbox, "sagemaker", other)
    assert sm2.list_notebook_instances()["NotebookInstances"] == []
    assert error_of(sm2.describe_notebook_instance, NotebookInstanceName="Gina-Notebook")[2] == "RecordNotFound"


TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {
        "NotebookUserName": {"Type": "String", "Default": "Demo-User"},
        "NotebookInstanceType": {"Type": "String", "Default": "ml.t2.medium"},
    },
    "Resources": {
        "LifecycleConfig": {
            "Type": "AWS::SageMaker::NotebookInstanceLifecycleConfig",
            "Properties": {
                "NotebookInstanceLifecycleConfigName": {"Fn::Sub": "${NotebookUserName}-lcc"},
                "OnStart": [{"Content": base64.b64encode(b"echo start").decode()}],
            },
        },
        "NotebookInstance": {
            "Type": "AWS::SageMaker::NotebookInstance",
            "Properties": {
                "NotebookInstanceName": {"Fn::Sub": "${NotebookUserName}-Notebook"},
                "InstanceType": {"Ref": "NotebookInstanceType"},
                "RoleArn": ROLE,
                "LifecycleConfigName": {"Fn::GetAtt": ["LifecycleConfig", "NotebookInstanceLifecycleConfigName"]},
                "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
                "SubnetId": "subnet-0123456789abcdef0",
                "SecurityGroupIds": ["sg-0123456789abcdef0"],
                "DirectInternetAccess": "Disabled",
                "RootAccess": "Disabled",
                "VolumeSizeInGB": "10",
                "PlatformIdentifier": "notebook-al2-v3",
                "Tags": [{"Key": "owner", "Value": "Demo-User"}],
            },
        },
    },
    "Outputs": {
        "NotebookArn": {"Value": {"Ref": "NotebookInstance"}},
        "NotebookName": {"Value": {"Fn::GetAtt": ["NotebookInstance", "NotebookInstanceName"]}},
        "LifecycleArn": {"Value": {"Ref": "LifecycleConfig"}},
    },
}


def test_cloudformation_notebook_named_tagged_and_deleted_with_stack(sandbox, account):
    sm = client(sandbox, "sagemaker", account)
    cfn = client(sandbox, "cloudformation", account)
    cfn.create_stack(
        StackName="sm-notebook-demo",
        TemplateBody=json.dumps(TEMPLATE),
        Tags=[{"Key": "project", "Value": "notebook-vend"}],
    )
    stack = cfn.describe_stacks(StackName="sm-notebook-demo")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    arn = f"arn:aws:sagemaker:{REGION}:{account}:notebook-instance/demo-user-notebook"
    assert outputs["NotebookArn"] == arn
    assert outputs["NotebookName"] == "Demo-User-Notebook"
    assert outputs["LifecycleArn"] == (
        f"arn:aws:sagemaker:{REGION}:{account}:notebook-instance-lifecycle-config/Demo-User-lcc"
    )

    d = sm.describe_notebook_instance(NotebookInstanceName="Demo-User-Notebook")
    assert d["NotebookInstanceStatus"] == "Pending"
    assert d["NotebookInstanceArn"] == arn
    assert d["InstanceType"] == "ml.t2.medium"
    assert d["NotebookInstanceLifecycleConfigName"] == "Demo-User-lcc"
    assert d["KmsKeyId"].endswith("11111111-2222-3333-4444-555555555555")
    assert d["SubnetId"] == "subnet-0123456789abcdef0"
    assert d["SecurityGroups"] == ["sg-0123456789abcdef0"]
    assert d["DirectInternetAccess"] == "Disabled"
    assert d["RootAccess"] == "Disabled"
    assert d["VolumeSizeInGB"] == 10
    assert d["PlatformIdentifier"] == "notebook-al2-v3"
    assert d["NetworkInterfaceId"].startswith("eni-")

    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags["owner"] == "Demo-User"
    assert tags["project"] == "notebook-vend"
    assert tags["aws:cloudformation:stack-name"] == "sm-notebook-demo"
    assert tags["aws:cloudformation:logical-id"] == "NotebookInstance"

    lcc = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName="Demo-User-lcc")
    assert lcc["OnStart"][0]["Content"] == base64.b64encode(b"echo start").decode()
    assert lcc["NotebookInstanceLifecycleConfigArn"] == outputs["LifecycleArn"]

    wait_for(sm, "Demo-User-Notebook", "InService")
    cfn.delete_stack(StackName="sm-notebook-demo")
    assert error_of(sm.describe_notebook_instance, NotebookInstanceName="Demo-User-Notebook")[2] == ("RecordNotFound")
    assert sm.list_notebook_instances()["NotebookInstances"] == []
    assert (
        error_of(sm.describe_notebook_instance_lifecycle_config, NotebookInstanceLifecycleConfigName="Demo-User-lcc")[1]
        == "ValidationException"
    )
    assert [e[1] for e in events(sandbox, account, "Demo-User-Notebook")] == [
        "Pending",
        "InService",
        "Stopping",
        "Stopped",
        "Deleting",
        "Deleted",
    ]


def test_cloudformation_stack_update_changes_instance_type_in_place(sandbox, account):
    sm = client(sandbox, "sagemaker", account)
    cfn = client(sandbox, "cloudformation", account)
    cfn.create_stack(StackName="upd", TemplateBody=json.dumps(TEMPLATE))
    created = sm.describe_notebook_instance(NotebookInstanceName="Demo-User-Notebook")["CreationTime"]
    cfn.update_stack(
        StackName="upd",
        TemplateBody=json.dumps(TEMPLATE),
        Parameters=[{"ParameterKey": "NotebookInstanceType", "ParameterValue": "ml.t3.large"}],
    )
    d = sm.describe_notebook_instance(NotebookInstanceName="Demo-User-Notebook")
    assert d["InstanceType"] == "ml.t3.large"
    assert d["CreationTime"] == created
    cfn.delete_stack(StackName="upd")
    assert sm.list_notebook_instances()["NotebookInstances"] == []


def test_lifecycle_config_api(sandbox, account):
    sm = client(sandbox, "sagemaker", account)
    arn = sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="lcc-api",
        OnCreate=[{"Content": "ZWNobyBoaQ=="}],
    )["NotebookInstanceLifecycleConfigArn"]
    d = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName="lcc-api")
    assert d["NotebookInstanceLifecycleConfigArn"] == arn
    assert d["NotebookInstanceLifecycleConfigName"] == "lcc-api"
    assert d["OnCreate"] == [{"Content": "ZWNobyBoaQ=="}]
    create(sm, "Hank-Notebook", LifecycleConfigName="lcc-api")
    assert (
        sm.describe_notebook_instance(NotebookInstanceName="Hank-Notebook")["NotebookInstanceLifecycleConfigName"]
        == "lcc-api"
    )


def test_presign_answers_in_any_state_by_default(sandbox, account):
    """AWS documents no state precondition for CreatePresignedNotebookInstanceUrl (SageMaker API
    reference): by default the sandbox presigns a Pending, Stopping or Stopped notebook too."""
    sm = client(sandbox, "sagemaker", account)
    create(sm, "Dave-Notebook")
    assert status(sm, "Dave-Notebook") == "Pending"
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName="Dave-Notebook")["AuthorizedUrl"]
    assert url.startswith("https://dave-notebook.notebook.")
    wait_for(sm, "Dave-Notebook", "InService")
    sm.stop_notebook_instance(NotebookInstanceName="Dave-Notebook")
    wait_for(sm, "Dave-Notebook", "Stopped")
    assert sm.create_presigned_notebook_instance_url(NotebookInstanceName="Dave-Notebook")["AuthorizedUrl"]
    # an unknown notebook is still refused
    assert (
        error_of(sm.create_presigned_notebook_instance_url, NotebookInstanceName="Nobody-Notebook")[2]
        == "RecordNotFound"
    )
