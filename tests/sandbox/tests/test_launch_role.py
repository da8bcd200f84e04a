"""The launch role checked as AWS uses it (servicecatalog/launch_role.py): the repo's templates pass, a launch role
missing a permission fails the record with AccessDenied naming the action.

    .sandbox/venv/bin/python -m pytest tests/sandbox/tests/test_launch_role.py -q
"""

from __future__ import annotations

import json

from support import bootstrap, client, new_account, provision, wait_record

from nvsandbox.servicecatalog import launch_role


def edit_launch_policy(sb, account, role_arn, edit):
    """Rewrite the launch role's inline policy with edit(document) -> document."""
    iam = client(sb, "iam", account)
    name = role_arn.rsplit("/", 1)[-1]
    pname = iam.list_role_policies(RoleName=name)["PolicyNames"][0]
    doc = iam.get_role_policy(RoleName=name, PolicyName=pname)["PolicyDocument"]
    # JSON, as on AWS (moto 5.2.5 alone answered a CloudFormation-made inline policy as a Python repr)
    doc = json.loads(doc) if isinstance(doc, str) else doc
    iam.put_role_policy(RoleName=name, PolicyName=pname, PolicyDocument=json.dumps(edit(doc)))


def without_action(action):
    def edit(doc):
        for st in doc["Statement"]:
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            st["Action"] = [a for a in acts if a != action] or ["none:None"]
        return doc

    return edit


def test_schemas_come_from_cfn_lint():
    perms = launch_role.handler_permissions("af-south-1", "AWS::SageMaker::NotebookInstance", "create")
    assert "sagemaker:CreateNotebookInstance" in perms and "iam:PassRole" in perms
    assert "sagemaker:StopNotebookInstance" in launch_role.handler_permissions(
        "us-east-1", "AWS::SageMaker::NotebookInstance", "update"
    )
    assert launch_role.handler_permissions("us-east-1", "AWS::No::Such", "create") == ()


def test_repo_launch_role_provisions_updates_and_terminates(sandbox):
    a = new_account()
    d = bootstrap(sandbox, a)
    rec = provision(sandbox, a, d, "alice")
    assert rec["Status"] == "SUCCEEDED", rec
    sc = client(sandbox, "servicecatalog", a)
    up = sc.update_provisioned_product(
        ProvisionedProductName="alice",
        UpdateToken="u1",
        ProvisioningParameters=[
            {"Key": "NotebookUserName", "UsePreviousValue": True},
            {"Key": "VolumeSizeInGB", "Value": "20"},
        ],
    )
    assert wait_record(sc, up["RecordDetail"]["RecordId"])["RecordDetail"]["Status"] == "SUCCEEDED"
    t = sc.terminate_provisioned_product(ProvisionedProductName="alice", TerminateToken="t1")
    assert wait_record(sc, t["RecordDetail"]["RecordId"])["RecordDetail"]["Status"] == "SUCCEEDED"


def test_missing_create_notebook_permission_fails_the_record(sandbox):
    a = new_account()
    d = bootstrap(sandbox, a)
    edit_launch_policy(sandbox, a, d["role"], without_action("sagemaker:CreateNotebookInstance"))
    rec = provision(sandbox, a, d, "bob")
    assert rec["Status"] == "FAILED"
    err = rec["RecordErrors"][0]
    assert err["Code"] == "AccessDenied"
    assert "is not authorized to perform: sagemaker:CreateNotebookInstance" in err["Description"]
    assert "Notebook (AWS::SageMaker::NotebookInstance), create handler" in err["Description"]
    pp = client(sandbox, "servicecatalog", a).describe_provisioned_product(Name="bob")["ProvisionedProductDetail"]
    assert pp["Status"] == "ERROR"
    # no notebook was made
    assert client(sandbox, "sagemaker", a).list_notebook_instances()["NotebookInstances"] == []


def test_launch_role_reading_only_the_bootstrap_bucket_cannot_provision(sandbox):
    """A launch role as the templates once had it: s3:GetObject on the bootstrap bucket's
    object only. CloudFormation reads Service Catalog's copy, so AWS denies it."""
    a = new_account()
    d = bootstrap(sandbox, a)

    def old_grant(doc):
        for st in doc["Statement"]:
            if st.get("Action") == "s3:GetObject":
                st["Resource"] = "arn:aws:s3:::s3-iam-config-s3bucket-x/sm-notebook.yml"
                st.pop("Condition", None)
        return doc

    edit_launch_policy(sandbox, a, d["role"], old_grant)
    rec = provision(sandbox, a, d, "carol")
    assert rec["Status"] == "FAILED"
    assert (
        "is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::sc-templates-"
        in rec["RecordErrors"][0]["Description"]
    )


def test_update_and_terminate_need_their_handler_permissions(sandbox):
    a = new_account()
    d = bootstrap(sandbox, a)
    assert provision(sandbox, a, d, "dave")["Status"] == "SUCCEEDED"
    sc = client(sandbox, "servicecatalog", a)
    edit_launch_policy(sandbox, a, d["role"], without_action("sagemaker:UpdateNotebookInstance"))
    up = sc.update_provisioned_product(
        ProvisionedProductName="dave",
        UpdateToken="u1",
        ProvisioningParameters=[
            {"Key": "NotebookUserName", "UsePreviousValue": True},
            {"Key": "VolumeSizeInGB", "Value": "30"},
        ],
    )
    rec = wait_record(sc, up["RecordDetail"]["RecordId"])["RecordDetail"]
    assert rec["Status"] == "FAILED" and "sagemaker:UpdateNotebookInstance" in rec["RecordErrors"][0]["Description"]
    assert sc.describe_provisioned_product(Name="dave")["ProvisionedProductDetail"]["Status"] == "TAINTED"
    edit_launch_policy(sandbox, a, d["role"], without_action("sagemaker:DeleteNotebookInstance"))
    t = sc.terminate_provisioned_product(ProvisionedProductName="dave", TerminateToken="t1")
    rec = wait_record(sc, t["RecordDetail"]["RecordId"])["RecordDetail"]
    assert rec["Status"] == "FAILED" and "sagemaker:DeleteNotebookInstance" in rec["RecordErrors"][0]["Description"]
    # the notebook is still there
    assert len(client(sandbox, "sagemaker", a).list_notebook_instances()["NotebookInstances"]) == 1
    # a retry with the same token answers the same FAILED record (idempotency token)
    again = sc.terminate_provisioned_product(ProvisionedProductName="dave", TerminateToken="t1")
    assert again["RecordDetail"]["RecordId"] == t["RecordDetail"]["RecordId"]
    # IgnoreErrors: Service Catalog stops managing the product, the resources it could not delete stay
    t = sc.terminate_provisioned_product(ProvisionedProductName="dave", TerminateToken="t2", IgnoreErrors=True)
    assert wait_record(sc, t["RecordDetail"]["RecordId"])["RecordDetail"]["Status"] == "SUCCEEDED"
    assert sc.scan_provisioned_products()["ProvisionedProducts"] == []
    nbs = client(sandbox, "sagemaker", a).list_notebook_instances()["NotebookInstances"]
    assert [n["NotebookInstanceStatus"] for n in nbs] == ["InService"]
    stacks = client(sandbox, "cloudformation", a).list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in stacks if s["StackName"].startswith("SC-")] == ["DELETE_FAILED"]


def test_explicit_deny_wins(sandbox):
    a = new_account()
    d = bootstrap(sandbox, a)
    client(sandbox, "iam", a).put_role_policy(
        RoleName=d["role"].rsplit("/", 1)[-1],
        PolicyName="deny-notebooks",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sagemaker:*", "Resource": "*"}]}
        ),
    )
    rec = provision(sandbox, a, d, "erin")
    assert rec["Status"] == "FAILED"
    assert "with an explicit deny in an identity-based policy" in rec["RecordErrors"][0]["Description"]
