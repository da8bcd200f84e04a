"""Fixes for moto 5.2.5's CloudFormation the sandbox needs:

- templates read from S3 as AWS reads them (every URL style, the bucket's own Region: s3/template_urls.py);
- a resource that fails to create: CREATE_FAILED + ROLLBACK_COMPLETE instead of an HTTP 500, with
  the reason worded as CloudFormation words a resource handler's AWS error (also used by
  cloudformation/principal.py for a handler the stack's principal may not run).
"""

from __future__ import annotations

import json
import uuid

import yaml

from nvsandbox.s3.template_urls import TemplateUrlError, fetch_s3_url


def load_template(body: str) -> dict:
    """Parse a JSON or YAML CloudFormation template (short-form intrinsic tags kept as dicts)."""
    try:
        return json.loads(body)
    except ValueError:
        pass
    from moto.cloudformation.utils import yaml_tag_constructor

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", yaml_tag_constructor)
    return yaml.load(body, Loader=Loader)


def patch_template_urls() -> None:
    import moto.cloudformation.models as cfm
    import moto.cloudformation.responses as cfr
    import moto.cloudformation.utils as cfu

    def get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
        from moto.cloudformation.exceptions import ValidationError

        try:
            return fetch_s3_url(template_url, account_id)
        except TemplateUrlError as e:
            raise ValidationError(message=str(e)) from e

    cfu.get_stack_from_s3_url = get_stack_from_s3_url
    cfm.get_stack_from_s3_url = get_stack_from_s3_url
    cfr.get_stack_from_s3_url = get_stack_from_s3_url


def patch_failed_creation() -> None:
    """A resource that fails to create fails the stack, as on AWS: CREATE_FAILED for the resource
    with its reason, then ROLLBACK_IN_PROGRESS / ROLLBACK_COMPLETE for the stack. moto 5.2.5 lets
    the exception escape instead: the CreateStack call answers 500 with the stack half made."""
    from moto.cloudformation import models, parsing

    original_getitem = parsing.ResourceMap.__getitem__

    def getitem(self, key):  # type: ignore[no-untyped-def]
        try:
            return original_getitem(self, key)
        except Exception:
            # The innermost resource raises first: that is the one that failed.
            if getattr(self, "_sandbox_failed", None) is None:
                self._sandbox_failed = key
            raise

    original_create = models.Stack.create_resources

    def create_resources(self):  # type: ignore[no-untyped-def]
        try:
            original_create(self)
        except Exception as e:  # noqa: BLE001  (any failure of moto's resource code)
            failed = getattr(self.resource_map, "_sandbox_failed", None) or "Unknown"
            resource = (self.template_dict.get("Resources") or {}).get(failed) or {}
            if getattr(e, "code", None) and getattr(e, "message", None):
                # an AWS error of the resource's service: worded as CloudFormation words it
                reason = cfn_failure_reason(e, service_of(resource.get("Type") or "AWS::Unknown::X"))
            else:
                reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            fail_creation(self, failed, resource.get("Type", "Unknown"), reason)

    parsing.ResourceMap.__getitem__ = getitem
    models.Stack.create_resources = create_resources


def resource_event(stack, logical_id: str, resource_type: str, status: str, reason: str | None = None) -> None:
    """A stack event of one resource (the physical id of the resource when the stack has it)."""
    from moto.cloudformation import models

    physical = ""
    try:
        parsed = stack.resource_map._parsed_resources.get(logical_id)
        physical = getattr(parsed, "physical_resource_id", "") or ""
    except Exception:  # noqa: BLE001  (not created: no physical id)
        pass
    stack.events.append(
        models.Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical if isinstance(physical, str) else "",
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def fail_creation(stack, logical_id: str, resource_type: str, reason: str) -> None:
    """A creation that failed at one resource, as AWS records it: CREATE_FAILED for the resource with
    its reason, then ROLLBACK_IN_PROGRESS / ROLLBACK_COMPLETE for the stack (CloudFormation user
    guide, "Stack status codes")."""
    resource_event(stack, logical_id, resource_type, "CREATE_FAILED", reason)
    stack._add_stack_event(
        "ROLLBACK_IN_PROGRESS",
        resource_status_reason=(
            f"The following resource(s) failed to create: [{logical_id}]. Rollback requested by user."
        ),
    )
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")


def service_of(resource_type: str) -> str:
    """The service a resource type's handler calls, as the reason names it (AWS::Logs::X -> Logs)."""
    parts = resource_type.split("::")
    return parts[1].capitalize() if len(parts) > 1 else resource_type


def cfn_failure_reason(exc: BaseException, service: str) -> str:
    """How CloudFormation words a resource whose handler got an AWS error (the Cloud Control form)."""
    code = getattr(exc, "code", None) or getattr(exc, "error_type", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    return handler_error_reason(str(code), str(message), service)


def handler_error_reason(code: str, message: str, service: str, status: int = 400) -> str:
    """The reason of a resource event whose handler got the AWS error `code` / `message`. The
    HandlerErrorCode is the handler's for the error (CloudFormation CLI user guide, "Resource type
    handler error codes": AccessDenied "The customer has insufficient permissions to perform this
    request", InvalidRequest, GeneralServiceException "doesn't map to any other handler error code")."""
    if "AccessDenied" in code:
        handler_code = "AccessDenied"
    elif "alidation" in code:
        handler_code = "InvalidRequest"
    else:
        handler_code = "GeneralServiceException"
    return (
        f'Resource handler returned message: "{message} (Service: {service}, Status Code: {status}, '
        f'Request ID: {uuid.uuid4()})" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: {handler_code})'
    )


def patch_deleted_stack_outputs() -> None:
    """moto evaluates a stack's Outputs lazily against its resource map, and after a delete that map
    is empty: DescribeStacks of a DELETE_COMPLETE stack (by id, as a deletion waiter follows it)
    re-created every resource an output refers to (a new bucket, role...) and left it behind. AWS
    answers a deleted stack without outputs; so does the sandbox now. (Teardown of the Service
    Catalog deployment is where it bit.)"""
    from moto.cloudformation.models import Stack as FakeStack

    if getattr(FakeStack, "_sb_deleted_outputs", False):
        return
    outputs, exports = FakeStack.outputs, FakeStack.exports

    # A stack whose creation failed and was rolled back has no resources, hence no outputs either:
    # evaluating them re-ran the failed resource's creation and DescribeStacks answered HTTP 500
    # (a stuck CREATE_IN_PROGRESS for the client) instead of ROLLBACK_COMPLETE. Its exports are
    # still evaluated where they can be: moto drops them from the Region's export list at deletion.
    gone = ("DELETE_COMPLETE", "ROLLBACK_COMPLETE")

    def outputs_unless_deleted(self):
        return None if self.status in gone else outputs.fget(self)

    def exports_unless_deleted(self):
        if self.status == "DELETE_COMPLETE":
            return []
        if self.status == "ROLLBACK_COMPLETE":
            try:
                return exports.fget(self)
            except Exception:  # noqa: BLE001  (an export of the resource that failed)
                return []
        return exports.fget(self)

    FakeStack.outputs = property(outputs_unless_deleted)
    FakeStack.exports = property(exports_unless_deleted)
    FakeStack._sb_deleted_outputs = True
