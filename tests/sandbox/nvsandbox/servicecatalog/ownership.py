"""Whose provisioned products a caller reaches: Service Catalog's user / role / account levels.

AWS (Service Catalog admin guide, "Controlling access" and "AWS managed policies for end users";
API reference, AccessLevelFilter):
- a provisioned product belongs to the principal that provisioned it (its `UserArn`; for a role
  session the session's ARN, `UserArnSession`);
- `User` level ("self"): the caller's own provisioned products and their records; `Role` level: those
  of every session of the caller's role; `Account` level: all of the account's;
- searches (SearchProvisionedProducts, ScanProvisionedProducts) see the level their AccessLevelFilter
  asks for (User when absent); an action on one provisioned product or record (Describe*, Terminate,
  Update) is in the caller's `User` level only when the product is the caller's own, and the IAM
  condition keys servicecatalog:userLevel / roleLevel / accountLevel = "self" are set accordingly
  (iam/enforcement.py): with AWSServiceCatalogEndUserFullAccess's userLevel=self, another user's
  product is denied. Whether AWS answers AccessDenied or ResourceNotFound for it is not documented;
  the sandbox answers AccessDenied (IAM's answer when a condition does not match).

The sandbox's root key (12-digit id) stands for the account's administrator and sees every
provisioned product at every level (the sandbox's tests use it for setup and checks), a deviation
from AWS, where the root user's User level is its own products.
"""

from __future__ import annotations

from contextvars import ContextVar

# The ARN of the principal that signed the request being handled (None: the sandbox's root key).
CALLER: ContextVar[str | None] = ContextVar("servicecatalog_caller", default=None)


def role_of(arn: str | None) -> str | None:
    """The role of an assumed-role session ARN (arn:aws:sts::A:assumed-role/R/s -> R), else None."""
    if not arn or ":assumed-role/" not in arn:
        return None
    return arn.split(":assumed-role/", 1)[1].split("/", 1)[0]


def levels(owner: str | None, caller: str | None) -> set[str]:
    """The access levels ("User", "Role", "Account") at which `caller` reaches a product `owner` made."""
    if caller is None:
        return {"User", "Role", "Account"}
    out = {"Account"}
    if owner == caller:
        out |= {"User", "Role"}
    elif role_of(owner) is not None and role_of(owner) == role_of(caller):
        out.add("Role")
    return out


def visible(pps: list[dict], level: str | None) -> list[dict]:
    """The provisioned products a search at `level` (User when absent) shows the current caller."""
    caller = CALLER.get()
    return [pp for pp in pps if (level or "User") in levels(pp.get("UserArn"), caller)]


def owner_of_request(st, operation: str, params: dict) -> tuple[bool, str | None]:
    """(names one product, its owner) for an operation on one provisioned product or record; (False,
    None) for other operations, and (True, None) when the product is not found (the handler answers)."""
    pp = None
    if operation in ("DescribeProvisionedProduct",):
        pp = _find(st, params.get("Id"), params.get("Name"))
    elif operation in ("TerminateProvisionedProduct", "UpdateProvisionedProduct"):
        pp = _find(st, params.get("ProvisionedProductId"), params.get("ProvisionedProductName"))
    elif operation == "DescribeRecord":
        rec = st.records.get(params.get("Id"))
        pp = st.pps.get(rec.get("ProvisionedProductId")) if rec else None
    else:
        return False, None
    return True, (pp or {}).get("UserArn") if pp else None


def _find(st, pp_id, name):
    if pp_id:
        return st.pps.get(pp_id)
    for pp in st.pps.values():
        if name and pp["Name"] == name:
            return pp
    return None
