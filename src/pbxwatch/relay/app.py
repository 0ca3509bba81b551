"""The relay service: `create_app(settings)` for uvicorn (`pbxwatch relay serve` runs it on port 8010).

`pbxwatch relay serve` is the supported way to run it (it sets up logging); `from_environment` is a
zero-argument factory for `uvicorn --factory`. Both run the same bind check, and the app's `LoopbackGuard`
refuses off-loopback requests without an API token however the server was started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from pbxwatch.config import Settings
from pbxwatch.db.engine import DB_ERRORS, Database, DatabaseError, describe
from pbxwatch.notify.service_watch import run_service_events
from pbxwatch.relay.clock import Clock, SystemClock
from pbxwatch.relay.cloud import RelayCloud
from pbxwatch.relay.context import RelayContext
from pbxwatch.relay.cycle_run import CyclePolicy
from pbxwatch.relay.cycles import CycleRunner
from pbxwatch.relay.devices import DeviceCache
from pbxwatch.relay.errors import BudgetExceeded, RelayError
from pbxwatch.relay.gateway import CallTally, RelayGateway
from pbxwatch.relay.guards import BodyGuard, LoopbackGuard
from pbxwatch.relay.journal import CycleJournal
from pbxwatch.relay.metrics import RelayMetrics
from pbxwatch.relay.reconciler import Reconciler, ReconcilerPolicy
from pbxwatch.relay.recorder import CycleRecorder, DatabaseWatch
from pbxwatch.relay.routes import auth, cycles, devices, health, maintenance, toggle, units
from pbxwatch.relay.security import BindRefused, check_bind
from pbxwatch.relay.service import RelayService
from pbxwatch.relay.store import RelayStore

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, cloud_code: int | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": code, "message": message, "cloud_code": cloud_code}, status_code=status, headers=headers
    )


def _field_of(problem: dict[str, Any]) -> str:
    loc = [str(p) for p in problem.get("loc", ()) if p not in ("body", "query", "path", "header")]
    return ".".join(loc) or "body"


def install_error_handlers(app: FastAPI) -> None:
    """Every failure is `{"error", "message", "cloud_code"}` (docs/design.md §6)."""

    @app.exception_handler(RelayError)
    async def relay_error(_: Request, err: RelayError) -> JSONResponse:
        retry = {"Retry-After": str(err.retry_after)} if isinstance(err, BudgetExceeded) else None
        return error_response(err.http_status, err.code, err.message, err.cloud_code, retry)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        problems = [f"{_field_of(p)}: {p.get('msg', 'invalid')}" for p in err.errors()]
        return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return error_response(err.status_code, code, str(err.detail))

    async def database_down(_: Request, err: Exception) -> JSONResponse:
        text = describe(err)
        log.error("database error: %s", text)
        if "no such table" in text or "does not exist" in text:
            return error_response(
                503, "database_unavailable", "the database has no pbxwatch schema: run `pbxwatch db upgrade`"
            )
        return error_response(503, "database_unavailable", "the database is unreachable; try again")

    for kind in DB_ERRORS:
        app.add_exception_handler(kind, database_down)


def default_cloud(settings: Settings, tally: CallTally, **client_options: Any) -> tuple[RelayCloud, httpx.AsyncClient]:
    from pbxwatch.ewelink import EWeLinkClient
    from pbxwatch.relay.ewelink_cloud import EWeLinkCloud

    http = httpx.AsyncClient()
    client_options.setdefault("timeout", settings.relay.cloud_timeout)
    client = EWeLinkClient.from_settings(settings.ewelink, http=http, on_call=tally.note, **client_options)
    client.check_tokens_at_start()
    return EWeLinkCloud(client), http


def assemble(
    settings: Settings, gateway: RelayGateway, cycle_policy: CyclePolicy, reconciler_policy: ReconcilerPolicy
) -> tuple[RelayContext, CycleRecorder]:
    """The parts of the running service around its gateway, each given its collaborators directly."""
    store = gateway.store
    devices = DeviceCache(gateway)
    service = RelayService(gateway, devices, store)
    watch = DatabaseWatch()
    recorder = CycleRecorder(CycleJournal(settings.run_dir / "cycles"), store, watch)
    policy = replace(cycle_policy, verify_seconds=settings.relay.verify_seconds)
    runner = CycleRunner(
        gateway, service, store, recorder, default_off_seconds=settings.monitor.off_seconds, policy=policy
    )
    reconciler = Reconciler(runner, gateway, store, reconciler_policy, watch)
    return RelayContext(settings, gateway, devices, service, store, runner, reconciler), recorder


@dataclass(frozen=True)
class Injected:
    """What a test (or an embedding) may put in place of the real parts."""

    cloud: RelayCloud | None
    clock: Clock | None
    database: Database | None
    reconciler_policy: ReconcilerPolicy | None
    cycle_policy: CyclePolicy | None
    tally: CallTally
    client_options: dict[str, Any] | None


async def _open_database(given: Database | None, settings: Settings) -> Database:
    """The service starts with the database down too; /health reports it."""
    db = given or Database.from_url(settings.database_url)
    try:
        await db.prepare()
    except DatabaseError as err:
        log.error("%s (the service starts; /health reports it)", err)  # noqa: TRY400 - one line
    log.info("relay service: database %s", db.display_url)
    return db


def make_lifespan(settings: Settings, injected: Injected) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up and shutdown of the service: the database, the cloud, the parts, the background loops."""
    cloud, clock, database = injected.cloud, injected.clock, injected.database
    calls = injected.tally

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await _open_database(database, settings)
        http: httpx.AsyncClient | None = None
        relay_cloud = cloud
        if relay_cloud is None:
            relay_cloud, http = default_cloud(settings, calls, **(injected.client_options or {}))
        gateway = RelayGateway(
            relay_cloud,
            RelayStore(db.engine),
            clock or SystemClock(),
            RelayMetrics(),
            calls,
            caller_wait=settings.relay.caller_wait,
        )
        ctx, recorder = assemble(
            settings, gateway, injected.cycle_policy or CyclePolicy(), injected.reconciler_policy or ReconcilerPolicy()
        )
        app.state.relay = ctx
        runner, reconciler = ctx.runner, ctx.reconciler
        stop = asyncio.Event()
        loops = [
            asyncio.create_task(reconciler.run(stop)),
            asyncio.create_task(recorder.run(stop)),
            asyncio.create_task(
                run_service_events(settings, db, lambda: gateway.token_state().value, stop, gateway.clock.now)
            ),
        ]
        try:
            yield
        finally:
            await runner.shutdown()
            stop.set()
            await asyncio.gather(*loops)
            await recorder.flush()  # what is still kept waits in run_dir for the next start
            with contextlib.suppress(*DB_ERRORS):
                await gateway.flush_call_counter()
            if http is not None:
                await http.aclose()
            if database is None:
                await db.dispose()
            log.info("relay service stopped")

    return lifespan


def create_app(
    settings: Settings,
    *,
    cloud: RelayCloud | None = None,
    clock: Clock | None = None,
    database: Database | None = None,
    reconciler_policy: ReconcilerPolicy | None = None,
    cycle_policy: CyclePolicy | None = None,
    tally: CallTally | None = None,
    client_options: dict[str, Any] | None = None,
) -> FastAPI:
    """The relay service. Everything external can be injected: the cloud (else the eWeLink client built
    from `settings.ewelink`, with `client_options` such as a rate limiter), the clock, the database."""
    injected = Injected(cloud, clock, database, reconciler_policy, cycle_policy, tally or CallTally(), client_options)
    app = FastAPI(
        title="pbxwatch relay service",
        description="eWeLink relay control, power-cycles and audit (docs/design.md §5-§6).",
        version="1",
        lifespan=make_lifespan(settings, injected),
    )
    install_error_handlers(app)
    for module in (auth, toggle, cycles, devices, units, maintenance, health):
        app.include_router(module.router)
    from pbxwatch.web import install_dashboard

    install_dashboard(app, settings)  # the dashboard under `/` (pages only; not in the OpenAPI schema)
    app.add_middleware(BodyGuard)
    app.add_middleware(LoopbackGuard, has_token=settings.relay.api_token is not None)  # outermost
    return app


def from_environment() -> FastAPI:
    """`uvicorn --factory pbxwatch.relay.app:from_environment`: settings from the TOML file and PBXWATCH_*.

    Runs the same bind check as `pbxwatch relay serve`, on uvicorn's `--host` when uvicorn's command
    line started it (else `relay.host`). Refusals are one line on stderr, exit status as the CLI's (1, 2 config).
    """
    from pbxwatch.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as err:
        sys.stderr.write(f"{err}\n")  # one "config error: ..." line per problem, as the CLI prints them
        raise SystemExit(2) from None
    token = settings.relay.api_token
    try:
        check_bind(uvicorn_host() or settings.relay.host, token.get_secret_value() if token else None)
    except BindRefused as err:
        sys.stderr.write(f"error: {err}\n")
        raise SystemExit(1) from None
    return create_app(settings)


def uvicorn_host() -> str | None:
    """The `--host` of the `uvicorn` command line this factory runs under (its click context), if any."""
    import click

    ctx = click.get_current_context(silent=True)
    under_uvicorn = ctx is not None and getattr(ctx.command.callback, "__module__", None) == "uvicorn.main"
    host = ctx.params.get("host") if ctx is not None and under_uvicorn else None
    return host if isinstance(host, str) else None
