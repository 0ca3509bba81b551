"""The simulated fleet's HTTP control surface (documented in `pbxwatch.sim.fleet`).

It drives the fleet through `FleetControls`, so this module does not import `pbxwatch.sim.fleet`; the
fleet imports it only when a control surface is served (FastAPI and uvicorn stay unloaded otherwise).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from pbxwatch.sim.fleet_host import FleetError, Mode, SimHost


class FleetControls(Protocol):
    """What the control surface reads and drives (`pbxwatch.sim.fleet.SimFleet` is one)."""

    hosts: dict[str, SimHost]

    def host(self, name: str) -> SimHost: ...

    def known_hosts_lines(self) -> list[str]: ...

    async def set_mode(
        self, name: str, mode: Mode | str, *, persistent: bool = False, restart_cures: bool = True
    ) -> None: ...

    async def set_power(self, name: str, on: bool) -> None: ...

    async def restart(self, name: str, *, new_host_key: bool = False) -> None: ...


class ModeBody(BaseModel):
    mode: str
    persistent: bool = False
    restart_cures: bool = True


class PowerBody(BaseModel):
    on: bool


class RestartBody(BaseModel):
    new_host_key: bool = False


def create_control_app(fleet: FleetControls) -> FastAPI:
    app = FastAPI(title="pbxwatch simulated fleet", docs_url=None, redoc_url=None)

    @app.exception_handler(FleetError)
    async def _fleet_error(request: Request, err: FleetError) -> JSONResponse:
        status = 404 if str(err).startswith("no simulated host") else 422
        return JSONResponse({"error": str(err)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _bad_body(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse(
            {"error": f"bad request: {field or 'body'}: {first.get('msg', 'invalid')}"}, status_code=422
        )

    @app.get("/hosts")
    async def hosts() -> list[dict[str, Any]]:
        return [host.view() for host in fleet.hosts.values()]

    @app.get("/hosts/{name}")
    async def one_host(name: str) -> dict[str, Any]:
        return fleet.host(name).view()

    @app.post("/hosts/{name}/mode")
    async def mode(name: str, body: ModeBody) -> dict[str, Any]:
        await fleet.set_mode(name, body.mode, persistent=body.persistent, restart_cures=body.restart_cures)
        return fleet.host(name).view()

    @app.post("/hosts/{name}/power")
    async def power(name: str, body: PowerBody) -> dict[str, Any]:
        await fleet.set_power(name, body.on)
        return fleet.host(name).view()

    @app.post("/hosts/{name}/restart")
    async def restart(name: str, body: RestartBody) -> dict[str, Any]:
        await fleet.restart(name, new_host_key=body.new_host_key)
        return fleet.host(name).view()

    @app.get("/known_hosts", response_class=PlainTextResponse)
    async def known_hosts() -> str:
        return "\n".join(fleet.known_hosts_lines()) + "\n"

    return app


class ControlServer:
    """The control app served by uvicorn in the running loop, on an already bound loopback socket."""

    def __init__(self, fleet: FleetControls) -> None:
        self._server = uvicorn.Server(uvicorn.Config(create_control_app(fleet), log_level="warning", lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        sock = socket.create_server((host, port))
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started and not self._task.done():  # noqa: ASYNC110 - uvicorn offers only a flag
            await asyncio.sleep(0.01)
        bound: int = sock.getsockname()[1]
        return bound

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
