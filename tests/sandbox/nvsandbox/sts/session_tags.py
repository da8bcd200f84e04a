"""sts:AssumeRole with session tags (Tags, TransitiveTagKeys), which moto 5.2.5 accepts and drops.

AWS (IAM user guide, "Passing session tags in AWS STS"):
- "To pass session tags ... the role's trust policy must allow the sts:TagSession action" (and the
  caller's identity policy too, when IAM is enforced): otherwise AccessDenied, no session.
- at most 50 session tags, keys 1..128 and values 0..256 characters (botocore sts model, Tag.Key /
  Tag.Value, AssumeRoleRequest.Tags max 50);
- "you can't pass a session tag with the same key ... as another, case-insensitively";
- the session's tags become aws:PrincipalTag/<key> of its requests, overriding role tags of the same
  key (read by iam/conditions.py from `AssumedRole.session_tags`).
"""

from __future__ import annotations

import json
import re
from typing import Any

_KEY_RE = re.compile(r"^[\w\s.:/=+\-@]{1,128}$")
_VALUE_RE = re.compile(r"^[\w\s.:/=+\-@]{0,256}$")
MAX_SESSION_TAGS = 50


def session_tags(params: dict) -> list[tuple[str, str]]:
    """Tags.member.N.Key / .Value of a query-protocol AssumeRole, in order."""
    out = []
    i = 1
    while f"Tags.member.{i}.Key" in params:
        out.append((str(params[f"Tags.member.{i}.Key"]), str(params.get(f"Tags.member.{i}.Value", ""))))
        i += 1
    return out


def check_tags(tags: list[tuple[str, str]]) -> str | None:
    """The ValidationError message for tags AWS would refuse, or None."""
    if len(tags) > MAX_SESSION_TAGS:
        return (
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length "
            f"less than or equal to {MAX_SESSION_TAGS}"
        )
    seen = set()
    for k, v in tags:
        if not _KEY_RE.match(k) or not _VALUE_RE.match(v):
            return (
                f"1 validation error detected: Value '{k}' at 'tags' failed to satisfy constraint: Member must "
                "satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"
            )
        if k.lower() in seen:
            return f"Duplicate tag keys found. Please note that Tag keys are case insensitive: {k}"
        seen.add(k.lower())
    return None


def trust_allows_tag_session(role: Any) -> bool:
    """Does the role's trust policy have an Allow statement for sts:TagSession."""
    from nvsandbox.iam import policy as iam_policy

    try:
        doc = role.assume_role_policy_document
        doc = json.loads(doc) if isinstance(doc, str) else doc
    except ValueError:
        return False
    for st in iam_policy.statements(doc):
        if st.get("Effect") == "Allow" and iam_policy.action_matches(
            iam_policy._as_list(st.get("Action")), "sts:TagSession"
        ):
            return True
    return False


def install() -> None:
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSValidationError
    from moto.sts.responses import TokenResponse as STSResponse

    if getattr(STSResponse, "_sb_session_tags", False):
        return
    original = STSResponse.assume_role

    def assume_role(self):
        params = {k: (v[0] if isinstance(v, list) and v else v) for k, v in (self.querystring or {}).items()}
        tags = session_tags(params)
        if tags:
            err = check_tags(tags)
            if err:
                raise STSValidationError(err)
            role_arn = params.get("RoleArn") or ""
            account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else self.current_account
            try:
                role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
            except Exception:  # noqa: BLE001  (moto lets a missing role be assumed; AWS does not)
                role = None
            if role is None or not trust_allows_tag_session(role):
                raise _denied(role_arn)
        result = original(self)
        if tags:
            creds = result.result["Credentials"] if hasattr(result, "result") else None
            key_id = getattr(creds, "access_key_id", None)
            for assumed in self.backend.assumed_roles:
                if assumed.access_key_id == key_id:
                    assumed.session_tags = dict(tags)
        return result

    STSResponse.assume_role = assume_role
    STSResponse._sb_session_tags = True


def _denied(role_arn: str) -> Exception:
    """AWS's answer when the trust policy does not allow sts:TagSession (403 AccessDenied)."""
    from moto.sts.exceptions import STSClientError

    class AccessDenied(STSClientError):
        code = "AccessDenied"
        http_status_code = 403

    return AccessDenied("AccessDenied", f"Not authorized to perform: sts:TagSession on resource: {role_arn}")
