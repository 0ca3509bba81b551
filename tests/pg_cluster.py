"""A private PostgreSQL cluster for tests that stop and restart the database (docs/design.md §11).

Never the shared server: `initdb` in a temporary directory owned by `postgres`, on a free loopback
port, torn down at the end. As root, the binaries run as the `postgres` user (`runuser`).

    def test_x(pg_cluster: PgCluster) -> None:
        pg_cluster.url            # postgresql://postgres@127.0.0.1:<port>/pbxwatch (schema upgraded)
        pg_cluster.stop(); pg_cluster.start()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbxwatch.db.migrate import upgrade_url

DB_NAME = "pbxwatch"
PG_USER = "postgres"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PgCluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.port = _free_port()
        self.log = base / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    def _run(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", PG_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            PG_USER,
            "-d",
            "postgres",
            "-c",
            f'CREATE DATABASE "{DB_NAME}"',
        )
        asyncio.run(upgrade_url(self.url))

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    base = Path(tempfile.mkdtemp(prefix="pbxwatch-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(PG_USER)
        os.chown(base, user.pw_uid, user.pw_gid)
    cluster = PgCluster(base)
    try:
        cluster.init()
        yield cluster
    finally:
        if cluster.running():
            with contextlib.suppress(RuntimeError):
                cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
