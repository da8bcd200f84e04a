"""EventBridge Scheduler made strict, and a control that fires a schedule.

moto 5.2.5 serves Scheduler's CRUD but checks almost nothing, and never runs a schedule. Rules the
sandbox adds (source next to each):
- Names of schedules and groups: 1..=64 characters of `[0-9a-zA-Z-_.]` (botocore `scheduler`: Name,
  ScheduleGroupName); ValidationException otherwise.
- CreateSchedule/UpdateSchedule into a group that does not exist: ResourceNotFoundException (botocore
  lists it for both; moto answers a 500 KeyError). ListSchedules of a missing group: the same.
- ScheduleExpression and ScheduleExpressionTimezone: expressions.py.
- FlexibleTimeWindow is required, Mode OFF | FLEXIBLE, MaximumWindowInMinutes 1..=1440 and only with
  FLEXIBLE (botocore: FlexibleTimeWindow required, FlexibleTimeWindowMode, MaximumWindowInMinutes).
- Target: Arn and RoleArn required; RoleArn matches `arn:aws[a-z-]*:iam::\\d{12}:role\\/[\\w+=,.@\\/-]+`
  (botocore RoleArn); the role must exist and trust scheduler.amazonaws.com ("The execution role you
  provide must allow AWS EventBridge Scheduler to assume the role", the ValidationException AWS answers,
  aws/aws-sdk-js-v3#6494). A universal target's Input must be JSON (Scheduler user guide, "Using
  universal targets": the input is the API's request parameters as JSON).
- CreateScheduleGroup of an existing name: ConflictException (botocore lists it; moto overwrote the
  group and lost its schedules). DeleteScheduleGroup: ResourceNotFoundException when absent; the
  `default` group cannot be deleted (worst case: ValidationException); it deletes the group's
  schedules ("Deleting a schedule group results in EventBridge Scheduler deleting all schedules
  associated with the group", DeleteScheduleGroup API reference) and its tags.

Operation names: Scheduler is a REST API, so the request log would name a request by method and path;
`operation()` names it as botocore does (http.method + requestUri of each operation).

Control `POST /_sandbox/fire-schedule {"account_id", "name", "group"?, "region"?}` runs a schedule now,
as Scheduler would: assume the target's RoleArn (it must exist and trust scheduler.amazonaws.com with
conditions met for aws:SourceAccount = the account and aws:SourceArn = the group's ARN), evaluate the
role's policies for the universal target's action on the resource the input names (IAM enforced
whatever the account's iam_enforced setting: Scheduler always acts as the role), then call the API.
Answers {"outcome": "invoked" | "AccessDenied" | <the API's error code>, ...}. Supported targets:
sagemaker startNotebookInstance / stopNotebookInstance (what notebook-vend schedules).
"""

from __future__ import annotations

import json
import re
from typing import Any

from nvsandbox.core import common
from nvsandbox.scheduler import expressions

_NAME_RE = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+$")
_UNIVERSAL_RE = re.compile(r"^arn:aws[a-z-]*:scheduler:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)$")

# botocore scheduler 2021-06-30: (http.method, requestUri) of each operation, most specific first.
_ROUTES = [
    ("POST", re.compile(r"^/schedules/[^/]+$"), "CreateSchedule"),
    ("GET", re.compile(r"^/schedules/[^/]+$"), "GetSchedule"),
    ("PUT", re.compile(r"^/schedules/[^/]+$"), "UpdateSchedule"),
    ("DELETE", re.compile(r"^/schedules/[^/]+$"), "DeleteSchedule"),
    ("GET", re.compile(r"^/schedules/?$"), "ListSchedules"),
    ("POST", re.compile(r"^/schedule-groups/[^/]+$"), "CreateScheduleGroup"),
    ("GET", re.compile(r"^/schedule-groups/[^/]+$"), "GetScheduleGroup"),
    ("DELETE", re.compile(r"^/schedule-groups/[^/]+$"), "DeleteScheduleGroup"),
    ("GET", re.compile(r"^/schedule-groups/?$"), "ListScheduleGroups"),
    ("POST", re.compile(r"^/tags/.+$"), "TagResource"),
    ("DELETE", re.compile(r"^/tags/.+$"), "UntagResource"),
    ("GET", re.compile(r"^/tags/.+$"), "ListTagsForResource"),
]


def operation(method: str, path: str) -> str | None:
    for m, pattern, name in _ROUTES:
        if m == method and pattern.match(path):
            return name
    return None


def _validation(message: str) -> Exception:
    from moto.scheduler.exceptions import ValidationException

    return ValidationException(message)


def _not_found(message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    e = JsonRESTError("ResourceNotFoundException", message)
    e.code = 404
    return e


def _conflict(message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    e = JsonRESTError("ConflictException", message)
    e.code = 409
    return e


def _check_name(name: str | None, what: str) -> None:
    if not name or not _NAME_RE.match(name):
        raise _validation(
            f"1 validation error detected: Value '{name}' at '{what}' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+ and length 1-64"
        )


def _role(account: str, role_arn: str) -> Any:
    from moto.iam.models import iam_backends

    name = role_arn.rsplit("/", 1)[-1]
    for partition in iam_backends[account]:
        for role in iam_backends[account][partition].roles.values():
            if role.name == name and role.arn == role_arn:
                return role
    return None


def _trusts_scheduler(role: Any, account: str, source_arn: str) -> bool:
    """Whether the role's trust policy lets scheduler.amazonaws.com assume it, with the context
    Scheduler sends (aws:SourceAccount, aws:SourceArn)."""
    from nvsandbox.iam import policy as iam_policy

    doc = role.assume_role_policy_document
    doc = json.loads(doc) if isinstance(doc, str) else doc
    context = {"aws:SourceAccount": account, "aws:SourceArn": source_arn}
    return iam_policy.service_may(iam_policy.statements(doc), "scheduler.amazonaws.com", "sts:AssumeRole", context)


def _check_schedule(backend: Any, kwargs: dict) -> None:
    _check_name(kwargs.get("name"), "name")
    group = kwargs.get("group_name") or "default"
    _check_name(group, "groupName")
    if group not in backend.schedule_groups:
        raise _not_found(f"Schedule group {group} does not exist.")
    error = expressions.expression_error(kwargs.get("schedule_expression"))
    error = error or expressions.timezone_error(kwargs.get("schedule_expression_timezone"))
    if error:
        raise _validation(error)
    window = kwargs.get("flexible_time_window")
    if not isinstance(window, dict) or window.get("Mode") not in ("OFF", "FLEXIBLE"):
        raise _validation("FlexibleTimeWindow with Mode OFF or FLEXIBLE is required")
    minutes = window.get("MaximumWindowInMinutes")
    if window["Mode"] == "FLEXIBLE" and not (isinstance(minutes, int) and 1 <= minutes <= 1440):
        raise _validation("MaximumWindowInMinutes must be 1-1440 with Mode FLEXIBLE")
    if window["Mode"] == "OFF" and minutes is not None:
        raise _validation("MaximumWindowInMinutes is only valid with Mode FLEXIBLE")
    target = kwargs.get("target")
    if not isinstance(target, dict) or not target.get("Arn") or not target.get("RoleArn"):
        raise _validation("Target.Arn and Target.RoleArn are required")
    role_arn = target["RoleArn"]
    if not _ROLE_ARN_RE.match(role_arn):
        raise _validation(f"Invalid RoleArn {role_arn}")
    role = _role(backend.account_id, role_arn)
    group_arn = backend.schedule_groups[group].arn
    if role is None or not _trusts_scheduler(role, backend.account_id, group_arn):
        raise _validation("The execution role you provide must allow AWS EventBridge Scheduler to assume the role.")
    if _UNIVERSAL_RE.match(target["Arn"]):
        try:
            json.loads(target.get("Input") or "")
        except ValueError:
            raise _validation("Input of a universal target must be JSON") from None


def install() -> None:
    from moto.scheduler.models import EventBridgeSchedulerBackend

    original_create = EventBridgeSchedulerBackend.create_schedule
    original_update = EventBridgeSchedulerBackend.update_schedule
    original_list = EventBridgeSchedulerBackend.list_schedules
    original_create_group = EventBridgeSchedulerBackend.create_schedule_group
    original_get_group = EventBridgeSchedulerBackend.get_schedule_group

    def create_schedule(self, **kwargs):
        _check_schedule(self, kwargs)
        return original_create(self, **kwargs)

    def update_schedule(self, **kwargs):
        _check_schedule(self, kwargs)
        return original_update(self, **kwargs)

    def list_schedules(self, group_names=None, state=None, name_prefix=None, **kwargs):
        for group in group_names or []:
            if group not in self.schedule_groups:
                raise _not_found(f"Schedule group {group} does not exist.")
        return original_list(self, group_names, state, name_prefix, **kwargs)

    def create_schedule_group(self, name, tags):
        _check_name(name, "name")
        if name in self.schedule_groups:
            raise _conflict(f"Schedule group {name} already exists.")
        return original_create_group(self, name, tags or [])

    def get_schedule_group(self, group_name):
        _check_name(group_name or "default", "name")
        return original_get_group(self, group_name)

    def delete_schedule_group(self, name):
        _check_name(name, "name")
        if name == "default":
            raise _validation("The default schedule group cannot be deleted")
        if name not in self.schedule_groups:
            raise _not_found(f"Schedule group {name} does not exist.")
        group = self.schedule_groups.pop(name)
        group.schedules.clear()
        self.tagger.delete_all_tags_for_resource(group.arn)

    EventBridgeSchedulerBackend.create_schedule = create_schedule
    EventBridgeSchedulerBackend.update_schedule = update_schedule
    EventBridgeSchedulerBackend.list_schedules = list_schedules
    EventBridgeSchedulerBackend.create_schedule_group = create_schedule_group
    EventBridgeSchedulerBackend.get_schedule_group = get_schedule_group
    EventBridgeSchedulerBackend.delete_schedule_group = delete_schedule_group
    common.REST_OPERATIONS["scheduler"] = operation
    common.control("fire-schedule")(_fire)


def _role_documents(role: Any) -> list[Any]:
    """The role's identity policies: inline documents and attached managed policies' default versions."""
    docs: list[Any] = list((role.policies or {}).values())
    for pol in getattr(role, "managed_policies", {}).values():
        version = next((v for v in pol.versions if v.is_default), None)
        docs.append(version.document if version is not None else pol.document)
    return [json.loads(d) if isinstance(d, str) else d for d in docs if d]


def _fire(body: dict) -> tuple[int, Any]:
    from moto.scheduler.models import scheduler_backends

    from nvsandbox.iam import policy as iam_policy

    account = str(body.get("account_id") or common.DEFAULT_ACCOUNT)
    region = body.get("region") or "us-east-1"
    group_name = body.get("group") or "default"
    name = body.get("name")
    backend = scheduler_backends[account][region]
    group = backend.schedule_groups.get(group_name)
    schedule = group.schedules.get(name) if group else None
    if schedule is None:
        return 404, {"error": f"no schedule {group_name}/{name} in account {account} {region}"}
    target = schedule.target
    role = _role(account, target.get("RoleArn", ""))
    if role is None or not _trusts_scheduler(role, account, group.arn):
        return 200, {"outcome": "AccessDenied", "reason": "Scheduler cannot assume the execution role"}
    m = _UNIVERSAL_RE.match(target.get("Arn", ""))
    if not m or m.group(1) != "sagemaker" or m.group(2) not in ("startNotebookInstance", "stopNotebookInstance"):
        return 400, {"error": f"the sandbox fires sagemaker start/stopNotebookInstance only, not {target.get('Arn')}"}
    operation_name = m.group(2)[0].upper() + m.group(2)[1:]
    params = json.loads(target.get("Input") or "{}")
    notebook = str(params.get("NotebookInstanceName", ""))
    action = f"sagemaker:{operation_name}"
    docs = _role_documents(role)
    context = {"aws:PrincipalArn": role.arn, "aws:PrincipalAccount": account, "aws:RequestedRegion": region}
    # Both spellings of the notebook's ARN must be allowed (iam/enforcement.py named_resources).
    for resource in sorted(
        {f"arn:aws:sagemaker:{region}:{account}:notebook-instance/{n}" for n in (notebook, notebook.lower())}
    ):
        if iam_policy.evaluate(docs, action, resource, context)[0] != iam_policy.ALLOW:
            return 200, {"outcome": "AccessDenied", "action": action, "resource": resource}
    from moto.sagemaker.models import sagemaker_backends

    sagemaker = sagemaker_backends[account][region]
    try:
        if operation_name == "StartNotebookInstance":
            sagemaker.start_notebook_instance(notebook)
        else:
            sagemaker.stop_notebook_instance(notebook)
    except Exception as e:  # noqa: BLE001  (the API's error, as Scheduler would record it)
        code = getattr(e, "error_type", None) or type(e).__name__
        return 200, {"outcome": code, "message": str(e)}
    common.log_event(account, "schedule", f"{group_name}/{name}", f"fired {operation_name} {notebook}")
    return 200, {"outcome": "invoked", "action": action, "notebook": notebook}
