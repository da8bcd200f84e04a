"""Request-rate quotas of the sandbox (core/quotas.py): the bucket's arithmetic on an injected clock, and the
wire answer (ThrottlingException, 400, awsJson1_1 `__type`) through a real server.

No assertion on wall-clock timing: refill is proven on a fake clock; through the server, calls allowed
over a measured window are counted against bounds wide enough for any scheduling noise.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import pytest

from nvsandbox.core import quotas


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_bucket_starts_full_then_refills_at_its_rate():
    clock = FakeClock()
    b = quotas.Bucket(rate=5.0, capacity=5.0, clock=clock)
    assert sum(b.take() for _ in range(20)) == 5  # the burst: one second of the rate
    assert not b.take()
    clock.t += 0.125  # 0.625 of a token
    assert not b.take()
    clock.t += 0.125  # 1.25 tokens
    assert b.take()
    assert not b.take()
    # over 16 s of steady demand (one call every 1/64 s: exact in binary) exactly rate * 16 get through
    allowed = 0
    for _ in range(64 * 16):
        clock.t += 1 / 64
        allowed += b.take()
    assert allowed == 5 * 16
    # idle for long: refills to its capacity, not beyond
    clock.t += 100
    assert sum(b.take() for _ in range(100)) == 5


def test_throttled_calls_take_no_token():
    clock = FakeClock()
    b = quotas.Bucket(rate=2.0, capacity=2.0, clock=clock)
    b.take(), b.take()
    for _ in range(50):
        assert not b.take()
    clock.t += 0.5
    assert b.take()


def test_documented_defaults_and_shared_parameter_store_quota():
    assert quotas.BUCKETS["ParameterStoreThroughput"][0] == 40.0
    shared = {op for (svc, op), bucket in quotas.OPERATIONS.items() if bucket == "ParameterStoreThroughput"}
    assert {"GetParameter", "GetParameters", "PutParameter"} <= shared
    for op in (
        "PutParameter",
        "GetParameter",
        "CreatePresignedNotebookInstanceUrl",
        "DescribeNotebookInstance",
        "SearchProvisionedProducts",
        "DescribeRecord",
        "ProvisionProduct",
        "UpdateProvisionedProduct",
    ):
        assert any(o == op for (_, o) in quotas.OPERATIONS), op
    for bucket, (rate, source) in quotas.BUCKETS.items():
        assert rate > 0 and source.split(":")[0] in ("documented", "undocumented"), bucket


_n = [0]


def account() -> str:
    _n[0] += 1
    return str(310000000000 + os.getpid() % 1000 * 1000 + _n[0])


def client(sb, service, acct):
    cfg = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client(
        service,
        endpoint_url=sb["url"],
        region_name="us-east-1",
        aws_access_key_id=acct,
        aws_secret_access_key="sandbox",
        config=cfg,
    )


def config(sb, body):
    req = urllib.request.Request(
        f"{sb['url']}/_sandbox/config",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_off_by_default(sandbox):
    ssm = client(sandbox, "ssm", account())
    for i in range(60):  # more than the 40/s default burst, all allowed
        ssm.put_parameter(Name="/q/p", Value=str(i), Type="String", Overwrite=True)


def test_put_parameter_throttled_in_wire_shape_and_refills(sandbox):
    acct = account()
    settings = config(sandbox, {"account_id": acct, "quotas": 1, "quota_ParameterStoreThroughput": 5})
    assert settings["quotas"] == 1 and settings["quota_ParameterStoreThroughput"] == 5
    ssm = client(sandbox, "ssm", acct)
    ok = throttled = 0
    first_error = None
    start = time.monotonic()
    while time.monotonic() - start < 2.0:
        try:
            ssm.put_parameter(Name="/q/p", Value="v", Type="String", Overwrite=True)
            ok += 1
        except botocore.exceptions.ClientError as e:
            throttled += 1
            first_error = first_error or e.response
    window = time.monotonic() - start
    # burst (5) + refill at 5/s over the window; bounds wide enough for scheduling noise
    expected = 5 + 5 * window
    assert expected * 0.6 <= ok <= expected + 3, (ok, window)
    assert throttled > ok  # the loop asked far more often than the quota allows
    assert first_error["Error"]["Code"] == "ThrottlingException"
    assert first_error["Error"]["Message"] == "Rate exceeded"
    assert first_error["ResponseMetadata"]["HTTPStatusCode"] == 400
    # GetParameter shares the Parameter Store throughput quota with PutParameter
    with pytest.raises(botocore.exceptions.ClientError) as e:
        for _ in range(10):
            ssm.get_parameter(Name="/q/p")
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    # another account is not affected
    other = client(sandbox, "ssm", account())
    for _ in range(10):
        other.put_parameter(Name="/q/p", Value="v", Type="String", Overwrite=True)


def test_raw_wire_answer_is_awsjson_throttling(sandbox):
    acct = account()
    config(sandbox, {"account_id": acct, "quotas": 1, "quota_DescribeNotebookInstance": 1})
    sm = client(sandbox, "sagemaker", acct)
    seen = []
    sm.meta.events.register(
        "response-received.sagemaker.DescribeNotebookInstance",
        lambda response_dict=None, **_: seen.append(response_dict),
    )
    codes = []
    for _ in range(3):
        try:
            sm.describe_notebook_instance(NotebookInstanceName="nope")
        except botocore.exceptions.ClientError as e:
            codes.append(e.response["Error"]["Code"])
    # the first call spends the one token (and answers that the notebook does not exist)
    assert codes[0] != "ThrottlingException"
    assert codes[1:] == ["ThrottlingException", "ThrottlingException"]
    raw = seen[-1]
    assert raw["status_code"] == 400
    assert raw["headers"]["Content-Type"] == "application/x-amz-json-1.1"
    assert json.loads(raw["body"]) == {"__type": "ThrottlingException", "message": "Rate exceeded"}


def test_service_catalog_buckets_are_per_api(sandbox):
    acct = account()
    config(sandbox, {"account_id": acct, "quotas": 1, "quota_SearchProvisionedProducts": 2})
    sc = client(sandbox, "servicecatalog", acct)
    sc.search_provisioned_products(), sc.search_provisioned_products()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sc.search_provisioned_products()
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    # DescribeRecord has its own bucket: not throttled by the Search calls
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sc.describe_record(Id="rec-nope")
    assert e.value.response["Error"]["Code"] != "ThrottlingException"
    with open(os.path.join(sandbox["dir"], "requests.log")) as f:
        lines = [ln.split() for ln in f if ln.split()[1] == acct]
    assert ["SearchProvisionedProducts", "400", "fault=quota"] in [ln[3:] for ln in lines]
