"""The monitor's event sink: what it tells about each decision, for notifications and metrics.

Every method is synchronous and cheap (it only queues): a sink must never delay a check or a cycle.
`NoEvents` is the default; `pbxwatch.notify.sink.NoticeSink` turns events into outbox notices.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pbxwatch.domain.state import Decision, Unit, UnitState
from pbxwatch.domain.verdicts import CheckResult


class EventSink(Protocol):
    def checked(self, number: str, result: CheckResult, seconds: float) -> None:
        """One check ended (before its decision is adopted)."""

    def decided(self, unit: Unit, before: UnitState, decision: Decision, now: datetime) -> None:
        """A decision was adopted (`before` is the state it replaced)."""

    def cycle_started(self, unit: Unit, state: UnitState, cycle_id: str, now: datetime) -> None: ...

    def mass_outage(self, active: bool, down: list[str], now: datetime) -> None:
        """The fleet-wide guard tripped (`active`) or lifted; `down` are the units down right now."""

    def took_lead(self, after_standby: bool, now: datetime) -> None:
        """This monitor became active; `after_standby` when it had waited for another one."""


class NoEvents:
    def checked(self, number: str, result: CheckResult, seconds: float) -> None:
        return None

    def decided(self, unit: Unit, before: UnitState, decision: Decision, now: datetime) -> None:
        return None

    def cycle_started(self, unit: Unit, state: UnitState, cycle_id: str, now: datetime) -> None:
        return None

    def mass_outage(self, active: bool, down: list[str], now: datetime) -> None:
        return None

    def took_lead(self, after_standby: bool, now: datetime) -> None:
        return None


class Fanout:
    """Several sinks (notifications and metrics) behind one."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def checked(self, number: str, result: CheckResult, seconds: float) -> None:
        for sink in self.sinks:
            sink.checked(number, result, seconds)

    def decided(self, unit: Unit, before: UnitState, decision: Decision, now: datetime) -> None:
        for sink in self.sinks:
            sink.decided(unit, before, decision, now)

    def cycle_started(self, unit: Unit, state: UnitState, cycle_id: str, now: datetime) -> None:
        for sink in self.sinks:
            sink.cycle_started(unit, state, cycle_id, now)

    def mass_outage(self, active: bool, down: list[str], now: datetime) -> None:
        for sink in self.sinks:
            sink.mass_outage(active, down, now)

    def took_lead(self, after_standby: bool, now: datetime) -> None:
        for sink in self.sinks:
            sink.took_lead(after_standby, now)
