"""Prometheus `/metrics` of the monitor, on its own loopback port (`monitor.metrics*` settings).

Counters are fed by the monitor's event sink; per-unit and fleet gauges are computed at scrape time
from the monitor's memory with the same `unit_state` as `pbxwatch status`. Label values are bounded:
the enterprise number and fixed vocabularies (states, verdicts, reasons, outcomes), never free text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator
from datetime import datetime, timedelta
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pbxwatch.domain.state import CycleFailed, Decision, Hold, UnitState, WatchedUnit
from pbxwatch.domain.unit_status import State, UnitFacts, unit_state
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.monitor.events import UnitEvent

log = logging.getLogger("pbxwatch.monitor")
SWEEP_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800)
CHECK_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40)

# Every metric the monitor exports (the Grafana dashboard's test checks its queries against these).
EXPORTED = frozenset(
    {
        "pbxwatch_unit_up",
        "pbxwatch_unit_state",
        "pbxwatch_unit_failure_counter",
        "pbxwatch_unit_seconds_since_check",
        "pbxwatch_unit_last_check_duration_seconds",
        "pbxwatch_fleet_units",
        "pbxwatch_monitor_mass_outage",
        "pbxwatch_monitor_active",
        "pbxwatch_monitor_sweep_duration_seconds",
        "pbxwatch_monitor_check_duration_seconds",
        "pbxwatch_monitor_checks_total",
        "pbxwatch_monitor_cycles_total",
        "pbxwatch_monitor_notifications_total",
    }
)


class MonitorView(Protocol):
    """What the metrics read from the running monitor."""

    writer: Any  # `.live`: number -> LiveRow

    @property
    def units(self) -> Collection[str]:
        """The numbers of the units monitored now."""

    @property
    def mass_outage(self) -> bool: ...

    @property
    def role(self) -> str: ...


class MonitorMetrics:
    """An `EventSink` (counters) and a scrape-time collector (gauges)."""

    def __init__(
        self, stale: timedelta, clock: Callable[[], datetime], notifications: Callable[[], dict[str, int]] | None = None
    ) -> None:
        self.stale, self.clock, self.notifications = stale, clock, notifications or dict
        self.monitor: MonitorView | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.checks = Counter(
            "pbxwatch_monitor_checks", "checks by verdict and reason", ["verdict", "reason"], registry=self.registry
        )
        self.cycles = Counter(
            "pbxwatch_monitor_cycles",
            "automatic power-cycles by outcome (started, held, failed)",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("started", "held", "failed"):
            self.cycles.labels(outcome)  # exported at 0 from the start
        self.sweep = Histogram(
            "pbxwatch_monitor_sweep_duration_seconds",
            "time to check every unit once",
            buckets=SWEEP_BUCKETS,
            registry=self.registry,
        )
        self.check_time = Histogram(
            "pbxwatch_monitor_check_duration_seconds",
            "duration of one check",
            buckets=CHECK_BUCKETS,
            registry=self.registry,
        )
        self.last_duration: dict[str, float] = {}
        self._sweep_start = time.monotonic()
        self._sweep_left: set[str] = set()
        self.registry.register(_Gauges(self))

    def checked(self, number: str, result: CheckResult, seconds: float) -> None:
        self.checks.labels(result.verdict.value, result.reason.value).inc()
        self.check_time.observe(seconds)
        self.last_duration[number] = seconds
        self._sweep_left.discard(number)
        if not self._sweep_left and self.monitor is not None:
            now = time.monotonic()
            self.sweep.observe(now - self._sweep_start)
            self._sweep_start, self._sweep_left = now, set(self.monitor.units)

    def decided(self, unit: WatchedUnit, before: UnitState, decision: Decision, now: datetime) -> None:
        for action in decision.actions:
            if isinstance(action, Hold):
                self.cycles.labels("held").inc()
            elif isinstance(action, CycleFailed):
                self.cycles.labels("failed").inc()

    def cycle_started(self, unit: WatchedUnit, state: UnitState, cycle_id: str, now: datetime) -> None:
        self.cycles.labels("started").inc()

    def mass_outage(self, active: bool, down: list[str], now: datetime) -> None:
        return None

    def took_lead(self, after_standby: bool, now: datetime) -> None:
        return None

    def emit(self, event: UnitEvent) -> None:
        return None

    def serve(self, host: str, port: int) -> Any:
        """Start the HTTP server thread; None (and one log line) when the port cannot be bound."""
        try:
            server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as err:
            log.error(  # noqa: TRY400 -- one line
                "monitor metrics: cannot listen on %s:%s (%s); continuing without /metrics", host, port, err.strerror
            )
            return None
        log.info("monitor metrics on http://%s:%s/metrics", host, server.server_port)
        return server


class _Gauges(Collector):
    def __init__(self, metrics: MonitorMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        m = self.metrics
        up = GaugeMetricFamily("pbxwatch_unit_up", "1 when the last check found the PBX up", labels=["unit"])
        state = GaugeMetricFamily("pbxwatch_unit_state", "1 for the unit's current state", labels=["unit", "state"])
        counter = GaugeMetricFamily("pbxwatch_unit_failure_counter", "failed checks in a row", labels=["unit"])
        age = GaugeMetricFamily("pbxwatch_unit_seconds_since_check", "age of the last check", labels=["unit"])
        took = GaugeMetricFamily(
            "pbxwatch_unit_last_check_duration_seconds", "duration of the last check", labels=["unit"]
        )
        fleet = GaugeMetricFamily("pbxwatch_fleet_units", "units per state", labels=["state"])
        counts = dict.fromkeys(State, 0)
        now = m.clock()
        monitor = m.monitor
        for number, row in monitor.writer.live.items() if monitor else []:
            if number not in monitor.units:  # type: ignore[union-attr]
                continue
            facts = UnitFacts(
                last_status=row.last_status,
                last_checked_at=row.last_checked_at,
                failure_counter=row.failure_counter,
                last_error_message=row.last_error_message,
            )
            current, _ = unit_state(facts, now, stale_after=m.stale)
            counts[current] += 1
            up.add_metric([number], 1.0 if current is State.ONLINE else 0.0)
            for s in State:
                state.add_metric([number, s.value], 1.0 if s is current else 0.0)
            counter.add_metric([number], float(row.failure_counter or 0))
            if row.last_checked_at is not None:
                age.add_metric([number], max((now - row.last_checked_at).total_seconds(), 0.0))
            if number in m.last_duration:
                took.add_metric([number], m.last_duration[number])
        for s, n in counts.items():
            fleet.add_metric([s.value], float(n))
        yield from (up, state, counter, age, took, fleet)
        yield from self._monitor_families()

    def _monitor_families(self) -> Iterator[Any]:
        m = self.metrics
        monitor = m.monitor
        yield GaugeMetricFamily(
            "pbxwatch_monitor_mass_outage",
            "1 while the mass-outage guard holds",
            value=1.0 if monitor and monitor.mass_outage else 0.0,
        )
        yield GaugeMetricFamily(
            "pbxwatch_monitor_active",
            "1 when this monitor is the active one",
            value=1.0 if monitor and monitor.role == "active" else 0.0,
        )
        sent = CounterMetricFamily(
            "pbxwatch_monitor_notifications", "notification deliveries by outcome", labels=["outcome"]
        )
        for outcome in ("sent", "retry", "failed"):
            sent.add_metric([outcome], float(m.notifications().get(outcome, 0)))
        yield sent
