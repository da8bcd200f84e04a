"""The request context an IAM decision needs beyond action and resource: who calls (the principal's
keys and policy variables) and what the resource carries (its tags), with the policy variables of a
statement resolved against that context.

Principal (IAM user guide, "AWS global condition context keys"):
- IAM user: aws:username (the user's friendly name), aws:userid (its unique id, AIDA...),
  aws:PrincipalArn (the user's ARN), aws:PrincipalType "User", aws:PrincipalTag/<k> for the user's tags.
- Role session: aws:userid "<role id>:<session name>", aws:PrincipalArn the ROLE's ARN (not the
  session's), aws:PrincipalType "AssumedRole", aws:PrincipalTag/<k> for the role's tags overridden by
  the session's tags ("If a session tag has the same key as a role tag, the session tag value
  overrides", IAM user guide, "Passing session tags in AWS STS"). aws:username is NOT present for a
  role session ("This key is not included in the request context for ... role session", global keys,
  aws:username).

Resource tags (Service Authorization Reference, resource types and their condition keys):
- SageMaker notebook-instance: aws:ResourceTag/${TagKey}, sagemaker:ResourceTag/${TagKey};
- Systems Manager parameter: aws:ResourceTag/${TagKey}, ssm:resourceTag/${TagKey}.
The tags are the resource's real tags at the time of the request (a parameter that does not exist yet
has none: a tag condition on a PutParameter that creates one does not match).

Request tags: aws:RequestTag/${TagKey} and aws:TagKeys from the request's Tags (ssm PutParameter and
AddTagsToResource, sagemaker AddTags and CreateNotebookInstance).

Policy variables (IAM user guide, "IAM policy elements: Variables and tags"): `${key}` in a Resource
or NotResource element or a condition value is replaced by the request context's value of `key`
(case-insensitive key, a single value); `${key, 'default'}` by the default when the key is absent;
`${$}` is a literal `$`. A variable that cannot be resolved makes its element match nothing ("If
AWS cannot resolve a variable this might cause the entire statement to be invalid"): the sandbox
drops that Resource entry or condition value. `${*}` and `${?}` (literal wildcard characters) are not
supported: a statement using them is undecidable here.
"""

from __future__ import annotations

import re
from typing import Any

_VAR_RE = re.compile(r"\$\{([^}]*)\}")


class Unresolved(Exception):
    """A policy variable with no value in the request context (and no default)."""


class Unsupported(Exception):
    """A policy variable form the sandbox does not evaluate (${*}, ${?})."""


def _lookup(context: dict[str, Any], key: str) -> Any:
    low = key.lower()
    for k, v in context.items():
        if k.lower() == low:
            return v
    return None


def resolve(text: str, context: dict[str, Any]) -> str:
    """`text` with its policy variables replaced; raises Unresolved / Unsupported."""
    if "${" not in text:
        return text

    def one(m: re.Match) -> str:
        inner = m.group(1).strip()
        if inner == "$":
            return "$"
        if inner in ("*", "?"):
            raise Unsupported(inner)
        default = None
        if "," in inner:
            key, _, rest = inner.partition(",")
            rest = rest.strip()
            if len(rest) >= 2 and rest[0] == rest[-1] == "'":
                default = rest[1:-1].replace("''", "'")
            inner = key.strip()
        value = _lookup(context, inner)
        if isinstance(value, list):  # a multivalued key is never substituted
            value = None
        if value is None:
            if default is not None:
                return default
            raise Unresolved(inner)
        return str(value)

    return _VAR_RE.sub(one, text)


def resolve_all(values: list, context: dict[str, Any]) -> list:
    """The values whose variables resolve, resolved; the others dropped (they match nothing)."""
    out = []
    for v in values:
        if not isinstance(v, str):
            out.append(v)
            continue
        try:
            out.append(resolve(v, context))
        except Unresolved:
            continue
    return out


# -- the principal ----------------------------------------------------------------------------------


def _iam_backend(account: str):
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


def principal_context(access_key: Any, account: str) -> dict[str, Any]:
    """Global keys of the caller behind a moto access-key object (IAM user or assumed role)."""
    ctx: dict[str, Any] = {"aws:PrincipalAccount": account}
    user_name = getattr(access_key, "_owner_user_name", None)
    if user_name is not None:
        backend = _iam_backend(account)
        user = backend.get_user(user_name)
        ctx.update(
            {
                "aws:username": user.name,
                "aws:userid": user.id,
                "aws:PrincipalArn": user.arn,
                "aws:PrincipalType": "User",
            }
        )
        for t in backend.list_user_tags(user.name):
            ctx[f"aws:PrincipalTag/{t['Key']}"] = t["Value"]
        return ctx
    role_name = getattr(access_key, "_owner_role_name", None)
    if role_name is not None:
        assumed = assumed_role_of_key(account, access_key._access_key_id)
        tags: dict[str, str] = {}
        role_arn = assumed.role_arn if assumed is not None else None
        try:
            role = _iam_backend(account).get_role_by_arn(role_arn) if role_arn else None
        except Exception:  # noqa: BLE001  (a role deleted since)
            role = None
        if role is not None:
            tags.update({t["Key"]: t["Value"] for t in role.tags.values()} if isinstance(role.tags, dict) else {})
            ctx["aws:PrincipalArn"] = role.arn
            ctx["aws:userid"] = f"{role.id}:{access_key._session_name}"
        tags.update(getattr(assumed, "session_tags", None) or {})
        ctx["aws:PrincipalType"] = "AssumedRole"
        for k, v in tags.items():
            ctx[f"aws:PrincipalTag/{k}"] = v
    return ctx


def assumed_role_of_key(account: str, access_key_id: str) -> Any:
    """moto's AssumedRole for a session's access key id (session tags are kept on it), or None."""
    from moto.sts.models import sts_backends

    for partition in list(sts_backends[account].keys()):
        for assumed in sts_backends[account][partition].assumed_roles:
            if assumed.access_key_id == access_key_id:
                return assumed
    return None


# -- the resource -----------------------------------------------------------------------------------

_NOTEBOOK_ARN = re.compile(r"^arn:[^:]+:sagemaker:([^:]*):(\d{12}):notebook-instance/(.+)$")
_PARAMETER_ARN = re.compile(r"^arn:[^:]+:ssm:([^:]*):(\d{12}):parameter/(.+)$")


def _notebook_tags(account: str, region: str, name: str) -> list[dict] | None:
    from moto.sagemaker.models import sagemaker_backends

    try:
        notebooks = sagemaker_backends[account][region].notebook_instances
    except KeyError:
        return None
    nb = notebooks.get(name) or next((n for k, n in notebooks.items() if k.lower() == name.lower()), None)
    return None if nb is None else list(nb.tags or [])


def _parameter_tags(account: str, region: str, name: str) -> dict[str, str] | None:
    from moto.ssm.models import ssm_backends

    try:
        backend = ssm_backends[account][region]
    except KeyError:
        return None
    full = name if name.startswith("/") else "/" + name
    for candidate in (full, name):
        if candidate in backend._parameters:
            return dict(backend._resource_tags.get("Parameter", {}).get(candidate, {}))
    return None


def resource_context(resource: str | None) -> dict[str, Any]:
    """aws:ResourceTag/<k> and the service's own resource-tag key for a notebook or a parameter."""
    if not resource:
        return {}
    ctx: dict[str, Any] = {}
    m = _NOTEBOOK_ARN.match(resource)
    if m:
        tags = _notebook_tags(m.group(2), m.group(1), m.group(3)) or []
        for t in tags:
            ctx[f"aws:ResourceTag/{t['Key']}"] = t.get("Value", "")
            ctx[f"sagemaker:ResourceTag/{t['Key']}"] = t.get("Value", "")
        return ctx
    m = _PARAMETER_ARN.match(resource)
    if m:
        for k, v in (_parameter_tags(m.group(2), m.group(1), m.group(3)) or {}).items():
            ctx[f"aws:ResourceTag/{k}"] = v
            ctx[f"ssm:resourceTag/{k}"] = v
    return ctx


_TAGGING_ACTIONS = {
    "ssm:PutParameter",
    "ssm:AddTagsToResource",
    "sagemaker:AddTags",
    "sagemaker:CreateNotebookInstance",
}


def request_tags_context(action: str, params: dict) -> dict[str, Any]:
    """aws:RequestTag/<k> and aws:TagKeys from a tagging request's Tags (JSON or query form)."""
    if action not in _TAGGING_ACTIONS:
        return {}
    tags = params.get("Tags")
    pairs: list[tuple[str, str]] = []
    if isinstance(tags, list):
        pairs = [(str(t.get("Key")), str(t.get("Value", ""))) for t in tags if isinstance(t, dict)]
    else:  # query protocol: Tags.member.N.Key / Tags.member.N.Value
        i = 1
        while f"Tags.member.{i}.Key" in params:
            pairs.append((str(params[f"Tags.member.{i}.Key"]), str(params.get(f"Tags.member.{i}.Value", ""))))
            i += 1
    if not pairs:
        return {}
    ctx: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in pairs}
    ctx["aws:TagKeys"] = [k for k, _ in pairs]
    return ctx
