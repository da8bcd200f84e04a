"""The sandbox runs Lambda functions for real: SageMaker's native state-change event, emitted when a
notebook's state changes, reaches an EventBridge rule's Lambda target, which runs notebook-vend's own
binary in Lambda mode (awslambda/runtime.py, events/delivery.py, sagemaker/state_events.py); function
errors go through the asynchronous retries to the on-failure SQS destination; a function URL with
AWS_IAM takes SigV4-signed requests (awslambda/urls.py).

The function's code is the stripped release binary as `bootstrap`: NV_BIN names it (default
/work/nv-bin/notebook-vend-cbb5541-stripped, a build of main with Lambda mode).

    NV_BIN=... .sandbox/venv/bin/python -m pytest tests/sandbox/tests/test_serverless_delivery.py -q
"""

from __future__ import annotations

import io
import json
import os
import time
import urllib.error
import urllib.request
import zipfile

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from support import bootstrap, client, control, new_account, provision, wait_record

SANDBOX_ENV = {"SANDBOX_RECORD_SECONDS": "0.2", "SANDBOX_PENDING_SECONDS": "0.3"}
NV_BIN = os.environ.get("NV_BIN", "/work/nv-bin/notebook-vend-cbb5541-stripped")
PREFIX = "/SageMaker/Notebooks/"
PATTERN = {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Notebook Instance State Change"]}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

# What serve's refresh calls (src/permissions.rs, rows `lambda watch` / `lambda serve`), by action.
SERVE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "servicecatalog:Describe*",
                "servicecatalog:Search*",
                "servicecatalog:List*",
                "cloudformation:Describe*",
                "sagemaker:DescribeNotebookInstance",
                "sagemaker:CreatePresignedNotebookInstanceUrl",
                "ssm:*Parameter*",
                "ssm:AddTagsToResource",
                "ssm:ListTagsForResource",
            ],
            "Resource": "*",
        }
    ],
}

needs_binary = pytest.mark.skipif(not os.path.isfile(NV_BIN), reason=f"no notebook-vend binary at NV_BIN={NV_BIN}")


@pytest.fixture(scope="module")
def package():
    """The Lambda package: the binary as an executable `bootstrap` at the root of a zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(NV_BIN, "rb") as f:
            z.writestr(info, f.read())
    return buf.getvalue()


def function(sb, account, package, name, handler, *, policy=None, env=None):
    """A function as `bootstrap --serverless` deploys it: role, code, handler, concurrency 1."""
    iam, lam = client(sb, "iam", account), client(sb, "lambda", account)
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=f"{name}-role", PolicyName="p", PolicyDocument=json.dumps(policy))
    s3 = client(sb, "s3", account)
    s3.create_bucket(Bucket=f"code-{account}-{name}")
    s3.put_object(Bucket=f"code-{account}-{name}", Key="lambda.zip", Body=package)
    arn = lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Handler=handler,
        Role=role,
        Code={"S3Bucket": f"code-{account}-{name}", "S3Key": "lambda.zip"},
        Timeout=30,
        Environment={"Variables": env or {}},
    )["FunctionArn"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    return arn


def rule_to(sb, account, fn_arn, name="state-change", pattern=None):
    events, lam = client(sb, "events", account), client(sb, "lambda", account)
    rule = events.put_rule(Name=name, EventPattern=json.dumps(pattern or PATTERN))["RuleArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": fn_arn}])
    lam.add_permission(
        FunctionName=fn_arn,
        StatementId=f"events-{name}",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule,
    )
    return rule


def events_log(sb, account, kind):
    with open(os.path.join(sb["dir"], "events.log")) as f:
        return [ln.split(None, 4)[3:] for ln in f if ln.split()[1:3] == [account, kind]]


def invocations(sb, account, name):
    return control(sb, "lambda-invocations", {"account_id": account, "function": name})["invocations"]


def wait_for(check, timeout=20.0):
    end = time.time() + timeout
    while True:
        value = check()
        if value or time.time() > end:
            return value
        time.sleep(0.05)


def next_second():
    """Wait into a later second than the last URL write: the watch handler tells a duplicate from a
    fresh InService by comparing the parameter's LastModifiedDate with the event's `time` (ISO 8601
    to the second) and the notebook's LastModifiedTime; a stop and start within the second of the
    last write would look already handled (on AWS they take minutes)."""
    time.sleep(1.0)  # floor(now + 1 s) > now > the last write


def stored(ssm, user):
    try:
        p = ssm.get_parameter(Name=f"{PREFIX}{user}-Notebook", WithDecryption=True)["Parameter"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return p


@pytest.fixture(scope="module")
def deployed(sandbox, package):
    """An account with the repo's stacks, the watch function on the native event, alice provisioned
    (through Service Catalog, as the console does) and her notebook InService."""
    if not os.path.isfile(NV_BIN):
        pytest.skip(f"no notebook-vend binary at NV_BIN={NV_BIN}")
    a = new_account()
    control(sandbox, "config", {"account_id": a, "sagemaker_event_duplicate_rate": 0, "lambda_retry_seconds": 0.1})
    d = bootstrap(sandbox, a)
    fn = function(sandbox, a, package, "nv-watch", "watch")
    rule_to(sandbox, a, fn)
    started = time.time()
    assert provision(sandbox, a, d, "alice")["Status"] == "SUCCEEDED"
    return {"account": a, "deployment": d, "function": fn, "provisioned_at": started}


@needs_binary
def test_in_service_event_runs_the_function_which_stores_the_url(sandbox, deployed):
    a = deployed["account"]
    ssm = client(sandbox, "ssm", a)
    # Nobody reads the notebook: the sandbox's scheduler moves it to InService and sends the event.
    param = wait_for(lambda: stored(ssm, "alice"))
    assert param is not None, events_log(sandbox, a, "lambda-async")
    assert param["Value"].startswith("https://alice-notebook.notebook.us-east-1.sagemaker.aws?authToken="), param
    control(sandbox, "events-flush", {"account_id": a})
    sent = [e for e in events_log(sandbox, a, "sagemaker-event") if e[0] == "alice-Notebook"]
    assert [e[1].strip() for e in sent] == ["Pending", "InService"], sent
    answers = [json.loads(i["payload"]) for i in invocations(sandbox, a, "nv-watch") if i["ok"]]
    assert [x["result"] for x in answers] == ["ignored", "stored"], answers
    assert answers[1]["user"] == "alice"
    assert param["Version"] == 1


@needs_binary
def test_a_duplicate_event_is_answered_without_a_second_write(sandbox, deployed):
    a = deployed["account"]
    ssm, sm = client(sandbox, "ssm", a), client(sandbox, "sagemaker", a)
    wait_for(lambda: stored(ssm, "alice"))
    control(sandbox, "events-flush", {"account_id": a})
    before = stored(ssm, "alice")
    seen = len(invocations(sandbox, a, "nv-watch"))
    # every state change sent twice, as AWS warns it may be
    control(sandbox, "config", {"account_id": a, "sagemaker_event_duplicate_rate": 1})
    next_second()
    try:
        sm.stop_notebook_instance(NotebookInstanceName="alice-Notebook")
        time.sleep(0.4)  # Stopping -> Stopped (pending_seconds 0.3)
        control(sandbox, "events-flush", {"account_id": a})
        sm.start_notebook_instance(NotebookInstanceName="alice-Notebook")
        time.sleep(0.4)  # Pending -> InService
        control(sandbox, "events-flush", {"account_id": a})
    finally:
        control(sandbox, "config", {"account_id": a, "sagemaker_event_duplicate_rate": 0})
    answers = [json.loads(i["payload"]) for i in invocations(sandbox, a, "nv-watch")[seen:]]
    in_service = [x for x in answers if x["event_status"] == "InService"]
    assert [x["result"] for x in in_service] == ["stored", "already-handled"], answers
    after = stored(ssm, "alice")
    assert after["Version"] == before["Version"] + 1, "one fresh URL for the start, none for the copy"
    assert after["Value"] != before["Value"]


@needs_binary
def test_out_of_order_events_leave_the_url_of_the_running_notebook(sandbox, deployed):
    a = deployed["account"]
    ssm, sm = client(sandbox, "ssm", a), client(sandbox, "sagemaker", a)
    wait_for(lambda: stored(ssm, "alice"))
    control(sandbox, "events-flush", {"account_id": a})
    next_second()
    control(sandbox, "events-hold", {"account_id": a, "hold": 1})
    sm.stop_notebook_instance(NotebookInstanceName="alice-Notebook")
    time.sleep(0.4)
    control(sandbox, "events-flush", {"account_id": a})
    sm.start_notebook_instance(NotebookInstanceName="alice-Notebook")
    time.sleep(0.4)
    control(sandbox, "events-flush", {"account_id": a})
    before = stored(ssm, "alice")
    seen = len(invocations(sandbox, a, "nv-watch"))
    released = control(sandbox, "events-release", {"account_id": a, "order": "reverse"})
    assert released["released"] == 4 and released["idle"], released
    answers = [json.loads(i["payload"]) for i in invocations(sandbox, a, "nv-watch")[seen:]]
    assert [x["event_status"] for x in answers] == ["InService", "Pending", "Stopped", "Stopping"], answers
    assert answers[0]["result"] == "stored"
    assert all(x["result"] == "ignored" for x in answers[1:]), answers
    assert stored(ssm, "alice")["Version"] == before["Version"] + 1


@needs_binary
def test_a_foreign_notebook_is_ignored(sandbox, deployed):
    a = deployed["account"]
    sm, ssm = client(sandbox, "sagemaker", a), client(sandbox, "ssm", a)
    control(sandbox, "events-flush", {"account_id": a})
    seen = len(invocations(sandbox, a, "nv-watch"))
    sm.create_notebook_instance(
        NotebookInstanceName="carol-Notebook", InstanceType="ml.t3.medium", RoleArn=f"arn:aws:iam::{a}:role/x"
    )
    wait_for(
        lambda: (
            sm.describe_notebook_instance(NotebookInstanceName="carol-Notebook")["NotebookInstanceStatus"]
            == "InService"
        )
    )
    control(sandbox, "events-flush", {"account_id": a})
    answers = [json.loads(i["payload"]) for i in invocations(sandbox, a, "nv-watch")[seen:]]
    assert [x["result"] for x in answers] == ["ignored", "ignored"], answers
    assert stored(ssm, "carol") is None


@needs_binary
def test_function_errors_are_retried_then_recorded_on_the_failure_queue(sandbox, package):
    """The function's role may only send to its queue: with IAM enforced, its DescribeNotebookInstance
    is refused, each attempt fails, and after MaximumRetryAttempts the record reaches the queue."""
    a = new_account()
    control(sandbox, "config", {"account_id": a, "sagemaker_event_duplicate_rate": 0, "lambda_retry_seconds": 0.05})
    sqs, lam, sm = client(sandbox, "sqs", a), client(sandbox, "lambda", a), client(sandbox, "sagemaker", a)
    queue_url = sqs.create_queue(QueueName="watch-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    send_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}],
    }
    fn = function(sandbox, a, package, "nv-watch", "watch", policy=send_only)
    lam.put_function_event_invoke_config(
        FunctionName="nv-watch", MaximumRetryAttempts=2, DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )
    in_service = {**PATTERN, "detail": {"NotebookInstanceStatus": ["InService"]}}
    rule_to(sandbox, a, fn, pattern=in_service)
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})
    sm.create_notebook_instance(
        NotebookInstanceName="dave-Notebook", InstanceType="ml.t3.medium", RoleArn=f"arn:aws:iam::{a}:role/x"
    )
    time.sleep(0.4)
    control(sandbox, "events-flush", {"account_id": a})
    attempts = [i for i in invocations(sandbox, a, "nv-watch")]
    assert len(attempts) == 3 and not any(i["ok"] for i in attempts), attempts
    msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert len(msgs) == 1, msgs
    record = json.loads(msgs[0]["Body"])
    assert record["version"] == "1.0"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == f"{fn}:$LATEST"
    assert record["requestPayload"]["detail-type"] == "SageMaker Notebook Instance State Change"
    assert record["requestPayload"]["detail"]["NotebookInstanceName"] == "dave-Notebook"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert "AccessDenied" in json.dumps(record["responsePayload"]), record["responsePayload"]


def signed(url, method, body, key, secret, token=None, region="us-east-1"):
    creds = botocore.credentials.Credentials(key, secret, token)
    req = botocore.awsrequest.AWSRequest(
        method=method, url=url, data=body, headers={"Content-Type": "application/json"}
    )
    botocore.auth.SigV4Auth(creds, "lambda", region).add_auth(req)
    return urllib.request.Request(url, data=body, method=method, headers=dict(req.headers.items()))


def call(req):
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@needs_binary
def test_function_url_signed_as_erin_refreshes_her_url_and_unsigned_is_refused(sandbox, deployed, package):
    a = deployed["account"]
    iam, lam, ssm = client(sandbox, "iam", a), client(sandbox, "lambda", a), client(sandbox, "ssm", a)
    fn = function(sandbox, a, package, "nv-serve", "serve")
    url = lam.create_function_url_config(FunctionName="nv-serve", AuthType="AWS_IAM")["FunctionUrl"]
    assert lam.get_function_url_config(FunctionName="nv-serve")["FunctionUrl"] == url
    assert url.startswith(sandbox["url"] + "/lambda-url/") and url.endswith("/"), url
    keys = {}
    for user in ("erin", "bob"):
        iam.create_user(UserName=user)
        allow = {"Effect": "Allow", "Action": ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"], "Resource": fn}
        iam.put_user_policy(
            UserName=user, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]})
        )
        k = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = (k["AccessKeyId"], k["SecretAccessKey"])
    # provisioned under the name the tool gives it (serve finds a user's product by that name:
    # the function's role does not see other principals' products at Service Catalog's User level)
    sc = client(sandbox, "servicecatalog", a)
    d = deployed["deployment"]
    r = sc.provision_product(
        ProductId=d["product"],
        ProvisioningArtifactId=d["artifact"],
        PathId=d["path"],
        ProvisionedProductName="erin-Notebook",
        ProvisionToken="tok-erin",
        ProvisioningParameters=[{"Key": "NotebookUserName", "Value": "erin"}],
    )
    assert wait_record(sc, r["RecordDetail"]["RecordId"])["RecordDetail"]["Status"] == "SUCCEEDED"
    before = wait_for(lambda: stored(ssm, "erin"))  # the watch function stored it at InService
    assert before is not None
    control(sandbox, "config", {"account_id": a, "iam_enforced": 1})
    try:
        body = json.dumps({"notebook_user_name": "erin"}).encode()
        # the function's calls are its execution role's, evaluated as such: no policy yet, refused
        status, answer = call(signed(url + "refreshurl", "POST", body, *keys["erin"]))
        assert status == 502 and "AccessDenied" in answer["error"], answer
        assert "assumed-role/nv-serve-role/nv-serve" in answer["error"], answer
        iam.put_role_policy(RoleName="nv-serve-role", PolicyName="p", PolicyDocument=json.dumps(SERVE_POLICY))
        status, answer = call(signed(url + "refreshurl", "POST", body, *keys["erin"]))
        assert status == 200, answer
        assert answer["PreSignedURL"].startswith("https://erin-notebook.notebook.us-east-1.sagemaker.aws?authToken=")
        assert stored(ssm, "erin")["Value"] == answer["PreSignedURL"] != before["Value"]

        # bob for erin's notebook: the function refuses (serve's identity rule)
        status, answer = call(signed(url + "refreshurl", "POST", body, *keys["bob"]))
        assert status == 403, answer

        # unsigned: Lambda refuses before the function runs
        seen = len(invocations(sandbox, a, "nv-serve"))
        # lambda:InvokeFunctionUrl alone is not enough for a URL made since October 2025
        only_url = {"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": fn}
        doc = json.dumps({"Version": "2012-10-17", "Statement": [only_url]})
        iam.put_user_policy(UserName="bob", PolicyName="p", PolicyDocument=doc)
        status, answer = call(signed(url + "refreshurl", "POST", body, *keys["bob"]))
        assert status == 403 and answer["Message"].startswith("Forbidden"), answer
        status, answer = call(urllib.request.Request(url + "refreshurl", data=body, method="POST"))
        assert (status, answer) == (403, {"Message": "Forbidden"})
        # a wrong secret: refused too
        status, answer = call(signed(url + "refreshurl", "POST", body, keys["erin"][0], "wrong"))
        assert status == 403, answer
        assert len(invocations(sandbox, a, "nv-serve")) == seen

        # the payload 2.0 event the function received
        event = json.loads(invocations(sandbox, a, "nv-serve")[0]["event"])
        iam_ctx = event["requestContext"]["authorizer"]["iam"]
        assert iam_ctx["userArn"] == f"arn:aws:iam::{a}:user/erin"
        assert iam_ctx["accessKey"] == keys["erin"][0] and iam_ctx["accountId"] == a
        assert event["rawPath"] == "/refreshurl" and event["requestContext"]["http"]["method"] == "POST"
        assert event["version"] == "2.0" and event["isBase64Encoded"] is False
    finally:
        control(sandbox, "config", {"account_id": a, "iam_enforced": 0})


@needs_binary
def test_a_public_function_url_needs_the_resource_policy_to_grant_both_actions(sandbox, deployed, package):
    a = deployed["account"]
    lam = client(sandbox, "lambda", a)
    function(sandbox, a, package, "nv-open", "serve")
    url = lam.create_function_url_config(FunctionName="nv-open", AuthType="NONE")["FunctionUrl"]
    status, answer = call(urllib.request.Request(url + "healthz"))
    assert (status, answer) == (403, {"Message": "Forbidden"})
    for sid, action in (("url", "lambda:InvokeFunctionUrl"), ("fn", "lambda:InvokeFunction")):
        lam.add_permission(
            FunctionName="nv-open", StatementId=sid, Action=action, Principal="*", FunctionUrlAuthType="NONE"
        )
    # the function runs; serve itself refuses a caller without AWS_IAM
    status, answer = call(urllib.request.Request(url + "refreshurl", data=b"{}", method="POST"))
    assert status == 403 and "AWS_IAM" in answer["error"], answer


CFN_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Bucket: {Type: String}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
  Watch:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: cfn-watch
      Runtime: provided.al2023
      Handler: watch
      Role: !GetAtt Role.Arn
      Timeout: 30
      ReservedConcurrentExecutions: 1
      Code: {S3Bucket: !Ref Bucket, S3Key: lambda.zip}
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.sagemaker]
        detail-type: [SageMaker Notebook Instance State Change]
        detail:
          NotebookInstanceStatus: [InService, Deleting]
      State: ENABLED
      Targets: [{Id: watch, Arn: !GetAtt Watch.Arn}]
  Permission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref Watch
      Principal: events.amazonaws.com
      SourceArn: !GetAtt Rule.Arn
      SourceAccount: !Ref AWS::AccountId
"""


@needs_binary
def test_resources_made_by_cloudformation_deliver_as_the_template_declares_them(sandbox, package):
    """The rule, target and permission as templates/serverless.yml declares them (pattern on InService
    and Deleting, SourceArn + SourceAccount), made by a stack: provision -> URL stored."""
    a = new_account()
    control(sandbox, "config", {"account_id": a, "sagemaker_event_duplicate_rate": 0})
    d = bootstrap(sandbox, a)
    s3, cfn = client(sandbox, "s3", a), client(sandbox, "cloudformation", a)
    s3.create_bucket(Bucket=f"code-{a}")
    s3.put_object(Bucket=f"code-{a}", Key="lambda.zip", Body=package)
    cfn.create_stack(
        StackName="serverless",
        TemplateBody=CFN_TEMPLATE,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": "Bucket", "ParameterValue": f"code-{a}"}],
    )
    assert cfn.describe_stacks(StackName="serverless")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    ssm = client(sandbox, "ssm", a)
    assert provision(sandbox, a, d, "frank")["Status"] == "SUCCEEDED"
    assert wait_for(lambda: stored(ssm, "frank")) is not None, events_log(sandbox, a, "lambda-target")
    control(sandbox, "events-flush", {"account_id": a})
    answers = [json.loads(i["payload"]) for i in invocations(sandbox, a, "cfn-watch")]
    assert [x["result"] for x in answers] == ["stored"], answers  # Pending does not match the pattern


@needs_binary
def test_no_delivery_without_the_functions_permission_or_from_a_disabled_rule(sandbox, package):
    a = new_account()
    control(sandbox, "config", {"account_id": a, "sagemaker_event_duplicate_rate": 0})
    events, sm = client(sandbox, "events", a), client(sandbox, "sagemaker", a)
    fn = function(sandbox, a, package, "nv-watch", "watch")
    events.put_rule(Name="no-permission", EventPattern=json.dumps(PATTERN))
    events.put_targets(Rule="no-permission", Targets=[{"Id": "fn", "Arn": fn}])
    rule_to(sandbox, a, fn, name="disabled")
    events.disable_rule(Name="disabled")
    sm.create_notebook_instance(
        NotebookInstanceName="gina-Notebook", InstanceType="ml.t3.medium", RoleArn=f"arn:aws:iam::{a}:role/x"
    )
    time.sleep(0.4)
    control(sandbox, "events-flush", {"account_id": a})
    assert invocations(sandbox, a, "nv-watch") == []
    denied = events_log(sandbox, a, "lambda-target")
    assert [e[1].split()[0] for e in denied] == ["denied", "denied"], denied  # Pending, InService
