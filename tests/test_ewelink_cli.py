"""`pbxwatch ewelink auth-url|login|token` in a subprocess against the simulated cloud."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pbxwatch.sim.cloud import SimCloud, SimCloudConfig, SimDevice
from tests.cli_helpers import pbxwatch

REDIRECT_URL = "http://127.0.0.1:8010/ewelink-callback/"


@pytest.fixture
def threaded_cloud() -> Iterator[SimCloud]:
    with SimCloud(SimCloudConfig(), devices=[SimDevice("1000000001", "relay")]) as cloud:
        yield cloud


def _env(cloud: SimCloud, tmp_path: Path) -> dict[str, str]:
    return {
        "PBXWATCH_EWELINK_APP_ID": cloud.config.app_id,
        "PBXWATCH_EWELINK_APP_SECRET": cloud.config.app_secret,
        "PBXWATCH_EWELINK_REDIRECT_URL": REDIRECT_URL,
        "PBXWATCH_EWELINK_API_URL": cloud.url,
        "PBXWATCH_EWELINK_OAUTH_URL": cloud.oauth_url,
        "PBXWATCH_LOG_DIR": str(tmp_path / "logs"),
        "PBXWATCH_EWELINK_TOKEN_FILE": str(tmp_path / "ewelink_token.json"),
    }


def test_auth_url_login_and_token_status(threaded_cloud: SimCloud, tmp_path: Path) -> None:
    env = _env(threaded_cloud, tmp_path)
    missing = pbxwatch("ewelink", "token", cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert "missing (no token file" in missing.stdout

    url = pbxwatch("ewelink", "auth-url", cwd=tmp_path, env=env)
    assert url.returncode == 0, url.stderr
    assert url.stdout.count("\n") == 1 and url.stdout.startswith(threaded_cloud.oauth_url)
    params = httpx.URL(httpx.get(url.stdout.strip()).headers["location"]).params

    login = pbxwatch(
        "ewelink",
        "login",
        params["code"],
        "--region",
        params["region"],
        "--state",
        params["state"],
        cwd=tmp_path,
        env=env,
    )
    assert login.returncode == 0, login.stderr
    assert "tokens saved to" in login.stdout and "valid (refresh token expires in 60 days" in login.stdout
    saved = json.loads((tmp_path / "ewelink_token.json").read_text())

    status = pbxwatch("ewelink", "token", "--json", cwd=tmp_path, env=env)
    assert status.returncode == 0
    shown = json.loads(status.stdout)
    assert shown["state"] == "valid" and shown["region"] == "eu" and round(shown["days_left"]) == 60
    for out in (login.stdout + login.stderr, status.stdout, url.stdout):
        assert saved["accessToken"] not in out and saved["refreshToken"] not in out
        assert threaded_cloud.config.app_secret not in out


def test_login_failures_are_one_line(threaded_cloud: SimCloud, tmp_path: Path) -> None:
    env = _env(threaded_cloud, tmp_path)
    stale = pbxwatch("ewelink", "login", "0f0f0f0f-dead-beef-0000-000000000000", cwd=tmp_path, env=env)
    assert stale.returncode == 1
    assert stale.stderr.count("\n") == 1 and "invalid code" in stale.stderr and "auth-url" in stale.stderr
    region = pbxwatch("ewelink", "login", "abc", "--region", "fr", cwd=tmp_path, env=env)
    assert region.returncode == 1 and "unknown eWeLink region 'fr'" in region.stderr
    forged = pbxwatch("ewelink", "login", threaded_cloud.issue_code(), "--state", "forged", cwd=tmp_path, env=env)
    assert forged.returncode == 1 and "unknown or expired OAuth state" in forged.stderr
    (tmp_path / "ewelink_token.json").write_text("{not json")
    corrupt = pbxwatch("ewelink", "token", cwd=tmp_path, env=env)
    assert corrupt.returncode == 1 and "corrupt or half-written" in corrupt.stdout
    for result in (stale, region, forged, corrupt):
        assert "Traceback" not in result.stderr


def test_settings_missing_and_no_secret_in_help(tmp_path: Path) -> None:
    env = {"PBXWATCH_LOG_DIR": str(tmp_path / "logs"), "PBXWATCH_EWELINK_APP_SECRET": "s3cr3t-value-123"}
    result = pbxwatch("ewelink", "auth-url", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "ewelink.app_id is required" in result.stderr
    for command in (["ewelink", "login", "--help"], ["ewelink", "auth-url", "--help"], ["sim", "cloud", "--help"]):
        shown = pbxwatch(*command, cwd=tmp_path, env=env)
        assert shown.returncode == 0
        assert "s3cr3t-value-123" not in shown.stdout and "simappsecret0001" not in shown.stdout
