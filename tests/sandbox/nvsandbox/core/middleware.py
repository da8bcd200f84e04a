"""WSGI middleware around moto's server app: account isolation, request log, control endpoints,
in-process extension handlers and fault injection.

requests.log line: `<epoch.sss> <account> <service> <Operation> <http_status>[ fault=<kind>]`
(http_status is `-` for a connection dropped before any answer).
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import struct
import threading
import time
import uuid
from urllib.parse import parse_qs

from nvsandbox.core import common, quotas
from nvsandbox.core.common import DEFAULT_ACCOUNT, AwsError, setting

_CRED_RE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/")
_ACCOUNT_RE = re.compile(r"^\d{12}$")

QUERY_SERVICES = {
    "cloudformation",
    "sts",
    "iam",
    "sns",
    "sqs",
    "ec2",
    "autoscaling",
    "elasticloadbalancing",
    "rds",
    "elasticache",
    "cloudwatch",
    "monitoring",
    "ses",
    "redshift",
}

# kinds and their weights in the mix
FAULT_KINDS = [("throttle", 4), ("internal", 2), ("unavailable", 2), ("drop", 1), ("drop_after", 1)]

_log_lock = threading.Lock()
_rng_lock = threading.Lock()
# one-shot faults armed through /_sandbox/fault: account -> list of [operation|"*", kind, remaining]
_armed: dict[str, list[list]] = {}
# "hold": an armed kind only (not in the random mix). The request waits, unanswered and not yet
# applied, until /_sandbox/release (or HOLD_MAX_SECONDS), then runs as usual: a call delayed by
# throttling and retries, whose write lands after other callers' (a stale URL overwriting a fresh one). AWS documents
# no bound on how late a retried call lands, so the sandbox lets the test decide.
HOLD_KIND = "hold"
HOLD_MAX_SECONDS = 120.0
_holds: dict[str, list[threading.Event]] = {}


def _log_path() -> str:
    return os.path.join(common.LOG_DIR, "requests.log")


def write_request_log(account: str, service: str, op: str, status, fault: str | None) -> None:
    line = f"{time.time():.3f} {account} {service} {op} {status}"
    if fault:
        line += f" fault={fault}"
    with _log_lock:
        with open(_log_path(), "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()


# Random faults are decided per request, not per arrival: the draw for a request is a hash of the
# seed, the account, the operation, the resource it names (REQUEST_IDENTITY_KEYS) and how many times
# that same request was seen, so concurrent callers get the same faults whatever order they arrive
# in, and a test's outcome does not depend on timing. At most MAX_CONSECUTIVE_FAULTS in a row hit
# one request: the tool retries each call up to 6 attempts (src/aws/context.rs), so a run under random
# faults always converges; longer outages are armed explicitly (/_sandbox/fault).
MAX_CONSECUTIVE_FAULTS = 2
REQUEST_IDENTITY_KEYS = (
    "Name",
    "Names",
    "NotebookInstanceName",
    "Id",
    "ProvisionedProductName",
    "ProvisionedProductId",
    "ProductId",
    "ProvisioningArtifactId",
    "StackName",
    "ResourceId",
    "ResourceArn",
    "ProvisionToken",
    "UpdateToken",
    "TerminateToken",
    "RoleName",
    "PolicyArn",
    "ExportName",
    "ParameterFilters",
    "SearchQuery",
    "Filters",
    "PageToken",
    "NextToken",
)
_attempts: dict[tuple, list[int]] = {}  # (account, op, identity) -> [requests seen, faults in a row]


def request_identity(info) -> str:
    """What a request acts on: the path (S3) or its identifying parameters, canonically written."""
    if info.protocol == "s3":
        return ""
    params = info.params
    if params is None and info.body:
        text = info.body.decode("utf-8", "replace")
        try:
            params = json.loads(text) if info.protocol == "json" else parse_qs(text)
        except ValueError:
            params = {}
    if not isinstance(params, dict):
        return ""
    picked = {k: v for k, v in params.items() if k in REQUEST_IDENTITY_KEYS or k.split(".")[0] in REQUEST_IDENTITY_KEYS}
    return json.dumps(picked, sort_keys=True, default=str)


def _uniform(*parts) -> tuple[float, float]:
    import hashlib

    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return (int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big") / 2**64)


def _draw_fault(account: str, op: str, identity: str = "") -> str | None:
    with _rng_lock:
        armed = _armed.get(account)
        if armed:
            for entry in armed:
                if entry[0] in ("*", op) and entry[2] > 0:
                    entry[2] -= 1
                    kind = entry[1]
                    _armed[account] = [e for e in armed if e[2] > 0]
                    return kind
        rate = setting(account, "fault_rate")
        seed = setting(account, "fault_seed")
        if rate <= 0:
            return None
        seen = _attempts.setdefault((account, rate, seed, op, identity), [0, 0])
        seen[0] += 1
        hit, pick = _uniform(int(seed), op, identity, seen[0])
        if hit >= rate or seen[1] >= MAX_CONSECUTIVE_FAULTS:
            seen[1] = 0
            return None
        seen[1] += 1
    total = sum(w for _, w in FAULT_KINDS)
    x = pick * total
    for kind, w in FAULT_KINDS:
        if x < w:
            return kind
        x -= w
    return FAULT_KINDS[-1][0]


def reset_faults(account: str | None) -> None:
    with _rng_lock:
        if account is None:
            _attempts.clear()
            _armed.clear()
        else:
            for key in [k for k in _attempts if k[0] == account]:
                del _attempts[key]
            _armed.pop(account, None)
    _release(account)


def _release(account: str | None) -> int:
    with _rng_lock:
        events = [e for a, evs in _holds.items() if account is None or a == account for e in evs]
    for e in events:
        e.set()
    return len(events)


def hold(account: str) -> None:
    """Block this request until released (see HOLD_KIND)."""
    event = threading.Event()
    with _rng_lock:
        _holds.setdefault(account, []).append(event)
    try:
        event.wait(HOLD_MAX_SECONDS)
    finally:
        with _rng_lock:
            _holds[account] = [e for e in _holds.get(account, []) if e is not event]


@common.control("held")
def _held(body: dict):
    """How many requests of the account are held now: {"account_id"} -> {"held": n}."""
    account = body.get("account_id", DEFAULT_ACCOUNT)
    with _rng_lock:
        return 200, {"held": len(_holds.get(account, []))}


@common.control("release")
def _release_control(body: dict):
    """Let every held request of the account go on: {"account_id"} -> {"released": n}."""
    return 200, {"released": _release(body.get("account_id", DEFAULT_ACCOUNT))}


@common.control("fault")
def _arm_fault(body: dict):
    """Arm one-shot faults: {"account_id", "operation" (or "*"), "kind", "count"}."""
    account = body.get("account_id", DEFAULT_ACCOUNT)
    kind = body.get("kind", "throttle")
    if kind not in dict(FAULT_KINDS) and kind != HOLD_KIND:
        return 400, {"error": f"unknown kind {kind}; allowed {[k for k, _ in FAULT_KINDS] + [HOLD_KIND]}"}
    with _rng_lock:
        _armed.setdefault(account, []).append([body.get("operation", "*"), kind, int(body.get("count", 1))])
    return 200, {"armed": _armed[account]}


# ---------------------------------------------------------------------------------------------
# operation naming


def s3_operation(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> str:
    parts = path.lstrip("/").split("/", 1)
    bucket = parts[0] if parts and parts[0] else None
    key = parts[1] if len(parts) > 1 and parts[1] else None
    q = set(query)
    if bucket is None:
        return "ListBuckets"
    if key is None:
        sub = {
            "versioning": "BucketVersioning",
            "location": None,
            "policy": "BucketPolicy",
            "acl": "BucketAcl",
            "tagging": "BucketTagging",
            "encryption": "BucketEncryption",
            "lifecycle": "BucketLifecycleConfiguration",
            "cors": "BucketCors",
            "notification": "BucketNotificationConfiguration",
            "website": "BucketWebsite",
            "publicAccessBlock": "PublicAccessBlock",
            "ownershipControls": "BucketOwnershipControls",
            "logging": "BucketLogging",
            "replication": "BucketReplication",
            "object-lock": "ObjectLockConfiguration",
        }
        if method == "GET":
            if "location" in q:
                return "GetBucketLocation"
            if "versions" in q:
                return "ListObjectVersions"
            if "uploads" in q:
                return "ListMultipartUploads"
            for k, v in sub.items():
                if k in q and v:
                    return "Get" + v
            if query.get("list-type") == ["2"]:
                return "ListObjectsV2"
            return "ListObjects"
        if method == "HEAD":
            return "HeadBucket"
        if method == "PUT":
            for k, v in sub.items():
                if k in q and v:
                    return "Put" + v
            return "CreateBucket"
        if method == "DELETE":
            for k, v in sub.items():
                if k in q and v:
                    return "Delete" + v
            return "DeleteBucket"
        if method == "POST":
            if "delete" in q:
                return "DeleteObjects"
            return "PostObject"
    else:
        if method == "GET":
            if "tagging" in q:
                return "GetObjectTagging"
            if "acl" in q:
                return "GetObjectAcl"
            if "uploadId" in q:
                return "ListParts"
            if "attributes" in q:
                return "GetObjectAttributes"
            return "GetObject"
        if method == "HEAD":
            return "HeadObject"
        if method == "PUT":
            if "tagging" in q:
                return "PutObjectTagging"
            if "acl" in q:
                return "PutObjectAcl"
            if "partNumber" in q and "uploadId" in q:
                return "UploadPartCopy" if "x-amz-copy-source" in headers else "UploadPart"
            if "x-amz-copy-source" in headers:
                return "CopyObject"
            return "PutObject"
        if method == "DELETE":
            if "tagging" in q:
                return "DeleteObjectTagging"
            if "uploadId" in q:
                return "AbortMultipartUpload"
            return "DeleteObject"
        if method == "POST":
            if "uploads" in q:
                return "CreateMultipartUpload"
            if "uploadId" in q:
                return "CompleteMultipartUpload"
            if "restore" in q:
                return "RestoreObject"
            return "PostObject"
    return f"{method}"


class RequestInfo:
    __slots__ = ("account", "region", "service", "operation", "protocol", "params", "body")


def classify(environ: dict) -> RequestInfo:
    info = RequestInfo()
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = _CRED_RE.search(auth)
    akid = m.group(1) if m else None
    if not akid:
        qs0 = parse_qs(environ.get("QUERY_STRING", ""))
        cred = (qs0.get("X-Amz-Credential") or [""])[0]
        if cred:
            bits = cred.split("/")
            akid = bits[0]
            if len(bits) >= 4:
                m = True
                info.region, info.service = bits[2], bits[3]
    info.account = akid if akid and _ACCOUNT_RE.match(akid) else DEFAULT_ACCOUNT
    if akid and not _ACCOUNT_RE.match(akid):
        # an access key made by iam:CreateAccessKey / sts:AssumeRole belongs to the account that made it
        from nvsandbox.iam import enforcement as iam_enforcement

        info.account = iam_enforcement.account_of_key(akid) or DEFAULT_ACCOUNT
    if m is not None and m is not True:
        info.region, info.service = m.group(2), m.group(3)
    elif m is None:
        info.region, info.service = "us-east-1", "unknown"
    info.body = None
    info.params = None
    target = environ.get("HTTP_X_AMZ_TARGET")
    qs = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    ctype = environ.get("CONTENT_TYPE", "") or ""
    method = environ.get("REQUEST_METHOD", "GET")
    # buffer small non-S3 bodies (needed for Action= and for extension handlers), re-inject for moto
    if info.service != "s3":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["sandbox.raw_body"] = body  # iam_enforcement.RAW_BODY_KEY: the signed bytes
            info.body = body
    if target:
        info.protocol = "json"
        info.operation = target.rsplit(".", 1)[-1]
    elif info.service == "s3":
        info.protocol = "s3"
        headers = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
        info.operation = s3_operation(method, environ.get("PATH_INFO", "/"), qs, headers)
    else:
        action = (qs.get("Action") or [None])[0]
        if not action and info.body and ctype.startswith("application/x-www-form-urlencoded"):
            action = (parse_qs(info.body.decode("utf-8", "replace")).get("Action") or [None])[0]
        if action:
            info.protocol = "query"
            info.operation = action
        else:
            info.protocol = "rest-json"
            path = environ.get("PATH_INFO", "/")
            namer = common.REST_OPERATIONS.get(info.service)
            info.operation = (namer(method, path) if namer else None) or f"{method}{path}".replace(" ", "_")
    if info.service == "unknown" and info.protocol == "query":
        info.service = "query"
    return info


# ---------------------------------------------------------------------------------------------
# answers


def _json_error(start_response, status: int, code: str, message: str):
    body = json.dumps({"__type": code, "message": message}).encode()
    start_response(
        f"{status} {_reason(status)}",
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


def _reason(status: int) -> str:
    return {
        200: "OK",
        400: "Bad Request",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(status, "Error")


def error_response(info: RequestInfo, start_response, status: int, code: str, message: str):
    rid = str(uuid.uuid4())
    if info.protocol in ("json", "rest-json"):
        return _json_error(start_response, status, code, message)
    if info.protocol == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{rid}</RequestId><HostId>sandbox</HostId></Error>"
        ).encode()
    else:
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            f'<ErrorResponse xmlns="http://sandbox/doc/2010-05-15/"><Error><Type>{kind}</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
    start_response(
        f"{status} {_reason(status)}",
        [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid), ("Content-Length", str(len(body)))],
    )
    return [body]


def fault_response(info: RequestInfo, start_response, kind: str):
    if kind == "throttle":
        if info.protocol == "s3":
            return error_response(info, start_response, 503, "SlowDown", "Please reduce your request rate.")
        if info.protocol == "query":
            return error_response(info, start_response, 400, "Throttling", "Rate exceeded")
        return error_response(info, start_response, 400, "ThrottlingException", "Rate exceeded")
    if kind == "internal":
        code = "InternalError" if info.protocol == "s3" else "InternalFailure"
        return error_response(info, start_response, 500, code, "We encountered an internal error. Please try again.")
    if kind == "unavailable":
        code = "ServiceUnavailable"
        return error_response(info, start_response, 503, code, "Service is unavailable. Please try again.")
    raise ValueError(kind)


class DroppedConnection(ConnectionResetError):
    pass


def drop_connection(environ: dict) -> None:
    """Close the client's socket with a TCP RST and no answer."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass
    # werkzeug treats ConnectionError as "connection dropped" and sends nothing
    raise DroppedConnection("sandbox fault: connection dropped")


class SandboxMiddleware:
    def __init__(self, app):
        self.app = app

    # control endpoints ------------------------------------------------------------------------
    def _control(self, environ, start_response):
        name = environ.get("PATH_INFO", "")[len("/_sandbox/") :].strip("/")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = None
        handler = common.CONTROL_HANDLERS.get(name)
        if body is None or not isinstance(body, dict):
            status, answer = 400, {"error": "body must be a JSON object"}
        elif handler is None:
            status, answer = 404, {"error": f"no control endpoint {name}", "known": sorted(common.CONTROL_HANDLERS)}
        else:
            try:
                status, answer = handler(body)
            except Exception as e:  # noqa: BLE001
                status, answer = 500, {"error": f"{type(e).__name__}: {e}"}
        out = common.dumps(answer).encode()
        start_response(
            f"{status} {_reason(status)}", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))]
        )
        return [out]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._control(environ, start_response)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)

        info = classify(environ)
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = info.account

        latency = setting(info.account, "latency_ms")
        if latency > 0:
            time.sleep(latency / 1000.0)

        # request-rate quotas (core/quotas.py): checked when the request arrives, after the network latency
        if not quotas.allow(info.account, info.service, info.operation):
            captured = {}

            def sr0(status, headers, exc_info=None):
                captured["status"] = status.split(" ", 1)[0]
                return start_response(status, headers, exc_info)

            out = fault_response(info, sr0, "throttle")
            write_request_log(info.account, info.service, info.operation, captured.get("status", "?"), "quota")
            return out

        fault = _draw_fault(info.account, info.operation, request_identity(info))
        if fault == HOLD_KIND:
            hold(info.account)
        if fault == "drop":
            write_request_log(info.account, info.service, info.operation, "-", fault)
            drop_connection(environ)
        if fault in ("throttle", "internal", "unavailable"):
            captured = {}

            def sr(status, headers, exc_info=None):
                captured["status"] = status.split(" ", 1)[0]
                return start_response(status, headers, exc_info)

            out = fault_response(info, sr, fault)
            write_request_log(info.account, info.service, info.operation, captured.get("status", "?"), fault)
            return out

        status_box = {}

        def sr2(status, headers, exc_info=None):
            status_box["status"] = status.split(" ", 1)[0]
            if fault == "drop_after":
                return lambda data: None
            return start_response(status, headers, exc_info)

        raw = next((ans for matches, ans in common.RAW_HANDLERS if matches(environ)), None)
        handler = common.AWS_HANDLERS.get((info.service, info.operation))
        if raw is not None:
            out = raw(environ, info, sr2)
        elif handler is not None:
            out = self._call_handler(handler, info, sr2, environ)
        else:
            out = self.app(environ, sr2)
        if fault == "drop_after":
            # let the write happen completely, then drop the connection without an answer
            try:
                for _ in out:
                    pass
            finally:
                if hasattr(out, "close"):
                    out.close()
            write_request_log(info.account, info.service, info.operation, status_box.get("status", "-"), fault)
            drop_connection(environ)
        write_request_log(
            info.account,
            info.service,
            info.operation,
            status_box.get("status", "?"),
            HOLD_KIND if fault == HOLD_KIND else None,
        )
        return out

    def _call_handler(self, handler, info: RequestInfo, start_response, environ=None):
        from nvsandbox.servicecatalog import ownership

        caller = None
        if environ is not None:
            from nvsandbox.iam import enforcement as iam_enforcement

            caller = iam_enforcement.caller_arn(environ)
        token = ownership.CALLER.set(caller)  # whose provisioned products (servicecatalog/ownership.py)
        try:
            return self._call_handler_as(handler, info, start_response, environ)
        finally:
            ownership.CALLER.reset(token)

    def _call_handler_as(self, handler, info: RequestInfo, start_response, environ=None):
        try:
            if environ is not None:
                from nvsandbox.iam import enforcement as iam_enforcement

                iam_enforcement.authorize_extension(environ, info)  # per-account IAM (iam_enforced)
            params = json.loads(info.body) if info.body else {}
            if not isinstance(params, dict):
                raise AwsError("SerializationException", "body must be a JSON object")
            answer = handler(info.account, info.region, params)
        except AwsError as e:
            return _json_error(start_response, e.status, e.code, e.message)
        except ValueError as e:
            return _json_error(start_response, 400, "SerializationException", str(e))
        except Exception as e:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            return _json_error(start_response, 500, "InternalFailure", f"sandbox: {type(e).__name__}: {e}")
        body = common.dumps(answer if answer is not None else {}).encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("x-amzn-RequestId", str(uuid.uuid4())),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]
