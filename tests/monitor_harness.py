"""In-process harness for monitor tests: real PostgreSQL, an injected scripted prober and relay port.

The prober and the relay port are the monitor's Protocols (`pbxwatch.monitor.ports`), injected, not
patched: end-to-end tests (test_monitor_e2e.py) use the real SSH prober and relay service instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from pbxwatch.config import Settings
from pbxwatch.db.engine import Database
from pbxwatch.db.history import HistoryEntry, write_history
from pbxwatch.db.tables import enterprises, unit_live_status, unit_status_history
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import Initiator, Reason
from pbxwatch.monitor.ports import RelayBusy, RelayRefused, RelayUnreachable, RelayWentOffline
from pbxwatch.monitor.service import options_from, run_monitor

FAST = {
    "poll_interval": 0.3,
    "retry_interval": 0.1,
    "failure_threshold": 3,
    "boot_grace": 0.5,
    "relay_recheck_interval": 0.5,
    "mass_outage_min_units": 5,
    "metrics": False,  # tests that scrape /metrics turn it on, on a free port
}


class ScriptedProber:
    """Answers from a table host → reason; `uptime` per host (a fresh uptime ends boot grace).

    It can also fail the way a buggy or overloaded prober would: a host in `hang` never answers
    (the monitor's guard must end the check), a host in `crash` raises that exception.
    """

    def __init__(self) -> None:
        self.reasons: dict[str, Reason] = {}
        self.uptime: dict[str, int] = {}
        self.checks: dict[str, int] = {}
        self.hang: set[str] = set()
        self.crash: dict[str, Exception] = {}

    async def check(self, host: str, port: int = 22) -> CheckResult:
        self.checks[host] = self.checks.get(host, 0) + 1
        await asyncio.sleep(0)
        if host in self.hang:
            await asyncio.Event().wait()  # only the monitor's guard timeout ends this
        if host in self.crash:
            raise self.crash[host]
        reason = self.reasons.get(host, Reason.OK)
        return CheckResult.of(
            reason,
            "scripted",
            uptime_seconds=self.uptime.get(host, 100_000),
            disk_usage_percent=17,
            line_stats={"source": "sip", "total": 3, "ok": 2},
        )

    async def close(self) -> None:
        return None


@dataclass
class FakeRelay:
    """The relay service as the monitor sees it.

    `refuse[device]` is raised by `POST /power-cycle` (409 `relay_offline`, 409 `cycle_running`...);
    with `db`, an accepted cycle
    writes the `ewelink_power_cycle success` row the relay service writes (the caps read them back),
    and each request records the unit's history rows as they were when it arrived (`seen`).
    """

    online: dict[str, bool] = field(default_factory=dict)
    reachable: bool = True
    cycles: list[dict[str, Any]] = field(default_factory=list)
    lookups: int = 0
    refuse: dict[str, RelayRefused] = field(default_factory=dict)
    requests: int = 0
    db: Database | None = None

    async def device_online(self, device_id: str) -> bool:
        self.lookups += 1
        if not self.reachable:
            raise RelayUnreachable("relay service at http://127.0.0.1:9 is unreachable: connection refused")
        return self.online.get(device_id, True)

    async def power_cycle(
        self, *, enterprise_number: str, device_id: str, outlet: int | None, idempotency_key: str
    ) -> str:
        self.requests += 1
        if not self.reachable:
            raise RelayUnreachable("relay service unreachable")
        if device_id in self.refuse:
            raise self.refuse[device_id]
        seen = kinds(await history(self.db, enterprise_number)) if self.db is not None else None
        self.cycles.append({"unit": enterprise_number, "device": device_id, "outlet": outlet, "key": idempotency_key})
        if self.db is not None:
            self.cycles[-1]["seen"] = seen
            await _write_cycle_row(self.db, enterprise_number, device_id, outlet)
        return f"cycle-{len(self.cycles)}"

    async def close(self) -> None:
        return None


WENT_OFFLINE = RelayWentOffline(409, "relay_offline", "relay dev1 is offline")
BUSY = RelayBusy(409, "cycle_running", "a power-cycle is already running on relay dev1")


async def _write_cycle_row(db: Database, number: str, device_id: str, outlet: int | None) -> None:
    entry = HistoryEntry.power_cycle(
        number,
        at=datetime.now(UTC),
        pbx_status="off",
        ok=True,
        initiator=Initiator.AUTO,
        extra_info={"device_id": device_id, "outlet": outlet},
    )
    async with db.begin() as conn:
        await write_history(conn, [entry])


def settings_for(url: str, tmp: Path, **monitor: Any) -> Settings:
    return Settings.model_validate(
        {
            "database_url": url,
            "log_dir": str(tmp / "logs"),
            "run_dir": str(tmp / "run"),
            "ssh": {"username": "pbx", "connect_timeout": 1, "command_timeout": 1},
            "monitor": {**FAST, **monitor},
        }
    )


async def add_unit(
    db: Database,
    number: str,
    host: str,
    *,
    auto: bool = True,
    device: str | None = "dev1",
    outlet: int | None = None,
    active: bool = True,
) -> None:
    async with db.begin() as conn:
        await conn.execute(
            insert(enterprises).values(
                number=number,
                name=f"Enterprise {number}",
                host=host,
                ssh_port=22,
                parameter_option_2=auto,
                ewelink_device_id=device,
                ewelink_outlet=outlet,
                active=active,
            )
        )


async def set_unit(db: Database, number: str, **values: Any) -> None:
    async with db.begin() as conn:
        await conn.execute(update(enterprises).where(enterprises.c.number == number).values(**values))


async def history(db: Database, number: str | None = None) -> list[dict[str, Any]]:
    query = select(unit_status_history).order_by(unit_status_history.c.id)
    if number is not None:
        query = query.where(unit_status_history.c.enterprise_number == number)
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


def kinds(rows: list[dict[str, Any]]) -> list[str]:
    """History rows as words: `on→off`, `ewelink_power_cycle success`, `skipped_mass_outage`…"""
    out = []
    for r in rows:
        if r["action_type"] is None:
            out.append(f"{r['prev_status']}→{r['new_status']}")
        else:
            out.append(" ".join(x for x in (r["action_type"], r["action_result"]) if x))
    return out


async def live(db: Database, number: str) -> dict[str, Any] | None:
    async with db.connect() as conn:
        row = (
            (await conn.execute(select(unit_live_status).where(unit_live_status.c.enterprise_number == number)))
            .mappings()
            .first()
        )
        return dict(row) if row else None


async def eventually(predicate: Callable[[], Awaitable[bool]], *, timeout: float = 15.0, what: str = "") -> None:
    """Wait until the condition holds (no timing assertion: the deadline only bounds a hung test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


@asynccontextmanager
async def running_monitor(
    settings: Settings, prober: Any, relay: Any, **options: Any
) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    opts = options_from(settings, reload_interval=options.pop("reload_interval", 0.3), flush_interval=0.1)
    if "check_timeout" in options:  # the monitor's own guard around one check
        opts = replace(opts, check_timeout=options.pop("check_timeout"))
    task = asyncio.create_task(
        run_monitor(settings, stop, prober=prober, relay=relay, options=opts, standby_poll=0.2, **options)
    )
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
