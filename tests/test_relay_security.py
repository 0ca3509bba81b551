"""The relay service refuses what it did not ask for: OAuth callbacks without a state it issued, weak API
tokens, off-loopback listening without a token (whatever starts it), oversized bodies and over-deep JSON."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pbxwatch.config import Settings
from pbxwatch.relay.app import create_app
from pbxwatch.relay.guards import MAX_BODY_BYTES
from tests.cli_helpers import clean_env, pbxwatch
from tests.relay_fixtures import RelayEnv, free_port

REPO = Path(__file__).resolve().parents[1]
CALLBACK = "/ewelink-callback/"


def _callback(env: RelayEnv, **params: str) -> httpx.Response:
    code = env.sim.issue_code(f"{env.url}{CALLBACK}", region="eu")
    return env.http.get(env.url + CALLBACK, params={"code": code, "region": "eu", **params})


def _log(env: RelayEnv) -> str:
    return env.log_file.read_text(encoding="utf-8") if env.log_file.exists() else ""


def _wait_for_log(env: RelayEnv, text: str) -> str:
    deadline = time.monotonic() + 10
    while text not in _log(env) and time.monotonic() < deadline:
        time.sleep(0.02)
    return _log(env)


@pytest.fixture
def served(relay_env: RelayEnv) -> RelayEnv:
    """The service running (its log to the test's log file), not yet authorized."""
    from pbxwatch.logs import setup_logging

    setup_logging(relay_env.settings(), "relay", owner=False, stderr=False)
    relay_env.start()
    return relay_env


# ---- the OAuth callback's state ----------------------------------------------------------------------


def test_a_callback_without_state_is_400_writes_nothing_and_is_logged(served: RelayEnv) -> None:
    reply = _callback(served)
    assert reply.status_code == 400
    assert "state" in reply.text and "refused" in reply.text
    assert not served.token_file.exists()
    assert "eWeLink callback refused (from 127.0.0.1): no state" in _wait_for_log(served, "callback refused")
    assert served.http.get(served.url + "/health").json()["token"] == "missing"


@pytest.mark.parametrize("how", ["forged", "reused", "expired"])
def test_a_forged_reused_or_expired_state_is_400_and_writes_nothing(served: RelayEnv, how: str) -> None:
    state = served.issued_state()
    if how == "forged":
        state = state[:-4] + "AAAA"
    elif how == "reused":
        assert _callback(served, state=state).status_code == 200
        served.token_file.unlink()
    else:  # issued 15 minutes and a second ago: the states file holds its expiry, now past
        states_file = served.token_file.with_name(served.token_file.name + ".states")
        states_file.write_text(json.dumps({state: int((time.time() - 1) * 1000)}), encoding="utf-8")
    reply = _callback(served, state=state)
    assert reply.status_code == 400, reply.text
    assert not served.token_file.exists()
    assert "unknown or expired OAuth state" in _wait_for_log(served, "callback refused")


def test_a_state_this_service_issued_logs_in_once(served: RelayEnv) -> None:
    reply = _callback(served, state=served.issued_state())
    assert reply.status_code == 200, reply.text
    assert served.http.get(served.url + "/health").json()["token"] == "valid"


# ---- API tokens and the bind check on every way of starting --------------------------------------------


@pytest.mark.parametrize("token", ["x", "   ", "                        ", "short-token-123", " a b c d e f g h "])
def test_a_weak_api_token_is_one_config_error_line(tmp_path: Path, token: str) -> None:
    result = pbxwatch("relay", "serve", cwd=tmp_path, env={"PBXWATCH_RELAY_API_TOKEN": token})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "relay.api_token" in lines[0] and "at least 16 non-blank characters" in lines[0]
    assert "Traceback" not in result.stderr
    if len(token.strip()) > 4:
        assert token.strip() not in result.stderr  # never echoed


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port held on 127.0.0.1: should a bind check ever let 0.0.0.0 through, binding it fails here
    (Linux refuses a wildcard bind over a listening socket) instead of exposing a test server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_relay_serve_refuses_a_non_loopback_address_without_a_token(tmp_path: Path, busy_port: int) -> None:
    result = pbxwatch("relay", "serve", "--host", "0.0.0.0", "--port", str(busy_port), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: refusing to listen on 0.0.0.0 without an API token: set PBXWATCH_RELAY_API_TOKEN "
        "(relay.api_token) or bind to 127.0.0.1"
    ]


def test_uvicorn_factory_runs_the_same_bind_check(tmp_path: Path, busy_port: int) -> None:
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "pbxwatch.relay.app:from_environment",
        "--host",
        "0.0.0.0",
        "--port",
        str(busy_port),
    ]  # refused before binding (and the port is busy)
    result = subprocess.run(
        args, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "error: refusing to listen on 0.0.0.0 without an API token" in result.stderr
    assert "Traceback" not in result.stderr


def test_uvicorn_factory_with_a_weak_token_is_a_config_error(tmp_path: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "pbxwatch.relay.app:from_environment",
        "--port",
        str(free_port()),
    ]
    env = clean_env({"PBXWATCH_RELAY_API_TOKEN": "tiny"})
    result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "config error: relay.api_token" in result.stderr and "Traceback" not in result.stderr


def test_the_systemd_unit_starts_the_service_through_the_checked_cli() -> None:
    unit = (REPO / "deploy" / "pbxwatch-relay.service").read_text(encoding="utf-8")
    starts = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert starts == ["ExecStart=/opt/pbxwatch/.venv/bin/pbxwatch relay serve"]


async def test_a_server_bound_off_loopback_some_other_way_answers_nothing_without_a_token(tmp_path: Path) -> None:
    """The last line of defence, in the app itself: requests arriving on a non-loopback local address are
    refused (in-process ASGI: the addresses are the request's, no socket is opened)."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", run_dir=tmp_path, log_dir=tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as http:
        exposed = await http.get("http://192.0.2.10:8010/no-such-page")
        local = await http.get("http://127.0.0.1:8010/no-such-page")
    assert exposed.status_code == 403 and exposed.json()["error"] == "bind_refused"
    assert local.status_code == 404 and local.json()["error"] == "not_found"


# ---- bodies: size and depth ------------------------------------------------------------------------


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("path", ["/toggle", "/power-cycle"])
def test_json_nested_2000_deep_is_400_in_the_service_error_shape(relay: RelayEnv, path: str) -> None:
    body = '{"device_id": "1000aaaa01", "x": ' + _deep(2000) + "}"
    reply = relay.post(path, content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text
    assert reply.json() == {
        "error": "invalid_request",
        "message": "body: JSON nested deeper than 32 levels",
        "cloud_code": None,
    }
    assert relay.sim.device("1000aaaa01").states == [True]  # nothing switched


@pytest.mark.parametrize("path", ["/toggle", "/power-cycle"])
@pytest.mark.parametrize("body", ['{"device_id": ', "\xff\xfe", '{"device_id": "1000aaaa01",}', "[1, 2"])
def test_malformed_json_is_4xx_in_the_service_error_shape(relay: RelayEnv, path: str, body: str) -> None:
    reply = relay.post(path, content=body.encode("latin-1"), headers={"Content-Type": "application/json"})
    assert 400 <= reply.status_code < 500, reply.text
    assert set(reply.json()) == {"error", "message", "cloud_code"}
    assert relay.sim.device("1000aaaa01").states == [True]


def test_a_body_over_the_limit_is_413(relay: RelayEnv) -> None:
    padding = "x" * (MAX_BODY_BYTES + 1)
    reply = relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False, "pad": padding})
    assert reply.status_code == 413
    assert reply.json()["error"] == "payload_too_large"
    assert relay.sim.device("1000aaaa01").states == [True]


def _raw_request(port: int, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.encode())
    return sock


def _status_line(sock: socket.socket) -> str:
    data = b""
    while b"\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def test_a_200_mb_body_is_refused_by_its_length_before_it_is_sent(relay: RelayEnv) -> None:
    head = (
        f"POST /toggle HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {relay.api_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n"
    )
    with _raw_request(relay.port, head) as sock:
        assert _status_line(sock) == "HTTP/1.1 413 Request Entity Too Large"  # not one body byte sent


def test_a_200_mb_chunked_body_is_cut_off_after_the_limit(relay: RelayEnv) -> None:
    head = (
        f"POST /toggle HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {relay.api_token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
    sent = 0
    with _raw_request(relay.port, head) as sock:
        sock.settimeout(5)
        try:
            while sent < 200 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server stopped reading: what matters is how much it took
        status = _status_line(sock) if sent < 200 * 1024 * 1024 else ""
    assert sent < 32 * 1024 * 1024, f"the server kept reading: {sent} bytes"
    assert status in ("HTTP/1.1 413 Request Entity Too Large", "")
