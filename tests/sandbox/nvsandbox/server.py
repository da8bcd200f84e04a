"""Launch the local AWS sandbox: moto's server app + the sandbox's extensions, on 127.0.0.1 only.

    PYTHONPATH=tests/sandbox python -m nvsandbox --port N      (0 = pick a free port)

Writes the port to $SANDBOX_DIR/port and prints `READY <port>` once serving. Exits 1 with the
traceback on stderr, before writing the port, when an extension fails to import or install.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import traceback

os.environ.setdefault("MOTO_CALL_RESET_API", "true")
# moto's template-URL helper and the like must never reach the network
os.environ.setdefault("AWS_ACCESS_KEY_ID", "123456789012")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "sandbox")

import nvsandbox  # noqa: E402  (after the environment above: moto reads it at import)
from nvsandbox.core import common  # noqa: E402


def build_app():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from nvsandbox.core import middleware

    moto_app = DomainDispatcherApplication(create_backend_app)
    app = middleware.SandboxMiddleware(moto_app)

    @common.control("reset")
    def _reset(body: dict):
        """Reset moto (all accounts) and extension state: {"account_id": optional}.

        moto's own reset is global: with an account_id only the sandbox extensions' state of that
        account is cleared and moto's backends of that account are dropped."""
        account = body.get("account_id")
        if account is None:
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()
        else:
            _reset_moto_account(account)
        for hook in common.RESET_HOOKS:
            hook(account)
        middleware.reset_faults(account)
        return 200, {"reset": account or "all"}

    return app


def _reset_moto_account(account: str) -> None:
    from moto.core.base_backend import BackendDict

    for modname, mod in list(sys.modules.items()):
        if not (modname.startswith("moto.") and modname.endswith(".models")) or mod is None:
            continue
        for value in list(vars(mod).values()):
            if isinstance(value, BackendDict) and account in dict.keys(value):
                try:
                    dict.__delitem__(value, account)
                except Exception:  # noqa: BLE001
                    pass


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("SANDBOX_PORT", "0") or 0))
    args = parser.parse_args(argv)

    sandbox_dir = os.path.abspath(os.environ.get("SANDBOX_DIR", ".sandbox"))
    os.makedirs(sandbox_dir, exist_ok=True)
    common.LOG_DIR = sandbox_dir

    try:
        installed = nvsandbox.install()
        app = build_app()
    except Exception:  # noqa: BLE001  (any failure: the sandbox must not serve without a rule)
        traceback.print_exc()
        print("sandbox: an extension failed to import or install; not serving", file=sys.stderr, flush=True)
        sys.exit(1)

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    port = args.port
    if port == 0:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
    os.environ["MOTO_PORT"] = str(port)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    with open(os.path.join(sandbox_dir, "port"), "w") as f:
        f.write(f"{port}\n")
    print("extensions:\n  " + "\n  ".join(installed), file=sys.stderr, flush=True)
    print(f"READY {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
