"""Lambda's deployment package limits on CreateFunction and UpdateFunctionCode (and so on the
AWS::Lambda::Function handlers of CloudFormation, which call them). moto stores any bytes.

Sources: Lambda Developer Guide, "Lambda quotas", Deployment package (.zip file archive) size:
"50 MB (zipped, for direct upload)", "250 MB (unzipped, including layers)"; API_AccountLimit:
CodeSizeZipped is "the maximum size of a deployment package when it's uploaded directly to Lambda.
Use Amazon S3 for larger files", CodeSizeUnzipped "the maximum size of a function's deployment
package and layers when they're extracted". Lambda counts in MiB (GetAccountSettings:
CodeSizeZipped 52428800, CodeSizeUnzipped 262144000) and words the unzipped refusal "Unzipped size
must be smaller than 262144000 bytes" (InvalidParameterValueException, as CloudFormation relays it
for a function or layer; re:Post "How do the lambda function and lambda layers quotas work?").

Played at the worst case where AWS does not say:
- the direct-upload limit is checked on the decoded zip (the request that carries it is larger still);
  its error code is RequestEntityTooLargeException (HTTP 413), the sandbox's choice;
- an S3 package has no zipped limit of its own (the quotas page sends larger packages to S3), only
  the unzipped one, which counts every entry's uncompressed size as the central directory states it;
- bytes that are not a zip archive are refused (Lambda must extract the package to run it), with
  InvalidParameterValueException.
The function keeps its previous code when the new package is refused.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

ZIPPED_DIRECT = 52_428_800
UNZIPPED = 262_144_000


def _error(code: str, message: str, status: int = 400) -> Exception:
    from moto.core.exceptions import JsonRESTError

    err = JsonRESTError(code, message)
    err.code = status
    return err


def check(zip_bytes: bytes, direct: bool) -> None:
    """Raise what Lambda answers for a package over its limits (None when it is within them)."""
    if direct and len(zip_bytes) > ZIPPED_DIRECT:
        raise _error(
            "RequestEntityTooLargeException",
            f"Zipped size must be at most {ZIPPED_DIRECT} bytes for a direct upload "
            f"(this one is {len(zip_bytes)}): upload the package to Amazon S3",
            413,
        )
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
            unzipped = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, ValueError):
        raise _error(
            "InvalidParameterValueException",
            "Could not unzip uploaded file. Please check your file, then try to upload again.",
        ) from None
    if unzipped >= UNZIPPED:
        raise _error("InvalidParameterValueException", f"Unzipped size must be smaller than {UNZIPPED} bytes")


def install() -> None:
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._set_function_code
    kept = ("code_bytes", "code_size", "code_sha_256", "code_digest")

    def set_function_code(self: Any, updated_spec: dict[str, Any]) -> None:
        if updated_spec.get("DryRun"):
            return original(self, updated_spec)
        before = {k: getattr(self, k, None) for k in kept}
        code_before = dict(self.code) if isinstance(getattr(self, "code", None), dict) else None
        original(self, updated_spec)
        if "ImageUri" in updated_spec or not getattr(self, "code_bytes", b""):
            return None
        direct = "ZipFile" in updated_spec
        try:
            check(self.code_bytes, direct)
        except Exception:
            for k, v in before.items():
                setattr(self, k, v)
            if code_before is not None:
                self.code = code_before
            raise
        return None

    LambdaFunction._set_function_code = set_function_code  # type: ignore[method-assign]
