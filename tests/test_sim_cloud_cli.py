"""`pbxwatch sim cloud` standalone: a devices file, the client against it, the power hook to a fleet URL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from pbxwatch.ewelink import EWeLinkClient, RateLimiter
from tests.cli_helpers import clean_env


class _PowerRecorder(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((self.path, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fleet_power() -> Iterator[tuple[str, list[tuple[str, object]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PowerRecorder)
    _PowerRecorder.calls = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _PowerRecorder.calls
    server.shutdown()
    server.server_close()


async def test_standalone_cloud_drives_the_fleet_power_hook(
    fleet_power: tuple[str, list[tuple[str, object]]], tmp_path: Path
) -> None:
    power_url, calls = fleet_power
    devices = tmp_path / "devices.json"
    devices.write_text(
        json.dumps(
            [
                {"id": "1000000001", "name": "pbx-1 relay", "host": "pbx-1"},
                {"id": "1000000002", "channels": 2, "hosts": {"1": "pbx-2"}},
            ]
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pbxwatch", "sim", "cloud", "--devices", str(devices), "--power-url", power_url],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        url = first[0]
        assert url.startswith("http://127.0.0.1:") and "devices=2" in first
        async with httpx.AsyncClient() as http:
            code = (await http.post(f"{url}/_sim/code", json={})).json()["code"]
            client = EWeLinkClient(
                app_id="simappid0001",
                app_secret="simappsecret0001",
                redirect_url="x",
                token_file=tmp_path / "tok.json",
                http=http,
                api_url=url,
                rate_limiter=RateLimiter(min_interval=0),
            )
            await client.exchange_code(code)
            assert {d.id for d in await client.list_devices()} == {"1000000001", "1000000002"}
            await client.set_switch("1000000001", False)
            await client.set_switch("1000000002", False, outlet=1)
            await client.set_switch("1000000002", False, outlet=0)  # outlet 0 feeds no host
            await client.set_switch("1000000001", True)
        assert calls == [
            ("/hosts/pbx-1/power", {"on": False}),
            ("/hosts/pbx-2/power", {"on": False}),
            ("/hosts/pbx-1/power", {"on": True}),
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err


def test_bad_devices_file_and_non_loopback_host_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "devices.json"
    bad.write_text('{"devices": 5}')
    for args in (["--devices", str(bad)], ["--host", "0.0.0.0"], ["--devices", str(tmp_path / "none.json")]):
        result = subprocess.run(
            [sys.executable, "-m", "pbxwatch", "sim", "cloud", *args],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert result.stderr.startswith("error: sim cloud:") and result.stderr.count("\n") == 1
