"""A presigned sts:GetCallerIdentity (SigV4 in the query string), answered as STS answers it.

This is how aws-iam-authenticator and Vault's AWS auth method learn who calls: the client presigns
GetCallerIdentity with its own credentials (binding a server-id header into the signature), hands
the URL to a server, and the server replays it to STS, which checks the signature and answers the
signer's identity. moto answers GetCallerIdentity from the Authorization header only, so a query-
signed request would get the default identity; here it is checked and answered properly.

Checks (AWS General Reference, "Authenticating Requests: Using Query Parameters (AWS Signature
Version 4)"; "Create a signed AWS API request"):
- X-Amz-Algorithm AWS4-HMAC-SHA256, X-Amz-Credential <key>/<yyyymmdd>/<region>/sts/aws4_request,
  X-Amz-Date, X-Amz-Expires (1..604800 seconds), X-Amz-SignedHeaders (must include host),
  X-Amz-Signature; X-Amz-Security-Token for a role session's key;
- the request is refused once X-Amz-Date + X-Amz-Expires has passed, or when X-Amz-Date is more
  than 15 minutes in the future (the clock skew SigV4 allows);
- the signature is recomputed with the key's secret over the canonical request (method, path,
  canonical query without X-Amz-Signature, the signed headers as received, the payload hash:
  the hash of the body, or UNSIGNED-PAYLOAD) and must be equal;
- a root key of the sandbox (12-digit id) has no secret to check (as everywhere in the sandbox):
  its identity is answered once the other checks pass.
Answer: 200 GetCallerIdentityResponse (XML) with Arn, UserId, Account; errors 403 with the codes
STS uses (InvalidClientTokenId, SignatureDoesNotMatch; an expired presigned request: AccessDenied
"Request has expired", which AWS does not document for STS: a refusal either way).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import uuid
from urllib.parse import parse_qsl, quote

from nvsandbox.core import common

MAX_EXPIRES = 604800
SKEW_SECONDS = 15 * 60
_ACCOUNT_RE = re.compile(r"^\d{12}$")


class Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def is_presigned_caller_identity(environ: dict) -> bool:
    qs = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    return qs.get("Action") == "GetCallerIdentity" and "X-Amz-Signature" in qs


def _headers(environ: dict) -> dict[str, str]:
    out = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        out["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        out["content-length"] = environ["CONTENT_LENGTH"]
    return out


def _enc(s: str) -> str:
    return quote(s, safe="-_.~")


def canonical_request(
    method: str, path: str, query: list[tuple[str, str]], headers: dict, signed: list[str], payload_hash: str
) -> str:
    q = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted((k, v) for k, v in query if k != "X-Amz-Signature"))
    canon_headers = "".join(f"{h}:{' '.join(headers.get(h, '').strip().split())}\n" for h in signed)
    return "\n".join([method, quote(path or "/", safe="/-_.~"), q, canon_headers, ";".join(signed), payload_hash])


def signature(secret: str, date: str, region: str, service: str, amz_date: str, creq: str) -> str:
    def h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = h(h(h(h(("AWS4" + secret).encode(), date), region), service), "aws4_request")
    return hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()


def _secret_and_identity(key_id: str, token: str | None) -> tuple[str | None, tuple[str, str, str]]:
    """(secret, (arn, user id, account)) of an access key id; Refused when unknown."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    if _ACCOUNT_RE.match(key_id):
        return None, (f"arn:aws:iam::{key_id}:root", key_id, key_id)
    for account, parts in list(iam_backends.items()):
        for partition, backend in list(parts.items()):
            for user in list(backend.users.values()):
                for k in user.access_keys:
                    if k.access_key_id == key_id:
                        if token:
                            raise Refused(
                                "InvalidClientTokenId", "The security token included in the request is invalid."
                            )
                        return k.secret_access_key, (user.arn, user.id, account)
            try:
                sts = sts_backends[account][partition]
            except KeyError:
                continue
            for assumed in sts.assumed_roles:
                if assumed.access_key_id == key_id:
                    if token != assumed.session_token:
                        raise Refused("InvalidClientTokenId", "The security token included in the request is invalid.")
                    if assumed.expiration < datetime.datetime.now(datetime.UTC).replace(tzinfo=None):
                        raise Refused("ExpiredToken", "The security token included in the request is expired")
                    return assumed.secret_access_key, (assumed.arn, assumed.user_id, account)
    raise Refused("InvalidClientTokenId", "The security token included in the request is invalid.")


def verify(environ: dict, body: bytes, now: datetime.datetime | None = None) -> tuple[str, str, str]:
    """(arn, user id, account) of a valid presigned GetCallerIdentity; Refused otherwise."""
    query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    q = dict(query)
    if q.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise Refused("IncompleteSignature", "X-Amz-Algorithm must be AWS4-HMAC-SHA256")
    for required in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"):
        if not q.get(required):
            raise Refused("IncompleteSignature", f"{required} is missing")
    parts = q["X-Amz-Credential"].split("/")
    if len(parts) != 5 or parts[3] != "sts" or parts[4] != "aws4_request":
        raise Refused("IncompleteSignature", "X-Amz-Credential must be <key>/<date>/<region>/sts/aws4_request")
    key_id, date, region = parts[0], parts[1], parts[2]
    try:
        signed_at = datetime.datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        expires = int(q["X-Amz-Expires"])
    except ValueError:
        raise Refused("IncompleteSignature", "X-Amz-Date or X-Amz-Expires is malformed") from None
    if not 1 <= expires <= MAX_EXPIRES:
        raise Refused("AuthorizationQueryParametersError", f"X-Amz-Expires must be 1..{MAX_EXPIRES} seconds")
    if q["X-Amz-Date"][:8] != date:
        raise Refused("SignatureDoesNotMatch", "the credential scope's date is not X-Amz-Date's")
    now = now or datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    if now > signed_at + datetime.timedelta(seconds=expires):
        raise Refused("AccessDenied", "Request has expired")
    if signed_at > now + datetime.timedelta(seconds=SKEW_SECONDS):
        raise Refused("SignatureDoesNotMatch", "Signature not yet current")
    signed = q["X-Amz-SignedHeaders"].split(";")
    if "host" not in signed:
        raise Refused("SignatureDoesNotMatch", "the host header must be signed")
    headers = _headers(environ)
    missing = [h for h in signed if h not in headers]
    if missing:
        raise Refused("SignatureDoesNotMatch", f"signed headers not in the request: {', '.join(missing)}")
    secret, identity = _secret_and_identity(key_id, q.get("X-Amz-Security-Token"))
    if secret is None:  # the sandbox's root key: no secret to check
        return identity
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/") or "/"
    for payload in (hashlib.sha256(body or b"").hexdigest(), "UNSIGNED-PAYLOAD"):
        creq = canonical_request(method, path, query, headers, signed, payload)
        if hmac.compare_digest(signature(secret, date, region, "sts", q["X-Amz-Date"], creq), q["X-Amz-Signature"]):
            return identity
    raise Refused(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
        "Access Key and signing method. Consult the service documentation for details.",
    )


def answer(environ: dict, info, start_response):
    """The WSGI answer to a presigned GetCallerIdentity."""
    from xml.sax.saxutils import escape

    rid = str(uuid.uuid4())
    try:
        arn, user_id, account = verify(environ, info.body or b"")
    except Refused as e:
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>{escape(e.code)}</Code><Message>{escape(e.message)}</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
        start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]
    body = (
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
        f"<Arn>{escape(arn)}</Arn><UserId>{escape(user_id)}</UserId><Account>{account}</Account>"
        f"</GetCallerIdentityResult><ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def install() -> None:
    common.RAW_HANDLERS.append((is_presigned_caller_identity, answer))
