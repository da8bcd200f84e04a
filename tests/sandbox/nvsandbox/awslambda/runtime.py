"""Lambda functions run for real: a Lambda Runtime API server per execution environment, and the
function's `bootstrap` as a local process (moto stores functions but runs them only in docker).

The contract is the documented Runtime API (AWS Lambda Developer Guide, "Using the Lambda runtime
API for custom runtimes"; OpenAPI spec runtime-api.zip, version 2018-06-01):
    GET  /2018-06-01/runtime/invocation/next           -> the event; headers Lambda-Runtime-Aws-Request-Id,
                                                          -Deadline-Ms, -Invoked-Function-Arn, -Trace-Id
    POST /2018-06-01/runtime/invocation/{id}/response  -> 202 (413 over the 6 MB response quota)
    POST /2018-06-01/runtime/invocation/{id}/error     -> 202 (Lambda-Runtime-Function-Error-Type header)
    POST /2018-06-01/runtime/init/error                -> 202; the environment is discarded
A request id that is not the one in flight answers 400 InvalidRequestID.

One execution environment = one Runtime API server on 127.0.0.1 (its own port) + one process of the
function's `bootstrap` (custom runtimes provided.al2023 / provided.al2: Lambda runs the `bootstrap`
file at the root of the package, Developer Guide "Building a custom runtime"). An environment runs
one invocation at a time and is reused while the function's code and configuration stay the same
(Developer Guide, "Lambda execution environment lifecycle"). A function runs at most
ReservedConcurrentExecutions environments at once (`lambda_max_concurrency`, default 10, when it
has none): a further invocation waits for a free one (Lambda would throttle a synchronous caller
with 429 and keep an asynchronous event queued; the sandbox waits for both, up to the timeout).

The process environment is Lambda's "Defined runtime environment variables" (Developer Guide): the
function's Variables, then the reserved ones over them (_HANDLER, AWS_REGION, AWS_DEFAULT_REGION,
AWS_LAMBDA_FUNCTION_NAME/_VERSION/_MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME/_STREAM_NAME,
AWS_LAMBDA_RUNTIME_API, LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN = credentials of the execution role, assumed through the
sandbox's STS with the function name as session name as Lambda does), and AWS_ENDPOINT_URL = this
sandbox, so that every call of the function lands here (any AWS_ENDPOINT_URL_* or proxy variable of
the function is dropped: the function's traffic never leaves 127.0.0.1). With iam_enforced on, its
calls are evaluated as the role's session (iam/enforcement.py).

Timeouts: an invocation that has not answered by its deadline (the function's Timeout) ends with
the "Task timed out after N seconds" error and the environment is killed, as Lambda does. A process
that exits mid-invocation answers Runtime.ExitError. Output (stdout/stderr) goes to
$SANDBOX_DIR/lambda/<account>-<function>.log (not to CloudWatch Logs).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nvsandbox.core import common

API = "/2018-06-01/runtime"
# Invocation quotas (Developer Guide, "Lambda quotas"): 6 MB request/response for synchronous calls.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
# Lambda's init phase is limited to 10 s (Developer Guide, "Lambda execution environment lifecycle").
INIT_SECONDS = 10.0
CREDENTIAL_SECONDS = 3600
common.register_setting("lambda_max_concurrency", float(os.environ.get("SANDBOX_LAMBDA_MAX_CONCURRENCY", "10")))


@dataclass
class Result:
    ok: bool
    payload: bytes
    error_type: str | None = None  # Lambda's FunctionError: "Unhandled" for a runtime/function error
    request_id: str = ""
    init_ms: float | None = None  # process start -> first /next, for a fresh environment


@dataclass
class Invocation:
    payload: bytes
    function_arn: str
    timeout: float
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    trace_id: str = field(
        default_factory=lambda: (
            f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        )
    )
    deadline: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None

    def finish(self, result: Result) -> bool:
        if self.done.is_set():
            return False
        result.request_id = self.request_id
        self.result = result
        self.done.set()
        return True


def _trace_id() -> str:
    """X-Ray's trace header format: Root=1-<8 hex epoch>-<24 hex>;Parent=<16 hex>;Sampled=0."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _error_body(message: str, error_type: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    env: Environment  # set on the per-environment subclass

    def log_message(self, *args):  # noqa: D102  (quiet: the function's own log says what happened)
        pass

    def _answer(self, status: int, body: dict | bytes, headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):  # noqa: N802
        if self.path != f"{API}/invocation/next":
            return self._answer(404, {"errorMessage": f"no route {self.path}", "errorType": "NotFound"})
        inv = self.env.next_invocation()
        if inv is None:  # the environment is shutting down
            return self._answer(500, {"errorMessage": "environment shut down", "errorType": "ShutDown"})
        self._answer(
            200,
            inv.payload,
            {
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(inv.deadline * 1000)),
                "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id,
            },
        )

    def do_POST(self):  # noqa: N802
        body = self._body()
        if self.path == f"{API}/init/error":
            self.env.init_failed(body, self.headers.get("Lambda-Runtime-Function-Error-Type") or "Runtime.Unknown")
            return self._answer(202, {"status": "OK"})
        parts = self.path[len(API) :].strip("/").split("/")
        if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
            return self._answer(404, {"errorMessage": f"no route {self.path}", "errorType": "NotFound"})
        inv = self.env.current
        if inv is None or inv.request_id != parts[1]:
            return self._answer(
                400, {"errorMessage": f"Invalid request ID: {parts[1]}", "errorType": "InvalidRequestID"}
            )
        if parts[2] == "response":
            if len(body) > MAX_RESPONSE_BYTES:
                inv.finish(
                    Result(
                        False,
                        _error_body(
                            f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size "
                            f"({MAX_RESPONSE_BYTES} bytes).",
                            "Function.ResponseSizeTooLarge",
                        ),
                        "Unhandled",
                    )
                )
                return self._answer(413, {"errorMessage": "payload too large", "errorType": "RequestEntityTooLarge"})
            inv.finish(Result(True, body))
        else:
            inv.finish(Result(False, body or _error_body("function error", "Unknown"), "Unhandled"))
        self.env.current = None
        self._answer(202, {"status": "OK"})


@dataclass(frozen=True)
class Spec:
    """What an environment was built from; a change of any field means new environments."""

    account: str
    region: str
    name: str
    arn: str
    handler: str
    role: str
    code_sha: str
    timeout: float
    memory: int
    variables: tuple


def spec_of(fn: Any) -> Spec:
    return Spec(
        account=fn.account_id,
        region=fn.region,
        name=fn.function_name,
        arn=fn.function_arn,
        handler=fn.handler or "",
        role=fn.role,
        code_sha=getattr(fn, "code_sha_256", "") or hashlib.sha256(fn.code_bytes or b"").hexdigest(),
        timeout=float(fn.timeout or 3),
        memory=int(fn.memory_size or 128),
        variables=tuple(sorted((fn.environment_vars or {}).items())),
    )


_code_lock = threading.Lock()


def _task_dir(spec: Spec, code: bytes) -> str:
    """The package extracted once per code version (Lambda's /var/task)."""
    safe = hashlib.sha256(spec.code_sha.encode()).hexdigest()[:16]
    d = os.path.join(os.path.abspath(common.LOG_DIR), "lambda", "code", f"{spec.account}-{spec.name}-{safe}")
    with _code_lock:
        if not os.path.exists(os.path.join(d, ".ready")):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            with zipfile.ZipFile(io.BytesIO(code)) as z:
                for info in z.infolist():
                    target = os.path.realpath(os.path.join(d, info.filename))
                    if not target.startswith(os.path.realpath(d) + os.sep):
                        continue  # a path escaping the package is not extracted
                    z.extract(info, d)
                    mode = (info.external_attr >> 16) & 0o777
                    if mode:
                        os.chmod(target, mode)
            boot = os.path.join(d, "bootstrap")
            if os.path.isfile(boot):
                os.chmod(boot, 0o755)
            open(os.path.join(d, ".ready"), "w").close()
    return d


def _credentials(spec: Spec) -> dict[str, str]:
    """The execution role's credentials, from the sandbox's STS (Lambda assumes the role with the
    function name as session name)."""
    from moto.sts.models import sts_backends

    account = spec.role.split(":")[4] if spec.role.count(":") >= 5 else spec.account
    backend = sts_backends[account]["aws"]
    role = backend.assume_role(
        region_name=spec.region,
        role_session_name=spec.name,
        role_arn=spec.role,
        policy=None,
        duration=CREDENTIAL_SECONDS,
        external_id=None,
    )
    return {
        "AWS_ACCESS_KEY_ID": role.access_key_id,
        "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
        "AWS_SESSION_TOKEN": role.session_token,
    }


_DROPPED_PREFIXES = ("AWS_ENDPOINT_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


def process_env(spec: Spec, task: str, runtime_api: str) -> dict[str, str]:
    env = {k: str(v) for k, v in spec.variables if not k.startswith(_DROPPED_PREFIXES)}
    port = os.environ.get("MOTO_PORT", "5000")
    env.update(
        {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_TASK_ROOT": task,
            "LAMBDA_RUNTIME_DIR": task,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    env.update(_credentials(spec))
    return env


class Environment:
    """One execution environment: a Runtime API server and the bootstrap process it serves."""

    def __init__(self, spec: Spec, code: bytes):
        self.spec = spec
        self.current: Invocation | None = None
        self.created = time.time()
        self.dead = False
        self.init_ms: float | None = None
        self._first_next = threading.Event()
        self._pending: queue.Queue[Invocation | None] = queue.Queue()
        self._init_error: tuple[bytes, str] | None = None
        handler = type("Handler", (_Handler,), {"env": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name=f"runtime-api-{spec.name}").start()
        task = _task_dir(spec, code)
        boot = os.path.join(task, "bootstrap")
        log_dir = os.path.join(os.path.abspath(common.LOG_DIR), "lambda")
        os.makedirs(log_dir, exist_ok=True)
        self.log = open(os.path.join(log_dir, f"{spec.account}-{spec.name}.log"), "ab")
        self.started = time.time()
        if not os.path.isfile(boot):
            self.proc = None
            self._init_error = (
                _error_body("Couldn't find valid bootstrap(s): [/var/task/bootstrap]", "Runtime.InvalidEntrypoint"),
                "Runtime.InvalidEntrypoint",
            )
            self.dead = True
            self._first_next.set()
            return
        port = self.server.server_address[1]
        self.proc = subprocess.Popen(
            [boot],
            cwd=task,
            env=process_env(spec, task, f"127.0.0.1:{port}"),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
        )
        threading.Thread(target=self._watch, daemon=True).start()

    # called from the Runtime API handler threads -----------------------------------------------
    def next_invocation(self) -> Invocation | None:
        if not self._first_next.is_set():
            self.init_ms = (time.time() - self.started) * 1000
            self._first_next.set()
        inv = self._pending.get()
        self.current = inv
        return inv

    def init_failed(self, body: bytes, error_type: str) -> None:
        self._init_error = (body or _error_body("init error", error_type), error_type)
        self._first_next.set()
        self.kill()

    # ---------------------------------------------------------------------------------------------
    def _watch(self) -> None:
        code = self.proc.wait()
        self.dead = True
        self._first_next.set()
        inv = self.current
        if inv is not None:
            inv.finish(
                Result(
                    False,
                    _error_body(
                        f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status {code}",
                        "Runtime.ExitError",
                    ),
                    "Unhandled",
                )
            )

    def run(self, inv: Invocation) -> Result:
        """Hand one invocation to this environment and wait for its answer, at most its timeout."""
        fresh = self.init_ms is None
        if not self._first_next.wait(INIT_SECONDS) and not self.dead:
            self.kill()
            return Result(False, _error_body("INIT timed out", "Runtime.InitTimeout"), "Unhandled", inv.request_id)
        if self._init_error is not None:
            body, etype = self._init_error
            return Result(False, body, "Unhandled", inv.request_id)
        if self.dead:
            return Result(False, _error_body("Runtime exited before /next", "Runtime.ExitError"), "Unhandled")
        inv.deadline = time.time() + inv.timeout
        self._pending.put(inv)
        if not inv.done.wait(inv.timeout + 0.05):
            now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            inv.finish(
                Result(
                    False,
                    _error_body(
                        f"{now} {inv.request_id} Task timed out after {inv.timeout:.2f} seconds", "Sandbox.Timedout"
                    ),
                    "Unhandled",
                )
            )
            self.kill()
        self.current = None if self.current is inv else self.current
        result = inv.result
        assert result is not None
        if fresh:
            result.init_ms = self.init_ms
        return result

    def kill(self) -> None:
        self.dead = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self._pending.put(None)
        threading.Thread(target=self.server.shutdown, daemon=True).start()


class Pool:
    """A function's environments: at most its concurrency at once, reused while the spec holds."""

    def __init__(self):
        self.idle: list[Environment] = []
        self.busy = 0
        self.cond = threading.Condition()

    def acquire(self, spec: Spec, code: bytes, limit: int, timeout: float) -> Environment | None:
        end = time.time() + timeout
        with self.cond:
            while True:
                for env in list(self.idle):
                    if env.dead or env.spec != spec or time.time() - env.created > CREDENTIAL_SECONDS * 0.75:
                        self.idle.remove(env)
                        env.kill()
                if self.idle:
                    self.busy += 1
                    return self.idle.pop()
                if self.busy < limit:
                    self.busy += 1
                    break
                left = end - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)
        try:
            return Environment(spec, code)
        except Exception:
            with self.cond:
                self.busy -= 1
                self.cond.notify()
            raise

    def release(self, env: Environment) -> None:
        with self.cond:
            self.busy -= 1
            if not env.dead:
                self.idle.append(env)
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            for env in self.idle:
                env.kill()
            self.idle = []


_pools: dict[tuple[str, str, str], Pool] = {}
_pools_lock = threading.Lock()


def _pool(spec: Spec) -> Pool:
    with _pools_lock:
        return _pools.setdefault((spec.account, spec.region, spec.name), Pool())


def concurrency(fn: Any) -> int:
    reserved = getattr(fn, "reserved_concurrency", None)
    if reserved not in (None, ""):
        return int(reserved)
    return max(1, int(common.setting(fn.account_id, "lambda_max_concurrency")))


def invoke(fn: Any, payload: bytes, wait: float | None = None) -> Result:
    """Run one invocation of moto's LambdaFunction `fn` and return its result."""
    spec = spec_of(fn)
    pool = _pool(spec)
    limit = concurrency(fn)
    inv = Invocation(payload=payload, function_arn=spec.arn, timeout=spec.timeout)
    if limit <= 0:
        return Result(
            False,
            _error_body("Rate Exceeded.", "TooManyRequestsException"),
            "Throttled",
            inv.request_id,
        )
    env = pool.acquire(spec, fn.code_bytes or b"", limit, spec.timeout + INIT_SECONDS if wait is None else wait)
    if env is None:
        return Result(False, _error_body("Rate Exceeded.", "TooManyRequestsException"), "Throttled", inv.request_id)
    try:
        result = env.run(inv)
    finally:
        pool.release(env)
    common.log_event(spec.account, "lambda", spec.name, f"{'ok' if result.ok else 'error'} {inv.request_id}")
    _remember(spec, payload, result)
    return result


# The last invocations of each function, for tests and benchmarks: /_sandbox/lambda-invocations.
HISTORY = 200
_history: dict[tuple[str, str], list[dict]] = {}
_history_lock = threading.Lock()


def _remember(spec: Spec, payload: bytes, result: Result) -> None:
    entry = {
        "request_id": result.request_id,
        "at": time.time(),
        "ok": result.ok,
        "error_type": result.error_type,
        "event": payload.decode("utf-8", "replace"),
        "payload": result.payload.decode("utf-8", "replace"),
        "init_ms": result.init_ms,
    }
    with _history_lock:
        entries = _history.setdefault((spec.account, spec.name), [])
        entries.append(entry)
        del entries[:-HISTORY]


@common.control("lambda-invocations")
def _invocations(body: dict) -> tuple[int, Any]:
    """{"account_id", "function"}: the function's last invocations, oldest first: request_id, at, ok,
    error_type, event, payload (the answer or error body), init_ms (a fresh environment's process
    start -> first /next)."""
    account = str(body.get("account_id") or common.DEFAULT_ACCOUNT)
    with _history_lock:
        entries = list(_history.get((account, str(body.get("function", ""))), []))
    return 200, {"account_id": account, "invocations": entries}


def shutdown(account: str | None = None) -> None:
    with _history_lock:
        for key in list(_history):
            if account is None or key[0] == account:
                del _history[key]
    with _pools_lock:
        for key in list(_pools):
            if account is None or key[0] == account:
                _pools.pop(key).close()


def find_function(account: str, region: str, name_or_arn: str) -> Any | None:
    from moto.awslambda.models import lambda_backends

    if account not in dict.keys(lambda_backends):
        return None
    try:
        backend = lambda_backends[account][region]
    except KeyError:
        return None
    name = name_or_arn.split(":function:", 1)[-1].split(":", 1)[0] if ":function:" in name_or_arn else name_or_arn
    try:
        return backend.get_function(name)
    except Exception:  # noqa: BLE001  (no such function)
        return None


def patch_invoke() -> None:
    """The Invoke API runs the function here instead of in docker: RequestResponse answers the
    function's payload (X-Amz-Function-Error: Unhandled on an error), Event queues it
    (asynchronous.py: 202), DryRun runs nothing (204)."""
    from moto.awslambda.models import LambdaFunction

    def invoke_api(self, body, request_headers, response_headers):
        from nvsandbox.awslambda import asynchronous

        kind = request_headers.get("x-amz-invocation-type") or request_headers.get("X-Amz-Invocation-Type")
        raw = body.encode() if isinstance(body, str) else (body or b"")
        if kind == "DryRun":
            return b""
        if kind == "Event":
            asynchronous.invoke(self, json.loads(raw) if raw.strip() else {}, source="Invoke")
            return b""
        result = invoke(self, raw or b"{}")
        if not result.ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = "$LATEST"
        return result.payload

    LambdaFunction.invoke = invoke_api
