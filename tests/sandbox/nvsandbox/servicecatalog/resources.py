"""The AWS::ServiceCatalog::* CloudFormation resource types of the sandbox (moto's CloudFormation
skips them), over the state in state.py.
"""

from __future__ import annotations

import json

from moto.core.common_models import CloudFormationModel

from nvsandbox.servicecatalog.state import (
    InvalidParameters,
    _lock,
    _new_artifact,
    associate_principal,
    associate_product,
    create_artifact,
    create_constraint,
    create_portfolio,
    create_product,
    delete_portfolio,
    delete_product,
    disassociate_product,
    state,
)

# ---------------------------------------------------------------------------------------------
# CloudFormation resource types


def _props(cfn_json) -> dict:
    return cfn_json.get("Properties") or {}


class _SCModel(CloudFormationModel):
    __module__ = "sandbox.servicecatalog_ext"  # moto\'s model metaclass wants a dotted module
    """Base for the sandbox's AWS::ServiceCatalog::* resources (not itself registered)."""

    ATTRS: tuple = ()

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRS

    def get_cfn_attribute(self, attr: str):
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attr in self.ATTRS:
            return self.attrs()[attr]
        raise UnformattedGetAttTemplateException()

    def attrs(self) -> dict:
        return {}

    def is_created(self) -> bool:
        return True

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)


def _cfn_call(fn, *args):
    with _lock:
        return fn(*args)


class CfnPortfolio(_SCModel):
    __module__ = "sandbox.servicecatalog_ext"  # moto\'s model metaclass wants a dotted module
    ATTRS = ("PortfolioName",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceCatalog::Portfolio"

    def __init__(self, account, region, pid):
        self.account, self.region, self.pid = account, region, pid

    @property
    def physical_resource_id(self):
        return self.pid

    def attrs(self):
        st = state(self.account, self.region)
        return {"PortfolioName": st.portfolios[self.pid]["DisplayName"]}

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        pr = _props(cloudformation_json)
        st = state(account_id, region_name)
        ans = _cfn_call(
            create_portfolio,
            st,
            {
                "DisplayName": pr.get("DisplayName"),
                "ProviderName": pr.get("ProviderName"),
                "Description": pr.get("Description", ""),
                "Tags": pr.get("Tags", []),
            },
        )
        return cls(account_id, region_name, ans["PortfolioDetail"]["Id"])

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        pr = _props(cloudformation_json)
        with _lock:
            port = state(account_id, region_name).portfolios[original_resource.pid]
            for k in ("DisplayName", "ProviderName", "Description"):
                if k in pr:
                    port[k] = pr[k]
        return original_resource

    def delete(self, account_id, region_name):
        st = state(self.account, self.region)
        with _lock:
            if self.pid in st.portfolios:
                delete_portfolio(st, self.pid)


def _entry_key(params: dict) -> tuple:
    return params.get("Name") or "v1", (params.get("Info") or {}).get("LoadTemplateFromURL")


def _match_artifacts(st, prod: dict, entries: list, account_id: str) -> None:
    """The resource's ProvisioningArtifactParameters are the product's versions. "Provisioning artifacts
    are matched within the CloudFormationProduct resource, and only those that have been updated will
    be changed. Provisioning artifacts are matched by a combination of provisioning artifact template
    URL and name." (resource schema of AWS::ServiceCatalog::CloudFormationProduct,
    ReplaceProvisioningArtifacts, shipped in cfn-lint). The schema does not say what happens to an
    artifact no entry matches any more: the worst case for the tool is played, it is deleted (its
    notebooks keep running but lose their version). An entry that matches nothing is a new artifact;
    a matched one keeps its ID and takes the entry's description. Guidance is not touched: the
    resource has no such property."""
    wanted = [(_entry_key(e), e) for e in entries]
    keys = {k for k, _ in wanted}
    kept = [a for a in prod["Artifacts"] if (a["Name"], a["TemplateUrl"]) in keys]
    created = []
    for key, params in wanted:
        match = next((a for a in kept if (a["Name"], a["TemplateUrl"]) == key), None)
        if match is not None:
            match["Description"] = params.get("Description", match["Description"])
        elif key not in {(a["Name"], a["TemplateUrl"]) for a in created}:
            created.append(_new_artifact(st, params, account_id))
    if kept or created:
        prod["Artifacts"] = kept + created


class CfnProduct(_SCModel):
    __module__ = "sandbox.servicecatalog_ext"  # moto\'s model metaclass wants a dotted module
    ATTRS = ("ProductName", "ProvisioningArtifactIds", "ProvisioningArtifactNames")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceCatalog::CloudFormationProduct"

    def __init__(self, account, region, pid):
        self.account, self.region, self.pid = account, region, pid

    @property
    def physical_resource_id(self):
        return self.pid

    def attrs(self):
        prod = state(self.account, self.region).products[self.pid]
        active = [a for a in prod["Artifacts"] if a["Active"]]
        return {
            "ProductName": prod["Name"],
            "ProvisioningArtifactIds": ",".join(a["Id"] for a in active),
            "ProvisioningArtifactNames": ",".join(a["Name"] for a in active),
        }

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        pr = _props(cloudformation_json)
        arts = pr.get("ProvisioningArtifactParameters") or []
        if not arts:
            raise InvalidParameters("ProvisioningArtifactParameters is required")
        st = state(account_id, region_name)
        with _lock:
            ans = create_product(
                st,
                {
                    "Name": pr.get("Name"),
                    "Owner": pr.get("Owner"),
                    "Description": pr.get("Description", ""),
                    "Distributor": pr.get("Distributor", ""),
                    "SupportDescription": pr.get("SupportDescription", ""),
                    "SupportEmail": pr.get("SupportEmail", ""),
                    "SupportUrl": pr.get("SupportUrl", ""),
                    "ProductType": "CLOUD_FORMATION_TEMPLATE",
                    "Tags": pr.get("Tags", []),
                    "ProvisioningArtifactParameters": arts[0],
                },
            )
            pid = ans["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
            for extra in arts[1:]:
                create_artifact(st, {"ProductId": pid, "Parameters": extra})
        return cls(account_id, region_name, pid)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        pr = _props(cloudformation_json)
        st = state(account_id, region_name)
        with _lock:
            prod = st.products[original_resource.pid]
            for k in (
                "Name",
                "Owner",
                "Description",
                "Distributor",
                "SupportDescription",
                "SupportEmail",
                "SupportUrl",
            ):
                if k in pr:
                    prod[k] = pr[k]
            if "Tags" in pr:
                prod["Tags"] = pr["Tags"]
            _match_artifacts(st, prod, pr.get("ProvisioningArtifactParameters") or [], account_id)
        return original_resource

    def delete(self, account_id, region_name):
        st = state(self.account, self.region)
        with _lock:
            if self.pid in st.products:
                delete_product(st, self.pid)


class CfnPrincipalAssociation(_SCModel):
    __module__ = "sandbox.servicecatalog_ext"  # moto\'s model metaclass wants a dotted module

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceCatalog::PortfolioPrincipalAssociation"

    def __init__(self, account, region, port, arn):
        self.account, self.region, self.port, self.arn = account, region, port, arn

    @property
    def physical_resource_id(self):
        return f"{self.port}|{self.arn}"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        pr = _props(cloudformation_json)
        st = state(account_id, region_name)
        with _lock:
            associate_principal(
                st,
                {
                    "PortfolioId": pr.get("PortfolioId"),
                    "PrincipalARN": pr.get("PrincipalARN"),
                    "PrincipalType": pr.get("PrincipalType", "IAM"),
                },
            )
        return cls(account_id, region_name, pr.get("PortfolioId"), pr.get("PrincipalARN"))

    def delete(self, account_id, region_name):
        st = state(self.account, self.region)
        with _lock:
            if self.port in st.principals:
                st.principals[self.port] = [x for x in st.principals[self.port] if x["PrincipalARN"] != self.arn]


class CfnProductAssociation(_SCModel):
    __module__ = "sandbox.servicecatalog_ext"  # moto\'s model metaclass wants a dotted module

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceCatalog::PortfolioProductAssociation"

    def __init__(self, account, region, port, prod):
        self.account, self.region, self.port, self.prod = account, region, port, prod

    @property
    def physical_resource_id(self):
        return f"{self.port}|{self.prod}"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        pr = _props(cloudformation_json)
        st = state(account_id, region_name)
        with _lock:
            associate_product(st, {"PortfolioId": pr.get("PortfolioId"), "ProductId": pr.get("ProductId")})
        return cls(account_id, region_name, pr.get("PortfolioId"), pr.get("ProductId"))

    def delete(self, account_id, region_name):
        st = state(self.account, self.region)
        with _lock:
            if self.port in st.assoc and self.prod in st.assoc[self.port]:
                disassociate_product(st, {"PortfolioId": self.port, "ProductId": self.prod})


class CfnLaunchRoleConstraint(_SCModel):
    __module__ = "sandbox.servicecatalog_ext"  # moto\'s model metaclass wants a dotted module

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceCatalog::LaunchRoleConstraint"

    def __init__(self, account, region, cid):
        self.account, self.region, self.cid = account, region, cid

    @property
    def physical_resource_id(self):
        return self.cid

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        pr = _props(cloudformation_json)
        params = {k: pr[k] for k in ("RoleArn", "LocalRoleName") if pr.get(k)}
        st = state(account_id, region_name)
        with _lock:
            ans = create_constraint(
                st,
                {
                    "PortfolioId": pr.get("PortfolioId"),
                    "ProductId": pr.get("ProductId"),
                    "Type": "LAUNCH",
                    "Parameters": json.dumps(params),
                    "Description": pr.get("Description", ""),
                },
            )
        return cls(account_id, region_name, ans["ConstraintDetail"]["ConstraintId"])

    def delete(self, account_id, region_name):
        st = state(self.account, self.region)
        with _lock:
            st.constraints.pop(self.cid, None)


def register_cfn_models() -> None:
    """moto finds resource types through CloudFormationModel.__subclasses__() (cached): our classes are
    indirect subclasses, so add them to the cached map directly."""
    from moto.cloudformation import parsing

    models = [CfnPortfolio, CfnProduct, CfnPrincipalAssociation, CfnProductAssociation, CfnLaunchRoleConstraint]
    base_list = list(parsing.get_model_list())
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    full = base_list + [m for m in models if m not in base_list]

    import functools

    @functools.lru_cache
    def get_model_list():
        return full

    parsing.get_model_list = get_model_list
    for m in models:
        parsing.NULL_MODELS = [x for x in getattr(parsing, "NULL_MODELS", []) if x != m.cloudformation_type()]
