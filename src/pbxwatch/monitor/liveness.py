"""Read the monitor's heartbeat and ask the operating system about its pid (Linux `/proc`).

Used by `pbxwatch status` and the relay service's `/health`; the judgement is `domain.liveness.judge`.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pbxwatch.config import Settings
from pbxwatch.domain.liveness import Liveness, judge
from pbxwatch.monitor.service import heartbeat_path

#: an active monitor beats every `min(30 s, poll_interval)` (its unit reload); allow three misses
BEATS_MISSED = 3
STALE_SLACK_S = 30.0
PROC = Path("/proc")


def read_heartbeat(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int) -> bool:
    """The pid exists and is not a zombie (a killed child nobody has reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    try:
        stat = (PROC / str(pid) / "stat").read_text(encoding="utf-8")
    except OSError:
        return True  # no /proc: existence is all we know
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def runs_pbxwatch_monitor(pid: int) -> bool:
    """The pid's command line is `pbxwatch … monitor` (the console script or `python -m pbxwatch`)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    is_pbxwatch = any(Path(a).name == "pbxwatch" or a == "pbxwatch" for a in args)
    return is_pbxwatch and "monitor" in args


def stale_after(settings: Settings) -> float:
    return BEATS_MISSED * min(30.0, settings.monitor.poll_interval) + STALE_SLACK_S


def monitor_liveness(settings: Settings, now: datetime | None = None) -> tuple[Liveness, dict[str, Any] | None]:
    """The monitor's state as this host sees it, and the raw heartbeat (None without one)."""
    beat = read_heartbeat(heartbeat_path(settings))
    state = judge(
        beat,
        now or datetime.now(UTC),
        alive=pid_alive,
        is_monitor=runs_pbxwatch_monitor,
        stale_after=stale_after(settings),
    )
    return state, beat
