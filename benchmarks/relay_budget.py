"""The eWeLink call budget under load: ~150 toggles and one power-cycle through the real relay service.

    .venv/bin/python benchmarks/relay_budget.py                    # 150 toggles at 2/s, a cycle at t=20 s
    .venv/bin/python benchmarks/relay_budget.py --toggles 60 --rate 1
    .venv/bin/python benchmarks/relay_budget.py --compare OTHER/.venv/bin/python   # another version first

`pbxwatch relay serve` runs as its own process with the real limits of its eWeLink client (>= 0.5 s between
calls, <= 300 calls per 5 minutes) and its defaults (`relay.caller_wait` 5 s, `relay.verify_seconds` 30 s),
against the simulated cloud (which refuses calls closer than 0.4 s: a little slack for network jitter), on a
throwaway database of the local PostgreSQL. Toggles of nine relays are fired at `--rate` per second, each
from its own thread; `--cycle-at` seconds in, a power-cycle (`off_seconds` 10) of a tenth relay is asked for.
Toggles at 2/s want 4 calls/s, twice what the cloud allows, so many must be refused: the point is that
they are refused at once, and that the cycle's "on" is not delayed by them.

Prints a Markdown table: caller waits (max, p95) by answer, the 429s, cloud calls per toggle and per cycle
(the service's `pbxwatch_relay_cloud_calls_per_action` histogram), the cycle's "on" latency (from `on_due_at`
to the "on" arriving at the cloud), and what the cloud saw (calls, closest spacing, most in 5 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from throwaway_db import create_database, drop_database, sql

from pbxwatch.db.migrate import upgrade_url
from pbxwatch.sim.cloud import SimCloud
from pbxwatch.sim.cloud_state import SimCloudConfig, SimDevice

API_TOKEN = "relay-budget-api-token-0123456789"
RELAYS = [f"1000{n:04d}{n:02d}" for n in range(1, 11)]
CYCLED = RELAYS[0]
OFF_SECONDS = 10
SIM_MIN_INTERVAL = 0.4  # the client spaces call starts 0.5 s apart; arrivals jitter


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    """`pbxwatch relay serve` on the simulated cloud and the throwaway database."""

    def __init__(self, tmp: Path, sim: SimCloud, database_url: str, python: str) -> None:
        self.tmp, self.sim, self.database_url, self.python = tmp, sim, database_url, python
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # an unbounded queue (the FIFO limiter before the call budget) answers after minutes, not seconds
        self.http = httpx.Client(timeout=900, headers={"Authorization": f"Bearer {API_TOKEN}"})
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        cfg = self.sim.config
        env = {k: v for k, v in os.environ.items() if not k.startswith("PBXWATCH_")}
        (self.tmp / "none.toml").write_text("", encoding="utf-8")
        env.update(
            {
                "PBXWATCH_CONFIG": str(self.tmp / "none.toml"),
                "HOME": str(self.tmp),
                "PBXWATCH_DATABASE_URL": self.database_url,
                "PBXWATCH_LOG_DIR": str(self.tmp / "logs"),
                "PBXWATCH_RUN_DIR": str(self.tmp / "run"),
                "PBXWATCH_EWELINK_APP_ID": cfg.app_id,
                "PBXWATCH_EWELINK_APP_SECRET": cfg.app_secret,
                "PBXWATCH_EWELINK_REDIRECT_URL": f"{self.url}/ewelink-callback/",
                "PBXWATCH_EWELINK_TOKEN_FILE": str(self.tmp / "ewelink_token.json"),
                "PBXWATCH_EWELINK_API_URL": self.sim.url,
                "PBXWATCH_EWELINK_OAUTH_URL": self.sim.oauth_url,
                "PBXWATCH_EWELINK_REGION": "eu",
                "PBXWATCH_RELAY_HOST": "127.0.0.1",
                "PBXWATCH_RELAY_PORT": str(self.port),
                "PBXWATCH_RELAY_API_TOKEN": API_TOKEN,
            }
        )
        return env

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.python, "-m", "pbxwatch", "relay", "serve"],
            cwd=self.tmp,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not self._answers():
            if time.monotonic() > deadline:
                raise RuntimeError("the relay service did not answer /health within 60 s")
            time.sleep(0.1)

    def _answers(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "relay serve exited"
        try:
            return self.http.get(self.url + "/health").status_code == 200
        except httpx.HTTPError:
            return False

    def authorize(self) -> None:
        state = parse_qs(urlsplit(self.http.get(self.url + "/ewelink-auth-url").json()["auth_url"]).query)["state"][0]
        code = self.sim.issue_code(f"{self.url}/ewelink-callback/", region="eu")
        self.http.get(
            f"{self.url}/ewelink-callback/", params={"code": code, "region": "eu", "state": state}
        ).raise_for_status()

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=90)


def fire_toggles(service: Service, count: int, rate: float, results: list[dict[str, Any]]) -> list[threading.Thread]:
    """`count` toggles, one every 1/`rate` s, each in its own thread (a caller never waits for another)."""

    def one(i: int) -> None:
        device = RELAYS[1 + i % (len(RELAYS) - 1)]
        started = time.monotonic()
        reply = service.http.post(service.url + "/toggle", json={"device_id": device})
        results.append(
            {
                "wait": time.monotonic() - started,
                "status": reply.status_code,
                "retry_after": reply.headers.get("Retry-After"),
            }
        )

    threads = []
    first = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, first + i / rate - time.monotonic()))
        thread = threading.Thread(target=one, args=(i,))
        thread.start()
        threads.append(thread)
    return threads


def ask_cycle(service: Service) -> tuple[httpx.Response, int]:
    """`POST /power-cycle` as the monitor would go on asking: again after `Retry-After` when refused."""
    for attempt in range(1, 100):
        reply = service.http.post(service.url + "/power-cycle", json={"device_id": CYCLED, "off_seconds": OFF_SECONDS})
        if reply.status_code != 429:
            reply.raise_for_status()
            return reply, attempt
        time.sleep(float(reply.headers.get("Retry-After", "1")))
    raise RuntimeError("the power-cycle was refused 99 times")


def metric(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else (values[0] if values else 0.0)


def run(args: argparse.Namespace, service: Service, sim: SimCloud) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    cpu0, t0 = service.cpu_seconds(), time.monotonic()
    firing = threading.Thread(target=lambda: threads.extend(fire_toggles(service, args.toggles, args.rate, results)))
    threads: list[threading.Thread] = []
    firing.start()
    time.sleep(args.cycle_at)
    asked, attempts = ask_cycle(service)
    cycle_id, on_due_at = asked.json()["cycle_id"], datetime.fromisoformat(asked.json()["on_due_at"])
    firing.join()
    for thread in threads:
        thread.join()
    while service.http.get(f"{service.url}/power-cycle/{cycle_id}").json()["state"] not in ("done", "failed"):
        time.sleep(0.5)
    wall, cpu = time.monotonic() - t0, service.cpu_seconds() - cpu0
    on_at = next(
        r.at
        for r in sim.requests("/v2/device/thing/status")
        if json.loads(r.body).get("id") == CYCLED and json.loads(r.body)["params"] == {"switch": "on"}
    )
    toggle_calls = sum(1 for r in sim.requests("/v2/device/thing") if CYCLED.encode() not in r.body)
    return {
        "results": results,
        "metrics": service.http.get(service.url + "/metrics").text,
        "wall": wall,
        "toggle_calls": toggle_calls,
        "cpu": cpu,
        "on_latency": on_at - on_due_at.timestamp(),
        "cycle_attempts": attempts,
        "state": service.http.get(f"{service.url}/power-cycle/{cycle_id}").json()["state"],
    }


def cloud_view(sim: SimCloud) -> tuple[int, float, int, int]:
    """Calls the cloud received, their closest spacing on arrival, how many arrived under the simulated
    cloud's 0.4 s (it refused those), and the most in any 5 minutes."""
    times = sorted(r.at for r in sim.requests() if r.path.startswith("/v2/"))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    busiest = max((sum(1 for t in times if s <= t < s + 300) for s in times), default=0)
    return len(times), min(gaps, default=0.0), sum(1 for g in gaps if g < SIM_MIN_INTERVAL), busiest


def rows(args: argparse.Namespace, out: dict[str, Any], sim: SimCloud) -> dict[str, str]:
    results, text = out["results"], out["metrics"]
    found: dict[str, str] = {"toggles fired (rate per s)": f"{len(results)} ({args.rate:g})"}
    for status in (200, 429, 502, 504):
        waits = [r["wait"] for r in results if r["status"] == status]
        found[f"HTTP {status}: count, caller wait max / p95 s"] = (
            f"{len(waits)}, {max(waits):.2f} / {p95(waits):.2f}" if waits else "0"
        )
    waits = [r["wait"] for r in results]
    found["all toggles: caller wait max / p95 s"] = f"{max(waits):.2f} / {p95(waits):.2f}"
    retry = [int(r["retry_after"]) for r in results if r["retry_after"]]
    found["Retry-After given (min / median / max s)"] = (
        f"{min(retry)} / {statistics.median(retry):g} / {max(retry)}" if retry else "-"
    )
    for action, result, what in (
        ("toggle", "success", "toggle answered 200"),
        ("toggle", "fail", "toggle refused"),
        ("power_cycle", "done", "power-cycle (done)"),
    ):
        labels = f'{{action="{action}",result="{result}"}}'
        total = metric(text, "pbxwatch_relay_cloud_calls_per_action_sum", labels)
        count = metric(text, "pbxwatch_relay_cloud_calls_per_action_count", labels)
        found[f"cloud calls per {what} (metric)"] = f"{total / count:.2f} (of {count:g})" if count else "-"
    calls, closest, too_close, busiest = cloud_view(sim)
    found["cloud calls per toggle fired (the cloud's count)"] = f"{out['toggle_calls'] / len(results):.2f}"
    found["power-cycle: requests until accepted (202)"] = str(out["cycle_attempts"])
    found["power-cycle: 'on' at the cloud after on_due_at s"] = f"{out['on_latency']:.2f}"
    found["power-cycle: state at the end"] = out["state"]
    found["cloud: calls received, most in 5 min"] = f"{calls}, {busiest}"
    found[f"cloud: closest arrival spacing s, arrivals under {SIM_MIN_INTERVAL:g} s"] = f"{closest:.3f}, {too_close}"
    found["relay service CPU s (wall s)"] = f"{out['cpu']:.2f} ({out['wall']:.0f})"
    return found


def measure(args: argparse.Namespace, python: str) -> dict[str, str]:
    """One run: a fresh database, simulated cloud and service (of `python`), the load, its figures."""
    database_url = asyncio.run(create_database(args.database_url, "relay_budget"))
    devices = [SimDevice(id=d, name=f"Relay {n}") for n, d in enumerate(RELAYS, start=1)]
    try:
        asyncio.run(upgrade_url(database_url))
        for n, device_id in enumerate(RELAYS, start=101):
            asyncio.run(
                sql(
                    database_url,
                    "INSERT INTO enterprises (number, name, host, ewelink_device_id) VALUES ($1, $2, '127.0.0.1', $3)",
                    str(n),
                    f"Unit {n}",
                    device_id,
                )
            )
        config = SimCloudConfig(min_interval=SIM_MIN_INTERVAL, window=300.0, window_max_calls=300)
        with tempfile.TemporaryDirectory(prefix="relay-budget-") as tmp, SimCloud(config, devices=devices) as sim:
            service = Service(Path(tmp), sim, database_url, python)
            try:
                service.start()
                service.authorize()
                out = run(args, service, sim)
            finally:
                service.stop()
            return rows(args, out, sim)
    finally:
        asyncio.run(drop_database(database_url))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toggles", type=int, default=150, help="toggles to fire, default 150")
    parser.add_argument("--rate", type=float, default=2.0, help="toggles per second, default 2")
    parser.add_argument("--cycle-at", type=float, default=20.0, help="seconds in when the cycle is asked for")
    parser.add_argument(
        "--compare",
        metavar="PYTHON",
        help="first measure the service of this Python's pbxwatch (the venv of another checkout, "
        "e.g. the commit before the call budget) the same way, and print both side by side",
    )
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="the PostgreSQL server to create the throwaway database on",
    )
    args = parser.parse_args()
    runs = ([("compared", args.compare)] if args.compare else []) + [("this checkout", sys.executable)]
    columns = []
    for name, python in runs:
        print(f"measuring {name} ({python}) ...", file=sys.stderr, flush=True)
        columns.append((name, measure(args, python)))
    names = list(dict.fromkeys(k for _, found in columns for k in found))
    print("| measure | " + " | ".join(name for name, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for key in names:
        print(f"| {key} | " + " | ".join(found.get(key, "-") for _, found in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
