"""SageMaker notebook instances as AWS runs them, on top of moto 5.2.5 (see shared/reference.md).

What moto 5.2.5 lacks or gets wrong, and what `install()` patches:

- moto makes a notebook InService at once and Stop/Start instantaneous. Here every notebook follows
  AWS's state machine with real durations (`setting(account, "pending_seconds")`, default 2 s):
      create/start:  Pending -> InService  (or Failed, see the `fail-notebook` control endpoint)
      stop:          InService -> Stopping -> Stopped
      update:        Stopped/Failed -> Updating -> Stopped
      delete:        Stopped/Failed -> Deleting -> (gone: DescribeNotebookInstance answers RecordNotFound)
  States are computed lazily from timestamps on every read (no timer threads); each transition is
  written to events.log (`<epoch> <account> notebook <name> <status>`, plus `Deleted` when it is gone)
  with the epoch of the transition itself, at its first observation. LastModifiedTime follows each
  transition. A request a state does not allow answers AWS's ValidationException, e.g.
  `Status (Stopped) not in ([InService]). Unable to transition to (Stopping) for Notebook Instance (arn).`
- CreatePresignedNotebookInstanceUrl and UpdateNotebookInstance are missing in moto: added.
- The notebook ARN is lower-cased as on AWS (`.../notebook-instance/demo-user-notebook`), and so is the
  host name in `Url` and in presigned URLs; names themselves keep their case.
- CloudFormation `AWS::SageMaker::NotebookInstance`: moto ignores NotebookInstanceName,
  LifecycleConfigName, Tags and most other properties; here all of them are honoured, the
  `aws:cloudformation:*` tags and the stack's tags are propagated as CloudFormation does, and deleting
  the stack removes the notebook whatever its state (moto's stop-then-delete would fail the delete now
  that stopping takes time). `AWS::SageMaker::NotebookInstanceLifecycleConfig` honours its
  NotebookInstanceLifecycleConfigName (Ref = ARN, GetAtt NotebookInstanceLifecycleConfigName).
- Control endpoint `/_sandbox/fail-notebook` `{"account_id", "name", "reason"}`: a Pending notebook of
  that name ends Failed (FailureReason = reason) instead of InService; if none is Pending, the next
  create/start of that name does.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from nvsandbox.core import common

NOTEBOOK_KIND = "notebook"
MIN_SESSION, MAX_SESSION, DEFAULT_SESSION = 1800, 43200, 43200
URL_VALIDITY_SECONDS = 300  # a presigned URL works for 5 minutes

_lock = threading.RLock()
# (account, notebook name) -> failure reason for the next Pending -> InService of that notebook
_fail_marks: dict[tuple[str, str], str] = {}
_installed = False


# --------------------------------------------------------------------------------------------------
# helpers


def _utc(epoch: float) -> datetime:
    # moto keeps naive UTC datetimes (moto.core.utils.utcnow)
    return datetime.fromtimestamp(epoch, tz=UTC).replace(tzinfo=None)


def _account_of(nb: Any) -> str:
    return nb.arn.split(":")[4]


def _pending_seconds(account: str) -> float:
    try:
        return max(0.0, float(common.setting(account, "pending_seconds")))
    except Exception:  # noqa: BLE001
        return 2.0


def _validation_error(message: str) -> Exception:
    from moto.sagemaker.exceptions import ValidationError

    return ValidationError(message=message)


def _transition_error(nb: Any, allowed: list[str], target: str) -> Exception:
    return _validation_error(
        f"Status ({nb.status}) not in ([{', '.join(allowed)}]). "
        f"Unable to transition to ({target}) for Notebook Instance ({nb.arn})."
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --------------------------------------------------------------------------------------------------
# the state machine, on moto's FakeSagemakerNotebookInstance


def _st(nb: Any) -> dict:
    """Sandbox state of one notebook (created on first use)."""
    st = nb.__dict__.get("_sb")
    if st is None:
        st = {"status": "Pending", "plan": [], "failure_reason": None, "gone": False, "logged": set()}
        nb.__dict__["_sb"] = st
    return st


def _enter(nb: Any, status: str, at: float, failure_reason: str | None = None) -> None:
    """Move to `status` at epoch `at` (now or in the past) and log it."""
    st = _st(nb)
    if status == "Deleted":
        st["gone"] = True
    else:
        st["status"] = status
        if status == "Failed":
            st["failure_reason"] = failure_reason or "Notebook instance failed to start."
        elif status in ("Pending", "Updating"):
            st["failure_reason"] = None
    nb.last_modified_time = _utc(at)
    try:
        common.log_event(_account_of(nb), NOTEBOOK_KIND, nb.notebook_instance_name, status, at=at)
    except Exception:  # noqa: BLE001  (the log must never break an API call)
        pass


def _advance(nb: Any, now: float | None = None) -> None:
    """Apply every planned transition whose time has come, each with its own timestamp."""
    with _lock:
        st = _st(nb)
        now = time.time() if now is None else now
        while st["plan"] and st["plan"][0][0] <= now:
            at, status, reason = st["plan"].pop(0)
            _enter(nb, status, at, reason)


def _schedule(nb: Any, first: str, then: str, reason: str | None = None) -> None:
    """Enter `first` now, reach `then` after pending_seconds."""
    with _lock:
        now = time.time()
        st = _st(nb)
        st["plan"] = []
        _enter(nb, first, now)
        st["plan"] = [(now + _pending_seconds(_account_of(nb)), then, reason)]
        _advance(nb, now)  # pending_seconds may be 0


def _status_get(self: Any) -> str:
    _advance(self)
    return _st(self)["status"]


def _status_set(self: Any, value: str) -> None:
    # moto's __init__ writes "Pending" before calling start(); keep it silent
    _st(self)["status"] = value


# A notebook runs as its execution role: SageMaker assumes it as sagemaker.amazonaws.com. SageMaker's
# "Cross-service confused deputy prevention" page lists the features that send aws:SourceAccount /
# aws:SourceArn, and notebook instances are not among them: the worst case for the tool is played,
# the keys are absent when a notebook assumes its role, so a trust policy that requires them leaves
# the notebook without credentials (here: it ends Failed, saying why). Only a role the account's IAM
# holds is checked (sandbox tests also name made-up role ARNs).
NOTEBOOK_ASSUME_CONTEXT = {"aws:PrincipalServiceName": "sagemaker.amazonaws.com"}


def untrusted_role_reason(account: str, role_arn: str | None) -> str | None:
    """Why SageMaker could not assume `role_arn` for a notebook, or None when it can (or is unknown)."""
    from moto.iam.models import iam_backends

    from nvsandbox.iam import policy as iam_policy

    name = (role_arn or "").rsplit("/", 1)[-1]
    try:
        role = iam_backends[account]["global"].get_role(name)
    except Exception:  # noqa: BLE001  (not a role of this account: not checked)
        return None
    trusts = False
    for st in iam_policy.statements(role.assume_role_policy_document):
        principal = st.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else None
        if not (principal == "*" or "sagemaker.amazonaws.com" in iam_policy._as_list(services)):
            continue
        if not iam_policy.action_matches(iam_policy._as_list(st.get("Action")), "sts:AssumeRole"):
            continue
        try:
            applies = iam_policy.conditions_match(st.get("Condition"), NOTEBOOK_ASSUME_CONTEXT)
        except iam_policy.Undecidable:
            applies = st.get("Effect") == "Deny"
        if applies and st.get("Effect") == "Deny":
            return f"The trust policy of {role_arn} denies sts:AssumeRole to sagemaker.amazonaws.com."
        trusts = trusts or (applies and st.get("Effect") == "Allow")
    if trusts:
        return None
    return (
        f"SageMaker could not assume the execution role {role_arn}: its trust policy does not allow "
        "sts:AssumeRole by sagemaker.amazonaws.com for this request (a condition on a key SageMaker does "
        "not send, such as aws:SourceAccount, never matches)."
    )


def _nb_start(self: Any) -> None:
    """Pending now, InService (or Failed if marked, or if SageMaker cannot assume the notebook's role)
    after pending_seconds. Validation is the backend's."""
    with _lock:
        reason = _fail_marks.pop((_account_of(self), self.notebook_instance_name), None)
        reason = reason or untrusted_role_reason(_account_of(self), getattr(self, "role_arn", None))
        _schedule(self, "Pending", "Failed" if reason is not None else "InService", reason)


def _nb_stop(self: Any) -> None:
    _schedule(self, "Stopping", "Stopped")


def _wrap_init(original):
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.arn = self.arn.lower()
        self.platform_identifier = None
        self.instance_metadata_service_configuration = None
        self.network_interface_id = "eni-" + uuid.uuid4().hex[:17] if getattr(self, "subnet_id", None) else None

    return __init__


def _nb_url(self: Any) -> str:
    return f"{self.notebook_instance_name.lower()}.notebook.{self.region_name}.sagemaker.aws"


def _wrap_to_dict(original):
    def to_dict(self):
        d = original(self)
        st = _st(self)
        d["NotebookInstanceStatus"] = self.status
        d["LastModifiedTime"] = self.last_modified_time
        if d["NotebookInstanceStatus"] == "Failed" and st["failure_reason"]:
            d["FailureReason"] = st["failure_reason"]
        if getattr(self, "network_interface_id", None):
            d["NetworkInterfaceId"] = self.network_interface_id
        if getattr(self, "platform_identifier", None):
            d["PlatformIdentifier"] = self.platform_identifier
        if getattr(self, "instance_metadata_service_configuration", None):
            d["InstanceMetadataServiceConfiguration"] = self.instance_metadata_service_configuration
        return {k: v for k, v in d.items() if v is not None}

    return to_dict


# --------------------------------------------------------------------------------------------------
# backend (SageMakerModelBackend)


def _sweep(backend: Any) -> None:
    """Advance every notebook of one backend; drop those whose deletion has completed."""
    with _lock:
        for name, nb in list(backend.notebook_instances.items()):
            _advance(nb)
            if _st(nb)["gone"]:
                del backend.notebook_instances[name]


def _find(backend: Any, name: str) -> Any:
    _sweep(backend)
    nb = backend.notebook_instances.get(name)
    if nb is None:
        raise _validation_error("RecordNotFound")
    return nb


def _patch_backend(backend_cls: Any) -> None:
    orig_create = backend_cls.create_notebook_instance
    orig_list = backend_cls.list_notebook_instances
    orig_from_arn = backend_cls._get_resource_from_arn

    def create_notebook_instance(self, *args, **kwargs):
        _sweep(self)  # a notebook whose deletion completed no longer blocks its name
        with _lock:
            return orig_create(self, *args, **kwargs)

    def get_notebook_instance(self, notebook_instance_name):
        return _find(self, notebook_instance_name)

    def start_notebook_instance(self, notebook_instance_name):
        with _lock:
            nb = _find(self, notebook_instance_name)
            if nb.status not in ("Stopped", "Failed"):
                raise _transition_error(nb, ["Stopped", "Failed"], "Pending")
            nb.start()

    def stop_notebook_instance(self, notebook_instance_name):
        with _lock:
            nb = _find(self, notebook_instance_name)
            if nb.status != "InService":
                raise _transition_error(nb, ["InService"], "Stopping")
            nb.stop()

    def delete_notebook_instance(self, notebook_instance_name):
        with _lock:
            nb = _find(self, notebook_instance_name)
            if nb.status not in ("Stopped", "Failed"):
                raise _transition_error(nb, ["Stopped", "Failed"], "Deleting")
            _schedule(nb, "Deleting", "Deleted")
            _sweep(self)

    def list_notebook_instances(self, *args, **kwargs):
        _sweep(self)
        return orig_list(self, *args, **kwargs)

    def update_notebook_instance(self, name: str, params: dict) -> None:
        with _lock:
            nb = _find(self, name)
            if nb.status not in ("Stopped", "Failed"):
                raise _transition_error(nb, ["Stopped", "Failed"], "Updating")
            if params.get("InstanceType"):
                nb.validate_instance_type(params["InstanceType"])
            if params.get("VolumeSizeInGB") is not None:
                size = int(params["VolumeSizeInGB"])
                nb.validate_volume_size_in_gb(size)
                if size < (nb.volume_size_in_gb or 5):
                    raise _validation_error(
                        f"Invalid VolumeSizeInGB: {size}. VolumeSizeInGB can only be increased; "
                        f"current size is {nb.volume_size_in_gb}."
                    )
            lifecycle = params.get("LifecycleConfigName")
            if lifecycle and lifecycle not in self.notebook_instance_lifecycle_configurations:
                raise _validation_error(
                    f"Unable to describe Notebook Instance Lifecycle Config '{_lcc_arn(self, lifecycle)}'. "
                    "(Details: Notebook Instance Lifecycle Config does not exist.)"
                )
            simple = {
                "InstanceType": "instance_type",
                "RoleArn": "role_arn",
                "LifecycleConfigName": "lifecycle_config_name",
                "VolumeSizeInGB": "volume_size_in_gb",
                "DefaultCodeRepository": "default_code_repository",
                "AdditionalCodeRepositories": "additional_code_repositories",
                "AcceleratorTypes": "accelerator_types",
                "RootAccess": "root_access",
                "InstanceMetadataServiceConfiguration": "instance_metadata_service_configuration",
                "PlatformIdentifier": "platform_identifier",
            }
            for key, attr in simple.items():
                if params.get(key) is not None:
                    value = params[key]
                    setattr(nb, attr, int(value) if key == "VolumeSizeInGB" else value)
            for flag, attr in (
                ("DisassociateLifecycleConfig", "lifecycle_config_name"),
                ("DisassociateAcceleratorTypes", "accelerator_types"),
                ("DisassociateDefaultCodeRepository", "default_code_repository"),
                ("DisassociateAdditionalCodeRepositories", "additional_code_repositories"),
            ):
                if params.get(flag):
                    setattr(nb, attr, None)
            _schedule(nb, "Updating", "Stopped")

    def create_presigned_notebook_instance_url(self, name: str, session_seconds: Any) -> str:
        if session_seconds is None:
            session_seconds = DEFAULT_SESSION
        try:
            session_seconds = int(session_seconds)
        except (TypeError, ValueError):
            raise _validation_error(
                f"1 validation error detected: Value '{session_seconds}' at "
                "'sessionExpirationDurationInSeconds' failed to satisfy constraint: Member must be an integer"
            ) from None
        if session_seconds < MIN_SESSION:
            raise _validation_error(
                f"1 validation error detected: Value '{session_seconds}' at "
                "'sessionExpirationDurationInSeconds' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {MIN_SESSION}"
            )
        if session_seconds > MAX_SESSION:
            raise _validation_error(
                f"1 validation error detected: Value '{session_seconds}' at "
                "'sessionExpirationDurationInSeconds' failed to satisfy constraint: "
                f"Member must have value less than or equal to {MAX_SESSION}"
            )
        nb = _find(self, name)
        status = nb.status
        # AWS documents no state precondition for this call: by default (presign_any_state=1) the
        # sandbox presigns in any state, the worst case for a tool that would take a URL as proof
        # the notebook runs. presign_any_state=0 restores the refusal below.
        if status != "InService" and not common.setting(_account_of(nb), "presign_any_state"):
            raise _validation_error(
                f"Status ({status}) not in ([InService]). Unable to create a presigned URL for "
                f"Notebook Instance ({nb.arn})."
            )
        return f"https://{nb.url}?authToken={_token(nb, session_seconds)}"

    def _get_resource_from_arn(self, arn):
        try:
            kind, name = arn.split(":")[-1].split("/", 1)
        except ValueError:
            return orig_from_arn(self, arn)
        if kind == "notebook-instance":
            _sweep(self)
            for nb in self.notebook_instances.values():
                if nb.arn == arn.lower() or nb.notebook_instance_name.lower() == name.lower():
                    return nb
            raise _validation_error(f"Could not find notebook-instance with name {name}")
        return orig_from_arn(self, arn)

    backend_cls.create_notebook_instance = create_notebook_instance
    backend_cls.get_notebook_instance = get_notebook_instance
    backend_cls.start_notebook_instance = start_notebook_instance
    backend_cls.stop_notebook_instance = stop_notebook_instance
    backend_cls.delete_notebook_instance = delete_notebook_instance
    backend_cls.list_notebook_instances = list_notebook_instances
    backend_cls.update_notebook_instance = update_notebook_instance
    backend_cls.create_presigned_notebook_instance_url = create_presigned_notebook_instance_url
    backend_cls._get_resource_from_arn = _get_resource_from_arn


def _lcc_arn(backend: Any, name: str) -> str:
    from moto.sagemaker.models import FakeSageMakerNotebookInstanceLifecycleConfig as L

    return L.arn_formatter(name, backend.account_id, backend.region_name)


def _token(nb: Any, session_seconds: int) -> str:
    """A JWT-shaped authToken: base64url(header).base64url(payload).base64url(random signature).

    AWS's tokens carry an encrypted credential blob and are well over 1,500 characters; so are these."""
    now = int(time.time())
    account = _account_of(nb)
    header = {"alg": "HS256", "typ": "JWT", "kid": str(uuid.uuid4())}
    payload = {
        "iss": "sagemaker.amazonaws.com",
        "aud": nb.url,
        "sub": f"arn:aws:sts::{account}:assumed-role/sandbox/caller",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + URL_VALIDITY_SECONDS,
        "accountId": account,
        "region": nb.region_name,
        "notebookInstanceName": nb.notebook_instance_name,
        "notebookInstanceArn": nb.arn,
        "sessionExpirationDurationInSeconds": session_seconds,
        "sessionExpiresAt": now + session_seconds,
        # stands for the encrypted credentials of the real token
        "faasCredentials": _b64url(os.urandom(900)),
    }
    parts = [
        _b64url(json.dumps(header, separators=(",", ":")).encode()),
        _b64url(json.dumps(payload, separators=(",", ":")).encode()),
        _b64url(os.urandom(32)),
    ]
    return ".".join(parts)


# --------------------------------------------------------------------------------------------------
# responses (SageMakerResponse): the two missing operations


def _patch_responses(resp_cls: Any) -> None:
    from moto.core.responses import ActionResult, EmptyResult

    orig_create = resp_cls.create_notebook_instance

    def create_notebook_instance(self):
        result = orig_create(self)
        extra = {
            "platform_identifier": self._get_param("PlatformIdentifier"),
            "instance_metadata_service_configuration": self._get_param("InstanceMetadataServiceConfiguration"),
        }
        if any(v is not None for v in extra.values()):
            nb = self.sagemaker_backend.notebook_instances.get(self._get_param("NotebookInstanceName"))
            if nb is not None:
                for k, v in extra.items():
                    if v is not None:
                        setattr(nb, k, v)
        return result

    def create_presigned_notebook_instance_url(self):
        url = self.sagemaker_backend.create_presigned_notebook_instance_url(
            self._get_param("NotebookInstanceName"),
            self._get_param("SessionExpirationDurationInSeconds"),
        )
        return ActionResult({"AuthorizedUrl": url})

    def update_notebook_instance(self):
        params = {k: self._get_param(k) for k in _UPDATE_KEYS}
        self.sagemaker_backend.update_notebook_instance(self._get_param("NotebookInstanceName"), params)
        return EmptyResult()

    resp_cls.create_notebook_instance = create_notebook_instance
    resp_cls.create_presigned_notebook_instance_url = create_presigned_notebook_instance_url
    resp_cls.update_notebook_instance = update_notebook_instance


_UPDATE_KEYS = (
    "InstanceType",
    "RoleArn",
    "LifecycleConfigName",
    "DisassociateLifecycleConfig",
    "VolumeSizeInGB",
    "DefaultCodeRepository",
    "AdditionalCodeRepositories",
    "AcceleratorTypes",
    "DisassociateAcceleratorTypes",
    "DisassociateDefaultCodeRepository",
    "DisassociateAdditionalCodeRepositories",
    "RootAccess",
    "InstanceMetadataServiceConfiguration",
    "PlatformIdentifier",
)


# --------------------------------------------------------------------------------------------------
# CloudFormation


_REPLACEMENT_PROPS = (
    "NotebookInstanceName",
    "SubnetId",
    "SecurityGroupIds",
    "KmsKeyId",
    "DirectInternetAccess",
    "PlatformIdentifier",
)


def _cfn_tags(props: dict, account_id: str, region_name: str, kwargs: dict, physical_name: str) -> list:
    tags: list[dict[str, str]] = []
    stack_id = kwargs.get("StackId")
    logical_id = kwargs.get("LogicalId")
    stack = None
    if stack_id:
        try:
            from moto.cloudformation.models import cloudformation_backends

            stack = cloudformation_backends[account_id][region_name].stacks.get(stack_id)
        except Exception:  # noqa: BLE001
            stack = None
    if stack is not None:
        stack_tags = getattr(stack, "tags", None) or {}
        if isinstance(stack_tags, dict):
            tags += [{"Key": k, "Value": str(v)} for k, v in stack_tags.items()]
        else:
            tags += [{"Key": t["Key"], "Value": t["Value"]} for t in stack_tags]
        tags += [
            {"Key": "aws:cloudformation:stack-name", "Value": stack.name},
            {"Key": "aws:cloudformation:stack-id", "Value": stack_id},
        ]
        if logical_id:
            tags.append({"Key": "aws:cloudformation:logical-id", "Value": logical_id})
    own = [{"Key": t["Key"], "Value": str(t.get("Value", ""))} for t in (props.get("Tags") or [])]
    keys = {t["Key"] for t in own}
    return [t for t in tags if t["Key"] not in keys] + own


def _as_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _patch_cloudformation(nb_cls: Any, lcc_cls: Any) -> None:
    from moto.sagemaker.models import sagemaker_backends

    def nb_name_type() -> str:
        return "NotebookInstanceName"

    @classmethod
    def nb_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json.get("Properties", {})
        backend = sagemaker_backends[account_id][region_name]
        name = props.get("NotebookInstanceName") or _generated_name(resource_name)
        nb = backend.create_notebook_instance(
            notebook_instance_name=name,
            instance_type=props["InstanceType"],
            role_arn=props["RoleArn"],
            subnet_id=props.get("SubnetId"),
            security_group_ids=props.get("SecurityGroupIds"),
            kms_key_id=props.get("KmsKeyId"),
            tags=_cfn_tags(props, account_id, region_name, kwargs, name),
            lifecycle_config_name=props.get("LifecycleConfigName"),
            direct_internet_access=props.get("DirectInternetAccess"),
            volume_size_in_gb=_as_int(props.get("VolumeSizeInGB")),
            accelerator_types=props.get("AcceleratorTypes"),
            default_code_repository=props.get("DefaultCodeRepository"),
            additional_code_repositories=props.get("AdditionalCodeRepositories"),
            root_access=props.get("RootAccess"),
        )
        nb.platform_identifier = props.get("PlatformIdentifier")
        nb.instance_metadata_service_configuration = props.get("InstanceMetadataServiceConfiguration")
        nb._sb_cfn = {"props": json.loads(json.dumps(props, default=str)), "kwargs": dict(kwargs)}
        return nb

    @classmethod
    def nb_delete(cls, resource_name, cloudformation_json, account_id, region_name):
        # resource_name is the physical id (the ARN); AWS stops the notebook first if needed, then
        # deletes it; the sandbox removes it at once whatever its state.
        backend = sagemaker_backends[account_id][region_name]
        with _lock:
            _sweep(backend)
            for name, nb in list(backend.notebook_instances.items()):
                if nb.arn == resource_name.lower() or name == resource_name.split("/")[-1]:
                    now = time.time()
                    _st(nb)["plan"] = []
                    if nb.status == "InService":
                        _enter(nb, "Stopping", now)
                        _enter(nb, "Stopped", now)
                    if nb.status not in ("Deleting",):
                        _enter(nb, "Deleting", now)
                    _enter(nb, "Deleted", now)
                    del backend.notebook_instances[name]

    @classmethod
    def nb_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        props = cloudformation_json.get("Properties", {})
        old = getattr(original_resource, "_sb_cfn", {"props": {}, "kwargs": {}})
        old_props = old["props"]
        new_name = props.get("NotebookInstanceName") or original_resource.notebook_instance_name
        replace = new_name != original_resource.notebook_instance_name or any(
            json.dumps(props.get(k), default=str) != json.dumps(old_props.get(k), default=str)
            for k in _REPLACEMENT_PROPS[1:]
        )
        if replace:
            new = cls.create_from_cloudformation_json(
                new_name if props.get("NotebookInstanceName") else new_resource_name,
                cloudformation_json,
                account_id,
                region_name,
                **old["kwargs"],
            )
            cls.delete_from_cloudformation_json(original_resource.arn, {}, account_id, region_name)
            return new
        nb = original_resource
        # The CloudFormation path reaches UpdateNotebookInstance too: "You can't decrease the volume
        # size" (botocore sagemaker UpdateNotebookInstanceInput.VolumeSizeInGB; the resource schema's
        # update handler calls sagemaker:UpdateNotebookInstance), so the stack update fails.
        if props.get("VolumeSizeInGB") is not None and int(props["VolumeSizeInGB"]) < (nb.volume_size_in_gb or 5):
            raise _validation_error(
                f"Invalid VolumeSizeInGB: {props['VolumeSizeInGB']}. VolumeSizeInGB can only be increased; "
                f"current size is {nb.volume_size_in_gb}."
            )
        nb.validate_instance_type(props["InstanceType"])
        nb.instance_type = props["InstanceType"]
        nb.role_arn = props["RoleArn"]
        nb.lifecycle_config_name = props.get("LifecycleConfigName")
        if props.get("VolumeSizeInGB") is not None:
            nb.volume_size_in_gb = int(props["VolumeSizeInGB"])
        nb.accelerator_types = props.get("AcceleratorTypes")
        nb.default_code_repository = props.get("DefaultCodeRepository")
        nb.additional_code_repositories = props.get("AdditionalCodeRepositories")
        nb.root_access = props.get("RootAccess")
        nb.instance_metadata_service_configuration = props.get("InstanceMetadataServiceConfiguration")
        nb.tags = _cfn_tags(props, account_id, region_name, old["kwargs"], nb.notebook_instance_name)
        nb._sb_cfn = {"props": json.loads(json.dumps(props, default=str)), "kwargs": old["kwargs"]}
        nb.last_modified_time = _utc(time.time())
        _plan_in_place_update(nb)
        return nb

    nb_cls.cloudformation_name_type = staticmethod(nb_name_type)
    nb_cls.create_from_cloudformation_json = nb_create
    nb_cls.delete_from_cloudformation_json = nb_delete
    nb_cls.update_from_cloudformation_json = nb_update

    def lcc_name_type() -> str:
        return "NotebookInstanceLifecycleConfigName"

    @classmethod
    def lcc_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json.get("Properties", {})
        name = props.get("NotebookInstanceLifecycleConfigName") or _generated_name(resource_name)
        return sagemaker_backends[account_id][region_name].create_notebook_instance_lifecycle_config(
            notebook_instance_lifecycle_config_name=name,
            on_create=props.get("OnCreate"),
            on_start=props.get("OnStart"),
        )

    @classmethod
    def lcc_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        props = cloudformation_json.get("Properties", {})
        name = props.get("NotebookInstanceLifecycleConfigName")
        if name and name != original_resource.notebook_instance_lifecycle_config_name:
            new = cls.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)
            cls.delete_from_cloudformation_json(original_resource.arn, {}, account_id, region_name)
            return new
        original_resource.on_create = props.get("OnCreate")
        original_resource.on_start = props.get("OnStart")
        original_resource.last_modified_time = _utc(time.time())
        return original_resource

    @classmethod
    def lcc_delete(cls, resource_name, cloudformation_json, account_id, region_name):
        backend = sagemaker_backends[account_id][region_name]
        name = resource_name.split("/")[-1]
        for key, cfg in list(backend.notebook_instance_lifecycle_configurations.items()):
            if cfg.arn == resource_name or key == name:
                del backend.notebook_instance_lifecycle_configurations[key]

    lcc_cls.cloudformation_name_type = staticmethod(lcc_name_type)
    lcc_cls.create_from_cloudformation_json = lcc_create
    lcc_cls.update_from_cloudformation_json = lcc_update
    lcc_cls.delete_from_cloudformation_json = lcc_delete


def _plan_in_place_update(nb: Any) -> None:
    """CloudFormation's in-place update of a notebook goes through UpdateNotebookInstance, which needs
    a Stopped notebook (SageMaker API reference, UpdateNotebookInstance): a running notebook is
    stopped, updated and started again (Stopping -> Stopped -> Updating -> Pending -> InService), a
    stopped one is Updating -> Stopped; each step takes pending_seconds."""
    with _lock:
        _advance(nb)
        st = _st(nb)
        now = time.time()
        step = _pending_seconds(_account_of(nb))
        if st["status"] == "InService":
            st["plan"] = []
            _enter(nb, "Stopping", now)
            st["plan"] = [
                (now + step, "Stopped", None),
                (now + 2 * step, "Updating", None),
                (now + 3 * step, "Pending", None),
                (now + 4 * step, "InService", None),
            ]
        elif st["status"] in ("Stopped", "Failed"):
            st["plan"] = []
            _enter(nb, "Updating", now)
            st["plan"] = [(now + step, "Stopped", None)]
        _advance(nb, now)


def _generated_name(resource_name: str) -> str:
    """CloudFormation's generated name, within SageMaker's 63 chars and name pattern."""
    cleaned = "".join(c if c.isalnum() else "-" for c in resource_name).strip("-")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    return cleaned[-63:].strip("-") or "NotebookInstance-" + uuid.uuid4().hex[:12]


def _patch_lcc_response_object(lcc_cls: Any) -> None:
    """DescribeNotebookInstanceLifecycleConfig answers only AWS's fields."""

    def response_object(self):
        d = {
            "NotebookInstanceLifecycleConfigArn": self.arn,
            "NotebookInstanceLifecycleConfigName": self.notebook_instance_lifecycle_config_name,
            "OnCreate": self.on_create,
            "OnStart": self.on_start,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
        }
        return {k: v for k, v in d.items() if v is not None}

    lcc_cls.response_object = property(response_object)


# --------------------------------------------------------------------------------------------------
# control endpoint and reset hook


@common.control("fail-notebook")
def _fail_notebook(body: dict) -> tuple[int, Any]:
    account = str(body.get("account_id") or common.DEFAULT_ACCOUNT)
    name = body.get("name")
    reason = body.get("reason") or "Sandbox: notebook instance failed to start."
    if not name:
        return 400, {"error": "name is required"}
    from moto.sagemaker.models import sagemaker_backends

    applied = []
    with _lock:
        regions = dict.items(sagemaker_backends[account]) if account in dict.keys(sagemaker_backends) else []
        for region, backend in list(regions):
            if body.get("region") and region != body["region"]:
                continue
            nb = backend.notebook_instances.get(name)
            if nb is None:
                continue
            _advance(nb)
            st = _st(nb)
            if st["status"] == "Pending" and st["plan"]:
                at, _, _ = st["plan"][-1]
                st["plan"] = [(at, "Failed", reason)]
                applied.append(region)
        if applied:
            return 200, {"account_id": account, "name": name, "failing": "pending", "regions": applied}
        _fail_marks[(account, name)] = reason
    return 200, {"account_id": account, "name": name, "failing": "next-start"}


def _reset(account: Any) -> None:
    with _lock:
        for key in list(_fail_marks):
            if account is None or key[0] == account:
                del _fail_marks[key]


# --------------------------------------------------------------------------------------------------


def install() -> None:
    """Patch moto's SageMaker notebook model, backend, responses and CloudFormation hooks (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.sagemaker import models, responses

    nb_cls = models.FakeSagemakerNotebookInstance
    nb_cls.__init__ = _wrap_init(nb_cls.__init__)
    nb_cls.status = property(_status_get, _status_set)
    nb_cls.start = _nb_start
    nb_cls.stop = _nb_stop
    nb_cls.url = property(_nb_url)
    nb_cls.to_dict = _wrap_to_dict(nb_cls.to_dict)

    _patch_backend(models.SageMakerModelBackend)
    _patch_responses(responses.SageMakerResponse)
    _patch_cloudformation(nb_cls, models.FakeSageMakerNotebookInstanceLifecycleConfig)
    _patch_lcc_response_object(models.FakeSageMakerNotebookInstanceLifecycleConfig)

    if hasattr(common, "on_reset"):
        common.on_reset(_reset)
    _installed = True
