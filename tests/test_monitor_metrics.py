"""The monitor's Prometheus `/metrics`, scraped over HTTP from a running monitor (real PostgreSQL, injected
prober and relay port), and the Grafana dashboard in deploy/ checked against what is really exported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pbxwatch.db.engine import Database
from pbxwatch.domain.vocabulary import Reason
from pbxwatch.monitor.metrics import EXPORTED
from tests.monitor_harness import FakeRelay, ScriptedProber, add_unit, eventually, live, running_monitor, settings_for
from tests.relay_fixtures import free_port

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "deploy" / "grafana-pbxwatch-monitor.json"
SUFFIXES = ("_bucket", "_sum", "_count", "_created", "_total")


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in EXPORTED:
            return name.removesuffix(suffix)
    return name


async def _scraped(url: str, want: str) -> bool:
    async with httpx.AsyncClient(timeout=5) as http:
        return want in (await http.get(url)).text


async def test_metrics_are_served_on_loopback_with_every_documented_metric(
    db: Database, pg_url: str, tmp_path: Path
) -> None:
    await add_unit(db, "401", "127.0.1.5")
    await add_unit(db, "402", "127.0.1.51", auto=False)
    prober, relay = ScriptedProber(), FakeRelay()
    port = free_port()
    settings = settings_for(pg_url, tmp_path, metrics=True, metrics_port=port)
    url = f"http://127.0.0.1:{port}/metrics"
    async with running_monitor(settings, prober, relay):
        await eventually(lambda: _online(db, "401", "402"), what="first checks")
        prober.reasons["127.0.1.5"] = Reason.HOST_KEY_MISMATCH
        prober.reasons["127.0.1.51"] = Reason.CLI_HUNG
        await eventually(lambda: _counter_at_least(url, "402", 3), what="402 confirmed down in the metrics")
        await eventually(lambda: _scraped(url, "pbxwatch_monitor_sweep_duration_seconds_count"), what="a sweep")
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(url)).text
        beat = json.loads((tmp_path / "run" / "monitor.heartbeat").read_text(encoding="utf-8"))
    found = samples(text)
    assert {base(n) for n in found if n.startswith("pbxwatch_")} >= EXPORTED
    assert beat["metrics"] == url
    state = {(lab["unit"], lab["state"]): v for lab, v in found["pbxwatch_unit_state"]}
    assert state[("401", "unknown")] == 1.0 and state[("401", "online")] == 0.0
    up = {lab["unit"]: v for lab, v in found["pbxwatch_unit_up"]}
    assert up == {"401": 0.0, "402": 0.0}
    counters = {lab["unit"]: v for lab, v in found["pbxwatch_unit_failure_counter"]}
    assert counters["402"] >= 3 and counters["401"] == 0
    fleet = {lab["state"]: v for lab, v in found["pbxwatch_fleet_units"]}
    assert (fleet["unknown"], fleet["offline"], fleet["online"]) == (1.0, 1.0, 0.0)
    checks = {(lab["verdict"], lab["reason"]): v for lab, v in found["pbxwatch_monitor_checks_total"]}
    assert checks[("unknown", "host_key_mismatch")] >= 1 and checks[("down", "cli_hung")] >= 3
    labels = {key for values in found.values() for lab, _ in values for key in lab}
    assert labels <= {"unit", "state", "verdict", "reason", "outcome", "le"}  # bounded label names
    async with httpx.AsyncClient(timeout=2) as http:
        try:
            await http.get(url)
            still_up = True
        except httpx.HTTPError:
            still_up = False
    assert not still_up  # the server stopped with the monitor


def test_every_grafana_query_names_a_metric_the_monitor_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    used = set()
    for expr in exprs:
        names = {base(n) for n in re.findall(r"\bpbxwatch_[a-z_]+", expr)}
        assert names, f"a query without a pbxwatch metric: {expr}"
        used |= names
    assert used <= EXPORTED, sorted(used - EXPORTED)
    assert used == EXPORTED  # every exported metric is on the dashboard


async def _counter_at_least(url: str, unit: str, n: int) -> bool:
    async with httpx.AsyncClient(timeout=5) as http:
        found = samples((await http.get(url)).text)
    return any(lab["unit"] == unit and v >= n for lab, v in found.get("pbxwatch_unit_failure_counter", []))


async def _online(db: Database, *numbers: str) -> bool:
    for number in numbers:
        row = await live(db, number)
        if row is None or row["last_status"] != "online":
            return False
    return True
