"""The relay service (FastAPI, port 8010): the only process that talks to the eWeLink cloud.

`pbxwatch.relay.create_app(settings)` builds the app; `pbxwatch.relay.client.RelayServiceClient` is its
HTTP client (CLI, monitor). Imports are lazy so the client does not pull in FastAPI.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from pbxwatch.relay.app import create_app

        return create_app
    raise AttributeError(name)
