"""A simulated eWeLink cloud (docs/design.md §10): an ASGI app speaking the v2 protocol plus a ``/_sim`` control
surface, and :class:`SimCloud`, which serves it with uvicorn on a loopback port.

Usage in async tests (same event loop)::

    async with SimCloud(SimCloudConfig(code_ttl=2), devices=[SimDevice("1000000001", "Relay 1")]) as cloud:
        cloud.url, cloud.oauth_url, cloud.state.requests ...

or ``with SimCloud(...) as cloud:`` (served from a background thread, for blocking code such as
subprocesses). Standalone: ``pbxwatch sim cloud --port P``. ``on_switch(device_id, outlet, on)`` is called
for every outlet whose state changes (outlet None for a single-channel relay); it may be async.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pbxwatch.sim import cloud_api as api
from pbxwatch.sim.cloud_control import control_routes
from pbxwatch.sim.cloud_faults import APPLYING_FAULTS, apply_with_fault
from pbxwatch.sim.cloud_state import CloudState, Fault, RecordedRequest, SimCloudConfig, SimDevice

log = logging.getLogger(__name__)

SwitchHook = Callable[[str, int | None, bool], Awaitable[None] | None]
_HTML_503 = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
    "<h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>"
)
_START_TIMEOUT_S = 10.0


class _DroppedConnection(Exception):
    """Raised mid-response so the server closes the connection (fault ``drop``)."""


class _DroppedResponse(Response):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"200")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"error":0,', "more_body": True})
        raise _DroppedConnection("fault injection: connection dropped mid-reply")


_FAULT_REPLIES: dict[str, Callable[[Fault], Response]] = {
    "http_500": lambda f: Response("Internal Server Error", status_code=500, media_type="text/plain"),
    "html_503": lambda f: HTMLResponse(_HTML_503, status_code=503),
    "http_403": lambda f: HTMLResponse("<html><body>403 Forbidden</body></html>", status_code=403),
    "http_429": lambda f: api.envelope(429, "request too frequent", status=429),
    "error": lambda f: api.envelope(f.code, f.msg),
    "drop": lambda f: _DroppedResponse(),
}


def _fault_response(fault: Fault) -> Response | None:
    """The injected reply; None for "slow" (the delay was applied, answer normally)."""
    factory = _FAULT_REPLIES.get(fault.kind)
    return factory(fault) if factory else None


class SimCloudApp:
    """The ASGI application over a :class:`CloudState`."""

    def __init__(self, state: CloudState, on_switch: SwitchHook | None = None, power_url: str | None = None) -> None:
        self.state = state
        self.on_switch = on_switch
        self.power_url = power_url.rstrip("/") if power_url else None
        routes = [
            Route("/oauth/index.html", self._authorize, methods=["GET"]),
            Route("/v2/{path:path}", self._v2, methods=["GET", "POST", "DELETE"]),
            *control_routes(state),
        ]
        self.app = Starlette(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def _authorize(self, request: Request) -> Response:
        self._record(request, b"")
        return api.authorization_page(self.state, request)

    def _record(self, request: Request, raw: bytes) -> None:
        self.state.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=raw,
                at=time.time(),
            )
        )

    async def _v2(self, request: Request) -> Response:
        raw = await request.body()
        self._record(request, raw)
        fault = self.state.take_fault(request.url.path)
        if fault is not None and fault.kind in APPLYING_FAULTS:
            return await apply_with_fault(fault, lambda: self._answer(request, raw), _DroppedResponse)
        if fault is not None:
            if fault.delay > 0:
                await asyncio.sleep(fault.delay)
            response = _fault_response(fault)
            if response is not None:
                return response
        return await self._answer(request, raw)

    async def _answer(self, request: Request, raw: bytes) -> Response:
        if self.state.rate_limited():
            return api.envelope(429, "request too frequent", status=429)
        if self.state.over_quota():
            if self.state.config.quota_style == "http403":
                return HTMLResponse("<html><body>403 Forbidden</body></html>", status_code=403)
            return api.envelope(412, "the number of API calls exceeds the limit")
        try:
            return await self._dispatch(request, raw)
        except api.Reply as reply:
            return reply.response

    async def _dispatch(self, request: Request, raw: bytes) -> Response:
        path, method, state = request.url.path, request.method, self.state
        if path == "/v2/user/oauth/token" and method == "POST":
            return api.oauth_token(state, request, raw)
        if path == "/v2/user/refresh" and method == "POST":
            return api.refresh(state, request, raw)
        api.check_bearer(state, request)
        handlers: dict[tuple[str, str], Callable[[], Awaitable[Response] | Response]] = {
            ("GET", "/v2/family"): lambda: api.family(state),
            ("GET", "/v2/device/thing"): lambda: api.thing_list(state, request),
            ("POST", "/v2/device/thing"): lambda: api.things_by_id(state, raw),
            ("GET", "/v2/device/thing/status"): lambda: api.thing_status(state, request),
            ("POST", "/v2/device/thing/status"): lambda: api.set_status(state, raw, self._notify),
        }
        handler = handlers.get((method, path))
        if handler is None:
            return api.envelope(403, "api not found")
        result = handler()
        return await result if inspect.isawaitable(result) else result

    async def _notify(self, device: SimDevice, outlet: int | None, on: bool) -> None:
        log.info("sim cloud: relay %s outlet %s -> %s", device.id, outlet, "on" if on else "off")
        if self.on_switch is not None:
            result = self.on_switch(device.id, outlet, on)
            if inspect.isawaitable(result):
                await result
        host = device.hosts.get(outlet or 0)
        if self.power_url and host:
            await self._post_power(host, on)

    async def _post_power(self, host: str, on: bool) -> None:
        try:
            async with httpx.AsyncClient(timeout=5.0) as http:
                await http.post(f"{self.power_url}/hosts/{host}/power", json={"on": on})
        except httpx.HTTPError as err:
            log.warning("sim cloud: power hook for %s failed: %s", host, type(err).__name__)


def check_loopback(host: str) -> str:
    """Simulators listen on loopback only."""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        if host == "localhost":
            return host
    raise ValueError(f"the simulated cloud listens on loopback addresses only, not {host!r}")


class SimCloud:
    """Runs the simulated cloud on ``host:port`` (port 0 = a free one) in-process."""

    def __init__(
        self,
        config: SimCloudConfig | None = None,
        *,
        devices: Iterable[SimDevice] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        on_switch: SwitchHook | None = None,
        power_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or SimCloudConfig()
        self.state = CloudState(self.config, clock)
        for device in devices:
            self.state.add_device(device)
        self.app = SimCloudApp(self.state, on_switch, power_url)
        self.host = check_loopback(host)
        self._port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the API (give it to the client as ``api_url``)."""
        return f"http://{self.host}:{self._port}"

    @property
    def oauth_url(self) -> str:
        """The authorization page (the client's ``oauth_url``)."""
        return f"{self.url}/oauth/index.html"

    # The /_sim control surface's operations, for tests running in the same process.
    def add_device(self, device: SimDevice) -> SimDevice:
        return self.state.add_device(device)

    def device(self, device_id: str) -> SimDevice:
        return self.state.devices[device_id]

    def set_online(self, device_id: str, online: bool) -> None:
        self.state.devices[device_id].online = online

    def inject(self, fault: Fault) -> None:
        self.state.faults.append(fault)

    def requests(self, path: str = "") -> list[RecordedRequest]:
        return [r for r in list(self.state.requests) if r.path.startswith(path)]

    def issue_code(self, redirect_url: str = "", region: str | None = None) -> str:
        return self.state.issue_code(region=region, redirect_url=redirect_url)

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto IPPROTO_TCP (not 0): asyncio enables TCP_NODELAY only on sockets that say they are TCP;
        # without it every keep-alive reply waits ~40 ms for a delayed ACK (Nagle).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        return sock

    async def start(self) -> None:
        """Start serving in the running event loop; returns once the port accepts connections."""
        sock = self._bind()
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if self._task.done() or time.monotonic() > deadline:
                await self._task
                raise RuntimeError("simulated cloud failed to start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None

    async def __aenter__(self) -> SimCloud:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __enter__(self) -> SimCloud:
        started = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            try:
                await self.start()
            except BaseException as err:
                failure.append(err)
                started.set()
                raise
            started.set()
            assert self._task is not None
            await self._task

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), name="sim-cloud", daemon=True)
        self._thread.start()
        if not started.wait(_START_TIMEOUT_S) or failure:
            reason = failure[0] if failure else f"not serving after {_START_TIMEOUT_S:g} s"
            raise RuntimeError(f"simulated cloud failed to start: {reason}")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._server is not None:
            server = self._server
            self._loop.call_soon_threadsafe(setattr, server, "should_exit", True)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    async def serve_until(self, stop: asyncio.Event) -> None:
        """Standalone mode: serve until ``stop`` is set."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()


def load_devices(data: Any) -> list[SimDevice]:
    """Devices from a devices file's JSON (a list, or ``{"devices": [...]}``)."""
    items = data.get("devices") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError('the devices file must hold a JSON list of devices (or {"devices": [...]})')  # noqa: TRY004 - reported as bad input
    return [SimDevice.from_json(item) for item in items]


__all__ = ["Fault", "SimCloud", "SimCloudApp", "SimCloudConfig", "SimDevice", "SwitchHook", "load_devices"]
