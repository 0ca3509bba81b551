"""Signatures and the exact bytes on the wire, pinned by values computed outside pbxwatch (openssl)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from pbxwatch.ewelink import authorization_signature, sign
from pbxwatch.sim.cloud import SimCloud
from pbxwatch.sim.cloud_state import Grant
from tests.cloud_fixtures import REDIRECT_URL, FakeClock, make_client

# `printf %s BODY | openssl dgst -sha256 -hmac simappsecret0001 -binary | base64`
EXCHANGE_BODY = (
    b'{"code":"fixed-code-0001","redirectUrl":"http://127.0.0.1:8010/ewelink-callback/",'
    b'"grantType":"authorization_code"}'
)
EXCHANGE_SIGN = "qZoEvFvnwX7irp/aOJJKUkvkSFkiXw+8JhAy3Lokd2k="
REFRESH_BODY = b'{"rt":"rt-fixed-0001"}'
REFRESH_SIGN = "Zs/Ml/6LyQKxEzz7RP5/hddhqq8aXv1HgBpjxkN6O38="


def test_official_signature_vector_of_the_notes() -> None:
    assert sign("abc", "ABC_123") == "v1+mfNY2ukxswM8sZOTg99srZsVnUVv9DGXeav1096M="
    assert authorization_signature("abc", "ABC", "123") == "v1+mfNY2ukxswM8sZOTg99srZsVnUVv9DGXeav1096M="


def test_sign_covers_the_exact_bytes_spaced_json_differs() -> None:
    assert sign("simappsecret0001", EXCHANGE_BODY) == EXCHANGE_SIGN
    spaced = json.dumps(json.loads(EXCHANGE_BODY)).encode()
    assert sign("simappsecret0001", spaced) != EXCHANGE_SIGN


async def test_token_exchange_sends_exact_body_and_headers(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    cloud.state.codes["fixed-code-0001"] = (clock() + 30, "eu", REDIRECT_URL)
    client = make_client(cloud, tmp_path / "ewelink_token.json", http, clock=clock)
    await client.exchange_code("fixed-code-0001", region="eu")
    [sent] = cloud.requests("/v2/user/oauth/token")
    assert sent.method == "POST"
    assert sent.body == EXCHANGE_BODY
    assert sent.headers["authorization"] == f"Sign {EXCHANGE_SIGN}"
    assert sent.headers["x-ck-appid"] == "simappid0001"
    assert sent.headers["content-type"] == "application/json"
    assert re.fullmatch(r"[A-Za-z0-9]{8}", sent.headers["x-ck-nonce"])
    saved = json.loads((tmp_path / "ewelink_token.json").read_text())
    assert set(saved) == {"accessToken", "refreshToken", "atExpiredTime", "rtExpiredTime", "region", "obtainedAt"}
    assert saved["region"] == "eu"
    assert (tmp_path / "ewelink_token.json").stat().st_mode & 0o777 == 0o600


async def test_refresh_sends_exact_body_and_headers(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    cloud.state.grants.append(
        Grant(access="at-fixed-0001", refresh="rt-fixed-0001", at_expires=clock() + 100, rt_expires=clock() + 1000)
    )
    token_file = tmp_path / "ewelink_token.json"
    token_file.write_text(
        json.dumps(
            {
                "accessToken": "at-fixed-0001",
                "refreshToken": "rt-fixed-0001",
                "atExpiredTime": int(clock() * 1000) + 100_000,
                "rtExpiredTime": int(clock() * 1000) + 1_000_000,
                "region": "eu",
                "obtainedAt": int(clock() * 1000),
            }
        )
    )
    client = make_client(cloud, token_file, http, clock=clock)
    status = await client.refresh()
    [sent] = cloud.requests("/v2/user/refresh")
    assert sent.body == REFRESH_BODY
    assert sent.headers["authorization"] == f"Sign {REFRESH_SIGN}"
    assert sent.headers["x-ck-appid"] == "simappid0001"
    assert sent.headers["content-type"] == "application/json"
    # the reply carries no expiry: now + 30 / 60 days, computed locally
    saved = json.loads(token_file.read_text())
    assert saved["atExpiredTime"] == int(clock() * 1000) + 30 * 86_400_000
    assert saved["rtExpiredTime"] == int(clock() * 1000) + 60 * 86_400_000
    assert saved["refreshToken"] != "rt-fixed-0001"
    assert status.state == "valid"


async def test_auth_url_has_every_parameter_and_a_verifiable_state(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "ewelink_token.json", http, clock=clock)
    url = httpx.URL(client.auth_url())
    q = url.params
    assert str(url).startswith(cloud.oauth_url + "?")
    assert q["clientId"] == "simappid0001"
    assert q["seq"] == str(int(clock() * 1000))
    assert q["authorization"] == sign("simappsecret0001", f"simappid0001_{q['seq']}")
    assert q["redirectUrl"] == REDIRECT_URL
    assert q["grantType"] == "authorization_code"
    assert re.fullmatch(r"[A-Za-z0-9]{8}", q["nonce"])
    assert "showQRCode" not in q
    states = json.loads((tmp_path / "ewelink_token.json.states").read_text())
    assert q["state"] in states
    # the encoded URL percent-encodes the redirect URL and the base64 signature
    assert "redirectUrl=http%3A%2F%2F127.0.0.1" in str(url)


async def test_qr_code_login_is_asked_only_when_wanted(
    cloud: SimCloud, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    client = make_client(cloud, tmp_path / "ewelink_token.json", http)
    assert httpx.URL(client.auth_url(show_qr_code=True)).params["showQRCode"] == "true"
