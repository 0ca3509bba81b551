"""The simulated eWeLink cloud speaks the documented protocol, checked with raw HTTP (not the client)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import httpx

from pbxwatch.sim.cloud import SimCloud
from tests.cloud_fixtures import MULTI_ID, SINGLE_ID, FakeClock


def _sig(secret: str, data: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()


def _signed_headers(cloud: SimCloud, body: bytes) -> dict[str, str]:
    return {
        "X-CK-Appid": cloud.config.app_id,
        "Authorization": f"Sign {_sig(cloud.config.app_secret, body)}",
        "Content-Type": "application/json",
    }


async def _token(cloud: SimCloud, http: httpx.AsyncClient) -> str:
    code = cloud.issue_code()
    body = json.dumps({"code": code, "redirectUrl": "", "grantType": "authorization_code"}).encode()
    reply = (
        await http.post(f"{cloud.url}/v2/user/oauth/token", content=body, headers=_signed_headers(cloud, body))
    ).json()
    assert reply["error"] == 0, reply
    token: str = reply["data"]["accessToken"]
    return token


async def test_signed_endpoints_check_raw_bytes_and_appid(cloud: SimCloud, http: httpx.AsyncClient) -> None:
    body = b'{"rt":"nope"}'
    url = f"{cloud.url}/v2/user/refresh"
    no_appid = {k: v for k, v in _signed_headers(cloud, body).items() if k != "X-CK-Appid"}
    assert (await http.post(url, content=body, headers=no_appid)).json()["error"] == 406
    spaced = b'{"rt": "nope"}'  # signed one serialization, sent another
    mismatch = await http.post(url, content=body, headers=_signed_headers(cloud, spaced))
    assert mismatch.status_code == 200 and mismatch.json()["error"] == 406
    right = await http.post(url, content=body, headers=_signed_headers(cloud, body))
    assert right.json() == {"error": 405, "msg": "can't find the account with this rt!", "data": {}}


async def test_codes_live_30_seconds_and_work_once(cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock) -> None:
    def body(code: str) -> bytes:
        return json.dumps({"code": code, "redirectUrl": "", "grantType": "authorization_code"}).encode()

    url = f"{cloud.url}/v2/user/oauth/token"
    old = cloud.issue_code()
    clock.advance(30.5)
    assert (await http.post(url, content=body(old), headers=_signed_headers(cloud, body(old)))).json() == {
        "error": 405,
        "msg": "invalid code",
        "data": {},
    }
    fresh = cloud.issue_code()
    first = (await http.post(url, content=body(fresh), headers=_signed_headers(cloud, body(fresh)))).json()
    assert set(first["data"]) == {"accessToken", "atExpiredTime", "refreshToken", "rtExpiredTime"}
    assert first["data"]["atExpiredTime"] == int((clock() + 30 * 86400) * 1000)
    again = (await http.post(url, content=body(fresh), headers=_signed_headers(cloud, body(fresh)))).json()
    assert again["error"] == 405


async def test_bearer_401_unknown_402_expired(cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock) -> None:
    url = f"{cloud.url}/v2/family"
    assert (await http.get(url)).json()["error"] == 401
    assert (await http.get(url, headers={"Authorization": "Bearer made-up"})).json()["error"] == 401
    token = await _token(cloud, http)
    assert (await http.get(url, headers={"Authorization": f"Bearer {token}"})).json()["error"] == 0
    clock.advance(30 * 86400)
    assert (await http.get(url, headers={"Authorization": f"Bearer {token}"})).json() == {
        "error": 402,
        "msg": "access token expired",
        "data": {},
    }


async def test_paging_and_groups(cloud: SimCloud, http: httpx.AsyncClient) -> None:
    cloud.state.groups["home-1"] = 1
    auth = {"Authorization": f"Bearer {await _token(cloud, http)}"}
    url = f"{cloud.url}/v2/device/thing"
    first = (await http.get(url, params={"num": 2}, headers=auth)).json()["data"]
    assert first["total"] == 4
    assert [t["itemData"]["deviceid"] for t in first["thingList"]] == [SINGLE_ID, MULTI_ID]
    rest = (await http.get(url, params={"num": 2, "beginIndex": first["thingList"][-1]["index"]}, headers=auth)).json()[
        "data"
    ]["thingList"]
    assert [t["itemType"] for t in rest] == [1, 3]
    assert "deviceid" not in rest[1]["itemData"]
    everything = (await http.get(url, params={"num": 0}, headers=auth)).json()["data"]["thingList"]
    assert len(everything) == 4
    bad = (await http.get(url, params={"num": "x"}, headers=auth)).json()
    assert bad["error"] == 400


async def test_switching_rules_offline_partial_arrays_and_hook(cloud: SimCloud, http: httpx.AsyncClient) -> None:
    seen: list[tuple[str, int | None, bool]] = []

    async def hook(device: str, outlet: int | None, on: bool) -> None:
        seen.append((device, outlet, on))

    cloud.app.on_switch = hook
    auth = {"Authorization": f"Bearer {await _token(cloud, http)}"}
    url = f"{cloud.url}/v2/device/thing/status"

    async def post(body: dict[str, object]) -> dict[str, object]:
        reply: dict[str, object] = (await http.post(url, json=body, headers=auth)).json()
        return reply

    partial = {"type": 1, "id": MULTI_ID, "params": {"switches": [{"switch": "off", "outlet": 0}]}}
    assert (await post(partial))["error"] == 4002
    cloud.config.require_full_switches = False
    assert (await post(partial))["error"] == 0
    assert cloud.device(MULTI_ID).states == [False, False, True, True]
    assert (await post({"type": 1, "id": MULTI_ID, "params": {"switch": "on"}}))["error"] == 4002
    assert (await post({"type": 1, "id": "1099999999", "params": {"switch": "on"}}))["error"] == 30018
    assert (await post({"type": 1, "id": SINGLE_ID, "params": {"bogus": 1}}))["error"] == 400
    assert (await post({"type": 1, "id": SINGLE_ID, "params": {"switch": "on"}}))["error"] == 0  # no change
    assert (await post({"type": 1, "id": SINGLE_ID, "params": {"switch": "off"}}))["error"] == 0
    cloud.set_online(SINGLE_ID, False)
    assert (await post({"type": 1, "id": SINGLE_ID, "params": {"switch": "on"}}))["error"] == 4002
    assert seen == [(MULTI_ID, 0, False), (SINGLE_ID, None, False)]
    state = (await http.get(url, params={"type": 1, "id": MULTI_ID, "params": "switches"}, headers=auth)).json()
    assert list(state["data"]["params"]) == ["switches"]


async def test_authorization_page_checks_its_signature(cloud: SimCloud, http: httpx.AsyncClient) -> None:
    query = {
        "clientId": cloud.config.app_id,
        "seq": "1700000000000",
        "redirectUrl": "http://127.0.0.1:9/cb",
        "grantType": "authorization_code",
        "state": "s1",
        "nonce": "abcDEF12",
    }
    forged = await http.get(cloud.oauth_url, params={**query, "authorization": "AAAA"})
    assert forged.status_code == 400 and "signature" in forged.text
    missing = await http.get(cloud.oauth_url, params=query)
    assert missing.status_code == 400 and "authorization" in missing.text
    query["authorization"] = _sig(cloud.config.app_secret, f"{cloud.config.app_id}_1700000000000".encode())
    cloud.config.auto_approve = False
    form = await http.get(cloud.oauth_url, params=query)
    assert form.status_code == 200 and "<button>Authorize</button>" in form.text
    approved = await http.get(cloud.oauth_url, params={**query, "approve": "1"})
    assert approved.status_code == 302
    back = httpx.URL(approved.headers["location"])
    assert back.path == "/cb" and back.params["state"] == "s1" and back.params["region"] == "eu"


async def test_faults_quota_and_rate_limits(cloud: SimCloud, http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {await _token(cloud, http)}"}
    url = f"{cloud.url}/v2/family"
    control = f"{cloud.url}/_sim/faults"
    assert (await http.post(control, json={"kind": "meteor"})).status_code == 400
    await http.post(control, json={"kind": "html_503", "count": 2})
    for _ in range(2):
        reply = await http.get(url, headers=auth)
        assert reply.status_code == 503 and "Service Temporarily Unavailable" in reply.text
    assert (await http.get(url, headers=auth)).status_code == 200
    await http.post(f"{cloud.url}/_sim/config", json={"quota": cloud.state.api_calls})
    assert (await http.get(url, headers=auth)).json()["error"] == 412
    await http.post(f"{cloud.url}/_sim/config", json={"quota_style": "http403"})
    assert (await http.get(url, headers=auth)).status_code == 403
    bad = await http.post(f"{cloud.url}/_sim/config", json={"app_secret": "x"})
    assert bad.status_code == 400 and "unknown setting" in bad.text
    await http.post(f"{cloud.url}/_sim/config", json={"quota": None, "window_max_calls": 1, "window": 60})
    assert (await http.get(url, headers=auth)).status_code == 429


async def test_control_surface(cloud: SimCloud, http: httpx.AsyncClient) -> None:
    added = await http.post(f"{cloud.url}/_sim/devices", json=[{"id": "3000000001", "channels": 2, "host": "pbx-9"}])
    assert added.status_code == 201
    assert added.json()[0]["hosts"] == {"0": "pbx-9", "1": "pbx-9"}
    assert (await http.post(f"{cloud.url}/_sim/devices", json={"name": "no id"})).status_code == 400
    changed = await http.post(f"{cloud.url}/_sim/devices/3000000001", json={"online": False})
    assert changed.json()["online"] is False
    assert (await http.get(f"{cloud.url}/_sim/devices/nope")).status_code == 404
    code = (await http.post(f"{cloud.url}/_sim/code", json={"region": "us"})).json()
    assert code["region"] == "us" and code["code"] in cloud.state.codes
    await _token(cloud, http)
    await http.post(f"{cloud.url}/_sim/tokens/expire", json={"access": True})
    assert cloud.state.access_check(cloud.state.grants[0].access) == "expired"
    log = (await http.get(f"{cloud.url}/_sim/requests", params={"path": "/v2/user"})).json()
    assert [r["path"] for r in log] == ["/v2/user/oauth/token"]
    stats = (await http.get(f"{cloud.url}/_sim/stats")).json()
    assert stats["grants"] == 1 and stats["refreshes"] == 0


def test_devices_file_entries(tmp_path: Path) -> None:
    from pbxwatch.sim.cloud import load_devices

    devices = load_devices({"devices": [{"id": "1", "hosts": {"1": "b"}, "channels": 2, "states": [False]}]})
    assert devices[0].hosts == {1: "b"} and devices[0].states == [False, True]
