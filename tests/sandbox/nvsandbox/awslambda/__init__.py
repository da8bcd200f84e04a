"""Lambda functions that run (runtime.py; the Invoke API runs them too), asynchronous invocation
with retries and destinations (asynchronous.py), and function URLs (urls.py); the CloudFormation
resource types moto lacks (cfn_resources.py) and Lambda's deployment package limits
(package_limits.py), installed on their own."""

from __future__ import annotations


def install() -> None:
    import atexit

    from nvsandbox.awslambda import asynchronous, runtime, urls  # noqa: F401  (controls register on import)
    from nvsandbox.core import common

    urls.install()
    runtime.patch_invoke()
    common.on_reset(runtime.shutdown)
    atexit.register(runtime.shutdown)  # no function process outlives the sandbox
