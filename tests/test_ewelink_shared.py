"""Relays shared to the account, every page and home, UIID outlet counts and the strict simulated cloud.

The client against the simulated cloud over real HTTP: what the cloud receives and what the caller gets."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from pbxwatch.ewelink import DeviceNotFoundError
from pbxwatch.sim.cloud import SimCloud, SimDevice
from tests.cloud_fixtures import SINGLE_ID, FakeClock, authorize, make_client
from tests.test_sim_cloud import _token as bearer_token  # raw HTTP, not the client

SHARED_ID = "1000sh0001"
VIA_HOME_ID = "1000sh0005"


def thing_lookups(cloud: SimCloud) -> list[list[dict[str, object]]]:
    """The ``thingList`` of every POST /v2/device/thing the cloud received."""
    return [
        json.loads(r.body)["thingList"]
        for r in cloud.requests("/v2/device/thing")
        if r.method == "POST" and r.path == "/v2/device/thing"
    ]


async def test_a_shared_relay_is_read_fresh_before_any_listing(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    cloud.add_device(SimDevice(SHARED_ID, "Shared PBX relay", item_type=2, online=False))
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    device = await client.get_device(SHARED_ID)
    assert device.online is False and device.item_type == 2
    # type not known yet: asked as an own and as a shared device in one call, nothing listed
    assert thing_lookups(cloud) == [[{"itemType": 1, "id": SHARED_ID}, {"itemType": 2, "id": SHARED_ID}]]
    assert not [r for r in cloud.requests("/v2/device/thing") if r.method == "GET"]
    cloud.set_online(SHARED_ID, True)
    assert (await client.get_device(SHARED_ID)).online is True
    assert thing_lookups(cloud)[-1] == [{"itemType": 2, "id": SHARED_ID}]  # remembered


async def test_the_cloud_does_not_return_a_shared_device_asked_for_as_own(
    cloud: SimCloud, http: httpx.AsyncClient
) -> None:
    cloud.add_device(SimDevice(SHARED_ID, "Shared", item_type=2))
    token = await bearer_token(cloud, http)
    headers = {"Authorization": f"Bearer {token}"}
    ask = {"thingList": [{"itemType": 1, "id": SHARED_ID}, {"itemType": 1, "id": SINGLE_ID}]}
    reply = (await http.post(f"{cloud.url}/v2/device/thing", json=ask, headers=headers)).json()
    assert [t["itemData"]["deviceid"] for t in reply["data"]["thingList"]] == [SINGLE_ID]
    bad = (
        await http.post(f"{cloud.url}/v2/device/thing", json={"thingList": [{"id": SHARED_ID}]}, headers=headers)
    ).json()
    assert bad["error"] == 400


async def test_listing_remembers_item_types_including_shared_via_home(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    cloud.add_device(SimDevice(VIA_HOME_ID, "Via home", item_type=5, home_id="home-2"))
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    listed = {d.id: d for d in await client.list_devices()}
    assert listed[VIA_HOME_ID].item_type == 5 and listed[SINGLE_ID].item_type == 1
    assert (await client.get_device(VIA_HOME_ID)).name == "Via home"
    assert thing_lookups(cloud) == [[{"itemType": 5, "id": VIA_HOME_ID}]]


async def test_an_invisible_device_gets_an_error_naming_the_likely_causes(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    with pytest.raises(DeviceNotFoundError) as caught:
        await client.get_device("1000nothere")
    text = str(caught.value)
    assert "not shared to this account" in text and "another region" in text and "home" in text
    assert "region eu" in text
    assert any("1000nothere" in r.getMessage() and "not shared" in r.getMessage() for r in caplog.records)
    # the one fallback listing happened; a second miss within a minute does not list again
    listings = len([r for r in cloud.requests("/v2/device/thing") if r.method == "GET"])
    with pytest.raises(DeviceNotFoundError):
        await client.get_device("1000nothere")
    assert len([r for r in cloud.requests("/v2/device/thing") if r.method == "GET"]) == listings


async def test_a_device_shared_later_is_found_through_the_listing(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    """A type remembered as own (1) that became a share: the look-up misses, the listing finds it."""
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    await client.list_devices()
    cloud.device(SINGLE_ID).item_type = 2
    clock.advance(120)
    device = await client.get_device(SINGLE_ID)
    assert device.item_type == 2
    assert thing_lookups(cloud)[-1] == [{"itemType": 2, "id": SINGLE_ID}]


async def test_short_pages_from_brand_filtering_do_not_end_the_list(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    for n in range(9):  # every other thing is of a brand a free APPID does not see
        cloud.add_device(
            SimDevice(f"30000000{n:02d}", f"R{n}", home_id="home-3", brand="SONOFF" if n % 2 else "OTHERBRAND")
        )
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock, page_size=3)
    await authorize(client, http)
    ids = {d.id for d in await client.list_devices()}
    assert {f"30000000{n:02d}" for n in range(1, 9, 2)} <= ids
    assert not {f"30000000{n:02d}" for n in range(0, 9, 2)} & ids
    homes = {
        httpx.URL("http://x/?" + r.query).params.get("familyid")
        for r in cloud.requests("/v2/device/thing")
        if r.method == "GET"
    }
    assert homes == {"home-1", "home-3"}  # every home of GET /v2/family


async def test_dual_relay_gets_all_four_protocol_outlets_whatever_it_reported(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    cloud.add_device(SimDevice("1000dual02", "Dual R", channels=2, uiid=2, states=[True, True], reported_outlets=2))
    client = make_client(cloud, tmp_path / "tok.json", http, clock=clock)
    await authorize(client, http)
    device = await client.get_device("1000dual02")
    assert [o.outlet for o in device.outlets] == [0, 1] and device.protocol_outlets == 4
    await client.set_switch("1000dual02", False, 1)
    sent = json.loads(cloud.requests("/v2/device/thing/status")[-1].body)["params"]["switches"]
    assert [e["outlet"] for e in sent] == [0, 1, 2, 3]
    assert cloud.device("1000dual02").states == [True, False]


async def test_documented_settings_are_accepted_and_reported(cloud: SimCloud, http: httpx.AsyncClient) -> None:
    token = await bearer_token(cloud, http)
    headers = {"Authorization": f"Bearer {token}"}

    async def post(params: dict[str, object]) -> int:
        body = {"type": 1, "id": SINGLE_ID, "params": params}
        return int((await http.post(f"{cloud.url}/v2/device/thing/status", json=body, headers=headers)).json()["error"])

    assert await post({"startup": "stay", "pulse": "on", "pulseWidth": 3000}) == 0
    status = (
        await http.get(
            f"{cloud.url}/v2/device/thing/status",
            params={"type": 1, "id": SINGLE_ID, "params": "startup|pulse|pulseWidth"},
            headers=headers,
        )
    ).json()["data"]["params"]
    assert status == {"startup": "stay", "pulse": "on", "pulseWidth": 3000}
    assert await post({"pulseWidth": 700}) == 400
    assert await post({"startup": "maybe"}) == 400
    assert await post({"frobnicate": 1}) == 400


async def test_items_carry_the_always_present_fields_and_groups_their_own_shape(
    cloud: SimCloud, http: httpx.AsyncClient
) -> None:
    cloud.state.groups["home-1"] = 1
    cloud.add_device(SimDevice(SHARED_ID, "Shared", item_type=2))
    token = await bearer_token(cloud, http)
    listing = (
        await http.get(f"{cloud.url}/v2/device/thing", params={"num": 0}, headers={"Authorization": f"Bearer {token}"})
    ).json()["data"]
    items = {t["itemType"]: t["itemData"] for t in listing["thingList"]}
    for key in ("brandLogo", "productModel", "devicekey", "brandName", "family", "extra", "apikey", "settings"):
        assert key in items[1] and key in items[2]
    assert "sharedBy" in items[2] and "shareTo" in items[1]
    assert {"id", "mainDeviceId", "family"} <= set(items[3]) and "deviceid" not in items[3]


async def test_oauth_page_takes_the_sdk_raw_signature_with_plus(cloud: SimCloud, http: httpx.AsyncClient) -> None:
    """The official SDK concatenates the base64 signature unencoded: its "+" must still verify."""
    import base64
    import hashlib
    import hmac

    app_id, secret = cloud.config.app_id, cloud.config.app_secret
    seq = next(
        str(s)
        for s in range(1_700_000_000_000, 1_700_000_100_000)
        if "+"
        in base64.b64encode(hmac.new(secret.encode(), f"{app_id}_{s}".encode(), hashlib.sha256).digest()).decode()
    )
    signature = base64.b64encode(hmac.new(secret.encode(), f"{app_id}_{seq}".encode(), hashlib.sha256).digest())
    raw = (
        f"{cloud.oauth_url}?clientId={app_id}&redirectUrl=http://127.0.0.1:8010/cb&grantType=authorization_code"
        f"&state=s1&nonce=ab12cd34&seq={seq}&authorization={signature.decode()}"
    )
    page = await http.get(httpx.URL(raw))
    assert page.status_code == 302, page.text
    assert httpx.URL(page.headers["location"]).params["state"] == "s1"


def test_outlet_layout_follows_the_uiid_not_the_report() -> None:
    from pbxwatch.ewelink.uiids import outlet_layout

    assert outlet_layout(2, [0, 1]) == outlet_layout(2, None) == outlet_layout(2, [0, 1, 2, 3])
    dual = outlet_layout(2, [0])
    assert (dual.multi_channel, dual.wired, dual.protocol) == (True, 2, 4)
    assert not outlet_layout(1, None).multi_channel and not outlet_layout(1, [0, 1]).multi_channel
    unknown = outlet_layout(9999, [0, 5])
    assert unknown.multi_channel and unknown.wired is None and unknown.protocol == 6
    assert not outlet_layout(None, None).multi_channel
