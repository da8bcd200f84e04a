"""IAM name limits moto 5.2.5 does not enforce: role names 1-64 characters of [\\w+=,.@-]
(CreateRole, also through CloudFormation), managed policy names 1-128.

THE SANDBOX RULE: a rule AWS documents, the sandbox enforces; a behaviour AWS leaves undocumented,
the sandbox plays at its worst case for the tool. Each rule below names its source.
"""

from __future__ import annotations

import re

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
        return (
            f"1 validation error detected: Value '{name}' at 'roleName' failed to satisfy constraint: "
            f"Member must have length less than or equal to {ROLE_NAME_MAX}"
        )
    if len(name) < 1:
        return (
            "1 validation error detected: Value '' at 'roleName' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if not ROLE_NAME_RE.match(name):
        return (
            f"1 validation error detected: Value '{name}' at 'roleName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        )
    return None


# Managed policy names: botocore iam model, CreatePolicyRequest.PolicyName -> policyNameType: min 1,
# max 128, pattern [\w+=,.@-]+ (IAM user guide, "IAM and AWS STS quotas": 128 characters).
POLICY_NAME_MAX = 128


def policy_name_error(name: str) -> str | None:
    if len(name) > POLICY_NAME_MAX:
        return (
            f"1 validation error detected: Value '{name}' at 'policyName' failed to satisfy constraint: "
            f"Member must have length less than or equal to {POLICY_NAME_MAX}"
        )
    if not name or not ROLE_NAME_RE.match(name):
        return (
            f"1 validation error detected: Value '{name}' at 'policyName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        )
    return None


def patch_iam_policy_names() -> None:
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
            resource_name = f"{head[: POLICY_NAME_MAX - len(suffix) - 1]}-{suffix}"
        return original_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    ManagedPolicy.create_from_cloudformation_json = create_from_cfn
    IAMBackend._sb_policy_names = True


def patch_iam_role_names() -> None:
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
            resource_name = f"{head[: ROLE_NAME_MAX - len(suffix) - 1]}-{suffix}"
        return original_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    Role.create_from_cloudformation_json = create_from_cfn
    IAMBackend._sb_role_names = True
