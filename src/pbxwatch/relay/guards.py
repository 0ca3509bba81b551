"""ASGI guards in front of every route: request bodies capped and JSON depth bounded before any parsing,
and no answer on a non-loopback address unless an API token is configured (whatever started the server).

They answer in the service's own error shape, `{"error", "message", "cloud_code"}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pbxwatch.relay.security import is_loopback

log = logging.getLogger(__name__)

#: the largest request body the service reads (its JSON bodies are a few hundred bytes)
MAX_BODY_BYTES = 64 * 1024
#: the deepest JSON nesting accepted; the API's bodies are flat objects
MAX_JSON_DEPTH = 32

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message, "cloud_code": None}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def json_depth_over(raw: bytes, limit: int) -> bool:
    """True when `raw` nests arrays/objects deeper than `limit` (strings skipped; no parsing, no recursion)."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            escaped, in_string = (False, True) if escaped else (byte == 0x5C, byte != 0x22)
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyGuard:
    """Reads at most `max_bytes` of a request body (413 beyond, before reading it when it says its length),
    refuses JSON nested deeper than `max_depth` (400), then replays the body to the app."""

    def __init__(self, app: App, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app, self.max_bytes, self.max_depth = app, max_bytes, max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large(scope, send)
            return
        body = await self._read(receive)
        if body is None:
            await self._too_large(scope, send)
            return
        if json_depth_over(body, self.max_depth):
            log.warning(
                "refused %s %s: JSON nested deeper than %s levels", scope["method"], scope["path"], self.max_depth
            )
            await send_error(send, 400, "invalid_request", f"body: JSON nested deeper than {self.max_depth} levels")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it grows past the cap (the rest is never read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)  # disconnected: the app sees what came
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        log.warning("refused %s %s: request body over %s bytes", scope["method"], scope["path"], self.max_bytes)
        await send_error(send, 413, "payload_too_large", f"request body over {self.max_bytes} bytes")


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the server's disconnect message

    return replay


class LoopbackGuard:
    """Without an API token the service answers only on a loopback address. `pbxwatch relay serve` and the
    uvicorn factory refuse to start on another address; this catches a server bound some other way."""

    def __init__(self, app: App, *, has_token: bool) -> None:
        self.app, self.has_token = app, has_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] == "http" and not self.has_token and server and not is_loopback(str(server[0])):
            log.error(
                "refused a request on %s: the service listens off-loopback without an API token (set relay.api_token)",
                server[0],
            )
            await send_error(send, 403, "bind_refused", "this service answers off-loopback only with an API token")
            return
        await self.app(scope, receive, send)
