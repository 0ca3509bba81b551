"""No request body or query makes the simulated cloud answer 500: it answers in the protocol's envelope."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbxwatch.sim.cloud import SimCloud, SimCloudConfig, SimDevice

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
_status_body = st.fixed_dictionaries(
    {"type": st.just(1) | _json, "id": st.sampled_from(["1000000001", "1000000004"]) | _json},
    optional={"params": st.dictionaries(st.sampled_from(["switch", "switches", "timers", "x"]), _json, max_size=3)},
)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SimCloud, httpx.Client, str]]:
    devices = [SimDevice("1000000001", "one"), SimDevice("1000000004", "four", channels=4)]
    with SimCloud(SimCloudConfig(), devices=devices) as cloud, httpx.Client(timeout=10) as http:
        code = cloud.issue_code()
        body = json.dumps({"code": code, "redirectUrl": "", "grantType": "authorization_code"}).encode()
        sig = base64.b64encode(hmac.new(cloud.config.app_secret.encode(), body, hashlib.sha256).digest()).decode()
        token = http.post(
            f"{cloud.url}/v2/user/oauth/token",
            content=body,
            headers={"X-CK-Appid": cloud.config.app_id, "Authorization": f"Sign {sig}"},
        ).json()["data"]["accessToken"]
        yield cloud, http, token


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=_status_body | _json,
    path=st.sampled_from(["/v2/device/thing/status", "/v2/device/thing", "/v2/user/refresh", "/v2/user/oauth/token"]),
)
def test_posts_never_500(served: tuple[SimCloud, httpx.Client, str], body: object, path: str) -> None:
    cloud, http, token = served
    reply = http.post(f"{cloud.url}{path}", content=json.dumps(body), headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200
    assert isinstance(reply.json()["error"], int)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=st.dictionaries(
        st.sampled_from(["num", "beginIndex", "familyid", "id", "params", "type"]), st.text(max_size=6), max_size=4
    )
)
def test_gets_never_500(served: tuple[SimCloud, httpx.Client, str], query: dict[str, str]) -> None:
    cloud, http, token = served
    for path in ("/v2/device/thing", "/v2/device/thing/status", "/v2/family", "/oauth/index.html"):
        reply = http.get(f"{cloud.url}{path}", params=query, headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code in (200, 400), (path, query, reply.text)
