"""SageMaker's own EventBridge event on every notebook state change, delivered as AWS does it.

"SageMaker Notebook Instance State Change" (source aws.sagemaker) is one of the events SageMaker sends
to EventBridge (SageMaker Developer Guide, "Events that Amazon SageMaker AI sends to Amazon
EventBridge", https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html);
its detail fields are the notebook's description (EventBridge schema aws.sagemaker@
SageMakerNotebookInstanceStateChange, as the CDK's generated pattern class lists them: CreationTime,
InstanceType, LastModifiedTime, NotebookInstanceArn, NotebookInstanceLifecycleConfigName,
NotebookInstanceName, NotebookInstanceStatus, RoleArn, Tags). The event:
    {"version": "0", "id", "detail-type": "SageMaker Notebook Instance State Change",
     "source": "aws.sagemaker", "account", "time", "region", "resources": [<notebook ARN>],
     "detail": {"NotebookInstanceArn", "NotebookInstanceName", "NotebookInstanceStatus",
                "InstanceType", "RoleArn", "CreationTime", "LastModifiedTime" (epoch ms),
                "NotebookInstanceLifecycleConfigName"?, "FailureReason"? (Failed), "Tags": {k: v}}}
Times in the detail are epoch milliseconds, as in SageMaker's other state-change events on that page.

When: the moment the state changes, whoever looks. The sandbox's notebooks compute their planned
transitions lazily on read (sagemaker/notebooks.py `_advance`); a scheduler thread here advances
every notebook whose next transition is due (every SCHEDULER_TICK seconds), so a notebook left alone
still reaches InService and its event is sent without anyone calling DescribeNotebookInstance. A
transition observed earlier by a read is sent at once, with `time` = the transition's own moment.

"SageMaker AI may send multiple events to EventBridge for each state change" (same page): the worst
case is played, each state change is sent twice with probability `sagemaker_event_duplicate_rate`
(default 0.5; the draw is a hash of fault_seed, account, notebook, status and moment, so a given run is
reproducible; 0 or 1 in tests that need a fixed count). The copies have distinct event ids.

Controls:
- POST /_sandbox/events-flush {"account_id", "timeout"?}: advance every due transition now, wait
  until the events sent so far are handed over, then until the account's asynchronous invocations are
  done (awslambda/asynchronous.py). The answer counts the events emitted since start.
- events-hold / events-release (events/delivery.py): keep events and deliver them out of order.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
import uuid
from typing import Any

from nvsandbox.core import common

DETAIL_TYPE = "SageMaker Notebook Instance State Change"
SOURCE = "aws.sagemaker"
SCHEDULER_TICK = 0.02

common.register_setting("sagemaker_event_duplicate_rate", 0.5)

_queue: queue.Queue = queue.Queue()
_emitted: dict[str, int] = {}
_started = False
_start_lock = threading.Lock()


def _ms(dt: Any) -> int | None:
    if dt is None:
        return None
    try:
        from datetime import UTC

        return int(dt.replace(tzinfo=UTC).timestamp() * 1000)
    except Exception:  # noqa: BLE001
        return None


def _tags(nb: Any) -> dict[str, str]:
    tags = getattr(nb, "tags", None) or []
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {t["Key"]: str(t.get("Value", "")) for t in tags if isinstance(t, dict) and "Key" in t}


def snapshot(nb: Any, status: str, at: float) -> dict:
    """The event's detail for `nb` entering `status` at `at` (read without advancing the notebook)."""
    from nvsandbox.sagemaker import notebooks

    st = notebooks._st(nb)
    detail = {
        "NotebookInstanceArn": nb.arn,
        "NotebookInstanceName": nb.notebook_instance_name,
        "NotebookInstanceStatus": status,
        "InstanceType": getattr(nb, "instance_type", None),
        "RoleArn": getattr(nb, "role_arn", None),
        "CreationTime": _ms(getattr(nb, "creation_time", None)),
        "LastModifiedTime": int(at * 1000),
        "NotebookInstanceLifecycleConfigName": getattr(nb, "lifecycle_config_name", None),
        "Tags": _tags(nb),
    }
    if status == "Failed":
        detail["FailureReason"] = st.get("failure_reason")
    return {k: v for k, v in detail.items() if v is not None}


def _copies(account: str, name: str, status: str, at: float) -> int:
    rate = common.setting(account, "sagemaker_event_duplicate_rate")
    if rate <= 0:
        return 1
    if rate >= 1:
        return 2
    seed = common.setting(account, "fault_seed")
    digest = hashlib.sha256(f"{seed}|{account}|{name}|{status}|{at:.3f}".encode()).digest()
    return 2 if int.from_bytes(digest[:8], "big") / 2**64 < rate else 1


def on_transition(nb: Any, status: str, at: float) -> None:
    """Called by notebooks._enter for every state a notebook enters (under the notebooks lock: only
    queue the event, the dispatcher delivers it)."""
    if status == "Deleted":  # gone: no NotebookInstanceStatus of that name
        return
    from nvsandbox.sagemaker import notebooks

    account = notebooks._account_of(nb)
    _queue.put((account, nb.region_name, nb.arn, snapshot(nb, status, at), at))


def _event(account: str, region: str, arn: str, detail: dict, at: float) -> dict:
    from nvsandbox.events import delivery

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": delivery.iso_time(at),
        "region": region,
        "resources": [arn],
        "detail": detail,
    }


def _dispatch() -> None:
    from nvsandbox.events import delivery

    while True:
        account, region, arn, detail, at = _queue.get()
        try:
            copies = _copies(account, detail["NotebookInstanceName"], detail["NotebookInstanceStatus"], at)
            for _ in range(copies):
                delivery.put(account, region, _event(account, region, arn, detail, at))
                _emitted[account] = _emitted.get(account, 0) + 1
                common.log_event(
                    account, "sagemaker-event", detail["NotebookInstanceName"], detail["NotebookInstanceStatus"], at=at
                )
        except Exception as e:  # noqa: BLE001  (never let the dispatcher die)
            common.log_event(account, "sagemaker-event", "-", f"sandbox-error {type(e).__name__}: {e}")
        finally:
            _queue.task_done()


def advance_due(account: str | None = None) -> None:
    """Apply every due planned transition of every notebook (of one account, or all)."""
    from moto.sagemaker.models import sagemaker_backends

    from nvsandbox.sagemaker import notebooks

    now = time.time()
    for acct in list(dict.keys(sagemaker_backends)):
        if account is not None and acct != account:
            continue
        for _region, backend in list(dict.items(sagemaker_backends[acct])):
            due = False
            for nb in list(backend.notebook_instances.values()):
                plan = notebooks._st(nb)["plan"]
                if plan and plan[0][0] <= now:
                    due = True
                    break
            if due:
                notebooks._sweep(backend)


def _schedule_loop() -> None:
    while True:
        time.sleep(SCHEDULER_TICK)
        try:
            advance_due()
        except Exception:  # noqa: BLE001  (a backend changing under us: next tick)
            pass


def install() -> None:
    global _started
    from nvsandbox.sagemaker import notebooks

    with _start_lock:
        if _started:
            return
        original = notebooks._enter

        def _enter(nb, status, at, failure_reason=None):
            original(nb, status, at, failure_reason)
            try:
                on_transition(nb, status, at)
            except Exception:  # noqa: BLE001  (an event must never break an API call)
                pass

        notebooks._enter = _enter
        threading.Thread(target=_dispatch, daemon=True, name="sagemaker-events").start()
        threading.Thread(target=_schedule_loop, daemon=True, name="sagemaker-scheduler").start()
        _started = True


@common.control("events-flush")
def _flush(body: dict) -> tuple[int, Any]:
    from nvsandbox.awslambda import asynchronous

    account = str(body.get("account_id") or common.DEFAULT_ACCOUNT)
    advance_due(account)
    _queue.join()
    idle = asynchronous.wait_idle(account, float(body.get("timeout", 60)))
    return (200 if idle else 504), {"account_id": account, "emitted": _emitted.get(account, 0), "idle": idle}
