"""CloudTrail LookupEvents for the sandbox: answers the Service Catalog ProvisionProduct calls served.

Events are kept per account (every region of the account), newest first, in CloudTrail's shape.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime

from nvsandbox.core import common
from nvsandbox.core.common import AwsError, aws_handler

_lock = threading.Lock()
_events: dict[str, list[dict]] = {}


@common.on_reset
def _reset(account):
    with _lock:
        if account is None:
            _events.clear()
        else:
            _events.pop(account, None)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _trail_time(ts) -> str:
    # CloudTrail logs Service Catalog dates like "Jan 2, 2024 3:04:05 PM"
    d = datetime.fromtimestamp(float(ts), UTC)
    return d.strftime("%b ") + str(d.day) + d.strftime(", %Y ") + str(int(d.strftime("%I"))) + d.strftime(":%M:%S %p")


def _camel(key: str) -> str:
    return key[0].lower() + key[1:]


def record_sc_call(account: str, region: str, event_name: str, params: dict, answer: dict) -> None:
    now = time.time()
    rec = answer.get("RecordDetail", {})
    record_detail = {}
    for k, v in rec.items():
        if k in ("CreatedTime", "UpdatedTime"):
            v = _trail_time(v)
        elif k == "RecordErrors":
            v = [{_camel(a): b for a, b in e.items()} for e in v]
        elif k == "RecordTags":
            v = [{_camel(a): b for a, b in t.items()} for t in v]
        record_detail[_camel(k)] = v
    request = {
        "productId": params.get("ProductId"),
        "provisioningArtifactId": params.get("ProvisioningArtifactId"),
        "pathId": params.get("PathId") or rec.get("PathId"),
        "provisionedProductName": params.get("ProvisionedProductName"),
        "provisioningParameters": [
            {"key": p.get("Key"), "value": p.get("Value")} for p in params.get("ProvisioningParameters") or []
        ],
        "tags": [{"key": t.get("Key"), "value": t.get("Value")} for t in params.get("Tags") or []],
        "provisionToken": params.get("ProvisionToken"),
    }
    for k in ("productName", "provisioningArtifactName", "pathName"):
        src = k[0].upper() + k[1:]
        if params.get(src):
            request[k] = params[src]
    event_id = str(uuid.uuid4())
    request_id = str(uuid.uuid4())
    user_arn = f"arn:aws:iam::{account}:user/sandbox"
    detail = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDASANDBOX",
            "arn": user_arn,
            "accountId": account,
            "accessKeyId": account,
            "userName": "sandbox",
        },
        "eventTime": _iso(now),
        "eventSource": "servicecatalog.amazonaws.com",
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": "sandbox",
        "requestParameters": request,
        "responseElements": {"recordDetail": record_detail},
        "requestID": request_id,
        "eventID": event_id,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    resources = []
    if rec.get("ProvisionedProductId"):
        resources.append(
            {"ResourceType": "AWS::ServiceCatalog::ProvisionedProduct", "ResourceName": rec.get("ProvisionedProductId")}
        )
    event = {
        "EventId": event_id,
        "EventName": event_name,
        "ReadOnly": "false",
        "AccessKeyId": account,
        "EventTime": now,
        "EventSource": "servicecatalog.amazonaws.com",
        "Username": "sandbox",
        "Resources": resources,
        "CloudTrailEvent": json.dumps(detail),
        "_region": region,
    }
    with _lock:
        _events.setdefault(account, []).append(event)


def _ts(v):
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)
    except ValueError:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()


@aws_handler("cloudtrail", "LookupEvents")
def lookup_events(account: str, region: str, p: dict) -> dict:
    attrs = p.get("LookupAttributes") or []
    if len(attrs) > 1:
        raise AwsError("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
    start, end = _ts(p.get("StartTime")), _ts(p.get("EndTime"))
    if start is not None and end is not None and start > end:
        raise AwsError("InvalidTimeRangeException", "StartTime must be before EndTime.")
    max_results = int(p.get("MaxResults") or 50)
    if not 1 <= max_results <= 50:
        raise AwsError("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
    with _lock:
        events = [e for e in _events.get(account, []) if e["_region"] == region]
    events.sort(key=lambda e: e["EventTime"], reverse=True)
    for a in attrs:
        key, val = a.get("AttributeKey"), a.get("AttributeValue")
        field = {
            "EventName": "EventName",
            "EventSource": "EventSource",
            "EventId": "EventId",
            "Username": "Username",
            "ReadOnly": "ReadOnly",
            "AccessKeyId": "AccessKeyId",
        }.get(key)
        if field:
            events = [e for e in events if str(e[field]) == val]
        elif key == "ResourceName":
            events = [e for e in events if any(r["ResourceName"] == val for r in e["Resources"])]
        elif key == "ResourceType":
            events = [e for e in events if any(r["ResourceType"] == val for r in e["Resources"])]
        else:
            raise AwsError("InvalidLookupAttributesException", f"Unknown attribute key {key}")
    if start is not None:
        events = [e for e in events if e["EventTime"] >= start]
    if end is not None:
        events = [e for e in events if e["EventTime"] <= end]
    offset = 0
    if p.get("NextToken"):
        try:
            offset = int(p["NextToken"])
        except ValueError:
            raise AwsError("InvalidNextTokenException", "Invalid NextToken.") from None
    page = events[offset : offset + max_results]
    out = {"Events": [{k: v for k, v in e.items() if not k.startswith("_")} for e in page]}
    if offset + max_results < len(events):
        out["NextToken"] = str(offset + max_results)
    return out


def install() -> None:
    from nvsandbox.servicecatalog import state as catalog_state

    if record_sc_call not in catalog_state.TRAIL_HOOKS:
        catalog_state.TRAIL_HOOKS.append(record_sc_call)
