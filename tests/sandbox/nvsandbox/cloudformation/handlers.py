"""The resource handlers a CloudFormation stack operation runs, and the IAM actions each one needs.

Shared by the two places the sandbox checks them: the Service Catalog launch role
(servicecatalog/launch_role.py) and a stack operation's own principal, the caller or the stack's
service role (cloudformation/principal.py). Sources:

- The CloudFormation resource provider schemas: `handlers.create/update/delete.permissions` are "the
  permissions required" for each handler, `createOnlyProperties` need replacement, `tagging.taggable`
  says whether the resource takes the stack's tags (CloudFormation CLI, resource type schema). cfn-lint
  ships the schemas it validates with (cfnlint/data/schemas/providers/<region>.json ->
  resources/<hash>.json), so the sandbox reads them there for the request's Region.
- Which handler runs for which resource (CloudFormation user guide, "Update behaviors of stack
  resources" and "Monitor the progress of a stack update"): create for a resource new in the template,
  update for a resource whose definition changed, delete for a removed one, delete for every resource
  on DeleteStack. The `Metadata` attribute alone does not update a resource ("you can't update the
  Metadata attribute by itself", CloudFormation user guide, Metadata attribute). Stack tags given to
  UpdateStack are propagated to the resources that take tags (botocore cloudformation
  UpdateStackInput.Tags: "CloudFormation also propagates these tags to supported resources"): a
  tag change updates every taggable resource. A resource whose `DeletionPolicy` is Retain (or
  RetainExceptOnCreate) is kept, its delete handler does not run (CloudFormation user guide,
  DeletionPolicy attribute). A resource whose `Condition` is false is not created.

What the sandbox cannot decide (played at its worst case for the tool):
- a parameter change updates every resource (which of them really change depends on values the
  sandbox does not resolve: attributes of other resources);
- a `Condition` it cannot evaluate counts as true;
- a handler's call has a resource ARN and a request context the schema does not give: an Allow counts
  when its action matches (whatever its Resource and Condition), a Deny when it names every resource
  without a condition (iam/policy.py, conditions=False).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

from nvsandbox.iam import policy as iam_policy

CREATE, UPDATE, DELETE = "create", "update", "delete"
_RETAINED = ("Retain", "RetainExceptOnCreate")


@functools.cache
def _schemas_dir() -> str | None:
    import importlib.util

    spec = importlib.util.find_spec("cfnlint")  # located, not imported (the import takes ~1 s)
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "schemas")


@functools.lru_cache(maxsize=64)
def _provider_map(region: str) -> dict[str, str]:
    base = _schemas_dir()
    if base is None:
        return {}
    for name in (region, "us-east-1"):
        path = os.path.join(base, "providers", f"{name}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)
    return {}


@functools.lru_cache(maxsize=512)
def _schema_text(region: str, resource_type: str) -> str | None:
    digest = _provider_map(region).get(resource_type)
    base = _schemas_dir()
    if not digest or base is None:
        return None
    path = os.path.join(base, "resources", f"{digest}.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read()


def schema(region: str, resource_type: str) -> dict:
    """A resource type's provider schema ({} when cfn-lint does not know the type)."""
    text = _schema_text(region, resource_type)
    return json.loads(text) if text else {}


@functools.lru_cache(maxsize=512)
def handler_permissions(region: str, resource_type: str, handler: str) -> tuple[str, ...]:
    """`handlers.<handler>.permissions` of a resource type's schema (empty when unknown)."""
    handlers = schema(region, resource_type).get("handlers") or {}
    return tuple((handlers.get(handler) or {}).get("permissions") or ())


@functools.lru_cache(maxsize=512)
def taggable(region: str, resource_type: str) -> bool:
    """Whether the type takes tags: `tagging.taggable` (older schemas: top-level `taggable`), true
    when the schema does not say (the resource type schema's default)."""
    s = schema(region, resource_type)
    if not s:
        return False
    tagging = s.get("tagging")
    if isinstance(tagging, dict) and "taggable" in tagging:
        return bool(tagging["taggable"])
    return bool(s.get("taggable", True))


def _resources(template: dict | None) -> dict[str, dict]:
    return {k: v for k, v in ((template or {}).get("Resources") or {}).items() if isinstance(v, dict)}


def _exists(template: dict, res: dict, params: dict | None) -> bool:
    """False only when the resource's Condition is known to be false."""
    cond = res.get("Condition")
    if not isinstance(cond, str):
        return True
    from nvsandbox.cloudformation.update import _condition, parameter_values

    return _condition(cond, parameter_values(template, params or {}), {}, template) is not False


def _definition(res: dict) -> str:
    return json.dumps({k: v for k, v in res.items() if k != "Metadata"}, sort_keys=True, default=str)


def touched(
    region: str,
    operation: str,
    new_template: dict | None = None,
    old_template: dict | None = None,
    *,
    params_changed: bool = True,
    tags_changed: bool = False,
    new_params: dict | None = None,
    old_params: dict | None = None,
) -> list[tuple[str, str, str]]:
    """(logical id, resource type, handler) for every handler the operation runs, in template order.

    operation: create | update | delete (the stack operation)."""
    new = {k: r for k, r in _resources(new_template).items() if _exists(new_template or {}, r, new_params)}
    old = {k: r for k, r in _resources(old_template).items() if _exists(old_template or {}, r, old_params)}

    def typ(r: dict) -> str:
        return str(r.get("Type", ""))

    def deleted(r: dict) -> bool:
        return r.get("DeletionPolicy") not in _RETAINED

    if operation == CREATE:
        return [(lid, typ(r), CREATE) for lid, r in new.items()]
    if operation == DELETE:
        return [(lid, typ(r), DELETE) for lid, r in old.items() if deleted(r)]
    out = []
    for lid, r in new.items():
        if lid not in old:
            out.append((lid, typ(r), CREATE))
        elif _definition(r) != _definition(old[lid]) or params_changed or (tags_changed and taggable(region, typ(r))):
            out.append((lid, typ(r), UPDATE))
    out += [(lid, typ(r), DELETE) for lid, r in old.items() if lid not in new and deleted(r)]
    return out


def first_missing(
    region: str,
    policies: list[Any],
    work: list[tuple[str, str, str]],
    required: Callable[[str, str, str], tuple[str, ...]] = handler_permissions,
) -> tuple[str, str, str, str, str] | None:
    """(logical id, type, handler, action, decision) of the first handler action the policies do not
    allow, or None. decision is iam/policy.py's DENY or IMPLICIT. `required(region, type, handler)`
    names the actions a handler needs (default: every permission its schema lists)."""
    for lid, rtype, handler in work:
        for action in required(region, rtype, handler):
            decision, _ = iam_policy.evaluate(policies, action, None, conditions=False)
            if decision != iam_policy.ALLOW:
                return lid, rtype, handler, action, decision
    return None


def denied_message(principal_arn: str, action: str, decision: str) -> str:
    """AWS's AccessDenied sentence for an action without a known resource."""
    reason = (
        "with an explicit deny in an identity-based policy"
        if decision == iam_policy.DENY
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {principal_arn} is not authorized to perform: {action} {reason}"
