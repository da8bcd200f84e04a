"""Lambda function URLs, served on the sandbox's own port.

AWS: `https://<url-id>.lambda-url.<region>.on.aws/` (Developer Guide, "Invoking Lambda function
URLs", https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html). On loopback the sandbox
cannot give every URL its own host name, so a function URL is
    http://127.0.0.1:<sandbox port>/lambda-url/<url-id>/
(<url-id>: 32 lower-case hex characters, as AWS's). CreateFunctionUrlConfig / GetFunctionUrlConfig
answer that FunctionUrl, so a client joins its path to it and signs the request as for AWS (SigV4,
service `lambda`, the function's region); the function sees the path after the prefix as rawPath.

A request:
- AuthType AWS_IAM: unsigned -> 403 {"Message": "Forbidden"}; a signature that does not match
  (checked with moto's SigV4 calculation, as the sandbox checks any IAM-signed request; an unknown
  key answers 403 too) -> 403. With iam_enforced on the function's account, the caller needs
  lambda:InvokeFunctionUrl on the function (identity policy, with lambda:FunctionUrlAuthType =
  AWS_IAM in the context, or the function's resource-based policy naming the caller; another
  account's caller needs both: "Control access to Lambda function URLs", Developer Guide), and
  lambda:InvokeFunction the same way (URL_ACTIONS) -> 403 otherwise. The sandbox's root key (12-digit
  id) is never checked, as everywhere in the sandbox.
- AuthType NONE: anyone, when the resource-based policy grants both actions to "*" (always checked,
  as AWS always applies it) -> 403 otherwise.
- The event is payload format 2.0 ("Invoking Lambda function URLs", Request payload format):
  version, routeKey "$default", rawPath, rawQueryString, cookies, headers (lower-case names,
  repeated ones joined by commas), queryStringParameters, requestContext {accountId, apiId (url-id),
  authorizer.iam {accessKey, accountId, callerId, cognitoIdentity, principalOrgId, userArn, userId}
  (AWS_IAM only), domainName, domainPrefix, http {method, path, protocol, sourceIp, userAgent},
  requestId, routeKey, stage "$default", time, timeEpoch}, body, pathParameters, isBase64Encoded,
  stageVariables. A body that is not UTF-8 text is base64 (isBase64Encoded true).
- The function runs synchronously (awslambda/runtime.py). Its answer ("Response payload format"):
  an object with statusCode -> statusCode, headers, cookies (Set-Cookie), body (base64-decoded when
  isBase64Encoded); any other JSON -> 200 application/json with that JSON as the body. A function
  error -> 502 {"Message": "Internal Server Error"}; throttled -> 429.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from nvsandbox.core import common

PREFIX = "/lambda-url/"


def url_for(url_id: str) -> str:
    import os

    return f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5000')}{PREFIX}{url_id}/"


def _find(url_id: str) -> tuple[Any, Any] | None:
    from moto.awslambda.models import lambda_backends

    for account in list(dict.keys(lambda_backends)):
        for _region, backend in list(dict.items(lambda_backends[account])):
            for fn in list(backend._lambdas.all()):
                cfg = getattr(fn, "url_config", None)
                if cfg is not None and getattr(cfg, "_sb_url_id", None) == url_id:
                    # the unqualified function (`all()` may list it under its $LATEST ARN)
                    return backend.get_function(fn.function_name), cfg
    return None


def _answer(start_response, status: int, body: bytes, headers: list[tuple[str, str]] | None = None):
    from nvsandbox.core.middleware import _reason

    hdrs = list(headers or [])
    if not any(k.lower() == "content-type" for k, _ in hdrs):
        hdrs.append(("Content-Type", "application/json"))
    hdrs.append(("Content-Length", str(len(body))))
    hdrs.append(("x-amzn-RequestId", str(uuid.uuid4())))
    start_response(f"{status} {_reason(status)}", hdrs)
    return [body]


def _message(start_response, status: int, message: str):
    return _answer(start_response, status, json.dumps({"Message": message}).encode())


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _caller(environ: dict, info: Any, fn: Any) -> dict:
    """The signer of an AWS_IAM request: {accessKey, accountId, callerId, userArn, userId}; Refused."""
    from werkzeug.datastructures import EnvironHeaders

    from nvsandbox.iam import enforcement
    from nvsandbox.sts import presigned

    headers = EnvironHeaders(environ)
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        raise Refused(403, "Forbidden")
    key = enforcement._access_key_id(headers)
    scope = auth.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    if not key or len(scope) != 5 or scope[3] != "lambda" or scope[2] != fn.region:
        raise Refused(403, "Credential should be scoped to correct service: 'lambda'.")
    try:
        _secret, (arn, user_id, account) = presigned._secret_and_identity(key, headers.get("X-Amz-Security-Token"))
    except presigned.Refused as e:
        raise Refused(403, e.message) from None
    caller = {"accessKey": key, "accountId": account, "callerId": user_id, "userArn": arn, "userId": user_id}
    if enforcement.is_root_key(key):
        return caller
    from moto.iam.access_control import IAMRequest

    path = environ.get("PATH_INFO", "/") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
    try:
        request = IAMRequest(
            account_id=account,
            method=environ.get("REQUEST_METHOD", "GET"),
            path=path,
            data={},
            body=info.body or b"",
            headers=headers,
            action="InvokeFunctionUrl",
        )
        request.check_signature()
    except Exception:  # noqa: BLE001
        raise Refused(
            403,
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.",
        ) from None
    if common.setting(fn.account_id, "iam_enforced") and not _may_invoke(request, fn, arn, account):
        raise Refused(
            403,
            "Forbidden. For troubleshooting Function URL authorization issues, see: "
            "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html",
        )
    return caller


# "Starting in October 2025, new function URLs will require both lambda:InvokeFunctionUrl and
# lambda:InvokeFunction permissions" (Developer Guide, "Control access to Lambda function URLs",
# https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html): every URL the sandbox makes is new.
URL_ACTIONS = ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")


def _resource_policy(fn: Any, action: str, principals: tuple[str, ...], context: dict) -> str | None:
    """ "Allow", "Deny" or None: what the function's resource-based policy says to these principals."""
    from nvsandbox.iam import policy as iam_policy

    allowed = None
    for st in list(getattr(fn.policy, "statements", []) or []):
        principal = st.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else principal
        names = aws if isinstance(aws, list) else [aws]
        if not any(n in principals for n in names):
            continue
        actions = st.get("Action")
        if not iam_policy.action_matches(actions if isinstance(actions, list) else [actions], action):
            continue
        try:
            applies = iam_policy.conditions_match(st.get("Condition"), context)
        except iam_policy.Undecidable:
            applies = st.get("Effect") == "Deny"
        if applies and st.get("Effect") == "Deny":
            return "Deny"
        if applies:
            allowed = "Allow"
    return allowed


def _url_context(auth_type: str) -> dict:
    return {"lambda:FunctionUrlAuthType": auth_type, "lambda:InvokedViaFunctionUrl": "true"}


def public(fn: Any) -> bool:
    """AuthType NONE: "your function's resource-based policy is always in effect and must grant public
    access" (urls-auth page): both actions allowed to Principal "*"."""
    context = _url_context("NONE")
    return all(_resource_policy(fn, action, ("*",), context) == "Allow" for action in URL_ACTIONS)


def _may_invoke(request: Any, fn: Any, caller_arn: str, caller_account: str) -> bool:
    """Both actions allowed to the caller: by an identity policy or the function's resource-based
    policy in the function's account, by both for another account's caller; an explicit Deny wins."""
    from nvsandbox.iam import enforcement
    from nvsandbox.iam import policy as iam_policy

    context = enforcement._context(request, _url_context("AWS_IAM"))
    principals = ("*", caller_arn, caller_account, f"arn:aws:iam::{caller_account}:root")
    for action in URL_ACTIONS:
        decision, _ = iam_policy.evaluate(enforcement._documents(request._access_key), action, fn.function_arn, context)
        resource = _resource_policy(fn, action, principals, context)
        if decision == iam_policy.DENY or resource == "Deny":
            return False
        identity, by_resource = decision == iam_policy.ALLOW, resource == "Allow"
        if not ((identity or by_resource) if caller_account == fn.account_id else (identity and by_resource)):
            return False
    return True


def event(environ: dict, info: Any, fn: Any, url_id: str, raw_path: str, caller: dict | None) -> dict:
    headers: dict[str, str] = {}
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            name = k[5:].lower().replace("_", "-")
            headers[name] = f"{headers[name]},{v}" if name in headers else v
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    query = environ.get("QUERY_STRING", "")
    params: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        params[k] = f"{params[k]},{v}" if k in params else v
    body = info.body or b""
    try:
        text, b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, b64 = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    domain = f"{url_id}.lambda-url.{fn.region}.on.aws"
    ev: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": caller["accountId"] if caller else "anonymous",
            "apiId": url_id,
            "domainName": domain,
            "domainPrefix": url_id,
            "http": {
                "method": environ.get("REQUEST_METHOD", "GET"),
                "path": raw_path,
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": b64,
    }
    if cookies:
        ev["cookies"] = cookies
    if params:
        ev["queryStringParameters"] = params
    if body:
        ev["body"] = text
    if caller:
        ev["requestContext"]["authorizer"] = {
            "iam": {**caller, "cognitoIdentity": None, "principalOrgId": None},
        }
    return ev


def _response(start_response, result: Any):
    if not result.ok:
        if result.error_type == "Throttled":
            return _message(start_response, 429, "Too Many Requests")
        return _message(start_response, 502, "Internal Server Error")
    try:
        out = json.loads(result.payload) if result.payload else None
    except ValueError:
        out = None
        return _answer(start_response, 200, result.payload)
    if not (isinstance(out, dict) and "statusCode" in out):
        return _answer(start_response, 200, json.dumps(out).encode())
    headers = [(str(k), str(v)) for k, v in (out.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(c)) for c in out.get("cookies") or []]
    body = out.get("body") or ""
    data = base64.b64decode(body) if out.get("isBase64Encoded") else str(body).encode()
    return _answer(start_response, int(out["statusCode"]), data, headers)


def matches(environ: dict) -> bool:
    return environ.get("PATH_INFO", "").startswith(PREFIX)


def answer(environ: dict, info: Any, start_response):
    from nvsandbox.awslambda import runtime

    rest = environ.get("PATH_INFO", "")[len(PREFIX) :]
    url_id, _, tail = rest.partition("/")
    found = _find(url_id)
    if found is None:
        return _message(start_response, 404, "Not Found")
    fn, cfg = found
    caller = None
    if (cfg.config.get("AuthType") or "AWS_IAM") == "AWS_IAM":
        try:
            caller = _caller(environ, info, fn)
        except Refused as e:
            return _message(start_response, e.status, e.message)
    elif not public(fn):
        return _message(start_response, 403, "Forbidden")
    ev = event(environ, info, fn, url_id, "/" + tail, caller)
    result = runtime.invoke(fn, json.dumps(ev).encode())
    return _response(start_response, result)


def install() -> None:
    from moto.awslambda.models import FunctionUrlConfig

    original = FunctionUrlConfig.__init__

    def __init__(self, function, config):
        original(self, function=function, config=config)
        self._sb_url_id = uuid.uuid4().hex
        self.url = url_for(self._sb_url_id)

    FunctionUrlConfig.__init__ = __init__
    common.RAW_HANDLERS.append((matches, answer))
