"""Service Catalog for the sandbox (moto 5.2.5 has portfolios/products only), in three modules:

- sc_state.py: per account+region state and the operations on it (records, provisioned products,
  the launch-role check of launch_role.py);
- sc_handlers.py: the API operations served in-process by the middleware (JSON protocol);
- sc_cfn.py: the AWS::ServiceCatalog::* CloudFormation resource types.

install() registers the handlers and the resource types.
"""
from __future__ import annotations

from sc_state import SERVICE, TRAIL_HOOKS, State, state

__all__ = ["SERVICE", "TRAIL_HOOKS", "State", "state", "install"]  # TRAIL_HOOKS: cloudtrail_ext appends


def install() -> None:
    import sc_cfn
    import sc_handlers  # registers the API handlers

    assert sc_handlers.SERVICE == SERVICE
    sc_cfn._register_cfn_models()
    sc_cfn._patch_deleted_stack_outputs()
