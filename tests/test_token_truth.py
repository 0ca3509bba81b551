"""Token truth: when the eWeLink cloud proves the tokens dead, every place that shows them says so — the
token file's status, `/health` (degraded, with the seed's message), the metric, `pbxwatch ewelink token`."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from pbxwatch.sim.cloud_state import Fault
from tests.cli_helpers import clean_env, pbxwatch
from tests.relay_fixtures import RelayEnv, wait_for

SEED_EXPIRED = "Токены истекли, нужна повторная авторизация"


def _token_usable_metric(relay: RelayEnv) -> float:
    for line in relay.get("/metrics").text.splitlines():
        if line.startswith("pbxwatch_relay_ewelink_token_usable "):
            return float(line.split()[1])
    raise AssertionError("no pbxwatch_relay_ewelink_token_usable in /metrics")


def _cli_token(relay: RelayEnv, tmp_path: Path, *args: str) -> tuple[int, str]:
    result = pbxwatch("ewelink", "token", *args, cwd=tmp_path, env=relay.env_vars())
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout


def _assert_dead_everywhere(relay: RelayEnv, tmp_path: Path, reason: str) -> None:
    stored = json.loads(relay.token_file.read_text(encoding="utf-8"))
    assert stored["status"] == "dead" and reason in stored["statusReason"]
    health = relay.http.get(relay.url + "/health").json()
    assert (health["status"], health["token"]) == ("degraded", "expired")
    assert any(SEED_EXPIRED in problem for problem in health["problems"]), health["problems"]
    assert _token_usable_metric(relay) == 0
    code, out = _cli_token(relay, tmp_path)
    assert code == 1 and "expired" in out and reason in out, out
    code, out = _cli_token(relay, tmp_path, "--json")
    assert code == 1 and json.loads(out)["state"] == "expired"


def test_a_refused_refresh_token_is_dead_everywhere(
    relay: RelayEnv, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The cloud forgets both tokens (logged in elsewhere, or 60 days passed while stopped): the access
    token gets 401, the refresh 405 "can't find the account with this rt!"."""
    assert relay.http.get(relay.url + "/health").json()["token"] == "valid"
    assert _token_usable_metric(relay) == 1
    relay.sim.state.expire_tokens(access=True, refresh=True)
    reply = relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert reply.status_code == 503 and reply.json()["error"] == "ewelink_tokens_expired"
    _assert_dead_everywhere(relay, tmp_path, "the cloud refused the refresh token (")
    assert "can't find the account with this rt!" in json.loads(relay.token_file.read_text())["statusReason"]
    assert SEED_EXPIRED in caplog.messages
    refreshes = relay.sim.state.refreshes
    again = relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert again.status_code == 503
    assert relay.sim.state.refreshes == refreshes  # a dead refresh token is not spent again
    assert relay.sim.device("1000aaaa01").states == [True]


def test_a_401_right_after_a_refresh_is_dead_everywhere(relay: RelayEnv, tmp_path: Path) -> None:
    relay.sim.inject(Fault(kind="error", path="/v2/device/thing", count=2, code=401, msg="token revoked"))
    reply = relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert reply.status_code == 503, reply.text
    assert relay.sim.state.refreshes == 1
    _assert_dead_everywhere(relay, tmp_path, "rejected the access token right after a refresh")


def test_a_new_login_brings_the_tokens_back(relay: RelayEnv, tmp_path: Path) -> None:
    relay.sim.state.expire_tokens(access=True, refresh=True)
    assert relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False}).status_code == 503
    relay.authorize()
    assert "status" not in json.loads(relay.token_file.read_text())  # the seed's format again
    health = relay.http.get(relay.url + "/health").json()
    assert health["token"] == "valid"
    assert _token_usable_metric(relay) == 1
    assert _cli_token(relay, tmp_path)[0] == 0
    assert relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False}).status_code == 200


@pytest.mark.parametrize("extra", [{}, {"status": "ok"}, {"status": "whatever"}])
def test_a_token_file_not_marked_dead_is_valid(relay_env: RelayEnv, tmp_path: Path, extra: dict[str, str]) -> None:
    relay_env.start()
    relay_env.authorize()
    data = json.loads(relay_env.token_file.read_text())
    assert "status" not in data  # the seed's format
    relay_env.token_file.write_text(json.dumps({**data, **extra}))
    assert _cli_token(relay_env, tmp_path)[0] == 0
    assert relay_env.http.get(relay_env.url + "/health").json()["token"] == "valid"


def _serve(relay: RelayEnv) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pbxwatch", "relay", "serve"],
        cwd=relay.tmp,
        env=clean_env(relay.env_vars()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers() -> bool:
        assert proc.poll() is None, "relay serve exited"
        with contextlib.suppress(httpx.HTTPError):
            return relay.http.get(relay.url + "/health").status_code == 200
        return False

    wait_for(answers, "relay serve to answer /health")
    return proc


def test_a_relay_killed_in_the_middle_of_a_refresh_does_not_show_the_lost_tokens_as_valid(
    relay_env: RelayEnv, tmp_path: Path
) -> None:
    """SIGKILL while the cloud is answering a refresh: the cloud rotated the pair, the new one died with
    the process. The file still holds the old pair, intact; the first use proves it dead and says so."""
    relay_env.add_unit("101", "1000aaaa01", last_status="online")
    proc = _serve(relay_env)
    try:
        relay_env.authorize()
        before = relay_env.token_file.read_text(encoding="utf-8")
        relay_env.sim.state.expire_tokens(access=True)  # the next call gets 401 and refreshes
        relay_env.sim.inject(Fault(kind="slow", path="/v2/user/refresh", delay=1.5))
        caller = threading.Thread(target=_post_quietly, args=(relay_env,), daemon=True)
        caller.start()
        wait_for(lambda: relay_env.sim.requests("/v2/user/refresh"), "the refresh to reach the cloud")
        proc.kill()
        proc.wait(30)
        wait_for(lambda: relay_env.sim.state.refreshes == 1, "the cloud to rotate the pair")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert relay_env.token_file.read_text(encoding="utf-8") == before  # never half-written
    proc = _serve(relay_env)
    try:
        reply = relay_env.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
        assert reply.status_code == 503 and reply.json()["error"] == "ewelink_tokens_expired", reply.text
        _assert_dead_everywhere(relay_env, tmp_path, "the cloud refused the refresh token")
    finally:
        proc.kill()
        proc.wait(30)


def _post_quietly(relay: RelayEnv) -> None:
    with contextlib.suppress(httpx.HTTPError):
        relay.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
