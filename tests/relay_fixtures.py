"""Fixtures of the relay service tests: the real service (uvicorn on a loopback port) in a thread, the
simulated eWeLink cloud, real PostgreSQL, and a clock whose waits the test can hold and release."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
import uvicorn

from pbxwatch.config import Settings
from pbxwatch.ewelink import RateLimiter
from pbxwatch.relay.app import create_app
from pbxwatch.relay.cycle_run import CyclePolicy
from pbxwatch.relay.reconciler import ReconcilerPolicy
from tests.cli_helpers import clean_env

if TYPE_CHECKING:
    from pbxwatch.sim.cloud import SimCloud
    from pbxwatch.sim.cloud_state import SimDevice

API_TOKEN = "relay-test-api-token-0123456789"
START_TIMEOUT_S = 15.0
POLL_TIMEOUT_S = 20.0
FAST_RECONCILER = ReconcilerPolicy(interval=0.05, overdue_grace=0.0, loud_every=60.0)
FAST_CYCLES = CyclePolicy(verify_poll=0.2, on_retry=0.05, on_retry_max=0.2)
# the service's eWeLink calls give up after CLOUD_TIMEOUT_S; a cycle is done after VERIFY_S of relay on
CLOUD_TIMEOUT_S = 3.0
VERIFY_S = 3.5


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class GateClock:
    """Real time; `sleep` really sleeps its seconds (so off times are real), and first waits while the
    gate is closed (so a test can hold a cycle between "off" and "on")."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(max(0.0, seconds))

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = POLL_TIMEOUT_S) -> Any:
    """Poll until `predicate()` is truthy (not a timing assertion: the timeout only bounds a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class ServerThread:
    """An ASGI app served by uvicorn on a loopback port in its own thread and event loop."""

    def __init__(self, app: Any, port: int, host: str = "127.0.0.1") -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # not the main thread
        self.thread = threading.Thread(target=self.server.run, name="relay-service", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()
        wait_for(
            lambda: self.server.started or not self.thread.is_alive(), "the relay service to start", START_TIMEOUT_S
        )
        assert self.server.started, "relay service failed to start"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class RelayEnv:
    """One test's world: the simulated cloud, the database, settings, and the running service."""

    tmp: Path
    pg_url: str
    sim: SimCloud
    port: int
    clock: GateClock = field(default_factory=GateClock)
    api_token: str | None = API_TOKEN
    off_seconds: float = 1.0  # the `monitor.off_seconds` default of the service
    server: ServerThread | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_file(self) -> Path:
        return self.tmp / "ewelink_token.json"

    @property
    def log_file(self) -> Path:
        return self.tmp / "logs" / "ewelink_service.log"

    def settings_data(self) -> dict[str, Any]:
        cfg = self.sim.config
        relay: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "cloud_timeout": CLOUD_TIMEOUT_S,
            "verify_seconds": VERIFY_S,
        }
        if self.api_token:
            relay["api_token"] = self.api_token
        return {
            "database_url": self.pg_url,
            "log_dir": str(self.tmp / "logs"),
            "run_dir": str(self.tmp / "run"),
            "ewelink": {
                "app_id": cfg.app_id,
                "app_secret": cfg.app_secret,
                "redirect_url": f"{self.url}/ewelink-callback/",
                "token_file": str(self.token_file),
                "api_url": self.sim.url,
                "oauth_url": self.sim.oauth_url,
                "region": "eu",
            },
            "relay": relay,
            "monitor": {"relay_url": self.url, "off_seconds": self.off_seconds},
        }

    def settings(self) -> Settings:
        return Settings.model_validate(self.settings_data())

    def env_vars(self) -> dict[str, str]:
        """The same configuration as PBXWATCH_* variables (for subprocesses)."""
        data = self.settings_data()
        ew = data["ewelink"]
        env = {
            "PBXWATCH_DATABASE_URL": self.pg_url,
            "PBXWATCH_LOG_DIR": data["log_dir"],
            "PBXWATCH_RUN_DIR": data["run_dir"],
            "PBXWATCH_EWELINK_APP_ID": ew["app_id"],
            "PBXWATCH_EWELINK_APP_SECRET": ew["app_secret"],
            "PBXWATCH_EWELINK_REDIRECT_URL": ew["redirect_url"],
            "PBXWATCH_EWELINK_TOKEN_FILE": ew["token_file"],
            "PBXWATCH_EWELINK_API_URL": ew["api_url"],
            "PBXWATCH_EWELINK_OAUTH_URL": ew["oauth_url"],
            "PBXWATCH_EWELINK_REGION": "eu",
            "PBXWATCH_RELAY_HOST": "127.0.0.1",
            "PBXWATCH_RELAY_PORT": str(self.port),
            "PBXWATCH_RELAY_URL": self.url,
            "PBXWATCH_OFF_SECONDS": str(self.off_seconds),
            "PBXWATCH_RELAY_CLOUD_TIMEOUT": str(CLOUD_TIMEOUT_S),
            "PBXWATCH_RELAY_VERIFY_SECONDS": str(VERIFY_S),
        }
        if self.api_token:
            env["PBXWATCH_RELAY_API_TOKEN"] = self.api_token
        return env

    def start(self, **options: Any) -> None:
        options.setdefault("clock", self.clock)
        options.setdefault("reconciler_policy", FAST_RECONCILER)
        options.setdefault("cycle_policy", FAST_CYCLES)
        options.setdefault("client_options", {"rate_limiter": RateLimiter(min_interval=0)})
        self.server = ServerThread(create_app(self.settings(), **options), self.port)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    # ---- HTTP helpers ---------------------------------------------------------------------------
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"} if self.api_token else {}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(self.url + path, headers={**self.headers(), **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(self.url + path, headers={**self.headers(), **kwargs.pop("headers", {})}, **kwargs)

    def authorize(self) -> None:
        """Log in the way an operator does (runbook §5): a code and the auth URL's state in the callback URL."""
        code = self.sim.issue_code(f"{self.url}/ewelink-callback/", region="eu")
        reply = self.http.get(
            f"{self.url}/ewelink-callback/", params={"code": code, "region": "eu", "state": self.issued_state()}
        )
        assert reply.status_code == 200, reply.text

    def issued_state(self) -> str:
        """The `state` of a fresh auth URL from the running service (GET /ewelink-auth-url)."""
        from urllib.parse import parse_qs, urlsplit

        auth_url = self.get("/ewelink-auth-url").json()["auth_url"]
        state: str = parse_qs(urlsplit(auth_url).query)["state"][0]
        return state

    def cycle_state(self, cycle_id: str) -> str:
        state: str = self.get(f"/power-cycle/{cycle_id}").json()["state"]
        return state

    # ---- database helpers -------------------------------------------------------------------------
    def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.pg_url)
            try:
                return list(await conn.fetch(query, *args))
            finally:
                await conn.close()

        return asyncio.run(run())

    def add_unit(
        self,
        number: str,
        device_id: str | None,
        *,
        outlet: int | None = None,
        cycle_mode: str = "cloud",
        last_status: str | None = None,
    ) -> None:
        self.sql(
            "INSERT INTO enterprises (number, name, host, ewelink_device_id, ewelink_outlet, cycle_mode) "
            "VALUES ($1, $2, '127.0.0.1', $3, $4, $5)",
            number,
            f"Unit {number}",
            device_id,
            outlet,
            cycle_mode,
        )
        if last_status is not None:
            self.sql(
                "INSERT INTO unit_live_status (enterprise_number, last_status) VALUES ($1, $2)", number, last_status
            )

    def audit_rows(self, action_type: str | None = None) -> list[dict[str, Any]]:
        rows = self.sql("SELECT * FROM unit_status_history ORDER BY id")
        out = []
        for row in rows:
            item = dict(row)
            if isinstance(item["extra_info"], str):
                item["extra_info"] = json.loads(item["extra_info"])
            if action_type is None or item["action_type"] == action_type:
                out.append(item)
        return out


class ServiceProcess:
    """The real `pbxwatch relay serve` process on the world of a `RelayEnv`."""

    def __init__(self, relay: RelayEnv) -> None:
        self.relay = relay
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = clean_env(self.relay.env_vars())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pbxwatch", "relay", "serve"],
            cwd=self.relay.tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "relay serve exited"
            try:
                return self.relay.http.get(self.relay.url + "/health").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, "relay serve to answer /health")

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def sim_devices() -> list[SimDevice]:
    from pbxwatch.sim.cloud_state import SimDevice

    return [
        SimDevice(id="1000aaaa01", name="Relay A"),
        SimDevice(id="1000bbbb02", name="Relay B (2 ch)", channels=2, states=[True, True]),
        SimDevice(id="1000cccc03", name="Relay C offline", online=False),
        SimDevice(id="1000dddd04", name="Relay D"),
    ]


@pytest.fixture
def sim_cloud() -> Iterator[SimCloud]:
    from pbxwatch.sim.cloud import SimCloud
    from pbxwatch.sim.cloud_state import SimCloudConfig

    with SimCloud(SimCloudConfig(), devices=sim_devices()) as sim:
        yield sim


@pytest.fixture
def relay_env(tmp_path: Path, pg_url: str, sim_cloud: SimCloud) -> Iterator[RelayEnv]:
    """The world, service not started yet (tests start it with the options they need)."""
    env = RelayEnv(tmp=tmp_path, pg_url=pg_url, sim=sim_cloud, port=free_port())
    try:
        yield env
    finally:
        env.clock.release()
        env.http.close()
        env.stop()


@pytest.fixture
def relay(relay_env: RelayEnv) -> RelayEnv:
    """The service running and authorized with eWeLink, units 101 (Relay A) and 102 (Relay B outlet 1)."""
    relay_env.add_unit("101", "1000aaaa01", last_status="online")
    relay_env.add_unit("102", "1000bbbb02", outlet=1, last_status="offline")
    relay_env.start()
    relay_env.authorize()
    return relay_env
