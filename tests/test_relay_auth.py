"""The seed's OAuth endpoints and the token file picked up without a restart (docs/design.md §1, §6, §7)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.cli_helpers import clean_env
from tests.relay_fixtures import RelayEnv


def test_auth_url_then_the_callback_flow_through_the_authorization_page(relay_env: RelayEnv) -> None:
    relay_env.add_unit("101", "1000aaaa01")
    relay_env.start()
    reply = relay_env.get("/ewelink-auth-url")
    assert reply.status_code == 200
    auth_url = reply.json()["auth_url"]
    assert auth_url.startswith(relay_env.sim.oauth_url + "?")
    page = relay_env.http.get(auth_url)  # the simulated authorization page approves and redirects
    assert page.status_code == 302
    callback = page.headers["location"]
    assert callback.startswith(f"{relay_env.url}/ewelink-callback/?")
    assert parse_qs(urlsplit(callback).query)["state"]
    answer = relay_env.http.get(callback)
    assert answer.status_code == 200
    assert "text/html" in answer.headers["content-type"]
    assert "succeeded" in answer.text
    assert stat.S_IMODE(os.stat(relay_env.token_file).st_mode) == 0o600
    assert relay_env.http.get(relay_env.url + "/health").json()["token"] == "valid"
    assert relay_env.post("/toggle", json={"device_id": "1000aaaa01", "state": False}).status_code == 200


def test_a_forged_or_reused_state_is_400(relay_env: RelayEnv) -> None:
    relay_env.start()
    code = relay_env.sim.issue_code(f"{relay_env.url}/ewelink-callback/")
    forged = relay_env.http.get(
        f"{relay_env.url}/ewelink-callback/", params={"code": code, "region": "eu", "state": "forged-state"}
    )
    assert forged.status_code == 400
    assert not relay_env.token_file.exists()
    # a real state works once, with or without the trailing slash
    auth_url = relay_env.get("/ewelink-auth-url").json()["auth_url"]
    state = parse_qs(urlsplit(auth_url).query)["state"][0]
    ok = relay_env.http.get(f"{relay_env.url}/ewelink-callback", params={"code": code, "region": "eu", "state": state})
    assert ok.status_code == 200, ok.text
    code2 = relay_env.sim.issue_code(f"{relay_env.url}/ewelink-callback/")
    reused = relay_env.http.get(
        f"{relay_env.url}/ewelink-callback/", params={"code": code2, "region": "eu", "state": state}
    )
    assert reused.status_code == 400


def test_an_expired_or_used_code_says_so(relay_env: RelayEnv) -> None:
    relay_env.start()
    relay_env.authorize()
    used = relay_env.http.get(
        f"{relay_env.url}/ewelink-callback/",
        params={"code": "no-such-code", "region": "eu", "state": relay_env.issued_state()},
    )
    assert used.status_code == 400
    assert "failed" in used.text
    missing = relay_env.http.get(f"{relay_env.url}/ewelink-callback/", params={"region": "eu"})
    assert missing.status_code == 422
    assert missing.json()["error"] == "invalid_request" and "code" in missing.json()["message"]


def test_the_seed_one_liner_logs_in_while_the_service_runs(relay_env: RelayEnv, tmp_path: Path) -> None:
    relay_env.add_unit("101", "1000aaaa01")
    relay_env.start()
    assert relay_env.post("/toggle", json={"device_id": "1000aaaa01", "state": False}).status_code == 503
    code = relay_env.sim.issue_code(f"{relay_env.url}/ewelink-callback/", region="eu")
    elsewhere = tmp_path / "operator-home"
    elsewhere.mkdir()
    env = clean_env(relay_env.env_vars())
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    one_liner = (
        f"from ewelink_devices import EWeLinkDevices; EWeLinkDevices().exchange_oauth_code('{code}', region='eu')"
    )
    done = subprocess.run(
        ["python3", "-c", one_liner], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    reply = relay_env.post("/toggle", json={"device_id": "1000aaaa01", "state": False})
    assert reply.status_code == 200, reply.text
    assert relay_env.sim.device("1000aaaa01").states == [False]
