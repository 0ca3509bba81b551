"""Uptime, incidents and recovery figures of one unit over a window, from its status history.

Pure: the caller hands in the window's marks (status changes and power-cycles, oldest first) and
whether an outage was already open when the window began. Both `pbxwatch report` and the dashboard
compute their numbers here, from rows loaded by `pbxwatch.db.report`.

An incident runs from an `on→off` row to the next `off→on` row (or is still open). A power-cycle
"fixed" an incident when it was the last cycle during that incident and the unit then recovered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class MarkKind(StrEnum):
    DOWN = "down"  # on→off
    UP = "up"  # off→on
    CYCLE = "cycle"  # a power-cycle that was started (ewelink_power_cycle success)


@dataclass(frozen=True)
class Mark:
    at: datetime
    kind: MarkKind
    automatic: bool = False  # for a cycle: user_initiator 'auto'


class EndedBy(StrEnum):
    OPEN = "open"
    AUTO_CYCLE = "auto_cycle"
    MANUAL_CYCLE = "manual_cycle"
    ITSELF = "itself"


@dataclass
class Incident:
    start: datetime
    end: datetime | None = None
    cycles: int = 0
    last_cycle_automatic: bool | None = None

    @property
    def ended_by(self) -> EndedBy:
        if self.end is None:
            return EndedBy.OPEN
        if self.last_cycle_automatic is None:
            return EndedBy.ITSELF
        return EndedBy.AUTO_CYCLE if self.last_cycle_automatic else EndedBy.MANUAL_CYCLE

    def duration(self, until: datetime) -> timedelta:
        return (self.end or until) - self.start


@dataclass(frozen=True)
class UnitReport:
    number: str
    since: datetime
    until: datetime
    uptime_percent: float
    incidents: int
    downtime: timedelta
    mttr: timedelta | None  # mean duration of the incidents that ended
    auto_cycles: int
    auto_cycles_fixed: int
    incident_list: list[Incident] = field(default_factory=list, compare=False, repr=False)


def incidents_of(marks: list[Mark], open_since: datetime | None) -> tuple[list[Incident], int]:
    """The incidents told by the marks, and how many automatic power-cycles they contain."""
    found: list[Incident] = []
    current = Incident(open_since) if open_since is not None else None
    auto = 0
    for mark in marks:
        if mark.kind is MarkKind.DOWN and current is None:
            current = Incident(mark.at)
        elif mark.kind is MarkKind.UP and current is not None:
            current.end = mark.at
            found.append(current)
            current = None
        elif mark.kind is MarkKind.CYCLE:
            auto += mark.automatic
            if current is not None:
                current.cycles += 1
                current.last_cycle_automatic = mark.automatic
    if current is not None:
        found.append(current)
    return found, auto


def summarize(
    number: str, marks: list[Mark], open_since: datetime | None, since: datetime, until: datetime
) -> UnitReport:
    """The figures of one unit for [since, until]; marks outside the window are ignored."""
    inside = [m for m in marks if since <= m.at <= until]
    if open_since is not None and open_since > since:
        open_since = None  # an outage "open at the start" that began inside the window is in the marks
    incidents, auto = incidents_of(inside, open_since)
    down = sum((_overlap(i, since, until) for i in incidents), timedelta())
    window = until - since
    ended = [i.duration(until) for i in incidents if i.end is not None]
    return UnitReport(
        number=number,
        since=since,
        until=until,
        uptime_percent=100.0 * (1 - down / window) if window > timedelta() else 100.0,
        incidents=len(incidents),
        downtime=down,
        mttr=sum(ended, timedelta()) / len(ended) if ended else None,
        auto_cycles=auto,
        auto_cycles_fixed=sum(1 for i in incidents if i.ended_by is EndedBy.AUTO_CYCLE),
        incident_list=incidents,
    )


def _overlap(incident: Incident, since: datetime, until: datetime) -> timedelta:
    start, end = max(incident.start, since), min(incident.end or until, until)
    return max(end - start, timedelta())


@dataclass(frozen=True)
class FleetSummary:
    units: int
    uptime_percent: float  # the mean of the units' uptime
    incidents: int
    downtime: timedelta
    mttr: timedelta | None
    auto_cycles: int
    auto_cycles_fixed: int


def fleet_summary(reports: list[UnitReport]) -> FleetSummary:
    ended = [i.duration(r.until) for r in reports for i in r.incident_list if i.end is not None]
    return FleetSummary(
        units=len(reports),
        uptime_percent=sum(r.uptime_percent for r in reports) / len(reports) if reports else 100.0,
        incidents=sum(r.incidents for r in reports),
        downtime=sum((r.downtime for r in reports), timedelta()),
        mttr=sum(ended, timedelta()) / len(ended) if ended else None,
        auto_cycles=sum(r.auto_cycles for r in reports),
        auto_cycles_fixed=sum(r.auto_cycles_fixed for r in reports),
    )
