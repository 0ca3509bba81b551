"""The eWeLink client against the simulated cloud over real HTTP: OAuth, tokens, devices, switching, errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from pbxwatch.ewelink import (
    CallRecord,
    CloudOverloadedError,
    CloudRateLimitedError,
    CloudTimeoutError,
    CloudUnreachableError,
    DeviceControlError,
    DeviceNotFoundError,
    InvalidCodeError,
    InvalidStateError,
    QuotaExceededError,
    RateLimiter,
    RelayOfflineError,
    TokenFileError,
    TokenMissingError,
    TokensExpiredError,
)
from pbxwatch.sim.cloud import Fault, SimCloud, SimDevice
from tests.cloud_fixtures import (
    MULTI_ID,
    OFFLINE_ID,
    REDIRECT_URL,
    SINGLE_ID,
    FakeClock,
    authorize,
    make_client,
)

DAY = 86_400.0


def paths(cloud: SimCloud) -> list[str]:
    return [r.path for r in cloud.requests("/v2/")]


async def test_full_oauth_flow_then_every_device_of_every_home(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    cloud.state.homes["home-2"] = "Branch office"
    cloud.state.groups["home-1"] = 2  # groups are mixed into the thing list and must be skipped
    for n in range(12):
        cloud.add_device(SimDevice(f"20000000{n:02d}", f"Branch relay {n}", home_id="home-2"))
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock, page_size=5)
    status = await authorize(client, http)
    assert status.state == "valid"
    assert status.region == "eu"
    devices = await client.list_devices()
    assert len(devices) == 15
    assert {d.id for d in devices} >= {SINGLE_ID, MULTI_ID, OFFLINE_ID, "2000000011"}
    pages = [r for r in cloud.requests("/v2/device/thing") if r.method == "GET"]
    assert len(pages) >= 4  # 12 devices in pages of 5, plus home-1
    offline = next(d for d in devices if d.id == OFFLINE_ID)
    assert offline.online is False
    multi = next(d for d in devices if d.id == MULTI_ID)
    assert multi.multi_channel and [o.on for o in multi.outlets] == [True, False, True, True]


async def test_access_token_refreshed_before_expiry(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    first = json.loads((tmp_path / "tok.json").read_text())
    clock.advance(30 * DAY)
    device = await client.get_device(SINGLE_ID)
    assert device.online
    assert paths(cloud)[-2:] == ["/v2/user/refresh", "/v2/device/thing"]
    second = json.loads((tmp_path / "tok.json").read_text())
    assert second["refreshToken"] != first["refreshToken"]
    assert second["rtExpiredTime"] == int(clock() * 1000) + 60 * 86_400_000


async def test_refresh_once_on_401_then_replay(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    cloud.state.revoke_access_tokens()  # "logged in elsewhere": the access token is unknown now
    homes = await client.list_homes()
    assert [h.id for h in homes] == ["home-1"]
    assert paths(cloud)[-3:] == ["/v2/family", "/v2/user/refresh", "/v2/family"]


async def test_refresh_on_402_when_the_cloud_expired_the_token_early(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    cloud.state.expire_tokens(access=True)
    await client.set_switch(SINGLE_ID, False)
    assert cloud.device(SINGLE_ID).states == [False]
    assert paths(cloud).count("/v2/user/refresh") == 1


async def test_rejected_refresh_token_means_reauthorization(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    cloud.state.revoke_access_tokens()
    cloud.state.expire_tokens(access=True, refresh=True)
    with pytest.raises(TokensExpiredError) as err:
        await client.list_devices()
    assert err.value.code == 405
    assert "Токены истекли, нужна повторная авторизация" in caplog.messages


async def test_expired_refresh_token_in_file_fails_without_calling_the_cloud(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    clock.advance(61 * DAY)
    before = len(cloud.requests())
    assert client.token_status().state == "expired"
    with pytest.raises(TokensExpiredError):
        await client.set_switch(SINGLE_ID, True)
    assert len(cloud.requests()) == before
    assert "Токены истекли, нужна повторная авторизация" in caplog.messages


async def test_token_status_valid_expiring_expired_missing(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    assert client.token_status().state == "missing"
    await authorize(client, http)
    assert client.token_status().state == "valid"
    clock.advance(54 * DAY)
    status = client.token_status()
    assert status.state == "expiring"
    assert status.describe().startswith("expiring in 6.0 days")
    clock.advance(7 * DAY)
    assert client.token_status().state == "expired"


async def test_forged_expired_and_reused_states_are_refused(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    issuer = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    other_process = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    page = await http.get(issuer.auth_url())
    params = httpx.URL(page.headers["location"]).params
    with pytest.raises(InvalidStateError):
        await other_process.exchange_code(params["code"], "eu", state="forged-state")
    await other_process.exchange_code(params["code"], "eu", state=params["state"])  # shared store
    code = cloud.issue_code()
    with pytest.raises(InvalidStateError):
        await issuer.exchange_code(code, "eu", state=params["state"])  # single use
    stale = issuer.auth_url()
    clock.advance(16 * 60)
    with pytest.raises(InvalidStateError):
        await issuer.exchange_code(code, "eu", state=httpx.URL(stale).params["state"])


async def test_expired_and_reused_codes_are_invalid(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    code = cloud.issue_code(redirect_url="http://127.0.0.1:8010/ewelink-callback/")
    clock.advance(31)
    with pytest.raises(InvalidCodeError) as err:
        await client.exchange_code(code, "eu")
    assert err.value.code == 405
    assert "invalid code" in str(err.value)
    fresh = cloud.issue_code(redirect_url="http://127.0.0.1:8010/ewelink-callback/")
    await client.exchange_code(fresh, "eu")
    with pytest.raises(InvalidCodeError):
        await client.exchange_code(fresh, "eu")
    assert not (tmp_path / "tok.json.lock").read_text()  # the lock file holds nothing


async def test_offline_relay_fails_fast_and_4002_is_told_apart(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    with pytest.raises(RelayOfflineError):
        await client.set_switch(OFFLINE_ID, False)
    assert not [r for r in cloud.requests("/v2/device/thing/status") if r.method == "POST"]
    # the relay went offline after we read it: the cloud answers 4002, the device list says offline
    stale = await client.get_device(SINGLE_ID)
    cloud.set_online(SINGLE_ID, False)
    with pytest.raises(RelayOfflineError) as offline:
        await client.set_switch(SINGLE_ID, False, device=stale)
    assert offline.value.code == 4002
    # 4002 while the relay is online: a parameter error, not "offline"
    cloud.set_online(SINGLE_ID, True)
    cloud.inject(Fault(kind="error", path="/v2/device/thing/status", code=4002, msg="控制失败"))
    with pytest.raises(DeviceControlError) as refused:
        await client.set_switch(SINGLE_ID, False)
    assert refused.value.code == 4002
    assert refused.value.vendor_message == "控制失败"
    with pytest.raises(DeviceNotFoundError):
        await client.get_device("1099999999")


async def test_multi_channel_switch_sends_full_array_keeping_other_outlets(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    switched: list[tuple[str, int | None, bool]] = []
    cloud.app.on_switch = lambda device, outlet, on: switched.append((device, outlet, on))
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    await client.set_switch(MULTI_ID, False, outlet=2)
    assert cloud.device(MULTI_ID).states == [True, False, False, True]
    body = json.loads([r for r in cloud.requests("/v2/device/thing/status") if r.method == "POST"][-1].body)
    assert body == {
        "type": 1,
        "id": MULTI_ID,
        "params": {
            "switches": [
                {"switch": "on", "outlet": 0},
                {"switch": "off", "outlet": 1},
                {"switch": "off", "outlet": 2},
                {"switch": "on", "outlet": 3},
            ]
        },
    }
    await client.set_switch(MULTI_ID, True, outlet=1)
    assert cloud.device(MULTI_ID).states == [True, True, False, True]
    await client.set_switch(SINGLE_ID, False)
    assert switched == [(MULTI_ID, 2, False), (MULTI_ID, 1, True), (SINGLE_ID, None, False)]
    with pytest.raises(DeviceControlError, match="no outlet 7"):
        await client.set_switch(MULTI_ID, True, outlet=7)
    device = await client.get_device(MULTI_ID)
    assert device.state(1) is True and device.state(2) is False


async def test_arm_countdown_writes_a_delay_timer_and_keeps_user_timers(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    cloud.device(MULTI_ID).timers = [
        {"mId": "user-1", "type": "repeat", "at": "0 7 * * *", "enabled": 1, "do": {"outlet": 0, "switch": "on"}}
    ]
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    await client.arm_countdown(MULTI_ID, seconds=10, outlet=3)
    await client.arm_countdown(MULTI_ID, seconds=90, outlet=3)  # re-arming replaces ours
    timers = cloud.device(MULTI_ID).timers
    assert [t["mId"] for t in timers] == ["user-1", "pbxwatch-countdown-3"]
    ours = timers[1]
    assert ours["coolkit_timer_type"] == "delay"
    assert ours["period"] == "2"
    assert ours["do"] == {"switch": "on", "outlet": 3}


async def test_quota_as_412_and_as_http_403(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    cloud.config.quota = cloud.state.api_calls
    with pytest.raises(QuotaExceededError) as vendor:
        await client.list_homes()
    assert vendor.value.code == 412
    cloud.config.quota_style = "http403"
    with pytest.raises(QuotaExceededError) as http_403:
        await client.list_homes()
    assert http_403.value.http_status == 403


async def test_rate_limits_cloud_refuses_bursts_and_the_limiter_avoids_them(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    bursty = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(bursty, http)
    cloud.config.min_interval = 0.3
    with pytest.raises(CloudRateLimitedError):
        for _ in range(3):
            await bursty.list_homes()
    await asyncio.sleep(0.4)  # let the refused burst age out of the cloud's window
    polite = make_client(cloud, tmp_path / "tok.json", http, clock=clock, rate_limiter=RateLimiter(min_interval=0.6))
    for _ in range(3):
        assert await polite.list_homes()


async def test_overload_drop_timeout_and_5xx_are_transient(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock, timeout=0.5)
    await authorize(client, http)
    cloud.inject(Fault(kind="html_503"))
    with pytest.raises(CloudOverloadedError, match="HTML"):
        await client.list_homes()
    cloud.inject(Fault(kind="http_500"))
    with pytest.raises(CloudOverloadedError):
        await client.list_homes()
    cloud.inject(Fault(kind="drop"))
    with pytest.raises(CloudUnreachableError):
        await client.list_homes()
    cloud.inject(Fault(kind="slow", delay=1.5))
    with pytest.raises(CloudTimeoutError):
        await client.list_homes()
    assert await client.list_homes()  # and it recovers


async def test_corrupt_or_missing_token_file_is_a_clear_error(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_file = tmp_path / "tok.json"
    client = make_client(cloud, token_file, http, clock=clock)
    with pytest.raises(TokenMissingError):
        await client.list_devices()
    assert "Нет access_token для управления устройствами!" in caplog.messages
    token_file.write_text('{"accessToken": "abc", "refreshTo')  # half-written
    with pytest.raises(TokenFileError, match="corrupt or half-written") as err:
        await client.list_devices()
    assert str(token_file) in str(err.value)
    status = client.check_tokens_at_start()
    assert status.state == "missing"
    assert status.problem is not None and "corrupt" in status.problem
    assert "Не удалось загрузить токены eWeLink! Авторизация требуется через CLI или callback." in caplog.messages
    token_file.write_text('{"accessToken": "", "refreshToken": 5}')
    with pytest.raises(TokenFileError, match="lacks valid accessToken, refreshToken"):
        await client.get_device(SINGLE_ID)
    assert cloud.requests("/v2/") == []
    await authorize(client, http)  # a new authorization repairs it
    assert await client.list_devices()


async def test_token_file_rewritten_by_another_process_is_used_at_once(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    service = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(service, http)
    await service.list_homes()
    login_cli = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(login_cli, http)
    new_token = json.loads((tmp_path / "tok.json").read_text())["accessToken"]
    await service.list_homes()
    assert cloud.requests("/v2/family")[-1].headers["authorization"] == f"Bearer {new_token}"


async def test_every_call_is_counted(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    calls: list[CallRecord] = []
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock, on_call=calls.append)
    await authorize(client, http)
    await client.list_devices()
    cloud.inject(Fault(kind="html_503"))
    with pytest.raises(CloudOverloadedError):
        await client.list_homes()
    assert client.calls == len(calls) == len(cloud.requests("/v2/")) == 4
    assert [c.outcome for c in calls] == ["ok", "ok", "ok", "CloudOverloadedError"]
    assert calls[0].path == "/v2/user/oauth/token"


async def test_concurrent_calls_in_one_process_share_one_refresh(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    twin = make_client(cloud, tmp_path / "tok.json", http, clock=clock)  # a second client, same process
    await authorize(client, http)
    assert twin.reload_tokens() is True
    assert twin.reload_tokens() is False
    cloud.state.revoke_access_tokens()
    results = await asyncio.gather(*(c.list_homes() for c in (client, twin, client, twin, client)))
    assert all(len(homes) == 1 for homes in results)
    assert paths(cloud).count("/v2/user/refresh") == 1


async def test_login_into_a_directory_that_does_not_exist_yet(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    token_file = tmp_path / "new" / "dir" / "ewelink_token.json"
    client = make_client(cloud, token_file, http, clock=clock)
    status = await client.exchange_code(cloud.issue_code(redirect_url=REDIRECT_URL), "eu")
    assert status.state == "valid"
    assert token_file.stat().st_mode & 0o777 == 0o600


async def test_pages_full_of_groups_do_not_end_the_list(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    for device in list(cloud.state.devices.values()):
        device.index += 2000  # every device sorts after the groups
    cloud.state.groups["home-1"] = 7
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock, page_size=3)
    await authorize(client, http)
    assert {d.id for d in await client.list_devices()} == {SINGLE_ID, MULTI_ID, OFFLINE_ID}
