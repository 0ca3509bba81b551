"""Prometheus metrics of one relay service instance (a registry per app, no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RelayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cloud_calls = Counter(
            "pbxwatch_relay_cloud_calls", "eWeLink cloud HTTP calls made by this process", registry=self.registry
        )
        self.cloud_calls_month = Gauge(
            "pbxwatch_relay_cloud_calls_month", "eWeLink cloud calls counted this month", registry=self.registry
        )
        self.cloud_quota_ratio = Gauge(
            "pbxwatch_relay_cloud_quota_used_ratio", "share of the monthly call quota used", registry=self.registry
        )
        self.actions = Counter(
            "pbxwatch_relay_actions",
            "relay actions by type and result",
            ["action", "result"],
            registry=self.registry,
        )
        self.overdue_on = Gauge(
            "pbxwatch_relay_overdue_on", "relays whose 'on' after a power-cycle is overdue", registry=self.registry
        )
        self.active_cycles = Gauge(
            "pbxwatch_relay_active_cycles", "power-cycles pending or with the relay off", registry=self.registry
        )
        self.on_confirm_seconds = Histogram(
            "pbxwatch_relay_on_confirm_seconds",
            "seconds from a power-cycle's 'on' being due to its relay read back on",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
            registry=self.registry,
        )
        self.calls_per_action = Histogram(
            "pbxwatch_relay_cloud_calls_per_action",
            "eWeLink cloud calls spent by one toggle (result success / fail) or one power-cycle (its end state)",
            ["action", "result"],
            buckets=(0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64),
            registry=self.registry,
        )
        self.budget_refusals = Counter(
            "pbxwatch_relay_call_budget_refusals",
            "API requests answered 429 because the eWeLink call budget could not serve them in time",
            registry=self.registry,
        )
        self.token_valid = Gauge(
            "pbxwatch_relay_ewelink_token_usable",
            "1 when the eWeLink token is valid or expiring",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
