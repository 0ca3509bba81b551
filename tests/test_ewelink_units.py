"""Pure parts of the eWeLink client: rate limiter (fake clock), token file, state store, regions, payloads."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbxwatch.ewelink import (
    DeviceControlError,
    EWeLinkError,
    FileStateStore,
    RateLimiter,
    TokenFile,
    TokenFileError,
    TokenSet,
    api_base_url,
    check_region,
)
from pbxwatch.ewelink.devices import parse_device, switch_params
from pbxwatch.ewelink.wire import parse_reply


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


async def test_rate_limiter_spaces_calls_and_caps_the_window() -> None:
    t = FakeTime()
    limiter = RateLimiter(min_interval=0.5, window=10.0, max_calls=3, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        await limiter.acquire()
    assert t.slept == [0.5, 0.5]
    await limiter.acquire()  # 4th call in the window waits for the first to age out
    assert t.slept == [0.5, 0.5, 9.0]
    t.now += 60
    await limiter.acquire()
    assert len(t.slept) == 3


def test_published_limits_are_the_defaults() -> None:
    limiter = RateLimiter()
    assert limiter.delay_needed(0.0) == 0.0
    with pytest.raises(ValueError, match="rate limits"):
        RateLimiter(max_calls=0)


def test_regions_and_overrides() -> None:
    assert api_base_url("eu") == "https://eu-apia.coolkit.cc"
    assert api_base_url("CN") == "https://cn-apia.coolkit.cn"
    assert api_base_url("us", "http://127.0.0.1:9/") == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="unknown eWeLink region 'fr'"):
        check_region("fr")


def test_token_file_is_private_atomic_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ewelink_token.json"
    store = TokenFile(path)
    assert store.read() is None
    tokens = TokenSet(
        access_token="A" * 40, refresh_token="R" * 40, at_expires_ms=1, rt_expires_ms=2, region="eu", obtained_at_ms=3
    )
    old_umask = os.umask(0)  # even a permissive umask leaves the token file private
    try:
        store.write(tokens)
    finally:
        os.umask(old_umask)
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {
        "accessToken": "A" * 40,
        "refreshToken": "R" * 40,
        "atExpiredTime": 1,
        "rtExpiredTime": 2,
        "region": "eu",
        "obtainedAt": 3,
    }
    assert store.read() == tokens
    assert os.listdir(path.parent) == ["ewelink_token.json"]  # no temp file left behind
    assert "A" * 40 not in repr(tokens)
    for bad, why in [
        ("", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"accessToken": 1}', "lacks valid"),
        (b"\xff\xfe".decode("latin-1"), "not JSON"),
    ]:
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(TokenFileError, match=why):
            store.read()


def test_state_store_shared_single_use_and_expiring(tmp_path: Path) -> None:
    now = [1000.0]
    issuer = FileStateStore.beside(tmp_path / "tok.json", ttl=60, clock=lambda: now[0])
    verifier = FileStateStore.beside(tmp_path / "tok.json", ttl=60, clock=lambda: now[0])
    first, second = issuer.issue(), issuer.issue()
    assert (tmp_path / "tok.json.states").stat().st_mode & 0o777 == 0o600
    assert verifier.consume(first)
    assert not verifier.consume(first)
    assert not verifier.consume("made-up")
    now[0] += 61
    assert not verifier.consume(second)
    (tmp_path / "tok.json.states").write_text("garbage")
    assert not verifier.consume(second)
    assert verifier.consume(issuer.issue())


def test_devices_and_switch_payloads() -> None:
    assert parse_device({"groupid": "g1", "name": "a group"}) is None
    single = parse_device(
        {"deviceid": "1000000001", "name": "R", "online": True, "params": {"switch": "off"}, "extra": {"uiid": 1}}
    )
    assert single is not None and single.state() is False and not single.multi_channel
    assert switch_params(single, True, None) == {"switch": "on"}
    with pytest.raises(DeviceControlError):
        switch_params(single, True, 1)
    multi = parse_device(
        {
            "deviceid": "1000000004",
            "online": True,
            "params": {"switches": [{"switch": "on", "outlet": 1}, {"switch": "off", "outlet": 0}]},
        }
    )
    assert multi is not None and multi.name == "1000000004"
    assert [o.outlet for o in multi.outlets] == [0, 1]
    # an unknown UIID still gets the protocol's four outlets (0-3), not only the two it reported
    assert switch_params(multi, False, None) == {
        "switches": [
            {"switch": "off", "outlet": 0},
            {"switch": "off", "outlet": 1},
            {"switch": "off", "outlet": 2},
            {"switch": "off", "outlet": 3},
        ]
    }


def test_countdown_rounds_up_to_whole_minutes() -> None:
    from pbxwatch.ewelink.devices import countdown_params

    device = parse_device({"deviceid": "1000000001", "online": True, "params": {"switch": "on"}})
    assert device is not None
    params = countdown_params(device, seconds=61, on=True, outlet=None, now=datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    [timer] = params["timers"]
    assert timer["period"] == "2"
    assert timer["at"] == "2026-01-01T12:02:00.000Z"
    assert timer["do"] == {"switch": "on"}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_device_like = st.fixed_dictionaries(
    {"deviceid": st.text(min_size=1, max_size=10)},
    optional={"params": _json, "extra": _json, "online": _json, "name": _json, "family": _json},
)


@settings(max_examples=200, deadline=None)
@given(item=_json | _device_like)
def test_odd_cloud_json_is_a_device_only_when_it_names_one(item: object) -> None:
    device = parse_device(item)
    named = isinstance(item, dict) and isinstance(item.get("deviceid"), str) and item["deviceid"] != ""
    assert (device is not None) is named
    if device is not None:
        assert isinstance(item, dict)
        assert device.id == item["deviceid"]
        assert device.online is (item.get("online") is True)  # only a literal true is online
        assert device.outlets and isinstance(device.online, bool)


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=64) | _json.map(lambda v: json.dumps(v).encode()),
    status=st.sampled_from([200, 400, 401, 403, 404, 429, 500, 503]),
)
def test_any_cloud_reply_is_data_or_an_ewelink_error(body: bytes, status: int) -> None:
    reply = httpx.Response(status, content=body)
    try:
        data = parse_reply(reply, "/v2/x", {})
    except EWeLinkError as err:
        assert str(err).startswith("eWeLink")
    else:
        assert isinstance(data, dict)
        assert status == 200  # an HTTP error never passes as data


def test_the_client_package_imports_nothing_else_from_pbxwatch() -> None:
    import ast

    import pbxwatch.ewelink

    package = Path(pbxwatch.ewelink.__file__).parent
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert not name.startswith("pbxwatch") or name.startswith("pbxwatch.ewelink"), (module, name)
