"""Control endpoint `/_sandbox/set-state`: put a resource in a state tests cannot reach by API calls.

Body: {"account_id", "kind": "notebook" | "provisioned-product" | "stack", "name", "status", "region"?,
       "then"?, "after_seconds"?} (a notebook reaches `then` after `after_seconds`, as it leaves a
       state SageMaker ends on its own, such as maintenance)

The states are the ones AWS documents, each reachable on AWS without the tool's doing:
- notebook: any NotebookInstanceStatus (botocore sagemaker model, enum NotebookInstanceStatus:
  Pending, InService, Stopping, Stopped, Failed, Deleting, Updating, PendingMaintenance,
  InMaintenance). Planned transitions are dropped: the notebook stays there until an API call moves it
  (or until `after_seconds`, with `then`).
- provisioned-product: any ProvisionedProductStatus (botocore servicecatalog model). TAINTED is what
  AWS leaves after an update failed and rolled back ("stable state, ready to perform any operation",
  ProvisionedProductStatus doc): the sandbox plays it at its worst case for the tool, with the last
  record a FAILED UPDATE_PROVISIONED_PRODUCT record while LastSuccessfulProvisioningRecordId still
  names the provision that built the notebook.
- stack: any CloudFormation StackStatus (e.g. DELETE_FAILED, UPDATE_ROLLBACK_FAILED, or an
  *_IN_PROGRESS started by someone else), matched by stack name.
"""

from __future__ import annotations

import time
from typing import Any

from nvsandbox.core import common


def _regions(backends: Any, account: str, region: str | None) -> list[tuple[str, Any]]:
    if account not in dict.keys(backends):
        return []
    return [(r, b) for r, b in dict.items(backends[account]) if region is None or r == region]


def _notebook(account: str, name: str, status: str, region: str | None, then: tuple | None = None) -> list[str]:
    from moto.sagemaker.models import sagemaker_backends

    from nvsandbox.sagemaker import notebooks

    done = []
    with notebooks._lock:
        for r, backend in _regions(sagemaker_backends, account, region):
            nb = backend.notebook_instances.get(name)
            if nb is None:
                continue
            notebooks._advance(nb)
            now = time.time()
            notebooks._st(nb)["plan"] = [(now + then[1], then[0], None)] if then else []
            notebooks._enter(nb, status, now)
            done.append(r)
    return done


def _provisioned_product(account: str, name: str, status: str, region: str | None) -> list[str]:
    from nvsandbox.servicecatalog import state as sc

    done = []
    with sc._lock:
        for (acct, r), st in list(sc._states.items()):
            if acct != account or (region is not None and r != region):
                continue
            sc._refresh(st)
            pp = next((p for p in st.pps.values() if name in (p["Name"], p["Id"])), None)
            if pp is None:
                continue
            if status == "TAINTED":
                last = st.records.get(pp.get("LastSuccessfulProvisioningRecordId") or pp.get("LastRecordId"), {})
                rec = sc._new_record(
                    st,
                    "UPDATE_PROVISIONED_PRODUCT",
                    pp,
                    last.get("ProductId"),
                    last.get("ProvisioningArtifactId"),
                    last.get("PathId"),
                    None,
                )
                message = "Sandbox: the update failed and was rolled back"
                rec.update(
                    {
                        "Status": "FAILED",
                        "_outcome": "FAILED",
                        "_duration": 0,
                        "RecordErrors": [{"Code": "UpdateFailed", "Description": message}],
                    }
                )
                sc._log_record(st, rec)
                pp["LastRecordId"] = rec["RecordId"]
                pp["StatusMessage"] = message
            pp["Status"] = status
            common.log_event(account, "provisioned-product", pp["Id"], status)
            done.append(r)
    return done


def _stack(account: str, name: str, status: str, region: str | None) -> list[str]:
    from moto.cloudformation.models import cloudformation_backends

    done = []
    for r, backend in _regions(cloudformation_backends, account, region):
        for stack in list(backend.stacks.values()):
            if stack.name == name and stack.status != "DELETE_COMPLETE":
                stack.status = status
                done.append(r)
    return done


_KINDS = {"notebook": _notebook, "provisioned-product": _provisioned_product, "stack": _stack}


def _set_state(body: dict) -> tuple[int, Any]:
    account = str(body.get("account_id") or common.DEFAULT_ACCOUNT)
    kind, name, status = body.get("kind"), body.get("name"), body.get("status")
    if kind not in _KINDS or not name or not status:
        return 400, {"error": f"kind ({' | '.join(_KINDS)}), name and status are required"}
    if body.get("then") and kind != "notebook":
        return 400, {"error": "then applies to notebooks only"}
    if body.get("then"):
        # SageMaker ends maintenance (and any state it moves through) on its own: the notebook
        # reaches `then` after `after_seconds`.
        then = (str(body["then"]), float(body.get("after_seconds", 1)))
        regions = _notebook(account, name, status, body.get("region"), then)
    else:
        regions = _KINDS[kind](account, name, status, body.get("region"))
    if not regions:
        return 404, {"error": f"no {kind} {name} in account {account}"}
    return 200, {"account_id": account, "kind": kind, "name": name, "status": status, "regions": regions}


def install() -> None:
    common.control("set-state")(_set_state)
