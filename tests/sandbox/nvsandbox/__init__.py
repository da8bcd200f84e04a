"""notebook-vend's local AWS: moto 5.2.5 in server mode, made stricter and completed where the tool
needs it. One sub-package per AWS service, plus core/ (the WSGI middleware with account isolation,
request log, faults and quotas; per-account settings; control endpoints).

    PYTHONPATH=tests/sandbox python -m nvsandbox --port N      (what scripts/sandbox.sh up runs)

`install()` applies every patch to moto, in the one order that works; the server calls it once before
serving. A module that fails to import or install stops the server: a sandbox missing one of its
rules would let a test pass that fails on AWS.
"""

from __future__ import annotations

from collections.abc import Callable


def _patches() -> list[tuple[str, Callable[[], None]]]:
    """The patches in the order they are applied.

    Several patches wrap the same moto attribute, and the later one wraps the earlier; the order
    decides which check runs first:
    - `Stack.update`: cloudformation.principal wraps moto's update first (the handlers a stack's own
      principal may not run fail the update before moto touches a resource), cloudformation.update
      wraps that (replacement of custom-named
      resources: a replacement AWS refuses is refused before any handler runs), then
      cloudformation.takeover wraps that (exports in use are refused before any replacement is
      considered, as AWS refuses such an update before touching resources).
    - `Stack.create_resources`: cloudformation.stacks (a failed resource rolls the creation back) is
      wrapped by cloudformation.principal, which fails the creation itself, before moto creates
      anything, when a handler is not allowed.
    - `Stack.outputs`: cloudformation.stacks (no outputs for a deleted or rolled-back stack) is
      wrapped by cloudformation.takeover (ExportName only on outputs that declare an Export), which
      relies on the first answering None.
    - Everything else patches attributes no other patch touches (IAM and SSM rules, failed
      creation, the Service Catalog API and resource types, SageMaker's notebook model, the
      CloudTrail hook, the set-state control); it all happens before the middleware is built and
      the first request is served, which is what iam.enforcement (moto's per-request authorization
      replaced) needs.
    Apart from the two chains above, the order is the one the sandbox ran in before it became a
    package (moto_fixes, strict_rules, iam_enforcement, servicecatalog, cfn_update, cfn_adopt_rules,
    cloudtrail, sagemaker, state_controls), kept so that no behaviour changed with the move.
    """
    from nvsandbox import awslambda, servicecatalog
    from nvsandbox.awslambda import cfn_resources, package_limits
    from nvsandbox.cloudformation import principal, stacks, takeover
    from nvsandbox.cloudformation import update as stack_update
    from nvsandbox.cloudtrail import lookup
    from nvsandbox.core import controls
    from nvsandbox.events import delivery
    from nvsandbox.iam import enforcement, names, resources
    from nvsandbox.sagemaker import notebooks, state_events
    from nvsandbox.scheduler import schedules
    from nvsandbox.ssm import parameters
    from nvsandbox.sts import presigned, session_tags

    return [
        ("ssm.parameters: DescribeParameters page size", parameters.patch_describe_parameters_page_size),
        ("iam.resources: inline policies as JSON", resources.patch_inline_policy_json),
        ("cloudformation.stacks: template URLs", stacks.patch_template_urls),
        ("iam.resources: deletes that detach", resources.patch_iam_delete),
        ("cloudformation.stacks: failed creation rolls back", stacks.patch_failed_creation),
        ("iam.names: role names", names.patch_iam_role_names),
        ("iam.names: managed policy names", names.patch_iam_policy_names),
        ("ssm.parameters: tiers and types", parameters.patch_ssm_tiers),
        ("iam.enforcement: per-account authorization", enforcement.install),
        ("servicecatalog: API and resource types", servicecatalog.install),
        ("cloudformation.stacks: no outputs for deleted stacks", stacks.patch_deleted_stack_outputs),
        ("cloudformation.principal: handler permissions of the caller or service role", principal.install),
        ("cloudformation.update: replacements", stack_update.install),
        ("cloudformation.takeover: exports in use, role and bucket updates", takeover.install),
        ("cloudtrail: LookupEvents", lookup.install),
        ("sagemaker: notebooks", notebooks.install),
        ("core.controls: set-state", controls.install),
        ("sts.session_tags: AssumeRole with Tags", session_tags.install),
        ("sts.presigned: presigned GetCallerIdentity", presigned.install),
        ("scheduler: strict rules, operation names, fire-schedule", schedules.install),
        ("awslambda.cfn_resources: Lambda::Url, Lambda::EventInvokeConfig", cfn_resources.install),
        ("awslambda.package_limits: deployment package sizes", package_limits.install),
        ("awslambda: functions run, asynchronous invocation, function URLs", awslambda.install),
        ("events.delivery: rules deliver to Lambda targets", delivery.install),
        ("sagemaker.state_events: the native state-change event, sent when a transition happens", state_events.install),
    ]


def install() -> list[str]:
    """Apply every patch, in order; the names of what was applied. Raises on the first failure."""
    applied = []
    for name, patch in _patches():
        patch()
        applied.append(name)
    return applied
