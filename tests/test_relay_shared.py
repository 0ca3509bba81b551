"""The relay service with a relay SHARED to the eWeLink account (the recommended setup): fresh reads report
its real online flag, a power-cycle cycles it; a relay the account cannot see is a 404 naming the causes."""

from __future__ import annotations

import json

import pytest

from pbxwatch.sim.cloud_state import SimDevice
from tests.relay_fixtures import RelayEnv, wait_for

SHARED = "1000share9"


@pytest.fixture
def shared(relay_env: RelayEnv) -> RelayEnv:
    relay_env.sim.add_device(SimDevice(id=SHARED, name="Relay shared by the owner", item_type=2))
    relay_env.add_unit("201", SHARED, last_status="online")
    relay_env.start()
    relay_env.authorize()
    return relay_env


def test_a_shared_relay_is_read_fresh_with_its_real_online_flag(shared: RelayEnv) -> None:
    first = shared.get(f"/devices/{SHARED}", params={"fresh": "true"})
    assert first.status_code == 200, first.text
    assert first.json()["online"] is True
    shared.sim.set_online(SHARED, False)
    again = shared.get(f"/devices/{SHARED}", params={"fresh": "true"})
    assert again.status_code == 200 and again.json()["online"] is False
    lookups = [
        json.loads(r.body)["thingList"]
        for r in shared.sim.requests("/v2/device/thing")
        if r.method == "POST" and r.path == "/v2/device/thing"
    ]
    assert {"itemType": 2, "id": SHARED} in lookups[0]


def test_a_shared_relay_is_power_cycled(shared: RelayEnv) -> None:
    reply = shared.post("/power-cycle", json={"enterprise_number": "201", "initiator": "auto"})
    assert reply.status_code == 202, reply.text
    cycle_id = reply.json()["cycle_id"]
    wait_for(lambda: shared.cycle_state(cycle_id) == "done", "the cycle of the shared relay")
    switched = [
        json.loads(r.body)["params"]
        for r in shared.sim.requests("/v2/device/thing/status")
        if r.method == "POST" and json.loads(r.body)["id"] == SHARED
    ]
    assert switched == [{"switch": "off"}, {"switch": "on"}]
    assert shared.sim.device(SHARED).states == [True]


def test_a_relay_the_account_cannot_see_is_404_naming_the_likely_causes(
    shared: RelayEnv, caplog: pytest.LogCaptureFixture
) -> None:
    reply = shared.get("/devices/1000unseen", params={"fresh": "true"})
    assert reply.status_code == 404, reply.text
    message = reply.json()["message"]
    assert "not shared to this account" in message and "another region" in message and "home" in message
    assert any("1000unseen" in m and "not shared to this account" in m for m in caplog.messages)


def test_the_cli_names_the_causes_in_one_line(shared: RelayEnv) -> None:
    from tests.cli_helpers import pbxwatch

    result = pbxwatch("relay", "off", "1000unseen", cwd=shared.tmp, env=shared.env_vars())
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert "1000unseen" in line and "not shared to this account" in line and "another region" in line
    assert shared.sim.device(SHARED).states == [True]
