"""The dashboard's fleet page at 2,000 units: server time and HTML size.

    .venv/bin/python benchmarks/dashboard.py                      # 2,000 units, 30 days of history
    .venv/bin/python benchmarks/dashboard.py --units 500 --requests 10

Creates a throwaway PostgreSQL database (PBXWATCH_BENCH_ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/postgres),
fills `enterprises`, `unit_live_status` and `unit_status_history` (a few outages per unit over 30 days, a
tenth of the fleet down now), starts the relay service in this process (uvicorn on a loopback port, the
simulated eWeLink cloud), then times GET / (the full page with the 30-day summary) and GET /fleet/table
(what htmx polls every 2 s) over loopback. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pbxwatch.config import Settings
from pbxwatch.db.migrate import upgrade_url
from pbxwatch.relay.app import create_app
from pbxwatch.sim.cloud import SimCloud
from pbxwatch.sim.cloud_state import SimCloudConfig

ADMIN = os.environ.get("PBXWATCH_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fill(url: str, units: int, seed: int) -> int:
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO enterprises (number, name, host, ewelink_device_id, parameter_option_2) "
            "VALUES ($1, $2, $3, $4, true)",
            [(f"{10000 + i}", f"Customer {i}", f"10.{i // 250}.{i % 250}.10", f"1000{i:06d}") for i in range(units)],
        )
        live, history = [], []
        for i in range(units):
            number, down_now = f"{10000 + i}", i % 10 == 0
            live.append(
                (
                    number,
                    "offline" if down_now else "online",
                    now - timedelta(seconds=rnd.randint(1, 50)),
                    3 if down_now else 0,
                    "asterisk CLI timed out" if down_now else None,
                    rnd.randint(10, 90),
                    '{"ok": 3, "total": 4}',
                    4,
                )
            )
            for _ in range(rnd.randint(1, 4)):  # past outages, each cycled once and recovered
                start = now - timedelta(days=rnd.uniform(1, 29))
                cycled = start + timedelta(seconds=5)
                history += [
                    (number, "on", "off", start, None, None, "auto"),
                    (number, "off", "off", cycled, "ewelink_power_cycle", "success", "auto"),
                    (number, "off", "on", start + timedelta(minutes=rnd.uniform(2, 90)), None, None, "auto"),
                ]
            if down_now:
                history.append((number, "on", "off", now - timedelta(minutes=10), None, None, "auto"))
        await conn.executemany(
            "INSERT INTO unit_live_status (enterprise_number, last_status, last_checked_at, failure_counter, "
            "last_error_message, disk_usage_percent, line_stats, sip_peers) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)",
            live,
        )
        await conn.executemany(
            "INSERT INTO unit_status_history (enterprise_number, prev_status, new_status, change_time, action_type, "
            "action_result, user_initiator) VALUES ($1,$2,$3,$4,$5,$6,$7)",
            history,
        )
        await conn.execute("ANALYZE")
        return len(history)
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_get(client: httpx.Client, url: str, requests: int) -> tuple[list[float], int]:
    client.get(url).raise_for_status()  # warm: connections, template compilation
    times, size = [], 0
    for _ in range(requests):
        started = time.perf_counter()
        reply = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        reply.raise_for_status()
        size = len(reply.content)
    return times, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    name = f"pbxwatch_bench_{uuid.uuid4().hex[:8]}"
    url = ADMIN.rpartition("/")[0] + "/" + name
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(upgrade_url(url))
        rows = asyncio.run(fill(url, args.units, seed=13))
        run(url, args, rows)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(url: str, args: argparse.Namespace, rows: int) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, SimCloud(SimCloudConfig()) as cloud:
        settings = Settings.model_validate(
            {
                "database_url": url,
                "log_dir": f"{tmp}/logs",
                "run_dir": f"{tmp}/run",
                "relay": {"host": "127.0.0.1", "port": port},
                "ewelink": {
                    "app_id": cloud.config.app_id,
                    "app_secret": cloud.config.app_secret,
                    "redirect_url": f"http://127.0.0.1:{port}/ewelink-callback/",
                    "token_file": f"{tmp}/token.json",
                    "api_url": cloud.url,
                    "oauth_url": cloud.oauth_url,
                },
            }
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False)
        )
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            report(port, args, rows)
        finally:
            server.should_exit = True
            thread.join(30)


def report(port: int, args: argparse.Namespace, rows: int) -> None:
    base = f"http://127.0.0.1:{port}"
    print(f"{args.units} units, {rows} history rows, {args.requests} requests each (after one warm-up)\n")
    print("| request | median ms | p95 ms | HTML bytes |")
    print("|---|---:|---:|---:|")
    with httpx.Client(timeout=120) as client:
        for label, path in (
            ("GET / (full page, 30-day summary)", "/"),
            ("GET /fleet/table (htmx poll)", "/fleet/table"),
            ("GET /fleet/table?state=offline", "/fleet/table?state=offline"),
            ("GET /?q=Customer 1999 (search)", "/?q=Customer%201999"),
        ):
            times, size = time_get(client, base + path, args.requests)
            p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]
            print(f"| {label} | {statistics.median(times):.0f} | {p95:.0f} | {size:,} |")


if __name__ == "__main__":
    main()
