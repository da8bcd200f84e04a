"""Request-rate quotas: one token bucket per account and per API (or per shared quota), answering
`ThrottlingException` when a call finds its bucket empty, as AWS does.

Off by default (the test suite relies on speed): `SANDBOX_QUOTAS=1` turns them on for every account,
`POST /_sandbox/config {"account_id": A, "quotas": 1}` for one account. Each bucket's rate is a
setting of its own, `quota_<Bucket>` (requests per second), e.g.
`{"quotas": 1, "quota_ParameterStoreThroughput": 5}`; `quota_burst_seconds` is the bucket's size in
seconds of its rate.

A bucket holds at most `rate * burst_seconds` tokens, refills continuously at `rate` per second and
starts full; a request takes one token or is throttled (a throttled request takes none, as with AWS's
token-bucket throttling, which the SDKs' retry strategies assume).

THE SANDBOX RULE: a rate AWS documents is the default below, with its source; a rate AWS does not
document is a conservative (low) one, marked UNDOCUMENTED, so the tool is tested at its worst case.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from nvsandbox.core import common

# bucket -> (default requests per second, source)
BUCKETS: dict[str, tuple[float, str]] = {
    # Systems Manager: "Parameter Store throughput defines the number of API transactions per second
    # (TPS) that Systems Manager can process for GetParameter, GetParameters, and PutParameter API calls
    # for your AWS account and Region" (User Guide, "Changing Parameter Store throughput",
    # parameter-store-throughput.html; same note in the API reference of GetParameter and PutParameter).
    # Default ("standard") throughput 40 TPS: Systems Manager endpoints and quotas (general reference,
    # ssm.html), "Max throughput (transactions per second)", "Default throughput: 40", shared by
    # GetParameter, GetParameters, GetParametersByPath (the older wording of the same row).
    "ParameterStoreThroughput": (40.0, "documented: ssm.html Max throughput, default 40 TPS, shared"),
    # UNDOCUMENTED: the other Parameter Store calls have no published rate; 10/s, conservative.
    "DescribeParameters": (10.0, "undocumented: conservative"),
    "AddTagsToResource": (10.0, "undocumented: conservative"),
    "DeleteParameter": (10.0, "undocumented: conservative"),
    "DeleteParameters": (10.0, "undocumented: conservative"),
    # SageMaker: the SageMaker endpoints-and-quotas page and Service Quotas list resource and instance
    # quotas, not request rates of these calls (AWS answers ThrottlingException "Rate exceeded" when
    # they are exceeded). UNDOCUMENTED: 20/s each, conservative (half of SSM's documented default).
    "DescribeNotebookInstance": (20.0, "undocumented: conservative"),
    "CreatePresignedNotebookInstanceUrl": (20.0, "undocumented: conservative"),
    "ListNotebookInstances": (10.0, "undocumented: conservative"),
    "StopNotebookInstance": (5.0, "undocumented: conservative"),
    "StartNotebookInstance": (5.0, "undocumented: conservative"),
    # Service Catalog: "Service Catalog endpoints and quotas" (general reference, servicecatalog.html)
    # lists portfolio/product/constraint counts only, no request rates. UNDOCUMENTED: reads 10/s,
    # writes that launch CloudFormation 2/s, conservative.
    "SearchProvisionedProducts": (10.0, "undocumented: conservative"),
    "ScanProvisionedProducts": (10.0, "undocumented: conservative"),
    "DescribeProvisionedProduct": (10.0, "undocumented: conservative"),
    "DescribeRecord": (10.0, "undocumented: conservative"),
    "ProvisionProduct": (2.0, "undocumented: conservative"),
    "UpdateProvisionedProduct": (2.0, "undocumented: conservative"),
    "TerminateProvisionedProduct": (2.0, "undocumented: conservative"),
}

# (service as signed, operation) -> bucket
OPERATIONS: dict[tuple[str, str], str] = {
    ("ssm", "GetParameter"): "ParameterStoreThroughput",
    ("ssm", "GetParameters"): "ParameterStoreThroughput",
    ("ssm", "GetParametersByPath"): "ParameterStoreThroughput",
    ("ssm", "PutParameter"): "ParameterStoreThroughput",
    **{("ssm", op): op for op in ("DescribeParameters", "AddTagsToResource", "DeleteParameter", "DeleteParameters")},
    **{
        ("sagemaker", op): op
        for op in (
            "DescribeNotebookInstance",
            "CreatePresignedNotebookInstanceUrl",
            "ListNotebookInstances",
            "StopNotebookInstance",
            "StartNotebookInstance",
        )
    },
    **{
        ("servicecatalog", op): op
        for op in (
            "SearchProvisionedProducts",
            "ScanProvisionedProducts",
            "DescribeProvisionedProduct",
            "DescribeRecord",
            "ProvisionProduct",
            "UpdateProvisionedProduct",
            "TerminateProvisionedProduct",
        )
    },
}

common.register_setting("quotas", float(os.environ.get("SANDBOX_QUOTAS", "0")))
# UNDOCUMENTED: AWS does not publish the burst size of these buckets; one second of the rate is the
# small end (a bigger burst would hide a client that does not pace itself).
common.register_setting("quota_burst_seconds", 1.0)
for _bucket, (_rate, _source) in BUCKETS.items():
    common.register_setting(f"quota_{_bucket}", _rate)


class Bucket:
    """A token bucket: `capacity` tokens at most, refilled at `rate` per second; starts full."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self.clock = clock
        self.tokens = self.capacity
        self.last = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


_lock = threading.Lock()
_buckets: dict[tuple[str, str], Bucket] = {}


def allow(account: str, service: str, operation: str) -> bool:
    """True when the call may proceed; False when it is throttled."""
    bucket = OPERATIONS.get((service, operation))
    if bucket is None or common.setting(account, "quotas") <= 0:
        return True
    rate = common.setting(account, f"quota_{bucket}")
    capacity = rate * common.setting(account, "quota_burst_seconds")
    with _lock:
        b = _buckets.get((account, bucket))
        if b is None or b.rate != rate or b.capacity != max(capacity, 1.0):
            b = _buckets[(account, bucket)] = Bucket(rate, capacity)
        return b.take()


@common.on_reset
def _reset(account: str | None) -> None:
    with _lock:
        for key in [k for k in _buckets if account is None or k[0] == account]:
            del _buckets[key]
