"""No token or app secret in logs (at DEBUG), stdout/stderr or exception text; the seed's log messages."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pbxwatch.ewelink import (
    MSG_NO_ACCESS_TOKEN,
    MSG_TOKENS_EXPIRED,
    MSG_TOKENS_NOT_LOADED,
    EWeLinkError,
    QuotaExceededError,
    TokenFile,
    TokenFileError,
    TokensExpiredError,
)
from pbxwatch.sim.cloud import SimCloud
from tests.cloud_fixtures import MULTI_ID, SINGLE_ID, FakeClock, authorize, make_client

DAY = 86_400.0


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Everything (pbxwatch, httpx, httpcore, uvicorn) at DEBUG into a plain, unredacted file."""
    path = tmp_path / "debug.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "uvicorn", "uvicorn.error")}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in noisy:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_level)
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)


def _remember(token_file: Path, seen: set[str]) -> None:
    if token_file.exists():
        data = json.loads(token_file.read_text())
        seen.update({data["accessToken"], data["refreshToken"]})


async def test_full_flow_at_debug_leaks_no_token(
    cloud: SimCloud,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
    debug_log: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    token_file = tmp_path / "ewelink_token.json"
    client = make_client(cloud, token_file, http, clock=clock)
    seen: set[str] = set()
    texts: list[str] = []
    await authorize(client, http)
    _remember(token_file, seen)
    await client.list_devices()
    await client.set_switch(MULTI_ID, False, outlet=1)
    cloud.state.revoke_access_tokens()
    await client.set_switch(SINGLE_ID, True)  # 401 -> refresh -> replay
    _remember(token_file, seen)
    clock.advance(30 * DAY)
    await client.list_homes()  # proactive refresh
    _remember(token_file, seen)
    texts += [repr(client.token_status()), client.token_status().describe(), repr(TokenFile(token_file).read())]
    cloud.config.quota = 0
    failures: list[EWeLinkError] = []
    with pytest.raises(QuotaExceededError) as quota:
        await client.list_homes()
    failures.append(quota.value)
    cloud.config.quota = None
    cloud.state.revoke_access_tokens()
    cloud.state.expire_tokens(refresh=True)
    with pytest.raises(TokensExpiredError) as expired:
        await client.list_homes()
    failures.append(expired.value)
    token_file.write_text(token_file.read_text()[:-20])  # half-written
    with pytest.raises(TokenFileError) as corrupt:
        await client.list_homes()
    failures.append(corrupt.value)
    for err in failures:
        texts += [str(err), repr(err), repr(err.args), str(err.__cause__), str(err.vendor_message)]
    for grant in cloud.state.grants:
        seen.update({grant.access, grant.refresh})
    seen |= cloud.state.used_refresh
    seen.add(cloud.config.app_secret)
    out, err = capfd.readouterr()
    log_text = debug_log.read_text(encoding="utf-8")
    assert "GET /v2/family" in log_text or "/v2/family" in log_text  # the log did record the flow
    assert len(seen) >= 7
    for secret in seen:
        assert secret not in log_text
        assert secret not in out + err
        assert all(secret not in text for text in texts)


async def test_seed_messages_are_logged_verbatim(
    cloud: SimCloud, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_file = tmp_path / "ewelink_token.json"
    client = make_client(cloud, token_file, http, clock=clock)
    client.check_tokens_at_start()
    with pytest.raises(EWeLinkError):
        await client.set_switch(SINGLE_ID, False)
    await authorize(client, http)
    clock.advance(61 * DAY)
    with pytest.raises(TokensExpiredError):
        await client.set_switch(SINGLE_ID, False)
    ours = [(r.name, r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("pbxwatch.ewelink")]
    assert (
        "pbxwatch.ewelink.lifecycle",
        "ERROR",
        "Не удалось загрузить токены eWeLink! Авторизация требуется через CLI или callback.",
    ) in ours
    assert ("pbxwatch.ewelink.lifecycle", "ERROR", "Нет access_token для управления устройствами!") in ours
    assert ("pbxwatch.ewelink.lifecycle", "ERROR", "Токены истекли, нужна повторная авторизация") in ours
    assert (MSG_NO_ACCESS_TOKEN, MSG_TOKENS_EXPIRED, MSG_TOKENS_NOT_LOADED) == (
        "Нет access_token для управления устройствами!",
        "Токены истекли, нужна повторная авторизация",
        "Не удалось загрузить токены eWeLink! Авторизация требуется через CLI или callback.",
    )
