"""Wire the monitor from settings: database, prober, relay service client, leadership, heartbeat."""

from __future__ import annotations

import asyncio
import logging
import resource
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pbxwatch.config import Settings, mask_url
from pbxwatch.db.engine import Database, DatabaseError
from pbxwatch.db.unit_states import stale_after
from pbxwatch.domain.policy import Policy
from pbxwatch.monitor.daemon import Clock, Monitor, MonitorOptions, utc_now
from pbxwatch.monitor.events import EventSink, Fanout, LogEvents
from pbxwatch.monitor.leader import AdvisoryLock, Leadership, SingleMonitor
from pbxwatch.monitor.metrics import MonitorMetrics
from pbxwatch.monitor.ports import Prober, RelayPort, Restarter
from pbxwatch.monitor.relay_http import HttpRelayPort
from pbxwatch.monitor.store import MonitorStore
from pbxwatch.notify.sink import NoticeSink
from pbxwatch.notify.wiring import notify_parts

log = logging.getLogger("pbxwatch.monitor")

HEARTBEAT_FILE = "monitor.heartbeat"
CHECK_GUARD_S = 5.0  # on top of the prober's connect + command timeouts
RELAY_TIMEOUT_S = 15.0  # POST /power-cycle reads the relay fresh from the cloud before it answers 202


def heartbeat_path(settings: Settings) -> Path:
    return settings.run_dir / HEARTBEAT_FILE


def options_from(
    settings: Settings, *, reload_interval: float | None = None, flush_interval: float = 1.0
) -> MonitorOptions:
    """`reload_interval`: how soon added, changed or removed units and operator rearms are noticed."""
    ssh = settings.ssh
    return MonitorOptions(
        policy=Policy.from_settings(settings.monitor),
        check_timeout=ssh.connect_timeout + ssh.command_timeout + CHECK_GUARD_S,
        concurrency=ssh.concurrency,
        reload_interval=reload_interval or min(30.0, settings.monitor.poll_interval),
        flush_interval=flush_interval,
        heartbeat_file=heartbeat_path(settings),
        time_zone=ZoneInfo(settings.monitor.time_zone),
    )


def default_prober(settings: Settings) -> Prober:
    from pbxwatch.probe import ProbeOptions, SshProber

    return SshProber(ProbeOptions.from_settings(settings.ssh))


def default_relay(settings: Settings) -> RelayPort:
    token = settings.relay.api_token.get_secret_value() if settings.relay.api_token else None
    return HttpRelayPort(settings.monitor.relay_url, api_token=token, timeout=RELAY_TIMEOUT_S)


def default_leadership(settings: Settings, db: Database, standby_poll: float) -> Leadership:
    """A PostgreSQL advisory lock lets a standby monitor take over; SQLite has one monitor only."""
    lock = AdvisoryLock(settings.database_url, poll_interval=standby_poll) if db.is_postgres else None
    return lock or SingleMonitor()


async def run_monitor(
    settings: Settings,
    stop: asyncio.Event,
    *,
    prober: Prober | None = None,
    relay: RelayPort | None = None,
    clock: Clock = utc_now,
    config_file: Path | None = None,
    options: MonitorOptions | None = None,
    standby_poll: float = 2.0,
    leadership: Leadership | None = None,
    events: EventSink | None = None,
) -> None:
    """Run until `stop` is set. Prober, relay port and leadership are injectable (tests, the demo)."""
    db = await _open_database(settings, config_file)
    leadership = leadership or default_leadership(settings, db, standby_poll)
    prober = prober or default_prober(settings)
    _say_kept_connections(prober)
    relay = relay or default_relay(settings)
    options = options or options_from(settings)
    notices = NoticeSink(settings.notify, options.policy)
    box, sender = notify_parts(settings, db, clock)
    stale = stale_after(settings.monitor.poll_interval, options.check_timeout)
    metrics = MonitorMetrics(stale, clock, lambda: sender.stats.outcomes) if settings.monitor.metrics else None
    monitor = Monitor(
        options,
        store=MonitorStore(db, restart_command=settings.monitor.restart_command),
        prober=prober,
        relay=relay,
        leadership=leadership,
        clock=clock,
        events=Fanout(*(sink for sink in (LogEvents(), notices, metrics, events) if sink is not None)),
        restarter=prober if isinstance(prober, Restarter) else None,
    )
    server = _serve_metrics(settings, metrics, monitor)
    quiet = asyncio.Event()  # the notification tasks end after the monitor's final flush
    tasks = [
        asyncio.create_task(notices.run(quiet, box, clock, sender.wake.set)),
        asyncio.create_task(sender.run(quiet)),
    ]
    try:
        await monitor.run(stop)
    finally:
        quiet.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        _stop_metrics(server)
        await prober.close()
        await relay.close()
        await db.dispose()


async def _open_database(settings: Settings, config_file: Path | None) -> Database:
    """The monitor starts with the database down too: it keeps trying, and the heartbeat says so."""
    db = Database.from_url(settings.database_url)
    log.info(
        "monitor starting: config %s, database %s, relay service %s, event loop %s",
        config_file or "(defaults and environment)",
        mask_url(settings.database_url),
        settings.monitor.relay_url,
        type(asyncio.get_running_loop()).__module__.partition(".")[0],  # uvloop, or asyncio
    )
    try:
        await db.prepare()
    except DatabaseError as err:
        log.error("%s; the monitor keeps trying", err)  # noqa: TRY400 -- an outage, not a bug: no traceback
    return db


def _say_kept_connections(prober: Prober) -> None:
    """Once at start-up: how many SSH connections the open-file limit lets the prober keep."""
    keep = getattr(prober, "keep_limit", None)
    if isinstance(keep, int):
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        log.info(
            "open-file limit %d: up to %d SSH connection(s) kept open, units beyond that are checked over "
            "a new connection each time (raise LimitNOFILE to keep more)",
            soft,
            keep,
        )


def _serve_metrics(settings: Settings, metrics: MonitorMetrics | None, monitor: Monitor) -> Any:
    if metrics is None:
        return None
    metrics.monitor = monitor
    server = metrics.serve(settings.monitor.metrics_host, settings.monitor.metrics_port)
    if server is not None:
        monitor.beat_extra["metrics"] = f"http://{settings.monitor.metrics_host}:{server.server_port}/metrics"
    return server


def _stop_metrics(server: Any) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
