"""UpdateProvisionedProduct runs a CloudFormation stack update with AWS's semantics
(nvsandbox/cloudformation/update.py): in place keeps the notebook, a create-only change on the
custom-named notebook fails, rolls back and leaves the product TAINTED with CloudFormation's reason.

    .sandbox/venv/bin/python -m pytest tests/sandbox/tests/test_cloudformation_update.py -q
"""

from __future__ import annotations

import time

from support import bootstrap, client, new_account, provision, wait_record

from nvsandbox.cloudformation import update as stack_update


def _pp(sc, name):
    return sc.describe_provisioned_product(Name=name)["ProvisionedProductDetail"]


def _wait_notebook(sm, name, status, timeout=15):
    end = time.time() + timeout
    seen = []
    while time.time() < end:
        s = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
        if not seen or seen[-1] != s:
            seen.append(s)
        if s == status:
            return seen
        time.sleep(0.05)
    return seen


def _update(sc, name, token, params):
    r = sc.update_provisioned_product(ProvisionedProductName=name, UpdateToken=token, ProvisioningParameters=params)
    assert r["RecordDetail"]["RecordType"] == "UPDATE_PROVISIONED_PRODUCT"
    return wait_record(sc, r["RecordDetail"]["RecordId"])["RecordDetail"]


def test_notebook_create_only_properties_come_from_the_schema():
    assert set(stack_update.create_only_properties("us-east-1", "AWS::SageMaker::NotebookInstance")) == {
        "DirectInternetAccess",
        "KmsKeyId",
        "NotebookInstanceName",
        "PlatformIdentifier",
        "SecurityGroupIds",
        "SubnetId",
    }


def test_resolver_follows_parameters_conditions_and_sub():
    t = {
        "Parameters": {"U": {"Type": "String", "Default": "a"}, "S": {"Type": "String", "Default": ""}},
        "Conditions": {"HasS": {"Fn::Not": [{"Fn::Equals": [{"Ref": "S"}, ""]}]}},
        "Resources": {
            "N": {
                "Type": "AWS::SageMaker::NotebookInstance",
                "Properties": {
                    "NotebookInstanceName": {"Fn::Sub": "${U}-Notebook"},
                    "SubnetId": {"Fn::If": ["HasS", {"Ref": "S"}, {"Ref": "AWS::NoValue"}]},
                    "InstanceType": {"Ref": "T"},
                },
            }
        },
    }
    assert stack_update.resolved_properties(t, "N", {}) == {
        "NotebookInstanceName": "a-Notebook",
        "InstanceType": {"Ref": "T"},
    }
    assert stack_update.resolved_properties(t, "N", {"S": "subnet-1"})["SubnetId"] == "subnet-1"
    # a subnet on a fixed-name notebook: refused; with a new name: a plain replacement
    assert stack_update.update_refusal("us-east-1", t, {}, t, {"S": "subnet-1"}) == (
        "N",
        "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
        "Rename a-Notebook and update the stack again.",
    )
    assert stack_update.update_refusal("us-east-1", t, {}, t, {"S": "subnet-1", "U": "b"}) is None
    assert stack_update.replacements("us-east-1", t, {}, t, {"T": "x"}) == []


def test_in_place_update_keeps_the_notebook_and_restarts_it(sandbox):
    account = new_account()
    d = bootstrap(sandbox, account)
    sc, sm = client(sandbox, "servicecatalog", account), client(sandbox, "sagemaker", account)
    assert provision(sandbox, account, d, "alice")["Status"] == "SUCCEEDED"
    name = "alice-Notebook"
    _wait_notebook(sm, name, "InService")
    created = sm.describe_notebook_instance(NotebookInstanceName=name)["CreationTime"]
    rec = _update(
        sc,
        "alice",
        "u1",
        [
            {"Key": "NotebookUserName", "UsePreviousValue": True},
            {"Key": "NotebookInstanceType", "Value": "ml.t3.large"},
        ],
    )
    assert rec["Status"] == "SUCCEEDED", rec
    seen = _wait_notebook(sm, name, "InService")
    # the first observation may already be past Stopping; the order is AWS's
    order = ["Stopping", "Stopped", "Updating", "Pending", "InService"]
    assert seen[-1] == "InService" and [s for s in order if s in seen] == seen, seen
    desc = sm.describe_notebook_instance(NotebookInstanceName=name)
    assert desc["InstanceType"] == "ml.t3.large"
    assert desc["CreationTime"] == created
    pp = _pp(sc, "alice")
    assert pp["Status"] == "AVAILABLE"


def test_create_only_change_on_the_named_notebook_fails_and_taints(sandbox):
    account = new_account()
    d = bootstrap(sandbox, account)
    sc, sm = client(sandbox, "servicecatalog", account), client(sandbox, "sagemaker", account)
    assert provision(sandbox, account, d, "bob")["Status"] == "SUCCEEDED"
    name = "bob-Notebook"
    _wait_notebook(sm, name, "InService")
    before = sm.describe_notebook_instance(NotebookInstanceName=name)
    rec = _update(
        sc,
        "bob",
        "u1",
        [
            {"Key": "NotebookUserName", "UsePreviousValue": True},
            {"Key": "SubnetId", "Value": "subnet-0123456789abcdef0"},
        ],
    )
    assert rec["Status"] == "FAILED"
    assert rec["RecordErrors"][0]["Description"] == (
        "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
        "Rename bob-Notebook and update the stack again."
    )
    pp = _pp(sc, "bob")
    assert pp["Status"] == "TAINTED"
    assert pp["ProvisioningArtifactId"] == d["artifact"]
    after = sm.describe_notebook_instance(NotebookInstanceName=name)
    assert after["CreationTime"] == before["CreationTime"]
    assert after["NotebookInstanceStatus"] == "InService"
    assert "SubnetId" not in after
    cfn = client(sandbox, "cloudformation", account)
    stack = cfn.describe_stacks(StackName=f"SC-{account}-{pp['Id']}")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    # an update that keeps the create-only properties recovers the product
    rec = _update(
        sc, "bob", "u2", [{"Key": "NotebookUserName", "UsePreviousValue": True}, {"Key": "SubnetId", "Value": ""}]
    )
    assert rec["Status"] == "SUCCEEDED", rec
    assert _pp(sc, "bob")["Status"] == "AVAILABLE"
