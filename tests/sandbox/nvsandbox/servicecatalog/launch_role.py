"""The launch role of a Service Catalog product, checked as AWS uses it (moto does not check it at all).

When Service Catalog provisions, updates or terminates a product with a launch constraint, it
assumes the launch role and CloudFormation works with that role's credentials. Sources:

- AWS Service Catalog admin guide, "AWS Service Catalog launch constraints" (constraints-launch.html):
  the launch role needs AWS CloudFormation, the services in the product's template, and "read access
  to the AWS CloudFormation template in a service-owned Amazon S3 bucket" (s3:GetObject on objects
  tagged servicecatalog:provisioning=true), and a trust relationship with AWS Service Catalog.
- The CloudFormation resource provider schemas, `handlers.create/update/delete.permissions`: the
  IAM actions each resource type's handler needs ("the permissions required" for the handler;
  CloudFormation CLI, resource type schema). cfn-lint ships the schemas it validates with
  (cfnlint/data/schemas/providers/<region>.json -> resources/<hash>.json), so the sandbox reads them
  there for the request's Region (cloudformation/handlers.py, shared with the check of a stack
  operation's own principal, cloudformation/principal.py).

Checks, in order; the first missing permission fails the record (status FAILED, RecordErrors with
code AccessDenied and AWS's "is not authorized to perform" sentence naming the action):
  1. trust policy lets servicecatalog.amazonaws.com assume the role (sts:AssumeRole);
  2. cloudformation:CreateStack / UpdateStack / DeleteStack on the product's stack;
  3. provision and update: s3:GetObject on Service Catalog's copy of the template, with the object
     tag servicecatalog:provisioning=true in the request context;
  4. the handler permissions of every resource the operation touches (cloudformation/handlers.py,
     with its sources): create for a new resource, update for a resource whose definition (not only
     its Metadata) or the stack's parameters changed, delete for a removed one (terminate: delete
     for all), none for a resource kept by its DeletionPolicy.

What the sandbox cannot decide: a handler's call has a resource ARN and a request context the schema
does not give. For (4) an Allow counts when its action matches (whatever its Resource and
Condition), and a Deny when it names every resource without a condition (handlers.py). (1)-(3) are
evaluated in full, conditions included (iam/policy.py).
"""

from __future__ import annotations

from typing import Any

from nvsandbox.cloudformation import handlers
from nvsandbox.iam import policy as iam_policy

SC_TEMPLATE_BUCKET = "sc-templates-{account}-{region}"
PROVISIONING_TAG = {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}


def handler_permissions(region: str, resource_type: str, handler: str) -> tuple[str, ...]:
    """`handlers.<handler>.permissions` of a resource type's schema (cloudformation/handlers.py)."""
    return handlers.handler_permissions(region, resource_type, handler)


def role_documents(account: str, role_arn: str) -> tuple[Any, list[Any]] | None:
    """(trust policy, identity policies) of a role in moto's IAM, or None when there is no such role."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    role = next((r for r in backend.roles.values() if r.arn == role_arn), None)
    if role is None:
        return None
    docs: list[Any] = list(role.policies.values())
    for policy in role.managed_policies.values():
        version = next((v for v in policy.versions if v.is_default), None)
        docs.append(version.document if version is not None else policy.document)
    return role.assume_role_policy_document, docs


def _trusts_service_catalog(trust: Any) -> bool:
    for st in iam_policy.statements(trust):
        if st.get("Effect") != "Allow" or not iam_policy.action_matches(
            iam_policy._as_list(st.get("Action")), "sts:AssumeRole"
        ):
            continue
        principal = st.get("Principal") or {}
        services = iam_policy._as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if "servicecatalog.amazonaws.com" in services or principal == "*":
            return True
    return False


def _denied(session_arn: str, action: str, resource: str | None, why: str = "") -> str:
    on = f" on resource: {resource}" if resource else ""
    reason = why or f"because no identity-based policy allows the {action} action"
    return f"User: {session_arn} is not authorized to perform: {action}{on} {reason}"


def check(
    account: str,
    region: str,
    role_arn: str | None,
    operation: str,
    *,
    stack_name: str,
    new_template: dict | None = None,
    old_template: dict | None = None,
    params_changed: bool = True,
    template_key: str = "template",
) -> str | None:
    """The first AWS AccessDenied description for this launch, or None when the role may do it.

    operation: PROVISION_PRODUCT | UPDATE_PROVISIONED_PRODUCT | TERMINATE_PROVISIONED_PRODUCT."""
    if not role_arn:
        return None  # no launch constraint: the end user's own credentials (not modelled)
    found = role_documents(account, role_arn)
    role_name = role_arn.rsplit("/", 1)[-1]
    session = f"arn:aws:sts::{account}:assumed-role/{role_name}/servicecatalog"
    if found is None:
        return f"Unable to assume the launch role {role_arn}: the role does not exist"
    trust, policies = found
    if not _trusts_service_catalog(trust):
        return (
            f"User: arn:aws:iam::{account}:root is not authorized to perform: sts:AssumeRole on resource: "
            f"{role_arn}: the role's trust policy does not allow servicecatalog.amazonaws.com"
        )

    def missing(action: str, resource: str | None, context: dict | None = None, conditions: bool = True):
        decision, st = iam_policy.evaluate(policies, action, resource, context, conditions=conditions)
        if decision == iam_policy.ALLOW:
            return None
        why = "with an explicit deny in an identity-based policy" if decision == iam_policy.DENY else ""
        return _denied(session, action, resource, why)

    stack_arn = f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/*"
    cfn_action = {
        "PROVISION_PRODUCT": "cloudformation:CreateStack",
        "UPDATE_PROVISIONED_PRODUCT": "cloudformation:UpdateStack",
        "TERMINATE_PROVISIONED_PRODUCT": "cloudformation:DeleteStack",
    }[operation]
    err = missing(cfn_action, stack_arn.replace("/*", "/00000000-0000-0000-0000-000000000000"))
    if err:
        return err
    if operation != "TERMINATE_PROVISIONED_PRODUCT":
        obj = f"arn:aws:s3:::{SC_TEMPLATE_BUCKET.format(account=account, region=region)}/{template_key}"
        err = missing("s3:GetObject", obj, dict(PROVISIONING_TAG))
        if err:
            return err

    op = {"PROVISION_PRODUCT": handlers.CREATE, "UPDATE_PROVISIONED_PRODUCT": handlers.UPDATE}.get(
        operation, handlers.DELETE
    )
    work = handlers.touched(region, op, new_template, old_template, params_changed=params_changed)
    found = handlers.first_missing(region, policies, work)
    if found:
        lid, rtype, handler, action, decision = found
        why = "with an explicit deny in an identity-based policy" if decision == iam_policy.DENY else ""
        return f"Resource {lid} ({rtype}), {handler} handler: {_denied(session, action, None, why)}"
    return None
