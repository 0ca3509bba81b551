"""Fixtures for tests that talk to the simulated eWeLink cloud over real HTTP on loopback.

Other test modules may use them: ``from tests.cloud_fixtures import ...`` (fixtures ``cloud``, ``http``,
``clock``; helpers ``make_client``, ``authorize``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pbxwatch.ewelink import EWeLinkClient, RateLimiter, TokenStatus
from pbxwatch.sim.cloud import SimCloud, SimCloudConfig, SimDevice

REDIRECT_URL = "http://127.0.0.1:8010/ewelink-callback/"
SINGLE_ID = "1000000001"
MULTI_ID = "1000000004"
OFFLINE_ID = "1000000009"


class FakeClock:
    """Wall-clock seconds that move only when told to (shared by the client and the simulator)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def default_devices() -> list[SimDevice]:
    return [
        SimDevice(SINGLE_ID, "PBX 101 relay"),
        SimDevice(MULTI_ID, "Rack strip", channels=4, states=[True, False, True, True]),
        SimDevice(OFFLINE_ID, "Far site relay", online=False),
    ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def cloud(clock: FakeClock) -> AsyncIterator[SimCloud]:
    async with SimCloud(SimCloudConfig(), devices=default_devices(), clock=clock) as sim:
        yield sim


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def make_client(cloud: SimCloud, token_file: Path, http: httpx.AsyncClient, **options: Any) -> EWeLinkClient:
    """A client of the simulated cloud with a fast rate limiter (override with ``rate_limiter=``)."""
    options.setdefault("rate_limiter", RateLimiter(min_interval=0))
    options.setdefault("timeout", 5.0)
    return EWeLinkClient(
        app_id=cloud.config.app_id,
        app_secret=cloud.config.app_secret,
        redirect_url=REDIRECT_URL,
        token_file=token_file,
        http=http,
        api_url=cloud.url,
        oauth_url=cloud.oauth_url,
        **options,
    )


async def authorize(client: EWeLinkClient, http: httpx.AsyncClient) -> TokenStatus:
    """What a person does: open the auth URL, get redirected with code/region/state; then the exchange."""
    page = await http.get(client.auth_url())
    assert page.status_code == 302, page.text
    params = httpx.URL(page.headers["location"]).params
    return await client.exchange_code(params["code"], region=params["region"], state=params["state"])
