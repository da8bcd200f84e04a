"""Documented AWS rules moto 5.2.5 does not enforce, enforced by the sandbox (issue 12 C).

THE SANDBOX RULE: a rule AWS documents, the sandbox enforces; a behaviour AWS leaves undocumented,
the sandbox plays at its worst case for the tool. Each rule below names its source.

- IAM role names: 1-64 characters of [\\w+=,.@-] (CreateRole, also through CloudFormation);
  managed policy names 1-128.
- SSM parameter tiers: an Advanced parameter is never written back as Standard; Standard values are
  at most 4 KB, Advanced at most 8 KB.
- SSM parameter types: an overwrite never changes a parameter's type (HierarchyTypeMismatchException).
- Template URLs (CloudFormation TemplateURL, Service Catalog LoadTemplateFromURL) must address the
  bucket's own Region: the legacy global endpoint only reaches us-east-1 buckets.
- CreatePresignedNotebookInstanceUrl in any notebook state: see common.py (`presign_any_state`)
  and sagemaker_ext.py.
"""
from __future__ import annotations

import re
import uuid
from urllib.parse import urlparse

# ---------------------------------------------------------------------------------------------
# IAM role names
# Source: botocore iam model, CreateRoleRequest.RoleName -> shape roleNameType: min 1, max 64,
# pattern [\w+=,.@-]+; IAM user guide "IAM and AWS STS quotas" (role name 64 characters).
# AWS answers ValidationError "1 validation error detected: Value '<name>' at 'roleName' failed to
# satisfy constraint: Member must have length less than or equal to 64" (the Coral validation form
# every AWS query API uses for a model constraint).

ROLE_NAME_MAX = 64
ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]+$")


def role_name_error(name: str) -> str | None:
    if len(name) > ROLE_NAME_MAX:
        return (f"1 validation error detected: Value '{name}' at 'roleName' failed to satisfy constraint: "
                f"Member must have length less than or equal to {ROLE_NAME_MAX}")
    if len(name) < 1:
        return ("1 validation error detected: Value '' at 'roleName' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1")
    if not ROLE_NAME_RE.match(name):
        return (f"1 validation error detected: Value '{name}' at 'roleName' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    return None


# Managed policy names: botocore iam model, CreatePolicyRequest.PolicyName -> policyNameType: min 1,
# max 128, pattern [\w+=,.@-]+ (IAM user guide, "IAM and AWS STS quotas": 128 characters).
POLICY_NAME_MAX = 128


def policy_name_error(name: str) -> str | None:
    if len(name) > POLICY_NAME_MAX:
        return (f"1 validation error detected: Value '{name}' at 'policyName' failed to satisfy constraint: "
                f"Member must have length less than or equal to {POLICY_NAME_MAX}")
    if not name or not ROLE_NAME_RE.match(name):
        return (f"1 validation error detected: Value '{name}' at 'policyName' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    return None


def _patch_iam_policy_names() -> None:
    from moto.iam.exceptions import ValidationError
    from moto.iam.models import IAMBackend, ManagedPolicy

    if getattr(IAMBackend, "_sb_policy_names", False):
        return
    original = IAMBackend.create_policy

    def create_policy(self, description, path, policy_document, policy_name, tags):
        err = policy_name_error(policy_name)
        if err:
            raise ValidationError(err)
        return original(self, description, path, policy_document, policy_name, tags)

    IAMBackend.create_policy = create_policy
    original_cfn = ManagedPolicy.create_from_cloudformation_json.__func__

    @classmethod
    def create_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        # a generated name is cut to the limit, as CloudFormation does (see the role names below)
        props = cloudformation_json.get("Properties") or {}
        if "ManagedPolicyName" not in props and len(resource_name) > POLICY_NAME_MAX:
            head, _, suffix = resource_name.rpartition("-")
            resource_name = f"{head[:POLICY_NAME_MAX - len(suffix) - 1]}-{suffix}"
        return original_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    ManagedPolicy.create_from_cloudformation_json = create_from_cfn
    IAMBackend._sb_policy_names = True


def _patch_iam_role_names() -> None:
    from moto.iam.exceptions import ValidationError
    from moto.iam.models import IAMBackend, Role

    if getattr(IAMBackend, "_sb_role_names", False):
        return
    original = IAMBackend.create_role

    def create_role(self, role_name, *args, **kwargs):
        err = role_name_error(role_name)
        if err:
            raise ValidationError(err)
        return original(self, role_name, *args, **kwargs)

    IAMBackend.create_role = create_role

    # CloudFormation names a role without RoleName <stack>-<logical id>-<random>, cut to fit IAM's
    # 64 characters (AWS::IAM::Role, RoleName: "If you don't specify a name, AWS CloudFormation
    # generates a unique physical ID"); moto does not cut, so a long stack name would fail here
    # where AWS succeeds.
    original_cfn = Role.create_from_cloudformation_json.__func__

    @classmethod
    def create_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json.get("Properties") or {}
        if "RoleName" not in props and len(resource_name) > ROLE_NAME_MAX:
            head, _, suffix = resource_name.rpartition("-")
            resource_name = f"{head[:ROLE_NAME_MAX - len(suffix) - 1]}-{suffix}"
        return original_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    Role.create_from_cloudformation_json = create_from_cfn
    IAMBackend._sb_role_names = True


# ---------------------------------------------------------------------------------------------
# SSM parameter tiers
# Source: botocore ssm model, PutParameterRequest.Tier documentation: "You can change a standard
# parameter to an advanced parameter any time. But you can't revert an advanced parameter to a
# standard parameter." and PutParameterRequest.Value: "Standard parameters have a value limit of
# 4 KB. Advanced parameters have a value limit of 8 KB."; Systems Manager user guide, "Managing
# parameter tiers". AWS's answers (ValidationException), as reported from real accounts:
#   downgrade: "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from
#              the advanced-parameter tier to the standard-parameter tier. If necessary, you can
#              delete the advanced parameter and recreate it as a standard parameter."
#   too big:   "Standard tier parameters support a maximum parameter value of 4096 characters. ..."
# Undocumented, played at its worst case: a PutParameter without Tier on an Advanced parameter. The
# Tier doc says a request without a tier gets the account's default tier (Standard unless changed),
# so the sandbox treats it as a downgrade and refuses it. A caller that must keep the parameter
# Advanced says Tier=Advanced (or Intelligent-Tiering), which works whatever AWS does.

STANDARD_MAX, ADVANCED_MAX = 4096, 8192
DOWNGRADE_MESSAGE = ("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
                     "advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the "
                     "advanced parameter and recreate it as a standard parameter.")
TIERS_DOC = "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"
STANDARD_TOO_BIG = ("Standard tier parameters support a maximum parameter value of 4096 characters. To create a "
                    "larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more "
                    f"information, see {TIERS_DOC}")
ADVANCED_TOO_BIG = ("Advanced tier parameters support a maximum parameter value of 8192 characters. For more "
                    f"information, see {TIERS_DOC}")


def effective_tier(requested: str | None, current: str | None, value: str, default: str = "Standard") -> str:
    """The tier a PutParameter lands in, or raise ValueError with AWS's message."""
    size = len(value.encode("utf-8"))  # "4 KB": bytes, the stricter reading for non-ASCII values
    tier = requested or default
    if tier == "Intelligent-Tiering":
        tier = "Advanced" if size > STANDARD_MAX or current == "Advanced" else "Standard"
    if current == "Advanced" and tier == "Standard":
        raise ValueError(DOWNGRADE_MESSAGE)
    if tier == "Standard" and size > STANDARD_MAX:
        raise ValueError(STANDARD_TOO_BIG)
    if size > ADVANCED_MAX:
        raise ValueError(ADVANCED_TOO_BIG)
    return tier


# ---------------------------------------------------------------------------------------------
# SSM parameter types
# Source: botocore ssm model, PutParameter errors include HierarchyTypeMismatchException: "Parameter
# Store doesn't support changing a parameter type in a hierarchy. For example, you can't change a
# parameter from a String type to a SecureString type. You must create a new, unique parameter."
# The model does not say which changes outside a hierarchy AWS lets through: the worst case for the
# tool is played, every overwrite that names another type is refused (delete, then create).

TYPE_CHANGE_MESSAGE = ("Parameter Store doesn't support changing a parameter type in a hierarchy. For example, you "
                       "can't change a parameter from a String type to a SecureString type. You must create a new, "
                       "unique parameter.")


def type_change_error(current_type: str | None, requested_type: str | None) -> str | None:
    """AWS's message when an overwrite would change the parameter's type, else None."""
    if current_type and requested_type and current_type != requested_type:
        return TYPE_CHANGE_MESSAGE
    return None


def _hierarchy_type_mismatch(message: str):
    from moto.ssm.exceptions import SSMException  # JSON-protocol error with AWS's code

    return SSMException("HierarchyTypeMismatchException", message)


def _patch_ssm_tiers() -> None:
    from moto.ssm.exceptions import ValidationException
    from moto.ssm.models import SimpleSystemManagerBackend

    if getattr(SimpleSystemManagerBackend, "_sb_tiers", False):
        return
    original = SimpleSystemManagerBackend.put_parameter

    def put_parameter(self, name, description, value, parameter_type, allowed_pattern, keyid, overwrite,
                      tags, data_type, tier, policies):
        versions = self._parameters.get(name) if name in self._parameters else None
        current = versions[-1] if versions else None
        if current is not None and overwrite:
            mismatch = type_change_error(current.parameter_type, parameter_type)
            if mismatch:
                raise _hierarchy_type_mismatch(mismatch)
        if value and not (current is not None and not overwrite):  # an existing one without overwrite: moto's error
            try:
                tier = effective_tier(tier, current.tier if current is not None else None, value,
                                      getattr(self, "default_parameter_tier", None) or "Standard")
            except ValueError as e:
                raise ValidationException(str(e))
        return original(self, name, description, value, parameter_type, allowed_pattern, keyid, overwrite,
                        tags, data_type, tier, policies)

    SimpleSystemManagerBackend.put_parameter = put_parameter
    SimpleSystemManagerBackend._sb_tiers = True


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
    if host == "s3.amazonaws.com" or host.endswith(".s3.amazonaws.com") or host.startswith("s3-external-1.") \
            or ".s3-external-1." in host:
        return "us-east-1"
    return None


def check_template_url(url: str, bucket_region: str | None) -> None:
    region = url_region(url)
    if region is None or bucket_region is None or region == bucket_region:
        return
    raise TemplateUrlError(
        "Error occurred while GetObject. S3 Error Code: PermanentRedirect. S3 Error Message: The bucket is "
        f"in this region: {bucket_region}. Please use this region to retry the request")


def cfn_failure_reason(exc: BaseException, service: str) -> str:
    """How CloudFormation words a resource whose handler got an AWS error (the Cloud Control form)."""
    code = getattr(exc, "code", None) or getattr(exc, "error_type", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    return (f'Resource handler returned message: "{message} (Service: {service}, Status Code: 400, '
            f'Request ID: {uuid.uuid4()})" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: '
            f'{"InvalidRequest" if "alidation" in str(code) else "GeneralServiceException"})')


def install() -> None:
    _patch_iam_role_names()
    _patch_iam_policy_names()
    _patch_ssm_tiers()
