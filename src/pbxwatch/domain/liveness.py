"""Is the monitor running? Judged from its heartbeat file and what the operating system says of its pid.

Pure: the process checks and the clock are parameters (the adapter is `pbxwatch.monitor.liveness`).
A heartbeat alone proves nothing after `kill -9` (nobody removes it) or once the pid is reused by
another program, so a monitor is `active` only while its pid runs *a pbxwatch monitor* and, when
it says it is active, its heartbeat is recent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

#: active / standby: running; stopped: exited cleanly; dead: its pid is gone or is another program;
#: stale: its pid runs a monitor that has not beaten for too long; none: no heartbeat file
MonitorState = Literal["active", "standby", "stopped", "dead", "stale", "none"]
RUNNING: frozenset[str] = frozenset({"active", "standby"})


@dataclass(frozen=True)
class Liveness:
    state: MonitorState
    pid: int | None = None
    role: str | None = None
    age_seconds: float | None = None
    detail: str = ""

    @property
    def trouble(self) -> bool:
        """A monitor that should be running and is not (a clean stop or no heartbeat is no trouble)."""
        return self.state in ("dead", "stale")

    def describe(self) -> str:
        """One line for `pbxwatch status` and `/health`."""
        age = f"heartbeat {_ago(self.age_seconds)}" if self.age_seconds is not None else "no heartbeat time"
        if self.state == "none":
            return "no heartbeat (not running?)"
        if self.state in RUNNING:
            return f"{self.state} (pid {self.pid}, {age})"
        if self.state == "stopped":
            return f"stopped (exited cleanly; pid {self.pid}, {age})"
        return f"NOT RUNNING: {self.detail} (last role {self.role}, pid {self.pid}, {age})"


def judge(
    beat: Mapping[str, Any] | None,
    now: datetime,
    *,
    alive: Callable[[int], bool],
    is_monitor: Callable[[int], bool],
    stale_after: float,
) -> Liveness:
    """The monitor's state from its heartbeat `beat` (None: no file) at `now`.

    `alive(pid)`: the pid exists and is not a zombie; `is_monitor(pid)`: its command line is `pbxwatch
    monitor`. `stale_after`: seconds an *active* monitor may go without a beat (a standby beats only
    when its role changes)."""
    if beat is None:
        return Liveness("none")
    pid, role, age = _pid(beat), str(beat.get("role") or "?"), _age(beat, now)
    if role == "stopped":
        return Liveness("stopped", pid, role, age)
    if pid is None or not alive(pid):
        return Liveness("dead", pid, role, age, f"pid {pid} is gone (killed or crashed)")
    if not is_monitor(pid):
        return Liveness("dead", pid, role, age, f"pid {pid} is now another program, not a pbxwatch monitor")
    if role == "active" and (age is None or age > stale_after):
        return Liveness(
            "stale", pid, role, age, f"pid {pid} has not written its heartbeat for over {stale_after:.0f} s (hung?)"
        )
    return Liveness("active" if role == "active" else "standby", pid, role, age)


def _pid(beat: Mapping[str, Any]) -> int | None:
    pid = beat.get("pid")
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else None


def _age(beat: Mapping[str, Any], now: datetime) -> float | None:
    try:
        at = datetime.fromisoformat(str(beat.get("at")))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return max((now - at).total_seconds(), 0.0)


def _ago(seconds: float | None) -> str:
    whole = int(seconds or 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            return f"{whole // size}{unit} ago"
    return f"{whole}s ago"
