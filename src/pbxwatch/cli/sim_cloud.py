"""`pbxwatch sim cloud` — run the simulated eWeLink cloud standalone (demo, manual tests).

Point pbxwatch at it with ``PBXWATCH_EWELINK_API_URL=<url>`` and ``PBXWATCH_EWELINK_OAUTH_URL=<url>/oauth/index.html``
and the same app id / secret. Control surface: ``<url>/_sim/...`` (devices, faults, requests, code, tokens).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pbxwatch.cli.common import fail

if TYPE_CHECKING:
    from pbxwatch.sim.cloud import SimCloud


_Host = Annotated[str, typer.Option("--host", help="Loopback address to listen on.")]
_Port = Annotated[int, typer.Option("--port", help="Port (0 = a free one, printed at start).")]
_AppId = Annotated[
    str, typer.Option("--app-id", envvar="PBXWATCH_SIM_CLOUD_APP_ID", help="The APPID the simulated cloud accepts.")
]
_AppSecret = Annotated[
    str,
    typer.Option(
        "--app-secret",
        envvar="PBXWATCH_SIM_CLOUD_APP_SECRET",
        help="The simulated app's secret (a test value; prefer the environment variable).",
        show_default=False,
    ),
]
_Region = Annotated[str, typer.Option("--region", help="Region the authorization page reports.")]
_Devices = Annotated[
    Path | None,
    typer.Option(
        "--devices",
        help="JSON file: a list of devices "
        "{id, name, online, channels, states, home, uiid, host|hosts, "
        "itemType (1 own, 2 shared, 5 shared via home), brand, "
        "reported_outlets}.",
    ),
]
_PowerUrl = Annotated[
    str | None,
    typer.Option(
        "--power-url",
        help='Simulated fleet\'s control URL: each relay switch POSTs {power_url}/hosts/{host}/power {"on": bool}.',
    ),
]
_CodeTtl = Annotated[float, typer.Option("--code-ttl", help="Seconds an OAuth code lives.")]
_AccessTtl = Annotated[float, typer.Option("--access-ttl", help="Access token lifetime, s.")]
_RefreshTtl = Annotated[float, typer.Option("--refresh-ttl", help="Refresh token lifetime, s.")]
_MinInterval = Annotated[float, typer.Option("--min-interval", help="Per-IP min seconds between calls (0 = off).")]
_Quota = Annotated[int | None, typer.Option("--quota", help="Calls allowed before 412 (default: none).")]
_Manual = Annotated[
    bool, typer.Option("--manual-approve", help="Show an Authorize button instead of redirecting at once.")
]


def cloud(
    host: _Host = "127.0.0.1",
    port: _Port = 0,
    app_id: _AppId = "simappid0001",
    app_secret: _AppSecret = "simappsecret0001",  # noqa: S107 - fake
    region: _Region = "eu",
    devices: _Devices = None,
    power_url: _PowerUrl = None,
    code_ttl: _CodeTtl = 30.0,
    access_ttl: _AccessTtl = 30 * 86400.0,
    refresh_ttl: _RefreshTtl = 60 * 86400.0,
    min_interval: _MinInterval = 0.0,
    quota: _Quota = None,
    manual: _Manual = False,
) -> None:
    """Run a simulated eWeLink cloud until interrupted; prints its URL on the first line."""
    from pbxwatch.sim.cloud import SimCloud, SimCloudConfig, check_loopback, load_devices

    try:
        check_loopback(host)
        loaded = load_devices(json.loads(devices.read_text(encoding="utf-8"))) if devices else []
    except (OSError, ValueError, TypeError, KeyError) as err:
        fail(f"sim cloud: {err}")
    config = SimCloudConfig(
        app_id=app_id,
        app_secret=app_secret,
        region=region,
        code_ttl=code_ttl,
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
        min_interval=min_interval,
        quota=quota,
        auto_approve=not manual,
    )
    sim = SimCloud(config, devices=loaded, host=host, port=port, power_url=power_url)

    try:
        asyncio.run(_serve(sim, f"app_id={app_id} devices={len(loaded)}"))
    except OSError as err:
        fail(f"sim cloud: cannot listen on {host}:{port}: {err.strerror}")


async def _serve(sim: SimCloud, summary: str) -> None:
    """Until SIGINT or SIGTERM; the first line printed is the URL the tests and the demo read."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sim.start()
    sys.stdout.write(f"{sim.url} oauth_url={sim.oauth_url} {summary}\n")
    sys.stdout.flush()
    await stop.wait()
    await sim.stop()
