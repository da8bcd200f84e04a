"""The sandbox's Lambda runtime against the documented Runtime API contract, with a small Python
custom runtime as the function's `bootstrap` (no notebook-vend binary needed): the /next headers,
the process environment and the execution role's credentials, environment reuse, function errors,
timeouts, a crashing runtime, an init error, and the Invoke API (RequestResponse and Event).

    .sandbox/venv/bin/python -m pytest tests/sandbox/tests/test_lambda_runtime.py -q
"""

from __future__ import annotations

import io
import json
import time
import zipfile

import boto3
from support import client, control, new_account

BOOTSTRAP = r"""#!/usr/bin/python3
import json, os, sys, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"

def post(path, body, headers=None):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), method="POST", headers=headers or {})
    with urllib.request.urlopen(req) as r:
        return r.status

if os.environ.get("FAIL_INIT"):
    post("/init/error", {"errorMessage": "bad configuration", "errorType": "InitFailed"},
         {"Lambda-Runtime-Function-Error-Type": "InitFailed"})
    sys.exit(1)
while True:
    with urllib.request.urlopen(api + "/invocation/next") as r:
        names = ("Lambda-Runtime-Aws-Request-Id", "Lambda-Runtime-Deadline-Ms",
                 "Lambda-Runtime-Invoked-Function-Arn", "Lambda-Runtime-Trace-Id")
        headers = {k: r.headers[k] for k in names}
        event = json.loads(r.read())
    rid = headers["Lambda-Runtime-Aws-Request-Id"]
    do = event.get("do")
    if do == "sleep":
        time.sleep(event["seconds"])
    if do == "exit":
        sys.exit(3)
    if do == "error":
        post(f"/invocation/{rid}/error", {"errorMessage": "asked to fail", "errorType": "Asked"},
             {"Lambda-Runtime-Function-Error-Type": "Asked"})
        continue
    if do == "wrong-id":
        try:
            post("/invocation/not-the-id/response", {})
        except urllib.error.HTTPError as e:
            event["wrong_id_status"] = e.code
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "_HANDLER", "LAMBDA_", "MY_"))}
    post(f"/invocation/{rid}/response", {"event": event, "headers": headers, "env": env, "pid": os.getpid(),
                                         "cwd": os.getcwd()})
"""

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def package() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o100755 << 16
        z.writestr(info, BOOTSTRAP)
    return buf.getvalue()


def make(sb, account, name="echo", timeout=5, variables=None):
    iam, lam = client(sb, "iam", account), client(sb, "lambda", account)
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Handler="my.handler",
        Role=role,
        Code={"ZipFile": package()},
        Timeout=timeout,
        Environment={"Variables": variables or {}},
    )
    return lam


def invoke(lam, name, event):
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return out.get("FunctionError"), json.loads(out["Payload"].read())


def test_next_headers_environment_and_role_credentials(sandbox):
    a = new_account()
    lam = make(
        sandbox,
        a,
        variables={"MY_VAR": "1", "AWS_ENDPOINT_URL": "https://example.com", "AWS_ENDPOINT_URL_SSM": "https://x"},
    )
    before = time.time()
    error, out = invoke(lam, "echo", {"do": "echo"})
    assert error is None, out
    h, env = out["headers"], out["env"]
    fn_arn = f"arn:aws:lambda:us-east-1:{a}:function:echo"
    assert h["Lambda-Runtime-Invoked-Function-Arn"] == fn_arn
    assert before * 1000 + 4000 < int(h["Lambda-Runtime-Deadline-Ms"]) <= time.time() * 1000 + 5000
    assert h["Lambda-Runtime-Trace-Id"].startswith("Root=1-") and len(h["Lambda-Runtime-Aws-Request-Id"]) == 36
    assert env["_HANDLER"] == "my.handler" and env["AWS_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "echo" and env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["MY_VAR"] == "1" and env["LAMBDA_TASK_ROOT"] == out["cwd"]
    # the function's traffic goes to this sandbox only
    assert env["AWS_ENDPOINT_URL"] == sandbox["url"] and "AWS_ENDPOINT_URL_SSM" not in env
    sts = boto3.client(
        "sts",
        endpoint_url=sandbox["url"],
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{a}:assumed-role/echo-role/echo"


def test_environment_reused_until_the_configuration_changes(sandbox):
    a = new_account()
    lam = make(sandbox, a)
    first = invoke(lam, "echo", {})[1]["pid"]
    assert invoke(lam, "echo", {})[1]["pid"] == first
    lam.update_function_configuration(FunctionName="echo", Environment={"Variables": {"MY_VAR": "2"}})
    out = invoke(lam, "echo", {})[1]
    assert out["pid"] != first and out["env"]["MY_VAR"] == "2"


def test_errors_timeouts_crashes_and_init_errors(sandbox):
    a = new_account()
    lam = make(sandbox, a, timeout=1)
    error, out = invoke(lam, "echo", {"do": "error"})
    assert (error, out) == ("Unhandled", {"errorMessage": "asked to fail", "errorType": "Asked"})
    assert invoke(lam, "echo", {"do": "wrong-id"})[1]["event"]["wrong_id_status"] == 400
    started = time.time()
    error, out = invoke(lam, "echo", {"do": "sleep", "seconds": 3})
    assert error == "Unhandled" and out["errorMessage"].endswith("Task timed out after 1.00 seconds"), out
    assert time.time() - started < 2.5
    assert invoke(lam, "echo", {})[0] is None, "a new environment serves the next invocation"
    error, out = invoke(lam, "echo", {"do": "exit"})
    assert error == "Unhandled" and out["errorType"] == "Runtime.ExitError", out
    assert invoke(lam, "echo", {})[0] is None

    make(sandbox, a, name="broken", variables={"FAIL_INIT": "1"})
    error, out = invoke(lam, "broken", {})
    assert (error, out) == ("Unhandled", {"errorMessage": "bad configuration", "errorType": "InitFailed"})


def test_event_invocation_is_queued_and_run(sandbox):
    a = new_account()
    lam = make(sandbox, a)
    out = lam.invoke(FunctionName="echo", InvocationType="Event", Payload=b'{"n": 7}')
    assert out["StatusCode"] == 202
    assert control(sandbox, "lambda-wait", {"account_id": a})["idle"]
    runs = control(sandbox, "lambda-invocations", {"account_id": a, "function": "echo"})["invocations"]
    assert [json.loads(r["payload"])["event"] for r in runs] == [{"n": 7}]
