"""IAM resources made and deleted by moto 5.2.5's CloudFormation, fixed where moto differs from AWS:

- deleting a stack whose IAM role has managed policies attached: AWS::IAM::ManagedPolicy gets a real
  CloudFormation delete (detach from every role/user/group, delete versions, delete), and a role
  deleted by CloudFormation detaches what is still attached;
- a role's inline policy made by CloudFormation is kept as the JSON document AWS answers.
"""

from __future__ import annotations

import json


def patch_iam_delete() -> None:
    from moto.iam.models import ManagedPolicy, Role, iam_backends
    from moto.utilities.utils import get_partition

    def detach_everywhere(backend, policy_arn: str) -> None:
        for coll in (backend.roles.values(), backend.users.values(), backend.groups.values()):
            for entity in list(coll):
                if policy_arn in entity.managed_policies:
                    entity.managed_policies[policy_arn].detach_from(entity)

    @classmethod
    def mp_delete(cls, resource_name, cloudformation_json, account_id, region_name):
        backend = iam_backends[account_id][get_partition(region_name)]
        arn = resource_name
        if arn not in backend.managed_policies:
            for p in backend.managed_policies.values():
                if p.name == resource_name:
                    arn = p.arn
                    break
        if arn in backend.managed_policies:
            detach_everywhere(backend, arn)
            del backend.managed_policies[arn]

    ManagedPolicy.delete_from_cloudformation_json = mp_delete

    original_role_delete = Role.delete_from_cloudformation_json.__func__

    @classmethod
    def role_delete(cls, resource_name, cloudformation_json, account_id, region_name):
        backend = iam_backends[account_id][get_partition(region_name)]
        for role in list(backend.roles.values()):
            if role.name == resource_name:
                for policy in list(role.managed_policies.values()):
                    policy.detach_from(role)
        return original_role_delete(cls, resource_name, cloudformation_json, account_id, region_name)

    Role.delete_from_cloudformation_json = role_delete


def patch_inline_policy_json() -> None:
    """A role's inline policy made by CloudFormation (Policies: [...]) is kept by moto as a dict and
    GetRolePolicy answers its Python repr; AWS answers the JSON document (URL-encoded)."""
    from moto.iam.models import Role

    original = Role.put_policy
    if getattr(Role, "_sb_policy_json", False):
        return

    def put_policy(self, policy_name, policy_json):
        if not isinstance(policy_json, str):
            policy_json = json.dumps(policy_json)
        return original(self, policy_name, policy_json)

    Role.put_policy = put_policy
    Role._sb_policy_json = True
