"""Service Catalog API handlers of the sandbox: every operation served in-process by the middleware
(JSON protocol, `AWS242ServiceCatalogService.<Op>`), over the state in state.py. Importing this
module registers them.
"""

from __future__ import annotations

from nvsandbox.core.common import aws_handler
from nvsandbox.servicecatalog import ownership
from nvsandbox.servicecatalog.state import (
    SERVICE,
    InvalidParameters,
    ResourceNotFound,
    _artifact_detail,
    _constraint_answer,
    _constraint_detail,
    _get_artifact,
    _get_portfolio,
    _get_pp,
    _get_product,
    _launch_paths,
    _lock,
    _matches,
    _page,
    _portfolio_answer,
    _portfolio_detail,
    _portfolios_of,
    _pp_attr,
    _pp_detail,
    _product_admin_answer,
    _record_public,
    _refresh,
    _resolve_path,
    _summary,
    _view_detail,
    associate_principal,
    associate_product,
    create_artifact,
    create_constraint,
    create_portfolio,
    create_product,
    delete_portfolio,
    delete_product,
    disassociate_product,
    provision_product,
    state,
    template_parameters,
    terminate,
    update_pp,
)

# ---------------------------------------------------------------------------------------------
# handlers

# AccessLevelFilter (ListRecordHistory, ScanProvisionedProducts, SearchProvisionedProducts):
# "The only supported value is `self`" (botocore servicecatalog 2015-12-10, AccessLevelFilter.Value;
# API reference, API_AccessLevelFilter), whatever the Key. What AWS answers for another value is not
# documented: the worst case for the tool, a refusal, is played. The value is compared as written.
ACCESS_LEVEL_VALUE = "self"


def check_access_level_filter(params) -> None:
    flt = params.get("AccessLevelFilter") if isinstance(params, dict) else None
    if flt is not None and flt.get("Value") != ACCESS_LEVEL_VALUE:
        raise InvalidParameters(
            f"AccessLevelFilter.Value {flt.get('Value')!r} is not supported: the only supported "
            f"value is {ACCESS_LEVEL_VALUE!r}"
        )


def _h(op):
    def register(fn):
        def wrapped(account, region, params):
            check_access_level_filter(params)
            st = state(account, region)
            with _lock:
                _refresh(st)
                return fn(st, params)

        aws_handler(SERVICE, op)(wrapped)
        return fn

    return register


@_h("CreatePortfolio")
def _create_portfolio(st, p):
    return create_portfolio(st, p)


@_h("DescribePortfolio")
def _describe_portfolio(st, p):
    port = _get_portfolio(st, p.get("Id"))
    return {**_portfolio_answer(st, port), "TagOptions": [], "Budgets": []}


@_h("ListPortfolios")
def _list_portfolios(st, p):
    items, nxt = _page([_portfolio_detail(x) for x in st.portfolios.values()], p)
    return {"PortfolioDetails": items, **({"NextPageToken": nxt} if nxt else {})}


@_h("ListPortfoliosForProduct")
def _list_portfolios_for_product(st, p):
    _get_product(st, p.get("ProductId"))
    return {"PortfolioDetails": [_portfolio_detail(st.portfolios[x]) for x in _portfolios_of(st, p["ProductId"])]}


@_h("DeletePortfolio")
def _delete_portfolio(st, p):
    delete_portfolio(st, p.get("Id"))
    return {}


@_h("CreateProduct")
def _create_product(st, p):
    return create_product(st, p)


@_h("DescribeProductAsAdmin")
def _describe_product_admin(st, p):
    return _product_admin_answer(st, _get_product(st, p.get("Id"), p.get("Name")))


@_h("DescribeProduct")
def _describe_product(st, p):
    prod = _get_product(st, p.get("Id"), p.get("Name"))
    if not _portfolios_of(st, prod["Id"]):
        raise ResourceNotFound(f"Product {prod['Id']} not found.")
    return {
        "ProductViewSummary": _summary(st, prod),
        "ProvisioningArtifacts": [
            {
                "Id": a["Id"],
                "Name": a["Name"],
                "Description": a["Description"],
                "CreatedTime": a["CreatedTime"],
                "Guidance": a["Guidance"],
            }
            for a in prod["Artifacts"]
            if a["Active"]
        ],
        "Budgets": [],
        "LaunchPaths": [{"Id": lp["Id"], "Name": lp["Name"]} for lp in _launch_paths(st, prod["Id"])],
    }


@_h("DescribeProductView")
def _describe_product_view(st, p):
    for prod in st.products.values():
        if prod["ViewId"] == p.get("Id"):
            return {
                "ProductViewSummary": _summary(st, prod),
                "ProvisioningArtifacts": [
                    {"Id": a["Id"], "Name": a["Name"], "Description": a["Description"], "CreatedTime": a["CreatedTime"]}
                    for a in prod["Artifacts"]
                ],
            }
    raise ResourceNotFound(f"Product view {p.get('Id')} not found.")


def _filter_products(st, prods, filters: dict) -> list:
    out = []
    for prod in prods:
        ok = True
        for key, values in (filters or {}).items():
            if key == "FullTextSearch":
                text = " ".join([prod["Name"], prod["Owner"], prod["Description"]]).lower()
                ok &= any(v.lower() in text for v in values)
            elif key == "Owner":
                ok &= prod["Owner"] in values
            elif key == "ProductType":
                ok &= prod["Type"] in values
        if ok:
            out.append(prod)
    return out


@_h("SearchProducts")
def _search_products(st, p):
    prods = [x for x in st.products.values() if _portfolios_of(st, x["Id"])]
    prods = _filter_products(st, prods, p.get("Filters"))
    items, nxt = _page([_summary(st, x) for x in prods], p)
    return {"ProductViewSummaries": items, "ProductViewAggregations": {}, **({"NextPageToken": nxt} if nxt else {})}


@_h("SearchProductsAsAdmin")
def _search_products_admin(st, p):
    prods = list(st.products.values())
    if p.get("PortfolioId"):
        _get_portfolio(st, p["PortfolioId"])
        prods = [x for x in prods if x["Id"] in st.assoc[p["PortfolioId"]]]
    prods = _filter_products(st, prods, p.get("Filters"))
    items, nxt = _page([_view_detail(st, x) for x in prods], p)
    return {"ProductViewDetails": items, **({"NextPageToken": nxt} if nxt else {})}


@_h("DeleteProduct")
def _delete_product(st, p):
    delete_product(st, p.get("Id"))
    return {}


@_h("AssociatePrincipalWithPortfolio")
def _assoc_principal(st, p):
    return associate_principal(st, p)


@_h("DisassociatePrincipalFromPortfolio")
def _disassoc_principal(st, p):
    _get_portfolio(st, p.get("PortfolioId"))
    lst = st.principals[p["PortfolioId"]]
    if not any(x["PrincipalARN"] == p.get("PrincipalARN") for x in lst):
        raise ResourceNotFound(f"Principal {p.get('PrincipalARN')} is not associated with the portfolio.")
    st.principals[p["PortfolioId"]] = [x for x in lst if x["PrincipalARN"] != p.get("PrincipalARN")]
    return {}


@_h("ListPrincipalsForPortfolio")
def _list_principals(st, p):
    _get_portfolio(st, p.get("PortfolioId"))
    items, nxt = _page(list(st.principals[p["PortfolioId"]]), p)
    return {"Principals": items, **({"NextPageToken": nxt} if nxt else {})}


@_h("AssociateProductWithPortfolio")
def _assoc_product(st, p):
    return associate_product(st, p)


@_h("DisassociateProductFromPortfolio")
def _disassoc_product(st, p):
    return disassociate_product(st, p)


@_h("CreateConstraint")
def _create_constraint(st, p):
    return create_constraint(st, p)


@_h("DescribeConstraint")
def _describe_constraint(st, p):
    c = st.constraints.get(p.get("Id"))
    if not c:
        raise ResourceNotFound(f"Constraint {p.get('Id')} not found.")
    return _constraint_answer(c)


@_h("DeleteConstraint")
def _delete_constraint(st, p):
    if p.get("Id") not in st.constraints:
        raise ResourceNotFound(f"Constraint {p.get('Id')} not found.")
    del st.constraints[p["Id"]]
    return {}


@_h("ListConstraintsForPortfolio")
def _list_constraints(st, p):
    _get_portfolio(st, p.get("PortfolioId"))
    items = [
        _constraint_detail(c)
        for c in st.constraints.values()
        if c["PortfolioId"] == p["PortfolioId"] and (not p.get("ProductId") or c["ProductId"] == p["ProductId"])
    ]
    items, nxt = _page(items, p)
    return {"ConstraintDetails": items, **({"NextPageToken": nxt} if nxt else {})}


@_h("ListLaunchPaths")
def _list_launch_paths(st, p):
    prod = _get_product(st, p.get("ProductId"))
    paths = [{k: v for k, v in lp.items() if k != "PortfolioId"} for lp in _launch_paths(st, prod["Id"])]
    items, nxt = _page(paths, p)
    return {"LaunchPathSummaries": items, **({"NextPageToken": nxt} if nxt else {})}


@_h("ListProvisioningArtifacts")
def _list_artifacts(st, p):
    prod = _get_product(st, p.get("ProductId"))
    return {"ProvisioningArtifactDetails": [_artifact_detail(a) for a in prod["Artifacts"]]}


@_h("DescribeProvisioningArtifact")
def _describe_artifact(st, p):
    prod = _get_product(st, p.get("ProductId"), p.get("ProductName"))
    a = _get_artifact(prod, p.get("ProvisioningArtifactId"), p.get("ProvisioningArtifactName"))
    out = {
        "ProvisioningArtifactDetail": _artifact_detail(a),
        "Info": {"TemplateUrl": a["TemplateUrl"]},
        "Status": "AVAILABLE",
    }
    if p.get("IncludeProvisioningArtifactParameters"):
        out["ProvisioningArtifactParameters"] = template_parameters(a["Template"])
    return out


@_h("CreateProvisioningArtifact")
def _create_artifact(st, p):
    return create_artifact(st, p)


@_h("UpdateProvisioningArtifact")
def _update_artifact(st, p):
    prod = _get_product(st, p.get("ProductId"))
    a = _get_artifact(prod, p.get("ProvisioningArtifactId"))
    for k in ("Name", "Description", "Active", "Guidance"):
        if k in p:
            a[k] = p[k]
    return {
        "ProvisioningArtifactDetail": _artifact_detail(a),
        "Info": {"TemplateUrl": a["TemplateUrl"]},
        "Status": "AVAILABLE",
    }


@_h("DeleteProvisioningArtifact")
def _delete_artifact(st, p):
    prod = _get_product(st, p.get("ProductId"))
    a = _get_artifact(prod, p.get("ProvisioningArtifactId"))
    if len(prod["Artifacts"]) == 1:
        raise InvalidParameters("Cannot delete the last provisioning artifact of a product")
    prod["Artifacts"].remove(a)
    return {}


@_h("DescribeProvisioningParameters")
def _describe_parameters(st, p):
    prod = _get_product(st, p.get("ProductId"), p.get("ProductName"))
    a = _get_artifact(prod, p.get("ProvisioningArtifactId"), p.get("ProvisioningArtifactName"))
    path = _resolve_path(st, prod, p.get("PathId"), p.get("PathName"))
    outputs = [
        {"Key": k, "Description": (v or {}).get("Description", "")}
        for k, v in (a["Template"].get("Outputs") or {}).items()
    ]
    return {
        "ProvisioningArtifactParameters": template_parameters(a["Template"]),
        "ConstraintSummaries": path["ConstraintSummaries"],
        "UsageInstructions": [{"Type": "version", "Value": a["Name"]}],
        "TagOptions": [],
        "ProvisioningArtifactPreferences": {},
        "ProvisioningArtifactOutputs": outputs,
        "ProvisioningArtifactOutputKeys": outputs,
    }


@_h("ProvisionProduct")
def _provision(st, p):
    return provision_product(st, p)


@_h("DescribeRecord")
def _describe_record(st, p):
    rec = st.records.get(p.get("Id"))
    if rec is None:
        raise ResourceNotFound(f"Record {p.get('Id')} not found.")
    outs = rec["_outputs"] if rec["Status"] == "SUCCEEDED" else []
    return {"RecordDetail": _record_public(rec), "RecordOutputs": outs}


@_h("ListRecordHistory")
def _list_records(st, p):
    recs = sorted(st.records.values(), key=lambda r: r["CreatedTime"], reverse=True)
    sf = p.get("SearchFilter") or {}
    if sf.get("Key") == "provisionedproduct":
        recs = [r for r in recs if r["ProvisionedProductId"] == sf.get("Value")]
    items, nxt = _page([_record_public(r) for r in recs], p)
    return {"RecordDetails": items, **({"NextPageToken": nxt} if nxt else {})}


@_h("DescribeProvisionedProduct")
def _describe_pp(st, p):
    pp = _get_pp(st, p.get("Id"), p.get("Name"))
    return {"ProvisionedProductDetail": _pp_detail(pp), "CloudWatchDashboards": []}


@_h("ScanProvisionedProducts")
def _scan_pps(st, p):
    level = (p.get("AccessLevelFilter") or {}).get("Key")
    items, nxt = _page([_pp_detail(x) for x in ownership.visible(list(st.pps.values()), level)], p)
    return {"ProvisionedProducts": items, **({"NextPageToken": nxt} if nxt else {})}


@_h("SearchProvisionedProducts")
def _search_pps(st, p):
    queries = ((p.get("Filters") or {}).get("SearchQuery")) or []
    level = (p.get("AccessLevelFilter") or {}).get("Key")
    pps = [x for x in ownership.visible(list(st.pps.values()), level) if all(_matches(st, x, q) for q in queries)]
    key = p.get("SortBy") or "createdTime"
    field = {"arn": "Arn", "id": "Id", "name": "Name", "lastRecordId": "LastRecordId"}.get(key, "CreatedTime")
    pps.sort(
        key=lambda x: str(x.get(field)) if field != "CreatedTime" else x["CreatedTime"],
        reverse=p.get("SortOrder") == "DESCENDING",
    )
    items, nxt = _page([_pp_attr(st, x) for x in pps], p)
    return {"ProvisionedProducts": items, "TotalResultsCount": len(pps), **({"NextPageToken": nxt} if nxt else {})}


@_h("TerminateProvisionedProduct")
def _terminate(st, p):
    return terminate(st, p)


@_h("UpdateProvisionedProduct")
def _update(st, p):
    return update_pp(st, p)


@_h("ListTagOptions")
def _list_tag_options(st, p):
    return {"TagOptionDetails": []}
