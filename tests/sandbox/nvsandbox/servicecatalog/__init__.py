"""Service Catalog for the sandbox (moto 5.2.5 has portfolios/products only):

- state.py: per account+region state and the operations on it (records, provisioned products,
  the launch-role check of launch_role.py);
- handlers.py: the API operations served in-process by the middleware (JSON protocol);
- resources.py: the AWS::ServiceCatalog::* CloudFormation resource types.

install() registers the handlers and the resource types.
"""

from __future__ import annotations


def install() -> None:
    from nvsandbox.servicecatalog import handlers, resources  # importing handlers registers them
    from nvsandbox.servicecatalog.state import SERVICE

    assert handlers.SERVICE == SERVICE
    resources.register_cfn_models()
