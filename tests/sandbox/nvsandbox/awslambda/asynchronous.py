"""Asynchronous invocation (an EventBridge rule's Lambda target): Lambda's event queue, retries and
destinations, after the Developer Guide:

- "How Lambda handles errors and retries with asynchronous invocation"
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html): on a function
  error Lambda runs it up to MaximumRetryAttempts more times (EventInvokeConfig, default 2), "with a
  one-minute wait between the first two attempts, and two minutes between the second and third".
  The sandbox scales the minute to `lambda_retry_seconds` (default 1 s; /_sandbox/config). An event
  older than MaximumEventAgeInSeconds (default 6 h) is not attempted again. "Even if your function
  doesn't return an error, it's possible for it to receive the same event from Lambda multiple times"
  is played by the events' own duplicates (sagemaker/state_events.py), not here.
- "Capturing records of Lambda asynchronous invocations"
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html): an event that
  fails every attempt sends the invocation record to the OnFailure destination; a success to the
  OnSuccess one. Record: {"version": "1.0", "timestamp", "requestContext": {"requestId",
  "functionArn" (with :$LATEST), "condition" (RetriesExhausted | EventAgeExceeded | Success),
  "approximateInvokeCount"}, "requestPayload", "responseContext": {"statusCode", "executedVersion",
  "functionError"}, "responsePayload"}. Destination served: a standard SQS queue (a FIFO
  queue is refused by Lambda: the record is dropped, as AWS counts a DestinationDeliveryFailure; SNS,
  S3, Lambda and EventBridge destinations are not played: dropped too). The execution role needs
  sqs:SendMessage on the queue (same page, "Execution
  role permissions"): with iam_enforced on and no such Allow, the record is dropped too.
- A function whose reserved concurrency is 0 gets no invocation: the event goes to the on-failure
  destination without retries (same page, note on reserved concurrency zero). The record's
  condition for that case is not documented: the sandbox writes EventAgeExceeded with
  approximateInvokeCount 0 and no responseContext/responsePayload (nothing ran).

Every outcome is a line of events.log (`<epoch> <account> lambda-async <function> <what>`), and
`/_sandbox/lambda-wait {"account_id", "timeout"}` returns when the account has no event in flight.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from nvsandbox.awslambda import runtime
from nvsandbox.core import common

common.register_setting("lambda_retry_seconds", 1.0)
DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 21600

_inflight: dict[str, int] = {}
_cond = threading.Condition()


def _begin(account: str) -> None:
    with _cond:
        _inflight[account] = _inflight.get(account, 0) + 1


def _end(account: str) -> None:
    with _cond:
        _inflight[account] = _inflight.get(account, 1) - 1
        _cond.notify_all()


def wait_idle(account: str, timeout: float) -> bool:
    end = time.time() + timeout
    with _cond:
        while _inflight.get(account, 0) > 0:
            left = end - time.time()
            if left <= 0:
                return False
            _cond.wait(left)
    return True


def _invoke_config(fn: Any) -> dict:
    configs = getattr(fn, "event_invoke_config", None) or []
    return dict(configs[0].config) if configs else {}


def invoke(fn: Any, event: Any, source: str = "") -> str:
    """Queue one asynchronous invocation; its request id."""
    request_id = str(uuid.uuid4())
    account = fn.account_id
    _begin(account)
    key = (fn.account_id, fn.region, fn.function_name)
    threading.Thread(target=_run, args=(key, event, request_id, source), daemon=True).start()
    return request_id


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def _run(key: tuple[str, str, str], event: Any, request_id: str, source: str) -> None:
    account, region, name = key
    try:
        queued = time.time()
        payload = json.dumps(event).encode()
        attempts = 0
        result: runtime.Result | None = None
        condition = "RetriesExhausted"
        fn = runtime.find_function(account, region, name)
        if fn is None:
            common.log_event(account, "lambda-async", name, f"dropped {request_id}: no such function")
            return
        config = _invoke_config(fn)
        retries = int(config.get("MaximumRetryAttempts", DEFAULT_RETRIES))
        max_age = float(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE))
        if runtime.concurrency(fn) <= 0:
            condition = "EventAgeExceeded"
        else:
            for attempt in range(retries + 1):
                if attempt:
                    time.sleep(common.setting(account, "lambda_retry_seconds") * attempt)
                    fn = runtime.find_function(account, region, name) or fn
                if time.time() - queued > max_age:
                    condition = "EventAgeExceeded"
                    break
                attempts += 1
                result = runtime.invoke(fn, payload)
                common.log_event(
                    account,
                    "lambda-async",
                    name,
                    f"attempt {attempts} {'ok' if result.ok else 'error'} {request_id}{' ' + source if source else ''}",
                )
                if result.ok:
                    condition = "Success"
                    break
        which = "OnSuccess" if condition == "Success" else "OnFailure"
        destination = ((config.get("DestinationConfig") or {}).get(which) or {}).get("Destination")
        if destination:
            record = _record(fn, request_id, condition, attempts, event, result)
            delivered = _deliver(fn, destination, record)
            common.log_event(
                account, "lambda-async", name, f"{which} {'sent' if delivered else 'dropped'} {request_id}"
            )
    except Exception as e:  # noqa: BLE001  (a background thread: say what broke, never crash the server)
        common.log_event(account, "lambda-async", name, f"sandbox-error {type(e).__name__}: {e}")
    finally:
        _end(account)


def _record(fn: Any, request_id: str, condition: str, attempts: int, event: Any, result: runtime.Result | None) -> dict:
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": _iso(time.time()),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{fn.function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
    }
    if result is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if not result.ok:
            context["functionError"] = result.error_type or "Unhandled"
        record["responseContext"] = context
        try:
            record["responsePayload"] = json.loads(result.payload) if result.payload else None
        except ValueError:
            record["responsePayload"] = result.payload.decode("utf-8", "replace")
    return record


def role_documents(role_arn: str) -> list[Any]:
    """The identity policies of an IAM role (inline and attached), [] when the role is unknown."""
    from moto.iam.models import iam_backends

    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    try:
        role = iam_backends[account]["global"].get_role(role_arn.rsplit("/", 1)[-1])
    except Exception:  # noqa: BLE001
        return []
    docs: list[Any] = list((role.policies or {}).values())
    for policy in (role.managed_policies or {}).values():
        version = next((v for v in policy.versions if v.is_default), None)
        docs.append(version.document if version is not None else policy.document)
    return docs


def _role_allows(fn: Any, action: str, resource: str) -> bool:
    from nvsandbox.iam import policy as iam_policy

    if not common.setting(fn.account_id, "iam_enforced"):
        return True
    return iam_policy.allowed(role_documents(fn.role), action, resource, {"aws:PrincipalArn": fn.role})


def _deliver(fn: Any, destination: str, record: dict) -> bool:
    parts = destination.split(":")
    if len(parts) < 6:
        return False
    service, region, account, resource = parts[2], parts[3], parts[4], parts[5]
    body = json.dumps(record)
    if service == "sqs":
        if resource.endswith(".fifo") or not _role_allows(fn, "sqs:SendMessage", destination):
            return False
        from moto.sqs.models import sqs_backends

        try:
            sqs_backends[account][region].send_message(queue_name=resource, message_body=body)
        except Exception:  # noqa: BLE001  (no such queue)
            return False
        return True
    return False


@common.control("lambda-wait")
def _lambda_wait(body: dict) -> tuple[int, Any]:
    """Wait until the account has no asynchronous invocation in flight (events included: see
    sagemaker/state_events.py's flush, which calls this after releasing its events)."""
    account = str(body.get("account_id") or common.DEFAULT_ACCOUNT)
    idle = wait_idle(account, float(body.get("timeout", 30)))
    return (200 if idle else 504), {"account_id": account, "idle": idle}
