"""A small IAM identity-policy evaluator for the sandbox (the launch-role check of Service Catalog,
and the template tests). moto's own evaluator (moto.iam.access_control.IAMPolicy) matches actions and
resources but ignores conditions; the launch-role rules need `StringEquals` on
`s3:ExistingObjectTag/<key>` and `iam:PassedToService`, so the sandbox evaluates them itself.

Evaluation logic (IAM user guide, "Policy evaluation logic"): an explicit Deny wins; otherwise an
Allow that matches action, resource and every condition allows; otherwise the request is implicitly
denied. Action names match case-insensitively, resources case-sensitively, both with `*` and `?`
wildcards (IAM user guide, "IAM JSON policy elements: Action / Resource").

Policy variables (`${aws:username}`, `${aws:PrincipalTag/K}`, ...) in Resource, NotResource and
condition values are resolved against the request context (iam/conditions.py); an entry whose
variable has no value matches nothing.

Conditions supported: String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,Like,NotLike},
Arn{Equals,Like,NotEquals,NotLike}, Bool, Null, each with the `...IfExists` suffix, and the
ForAnyValue:/ForAllValues: set prefixes. A condition operator outside this list cannot be decided:
the statement is treated as not matching for an Allow and as matching for a Deny (the worst case for
the caller).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable
from typing import Any

from nvsandbox.iam import conditions

ALLOW, DENY, IMPLICIT = "Allow", "Deny", "ImplicitDeny"


def _as_list(x: Any) -> list:
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def _wild(pattern: str, value: str, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    # fnmatch also treats [..] as a class: IAM has no such syntax, escape it
    pattern = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(value, pattern)


def action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(_wild(p, action, True) for p in patterns)


def resource_matches(patterns: Iterable[str], resource: str) -> bool:
    return any(p == "*" or _wild(p, resource, False) for p in patterns)


class Undecidable(Exception):
    """A condition the sandbox cannot evaluate."""


def _one_condition(op: str, key: str, wanted: list, context: dict[str, Any]) -> bool:
    try:
        wanted = conditions.resolve_all(wanted, context)
    except conditions.Unsupported as e:
        raise Undecidable(f"policy variable ${{{e}}}") from None
    if_exists = op.endswith("IfExists")
    if if_exists:
        op = op[: -len("IfExists")]
    set_op = None
    if ":" in op:
        set_op, op = op.split(":", 1)
    present = key in context or key.lower() in {k.lower() for k in context}
    actual = None
    for k, v in context.items():
        if k.lower() == key.lower():
            actual = v
    if op == "Null":
        want_null = str(wanted[0]).lower() == "true"
        return (not present) == want_null
    if not present:
        if if_exists:
            return True
        # a missing key never matches a positive operator; negated operators match
        return op.startswith(("StringNot", "ArnNot")) or set_op == "ForAllValues"
    values = [str(v) for v in _as_list(actual)]
    wanted_s = [str(w) for w in wanted]

    def test(v: str) -> bool:
        if op == "StringEquals":
            return v in wanted_s
        if op == "StringNotEquals":
            return v not in wanted_s
        if op == "StringEqualsIgnoreCase":
            return v.lower() in [w.lower() for w in wanted_s]
        if op == "StringNotEqualsIgnoreCase":
            return v.lower() not in [w.lower() for w in wanted_s]
        if op in ("StringLike", "ArnLike", "ArnEquals"):
            return any(_wild(w, v, False) for w in wanted_s)
        if op in ("StringNotLike", "ArnNotLike", "ArnNotEquals"):
            return not any(_wild(w, v, False) for w in wanted_s)
        if op == "Bool":
            return v.lower() in [w.lower() for w in wanted_s]
        raise Undecidable(op)

    if set_op == "ForAllValues":
        return all(test(v) for v in values)
    return any(test(v) for v in values)


def conditions_match(condition: dict | None, context: dict[str, Any]) -> bool:
    for op, block in (condition or {}).items():
        for key, wanted in (block or {}).items():
            if not _one_condition(op, key, _as_list(wanted), context):
                return False
    return True


def statements(policy: Any) -> list[dict]:
    """Statements of a policy document given as a dict or a JSON string (URL-encoded JSON too)."""
    if isinstance(policy, str):
        from urllib.parse import unquote

        text = policy if policy.lstrip().startswith("{") else unquote(policy)
        policy = json.loads(text)
    return [s for s in _as_list((policy or {}).get("Statement")) if isinstance(s, dict)]


def service_may(statements_: Iterable[dict], service: str, action: str, context: dict[str, Any]) -> bool:
    """Whether a resource-based or trust policy's statements let the AWS service principal
    `service` (e.g. events.amazonaws.com) perform `action`, given the context keys the service sends
    (aws:SourceAccount, aws:SourceArn). A statement whose Principal is "*" names every principal,
    services included (IAM user guide, "AWS JSON policy elements: Principal"); a condition the
    evaluator cannot decide leaves its statement out (the worst case for the caller)."""
    for st in statements_:
        principal = st.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else principal
        if principal != "*" and service not in _as_list(services):
            continue
        if st.get("Effect", "Allow") != "Allow" or not action_matches(_as_list(st.get("Action")), action):
            continue
        try:
            if conditions_match(st.get("Condition"), context):
                return True
        except Undecidable:
            continue
    return False


def _statement_applies(st: dict, action: str, resource: str | None, context: dict[str, Any] | None = None) -> bool:
    if "Action" in st and not action_matches(_as_list(st["Action"]), action):
        return False
    if "NotAction" in st and action_matches(_as_list(st["NotAction"]), action):
        return False
    if resource is None:  # resource unknown: any Resource element applies
        return True
    context = context or {}
    try:
        if "Resource" in st and not resource_matches(
            conditions.resolve_all(_as_list(st["Resource"]), context), resource
        ):
            return False
        if "NotResource" in st and resource_matches(
            conditions.resolve_all(_as_list(st["NotResource"]), context), resource
        ):
            return False
    except conditions.Unsupported:
        return st.get("Effect") == "Deny"  # undecidable: the worst case for the caller
    return True


def evaluate(
    policies: Iterable[Any],
    action: str,
    resource: str | None = None,
    context: dict[str, Any] | None = None,
    *,
    conditions: bool = True,
) -> tuple[str, dict | None]:
    """(decision, deciding statement) for one request against identity policies.

    resource=None models a request whose resource the sandbox does not know: an Allow applies
    whatever its Resource, a Deny only when its Resource is "*". conditions=False models an unknown
    request context too (a CloudFormation handler's call): an Allow needs only a matching action, a
    Deny counts only without a condition."""
    context = context or {}
    allowed = None
    for pol in policies:
        for st in statements(pol):
            if not _statement_applies(st, action, resource, context):
                continue
            effect = st.get("Effect")
            if effect == "Deny":
                if resource is None and "*" not in _as_list(st.get("Resource", "*")):
                    continue  # a Deny of named resources: whether it covers the unknown one is undecidable
                if not conditions:
                    if st.get("Condition"):
                        continue
                    return DENY, st
                try:
                    if conditions_match(st.get("Condition"), context):
                        return DENY, st
                except Undecidable:
                    return DENY, st  # worst case for the caller
            elif effect == "Allow" and allowed is None:
                if not conditions:
                    allowed = st
                    continue
                try:
                    if conditions_match(st.get("Condition"), context):
                        allowed = st
                except Undecidable:
                    pass
    return (ALLOW, allowed) if allowed is not None else (IMPLICIT, None)


def allowed(
    policies: Iterable[Any],
    action: str,
    resource: str | None = None,
    context: dict[str, Any] | None = None,
    *,
    conditions: bool = True,
) -> bool:
    return evaluate(list(policies), action, resource, context, conditions=conditions)[0] == ALLOW


_SUB_RE = re.compile(r"\$\{([^}!]+)\}")


def substitute(value: Any, variables: dict[str, str]) -> Any:
    """Resolve Fn::Sub strings / Ref in a template policy with given variables (for template tests);
    unknown variables and other intrinsics become `*` (matches anything: a test of the shape of a
    policy, not of its values)."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"]
            extra = {}
            if isinstance(text, list):
                text, extra = text[0], {k: substitute(v, variables) for k, v in text[1].items()}
            return _SUB_RE.sub(lambda m: str({**variables, **extra}.get(m.group(1), "*")), text)
        if set(value) == {"Ref"}:
            return variables.get(value["Ref"], "*")
        if len(value) == 1 and next(iter(value)).startswith("Fn::"):
            return "*"
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value
