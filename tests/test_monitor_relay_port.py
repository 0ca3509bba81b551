"""The monitor's relay port against the real relay service: each error answer arrives as its typed error."""

from __future__ import annotations

import asyncio

import pytest

from pbxwatch.monitor.ports import RelayBusy, RelayRefused, RelayUnreachable, RelayWentOffline
from pbxwatch.monitor.relay_http import HttpRelayPort
from tests.relay_fixtures import API_TOKEN, RelayEnv, free_port, wait_for


def port_of(relay: RelayEnv) -> HttpRelayPort:
    return HttpRelayPort(relay.url, api_token=API_TOKEN, backoff=0.0)


async def cycle(port: HttpRelayPort, device_id: str, key: str) -> str:
    try:
        return await port.power_cycle(enterprise_number="101", device_id=device_id, outlet=None, idempotency_key=key)
    finally:
        await port.close()


async def online(port: HttpRelayPort, device_id: str) -> bool:
    try:
        return await port.device_online(device_id)
    finally:
        await port.close()


def test_a_cycle_already_running_on_the_relay_is_relay_busy(relay: RelayEnv) -> None:
    relay.clock.hold()
    first = asyncio.run(cycle(port_of(relay), "1000aaaa01", "outage-101-1"))
    wait_for(lambda: relay.cycle_state(first) == "off", "the relay to be off")
    with pytest.raises(RelayBusy) as busy:
        asyncio.run(cycle(port_of(relay), "1000aaaa01", "outage-101-2"))
    assert (busy.value.status, busy.value.code) == (409, "cycle_running")
    relay.clock.release()
    wait_for(lambda: relay.cycle_state(first) == "done", "the cycle to finish")


def test_an_offline_relay_is_relay_went_offline(relay: RelayEnv) -> None:
    with pytest.raises(RelayWentOffline) as offline:
        asyncio.run(cycle(port_of(relay), "1000cccc03", "outage-103-1"))
    assert (offline.value.status, offline.value.code) == (409, "relay_offline")
    assert asyncio.run(online(port_of(relay), "1000cccc03")) is False


def test_an_unknown_relay_is_a_plain_refusal(relay: RelayEnv) -> None:
    with pytest.raises(RelayRefused) as refused:
        asyncio.run(cycle(port_of(relay), "1000ffff99", "outage-999-1"))
    assert type(refused.value) is RelayRefused
    assert (refused.value.status, refused.value.code) == (404, "not_found")


def test_no_relay_service_is_unreachable() -> None:
    port = HttpRelayPort(f"http://127.0.0.1:{free_port()}", backoff=0.0)
    with pytest.raises(RelayUnreachable):
        asyncio.run(cycle(port, "1000aaaa01", "outage-101-1"))
