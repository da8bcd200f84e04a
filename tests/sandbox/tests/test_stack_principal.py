"""The handler permissions of a stack operation's own principal (cloudformation/principal.py): without
a service role CloudFormation runs the resources' handlers with the caller's credentials, with one
it uses the role's; in an account with IAM enforcement on, a handler the principal may not run
fails the operation as on AWS.

    .sandbox/venv/bin/python -m pytest tests/sandbox/tests/test_stack_principal.py -q
"""

from __future__ import annotations

import json

from support import client, control, new_account
from test_iam_enforcement import make_user, user_client

LOG_GROUP = {
    "Resources": {
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "kept-logs", "RetentionInDays": 7}}
    }
}
ROLE = {
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": "made-by-stack",
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
            },
        }
    }
}
# What the log group's handlers call (principal.py's `called`): create and delete its own API, the
# update reads it back and tags through the log-group API.
LOGS = [
    "logs:CreateLogGroup",
    "logs:DeleteLogGroup",
    "logs:DescribeLogGroups",
    "logs:GetDataProtectionPolicy",
    "logs:DescribeResourcePolicies",
    "logs:TagLogGroup",
    "logs:UntagLogGroup",
]


def policy(*actions):
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["cloudformation:*", *actions], "Resource": "*"}],
    }


def stack(cfn, name):
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def template(cfn, name):
    body = cfn.get_template(StackName=name)["TemplateBody"]  # botocore decodes a JSON body
    return json.loads(json.dumps(body)) if not isinstance(body, str) else json.loads(body)


def failed_events(cfn, name):
    return [
        e
        for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
        if e["ResourceStatus"].endswith("_FAILED") and e["LogicalResourceId"] != name
    ]


def setup(sb, actions):
    a = new_account()
    key = make_user(sb, a, "alice", policy(*actions))
    control(sb, "config", {"account_id": a, "iam_enforced": 1})
    return a, key


def test_an_update_the_caller_may_not_run_rolls_back(sandbox):
    a, key = setup(sandbox, LOGS)
    cfn = user_client(sandbox, "cloudformation", key)
    cfn.create_stack(StackName="catalog", TemplateBody=json.dumps(LOG_GROUP))
    assert stack(cfn, "catalog")["StackStatus"] == "CREATE_COMPLETE"

    changed = json.loads(json.dumps(LOG_GROUP))
    changed["Resources"]["Logs"]["Properties"]["RetentionInDays"] = 14
    cfn.update_stack(StackName="catalog", TemplateBody=json.dumps(changed))  # accepted: the failure is the handler's
    assert stack(cfn, "catalog")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    (event,) = failed_events(cfn, "catalog")
    assert event["LogicalResourceId"] == "Logs" and event["ResourceStatus"] == "UPDATE_FAILED"
    reason = event["ResourceStatusReason"]
    assert reason.startswith(
        f'Resource handler returned message: "User: arn:aws:iam::{a}:user/alice is not authorized to perform: '
        "logs:ListTagsLogGroup because no identity-based policy allows the logs:ListTagsLogGroup action "
        "(Service: Logs, Status Code: 400, Request ID: "
    ), reason
    assert reason.endswith("HandlerErrorCode: AccessDenied)")
    # rolled back: the previous template stays
    assert template(cfn, "catalog") == LOG_GROUP

    # with the permission the same update goes through
    client(sandbox, "iam", a).put_user_policy(
        UserName="alice", PolicyName="under-test", PolicyDocument=json.dumps(policy(*LOGS, "logs:ListTagsLogGroup"))
    )
    cfn.update_stack(StackName="catalog", TemplateBody=json.dumps(changed))
    assert stack(cfn, "catalog")["StackStatus"] == "UPDATE_COMPLETE"
    assert template(cfn, "catalog") == changed


def test_stack_tags_added_need_the_tagging_call(sandbox):
    """The adoption's case: the template keeps the log group as it is, the stack's new tags reach it."""
    a, key = setup(sandbox, [a for a in LOGS if a != "logs:TagLogGroup"] + ["logs:ListTagsLogGroup"])
    cfn = user_client(sandbox, "cloudformation", key)
    cfn.create_stack(StackName="catalog", TemplateBody=json.dumps(LOG_GROUP))
    cfn.update_stack(
        StackName="catalog", TemplateBody=json.dumps(LOG_GROUP), Tags=[{"Key": "managed-by", "Value": "nv"}]
    )
    assert stack(cfn, "catalog")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    (event,) = failed_events(cfn, "catalog")
    assert "logs:TagLogGroup" in event["ResourceStatusReason"]


def test_a_create_the_caller_may_not_run_rolls_back(sandbox):
    a, key = setup(sandbox, ["iam:GetRole", "iam:TagRole"])
    cfn = user_client(sandbox, "cloudformation", key)
    cfn.create_stack(StackName="roles", TemplateBody=json.dumps(ROLE))
    assert stack(cfn, "roles")["StackStatus"] == "ROLLBACK_COMPLETE"
    (event,) = failed_events(cfn, "roles")
    assert event["ResourceStatus"] == "CREATE_FAILED" and event["LogicalResourceId"] == "Role"
    assert "not authorized to perform: iam:CreateRole" in event["ResourceStatusReason"]
    assert "(Service: Iam, Status Code: 403," in event["ResourceStatusReason"]
    assert client(sandbox, "iam", a).list_roles()["Roles"] == []


def test_a_delete_the_caller_may_not_run_fails(sandbox):
    a, key = setup(sandbox, [x for x in LOGS if x != "logs:DeleteLogGroup"])
    cfn = user_client(sandbox, "cloudformation", key)
    cfn.create_stack(StackName="catalog", TemplateBody=json.dumps(LOG_GROUP))
    cfn.delete_stack(StackName="catalog")
    s = stack(cfn, "catalog")
    assert s["StackStatus"] == "DELETE_FAILED"
    assert s["StackStatusReason"] == "The following resource(s) failed to delete: [Logs]. "
    (event,) = failed_events(cfn, "catalog")
    assert event["ResourceStatus"] == "DELETE_FAILED" and "logs:DeleteLogGroup" in event["ResourceStatusReason"]
    assert [g["logGroupName"] for g in client(sandbox, "logs", a).describe_log_groups()["logGroups"]] == ["kept-logs"]
    # a retained resource's delete handler does not run
    retained = json.loads(json.dumps(LOG_GROUP))
    retained["Resources"]["Logs"]["DeletionPolicy"] = "Retain"
    retained["Resources"]["Logs"]["Properties"]["LogGroupName"] = "retained-logs"
    stack_id = cfn.create_stack(StackName="kept", TemplateBody=json.dumps(retained))["StackId"]
    cfn.delete_stack(StackName="kept")
    assert stack(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"


def test_a_service_role_is_checked_instead_of_the_caller(sandbox):
    a, key = setup(sandbox, ["iam:*", "logs:*"])
    iam = client(sandbox, "iam", a)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName="cfn-deployer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="cfn-deployer", PolicyName="p", PolicyDocument=json.dumps(policy("logs:*")))
    cfn = user_client(sandbox, "cloudformation", key)
    cfn.create_stack(StackName="roles", TemplateBody=json.dumps(ROLE), RoleARN=arn)
    assert stack(cfn, "roles")["StackStatus"] == "ROLLBACK_COMPLETE"
    (event,) = failed_events(cfn, "roles")
    assert f"User: arn:aws:sts::{a}:assumed-role/cfn-deployer/" in event["ResourceStatusReason"]
    assert "iam:CreateRole" in event["ResourceStatusReason"]
    # the root key is not checked itself, but a role it names is
    root_cfn = client(sandbox, "cloudformation", a)
    root_cfn.create_stack(StackName="roles-2", TemplateBody=json.dumps(ROLE), RoleARN=arn)
    assert stack(root_cfn, "roles-2")["StackStatus"] == "ROLLBACK_COMPLETE"
    # the role stays the stack's: a later update without RoleARN still runs with it
    cfn.create_stack(StackName="logs", TemplateBody=json.dumps(LOG_GROUP), RoleARN=arn)
    assert stack(cfn, "logs")["StackStatus"] == "CREATE_COMPLETE"
    iam.put_role_policy(
        RoleName="cfn-deployer", PolicyName="p", PolicyDocument=json.dumps(policy("logs:CreateLogGroup"))
    )
    changed = json.loads(json.dumps(LOG_GROUP))
    changed["Resources"]["Logs"]["Properties"]["RetentionInDays"] = 14
    cfn.update_stack(StackName="logs", TemplateBody=json.dumps(changed))
    assert stack(cfn, "logs")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "assumed-role/cfn-deployer/" in failed_events(cfn, "logs")[0]["ResourceStatusReason"]


def test_nothing_is_checked_with_enforcement_off_or_for_root(sandbox):
    a, key = setup(sandbox, [])
    control(sandbox, "config", {"account_id": a, "iam_enforced": 0})
    cfn = user_client(sandbox, "cloudformation", key)
    cfn.create_stack(StackName="roles", TemplateBody=json.dumps(ROLE))
    assert stack(cfn, "roles")["StackStatus"] == "CREATE_COMPLETE"
    cfn.delete_stack(StackName="roles")
    # enforced, but the root key: never checked
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})
    root_cfn = client(sandbox, "cloudformation", a)
    root_cfn.create_stack(StackName="roles-root", TemplateBody=json.dumps(ROLE))
    assert stack(root_cfn, "roles-root")["StackStatus"] == "CREATE_COMPLETE"
    assert failed_events(root_cfn, "roles-root") == []


def test_what_an_update_runs(sandbox):
    """Metadata alone runs no handler; a removed resource is deleted after the update succeeded, and
    a delete the caller may not run leaves it behind without rolling the update back."""
    a, key = setup(sandbox, ["logs:CreateLogGroup", "iam:CreateRole", "iam:GetRole", "iam:TagRole"])
    cfn = user_client(sandbox, "cloudformation", key)
    both = {"Resources": {**LOG_GROUP["Resources"], **ROLE["Resources"]}}
    cfn.create_stack(StackName="catalog", TemplateBody=json.dumps(both))
    assert stack(cfn, "catalog")["StackStatus"] == "CREATE_COMPLETE"

    noted = json.loads(json.dumps(both))
    noted["Resources"]["Logs"]["Metadata"] = {"kept": "as it is"}
    cfn.update_stack(StackName="catalog", TemplateBody=json.dumps(noted))
    assert stack(cfn, "catalog")["StackStatus"] == "UPDATE_COMPLETE"

    without_role = {"Resources": noted["Resources"] | {}}
    del without_role["Resources"]["Role"]
    cfn.update_stack(StackName="catalog", TemplateBody=json.dumps(without_role))
    assert stack(cfn, "catalog")["StackStatus"] == "UPDATE_COMPLETE"
    (event,) = failed_events(cfn, "catalog")
    assert event["LogicalResourceId"] == "Role" and event["ResourceStatus"] == "DELETE_FAILED"
    assert "iam:DeleteRole" in event["ResourceStatusReason"]
    assert [r["RoleName"] for r in client(sandbox, "iam", a).list_roles()["Roles"]] == ["made-by-stack"]
