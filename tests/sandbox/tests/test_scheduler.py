"""EventBridge Scheduler in the sandbox (nvsandbox/scheduler): the documented rules moto skips, the
operation names in the request log, and the fire-schedule control acting as the execution role.

$SANDBOX_VENV/bin/python -m pytest tests/sandbox/tests/test_scheduler.py -q
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from support import client, control, log_lines, new_account

from nvsandbox.scheduler import expressions

SANDBOX_ENV = {"SANDBOX_PENDING_SECONDS": "0"}

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
START = "arn:aws:scheduler:::aws-sdk:sagemaker:startNotebookInstance"
STOP = "arn:aws:scheduler:::aws-sdk:sagemaker:stopNotebookInstance"


def _role(iam, name, trust=TRUST, notebooks="*-Notebook"):
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["sagemaker:StartNotebookInstance", "sagemaker:StopNotebookInstance"],
                "Resource": [
                    f"arn:aws:sagemaker:*:*:notebook-instance/{notebooks}",
                    f"arn:aws:sagemaker:*:*:notebook-instance/{notebooks.lower()}",
                ],
            }
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


@pytest.fixture
def acct(sandbox):
    account = new_account()
    sch = client(sandbox, "scheduler", account)
    iam = client(sandbox, "iam", account)
    sch.create_schedule_group(Name="team-schedules", Tags=[{"Key": "ManagedBy", "Value": "notebook-vend"}])
    return {"id": account, "sch": sch, "iam": iam, "role": _role(iam, "team-scheduler")}


def _create(acct, name="alice-stop", expr="cron(0 19 ? * MON-FRI *)", tz="Europe/Berlin", arn=STOP, **over):
    kwargs = {
        "Name": name,
        "GroupName": "team-schedules",
        "ScheduleExpression": expr,
        "ScheduleExpressionTimezone": tz,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": arn,
            "RoleArn": acct["role"],
            "Input": json.dumps({"NotebookInstanceName": "alice-Notebook"}),
        },
    }
    kwargs.update(over)
    return acct["sch"].create_schedule(**kwargs)


def _code(e):
    return e.value.response["Error"]["Code"]


@pytest.mark.parametrize(
    "expr",
    [
        "cron(61 8 ? * MON-FRI *)",
        "cron(0 8 * * * *)",
        "cron(0 8 ? * ? *)",
        "cron(0 8 ? * MON-FRI)",
        "cron(0 8 ? * FRI-MON *)",
        "cron(0 8 1 * ? 2200)",
        "rate(1 hours)",
        "rate(5 hour)",
        "rate(0 minutes)",
        "at(2027-02-30T08:00:00)",
        "every day",
    ],
)
def test_bad_expressions_are_refused(acct, expr):
    with pytest.raises(ClientError) as e:
        _create(acct, expr=expr)
    assert _code(e) == "ValidationException", expr


def test_expression_rules_accept_the_documented_forms():
    for ok in [
        "cron(0 8 ? * MON-FRI *)",
        "cron(15 10 ? * 6L 2022-2023)",
        "cron(0/15 * * * ? *)",
        "cron(0 12 L * ? *)",
        "cron(0 12 3W * ? *)",
        "cron(0 9 ? * 2#1 *)",
        "rate(1 minute)",
        "rate(12 hours)",
        "at(2027-03-01T08:00:00)",
    ]:
        assert expressions.expression_error(ok) is None, ok
    assert expressions.timezone_error("Europe/Berlin") is None
    assert expressions.timezone_error("Mars/Olympus")


def test_zone_names_group_and_role_are_checked(acct, sandbox):
    with pytest.raises(ClientError) as e:
        _create(acct, tz="Mars/Olympus")
    assert _code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        _create(acct, name="alice stop")
    assert _code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        _create(acct, GroupName="nope")
    assert _code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        _create(acct, Target={"Arn": STOP, "RoleArn": "arn:aws:iam::123456789012:role/none", "Input": "{}"})
    assert _code(e) == "ValidationException"
    # A role that Scheduler may not assume is refused at creation (aws/aws-sdk-js-v3#6494).
    lambda_trust = {**TRUST, "Statement": [{**TRUST["Statement"][0], "Principal": {"Service": "lambda.amazonaws.com"}}]}
    other = _role(acct["iam"], "not-for-scheduler", trust=lambda_trust)
    with pytest.raises(ClientError) as e:
        _create(acct, Target={"Arn": STOP, "RoleArn": other, "Input": "{}"})
    assert "assume the role" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        _create(acct, FlexibleTimeWindow={"Mode": "OFF", "MaximumWindowInMinutes": 5})
    assert _code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        _create(acct, Target={"Arn": STOP, "RoleArn": acct["role"], "Input": "not json"})
    assert _code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        acct["sch"].list_schedules(GroupName="nope")
    assert _code(e) == "ResourceNotFoundException"
    # The request log names Scheduler's REST operations as botocore does.
    ops = {line[3] for line in log_lines(sandbox, acct["id"])}
    assert {"CreateScheduleGroup", "CreateSchedule", "ListSchedules"} <= ops, ops


def test_groups_conflict_and_delete_with_their_schedules(acct):
    _create(acct)
    with pytest.raises(ClientError) as e:
        acct["sch"].create_schedule_group(Name="team-schedules")
    assert _code(e) == "ConflictException"
    assert acct["sch"].get_schedule(Name="alice-stop", GroupName="team-schedules")["Name"] == "alice-stop"
    acct["sch"].delete_schedule_group(Name="team-schedules")
    with pytest.raises(ClientError) as e:
        acct["sch"].get_schedule(Name="alice-stop", GroupName="team-schedules")
    assert _code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        acct["sch"].delete_schedule_group(Name="team-schedules")
    assert _code(e) == "ResourceNotFoundException"
    # A new group of the same name starts empty and untagged.
    arn = acct["sch"].create_schedule_group(Name="team-schedules")["ScheduleGroupArn"]
    assert acct["sch"].list_tags_for_resource(ResourceArn=arn)["Tags"] == []
    assert acct["sch"].list_schedules(GroupName="team-schedules")["Schedules"] == []


def _notebook(sandbox, account, name):
    sm = client(sandbox, "sagemaker", account)
    sm.create_notebook_instance(
        NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=f"arn:aws:iam::{account}:role/nb"
    )
    return sm


def _status(sm, name):
    return sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]


def test_firing_the_stop_schedule_stops_that_notebook_only(acct, sandbox):
    sm = _notebook(sandbox, acct["id"], "alice-Notebook")
    _notebook(sandbox, acct["id"], "bob-Notebook")
    _create(acct)
    out = control(sandbox, "fire-schedule", {"account_id": acct["id"], "group": "team-schedules", "name": "alice-stop"})
    assert out["outcome"] == "invoked", out
    assert _status(sm, "alice-Notebook") in ("Stopping", "Stopped")
    assert _status(sm, "bob-Notebook") == "InService"


def test_the_execution_role_decides_what_a_schedule_may_do(acct, sandbox):
    sm = _notebook(sandbox, acct["id"], "carol-Notebook")
    only_alice = _role(acct["iam"], "alice-only", notebooks="alice-Notebook")
    _create(
        acct,
        name="carol-stop",
        Target={"Arn": STOP, "RoleArn": only_alice, "Input": json.dumps({"NotebookInstanceName": "carol-Notebook"})},
    )
    out = control(sandbox, "fire-schedule", {"account_id": acct["id"], "group": "team-schedules", "name": "carol-stop"})
    assert out["outcome"] == "AccessDenied", out
    assert _status(sm, "carol-Notebook") == "InService"


def test_iam_enforced_scheduler_calls_are_authorized_and_refusals_are_json(sandbox):
    """With IAM enforced, Scheduler's REST-JSON calls are checked by action, and a refusal is a JSON
    AccessDeniedException the SDKs parse (moto's XML made the Rust SDK fail with "unexpected token '<'")."""
    account = new_account()
    iam = client(sandbox, "iam", account)
    iam.create_user(UserName="ada")
    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "scheduler:GetScheduleGroup", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="ada", PolicyName="p", PolicyDocument=json.dumps(allow))
    key = iam.create_access_key(UserName="ada")["AccessKey"]
    client(sandbox, "scheduler", account).create_schedule_group(Name="g")
    control(sandbox, "config", {"account_id": account, "iam_enforced": 1})
    import boto3

    ada = boto3.client(
        "scheduler",
        endpoint_url=sandbox["url"],
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    assert ada.get_schedule_group(Name="g")["Name"] == "g"
    with pytest.raises(ClientError) as e:
        ada.get_schedule_group(Name="missing")
    assert _code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        ada.create_schedule_group(Name="h")
    assert _code(e) == "AccessDeniedException"
    assert "scheduler:CreateScheduleGroup" in e.value.response["Error"]["Message"]


def test_an_end_user_may_change_only_schedules_named_after_them(sandbox):
    """`policy end-user` grants scheduler:*Schedule on schedule/<group>/${aws:username}-*: with IAM
    enforced, the sandbox names the schedule's ARN from the request and resolves the policy variable."""
    account = new_account()
    iam = client(sandbox, "iam", account)
    sch = client(sandbox, "scheduler", account)
    sch.create_schedule_group(Name="g")
    role = _role(iam, "g-scheduler")
    iam.create_user(UserName="dana")
    own = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["scheduler:CreateSchedule", "scheduler:GetSchedule", "scheduler:DeleteSchedule"],
                "Resource": "arn:aws:scheduler:*:*:schedule/g/${aws:username}-*",
            }
        ],
    }
    iam.put_user_policy(UserName="dana", PolicyName="p", PolicyDocument=json.dumps(own))
    key = iam.create_access_key(UserName="dana")["AccessKey"]
    control(sandbox, "config", {"account_id": account, "iam_enforced": 1})
    import boto3

    dana = boto3.client(
        "scheduler",
        endpoint_url=sandbox["url"],
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )

    def create(name):
        return dana.create_schedule(
            Name=name,
            GroupName="g",
            ScheduleExpression="cron(0 19 ? * MON-FRI *)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": STOP, "RoleArn": role, "Input": json.dumps({"NotebookInstanceName": "x-Notebook"})},
        )

    create("dana-stop")
    assert dana.get_schedule(Name="dana-stop", GroupName="g")["Name"] == "dana-stop"
    for other in ("bob-stop", "danabob-stop"):
        with pytest.raises(ClientError) as e:
            create(other)
        assert _code(e) == "AccessDeniedException", other
    with pytest.raises(ClientError) as e:
        dana.get_schedule(Name="bob-stop", GroupName="g")
    assert _code(e) == "AccessDeniedException"
    dana.delete_schedule(Name="dana-stop", GroupName="g")
