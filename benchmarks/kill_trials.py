"""Kill trials of the relay service: SIGKILL of `pbxwatch relay serve` at random points of power-cycles.

    .venv/bin/python benchmarks/kill_trials.py                 # 100 trials
    .venv/bin/python benchmarks/kill_trials.py --trials 20 --seed 7

Each trial asks for one power-cycle (`off_seconds` 1) of one of four simulated relays, kills the service
with SIGKILL after a random delay (anywhere from before the "off" to the end of the verification window)
and starts it again at once; the next trial starts right after, on the next relay, so kills also land
while the previous cycles are being resumed. At the end every cycle must finish. Real parts only: the
service as its own process, the simulated eWeLink cloud, a throwaway database on the local PostgreSQL
(`--database-url` to use another server; the database named there is created and dropped).

It prints what went wrong over N cycles, on its last line exactly:
    relays left off: 0/N, OFF rows missing: 0/N, double OFFs: 0/N
- left off: the cycle finished and its relay was not on;
- OFF rows missing: the cloud received an "off" for the cycle but no `ewelink_toggle_off` row names it;
- double OFFs: the cloud received more than one "off" for one cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from throwaway_db import create_database, drop_database, sql

from pbxwatch.db.migrate import upgrade_url
from pbxwatch.sim.cloud import SimCloud
from pbxwatch.sim.cloud_state import SimCloudConfig, SimDevice

RELAYS = ("1000aaaa01", "1000bbbb02", "1000cccc03", "1000dddd04")
API_TOKEN = "kill-trials-api-token-0123456789"
FINAL = ("done", "failed", "cancelled")


@dataclass
class Trial:
    unit: str
    device_id: str
    cycle_id: str
    asked_at: float
    relay_on_at_end: bool | None = None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class World:
    """The simulated cloud, the database and the service process of one run."""

    def __init__(self, args: argparse.Namespace, tmp: Path, sim: SimCloud) -> None:
        self.args, self.tmp, self.sim = args, tmp, sim
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {API_TOKEN}"})
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        cfg, a = self.sim.config, self.args
        env = {k: v for k, v in os.environ.items() if not k.startswith("PBXWATCH_")}
        env.update(
            {
                "PBXWATCH_DATABASE_URL": a.database_url,
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
                "PBXWATCH_CONFIG": str(self.tmp / "none.toml"),
                "PBXWATCH_RELAY_CLOUD_TIMEOUT": str(a.cloud_timeout),
                "PBXWATCH_RELAY_VERIFY_SECONDS": str(a.verify_seconds),
                "HOME": str(self.tmp),
            }
        )
        return env

    def start(self) -> None:
        (self.tmp / "none.toml").write_text("", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pbxwatch", "relay", "serve"],
            cwd=self.tmp,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.poll(self._answers, "the service to answer /health", 60)

    def _answers(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "relay serve exited"
        try:
            return self.http.get(self.url + "/health").status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)

    def authorize(self) -> None:
        code = self.sim.issue_code(f"{self.url}/ewelink-callback/", region="eu")
        reply = self.http.get(f"{self.url}/ewelink-callback/", params={"code": code, "region": "eu"})
        reply.raise_for_status()

    def cycle(self, unit: str) -> str:
        reply = self.http.post(self.url + "/power-cycle", json={"enterprise_number": unit, "off_seconds": 1})
        if reply.status_code != 202:
            raise RuntimeError(f"power-cycle of unit {unit}: HTTP {reply.status_code} {reply.text}")
        cycle_id: str = reply.json()["cycle_id"]
        return cycle_id

    def state(self, cycle_id: str) -> str:
        state: str = self.http.get(f"{self.url}/power-cycle/{cycle_id}").json()["state"]
        return state

    @staticmethod
    def poll(predicate: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.05)


def offs_per_cycle(sim: SimCloud, trials: list[Trial]) -> dict[str, int]:
    """The "off" commands the cloud received, given to the cycle of that relay asked for last before."""
    counts = {t.cycle_id: 0 for t in trials}
    for req in sim.requests("/v2/device/thing/status"):
        body = json.loads(req.body or b"{}")
        if req.method != "POST" or body.get("params", {}).get("switch") != "off":
            continue
        owners = [t for t in trials if t.device_id == body.get("id") and t.asked_at <= req.at]
        if owners:
            counts[max(owners, key=lambda t: t.asked_at).cycle_id] += 1
    return counts


def run_trials(world: World, n: int, rng: random.Random, window: float) -> list[Trial]:
    trials: list[Trial] = []
    for i in range(n):
        unit, device_id = str(101 + i % len(RELAYS)), RELAYS[i % len(RELAYS)]
        previous = [t for t in trials if t.unit == unit]
        if previous:
            finish(world, previous[-1])
        trials.append(Trial(unit, device_id, "", time.time()))
        trials[-1].cycle_id = world.cycle(unit)
        time.sleep(rng.uniform(0.0, window))  # the random kill point
        world.kill()
        world.start()
        print(f"trial {i + 1}/{n}: unit {unit} killed and restarted", file=sys.stderr, flush=True)
    for trial in trials:
        finish(world, trial)
    return trials


def finish(world: World, trial: Trial) -> None:
    if trial.relay_on_at_end is None:
        world.poll(lambda: world.state(trial.cycle_id) in FINAL, f"cycle {trial.cycle_id} to finish", 180)
        trial.relay_on_at_end = world.sim.device(trial.device_id).states == [True]


def report(world: World, trials: list[Trial], started: float) -> str:
    rows = asyncio.run(
        sql(
            world.args.database_url,
            "SELECT action_type, action_result, extra_info "
            "FROM unit_status_history WHERE action_type LIKE 'ewelink_toggle_%'",
        )
    )
    off_rows: dict[str, int] = {}
    on_ok: dict[str, int] = {}
    for row in rows:
        info = json.loads(row["extra_info"]) if isinstance(row["extra_info"], str) else row["extra_info"]
        cid = (info or {}).get("cycle_id")
        if row["action_type"] == "ewelink_toggle_off":
            off_rows[cid] = off_rows.get(cid, 0) + 1
        elif row["action_result"] == "success":
            on_ok[cid] = on_ok.get(cid, 0) + 1
    offs = offs_per_cycle(world.sim, trials)
    n = len(trials)
    left_off = sum(1 for t in trials if not t.relay_on_at_end)
    missing = sum(1 for t in trials if offs[t.cycle_id] and not off_rows.get(t.cycle_id))
    double = sum(1 for t in trials if offs[t.cycle_id] > 1)
    not_one_on = sum(1 for t in trials if on_ok.get(t.cycle_id, 0) != 1)
    print(
        f"{n} trials in {time.monotonic() - started:.0f} s; cycles without exactly one successful ON row: "
        f"{not_one_on}/{n}",
        file=sys.stderr,
    )
    return f"relays left off: {left_off}/{n}, OFF rows missing: {missing}/{n}, double OFFs: {double}/{n}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100, help="kill trials (power-cycles), default 100")
    parser.add_argument("--seed", type=int, default=20261201, help="seed of the random kill points")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="the PostgreSQL server to create the throwaway database on",
    )
    parser.add_argument("--cloud-timeout", type=float, default=3.0, help="relay.cloud_timeout of the service")
    parser.add_argument("--verify-seconds", type=float, default=3.5, help="relay.verify_seconds of the service")
    args = parser.parse_args()
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    started = time.monotonic()
    args.database_url = asyncio.run(create_database(args.database_url, "kill_trials"))
    devices = [SimDevice(id=d, name=f"Relay {n}") for n, d in enumerate(RELAYS, start=1)]
    try:
        asyncio.run(upgrade_url(args.database_url))
        for n, device_id in enumerate(RELAYS, start=1):
            asyncio.run(
                sql(
                    args.database_url,
                    "INSERT INTO enterprises (number, name, host, ewelink_device_id) VALUES ($1, $2, '127.0.0.1', $3)",
                    str(100 + n),
                    f"Unit {100 + n}",
                    device_id,
                )
            )
        with (
            tempfile.TemporaryDirectory(prefix="kill-trials-") as tmp,
            SimCloud(SimCloudConfig(), devices=devices) as sim,
        ):
            world = World(args, Path(tmp), sim)
            try:
                world.start()
                world.authorize()
                trials = run_trials(world, args.trials, random.Random(args.seed), 1.5 + args.verify_seconds)
                print(report(world, trials, started))
            finally:
                if world.proc is not None and world.proc.poll() is None:
                    world.proc.kill()
                    world.proc.wait()
    finally:
        asyncio.run(drop_database(args.database_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
