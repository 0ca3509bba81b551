"""`pbxwatch relay serve|on|off|cycle|devices` — run the relay service, or act through it.

The action commands are clients of the running service (docs/design.md §1): every action is audited, serialized
and rate-limited there. They send `relay.api_token` when one is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from pbxwatch.cli.common import cli_settings, console, fail, loaded_settings, print_json, run
from pbxwatch.config import Settings, mask_url

app = typer.Typer(
    help="The relay service (eWeLink relays, port 8010) and commands that go through it.", no_args_is_help=True
)
T = TypeVar("T")
log = logging.getLogger("pbxwatch.relay")

DeviceIdArg = Annotated[str, typer.Argument(help="eWeLink device id of the relay.", show_default=False)]
OutletOpt = Annotated[int | None, typer.Option("--outlet", help="0-based channel of a multi-channel relay.")]
UnitOpt = Annotated[str | None, typer.Option("--unit", help="Enterprise number fed by the relay (for the audit).")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Bind address [default: relay.host].")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port [default: relay.port].")] = None,
) -> None:
    """Run the relay service (FastAPI on relay.host:relay.port, default 127.0.0.1:8010)."""
    import uvicorn

    from pbxwatch.logs import setup_logging
    from pbxwatch.relay.app import create_app
    from pbxwatch.relay.security import BindRefused, check_bind

    loaded = loaded_settings(ctx)
    settings = loaded.settings
    bind_host, bind_port = host or settings.relay.host, port or settings.relay.port
    token = settings.relay.api_token
    try:
        check_bind(bind_host, token.get_secret_value() if token else None)
    except BindRefused as err:
        fail(str(err))
    setup_logging(settings, "relay", owner=True)
    log.info(
        "relay service starting on %s:%s; config file %s; database %s",
        bind_host,
        bind_port,
        loaded.config_file or "(none, defaults and environment)",
        mask_url(settings.database_url),
    )
    # the service learns the address it really listens on (the dashboard's access rule depends on it)
    relay = settings.relay.model_copy(update={"host": bind_host, "port": bind_port})
    bound = settings.model_copy(update={"relay": relay})
    uvicorn.run(create_app(bound), host=bind_host, port=bind_port, log_config=None, timeout_graceful_shutdown=10)


def _through_service(settings: Settings, action: Callable[..., Awaitable[T]]) -> T:
    from pbxwatch.relay.client import RelayServiceClient, RelayServiceError

    token = settings.relay.api_token

    async def body() -> T:
        async with RelayServiceClient(settings.monitor.relay_url, token.get_secret_value() if token else None) as c:
            try:
                return await action(c)
            except RelayServiceError as err:
                code = f" ({err.code})" if err.code else ""
                fail(f"relay service: {err.message}{code}")

    return run(body)


def _state(on: object) -> str:
    return "unknown" if on is None else ("on" if on else "off")


def _switch(ctx: typer.Context, device_id: str, state: bool | None, outlet: int | None, unit: str | None) -> None:
    settings = cli_settings(ctx)
    result = _through_service(
        settings, lambda c: c.toggle(device_id, state=state, outlet=outlet, enterprise_number=unit, initiator="user")
    )
    where = "" if outlet is None else f" outlet {outlet}"
    console.print(f"relay {device_id}{where}: now {_state(result.get('state_after'))}")


@app.command("on")
def on(ctx: typer.Context, device_id: DeviceIdArg, outlet: OutletOpt = None, unit: UnitOpt = None) -> None:
    """Switch a relay on (cancels a pending power-cycle of it)."""
    _switch(ctx, device_id, True, outlet, unit)


@app.command("off")
def off(ctx: typer.Context, device_id: DeviceIdArg, outlet: OutletOpt = None, unit: UnitOpt = None) -> None:
    """Switch a relay off (the PBX it feeds loses power until `relay on`)."""
    _switch(ctx, device_id, False, outlet, unit)


@app.command("cycle")
def cycle(
    ctx: typer.Context,
    device_id: Annotated[str | None, typer.Argument(help="eWeLink device id (or use --unit).")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Enterprise number: cycle its relay.")] = None,
    outlet: OutletOpt = None,
    off_seconds: Annotated[
        float | None, typer.Option("--off-seconds", help="1-300 [default: monitor.off_seconds].")
    ] = None,
    key: Annotated[str | None, typer.Option("--idempotency-key", help="Repeat-safe request key.")] = None,
) -> None:
    """Power-cycle a relay: off, wait, on. Returns once the service accepted it."""
    if device_id is None and unit is None:
        fail("give a device id or --unit")
    settings = cli_settings(ctx)
    ticket = _through_service(
        settings,
        lambda c: c.power_cycle(
            device_id=device_id,
            enterprise_number=unit,
            outlet=outlet,
            off_seconds=off_seconds,
            idempotency_key=key,
            initiator="user",
        ),
    )
    console.print(f"power-cycle {ticket.cycle_id} accepted; relay back on at {ticket.on_due_at.isoformat()}")


@app.command("devices")
def devices(ctx: typer.Context, as_json: Json = False) -> None:
    """List the relays of the eWeLink account (as the relay service sees them, cached ≤ 60 s)."""
    settings = cli_settings(ctx)
    listed = _through_service(settings, lambda c: c.list_devices())
    if as_json:
        print_json(
            [
                {
                    "device_id": d.device_id,
                    "name": d.name,
                    "online": d.online,
                    "channels": d.channels,
                    "checked_at": d.checked_at.isoformat(),
                }
                for d in listed
            ]
        )
        return
    table = Table("device id", "name", "online", "channels")
    for d in listed:
        states = ", ".join(
            f"{'' if c['outlet'] is None else str(c['outlet']) + ':'}{_state(c['on'])}" for c in d.channels
        )
        table.add_row(d.device_id, d.name, "yes" if d.online else "NO", states)
    console.print(table)
