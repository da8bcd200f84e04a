"""IAM authorization per sandbox account ("IAM enforced": the tool run with the least privilege it documents).

moto can check IAM (moto.core.authorization.ActionAuthenticatorMixin) but switches it on for the whole
process (`INITIAL_NO_AUTH_ACTION_COUNT`, counted over every request of every account). The sandbox
serves many isolated accounts at once, so it decides per account instead:

    POST /_sandbox/config {"account_id": "<12 digits>", "iam_enforced": 1}

In an account with iam_enforced=1:
- a request signed with the account's ROOT credentials (access key id = the 12-digit account id, the
  sandbox's usual credentials) is never checked, as AWS never checks the root user against policies;
- a request signed with an IAM user's access key (AKIA..., made by iam:CreateAccessKey) or an assumed
  role's (ASIA..., from sts:AssumeRole) must carry a valid SigV4 signature with that key's secret
  (InvalidClientTokenId / SignatureDoesNotMatch otherwise) and is allowed only when the principal's
  identity policies allow the action (inline and attached, user and group policies; for a role its
  policies), evaluated by iam/policy.py: explicit Deny wins, Allow needs action, resource and
  conditions to match. Answers AccessDenied(Exception) otherwise, as AWS does.

Account of a request: the middleware takes the access key id as the account when it is 12 digits;
any other key id is looked up among the IAM access keys of every account (moto's
get_account_id_from), so an IAM user's key lands in the account that created it.

HOW A RUST E2E TEST USES IT (all calls to the sandbox endpoint, region of the test):
    1. with the account's root credentials (access key id = account id, any secret):
         iam CreateUser UserName=alice
         iam PutUserPolicy UserName=alice PolicyName=p PolicyDocument=<the JSON policy to test>
         iam CreateAccessKey UserName=alice  -> AccessKeyId (AKIA...), SecretAccessKey
    2. POST http://127.0.0.1:<port>/_sandbox/config {"account_id": "<account>", "iam_enforced": 1}
    3. run the tool with AWS_ACCESS_KEY_ID=<AKIA...>, AWS_SECRET_ACCESS_KEY=<secret> (no session
       token): sts GetCallerIdentity answers arn:aws:iam::<account>:user/alice, and every call is
       checked against the policy. The root key keeps working for setup and assertions.
    Setting iam_enforced back to 0 (or /_sandbox/reset of the account) turns the checks off.

WHAT THE EVALUATOR CANNOT DECIDE (moto's own evaluator ignores conditions and most resources; the
sandbox replaces it with iam/policy.py but still lacks the request's facts):
- Resources: moto names the resource only for S3 (bucket/key), IAM roles and sts:AssumeRole; the
  sandbox adds SSM parameters, CloudFormation stacks (by StackName) and SageMaker notebook instances
  (named_resources). For every other request (Service Catalog, DescribeStacks without a name, ...)
  the resource is unknown, and an Allow applies whatever its Resource says (only the action is
  checked). A Deny applies when it names "*" without a condition.
- Conditions: the context holds aws:RequestedRegion, aws:SecureTransport ("true", the tool uses
  HTTPS on AWS), the principal's keys (iam/conditions.py: aws:PrincipalArn, aws:PrincipalAccount,
  aws:PrincipalType, aws:userid, aws:username for IAM users only, aws:PrincipalTag/<k> from user,
  role and session tags), the tags of a named SageMaker notebook or SSM parameter
  (aws:ResourceTag/<k>, sagemaker:ResourceTag/<k>, ssm:resourceTag/<k>), a tagging request's
  aws:RequestTag/<k> and aws:TagKeys, and for Service Catalog servicecatalog:userLevel / roleLevel /
  accountLevel = "self" after the request's AccessLevelFilter (User when absent). Policy variables
  resolve against that context. A condition on any other key (iam:PassedToService on a call that
  passes a role, ...) finds no value: an Allow with it does not apply (the worst case, a denial).
- Service Catalog "self" scope: a user allowed with userLevel=self may describe any record or
  provisioned product of the account here; AWS limits it to the user's own.
- Permissions a service uses on the caller's behalf are not checked here, only the API action
  called; CloudFormation's resource handlers, run with the caller's credentials when the stack has
  no service role, are checked by cloudformation/principal.py (iam:PassRole in
  CreateNotebookInstance is not). Resource-based policies (bucket policies, key policies) are not
  evaluated.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from nvsandbox.core import common
from nvsandbox.iam import conditions as iam_conditions
from nvsandbox.iam import policy as iam_policy

_ACCOUNT_RE = re.compile(r"^\d{12}$")
# The request body as sent, kept by the middleware: a SigV4 signature covers the body's bytes, and
# for a form-encoded (query protocol) request moto's `raw_body` is empty once werkzeug parsed the
# form, so moto would re-encode the parsed parameters (spaces as '+', its own order and escapes)
# and a request signed over the SDK's bytes (CreateStack with a template body) would not match.
RAW_BODY_KEY = "sandbox.raw_body"
_CRED_RE = re.compile(r"Credential=([^/,\s]+)/")


def is_root_key(access_key_id: str | None) -> bool:
    return bool(access_key_id and _ACCOUNT_RE.match(access_key_id))


def account_of_key(access_key_id: str) -> str | None:
    """Account that owns an IAM-created access key (user or assumed-role), or None."""
    from moto.iam.models import iam_backends

    for account_id, account in list(iam_backends.items()):
        for partition in list(account.keys()):
            try:
                if access_key_id in account[partition].access_keys:
                    return account_id
            except Exception:  # noqa: BLE001
                continue
    return None


def _documents(access_key: Any) -> list[Any]:
    from moto.iam.models import Policy

    docs = []
    for pol in access_key.collect_policies():
        if isinstance(pol, Policy):
            version = next((v for v in pol.versions if v.is_default), None)
            docs.append(version.document if version is not None else pol.document)
        elif isinstance(pol, dict):
            docs.append(pol.get("policy_document") or pol.get("PolicyDocument"))
        else:
            docs.append(pol)
    return [d for d in docs if d]


def _context(request: Any, extra: dict | None = None) -> dict[str, Any]:
    """The request context: region and transport, the principal's keys (iam/conditions.py: aws:username
    only for an IAM user, principal and session tags, aws:userid), then `extra`."""
    ctx = {
        "aws:RequestedRegion": request._region,
        "aws:SecureTransport": "true",
        "aws:PrincipalArn": request._access_key.arn,
        "aws:PrincipalAccount": request.account_id,
    }
    try:
        ctx.update(iam_conditions.principal_context(request._access_key, request.account_id))
    except Exception:  # noqa: BLE001  (a principal deleted meanwhile: no principal keys)
        pass
    ctx.update(extra or {})
    return ctx


def _params(request: Any) -> dict:
    """The request's parameters: its JSON body, or its form/query parameters (first values)."""
    if _is_json(request._headers):
        try:
            body = request._body.decode() if isinstance(request._body, bytes) else (request._body or "")
            params = json.loads(body) if body.strip() else {}
            return params if isinstance(params, dict) else {}
        except ValueError:
            return {}
    return {k: (v[0] if isinstance(v, list) and v else v) for k, v in (request._data or {}).items()}


def _stack_arn(account: str, region: str, name: str) -> str:
    if name.startswith("arn:"):
        return name
    try:
        from moto.cloudformation.models import cloudformation_backends

        for stack in cloudformation_backends[account][region].stacks.values():
            if stack.name == name and stack.status != "DELETE_COMPLETE":
                return stack.stack_id
    except Exception:  # noqa: BLE001  (no backend yet)
        pass
    return f"arn:aws:cloudformation:{region}:{account}:stack/{name}/00000000-0000-0000-0000-000000000000"


def named_resources(action: str, params: dict, account: str, region: str, path: str | None = None) -> list[str]:
    """The resource ARNs a request acts on, for the actions whose ARN the request names (Service
    Authorization Reference, resource types of each service); [] when the sandbox cannot tell.

    - SSM parameter: arn:aws:ssm:<region>:<account>:parameter/<name without its leading slash>
      (GetParameter, PutParameter, DeleteParameter: Name; DeleteParameters: each of Names;
      AddTagsToResource with ResourceType=Parameter: ResourceId). DescribeParameters has none.
    - CloudFormation stack: arn:aws:cloudformation:<region>:<account>:stack/<name>/<id> (any action
      with a StackName; a stack not created yet gets a placeholder id).
    - SageMaker notebook instance: arn:aws:sagemaker:<region>:<account>:notebook-instance/<name>.
      Whether SageMaker lower-cases the name in the ARN it authorizes is not stated where the
      sandbox could find it, so both spellings are returned and both must be allowed (the worst
      case for the caller)."""
    service, _, op = action.partition(":")
    out: list[str] = []
    if service == "ssm":
        names: list = []
        if op in (
            "GetParameter",
            "PutParameter",
            "DeleteParameter",
            "GetParameterHistory",
            "LabelParameterVersion",
        ) and params.get("Name"):
            names = [params["Name"]]
        elif op in ("DeleteParameters", "GetParameters") and isinstance(params.get("Names"), list):
            names = params["Names"]
        elif (
            op in ("AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource")
            and params.get("ResourceType") == "Parameter"
            and params.get("ResourceId")
        ):
            names = [params["ResourceId"]]
        out = [f"arn:aws:ssm:{region}:{account}:parameter/{str(n).lstrip('/')}" for n in names]
    elif service == "cloudformation" and params.get("StackName"):
        out = [_stack_arn(account, region, str(params["StackName"]))]
    elif (
        service == "scheduler" and op in ("CreateSchedule", "UpdateSchedule", "GetSchedule", "DeleteSchedule") and path
    ):
        # arn:aws:scheduler:<region>:<account>:schedule/<group>/<name> (Service Authorization
        # Reference, EventBridge Scheduler: resource type schedule); the name is the path's last
        # segment, the group the body's GroupName or the groupName query parameter (botocore).
        from urllib.parse import parse_qs, unquote, urlparse

        parsed = urlparse(path)
        name = unquote(parsed.path.rstrip("/").rsplit("/", 1)[-1])
        group = params.get("GroupName") or (parse_qs(parsed.query).get("groupName") or ["default"])[0]
        out = [f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}"]
    elif service == "sagemaker" and params.get("NotebookInstanceName"):
        name = str(params["NotebookInstanceName"])
        out = sorted({f"arn:aws:sagemaker:{region}:{account}:notebook-instance/{n}" for n in (name, name.lower())})
    return out


def _check_action_permitted(self, resource: str, extra_context: dict | None = None) -> None:
    """Replaces moto's IAMRequestBase.check_action_permitted (conditions ignored there)."""
    if self._action == "sts:GetCallerIdentity":  # always allowed on AWS, even with an explicit Deny
        return
    docs = _documents(self._access_key)
    known = None if resource in (None, "*") else resource
    params = _params(self)
    candidates: list = (
        [known]
        if known
        else (named_resources(self._action, params, self.account_id, self._region, self._path) or [None])
    )
    decision = iam_policy.ALLOW
    request_tags = iam_conditions.request_tags_context(self._action, params)
    for candidate in candidates:  # every resource the request acts on must be allowed
        # the resource's own tags (aws:ResourceTag/..., sagemaker:/ssm: resource tags) and the request's
        extra = {**iam_conditions.resource_context(candidate), **request_tags, **(extra_context or {})}
        decision, _ = iam_policy.evaluate(docs, self._action, candidate, _context(self, extra))
        if decision != iam_policy.ALLOW:
            known = candidate
            break
    permitted = decision == iam_policy.ALLOW
    if permitted and resource and self._is_assuming_role_operation(resource):
        permitted = self._check_role_trust_relationship(resource)
    if not permitted:
        if _is_json(self._headers):
            why = (
                "with an explicit deny in an identity-based policy"
                if decision == iam_policy.DENY
                else f"because no identity-based policy allows the {self._action} action"
            )
            on = f" on resource: {known}" if known else ""
            raise _json_error(
                "AccessDeniedException",
                f"User: {self._access_key.arn} is not authorized to perform: {self._action}{on} {why}",
            )
        self._raise_access_denied()


# REST-JSON services (botocore metadata.protocol "rest-json"): no X-Amz-Target, but their errors are
# JSON too (the SDK cannot parse moto's XML: "unexpected token '<'"). Told by the SigV4 scope.
_REST_JSON_SERVICES = ("scheduler",)
_SCOPE_SERVICE_RE = re.compile(r"Credential=[^/,\s]+/[^/]+/[^/]+/([^/]+)/")


def _is_json(headers: Any) -> bool:
    """JSON-protocol request (X-Amz-Target) or a REST-JSON service: errors must be JSON, not moto's XML."""
    if headers.get("X-Amz-Target"):
        return True
    m = _SCOPE_SERVICE_RE.search(headers.get("Authorization") or "")
    return bool(m and m.group(1) in _REST_JSON_SERVICES)


def _json_error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    err = JsonRESTError(code, message)
    err.code = 400
    return err


def _query_error(e: Any) -> Exception:
    """moto's error for a query-protocol service (CloudFormation, IAM, STS) in AWS's awsQuery form:
    <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse> (Smithy, "AWS
    query protocol", error response serialization). moto wraps the Error in <Errors> (EC2's form),
    which the AWS SDK for Rust does not parse: the error had no code, so the tool could not tell an
    AccessDenied."""
    from xml.sax.saxutils import escape

    from moto.core.exceptions import _RESTError

    code = getattr(e, "error_type", None) or "AccessDenied"
    message = getattr(e, "message", None) or str(e)
    err = _RESTError(code, message)
    err.code = getattr(e, "code", 403)
    err.description = (
        f'<ErrorResponse xmlns="http://sandbox/doc/2010-05-15/"><Error><Type>Sender</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return err


def _access_key_id(headers: Any) -> str | None:
    m = _CRED_RE.search(headers.get("Authorization") or "")
    return m.group(1) if m else None


def _patch_moto() -> None:
    from urllib.parse import urlparse

    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequest, IAMRequestBase
    from werkzeug.exceptions import HTTPException

    if getattr(ActionAuthenticatorMixin, "_sb_per_account", False):
        return
    IAMRequestBase.check_action_permitted = _check_action_permitted

    def authenticate_and_authorize(self, iam_request_cls: type, resource: str = "*") -> None:
        account = self.current_account
        if not common.setting(account, "iam_enforced"):
            return
        if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
            return
        key = _access_key_id(self.headers)
        if key is None or is_root_key(key):
            return  # unsigned (presigned query auth is not used by the tool) or root
        parsed = urlparse(self.uri)
        path = self.raw_path + ("?" + parsed.query if parsed.query else "")
        environ = getattr(getattr(self, "normalized_request", None), "environ", None) or {}
        raw_body = environ.get(RAW_BODY_KEY) or self.raw_body
        if not _is_json(self.headers):
            request = iam_request_cls(
                account_id=account,
                method=self.method,
                path=path,
                data=self.data,
                body=raw_body,
                headers=self.headers,
                action=self._get_action(),
            )
            if iam_request_cls is not IAMRequest:  # S3: S3's own <Error> document
                request.check_signature()
                request.check_action_permitted(resource)
                return
            try:
                request.check_signature()
                request.check_action_permitted(resource)
            except HTTPException as e:
                raise _query_error(e) from None
            return
        # JSON protocol: AWS answers UnrecognizedClientException / InvalidSignatureException
        try:
            request = iam_request_cls(
                account_id=account,
                method=self.method,
                path=path,
                # A REST-JSON GET/DELETE has no body: moto's parsed parameters would be signed as a
                # form body and the signature would never match.
                data=self.data if self.headers.get("X-Amz-Target") else {},
                body=raw_body,
                headers=self.headers,
                action=self._get_action(),
            )
        except Exception:  # noqa: BLE001
            raise _json_error(
                "UnrecognizedClientException", "The security token included in the request is invalid."
            ) from None
        try:
            request.check_signature()
        except Exception:  # noqa: BLE001
            raise _json_error(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service "
                "documentation for details.",
            ) from None
        request.check_action_permitted(resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate_and_authorize
    ActionAuthenticatorMixin._sb_per_account = True


# -- extension handlers (Service Catalog, CloudTrail): served by the middleware, not by moto --------

# Service Catalog condition keys servicecatalog:userLevel / roleLevel / accountLevel, value "self"
# (Service Catalog admin guide, "Controlling access" / AWS managed policies for end users: the end-user
# policy allows Search/Describe with servicecatalog:userLevel = self); the level a request asks for is
# its AccessLevelFilter.Key (User when absent).
_LEVEL_KEY = {
    "User": "servicecatalog:userLevel",
    "Role": "servicecatalog:roleLevel",
    "Account": "servicecatalog:accountLevel",
}


def _catalog_levels(info: Any, params: dict, caller: str) -> dict[str, str]:
    """servicecatalog:userLevel / roleLevel / accountLevel = "self" for a request: a search at the level
    its AccessLevelFilter asks (User when absent); an action on one provisioned product or record at
    the levels the caller holds on that product (servicecatalog/ownership.py)."""
    from nvsandbox.servicecatalog import ownership
    from nvsandbox.servicecatalog.state import state

    one, owner = ownership.owner_of_request(state(info.account, info.region), info.operation, params)
    if one and owner is not None:
        return {_LEVEL_KEY[lv]: "self" for lv in ownership.levels(owner, caller)}
    level = (params.get("AccessLevelFilter") or {}).get("Key")
    return {_LEVEL_KEY.get(level or "User", "servicecatalog:userLevel"): "self"}


def caller_arn(environ: dict) -> str | None:
    """The ARN of the IAM user or role session whose key signed the request; None for the sandbox's
    root key, an unsigned request or an unknown key."""
    from werkzeug.datastructures import EnvironHeaders

    headers = EnvironHeaders(environ)
    key = _access_key_id(headers)
    if key is None or is_root_key(key):
        return None
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account, parts in list(iam_backends.items()):
        for partition, backend in list(parts.items()):
            for user in list(backend.users.values()):
                if any(k.access_key_id == key for k in user.access_keys):
                    return f"arn:{partition}:iam::{account}:user/{user.name}"
            try:
                for assumed in sts_backends[account][partition].assumed_roles:
                    if assumed.access_key_id == key:
                        return assumed.arn
            except KeyError:
                continue
    return None


def authorize_extension(environ: dict, info: Any) -> None:
    """Raise common.AwsError when an enforced account's non-root caller may not call an extension
    operation (JSON protocol answers)."""
    from moto.iam.access_control import IAMRequest
    from werkzeug.datastructures import EnvironHeaders

    if not common.setting(info.account, "iam_enforced"):
        return
    headers = EnvironHeaders(environ)
    key = _access_key_id(headers)
    if key is None or is_root_key(key):
        return
    path = environ.get("PATH_INFO", "/") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
    try:
        request = IAMRequest(
            account_id=info.account,
            method=environ.get("REQUEST_METHOD", "POST"),
            path=path,
            data={},
            body=info.body or b"",
            headers=headers,
            action=info.operation,
        )
    except Exception:  # noqa: BLE001  (unknown key)
        raise common.AwsError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        ) from None
    try:
        request.check_signature()
    except Exception:  # noqa: BLE001
        raise common.AwsError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        ) from None
    params: dict = {}
    try:
        params = json.loads(info.body) if info.body else {}
    except ValueError:
        pass
    extra = {}
    if info.service == "servicecatalog":
        extra.update(_catalog_levels(info, params if isinstance(params, dict) else {}, request._access_key.arn))
    docs = _documents(request._access_key)
    decision, _ = iam_policy.evaluate(docs, request._action, None, _context(request, extra))
    if decision != iam_policy.ALLOW:
        why = (
            "with an explicit deny in an identity-based policy"
            if decision == iam_policy.DENY
            else f"because no identity-based policy allows the {request._action} action"
        )
        raise common.AwsError(
            "AccessDeniedException",
            f"User: {request._access_key.arn} is not authorized to perform: {request._action} {why}",
        )


def install() -> None:
    _patch_moto()
