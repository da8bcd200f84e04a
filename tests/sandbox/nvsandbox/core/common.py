"""State shared by the sandbox's extensions: per-account settings, the event log, control endpoints.

The sandbox serves many isolated accounts at once (the request's access key id, when it is 12 digits,
is the account id), so every tunable here is per account, with defaults from the environment given to
`scripts/sandbox.sh up`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

DEFAULT_ACCOUNT = "123456789012"

# Defaults read once at start-up; overridable per account through POST /_sandbox/config.
_DEFAULTS: dict[str, float] = {
    "record_seconds": float(os.environ.get("SANDBOX_RECORD_SECONDS", "1")),
    "pending_seconds": float(os.environ.get("SANDBOX_PENDING_SECONDS", "2")),
    "fault_rate": float(os.environ.get("SANDBOX_FAULT_RATE", "0")),
    "fault_seed": float(os.environ.get("SANDBOX_FAULT_SEED", "0")),
    "latency_ms": float(os.environ.get("SANDBOX_LATENCY_MS", "0")),
    # CreatePresignedNotebookInstanceUrl answers in any notebook state (1) or only InService (0).
    # AWS documents no state precondition (SageMaker API reference, CreatePresignedNotebookInstanceUrl;
    # botocore sagemaker model lists no state error): the worst case for the tool is that a presign
    # succeeds for a Stopped or Pending notebook, so it is on by default.
    "presign_any_state": float(os.environ.get("SANDBOX_PRESIGN_ANY_STATE", "1")),
    # IAM authorization of requests signed with IAM-user / assumed-role keys of this account (1), or
    # none (0, moto's default). Keys whose id is the 12-digit account id are the account's root
    # credentials and are never checked. See iam/enforcement.py.
    "iam_enforced": float(os.environ.get("SANDBOX_IAM_ENFORCED", "0")),
}
_overrides: dict[str, dict[str, float]] = {}
_lock = threading.Lock()

LOG_DIR = os.environ.get("SANDBOX_DIR", ".sandbox")


def register_setting(name: str, default: float) -> None:
    """A tunable of an extension module (e.g. core/quotas.py), settable through /_sandbox/config."""
    with _lock:
        _DEFAULTS.setdefault(name, default)


def setting(account_id: str, name: str) -> float:
    """Effective value of a tunable for one account."""
    with _lock:
        return _overrides.get(account_id, {}).get(name, _DEFAULTS[name])


def set_settings(account_id: str, values: dict[str, Any]) -> dict[str, float]:
    unknown = set(values) - set(_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}; allowed: {sorted(_DEFAULTS)}")
    with _lock:
        _overrides.setdefault(account_id, {}).update({k: float(v) for k, v in values.items()})
        return {k: _overrides[account_id].get(k, d) for k, d in _DEFAULTS.items()}


_log_lock = threading.Lock()


def log_event(account_id: str, kind: str, name: str, detail: str, at: float | None = None) -> None:
    """One line per state transition in .sandbox/events.log: `<epoch> <account> <kind> <name> <detail>`.

    Benchmarks read it (e.g. the moment a notebook became InService). `at` (epoch seconds) is the moment
    the transition happened logically when it is logged later (states computed lazily on read); lines are
    therefore in write order, not always in time order."""
    line = f"{time.time() if at is None else at:.3f} {account_id} {kind} {name} {detail}\n"
    with _log_lock:
        os.makedirs(LOG_DIR, exist_ok=True)
        with open(os.path.join(LOG_DIR, "events.log"), "a", encoding="utf-8") as f:
            f.write(line)


# Control endpoints under /_sandbox/<name>: never logged as AWS requests, never faulted.
# handler(body: dict) -> (http_status, json-serialisable answer)
CONTROL_HANDLERS: dict[str, Callable[[dict], tuple[int, Any]]] = {}


def control(name: str):
    def register(fn: Callable[[dict], tuple[int, Any]]):
        CONTROL_HANDLERS[name] = fn
        return fn

    return register


@control("config")
def _config(body: dict) -> tuple[int, Any]:
    account = body.pop("account_id", DEFAULT_ACCOUNT)
    try:
        return 200, set_settings(account, body)
    except ValueError as e:
        return 400, {"error": str(e)}


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


# --- Added by the sandbox launcher: in-process AWS operation handlers and reset hooks -------------


class AwsError(Exception):
    """An AWS error answer from an extension handler (rendered in the protocol's shape)."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# (service, Operation) -> handler(account_id, region, params: dict) -> dict (JSON answer)
AWS_HANDLERS: dict[tuple[str, str], Callable[[str, str, dict], Any]] = {}

# REST APIs name an operation by method and path: service -> fn(method, path) -> operation name or
# None, so the request log names the operation as botocore does (scheduler/schedules.py).
REST_OPERATIONS: dict[str, Callable[[str, str], str | None]] = {}


def aws_handler(service: str, operation: str):
    def register(fn):
        AWS_HANDLERS[(service, operation)] = fn
        return fn

    return register


# Requests answered whole by an extension (status, headers and body of its own; e.g. a presigned
# sts:GetCallerIdentity, which moto would answer from the wrong credentials): (matches(environ),
# answer(environ, info, start_response)), tried in order before moto and the JSON handlers.
RAW_HANDLERS: list[tuple[Callable[[dict], bool], Callable[[dict, Any, Any], Any]]] = []

# reset hooks: fn(account_id or None for all)
RESET_HOOKS: list[Callable[[Any], None]] = []


def on_reset(fn):
    RESET_HOOKS.append(fn)
    return fn
