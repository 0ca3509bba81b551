"""Two processes refreshing at once: exactly one refresh reaches the cloud, both end with working tokens,
and the refresh token that was rotated away is rejected (the `<token file>.lock` protocol of docs/design.md §7)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from pbxwatch.sim.cloud import SimCloud
from tests.cloud_fixtures import REDIRECT_URL, FakeClock, authorize, make_client

WORKER = r"""
import asyncio, json, os, pathlib, sys
import httpx
from pbxwatch.ewelink import EWeLinkClient, RateLimiter

async def main() -> None:
    token_file, api_url, go = sys.argv[1:4]
    print("ready", flush=True)
    while not pathlib.Path(go).exists():
        await asyncio.sleep(0.005)
    async with httpx.AsyncClient() as http:
        client = EWeLinkClient(app_id=os.environ["SIM_APP_ID"], app_secret=os.environ["SIM_APP_SECRET"],
                               redirect_url=os.environ["SIM_REDIRECT"], token_file=token_file, http=http,
                               api_url=api_url, rate_limiter=RateLimiter(min_interval=0))
        devices = await client.list_devices()
        homes = await client.list_homes()
        print(json.dumps({"devices": len(devices), "homes": len(homes), "state": client.token_status().state}))

asyncio.run(main())
"""


async def _race(cloud: SimCloud, token_file: Path, tmp_path: Path) -> list[dict[str, object]]:
    go = tmp_path / "go"
    env = {
        **os.environ,
        "SIM_APP_ID": cloud.config.app_id,
        "SIM_APP_SECRET": cloud.config.app_secret,
        "SIM_REDIRECT": REDIRECT_URL,
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            str(token_file),
            cloud.url,
            str(go),
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
    go.touch()
    results = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def _post_refresh(cloud: SimCloud, rt: str) -> dict[str, object]:
    body = json.dumps({"rt": rt}, separators=(",", ":")).encode()
    sig = base64.b64encode(hmac.new(cloud.config.app_secret.encode(), body, hashlib.sha256).digest()).decode()
    reply = httpx.post(
        f"{cloud.url}/v2/user/refresh",
        content=body,
        headers={"X-CK-Appid": cloud.config.app_id, "Authorization": f"Sign {sig}", "Content-Type": "application/json"},
    )
    result: dict[str, object] = reply.json()
    return result


@pytest.mark.parametrize("why", ["expired_in_file", "rejected_by_cloud"])
async def test_two_processes_refresh_once(
    why: str, cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    token_file = tmp_path / "ewelink_token.json"
    await authorize(make_client(cloud, token_file, http, clock=clock), http)
    stored = json.loads(token_file.read_text())
    if why == "expired_in_file":
        stored["atExpiredTime"] = 1_000  # both see an expired access token and refresh before calling
        token_file.write_text(json.dumps(stored))
    else:
        cloud.state.revoke_access_tokens()  # both get 401 and refresh after it
    results = await _race(cloud, token_file, tmp_path)
    assert results == [{"devices": 3, "homes": 1, "state": "valid"}] * 2
    assert len(cloud.requests("/v2/user/refresh")) == 1
    assert cloud.state.refreshes == 1
    final = json.loads(token_file.read_text())
    assert final["refreshToken"] != stored["refreshToken"]
    stale = await asyncio.to_thread(_post_refresh, cloud, stored["refreshToken"])
    assert stale["error"] == 405
    assert stale["msg"] == "can't find the account with this rt!"
    assert await make_client(cloud, token_file, http, clock=clock).list_homes()
