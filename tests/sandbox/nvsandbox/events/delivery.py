"""EventBridge delivery to Lambda targets (moto raises NotImplementedError for them).

An event on an account's default bus (PutEvents, or an AWS service's own event such as SageMaker's,
sagemaker/state_events.py) goes to every rule of that bus that is ENABLED and whose pattern matches
(moto's pattern matcher); a DISABLED rule delivers nothing ("Rule state": "DISABLED: The rule does
not match any events", EventBridge API reference, PutRule State). A target whose ARN is a Lambda
function is invoked asynchronously (awslambda/asynchronous.py: retries, destinations), with the
target's Input / InputTransformer applied as moto does for its other targets. EventBridge needs the
function's resource-based policy to let events.amazonaws.com call lambda:InvokeFunction, from that
rule when the statement names a SourceArn (EventBridge user guide, "Using resource-based policies
for Amazon EventBridge", Lambda permissions): without it the event is not delivered (AWS counts a
FailedInvocations metric), written to events.log as `lambda-target <function> denied <rule>`.

Worst case played for the tool, controllable in tests:
- POST /_sandbox/events-hold {"account_id", "hold": 1|0}: while on, events for Lambda targets of
  that account are kept, not delivered; POST /_sandbox/events-release {"account_id", "order":
  "sent" | "reverse"} delivers the kept ones in that order (EventBridge does not promise order) and
  waits until their invocations are done.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import Any

from nvsandbox.core import common

common.register_setting("events_hold", 0.0)

_held: dict[str, list[tuple[Any, dict, dict]]] = {}
_held_lock = threading.Lock()


def iso_time(value: Any) -> str:
    """EventBridge's `time`: ISO 8601 in UTC to the second ("2019-12-03T18:00:00Z")."""
    if isinstance(value, str):
        return value
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(value if value is not None else time.time())))


def events_may_invoke(fn: Any, rule_arn: str) -> bool:
    """Does the function's resource-based policy let EventBridge invoke it for this rule?"""
    from nvsandbox.iam import policy as iam_policy

    context = {"AWS:SourceArn": rule_arn, "AWS:SourceAccount": rule_arn.split(":")[4]}
    statements = list(getattr(fn.policy, "statements", []) or [])
    return iam_policy.service_may(statements, "events.amazonaws.com", "lambda:InvokeFunction", context)


def _target_event(target: dict, event: dict) -> Any:
    from moto.events.utils import EventTemplateParser

    if target.get("Input") is not None:
        return json.loads(target["Input"])
    transformer = target.get("InputTransformer")
    if transformer:
        out = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,
        )
        return out
    return event


def _to_lambda(rule: Any, target: dict, event: dict) -> None:
    from nvsandbox.awslambda import asynchronous, runtime

    arn = target["Arn"]
    parts = arn.split(":")
    account, region = parts[4], parts[3]
    fn = runtime.find_function(account, region, arn)
    if fn is None:
        common.log_event(rule.account_id, "lambda-target", arn, f"missing {rule.arn}")
        return
    if not events_may_invoke(fn, rule.arn):
        common.log_event(rule.account_id, "lambda-target", fn.function_name, f"denied {rule.arn}")
        return
    asynchronous.invoke(fn, _target_event(target, event), source=f"rule/{rule.name}")


def _lambda_target(target: dict) -> bool:
    parts = str(target.get("Arn", "")).split(":")
    return len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function"


def route(rule: Any, event: dict) -> list[dict]:
    """Deliver `event` to the rule's Lambda targets (or keep it while held); the other targets."""
    lambdas = [t for t in rule.targets if _lambda_target(t)]
    others = [t for t in rule.targets if not _lambda_target(t)]
    if lambdas:
        lambda_event = dict(event)
        lambda_event["time"] = iso_time(event.get("time"))
        lambda_event.pop("ingestion-time", None)
        for target in lambdas:
            if common.setting(rule.account_id, "events_hold"):
                with _held_lock:
                    _held.setdefault(rule.account_id, []).append((rule, target, lambda_event))
            else:
                _to_lambda(rule, target, lambda_event)
    return others


def put(account: str, region: str, event: dict) -> int:
    """An AWS service's event on the default bus of (account, region): to every enabled matching
    rule's targets. The number of rules matched."""
    from moto.events.models import events_backends

    if account not in dict.keys(events_backends):
        return 0
    try:
        backend = events_backends[account][region]
    except KeyError:
        return 0
    bus = backend.event_buses.get("default")
    if bus is None:
        return 0
    matched = 0
    for rule in list(bus.rules.values()):
        if rule.state != "ENABLED" or not rule.event_pattern.matches_event(event):
            continue
        matched += 1
        rule.send_to_targets(copy.deepcopy(event))
    return matched


def install() -> None:
    from moto.events.models import Rule

    original = Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True):
        if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):
            return None
        others = route(self, original_event)
        if not others:
            return None
        shadow = copy.copy(self)
        shadow.targets = others
        return original(shadow, original_event, transform_input)

    Rule.send_to_targets = send_to_targets


@common.control("events-hold")
def _hold(body: dict) -> tuple[int, Any]:
    account = str(body.get("account_id") or common.DEFAULT_ACCOUNT)
    common.set_settings(account, {"events_hold": 1 if body.get("hold", 1) else 0})
    return 200, {"account_id": account, "hold": bool(body.get("hold", 1))}


@common.control("events-release")
def _release(body: dict) -> tuple[int, Any]:
    from nvsandbox.awslambda import asynchronous

    account = str(body.get("account_id") or common.DEFAULT_ACCOUNT)
    order = body.get("order", "sent")
    if order not in ("sent", "reverse"):
        return 400, {"error": "order must be sent or reverse"}
    common.set_settings(account, {"events_hold": 0})
    with _held_lock:
        held = _held.pop(account, [])
    if order == "reverse":
        held.reverse()
    for rule, target, event in held:
        _to_lambda(rule, target, event)
        if body.get("one_by_one", True):
            asynchronous.wait_idle(account, float(body.get("timeout", 60)))
    idle = asynchronous.wait_idle(account, float(body.get("timeout", 60)))
    return 200, {"account_id": account, "released": len(held), "idle": idle}


@common.on_reset
def _reset(account: Any) -> None:
    with _held_lock:
        for key in list(_held):
            if account is None or key == account:
                del _held[key]
