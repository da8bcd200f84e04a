"""The documented AWS rules the sandbox enforces beyond moto (iam/names.py, ssm/parameters.py,
s3/template_urls.py under nvsandbox/).

    .sandbox/venv/bin/python -m pytest tests/sandbox/tests/test_documented_rules.py -q
"""

from __future__ import annotations

import botocore.exceptions
import pytest
from support import client, control, new_account

from nvsandbox.s3 import template_urls
from nvsandbox.ssm import parameters

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":'
    '"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


def error(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def _client_in(sb, service, account, region):
    import boto3
    import botocore.config

    cfg = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"})
    return boto3.client(
        service,
        endpoint_url=sb["url"],
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="sandbox",
        config=cfg,
    )


# ------------------------------------------------------------------------- IAM role name, 64 chars


def test_create_role_name_limit(sandbox):
    iam = client(sandbox, "iam", new_account())
    iam.create_role(RoleName="r" * 64, AssumeRolePolicyDocument=TRUST)
    code, msg = error(iam.create_role, RoleName="r" * 65, AssumeRolePolicyDocument=TRUST)
    assert code == "ValidationError"
    assert msg == (
        f"1 validation error detected: Value '{'r' * 65}' at 'roleName' failed to satisfy "
        "constraint: Member must have length less than or equal to 64"
    )


def test_role_name_over_64_fails_the_stack_as_on_aws(sandbox):
    a = new_account()
    cfn = client(sandbox, "cloudformation", a)
    long_name = "s" * 40 + "-SageMakerNotebookInstanceRole"  # 70 characters
    body = (
        "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n"
        f"      RoleName: {long_name}\n      AssumeRolePolicyDocument: {TRUST}\n"
    )
    cfn.create_stack(StackName="too-long", TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"])
    stack = cfn.describe_stacks(StackName="too-long")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [
        e
        for e in cfn.describe_stack_events(StackName="too-long")["StackEvents"]
        if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert failed and failed[0]["LogicalResourceId"] == "Role"
    reason = failed[0]["ResourceStatusReason"]
    assert reason.startswith(
        'Resource handler returned message: "1 validation error detected: '
        f"Value '{long_name}' at 'roleName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64 (Service: Iam"
    )
    assert client(sandbox, "iam", a).list_roles()["Roles"] == []


def test_a_rolled_back_stack_has_no_outputs_and_describes_without_error(sandbox):
    """An output naming the failed resource: DescribeStacks answered 500 (moto re-ran the creation
    to evaluate it) and the stack looked stuck; AWS answers ROLLBACK_COMPLETE without outputs."""
    a = new_account()
    cfn = client(sandbox, "cloudformation", a)
    body = (
        "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n"
        f"      RoleName: {'r' * 70}\n      AssumeRolePolicyDocument: {TRUST}\n"
        "Outputs:\n  RoleName:\n    Value: !Ref Role\n"
    )
    cfn.create_stack(StackName="rolled-back", TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"])
    for _ in range(2):
        stack = cfn.describe_stacks(StackName="rolled-back")["Stacks"][0]
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
        assert not stack.get("Outputs")


def test_generated_role_names_are_cut_to_64_like_cloudformation(sandbox):
    a = new_account()
    cfn = client(sandbox, "cloudformation", a)
    body = (
        "Resources:\n  SageMakerNotebookInstanceRole:\n    Type: AWS::IAM::Role\n    Properties:\n"
        f"      AssumeRolePolicyDocument: {TRUST}\n"
    )
    cfn.create_stack(StackName="n" * 100, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    assert cfn.describe_stacks(StackName="n" * 100)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    names = [r["RoleName"] for r in client(sandbox, "iam", a).list_roles()["Roles"]]
    assert len(names) == 1 and len(names[0]) <= 64 and names[0].startswith("nnnn")


def test_managed_policy_name_limit(sandbox):
    iam = client(sandbox, "iam", new_account())
    doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}'
    iam.create_policy(PolicyName="p" * 128, PolicyDocument=doc)
    code, msg = error(iam.create_policy, PolicyName="p" * 129, PolicyDocument=doc)
    assert code == "ValidationError" and "Member must have length less than or equal to 128" in msg


# ------------------------------------------------------------------------------------ SSM tiers


def test_ssm_advanced_parameter_is_never_written_back_as_standard(sandbox):
    ssm = client(sandbox, "ssm", new_account())
    ssm.put_parameter(Name="/u/url", Value="x" * 5000, Type="SecureString", Tier="Advanced")
    for tier in ({"Tier": "Standard"}, {}):  # no tier = the default tier, Standard: the worst case
        code, msg = error(ssm.put_parameter, Name="/u/url", Value="short", Type="SecureString", Overwrite=True, **tier)
        assert (code, msg) == ("ValidationException", parameters.DOWNGRADE_MESSAGE), tier
    # the parameter kept its value and tier
    p = ssm.get_parameter(Name="/u/url", WithDecryption=True)["Parameter"]
    assert p["Value"] == "x" * 5000 and p["Version"] == 1
    # keeping the tier works, whatever the size
    for tier in ("Advanced", "Intelligent-Tiering"):
        ssm.put_parameter(Name="/u/url", Value="short", Type="SecureString", Overwrite=True, Tier=tier)
    desc = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/u/url"]}])["Parameters"][0]
    assert desc["Tier"] == "Advanced"
    # Standard -> Advanced is an upgrade, allowed
    ssm.put_parameter(Name="/u/small", Value="v", Type="String")
    ssm.put_parameter(Name="/u/small", Value="v" * 4097, Type="String", Overwrite=True, Tier="Advanced")


def test_ssm_value_limits_per_tier(sandbox):
    ssm = client(sandbox, "ssm", new_account())
    ssm.put_parameter(Name="/s/ok", Value="x" * 4096, Type="String")
    for kw in ({}, {"Tier": "Standard"}):
        code, msg = error(ssm.put_parameter, Name="/s/big", Value="x" * 4097, Type="String", **kw)
        assert (code, msg) == ("ValidationException", parameters.STANDARD_TOO_BIG)
    ssm.put_parameter(Name="/s/adv", Value="x" * 8192, Type="String", Tier="Advanced")
    code, msg = error(ssm.put_parameter, Name="/s/huge", Value="x" * 8193, Type="String", Tier="Advanced")
    assert (code, msg) == ("ValidationException", parameters.ADVANCED_TOO_BIG)
    # Intelligent-Tiering picks Advanced for a value over 4 KB
    ssm.put_parameter(Name="/s/it", Value="x" * 5000, Type="String", Tier="Intelligent-Tiering")
    desc = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/s/it"]}])["Parameters"][0]
    assert desc["Tier"] == "Advanced"


# -------------------------------------------------------------------------- template URL Region

PRODUCT = "Resources:\n  T:\n    Type: AWS::SNS::Topic\n"


def test_template_url_must_address_the_buckets_region(sandbox):
    a, region = new_account(), "af-south-1"  # launched 2020: the global endpoint answers 400
    s3 = _client_in(sandbox, "s3", a, region)
    s3.create_bucket(Bucket=f"tpl-{a}", CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(Bucket=f"tpl-{a}", Key="p.yml", Body=PRODUCT.encode())
    sc = _client_in(sandbox, "servicecatalog", a, region)
    cfn = _client_in(sandbox, "cloudformation", a, region)
    bad = [
        f"https://tpl-{a}.s3.amazonaws.com/p.yml",
        f"https://s3.amazonaws.com/tpl-{a}/p.yml",
        f"https://tpl-{a}.s3.eu-west-1.amazonaws.com/p.yml",
    ]
    for url in bad:
        code, msg = error(
            sc.create_product,
            Name="P",
            Owner="o",
            ProductType="CLOUD_FORMATION_TEMPLATE",
            ProvisioningArtifactParameters={"Name": "v1", "Info": {"LoadTemplateFromURL": url}},
            IdempotencyToken="t-" + str(abs(hash(url))),
        )
        assert code == "InvalidParametersException", url
        assert msg.startswith("Invalid templateBody. Please make sure that your template is valid"), msg
        assert "PermanentRedirect" in msg and region in msg
        code, msg = error(cfn.create_stack, StackName="s", TemplateURL=url)
        assert code == "ValidationError" and msg.startswith(
            "Error occurred while GetObject. S3 Error Code: PermanentRedirect"
        ), msg
    good = f"https://tpl-{a}.s3.{region}.amazonaws.com/p.yml"
    sc.create_product(
        Name="P",
        Owner="o",
        ProductType="CLOUD_FORMATION_TEMPLATE",
        ProvisioningArtifactParameters={"Name": "v1", "Info": {"LoadTemplateFromURL": good}},
        IdempotencyToken="good",
    )
    cfn.create_stack(StackName="s", TemplateURL=good)
    assert cfn.describe_stacks(StackName="s")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_url_region_parsing():
    assert template_urls.url_region("https://b.s3.amazonaws.com/k") == "us-east-1"
    assert template_urls.url_region("https://s3.amazonaws.com/b/k") == "us-east-1"
    assert template_urls.url_region("https://b.s3.af-south-1.amazonaws.com/k") == "af-south-1"
    assert template_urls.url_region("https://s3.eu-west-1.amazonaws.com/b/k") == "eu-west-1"
    assert template_urls.url_region("https://s3-eu-west-1.amazonaws.com/b/k") == "eu-west-1"
    assert template_urls.url_region("https://s3-bucket.s3.cn-north-1.amazonaws.com.cn/k") == "cn-north-1"
    assert template_urls.url_region("http://127.0.0.1:4566/b/k") is None


# -------------------------------------------------------------------------------- presign mode


def test_presign_any_state_is_on_by_default(sandbox):
    a = new_account()
    settings = control(sandbox, "config", {"account_id": a})
    assert settings["presign_any_state"] == 1.0 and settings["iam_enforced"] == 0.0


# ------------------------------------------------------------------ AWS rules, second review


def test_access_level_filter_accepts_only_self(sandbox):
    """botocore servicecatalog 2015-12-10, AccessLevelFilter.Value: "The only supported value is self"."""
    sc = client(sandbox, "servicecatalog", new_account())
    for key in ("Account", "Role", "User"):
        assert (
            sc.search_provisioned_products(AccessLevelFilter={"Key": key, "Value": "self"})["ProvisionedProducts"] == []
        )
    for value in ("123456789012", "Self", "all"):
        code, msg = error(sc.search_provisioned_products, AccessLevelFilter={"Key": "Account", "Value": value})
        assert code == "InvalidParametersException" and "self" in msg, (value, code, msg)
    code, _ = error(sc.scan_provisioned_products, AccessLevelFilter={"Key": "User", "Value": "me"})
    assert code == "InvalidParametersException"


def test_an_overwrite_never_changes_a_parameter_type(sandbox):
    """botocore ssm PutParameter, HierarchyTypeMismatchException: changing a type needs a new parameter."""
    ssm = client(sandbox, "ssm", new_account())
    ssm.put_parameter(Name="/t/p", Value="a,b", Type="StringList")
    for other in ("String", "SecureString"):
        code, msg = error(ssm.put_parameter, Name="/t/p", Value="x", Type=other, Overwrite=True)
        assert code == "HierarchyTypeMismatchException", (other, code, msg)
    ssm.put_parameter(Name="/t/p", Value="c,d", Type="StringList", Overwrite=True)  # same type: fine
    ssm.put_parameter(Name="/t/p", Value="e,f", Overwrite=True)  # no type on update: fine
    ssm.delete_parameter(Name="/t/p")
    ssm.put_parameter(Name="/t/p", Value="x", Type="SecureString")  # delete + create: fine
    assert ssm.get_parameter(Name="/t/p")["Parameter"]["Type"] == "SecureString"


def test_update_provisioned_product_refuses_a_busy_product_with_a_modelled_error():
    """botocore servicecatalog UpdateProvisionedProduct errors: InvalidParametersException,
    ResourceNotFoundException (no InvalidStateException)."""
    from nvsandbox.servicecatalog import state as sc_state

    st = sc_state.State("100000000999", "us-east-1")
    st.pps["pp-1"] = {"Id": "pp-1", "Name": "x", "Status": "UNDER_CHANGE"}
    with pytest.raises(sc_state.InvalidParameters):
        sc_state.update_pp(st, {"UpdateToken": "t1", "ProvisionedProductId": "pp-1"})


NOTEBOOK_TRUST_WITH_SOURCE_ACCOUNT = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},'
    '"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"%s"}}}]}'
)


def _notebook_status(sm, name, timeout=10.0):
    import time

    end = time.time() + timeout
    while True:
        d = sm.describe_notebook_instance(NotebookInstanceName=name)
        if d["NotebookInstanceStatus"] != "Pending" or time.time() > end:
            return d
        time.sleep(0.2)


def test_a_notebook_role_requiring_aws_source_account_gives_the_notebook_no_credentials(sandbox):
    """SageMaker's confused-deputy page does not list notebook instances among the features that send
    aws:SourceAccount: the sandbox plays the key absent, so such a role cannot run a notebook."""
    a = new_account()
    control(sandbox, "config", {"account_id": a, "pending_seconds": 0.2})
    iam, sm = client(sandbox, "iam", a), client(sandbox, "sagemaker", a)
    strict = iam.create_role(RoleName="strict", AssumeRolePolicyDocument=NOTEBOOK_TRUST_WITH_SOURCE_ACCOUNT % a)
    plain = iam.create_role(RoleName="plain", AssumeRolePolicyDocument=TRUST)
    for name, role in (("Strict-Notebook", strict), ("Plain-Notebook", plain)):
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=role["Role"]["Arn"])
    failed = _notebook_status(sm, "Strict-Notebook")
    assert failed["NotebookInstanceStatus"] == "Failed"
    assert "aws:SourceAccount" in failed["FailureReason"]
    assert _notebook_status(sm, "Plain-Notebook")["NotebookInstanceStatus"] == "InService"


def test_a_volume_decrease_fails_the_stack_update_too(sandbox):
    """botocore sagemaker UpdateNotebookInstanceInput.VolumeSizeInGB: "you can't decrease the volume size"."""
    a = new_account()
    cfn, sm = client(sandbox, "cloudformation", a), client(sandbox, "sagemaker", a)
    body = (
        "Parameters:\n  Size: {Type: Number}\nResources:\n  Nb:\n    Type: AWS::SageMaker::NotebookInstance\n"
        "    Properties:\n      NotebookInstanceName: Vol-Notebook\n      InstanceType: ml.t3.medium\n"
        "      RoleArn: arn:aws:iam::123456789012:role/r\n      VolumeSizeInGB: !Ref Size\n"
    )
    cfn.create_stack(StackName="vol", TemplateBody=body, Parameters=[{"ParameterKey": "Size", "ParameterValue": "20"}])
    cfn.update_stack(StackName="vol", TemplateBody=body, Parameters=[{"ParameterKey": "Size", "ParameterValue": "10"}])
    stack = cfn.describe_stacks(StackName="vol")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert sm.describe_notebook_instance(NotebookInstanceName="Vol-Notebook")["VolumeSizeInGB"] == 20
    cfn.update_stack(StackName="vol", TemplateBody=body, Parameters=[{"ParameterKey": "Size", "ParameterValue": "30"}])
    assert sm.describe_notebook_instance(NotebookInstanceName="Vol-Notebook")["VolumeSizeInGB"] == 30


def test_a_tag_change_alone_is_a_stack_update(sandbox):
    """UpdateStack with other Tags and the same template runs (and replaces the whole tag set)."""
    cfn = client(sandbox, "cloudformation", new_account())
    body = (
        "Parameters:\n  V: {Type: String}\nResources:\n  T:\n    Type: AWS::SSM::Parameter\n"
        "    Properties: {Name: /tags/x, Type: String, Value: !Ref V}\n"
    )
    same = dict(StackName="tags", TemplateBody=body, Parameters=[{"ParameterKey": "V", "ParameterValue": "x"}])
    cfn.create_stack(**same, Tags=[{"Key": "CostCenter", "Value": "ml"}])
    code, msg = error(cfn.update_stack, **same)
    assert "No updates are to be performed" in msg
    cfn.update_stack(**same, Tags=[{"Key": "Team", "Value": "a"}])
    tags = cfn.describe_stacks(StackName="tags")["Stacks"][0]["Tags"]
    assert tags == [{"Key": "Team", "Value": "a"}]
    code, msg = error(cfn.update_stack, **same, Tags=[{"Key": "Team", "Value": "a"}])
    assert "No updates are to be performed" in msg


def test_describe_parameters_pages_hold_max_results(sandbox):
    """botocore ssm DescribeParametersRequest.MaxResults (1-50): moto answered 10 a page whatever was asked."""
    ssm = client(sandbox, "ssm", new_account())
    for i in range(60):
        ssm.put_parameter(Name=f"/pages/p{i:02d}", Value="x", Type="String")
    flt = [{"Key": "Name", "Option": "BeginsWith", "Values": ["/pages/"]}]
    first = ssm.describe_parameters(ParameterFilters=flt, MaxResults=50)
    assert len(first["Parameters"]) == 50 and first.get("NextToken")
    second = ssm.describe_parameters(ParameterFilters=flt, MaxResults=50, NextToken=first["NextToken"])
    assert len(second["Parameters"]) == 10 and not second.get("NextToken")
    assert len(ssm.describe_parameters(ParameterFilters=flt)["Parameters"]) == 10
