"""Service Catalog state of the sandbox: per account+region, under one lock, and the operations on it
(portfolios, products and artifacts, associations, constraints, launch paths, records and provisioned
products). Records progress lazily from timestamps: CREATED -> IN_PROGRESS for `record_seconds` ->
SUCCEEDED / FAILED; the stack work itself is done when the call is served. The API handlers
(handlers.py) and the CloudFormation resource types (resources.py) both work through these functions.
"""

from __future__ import annotations

import json
import random
import re
import string
import threading
import time
from datetime import UTC, datetime
from typing import Any

from nvsandbox.cloudformation.stacks import load_template
from nvsandbox.core import common
from nvsandbox.core.common import AwsError, log_event, setting
from nvsandbox.s3.template_urls import fetch_s3_url
from nvsandbox.servicecatalog import ownership

_lock = threading.RLock()
_states: dict[tuple[str, str], State] = {}
SERVICE = "servicecatalog"

TOKEN_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
PP_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")

# CloudTrail hook: set by cloudtrail/lookup.py (fn(account, region, event_name, request_params, response))
TRAIL_HOOKS: list = []


def _id(prefix: str) -> str:
    return prefix + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(13))


def _now() -> float:
    return time.time()


class ResourceNotFound(AwsError):
    def __init__(self, msg: str):
        super().__init__("ResourceNotFoundException", msg)


class InvalidParameters(AwsError):
    def __init__(self, msg: str):
        super().__init__("InvalidParametersException", msg)


class State:
    def __init__(self, account: str, region: str):
        self.account, self.region = account, region
        self.portfolios: dict[str, dict] = {}
        self.products: dict[str, dict] = {}
        self.principals: dict[str, list[dict]] = {}  # portfolio -> principals
        self.assoc: dict[str, set] = {}  # portfolio -> product ids
        self.constraints: dict[str, dict] = {}
        self.pps: dict[str, dict] = {}
        self.records: dict[str, dict] = {}
        self.tokens: dict[tuple[str, str], Any] = {}  # (operation, token) -> result id


def state(account: str, region: str) -> State:
    with _lock:
        st = _states.get((account, region))
        if st is None:
            st = _states[(account, region)] = State(account, region)
        return st


@common.on_reset
def _reset(account):
    with _lock:
        for key in list(_states):
            if account is None or key[0] == account:
                del _states[key]


# ---------------------------------------------------------------------------------------------
# portfolios


def _portfolio_arn(st: State, pid: str) -> str:
    return f"arn:aws:catalog:{st.region}:{st.account}:portfolio/{pid}"


def create_portfolio(st: State, p: dict) -> dict:
    name = p.get("DisplayName")
    if not name or not p.get("ProviderName"):
        raise InvalidParameters("DisplayName and ProviderName are required")
    tok = p.get("IdempotencyToken")
    if tok and ("CreatePortfolio", tok) in st.tokens:
        return _portfolio_answer(st, st.portfolios[st.tokens[("CreatePortfolio", tok)]])
    pid = _id("port-")
    port = {
        "Id": pid,
        "ARN": _portfolio_arn(st, pid),
        "DisplayName": name,
        "Description": p.get("Description", ""),
        "CreatedTime": _now(),
        "ProviderName": p["ProviderName"],
        "Tags": p.get("Tags", []),
    }
    st.portfolios[pid] = port
    st.principals[pid] = []
    st.assoc[pid] = set()
    if tok:
        st.tokens[("CreatePortfolio", tok)] = pid
    return _portfolio_answer(st, port)


def _portfolio_detail(port: dict) -> dict:
    return {k: port[k] for k in ("Id", "ARN", "DisplayName", "Description", "CreatedTime", "ProviderName")}


def _portfolio_answer(st, port):
    return {"PortfolioDetail": _portfolio_detail(port), "Tags": port["Tags"]}


def _get_portfolio(st: State, pid: str | None) -> dict:
    if not pid or pid not in st.portfolios:
        raise ResourceNotFound(f"Portfolio {pid} not found.")
    return st.portfolios[pid]


def delete_portfolio(st: State, pid: str) -> None:
    _get_portfolio(st, pid)
    if st.assoc[pid] or st.principals[pid] or any(c["PortfolioId"] == pid for c in st.constraints.values()):
        raise AwsError("ResourceInUseException", f"Portfolio {pid} has associated products, principals or constraints.")
    del st.portfolios[pid]
    del st.assoc[pid]
    del st.principals[pid]


# ---------------------------------------------------------------------------------------------
# products and artifacts


def _product_arn(st, pid):
    return f"arn:aws:catalog:{st.region}:{st.account}:product/{pid}"


def _new_artifact(st: State, params: dict, account: str) -> dict:
    info = params.get("Info") or {}
    url = info.get("LoadTemplateFromURL")
    if not url:
        raise InvalidParameters("Info.LoadTemplateFromURL is required")
    try:
        body = fetch_s3_url(url, account)
        template = load_template(body)
        if not isinstance(template, dict):
            raise ValueError("not a mapping")
    except Exception as e:  # noqa: BLE001
        if params.get("DisableTemplateValidation"):
            body, template = None, {}
        else:
            # AWS's answer for a template it cannot read or parse; the sandbox adds the cause
            raise InvalidParameters(
                f"Invalid templateBody. Please make sure that your template is valid (sandbox: {url}: {e})"
            ) from e
    return {
        "Id": _id("pa-"),
        "Name": params.get("Name") or "v1",
        "Description": params.get("Description", ""),
        "Type": params.get("Type", "CLOUD_FORMATION_TEMPLATE"),
        "CreatedTime": _now(),
        "Active": True,
        "Guidance": "DEFAULT",
        "TemplateUrl": url,
        "TemplateBody": body,
        "Template": template,
    }


def create_product(st: State, p: dict) -> dict:
    for key in ("Name", "Owner", "ProductType"):
        if not p.get(key):
            raise InvalidParameters(f"{key} is required")
    if p["ProductType"] != "CLOUD_FORMATION_TEMPLATE":
        raise InvalidParameters(f"ProductType {p['ProductType']} is not supported by the sandbox")
    tok = p.get("IdempotencyToken")
    if tok and ("CreateProduct", tok) in st.tokens:
        return _product_admin_answer(st, st.products[st.tokens[("CreateProduct", tok)]], created=True)
    art = _new_artifact(st, p.get("ProvisioningArtifactParameters") or {}, st.account)
    pid = _id("prod-")
    prod = {
        "Id": pid,
        "ViewId": _id("prodview-"),
        "Name": p["Name"],
        "Owner": p["Owner"],
        "Description": p.get("Description", ""),
        "Distributor": p.get("Distributor", ""),
        "SupportDescription": p.get("SupportDescription", ""),
        "SupportEmail": p.get("SupportEmail", ""),
        "SupportUrl": p.get("SupportUrl", ""),
        "Type": p["ProductType"],
        "CreatedTime": _now(),
        "Tags": p.get("Tags", []),
        "Artifacts": [art],
    }
    st.products[pid] = prod
    if tok:
        st.tokens[("CreateProduct", tok)] = pid
    return _product_admin_answer(st, prod, created=True)


def _summary(st, prod) -> dict:
    return {
        "Id": prod["ViewId"],
        "ProductId": prod["Id"],
        "Name": prod["Name"],
        "Owner": prod["Owner"],
        "ShortDescription": prod["Description"],
        "Type": prod["Type"],
        "Distributor": prod["Distributor"],
        "HasDefaultPath": len(_portfolios_of(st, prod["Id"])) == 1,
        "SupportEmail": prod["SupportEmail"],
        "SupportDescription": prod["SupportDescription"],
        "SupportUrl": prod["SupportUrl"],
    }


def _view_detail(st, prod) -> dict:
    return {
        "ProductViewSummary": _summary(st, prod),
        "Status": "AVAILABLE",
        "ProductARN": _product_arn(st, prod["Id"]),
        "CreatedTime": prod["CreatedTime"],
    }


def _artifact_detail(a) -> dict:
    return {k: a[k] for k in ("Id", "Name", "Description", "Type", "CreatedTime", "Active", "Guidance")}


def _product_admin_answer(st, prod, created=False) -> dict:
    if created:
        return {
            "ProductViewDetail": _view_detail(st, prod),
            "ProvisioningArtifactDetail": _artifact_detail(prod["Artifacts"][-1]),
            "Tags": prod["Tags"],
        }
    return {
        "ProductViewDetail": _view_detail(st, prod),
        "ProvisioningArtifactSummaries": [
            {
                "Id": a["Id"],
                "Name": a["Name"],
                "Description": a["Description"],
                "CreatedTime": a["CreatedTime"],
                "ProvisioningArtifactMetadata": {},
            }
            for a in prod["Artifacts"]
        ],
        "Tags": prod["Tags"],
        "TagOptions": [],
        "Budgets": [],
    }


def _get_product(st: State, pid: str | None = None, name: str | None = None) -> dict:
    if pid:
        if pid in st.products:
            return st.products[pid]
        raise ResourceNotFound(f"Product {pid} not found.")
    if name:
        for prod in st.products.values():
            if prod["Name"] == name:
                return prod
        raise ResourceNotFound(f"Product {name} not found.")
    raise InvalidParameters("Id or Name is required")


def _get_artifact(prod: dict, aid: str | None = None, name: str | None = None) -> dict:
    for a in prod["Artifacts"]:
        if (aid and a["Id"] == aid) or (not aid and name and a["Name"] == name):
            return a
    if not aid and not name:
        raise InvalidParameters("ProvisioningArtifactId or ProvisioningArtifactName is required")
    raise ResourceNotFound(f"Provisioning artifact {aid or name} not found for product {prod['Id']}.")


def _portfolios_of(st: State, prod_id: str) -> list[str]:
    return [pid for pid, prods in st.assoc.items() if prod_id in prods]


def _launch_paths(st: State, prod_id: str) -> list[dict]:
    out = []
    for port_id in _portfolios_of(st, prod_id):
        cons = [c for c in st.constraints.values() if c["PortfolioId"] == port_id and c["ProductId"] == prod_id]
        out.append(
            {
                "Id": port_id.replace("port-", "lpv3-"),
                "PortfolioId": port_id,
                "ConstraintSummaries": [{"Type": c["Type"], "Description": c["Description"]} for c in cons],
                "Tags": [],
                "Name": st.portfolios[port_id]["DisplayName"],
            }
        )
    return out


def _resolve_path(st: State, prod: dict, path_id: str | None, path_name: str | None = None) -> dict:
    paths = _launch_paths(st, prod["Id"])
    if path_id or path_name:
        for lp in paths:
            if lp["Id"] == path_id or (not path_id and lp["Name"] == path_name):
                return lp
        raise ResourceNotFound(f"Launch path {path_id or path_name} not found for product {prod['Id']}.")
    if not paths:
        raise ResourceNotFound(f"No launch paths found for resource: {prod['Id']}")
    if len(paths) > 1:
        raise InvalidParameters("More than one launch path exists for this product; PathId is required")
    return paths[0]


def _launch_role(st: State, prod_id: str, port_id: str) -> str | None:
    for c in st.constraints.values():
        if c["Type"] == "LAUNCH" and c["PortfolioId"] == port_id and c["ProductId"] == prod_id:
            return json.loads(c["Parameters"]).get("RoleArn")
    return None


def delete_product(st: State, pid: str) -> None:
    _get_product(st, pid)
    if _portfolios_of(st, pid):
        raise AwsError("ResourceInUseException", f"Product {pid} is associated with a portfolio.")
    del st.products[pid]


# ---------------------------------------------------------------------------------------------
# template parameters


def template_parameters(template: dict) -> list[dict]:
    out = []
    for key, spec in (template.get("Parameters") or {}).items():
        cons = {}
        for k in ("AllowedValues", "AllowedPattern", "ConstraintDescription"):
            if k in spec:
                cons[k] = [str(v) for v in spec[k]] if k == "AllowedValues" else str(spec[k])
        for k in ("MaxLength", "MinLength", "MaxValue", "MinValue"):
            if k in spec:
                cons[k] = str(spec[k])
        item = {
            "ParameterKey": key,
            "ParameterType": spec.get("Type", "String"),
            "IsNoEcho": bool(spec.get("NoEcho", False)),
            "Description": spec.get("Description", ""),
            "ParameterConstraints": cons,
        }
        if "Default" in spec:
            item["DefaultValue"] = str(spec["Default"])
        out.append(item)
    return out


def validate_parameters(template: dict, given: dict[str, str]) -> list[str]:
    """CloudFormation's own checks; returns error descriptions."""
    specs = template.get("Parameters") or {}
    errors = []
    unknown = [k for k in given if k not in specs]
    if unknown:
        errors.append(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    missing = [k for k, s in specs.items() if k not in given and "Default" not in s]
    if missing:
        errors.append(f"Parameters: [{', '.join(missing)}] must have values")
    for k, v in given.items():
        s = specs.get(k)
        if s is None:
            continue
        if "AllowedValues" in s and v not in [str(x) for x in s["AllowedValues"]]:
            errors.append(f"Parameter '{k}' must be one of AllowedValues")
        if "AllowedPattern" in s and not re.fullmatch(str(s["AllowedPattern"]), v):
            errors.append(f"Parameter '{k}' must match pattern {s['AllowedPattern']}")
        if "MinLength" in s and len(v) < int(s["MinLength"]):
            errors.append(f"Parameter '{k}' must contain at least {s['MinLength']} characters")
        if "MaxLength" in s and len(v) > int(s["MaxLength"]):
            errors.append(f"Parameter '{k}' must contain at most {s['MaxLength']} characters")
        if s.get("Type") == "Number" or "MinValue" in s or "MaxValue" in s:
            try:
                num = float(v)
            except ValueError:
                errors.append(f"Parameter '{k}' must be a number")
                continue
            if "MinValue" in s and num < float(s["MinValue"]):
                errors.append(f"Parameter '{k}' must be a number not less than {s['MinValue']}")
            if "MaxValue" in s and num > float(s["MaxValue"]):
                errors.append(f"Parameter '{k}' must be a number not greater than {s['MaxValue']}")
    return errors


# ---------------------------------------------------------------------------------------------
# records and provisioned products


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_record(st: State, rtype: str, pp: dict, prod_id: str, art_id: str, path_id: str, tags) -> dict:
    rec = {
        "RecordId": _id("rec-"),
        "ProvisionedProductName": pp["Name"],
        "Status": "CREATED",
        "CreatedTime": _now(),
        "UpdatedTime": _now(),
        "ProvisionedProductType": "CFN_STACK",
        "RecordType": rtype,
        "ProvisionedProductId": pp["Id"],
        "ProductId": prod_id,
        "ProvisioningArtifactId": art_id,
        "PathId": path_id,
        "RecordErrors": [],
        "RecordTags": tags or [],
        "LaunchRoleArn": pp.get("LaunchRoleArn"),
        "_outcome": "SUCCEEDED",
        "_outputs": [],
        "_duration": setting(st.account, "record_seconds"),
        "_logged": None,
    }
    st.records[rec["RecordId"]] = rec
    _log_record(st, rec)
    return rec


def _log_record(st: State, rec: dict) -> None:
    if rec["_logged"] != rec["Status"]:
        rec["_logged"] = rec["Status"]
        log_event(st.account, "record", rec["RecordId"], rec["Status"])


def _refresh(st: State) -> None:
    """Advance every record whose time has come (lazy state machine), and the products they drive."""
    now = _now()
    for rec in list(st.records.values()):
        if rec["Status"] in ("SUCCEEDED", "FAILED"):
            continue
        if rec["Status"] == "CREATED":
            rec["Status"] = "IN_PROGRESS"
            rec["UpdatedTime"] = now
            _log_record(st, rec)
        if now - rec["CreatedTime"] < rec["_duration"]:
            continue
        rec["Status"] = rec["_outcome"]
        rec["UpdatedTime"] = rec["CreatedTime"] + rec["_duration"]
        _log_record(st, rec)
        pp = st.pps.get(rec["ProvisionedProductId"])
        if pp is None:
            continue
        ok = rec["Status"] == "SUCCEEDED"
        if rec["RecordType"] == "TERMINATE_PROVISIONED_PRODUCT":
            if ok:
                del st.pps[pp["Id"]]
                log_event(st.account, "provisioned-product", pp["Id"], "TERMINATED")
                continue
            pp["Status"], pp["StatusMessage"] = "ERROR", rec["RecordErrors"][0]["Description"]
        elif rec["RecordType"] == "PROVISION_PRODUCT":
            pp["Status"] = "AVAILABLE" if ok else "ERROR"
            pp["StatusMessage"] = "" if ok else rec["RecordErrors"][0]["Description"]
        else:
            pp["Status"] = "AVAILABLE" if ok else "TAINTED"
            pp["StatusMessage"] = "" if ok else rec["RecordErrors"][0]["Description"]
        if ok:
            pp["LastSuccessfulProvisioningRecordId"] = rec["RecordId"]
            pp["ProvisioningArtifactId"] = rec["ProvisioningArtifactId"]
        log_event(st.account, "provisioned-product", pp["Id"], pp["Status"])


def _record_public(rec: dict) -> dict:
    out = {k: v for k, v in rec.items() if not k.startswith("_") and v is not None}
    return out


def _stack_name(st: State, pp_id: str) -> str:
    return f"SC-{st.account}-{pp_id}"


def _cfn(st: State):
    from moto.cloudformation.models import cloudformation_backends

    return cloudformation_backends[st.account][st.region]


def _fail(rec: dict, messages: list[str], code: str = "ValidationError") -> None:
    rec["_outcome"] = "FAILED"
    rec["RecordErrors"] = [{"Code": code, "Description": m} for m in messages]


def _pp_detail(pp: dict) -> dict:
    keys = (
        "Name",
        "Arn",
        "Type",
        "Id",
        "Status",
        "StatusMessage",
        "CreatedTime",
        "IdempotencyToken",
        "LastRecordId",
        "LastProvisioningRecordId",
        "LastSuccessfulProvisioningRecordId",
        "ProductId",
        "ProvisioningArtifactId",
        "LaunchRoleArn",
    )
    return {k: pp[k] for k in keys if pp.get(k) is not None}


def provision_product(st: State, p: dict) -> dict:
    token = p.get("ProvisionToken")
    if not token or len(token) > 128 or not TOKEN_RE.match(token):
        raise InvalidParameters("ProvisionToken must be 1-128 characters matching [a-zA-Z0-9][a-zA-Z0-9_-]*")
    name = p.get("ProvisionedProductName")
    if not name or len(name) > 128 or not PP_NAME_RE.match(name):
        raise InvalidParameters("ProvisionedProductName must be 1-128 characters matching [a-zA-Z0-9][a-zA-Z0-9._-]*")
    # botocore servicecatalog 2015-12-10: ProvisionProductInput.Tags is shape Tags, {"type": "list",
    # "max": 50}; AWS's model validation answers ValidationException.
    if len(p.get("Tags") or []) > 50:
        raise AwsError(
            "ValidationException",
            "1 validation error detected: Value at 'tags' failed to satisfy "
            "constraint: Member must have length less than or equal to 50",
        )
    if ("ProvisionProduct", token) in st.tokens:
        rec = st.records[st.tokens[("ProvisionProduct", token)]]
        return {"RecordDetail": _record_public(rec)}
    for other in st.pps.values():
        if other["Name"] == name:
            raise AwsError("DuplicateResourceException", f"A provisioned product with name {name} already exists.")
    prod = _get_product(st, p.get("ProductId"), p.get("ProductName"))
    art = _get_artifact(prod, p.get("ProvisioningArtifactId"), p.get("ProvisioningArtifactName"))
    # UpdateProvisioningArtifact (botocore servicecatalog): Guidance DEPRECATED: "Users ... cannot launch
    # new provisioned products using a deprecated version"; Active: "End users cannot launch or update
    # a provisioned product from an inactive provisioning artifact". AWS's error for it is not
    # documented: InvalidParametersException.
    if art.get("Guidance") == "DEPRECATED" or not art.get("Active", True):
        raise InvalidParameters(
            f"Provisioning artifact {art['Id']} of product {prod['Id']} is "
            f"{'deprecated' if art.get('Active', True) else 'inactive'}: it cannot be launched."
        )
    path = _resolve_path(st, prod, p.get("PathId"), p.get("PathName"))
    given: dict[str, str] = {}
    for item in p.get("ProvisioningParameters") or []:
        if not isinstance(item, dict) or not item.get("Key"):
            raise InvalidParameters("ProvisioningParameters entries need a Key")
        if item["Key"] in given:
            raise InvalidParameters(f"Duplicate provisioning parameter {item['Key']}")
        given[item["Key"]] = str(item.get("Value", ""))
    tags = list(prod["Tags"]) + list(p.get("Tags") or [])
    pp_id = _id("pp-")
    pp = {
        "Name": name,
        "Arn": f"arn:aws:servicecatalog:{st.region}:{st.account}:stack/{name}/{pp_id}",
        "Type": "CFN_STACK",
        "Id": pp_id,
        "Status": "UNDER_CHANGE",
        "StatusMessage": "",
        "CreatedTime": _now(),
        "IdempotencyToken": token,
        "ProductId": prod["Id"],
        "ProvisioningArtifactId": art["Id"],
        "LaunchRoleArn": _launch_role(st, prod["Id"], path["PortfolioId"]),
        "PathId": path["Id"],
        "Tags": tags,
        "Parameters": given,
        "PhysicalId": None,
        # Whose it is (servicecatalog/ownership.py): the signer of the request.
        "UserArn": ownership.CALLER.get() or f"arn:aws:iam::{st.account}:user/sandbox",
    }
    st.pps[pp_id] = pp
    rec = _new_record(st, "PROVISION_PRODUCT", pp, prod["Id"], art["Id"], path["Id"], p.get("Tags"))
    pp["LastRecordId"] = pp["LastProvisioningRecordId"] = rec["RecordId"]
    st.tokens[("ProvisionProduct", token)] = rec["RecordId"]
    errors = validate_parameters(art["Template"], given)
    denied = None if errors else _launch_role_denied(st, pp, "PROVISION_PRODUCT", art)
    if errors:
        _fail(rec, errors)
    elif denied:
        _fail(rec, [denied], code="AccessDenied")
    else:
        _launch(st, pp, art, rec, tags)
    answer = {"RecordDetail": _record_public(rec)}
    for hook in TRAIL_HOOKS:
        hook(st.account, st.region, "ProvisionProduct", p, answer)
    return answer


def _launch_role_denied(
    st: State, pp: dict, operation: str, art: dict | None, old_art: dict | None = None, params_changed: bool = True
) -> str | None:
    """AWS's AccessDenied description when the launch role lacks a permission (servicecatalog/launch_role.py)."""
    from nvsandbox.servicecatalog import launch_role

    return launch_role.check(
        st.account,
        st.region,
        pp.get("LaunchRoleArn"),
        operation,
        stack_name=_stack_name(st, pp["Id"]),
        new_template=art["Template"] if art else None,
        old_template=old_art["Template"] if old_art else None,
        params_changed=params_changed,
        template_key=f"{pp['ProductId']}/{art['Id'] if art else ''}/template",
    )


class _CreateFailed(Exception):
    """The product stack's creation failed and rolled back; the message is CloudFormation's reason."""


def _launch(st: State, pp: dict, art: dict, rec: dict, tags) -> None:
    cfn = _cfn(st)
    sc_tags = {t["Key"]: t["Value"] for t in tags}
    sc_tags.update(
        {
            "aws:servicecatalog:provisionedProductArn": pp["Arn"],
            "aws:servicecatalog:productArn": _product_arn(st, pp["ProductId"]),
            "aws:servicecatalog:provisioningArtifactIdentifier": art["Id"],
            "aws:servicecatalog:portfolioArn": _portfolio_arn(st, pp["PathId"].replace("lpv3-", "port-")),
        }
    )
    try:
        stack = cfn.create_stack(
            name=_stack_name(st, pp["Id"]),
            template=art["TemplateBody"],
            parameters=dict(pp["Parameters"]),
            tags=sc_tags,
            role_arn=pp.get("LaunchRoleArn"),
        )
        pp["PhysicalId"] = stack.stack_id
        if stack.status == "ROLLBACK_COMPLETE":
            # a resource failed to create (cloudformation/stacks.py, patch_failed_creation): the record fails with
            # the resource's CREATE_FAILED reason, as Service Catalog reports CloudFormation's
            reasons = [
                e.resource_status_reason
                for e in stack.events
                if e.resource_status == "CREATE_FAILED" and e.resource_status_reason
            ]
            raise _CreateFailed(reasons[0] if reasons else f"stack {stack.name} rolled back")
        rec["_outputs"] = _outputs(stack)
    except Exception as e:  # noqa: BLE001
        _fail(rec, [str(e) if isinstance(e, _CreateFailed) else f"{type(e).__name__}: {e}"], code="CFN_ERROR")
        try:
            cfn.delete_stack(_stack_name(st, pp["Id"]))
        except Exception:  # noqa: BLE001
            pass


def _outputs(stack) -> list[dict]:
    out = [
        {
            "OutputKey": o["OutputKey"],
            "OutputValue": str(o["OutputValue"]),
            **({"Description": o["Description"]} if o.get("Description") else {}),
        }
        for o in (stack.outputs or [])
    ]
    out.append(
        {
            "OutputKey": "CloudformationStackARN",
            "OutputValue": stack.stack_id,
            "Description": "The ARN of the launched Cloudformation Stack",
        }
    )
    return out


def _get_pp(st: State, pp_id: str | None, name: str | None) -> dict:
    if pp_id:
        if pp_id in st.pps:
            return st.pps[pp_id]
        raise ResourceNotFound(f"Provisioned product {pp_id} not found.")
    if name:
        for pp in st.pps.values():
            if pp["Name"] == name:
                return pp
        raise ResourceNotFound(f"Provisioned product {name} not found.")
    raise InvalidParameters("Id or Name is required")


def terminate(st: State, p: dict) -> dict:
    token = p.get("TerminateToken")
    if not token or not TOKEN_RE.match(token):
        raise InvalidParameters("TerminateToken is required")
    if ("Terminate", token) in st.tokens:
        return {"RecordDetail": _record_public(st.records[st.tokens[("Terminate", token)]])}
    pp = _get_pp(st, p.get("ProvisionedProductId"), p.get("ProvisionedProductName"))
    if pp["Status"] in ("UNDER_CHANGE", "PLAN_IN_PROGRESS"):
        raise AwsError("InvalidStateException", f"Provisioned product {pp['Id']} is {pp['Status']}.")
    rec = _new_record(
        st, "TERMINATE_PROVISIONED_PRODUCT", pp, pp["ProductId"], pp["ProvisioningArtifactId"], pp["PathId"], []
    )
    st.tokens[("Terminate", token)] = rec["RecordId"]
    pp["Status"], pp["LastRecordId"] = "UNDER_CHANGE", rec["RecordId"]
    denied = None
    if not p.get("RetainPhysicalResources") and pp.get("PhysicalId"):
        prod = st.products.get(pp["ProductId"]) or {"Artifacts": []}
        current = next((a for a in prod["Artifacts"] if a["Id"] == pp["ProvisioningArtifactId"]), None)
        denied = _launch_role_denied(st, pp, "TERMINATE_PROVISIONED_PRODUCT", None, current)
    if denied and not p.get("IgnoreErrors"):
        _fail(rec, [denied], code="AccessDenied")
    elif denied:
        # IgnoreErrors: "Service Catalog stops managing the specified provisioned product even if it
        # cannot delete the underlying resources" (botocore servicecatalog model,
        # TerminateProvisionedProductInput.IgnoreErrors). The launch role may not delete them, so
        # CloudFormation leaves the stack DELETE_FAILED with its resources: the record succeeds, the
        # resources stay.
        _leave_stack(st, pp["Id"], denied)
    elif not p.get("RetainPhysicalResources"):
        try:
            _cfn(st).delete_stack(_stack_name(st, pp["Id"]))
        except Exception as e:  # noqa: BLE001
            if not p.get("IgnoreErrors"):
                _fail(rec, [f"{type(e).__name__}: {e}"], code="CFN_ERROR")
    return {"RecordDetail": _record_public(rec)}


def _leave_stack(st: State, pp_id: str, reason: str) -> None:
    try:
        stack = _cfn(st).get_stack(_stack_name(st, pp_id))
    except Exception:  # noqa: BLE001  (no stack: nothing left behind)
        return
    stack.status = "DELETE_FAILED"
    stack.status_reason = reason


def update_pp(st: State, p: dict) -> dict:
    token = p.get("UpdateToken")
    if not token or not TOKEN_RE.match(token):
        raise InvalidParameters("UpdateToken is required")
    if ("Update", token) in st.tokens:
        return {"RecordDetail": _record_public(st.records[st.tokens[("Update", token)]])}
    pp = _get_pp(st, p.get("ProvisionedProductId"), p.get("ProvisionedProductName"))
    if pp["Status"] in ("UNDER_CHANGE", "PLAN_IN_PROGRESS"):
        # UpdateProvisionedProduct's modelled errors are InvalidParametersException and
        # ResourceNotFoundException only (botocore servicecatalog 2015-12-10): a product another
        # operation holds is refused with the former (its wording is not documented).
        raise InvalidParameters(f"Provisioned product {pp['Id']} is {pp['Status']}.")
    prod = _get_product(
        st, p.get("ProductId") or (None if p.get("ProductName") else pp["ProductId"]), p.get("ProductName")
    )
    if p.get("ProvisioningArtifactId") or p.get("ProvisioningArtifactName"):
        art = _get_artifact(prod, p.get("ProvisioningArtifactId"), p.get("ProvisioningArtifactName"))
    else:
        art = _get_artifact(prod, pp["ProvisioningArtifactId"])
    # An inactive version cannot be updated to; a deprecated one can (UpdateProvisioningArtifact
    # Active and Guidance, botocore servicecatalog).
    if not art.get("Active", True):
        raise InvalidParameters(f"Provisioning artifact {art['Id']} of product {prod['Id']} is inactive.")
    path = _resolve_path(st, prod, p.get("PathId") or pp["PathId"], p.get("PathName"))
    params = dict(pp["Parameters"])
    for item in p.get("ProvisioningParameters") or []:
        if item.get("UsePreviousValue"):
            continue
        params[item["Key"]] = str(item.get("Value", ""))
    # UsePreviousValue needs a previous value: CloudFormation refuses it for a parameter the stack's
    # current template does not declare (UpdateStack, Parameter.UsePreviousValue: "use the existing
    # parameter value that the stack is using for a given parameter key"; a key the stack does not
    # have has none). Whether Service Catalog refuses the call or fails the record is not
    # documented: the record fails (the worst case), nothing changes.
    old_prod_now = st.products.get(pp["ProductId"]) or {"Artifacts": []}
    deployed = next((a for a in old_prod_now["Artifacts"] if a["Id"] == pp["ProvisioningArtifactId"]), None)
    deployed_keys = set(((deployed or {}).get("Template") or {}).get("Parameters") or {}) | set(pp["Parameters"])
    no_previous = sorted(
        i["Key"]
        for i in p.get("ProvisioningParameters") or []
        if i.get("UsePreviousValue") and deployed is not None and i["Key"] not in deployed_keys
    )
    # parameters the new template no longer has are dropped, as CloudFormation does with previous values
    specs = art["Template"].get("Parameters") or {}
    explicit = {i["Key"] for i in p.get("ProvisioningParameters") or [] if not i.get("UsePreviousValue")}
    params = {k: v for k, v in params.items() if k in specs or k in explicit}
    rec = _new_record(st, "UPDATE_PROVISIONED_PRODUCT", pp, prod["Id"], art["Id"], path["Id"], p.get("Tags"))
    st.tokens[("Update", token)] = rec["RecordId"]
    pp["Status"], pp["LastRecordId"], pp["LastProvisioningRecordId"] = "UNDER_CHANGE", rec["RecordId"], rec["RecordId"]
    errors = [
        f"Invalid input for parameter key {k}. Cannot specify usePreviousValue as true for a parameter "
        "key not in the previous template"
        for k in no_previous
    ] or validate_parameters(art["Template"], params)
    if errors:
        _fail(rec, errors)
        return {"RecordDetail": _record_public(rec)}
    old_prod = st.products.get(pp["ProductId"]) or {"Artifacts": []}
    old_art = next((a for a in old_prod["Artifacts"] if a["Id"] == pp["ProvisioningArtifactId"]), None)
    denied = _launch_role_denied(
        st, pp, "UPDATE_PROVISIONED_PRODUCT", art, old_art, params_changed=params != pp["Parameters"]
    )
    if denied:
        _fail(rec, [denied], code="AccessDenied")
        return {"RecordDetail": _record_public(rec)}
    try:
        cfn = _cfn(st)
        stack = cfn.update_stack(
            name=_stack_name(st, pp["Id"]),
            template=art["TemplateBody"],
            role_arn=pp.get("LaunchRoleArn"),
            parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            tags=None,
        )
        from nvsandbox.cloudformation import update as stack_update

        refused = stack_update.last_update_error(stack)
        if refused:
            # the stack rolled back (stack_update.py): the record fails with CloudFormation's reason, the
            # product ends TAINTED (_refresh) on its previous artifact and parameters
            _fail(rec, [refused], code="CFN_ERROR")
            return {"RecordDetail": _record_public(rec)}
        pp["Parameters"] = params
        pp["ProductId"] = prod["Id"]
        rec["_outputs"] = _outputs(stack)
    except Exception as e:  # noqa: BLE001
        _fail(rec, [f"{type(e).__name__}: {e}"], code="CFN_ERROR")
    return {"RecordDetail": _record_public(rec)}


def _pp_attr(st: State, pp: dict) -> dict:
    prod = st.products.get(pp["ProductId"], {})
    art = next((a for a in prod.get("Artifacts", []) if a["Id"] == pp["ProvisioningArtifactId"]), {})
    out = _pp_detail(pp)
    out.update(
        {
            "Tags": pp["Tags"],
            "PhysicalId": pp.get("PhysicalId"),
            "ProductName": prod.get("Name"),
            "ProvisioningArtifactName": art.get("Name"),
            "UserArn": pp["UserArn"],
            "UserArnSession": pp["UserArn"],
        }
    )
    return {k: v for k, v in out.items() if v is not None}


def _matches(st: State, pp: dict, query: str) -> bool:
    attr = _pp_attr(st, pp)
    if ":" in query:
        key, _, val = query.partition(":")
        keymap = {
            "arn": "Arn",
            "createdTime": "CreatedTime",
            "id": "Id",
            "lastRecordId": "LastRecordId",
            "idempotencyToken": "IdempotencyToken",
            "name": "Name",
            "productId": "ProductId",
            "productName": "ProductName",
            "provisioningArtifactId": "ProvisioningArtifactId",
            "provisioningArtifactName": "ProvisioningArtifactName",
            "status": "Status",
            "type": "Type",
            "userArn": "UserArn",
            "userArnSession": "UserArnSession",
            "physicalId": "PhysicalId",
        }
        if key.startswith("tags.") or key == "tags":
            tk = key[5:] if key.startswith("tags.") else None
            return any(
                (tk is None or t["Key"] == tk) and (t["Value"] == val or tk is None and t["Key"] == val)
                for t in pp["Tags"]
            )
        if key in keymap:
            return str(attr.get(keymap[key], "")) == val
    q = query.lower()
    return any(q in str(v).lower() for v in attr.values() if isinstance(v, str))


def _page(items: list, p: dict, token_key: str = "PageToken", size_key: str = "PageSize", default=20):
    start = int(p.get(token_key) or 0)
    size = int(p.get(size_key) or default)
    nxt = str(start + size) if start + size < len(items) else None
    return items[start : start + size], nxt


# ---------------------------------------------------------------------------------------------
# associations, constraints, artifacts (shared by the API handlers and the CloudFormation types)


def associate_principal(st: State, p: dict) -> dict:
    _get_portfolio(st, p.get("PortfolioId"))
    arn, ptype = p.get("PrincipalARN"), p.get("PrincipalType")
    if not arn or ptype not in ("IAM", "IAM_PATTERN"):
        raise InvalidParameters("PrincipalARN and PrincipalType (IAM|IAM_PATTERN) are required")
    lst = st.principals[p["PortfolioId"]]
    if not any(x["PrincipalARN"] == arn for x in lst):
        lst.append({"PrincipalARN": arn, "PrincipalType": ptype})
    return {}


def associate_product(st: State, p: dict) -> dict:
    _get_portfolio(st, p.get("PortfolioId"))
    _get_product(st, p.get("ProductId"))
    st.assoc[p["PortfolioId"]].add(p["ProductId"])
    return {}


def disassociate_product(st: State, p: dict) -> dict:
    _get_portfolio(st, p.get("PortfolioId"))
    _get_product(st, p.get("ProductId"))
    if p["ProductId"] not in st.assoc[p["PortfolioId"]]:
        raise ResourceNotFound("Product is not associated with the portfolio.")
    if any(c["PortfolioId"] == p["PortfolioId"] and c["ProductId"] == p["ProductId"] for c in st.constraints.values()):
        raise AwsError("ResourceInUseException", "Delete the constraints on this product/portfolio first.")
    st.assoc[p["PortfolioId"]].discard(p["ProductId"])
    return {}


def create_constraint(st: State, p: dict) -> dict:
    port = _get_portfolio(st, p.get("PortfolioId"))
    prod = _get_product(st, p.get("ProductId"))
    ctype = p.get("Type")
    if ctype not in ("LAUNCH", "NOTIFICATION", "RESOURCE_UPDATE", "STACKSET", "TEMPLATE"):
        raise InvalidParameters(f"Invalid constraint type {ctype}")
    try:
        params = json.loads(p.get("Parameters") or "")
    except ValueError:
        raise InvalidParameters("Parameters must be a JSON document") from None
    if ctype == "LAUNCH" and not (params.get("RoleArn") or params.get("LocalRoleName")):
        raise InvalidParameters("LAUNCH constraint needs RoleArn or LocalRoleName")
    if prod["Id"] not in st.assoc[port["Id"]]:
        raise ResourceNotFound(f"Product {prod['Id']} is not associated with portfolio {port['Id']}.")
    tok = p.get("IdempotencyToken")
    if tok and ("CreateConstraint", tok) in st.tokens:
        return _constraint_answer(st.constraints[st.tokens[("CreateConstraint", tok)]])
    if ctype == "LAUNCH" and any(
        c["Type"] == "LAUNCH" and c["PortfolioId"] == port["Id"] and c["ProductId"] == prod["Id"]
        for c in st.constraints.values()
    ):
        raise AwsError(
            "DuplicateResourceException", "A launch constraint already exists for this product and portfolio."
        )
    if ctype == "LAUNCH" and params.get("LocalRoleName") and not params.get("RoleArn"):
        params["RoleArn"] = f"arn:aws:iam::{st.account}:role/{params['LocalRoleName']}"
    cons = {
        "ConstraintId": _id("cons-"),
        "Type": ctype,
        "Description": p.get("Description", ""),
        "Owner": st.account,
        "ProductId": prod["Id"],
        "PortfolioId": port["Id"],
        "Parameters": json.dumps(params),
    }
    st.constraints[cons["ConstraintId"]] = cons
    if tok:
        st.tokens[("CreateConstraint", tok)] = cons["ConstraintId"]
    return _constraint_answer(cons)


def _constraint_detail(c):
    return {k: c[k] for k in ("ConstraintId", "Type", "Description", "Owner", "ProductId", "PortfolioId")}


def _constraint_answer(c):
    return {"ConstraintDetail": _constraint_detail(c), "ConstraintParameters": c["Parameters"], "Status": "AVAILABLE"}


def create_artifact(st: State, p: dict) -> dict:
    prod = _get_product(st, p.get("ProductId"))
    tok = p.get("IdempotencyToken")
    if tok and ("CreateProvisioningArtifact", tok) in st.tokens:
        a = _get_artifact(prod, st.tokens[("CreateProvisioningArtifact", tok)])
    else:
        params = p.get("Parameters") or {}
        if any(x["Name"] == params.get("Name") for x in prod["Artifacts"]):
            raise AwsError("DuplicateResourceException", f"Provisioning artifact {params.get('Name')} already exists.")
        a = _new_artifact(st, params, st.account)
        prod["Artifacts"].append(a)
        if tok:
            st.tokens[("CreateProvisioningArtifact", tok)] = a["Id"]
    return {
        "ProvisioningArtifactDetail": _artifact_detail(a),
        "Info": {"TemplateUrl": a["TemplateUrl"]},
        "Status": "AVAILABLE",
    }
