"""Known field failures, each with its own message in the log, the relay's /health and `pbxwatch ewelink
token`: the free APPID expired after its year (406/407), "logged in from another place", region mismatch."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from pbxwatch.ewelink import CredentialsError, DeviceNotFoundError, TokensExpiredError, TokensRevokedError
from pbxwatch.sim.cloud import Fault, SimCloud
from tests.cli_helpers import pbxwatch
from tests.cloud_fixtures import REDIRECT_URL, FakeClock, authorize, make_client
from tests.relay_fixtures import RelayEnv

APPID_WORDS = "free developer APPID expires one year"
ELSEWHERE_WORDS = "logged in from another place"


def _cli_env(cloud: SimCloud, tmp_path: Path, region: str = "eu") -> dict[str, str]:
    return {
        "PBXWATCH_EWELINK_APP_ID": cloud.config.app_id,
        "PBXWATCH_EWELINK_APP_SECRET": cloud.config.app_secret,
        "PBXWATCH_EWELINK_REDIRECT_URL": REDIRECT_URL,
        "PBXWATCH_EWELINK_API_URL": cloud.url,
        "PBXWATCH_LOG_DIR": str(tmp_path / "logs"),
        "PBXWATCH_EWELINK_REGION": region,
        "PBXWATCH_EWELINK_TOKEN_FILE": str(tmp_path / "tok.json"),
    }


async def test_an_expired_free_appid_is_explained_until_a_call_succeeds(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    cloud.inject(
        Fault(
            kind="error",
            path="/v2/device/thing",
            code=407,
            msg=f"the path of request is not allowed with appid:{cloud.config.app_id}",
        )
    )
    with pytest.raises(CredentialsError):
        await client.list_devices()
    assert any(APPID_WORDS in m for m in caplog.messages)
    failure = client.field_failure()
    assert failure is not None and failure.kind == "appid_rejected"
    shown = pbxwatch("ewelink", "token", cwd=tmp_path, env=_cli_env(cloud, tmp_path))
    assert shown.returncode == 1 and APPID_WORDS in shown.stdout and "(error 407)" in shown.stdout
    await client.list_devices()  # the fault is used up: the cloud answers again
    assert client.field_failure() is None
    assert pbxwatch("ewelink", "token", cwd=tmp_path, env=_cli_env(cloud, tmp_path)).returncode == 0


async def test_tokens_revoked_by_a_login_elsewhere_are_told_apart_from_expiry(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    assert (await http.post(f"{cloud.url}/_sim/tokens/logout")).status_code == 200
    with pytest.raises(TokensRevokedError) as caught:
        await client.list_devices()
    assert isinstance(caught.value, TokensExpiredError)  # callers that only know "expired" still work
    assert ELSEWHERE_WORDS in str(caught.value) and any(ELSEWHERE_WORDS in m for m in caplog.messages)
    as_json = pbxwatch("ewelink", "token", "--json", cwd=tmp_path, env=_cli_env(cloud, tmp_path))
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["field_failure"] == "logged_in_elsewhere"
    await authorize(client, http)  # a new authorization clears it
    assert client.field_failure() is None


async def test_a_region_mismatch_is_named(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)  # the simulated account lives in eu
    shown = pbxwatch("ewelink", "token", cwd=tmp_path, env=_cli_env(cloud, tmp_path, region="us"))
    assert shown.returncode == 0
    assert "region mismatch" in shown.stdout and "tokens are for region eu but ewelink.region is us" in shown.stdout
    us_client = make_client(cloud, tmp_path / "tok.json", http, clock=clock, region="us")
    assert us_client.field_failure() is None  # it works on the tokens' region: not a failure by itself
    with pytest.raises(DeviceNotFoundError):
        await us_client.get_device("1000elsewhr")  # ... until a relay is not visible
    failure = us_client.field_failure()
    assert failure is not None and failure.kind == "region_mismatch"
    assert any("region mismatch" in m and "ewelink.region is us" in m for m in caplog.messages)
    cloud.inject(Fault(kind="error", path="/v2/family", code=10004, msg="redirection"))
    with pytest.raises(Exception, match="10004"):
        await client.list_devices()
    assert any("region mismatch" in m and "10004" in m for m in caplog.messages)


def test_health_explains_an_expired_appid(relay: RelayEnv) -> None:
    assert relay.http.get(relay.url + "/health").json()["status"] == "ok"
    relay.sim.inject(Fault(kind="error", path="/v2/device/thing", code=406, msg="Authentication failed", count=5))
    assert relay.get("/devices/1000aaaa01", params={"fresh": "true"}).status_code >= 400
    health = relay.http.get(relay.url + "/health").json()
    assert health["status"] == "degraded"
    assert any(APPID_WORDS in p and "(error 406)" in p for p in health["problems"])
