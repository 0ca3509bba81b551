"""Wire level: one HTTP call to the cloud, its envelope, and vendor errors translated once.

The response envelope is ``{"error": int, "msg": str, "data": {...}}`` with HTTP 200 even on most failures
(docs/design.md §7); quota may surface as HTTP 403 and overload as an HTML 503 page."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from pbxwatch.ewelink import errors
from pbxwatch.ewelink.models import CallRecord
from pbxwatch.ewelink.ratelimit import RateLimiter

log = logging.getLogger(__name__)

ErrorMap = Mapping[int, type[errors.EWeLinkError]]

#: vendor code -> exception, for codes whose meaning does not depend on the endpoint (docs/design.md §7)
VENDOR_ERRORS: dict[int, type[errors.EWeLinkError]] = {
    400: errors.PermanentError,
    403: errors.PermanentError,
    405: errors.DeviceNotFoundError,
    406: errors.CredentialsError,
    407: errors.CredentialsError,
    412: errors.QuotaExceededError,
    500: errors.CloudOverloadedError,
    4002: errors.DeviceControlError,
    30018: errors.DeviceNotFoundError,
    30022: errors.RelayOfflineError,
}
ACCESS_TOKEN_CODES = frozenset({401, 402})


class AccessTokenRejected(errors.ReauthorizationRequired):
    """401/402 on a Bearer call: the client refreshes once and replays (never escapes the client)."""


@dataclass
class Wire:
    """Sends one request with the rate limiter and timeout, returns the envelope's ``data``."""

    http: httpx.AsyncClient
    limiter: RateLimiter
    timeout: float
    on_call: Callable[[CallRecord], None] | None = None
    _calls: int = field(default=0, init=False)

    @property
    def calls(self) -> int:
        """How many requests this client sent to the cloud (for quota counters)."""
        return self._calls

    async def call(
        self,
        method: str,
        url: str,
        path: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        error_map: ErrorMap | None = None,
    ) -> dict[str, Any]:
        await self.limiter.acquire()
        self._calls += 1
        try:
            reply = await self._send(method, url, headers=headers, content=content, params=params)
            data = parse_reply(reply, path, error_map or {})
        except errors.EWeLinkError as err:
            self._record(method, path, err.http_status, err.code, type(err).__name__)
            raise
        self._record(method, path, reply.status_code, 0, "ok")
        return data

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None,
        params: Mapping[str, str | int] | None,
    ) -> httpx.Response:
        try:
            return await self.http.request(
                method, url, headers=dict(headers), content=content, params=params, timeout=self.timeout
            )
        except httpx.TimeoutException as err:
            raise errors.CloudTimeoutError(
                f"eWeLink cloud did not answer {method} {_path_of(url)} within {self.timeout:g} s"
            ) from err
        except httpx.HTTPError as err:
            raise errors.CloudUnreachableError(
                f"eWeLink cloud unreachable ({method} {_path_of(url)}): {type(err).__name__}"
            ) from err

    def _record(self, method: str, path: str, status: int | None, code: int | None, outcome: str) -> None:
        log.debug("eWeLink %s %s -> HTTP %s, error %s (%s)", method, path, status, code, outcome)
        if self.on_call is not None:
            self.on_call(CallRecord(method=method, path=path, http_status=status, code=code, outcome=outcome))


def _path_of(url: str) -> str:
    return httpx.URL(url).path


def parse_reply(reply: httpx.Response, path: str, error_map: ErrorMap) -> dict[str, Any]:
    """Translate one HTTP reply into ``data`` or the matching exception."""
    status = reply.status_code
    if status == 403:
        raise errors.QuotaExceededError(f"eWeLink quota exhausted (HTTP 403 on {path})", http_status=status)
    if status == 429:
        raise errors.CloudRateLimitedError(f"eWeLink rate limit hit (HTTP 429 on {path})", http_status=status)
    if status >= 500:
        kind = "HTML page" if "html" in reply.headers.get("content-type", "") else "reply"
        raise errors.CloudOverloadedError(
            f"eWeLink cloud overloaded: HTTP {status} {kind} on {path}", http_status=status
        )
    try:
        body = json.loads(reply.content)
    except ValueError:
        raise errors.UnexpectedResponseError(
            f"eWeLink {path}: HTTP {status} with a non-JSON body", http_status=status
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("error"), int):
        raise errors.UnexpectedResponseError(f"eWeLink {path}: reply without an error code", http_status=status)
    code: int = body["error"]
    if code == 0:
        data = body.get("data")
        return data if isinstance(data, dict) else {}
    raise vendor_error(code, str(body.get("msg", "")), path, status, error_map)


def vendor_error(code: int, msg: str, path: str, status: int, error_map: ErrorMap) -> errors.EWeLinkError:
    """The exception for vendor ``code`` (endpoint-specific ``error_map`` first)."""
    text = f"eWeLink {path}: error {code} {msg!r}" if msg else f"eWeLink {path}: error {code}"
    if code in ACCESS_TOKEN_CODES and code not in error_map:
        return AccessTokenRejected(text, code=code, vendor_message=msg, http_status=status)
    kind = error_map.get(code) or VENDOR_ERRORS.get(code, errors.PermanentError)
    return kind(text, code=code, vendor_message=msg, http_status=status)
