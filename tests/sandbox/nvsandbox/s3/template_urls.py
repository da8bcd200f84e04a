"""Template URLs as CloudFormation and Service Catalog read them from S3: every S3 URL style, and the
rule that a URL must address the bucket's own Region.

Styles: virtual-hosted `https://<bucket>.s3.amazonaws.com/<key>`,
`https://<bucket>.s3.<region>.amazonaws.com/<key>` and path style `https://s3.amazonaws.com/<bucket>/<key>`,
`https://s3.<region>.amazonaws.com/...`, `https://s3-<region>.amazonaws.com/...`, loopback endpoints
and `s3://bucket/key`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlparse

# ---------------------------------------------------------------------------------------------
# Template URLs
# Source: Amazon S3 user guide, "Virtual hosting of buckets" (VirtualHosting.html), "Legacy global
# endpoint": <bucket>.s3.amazonaws.com routes to us-east-1; for a bucket in a Region launched after
# 2019-03-20 the request answers HTTP 400, for older Regions it may answer a 307 redirect until DNS
# catches up (a redirect CloudFormation does not follow: the worst case, a failure, is played). A
# regional endpoint of another Region answers 301 PermanentRedirect. So the URL's Region (global =
# us-east-1) must be the bucket's Region. CloudFormation reports the S3 error as
# "Error occurred while GetObject. S3 Error Code: PermanentRedirect. S3 Error Message: The bucket is
# in this region: <region>. Please use this region to retry the request"; Service Catalog answers
# InvalidParametersException "Invalid templateBody. Please make sure that your template is valid".

_REGIONAL = re.compile(r"^(?:(?P<vbucket>.+)\.)?s3[.-](?:dualstack\.)?(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.")


class TemplateUrlError(ValueError):
    """The URL cannot reach the template from AWS's point of view."""


def url_region(url: str) -> str | None:
    """Region an S3 URL addresses (us-east-1 for the legacy global endpoint), None for a loopback or
    s3:// URL (test harness addresses, not checked)."""
    u = urlparse(url)
    if u.scheme == "s3":
        return None
    host = (u.hostname or "").lower()
    if host in ("localhost", "::1") or host.startswith("127."):
        return None
    m = _REGIONAL.match(host)
    if m:
        return m.group("region")
    if (
        host == "s3.amazonaws.com"
        or host.endswith(".s3.amazonaws.com")
        or host.startswith("s3-external-1.")
        or ".s3-external-1." in host
    ):
        return "us-east-1"
    return None


def check_template_url(url: str, bucket_region: str | None) -> None:
    region = url_region(url)
    if region is None or bucket_region is None or region == bucket_region:
        return
    raise TemplateUrlError(
        "Error occurred while GetObject. S3 Error Code: PermanentRedirect. S3 Error Message: The bucket is "
        f"in this region: {bucket_region}. Please use this region to retry the request"
    )


def split_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of a template URL in any S3 style."""
    u = urlparse(url)
    if u.scheme == "s3":
        return u.netloc, unquote(u.path.lstrip("/"))
    host = (u.hostname or "").lower()
    path = unquote(u.path.lstrip("/"))
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    if not loopback:
        for marker in (".s3.", ".s3-"):
            if marker in host:  # virtual-hosted: <bucket>.s3[.-]<region>.amazonaws.com
                return host[: host.index(marker)], path
        if not (host.startswith("s3.") or host.startswith("s3-")):
            return host.split(".")[0], path  # unknown host: first label is the bucket
    bucket, _, key = path.partition("/")
    return bucket, key


def fetch_s3_url(url: str, account_id: str) -> str:
    """The object a template URL names, as CloudFormation / Service Catalog would read it. Raises
    TemplateUrlError when the URL addresses another Region than the bucket's (the legacy global
    endpoint outside us-east-1 included): see the source above."""
    from moto.s3.models import s3_backends

    bucket, key = split_s3_url(url)
    backend = s3_backends[account_id]["aws"]
    found = backend.buckets.get(bucket)
    if found is not None:
        check_template_url(url, getattr(found, "region_name", None))
    obj = backend.get_object(bucket, key)
    if obj is None:
        raise KeyError(f"{bucket}/{key}")
    return obj.value.decode("utf-8")
