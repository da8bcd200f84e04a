"""`python -m nvsandbox --port N`: the sandbox server (see server.py)."""

from nvsandbox.server import main

main()
