"""The handler permissions of a stack operation's own principal, checked in an account with IAM
enforcement on (iam/enforcement.py). moto runs every resource without asking whose credentials it
uses, so a policy missing a handler's permission went unnoticed.

Sources:
- CloudFormation user guide, "CloudFormation service role" (using-iam-servicerole.html): "By default,
  CloudFormation uses a temporary session that it generates from your user credentials for stack
  operations. If you specify a service role, CloudFormation uses that role's credentials."
- botocore cloudformation CreateStack/UpdateStack/DeleteStack `RoleARN`: "If you don't specify a
  value, CloudFormation uses the role that was previously associated with the stack. If no role is
  available, CloudFormation uses a temporary session that's generated from your user credentials."
- The resource handlers an operation runs: cloudformation/handlers.py (shared with the Service
  Catalog launch role check).
- The IAM actions a handler needs, `called()`. A schema's `handlers.<handler>.permissions` is the
  union over every property the type has: AWS::Logs::LogGroup's update list names
  s3:REST.PUT.OBJECT and firehose:TagDeliveryStream (log delivery), AWS::S3::Bucket's create list
  every bucket configuration. A handler calls only what the resource's properties need (the public
  logs provider, aws-cloudformation/aws-cloudformation-resource-providers-logs,
  aws-logs-loggroup UpdateHandler.java: PutRetentionPolicy only when RetentionInDays changed,
  AssociateKmsKey only when KmsKeyId changed, UntagLogGroup / TagLogGroup only when tags were
  removed / added). The sandbox cannot map every property to its calls, so it requires what a
  handler calls whatever the properties:
    1. the resource's own API for the handler, when the schema lists it: `<service>:<Verb><X>`
       with Verb Create / Update / Delete and the type's name ending in X (iam:CreateRole,
       s3:CreateBucket, logs:DeleteLogGroup, servicecatalog:CreateProduct for
       CloudFormationProduct, iam:DeletePolicy for ManagedPolicy); the one permission a handler's
       list holds when it holds only one (AWS::Lambda::Url, EventInvokeConfig, Permission); and
       events:PutRule for AWS::Events::Rule's create and update (PutRule creates or updates a rule);
    2. the calls the public provider makes, for the types the sandbox has read it for
       (PROVIDER_CALLS): AWS::Logs::LogGroup's update reads the group back (ReadHandler.java:
       DescribeLogGroups, ListTagsLogGroup) with the reads its schema lists
       (GetDataProtectionPolicy, DescribeResourcePolicies), and tags through the older log-group
       API (TagLogGroup when the stack's tags add or change a tag, UntagLogGroup when they remove
       one).
  The Service Catalog launch role keeps the stricter rule (every permission the schema lists).
- How a failed handler ends the operation (CloudFormation user guide, "Stack status codes" and
  "Monitor the progress of a stack update"): CreateStack -> the resource CREATE_FAILED, the stack
  ROLLBACK_COMPLETE; UpdateStack -> UPDATE_FAILED (CREATE_FAILED for a new resource), the stack back
  on its previous template and parameters, UPDATE_ROLLBACK_COMPLETE; DeleteStack -> DELETE_FAILED
  for the resource and the stack, the resources left. A resource removed by an update is deleted in
  the cleanup after the update succeeded: a failure there leaves the resource behind (DELETE_FAILED
  event) and the stack UPDATE_COMPLETE (CloudFormation does not roll back a completed update; the
  AWS CDK CLI shows those DELETE_FAILED events as "skipped", aws/aws-cdk-cli#1564).
  The reason is worded as CloudFormation words a handler's AWS error (cloudformation/stacks.py).

Whose policies: the RoleARN of the request, else the role the stack was created or last updated
with, else the caller's identity policies (an IAM user's inline, attached and group policies; an
assumed role's policies). The caller's root key is never checked (as iam/enforcement.py); a service
role is checked whoever calls. Service Catalog's launches do not pass through here (its requests
are not CloudFormation API requests): servicecatalog/launch_role.py checks the launch role.

What the sandbox cannot decide (worst case for the tool, beyond handlers.py's):
- the calls a handler makes for the properties a resource sets (above): not required, so a policy
  missing e.g. s3:PutBucketVersioning for a versioned bucket passes here (the tool's own table,
  src/permissions.rs, is still checked against the schemas by its tests);
- the session name CloudFormation uses with a service role: the message names
  assumed-role/<role>/AWSCloudFormation;
- whether the role trusts cloudformation.amazonaws.com and the caller may pass it (iam:PassRole) are
  not checked here; a RoleARN naming no role of the account has no policies (everything denied).
- ExecuteChangeSet is not covered: the tool does not use change sets (src/aws/stacks.rs calls
  CreateStack, UpdateStack and DeleteStack only).
"""

from __future__ import annotations

import contextvars
from typing import Any

from nvsandbox.cloudformation import handlers

# (principal ARN, identity policies, service role ARN or None) of the CloudFormation request being
# served; None when nothing is checked (enforcement off, root caller without a role, a stack operation
# made by another service's code).
_PRINCIPAL: contextvars.ContextVar[tuple[str, list, str | None] | None] = contextvars.ContextVar(
    "sandbox_cfn_principal", default=None
)


def _principal(response: Any, stack: Any = None) -> tuple[str, list, str | None] | None:
    from moto.iam.access_control import create_access_key

    from nvsandbox.core import common
    from nvsandbox.iam import enforcement
    from nvsandbox.servicecatalog.launch_role import role_documents

    account = response.current_account
    if not common.setting(account, "iam_enforced"):
        return None
    role_arn = response._get_param("RoleARN") or getattr(stack, "_sb_service_role", None)
    if role_arn:
        found = role_documents(account, role_arn)
        name = role_arn.rsplit("/", 1)[-1]
        session = f"arn:aws:sts::{account}:assumed-role/{name}/AWSCloudFormation"
        return session, (found[1] if found else []), role_arn
    key = enforcement._access_key_id(response.headers)
    if key is None or enforcement.is_root_key(key):
        return None
    try:
        access_key = create_access_key(account, "aws", key, response.headers)
    except Exception:  # noqa: BLE001  (authorization already refused an unknown key)
        return None
    return access_key.arn, enforcement._documents(access_key), None


_RULE = "AWS::Events::Rule"

# (type, handler) -> (always, when stack tags are added or changed, when stack tags are removed)
PROVIDER_CALLS: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    ("AWS::Logs::LogGroup", handlers.UPDATE): (
        (
            "logs:DescribeLogGroups",
            "logs:ListTagsLogGroup",
            "logs:GetDataProtectionPolicy",
            "logs:DescribeResourcePolicies",
        ),
        ("logs:TagLogGroup",),
        ("logs:UntagLogGroup",),
    ),
}


def called(
    region: str, resource_type: str, handler: str, *, tags_added: bool = False, tags_removed: bool = False
) -> tuple[str, ...]:
    """The IAM actions a handler calls whatever the resource's properties (the module docstring)."""
    verb = {handlers.CREATE: "Create", handlers.UPDATE: "Update", handlers.DELETE: "Delete"}[handler]
    name = resource_type.rsplit("::", 1)[-1]
    out = []
    for action in handlers.handler_permissions(region, resource_type, handler):
        op = action.split(":", 1)[-1]
        if op.startswith(verb) and len(op) > len(verb) and name.endswith(op[len(verb) :]):
            out.append(action)
    listed = handlers.handler_permissions(region, resource_type, handler)
    if len(listed) == 1:
        # A handler whose schema lists one permission has nothing else to call it with
        # (AWS::Lambda::Url, EventInvokeConfig, Permission: Create/Put/Add...Config, AddPermission).
        out.append(listed[0])
    if (resource_type, handler) in ((_RULE, handlers.CREATE), (_RULE, handlers.UPDATE)):
        # EventBridge creates and updates a rule with one call, PutRule ("Creates or updates the
        # specified rule", EventBridge API reference), which the Create/Update naming above misses.
        out.append("events:PutRule")
    always, on_add, on_remove = PROVIDER_CALLS.get((resource_type, handler), ((), (), ()))
    out += list(always) + (list(on_add) if tags_added else []) + (list(on_remove) if tags_removed else [])
    return tuple(dict.fromkeys(out))


def _reason(principal: tuple[str, list, str | None], found: tuple[str, str, str, str, str]) -> str:
    from nvsandbox.cloudformation.stacks import handler_error_reason, service_of

    _, rtype, _, action, decision = found
    service = service_of(rtype)
    # IAM is a query-protocol service (AccessDenied, HTTP 403); the JSON services answer
    # AccessDeniedException with HTTP 400.
    code, status = ("AccessDenied", 403) if service == "Iam" else ("AccessDeniedException", 400)
    return handler_error_reason(code, handlers.denied_message(principal[0], action, decision), service, status)


def _failed_status(handler: str) -> str:
    return {handlers.CREATE: "CREATE_FAILED", handlers.UPDATE: "UPDATE_FAILED"}.get(handler, "DELETE_FAILED")


def _patch_responses() -> None:
    from moto.cloudformation.responses import CloudFormationResponse

    create, update, delete = (
        CloudFormationResponse.create_stack,
        CloudFormationResponse.update_stack,
        CloudFormationResponse.delete_stack,
    )

    def with_principal(original, stack_of):
        def handler(self):  # type: ignore[no-untyped-def]
            token = _PRINCIPAL.set(_principal(self, stack_of(self)))
            try:
                answer = original(self)
            finally:
                _PRINCIPAL.reset(token)
            role_arn = self._get_param("RoleARN")
            if role_arn:  # the stack's role from now on (RoleARN: "uses the role that was previously associated")
                stack = named_stack(self)
                if stack is not None:
                    stack._sb_service_role = role_arn
            return answer

        return handler

    def no_stack(self):  # type: ignore[no-untyped-def]
        return None

    def named_stack(self):  # type: ignore[no-untyped-def]
        try:
            return self.cloudformation_backend.get_stack(self._get_param("StackName"))
        except Exception:  # noqa: BLE001  (moto's own handler answers the missing stack)
            return None

    def delete_stack(self):  # type: ignore[no-untyped-def]
        stack = named_stack(self)
        if stack is not None and stack.status not in ("DELETE_COMPLETE", "ROLLBACK_COMPLETE"):
            principal = _principal(self, stack)
            if principal is not None:
                retained = set(self._get_param("RetainResources", []) or [])
                work = [
                    w
                    for w in handlers.touched(
                        stack.region_name,
                        handlers.DELETE,
                        old_template=stack.template_dict,
                        old_params=dict(stack.parameters or {}),
                    )
                    if w[0] not in retained
                ]
                found = handlers.first_missing(stack.region_name, principal[1], work, called)
                if found is not None:
                    _fail_delete(stack, principal, found)
                    from moto.core.responses import EmptyResult

                    return EmptyResult()
        return with_principal(delete, lambda s: stack)(self)

    CloudFormationResponse.create_stack = with_principal(create, no_stack)
    CloudFormationResponse.update_stack = with_principal(update, named_stack)
    CloudFormationResponse.delete_stack = delete_stack


def _fail_delete(stack: Any, principal: tuple, found: tuple[str, str, str, str, str]) -> None:
    from nvsandbox.cloudformation.stacks import resource_event

    lid, rtype = found[0], found[1]
    stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    resource_event(stack, lid, rtype, "DELETE_FAILED", _reason(principal, found))
    why = f"The following resource(s) failed to delete: [{lid}]. "
    stack._add_stack_event("DELETE_FAILED", resource_status_reason=why)
    stack.status = "DELETE_FAILED"
    stack.status_reason = why


def _patch_models() -> None:
    from moto.cloudformation.models import Stack

    from nvsandbox.cloudformation.stacks import fail_creation, load_template, resource_event

    original_create, original_update = Stack.create_resources, Stack.update

    def create_resources(self):  # type: ignore[no-untyped-def]
        principal = _PRINCIPAL.get()
        if principal is None:
            return original_create(self)
        work = handlers.touched(
            self.region_name, handlers.CREATE, self.template_dict, new_params=dict(self.parameters or {})
        )
        found = handlers.first_missing(self.region_name, principal[1], work, called)
        if found is None:
            return original_create(self)
        self.status = "CREATE_IN_PROGRESS"
        fail_creation(self, found[0], found[1], _reason(principal, found))
        return None

    def update(self, template, role_arn=None, parameters=None, tags=None):  # type: ignore[no-untyped-def]
        principal = _PRINCIPAL.get()
        if principal is None:
            return original_update(self, template, role_arn=role_arn, parameters=parameters, tags=tags)
        try:
            new_template = load_template(template)
        except Exception:  # noqa: BLE001  (moto's own parse reports it)
            new_template = None
        if not isinstance(new_template, dict):
            return original_update(self, template, role_arn=role_arn, parameters=parameters, tags=tags)
        old_params = dict(self.parameters or {})
        new_params = dict(parameters or old_params)
        old_tags, new_tags = dict(self.tags or {}), dict(tags) if tags is not None else dict(self.tags or {})
        added = any(old_tags.get(k) != v for k, v in new_tags.items())
        removed = any(k not in new_tags for k in old_tags)

        def required(region: str, rtype: str, handler: str) -> tuple[str, ...]:
            tagged = handler == handlers.UPDATE and handlers.taggable(region, rtype)
            return called(region, rtype, handler, tags_added=tagged and added, tags_removed=tagged and removed)

        work = handlers.touched(
            self.region_name,
            handlers.UPDATE,
            new_template,
            self.template_dict,
            params_changed=new_params != old_params,
            tags_changed=added or removed,
            new_params=new_params,
            old_params=old_params,
        )
        upfront = [w for w in work if w[2] != handlers.DELETE]
        found = handlers.first_missing(self.region_name, principal[1], upfront, required)
        if found is not None:
            lid, rtype, handler = found[0], found[1], found[2]
            verb = "create" if handler == handlers.CREATE else "update"
            self._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
            reason = _reason(principal, found)
            resource_event(self, lid, rtype, _failed_status(handler), reason)
            self._add_stack_event(
                "UPDATE_ROLLBACK_IN_PROGRESS",
                resource_status_reason=f"The following resource(s) failed to {verb}: [{lid}]. ",
            )
            self._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
            self.status = "UPDATE_ROLLBACK_COMPLETE"
            # read by cloudformation/update.py's last_update_error, as a refused replacement is
            self._sb_update_error = reason
            return None
        # removed resources the principal may not delete: CloudFormation leaves them behind after the
        # update, so moto must not delete them either (it skips a resource it never created)
        parsed = self.resource_map._parsed_resources
        denied = []
        for w in work:
            if w[2] == handlers.DELETE:
                cleanup = handlers.first_missing(self.region_name, principal[1], [w], required)
                if cleanup is not None:
                    denied.append((cleanup, parsed.pop(w[0], None)))
        try:
            original_update(self, template, role_arn=role_arn, parameters=parameters, tags=tags)
        except Exception:
            for cleanup, resource in denied:
                if resource is not None:
                    parsed[cleanup[0]] = resource
            raise
        if denied and self.status == "UPDATE_COMPLETE":
            final = self.events.pop() if self.events else None
            for cleanup, _ in denied:
                resource_event(self, cleanup[0], cleanup[1], "DELETE_FAILED", _reason(principal, cleanup))
            if final is not None:
                self.events.append(final)
        return None

    Stack.create_resources = create_resources
    Stack.update = update


def install() -> None:
    from moto.cloudformation.models import Stack

    if getattr(Stack, "_sb_principal_handlers", False):
        return
    _patch_responses()
    _patch_models()
    Stack._sb_principal_handlers = True
