"""Tests of the local AWS sandbox: starts its own server (own SANDBOX_DIR, free port) and drives it with boto3.

.sandbox/venv/bin/python -m pytest tests/sandbox -q
"""

from __future__ import annotations

import json
import os
import time

import botocore.config
import botocore.exceptions
import pytest
from support import ROOT, client, control, log_lines, new_account, wait_record

PRODUCT_V1 = """
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  UserName:
    Type: String
    Default: Demo-User
    AllowedPattern: '[a-zA-Z0-9-]+'
    Description: who
  Size:
    Type: String
    Default: small
    AllowedValues: [small, large]
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub /sandbox/${UserName}
      Type: String
      Value: !Ref Size
  Topic:
    Type: AWS::SNS::Topic
Outputs:
  ParamName:
    Value: !Ref Param
    Description: the parameter
  TopicArn:
    Value: !Ref Topic
"""

PRODUCT_V2 = PRODUCT_V1.replace("AllowedValues: [small, large]", "AllowedValues: [small, large, huge]")

CATALOG = """
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  TemplateUrl: {Type: String}
  ArtifactName: {Type: String, Default: v1}
Resources:
  LaunchRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Sub ${AWS::StackName}-launch
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement: [{Effect: Allow, Principal: {Service: servicecatalog.amazonaws.com}, Action: sts:AssumeRole}]
  LaunchPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      Roles: [!Ref LaunchRole]
      # what AWS requires of a launch role (servicecatalog/launch_role.py): CloudFormation on the product's stacks,
      # Service Catalog's tagged copy of the template, the handler permissions of the product's resources
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - {Effect: Allow, Action: ['cloudformation:CreateStack', 'cloudformation:UpdateStack',
                                     'cloudformation:DeleteStack', 'cloudformation:DescribeStacks'],
             Resource: !Sub 'arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/SC-*'}
          - {Effect: Allow, Action: 's3:GetObject', Resource: '*',
             Condition: {StringEquals: {'s3:ExistingObjectTag/servicecatalog:provisioning': 'true'}}}
          - {Effect: Allow, Action: ['ssm:*', 'sns:*', 'iam:GetRole', 'iam:PassRole'], Resource: '*'}
  Portfolio:
    Type: AWS::ServiceCatalog::Portfolio
    Properties: {DisplayName: Demo-Portfolio, ProviderName: sandbox}
  Product:
    Type: AWS::ServiceCatalog::CloudFormationProduct
    Properties:
      Name: Demo Product
      Owner: sandbox
      ProvisioningArtifactParameters:
        - Name: !Ref ArtifactName
          Info: {LoadTemplateFromURL: !Ref TemplateUrl}
  PrincipalAssoc:
    Type: AWS::ServiceCatalog::PortfolioPrincipalAssociation
    Properties: {PortfolioId: !Ref Portfolio, PrincipalARN: !GetAtt LaunchRole.Arn, PrincipalType: IAM}
  ProductAssoc:
    Type: AWS::ServiceCatalog::PortfolioProductAssociation
    Properties: {PortfolioId: !Ref Portfolio, ProductId: !Ref Product}
  Constraint:
    Type: AWS::ServiceCatalog::LaunchRoleConstraint
    DependsOn: ProductAssoc
    Properties: {PortfolioId: !Ref Portfolio, ProductId: !Ref Product, RoleArn: !GetAtt LaunchRole.Arn}
Outputs:
  PortfolioId: {Value: !Ref Portfolio}
  PortfolioName: {Value: !GetAtt Portfolio.PortfolioName}
  ProductId: {Value: !Ref Product}
  ProductName: {Value: !GetAtt Product.ProductName}
  ArtifactIds: {Value: !GetAtt Product.ProvisioningArtifactIds}
"""


def test_request_log_and_account_isolation(sandbox):
    a, b = new_account(), new_account()
    s3a, s3b = client(sandbox, "s3", a), client(sandbox, "s3", b)
    s3a.create_bucket(Bucket=f"bucket-{a}")
    s3a.put_object(Bucket=f"bucket-{a}", Key="k/x.txt", Body=b"hello")
    assert s3a.get_object(Bucket=f"bucket-{a}", Key="k/x.txt")["Body"].read() == b"hello"
    s3a.head_object(Bucket=f"bucket-{a}", Key="k/x.txt")
    s3a.list_objects_v2(Bucket=f"bucket-{a}")
    client(sandbox, "ssm", a).put_parameter(Name="/p", Value="va", Type="String")
    client(sandbox, "ssm", b).put_parameter(Name="/p", Value="vb", Type="String")
    assert client(sandbox, "ssm", a).get_parameter(Name="/p")["Parameter"]["Value"] == "va"
    assert client(sandbox, "ssm", b).get_parameter(Name="/p")["Parameter"]["Value"] == "vb"
    assert client(sandbox, "sts", a).get_caller_identity()["Account"] == a
    cfn = client(sandbox, "cloudformation", a)
    cfn.list_stacks()
    assert [x["Name"] for x in s3b.list_buckets()["Buckets"]] == []
    ops = [(ln[2], ln[3], ln[4]) for ln in log_lines(sandbox, a)]
    for want in [
        ("s3", "CreateBucket", "200"),
        ("s3", "PutObject", "200"),
        ("s3", "GetObject", "200"),
        ("s3", "HeadObject", "200"),
        ("s3", "ListObjectsV2", "200"),
        ("ssm", "PutParameter", "200"),
        ("ssm", "GetParameter", "200"),
        ("sts", "GetCallerIdentity", "200"),
        ("cloudformation", "ListStacks", "200"),
    ]:
        assert want in ops, (want, ops)
    # a 404 is logged with its status
    with pytest.raises(botocore.exceptions.ClientError):
        client(sandbox, "ssm", a).get_parameter(Name="/missing")
    assert ("ssm", "GetParameter", "400") in [(ln[2], ln[3], ln[4]) for ln in log_lines(sandbox, a)]


def _fault_sequence(sandbox, account, n=30):
    control(sandbox, "config", {"account_id": account, "fault_rate": 0.5, "fault_seed": 7})
    ssm = client(sandbox, "ssm", account)
    seq = []
    for _ in range(n):
        try:
            ssm.describe_parameters()
            seq.append("ok")
        except botocore.exceptions.ClientError as e:
            seq.append(e.response["Error"]["Code"])
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError):
            seq.append("conn")
    control(sandbox, "config", {"account_id": account, "fault_rate": 0})
    return seq


def test_faults_are_deterministic_per_seed(sandbox):
    a, b = new_account(), new_account()
    s1 = _fault_sequence(sandbox, a)
    s2 = _fault_sequence(sandbox, b)
    assert s1 == s2
    assert "ok" in s1 and "ThrottlingException" in s1 and "conn" in s1, s1
    faults = [ln for ln in log_lines(sandbox, a) if len(ln) > 5]
    assert faults and all(ln[5].startswith("fault=") for ln in faults)


def _outcome(call, **kw):
    try:
        call(**kw)
        return "ok"
    except botocore.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        return "ok" if code == "ValidationException" else code  # RecordNotFound: answered, not faulted
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError):
        return "conn"


def test_faults_do_not_depend_on_arrival_order_and_never_exhaust_six_attempts(sandbox):
    a, b = new_account(), new_account()
    names = [f"nb{i}-Notebook" for i in range(12)]
    seen = {}
    for account, order in ((a, names), (b, list(reversed(names)))):
        control(sandbox, "config", {"account_id": account, "fault_rate": 0.5, "fault_seed": 3})
        sm = client(sandbox, "sagemaker", account)
        seen[account] = {
            n: [_outcome(sm.describe_notebook_instance, NotebookInstanceName=n) for _ in range(3)] for n in order
        }
    assert seen[a] == seen[b]
    assert any(o != "ok" for outs in seen[a].values() for o in outs), seen[a]
    # a request is faulted at most twice in a row: the third attempt always lands
    for outs in seen[a].values():
        assert "ok" in outs, outs
    control(sandbox, "config", {"account_id": a, "fault_rate": 0.99, "fault_seed": 3})
    sm = client(sandbox, "sagemaker", a)
    outs = [_outcome(sm.describe_notebook_instance, NotebookInstanceName="x-Notebook") for _ in range(9)]
    assert outs[2::3] == ["ok", "ok", "ok"] and "ok" not in outs[0:2], outs


def test_fault_shapes(sandbox):
    a = new_account()
    cfn = client(sandbox, "cloudformation", a)
    control(sandbox, "fault", {"account_id": a, "operation": "ListStacks", "kind": "throttle"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cfn.list_stacks()
    assert e.value.response["Error"]["Code"] == "Throttling"
    s3 = client(sandbox, "s3", a)
    control(sandbox, "fault", {"account_id": a, "operation": "ListBuckets", "kind": "throttle"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_buckets()
    assert e.value.response["Error"]["Code"] == "SlowDown"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    sc = client(sandbox, "servicecatalog", a)
    control(sandbox, "fault", {"account_id": a, "operation": "ListPortfolios", "kind": "internal"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sc.list_portfolios()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    # retries in the SDK get through an armed one-shot fault
    control(sandbox, "fault", {"account_id": a, "operation": "ListPortfolios", "kind": "unavailable"})
    assert client(sandbox, "servicecatalog", a, retries=3).list_portfolios()["PortfolioDetails"] == []
    # dropped after processing: the write happened
    ssm = client(sandbox, "ssm", a)
    control(sandbox, "fault", {"account_id": a, "operation": "PutParameter", "kind": "drop_after"})
    with pytest.raises((botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        ssm.put_parameter(Name="/written", Value="1", Type="String")
    assert ssm.get_parameter(Name="/written")["Parameter"]["Value"] == "1"


def _bootstrap(sandbox, account):
    s3 = client(sandbox, "s3", account)
    bucket = f"s3-iam-config-{account}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="product.yml", Body=PRODUCT_V1.encode())
    s3.put_object(Bucket=bucket, Key="product-v2.yml", Body=PRODUCT_V2.encode())
    cfn = client(sandbox, "cloudformation", account)
    # virtual-hosted URL of a bucket whose name starts with s3 (moto 5.2.5 alone fails on it)
    url = f"https://{bucket}.s3.amazonaws.com/product.yml"
    cfn.create_stack(
        StackName="catalog",
        TemplateBody=CATALOG,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": "TemplateUrl", "ParameterValue": url}],
    )
    stack = cfn.describe_stacks(StackName="catalog")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    return bucket, {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_service_catalog_flow(sandbox):
    a = new_account()
    bucket, out = _bootstrap(sandbox, a)
    sc = client(sandbox, "servicecatalog", a)
    port_id, prod_id = out["PortfolioId"], out["ProductId"]
    assert port_id.startswith("port-") and prod_id.startswith("prod-")
    assert out["PortfolioName"] == "Demo-Portfolio" and out["ProductName"] == "Demo Product"
    assert sc.describe_portfolio(Id=port_id)["PortfolioDetail"]["DisplayName"] == "Demo-Portfolio"
    assert [p["Id"] for p in sc.list_portfolios()["PortfolioDetails"]] == [port_id]
    assert len(sc.list_principals_for_portfolio(PortfolioId=port_id)["Principals"]) == 1
    cons = sc.list_constraints_for_portfolio(PortfolioId=port_id)["ConstraintDetails"]
    assert [c["Type"] for c in cons] == ["LAUNCH"]
    found = sc.search_products(Filters={"FullTextSearch": ["Demo"]})["ProductViewSummaries"]
    assert [p["ProductId"] for p in found] == [prod_id]
    assert (
        sc.search_products_as_admin(PortfolioId=port_id)["ProductViewDetails"][0]["ProductViewSummary"]["Name"]
        == "Demo Product"
    )
    paths = sc.list_launch_paths(ProductId=prod_id)["LaunchPathSummaries"]
    assert len(paths) == 1 and paths[0]["ConstraintSummaries"][0]["Type"] == "LAUNCH"
    arts = sc.list_provisioning_artifacts(ProductId=prod_id)["ProvisioningArtifactDetails"]
    assert [x["Name"] for x in arts] == ["v1"] and out["ArtifactIds"] == arts[0]["Id"]
    params = sc.describe_provisioning_parameters(
        ProductId=prod_id, ProvisioningArtifactId=arts[0]["Id"], PathId=paths[0]["Id"]
    )
    by_key = {p["ParameterKey"]: p for p in params["ProvisioningArtifactParameters"]}
    assert by_key["Size"]["ParameterConstraints"]["AllowedValues"] == ["small", "large"]
    assert by_key["UserName"]["DefaultValue"] == "Demo-User"
    assert params["ConstraintSummaries"][0]["Type"] == "LAUNCH"

    # provision
    kw = dict(
        ProductId=prod_id,
        ProvisioningArtifactId=arts[0]["Id"],
        PathId=paths[0]["Id"],
        ProvisionedProductName="alice-notebook",
        ProvisionToken="tok-alice",
        ProvisioningParameters=[{"Key": "UserName", "Value": "alice"}, {"Key": "Size", "Value": "large"}],
        Tags=[{"Key": "team", "Value": "x"}],
    )
    r1 = sc.provision_product(**kw)["RecordDetail"]
    assert r1["Status"] in ("CREATED", "IN_PROGRESS") and r1["RecordType"] == "PROVISION_PRODUCT"
    # same token: same record, no second product
    assert sc.provision_product(**kw)["RecordDetail"]["RecordId"] == r1["RecordId"]
    # at most 50 tags (botocore servicecatalog Tags: "max": 50)
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sc.provision_product(**dict(kw, ProvisionToken="tok-tags", ProvisionedProductName="tags-notebook", Tags=many))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sc.provision_product(**dict(kw, ProvisionToken="tok-other"))
    assert e.value.response["Error"]["Code"] == "DuplicateResourceException"
    pp = sc.describe_provisioned_product(Name="alice-notebook")["ProvisionedProductDetail"]
    assert pp["Status"] == "UNDER_CHANGE"
    rec = wait_record(sc, r1["RecordId"])
    assert rec["RecordDetail"]["Status"] == "SUCCEEDED", rec
    outs = {o["OutputKey"]: o["OutputValue"] for o in rec["RecordOutputs"]}
    assert outs["ParamName"] == "/sandbox/alice" and "CloudformationStackARN" in outs
    assert client(sandbox, "ssm", a).get_parameter(Name="/sandbox/alice")["Parameter"]["Value"] == "large"
    pp = sc.describe_provisioned_product(Id=pp["Id"])["ProvisionedProductDetail"]
    assert pp["Status"] == "AVAILABLE" and pp["LaunchRoleArn"].endswith("role/catalog-launch")
    stack = client(sandbox, "cloudformation", a).describe_stacks(StackName=f"SC-{a}-{pp['Id']}")["Stacks"][0]
    assert {"Key": "team", "Value": "x"} in stack["Tags"]
    hits = sc.search_provisioned_products(Filters={"SearchQuery": [f"productId:{prod_id}"]})
    assert [x["Name"] for x in hits["ProvisionedProducts"]] == ["alice-notebook"]
    assert sc.search_provisioned_products(Filters={"SearchQuery": ["name:nobody"]})["ProvisionedProducts"] == []
    assert len(sc.scan_provisioned_products()["ProvisionedProducts"]) == 1

    # invalid parameter value: record FAILED, product ERROR
    bad = sc.provision_product(
        **dict(
            kw,
            ProvisionedProductName="bob-notebook",
            ProvisionToken="tok-bob",
            ProvisioningParameters=[{"Key": "Size", "Value": "gigantic"}],
        )
    )["RecordDetail"]
    rec = wait_record(sc, bad["RecordId"])
    assert rec["RecordDetail"]["Status"] == "FAILED"
    assert "Parameter 'Size' must be one of AllowedValues" in rec["RecordDetail"]["RecordErrors"][0]["Description"]
    assert sc.describe_provisioned_product(Name="bob-notebook")["ProvisionedProductDetail"]["Status"] == "ERROR"
    # unknown product
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sc.provision_product(
            **dict(kw, ProductId="prod-doesnotexist1", ProvisionToken="t3", ProvisionedProductName="c")
        )
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sc.provision_product(**dict(kw, ProvisionToken="bad token!"))
    assert e.value.response["Error"]["Code"] == "InvalidParametersException"

    # CloudTrail
    ct = client(sandbox, "cloudtrail", a)
    ev = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ProvisionProduct"}])
    assert len(ev["Events"]) == 2  # alice + bob (the replayed token and the refused calls are not new events)
    detail = json.loads(ev["Events"][-1]["CloudTrailEvent"])
    assert detail["eventSource"] == "servicecatalog.amazonaws.com" and detail["recipientAccountId"] == a
    rp = detail["requestParameters"]
    assert {"key": "UserName", "value": "alice"} in rp["provisioningParameters"]
    assert detail["responseElements"]["recordDetail"]["recordId"] == r1["RecordId"]
    page = ct.lookup_events(MaxResults=1)
    assert len(page["Events"]) == 1 and "NextToken" in page

    # product update on stack update: new artifact version
    cfn = client(sandbox, "cloudformation", a)
    cfn.update_stack(
        StackName="catalog",
        TemplateBody=CATALOG,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[
            {
                "ParameterKey": "TemplateUrl",
                "ParameterValue": f"https://s3.us-east-1.amazonaws.com/{bucket}/product-v2.yml",
            },
            {"ParameterKey": "ArtifactName", "ParameterValue": "v2"},
        ],
    )
    # (the template lists one entry: v1, no longer listed, is gone, as the resource schema's matching
    # rule allows; see sc_cfn._match_artifacts)
    arts = sc.list_provisioning_artifacts(ProductId=prod_id)["ProvisioningArtifactDetails"]
    assert [x["Name"] for x in arts] == ["v2"]
    v2 = arts[0]

    # update the provisioned product to v2 with a value only v2 allows
    up = sc.update_provisioned_product(
        ProvisionedProductName="alice-notebook",
        ProductId=prod_id,
        ProvisioningArtifactId=v2["Id"],
        UpdateToken="up-1",
        ProvisioningParameters=[{"Key": "Size", "Value": "huge"}, {"Key": "UserName", "UsePreviousValue": True}],
    )
    assert up["RecordDetail"]["RecordType"] == "UPDATE_PROVISIONED_PRODUCT"
    assert wait_record(sc, up["RecordDetail"]["RecordId"])["RecordDetail"]["Status"] == "SUCCEEDED"
    assert client(sandbox, "ssm", a).get_parameter(Name="/sandbox/alice")["Parameter"]["Value"] == "huge"
    hist = sc.list_record_history(SearchFilter={"Key": "provisionedproduct", "Value": pp["Id"]})["RecordDetails"]
    assert [r["RecordType"] for r in hist] == ["UPDATE_PROVISIONED_PRODUCT", "PROVISION_PRODUCT"]

    # terminate both
    for name, token in (("alice-notebook", "term-a"), ("bob-notebook", "term-b")):
        t = sc.terminate_provisioned_product(ProvisionedProductName=name, TerminateToken=token, IgnoreErrors=True)
        assert t["RecordDetail"]["RecordType"] == "TERMINATE_PROVISIONED_PRODUCT"
        assert wait_record(sc, t["RecordDetail"]["RecordId"])["RecordDetail"]["Status"] == "SUCCEEDED"
    assert sc.scan_provisioned_products()["ProvisionedProducts"] == []
    with pytest.raises(botocore.exceptions.ClientError):
        client(sandbox, "ssm", a).get_parameter(Name="/sandbox/alice")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sc.describe_provisioned_product(Name="alice-notebook")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"

    # deleting the catalog stack: managed policy attached to the role, SC resources removed
    cfn.delete_stack(StackName="catalog")
    assert sc.list_portfolios()["PortfolioDetails"] == []
    iam = client(sandbox, "iam", a)
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"] == "catalog-launch"]
    events = open(os.path.join(sandbox["dir"], "events.log")).read()
    assert f"{a} record {r1['RecordId']} SUCCEEDED" in events


def test_reset_one_account(sandbox):
    a, b = new_account(), new_account()
    for acct in (a, b):
        client(sandbox, "servicecatalog", acct).create_portfolio(DisplayName="p", ProviderName="x")
        client(sandbox, "ssm", acct).put_parameter(Name="/x", Value="1", Type="String")
    control(sandbox, "reset", {"account_id": a})
    assert client(sandbox, "servicecatalog", a).list_portfolios()["PortfolioDetails"] == []
    assert len(client(sandbox, "servicecatalog", b).list_portfolios()["PortfolioDetails"]) == 1
    assert client(sandbox, "ssm", a).describe_parameters()["Parameters"] == []
    assert len(client(sandbox, "ssm", b).describe_parameters()["Parameters"]) == 1


@pytest.mark.skipif(
    not os.path.exists(os.path.join(ROOT, "templates", "sm-notebook.yml")), reason="templates/ not there yet"
)
def test_reference_templates_bootstrap(sandbox):
    a = new_account()
    tdir = os.path.join(ROOT, "templates")
    cfn, s3, sc = (client(sandbox, s, a) for s in ("cloudformation", "s3", "servicecatalog"))
    first = open(os.path.join(tdir, "s3-iam-config.yml")).read()
    cfn.create_stack(
        StackName="s3-iam-config",
        TemplateBody=first,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[
            {"ParameterKey": "SageMakerNotebookInstanceRoleName", "ParameterValue": "SageMakerNotebookInstanceRole"}
        ],
    )
    outs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName="s3-iam-config")["Stacks"][0].get("Outputs", [])
    }
    bucket = next(v for k, v in outs.items() if "Bucket" in k and "Name" in k and not v.startswith("arn:"))
    s3.put_object(Bucket=bucket, Key="sm-notebook.yml", Body=open(os.path.join(tdir, "sm-notebook.yml"), "rb").read())
    second = open(os.path.join(tdir, "service-catalog.yml")).read()
    from nvsandbox.cloudformation.stacks import load_template

    declared = [{"ParameterKey": k} for k in load_template(second).get("Parameters", {})]
    values = {
        "S3IAMConfigStackName": "s3-iam-config",
        "ServiceCatalogTemplateName": "sm-notebook.yml",
        "S3BucketName": bucket,
        "UserIAMPrincipal": f"arn:aws:iam::{a}:user/sandbox",
        "NotebookInstanceType": "ml.t2.medium",
    }
    params = [
        {"ParameterKey": p["ParameterKey"], "ParameterValue": values[p["ParameterKey"]]}
        for p in declared
        if p["ParameterKey"] in values
    ]
    cfn.create_stack(
        StackName="service-catalog-config",
        TemplateBody=second,
        Parameters=params,
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    assert cfn.describe_stacks(StackName="service-catalog-config")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    prods = sc.search_products()["ProductViewSummaries"]
    assert prods, "product not visible"
    prod_id = prods[0]["ProductId"]
    art = sc.list_provisioning_artifacts(ProductId=prod_id)["ProvisioningArtifactDetails"][-1]
    path = sc.list_launch_paths(ProductId=prod_id)["LaunchPathSummaries"][0]
    r = sc.provision_product(
        ProductId=prod_id,
        ProvisioningArtifactId=art["Id"],
        PathId=path["Id"],
        ProvisionedProductName="demo-user",
        ProvisionToken="t1",
        ProvisioningParameters=[{"Key": "NotebookUserName", "Value": "Demo-User"}],
    )
    rec = wait_record(sc, r["RecordDetail"]["RecordId"])
    assert rec["RecordDetail"]["Status"] == "SUCCEEDED", rec
    t = sc.terminate_provisioned_product(ProvisionedProductName="demo-user", TerminateToken="t2")
    assert wait_record(sc, t["RecordDetail"]["RecordId"])["RecordDetail"]["Status"] == "SUCCEEDED"
    cfn.delete_stack(StackName="service-catalog-config")
    assert sc.list_portfolios()["PortfolioDetails"] == []


def test_a_held_request_lands_after_later_ones(sandbox):
    """kind "hold": the request waits unapplied until /_sandbox/release, then runs."""
    import threading

    a = new_account()
    ssm = client(sandbox, "ssm", a)
    control(sandbox, "fault", {"account_id": a, "operation": "PutParameter", "kind": "hold"})
    done = []
    t = threading.Thread(target=lambda: done.append(ssm.put_parameter(Name="/late", Value="1", Type="String")))
    t.start()
    for _ in range(500):
        if control(sandbox, "held", {"account_id": a})["held"] == 1:
            break
        time.sleep(0.02)
    assert control(sandbox, "held", {"account_id": a})["held"] == 1
    with pytest.raises(botocore.exceptions.ClientError):
        ssm.get_parameter(Name="/late")  # not applied while held
    assert control(sandbox, "release", {"account_id": a})["released"] == 1
    t.join(20)
    assert done and ssm.get_parameter(Name="/late")["Parameter"]["Value"] == "1"
    assert ["PutParameter", "200", "fault=hold"] in [ln[3:6] for ln in log_lines(sandbox, a)]
