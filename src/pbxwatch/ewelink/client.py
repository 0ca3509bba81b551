"""The eWeLink cloud API v2 client (docs/design.md §7): OAuth, tokens, homes, devices, switching.

Library-grade: imports nothing else from pbxwatch. The HTTP client, clock, rate limiter, token file and
OAuth state store are injected; see :class:`EWeLinkClient`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from pbxwatch.ewelink import errors, field_failures, listing
from pbxwatch.ewelink.devices import countdown_params, switch_params
from pbxwatch.ewelink.diagnosis import Diagnosis
from pbxwatch.ewelink.lifecycle import (
    MSG_TOKENS_EXPIRED,
    TokenKeeper,
)
from pbxwatch.ewelink.models import (
    ACCESS_TOKEN_LIFETIME_MS,
    ITEM_OWN,
    ITEM_SHARED,
    REFRESH_TOKEN_LIFETIME_MS,
    CallRecord,
    Device,
    Home,
    TokenSet,
    TokenStatus,
)
from pbxwatch.ewelink.oauth_states import FileStateStore, StateStore
from pbxwatch.ewelink.ratelimit import RateLimiter
from pbxwatch.ewelink.regions import DEFAULT_OAUTH_URL, api_base_url, check_region
from pbxwatch.ewelink.settings import EWeLinkSettingsLike, secret_value
from pbxwatch.ewelink.signing import authorization_signature, encode_body, nonce, sign
from pbxwatch.ewelink.tokens import TokenFile, status_of
from pbxwatch.ewelink.wire import AccessTokenRejected, ErrorMap, Wire

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
#: refresh the access token this long before it expires (it lives 30 days)
REFRESH_MARGIN_S = 86_400.0
PAGE_SIZE = 30
#: an id no look-up finds re-reads the whole device list at most this often (it costs a call per page)
RELIST_AFTER_S = 60.0


class EWeLinkClient:
    """Async client of one eWeLink account, on an injected ``httpx.AsyncClient``.

    Tokens live in ``token_file`` (:class:`TokenFile`); the client re-reads it whenever another process
    rewrote it. A refresh happens before the access token expires and once on 401/402 (then the call is
    replayed once); refreshes are single-flight within the process and, via ``<token file>.lock``, across
    processes. ``on_call`` is told about every request sent (quota counters); ``calls`` counts them.
    """

    def __init__(
        self,
        *,
        app_id: str | None,
        app_secret: str | None,
        redirect_url: str | None,
        token_file: TokenFile | Path | str,
        http: httpx.AsyncClient,
        region: str = "eu",
        api_url: str | None = None,
        oauth_url: str | None = None,
        state_store: StateStore | None = None,
        rate_limiter: RateLimiter | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.time,
        on_call: Callable[[CallRecord], None] | None = None,
        refresh_margin: float = REFRESH_MARGIN_S,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._app_id = app_id
        self._app_secret = app_secret
        self._redirect_url = redirect_url
        tokens_file = token_file if isinstance(token_file, TokenFile) else TokenFile(token_file)
        self._keeper = TokenKeeper(tokens_file, clock, int(refresh_margin * 1000))
        self._region = check_region(region)
        self._api_url = api_url
        self._oauth_url = oauth_url or DEFAULT_OAUTH_URL
        self._states = state_store if state_store is not None else FileStateStore.beside(tokens_file.path, clock=clock)
        self._clock = clock
        self._page_size = page_size
        self._failures = field_failures.FailureFile(tokens_file.path)
        self._diagnosis = Diagnosis(self._failures, self._keeper, self._region)
        self._item_types: dict[str, int] = {}
        self._listed_at = float("-inf")
        self._wire = Wire(http=http, limiter=rate_limiter or RateLimiter(), timeout=timeout, on_call=on_call)

    @classmethod
    def from_settings(cls, settings: EWeLinkSettingsLike, *, http: httpx.AsyncClient, **options: Any) -> EWeLinkClient:
        """Build from ``Settings.ewelink`` (or anything shaped like it); ``options`` go to ``__init__``."""
        return cls(
            app_id=settings.app_id,
            app_secret=secret_value(settings.app_secret),
            redirect_url=settings.redirect_url,
            region=settings.region,
            token_file=settings.token_file,
            api_url=settings.api_url,
            oauth_url=settings.oauth_url,
            http=http,
            **options,
        )

    @property
    def token_file(self) -> TokenFile:
        return self._keeper.file

    @property
    def calls(self) -> int:
        """Requests sent to the cloud by this client so far."""
        return self._wire.calls

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def auth_url(self, *, show_qr_code: bool = False) -> str:
        """The authorization-page URL (docs/design.md §7) with a fresh ``state`` remembered by the state store."""
        app_id, secret, redirect = self._credentials()
        seq = str(self._now_ms())
        query = {
            "clientId": app_id,
            "seq": seq,
            "authorization": authorization_signature(secret, app_id, seq),
            "redirectUrl": redirect,
            "grantType": "authorization_code",
            "state": self._states.issue(),
            "nonce": nonce(),
        }
        if show_qr_code:
            query["showQRCode"] = "true"
        return f"{self._oauth_url}?{urlencode(query)}"

    async def exchange_code(self, code: str, region: str | None = None, state: str | None = None) -> TokenStatus:
        """Exchange the callback's ``code`` for tokens and save them (within 30 s of the login).

        ``region`` is the callback's (default: the configured one). ``state``, when given, must be one this
        installation issued and not yet expired (:class:`InvalidStateError` otherwise)."""
        if state is not None and not self._states.consume(state):
            raise errors.InvalidStateError("unknown or expired OAuth state: open a new authorization URL")
        code = code.strip()
        if not code:
            raise errors.InvalidCodeError("empty OAuth code: copy the code=... value from the callback URL")
        chosen = check_region(region) if region else self._region
        _, _, redirect = self._credentials()
        body = {"code": code, "redirectUrl": redirect, "grantType": "authorization_code"}
        data = await self._signed_post(chosen, "/v2/user/oauth/token", body, {405: errors.InvalidCodeError})
        tokens = self._tokens_from_exchange(data, chosen)
        await self._keeper.save(tokens)
        self._failures.clear()
        log.info("eWeLink tokens obtained for region %s, saved to %s", chosen, self._keeper.file.path)
        note = self._diagnosis.region_note()
        if note:
            log.warning("%s", note.message)
        return status_of(tokens, self._now_ms())

    def _tokens_from_exchange(self, data: Mapping[str, Any], region: str) -> TokenSet:
        at, rt = data.get("accessToken"), data.get("refreshToken")
        at_exp, rt_exp = data.get("atExpiredTime"), data.get("rtExpiredTime")
        if not (
            isinstance(at, str)
            and at
            and isinstance(rt, str)
            and rt
            and isinstance(at_exp, int)
            and isinstance(rt_exp, int)
        ):
            raise errors.UnexpectedResponseError("eWeLink token reply lacks tokens or expiry times")
        return TokenSet(
            access_token=at,
            refresh_token=rt,
            at_expires_ms=at_exp,
            rt_expires_ms=rt_exp,
            region=region,
            obtained_at_ms=self._now_ms(),
        )

    async def refresh(self) -> TokenStatus:
        """Refresh now (single-flight); returns the new status."""
        fresh = await self._keeper.refresh(self._keeper.usable(), self._post_refresh, force=True)
        return status_of(fresh, self._now_ms())

    def token_status(self) -> TokenStatus:
        """valid / expiring / expired / missing (by the refresh token), with expiry times; never a token."""
        return self._keeper.status()

    def reload_tokens(self) -> bool:
        """Re-read the token file if another process rewrote it (inode/mtime); True when it changed.

        Calls do this by themselves; a service may call it to log that new tokens were picked up."""
        return self._keeper.reload()

    def check_tokens_at_start(self) -> TokenStatus:
        """Read the token file at service start; logs the seed message when it is missing or unreadable."""
        return self._keeper.check_at_start()

    async def _post_refresh(self, current: TokenSet, now: int) -> TokenSet:
        rejected = errors.TokensExpiredError
        try:
            data = await self._signed_post(
                current.region,
                "/v2/user/refresh",
                {"rt": current.refresh_token},
                {405: rejected, 401: rejected, 402: rejected},
            )
        except errors.TokensExpiredError as err:
            if current.refresh_expired(now):
                raise
            raise self._diagnosis.revoked(err) from err
        at, rt = data.get("at"), data.get("rt")
        if not isinstance(at, str) or not isinstance(rt, str) or not at or not rt:
            raise errors.UnexpectedResponseError("eWeLink refresh reply lacks at/rt")
        # The reply carries no expiry: computed locally (docs/design.md §7).
        return TokenSet(
            access_token=at,
            refresh_token=rt,
            at_expires_ms=now + ACCESS_TOKEN_LIFETIME_MS,
            rt_expires_ms=now + REFRESH_TOKEN_LIFETIME_MS,
            region=current.region,
            obtained_at_ms=now,
        )

    async def list_homes(self) -> list[Home]:
        """Every home (``GET /v2/family``)."""
        return await listing.list_homes(self._bearer)

    async def list_devices(self) -> list[Device]:
        """Every device of every home, all pages, groups skipped. Remembers each device's
        ``itemType`` for :meth:`get_device`."""
        found: dict[str, Device] = {}
        for home in await self.list_homes():
            for device in await listing.home_devices(self._bearer, home.id, self._page_size):
                found.setdefault(device.id, device)
        for device in found.values():
            self._remember(device)
        self._listed_at = self._clock()
        return list(found.values())

    def _remember(self, device: Device) -> None:
        if device.item_type is not None:
            self._item_types[device.id] = device.item_type

    async def get_device(self, device_id: str) -> Device:
        """One device with its ``online`` flag and switch states (``POST /v2/device/thing``).

        Asked under its remembered ``itemType``; a device not seen yet is asked for as an own and as a shared
        device in one call. When that finds nothing, the device list (every home) is read once, in case
        it was re-shared or moved; then the error names the likely causes."""
        known = self._item_types.get(device_id)
        device = await listing.lookup(self._bearer, device_id, [known] if known else [ITEM_OWN, ITEM_SHARED])
        if device is None and self._clock() - self._listed_at >= RELIST_AFTER_S:
            listed = {d.id: d for d in await self.list_devices()}.get(device_id)
            if listed is not None and listed.item_type not in (None, known):
                device = await listing.lookup(self._bearer, device_id, [listed.item_type]) or listed
            else:
                device = listed
        if device is None:
            raise self._diagnosis.not_visible(device_id)
        self._remember(device)
        return device

    async def set_switch(
        self, device_id: str, on: bool, outlet: int | None = None, *, device: Device | None = None
    ) -> None:
        """Switch a relay (or one outlet of a multi-channel relay, sending the full ``switches`` array).

        ``device``: a fresh read of it, saving a call; otherwise it is read first (offline fails fast)."""
        current = device or await self.get_device(device_id)
        await self._control(current, switch_params(current, on, outlet))

    async def arm_countdown(
        self,
        device_id: str,
        *,
        seconds: float,
        on: bool = True,
        outlet: int | None = None,
        device: Device | None = None,
    ) -> None:
        """Arm the device's own countdown (``timers``, type ``delay``) to switch ``on`` after ``seconds``
        (rounded up to whole minutes) — for docs/design.md §5's ``device_timer`` mode."""
        current = device or await self.get_device(device_id)
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        params = countdown_params(current, seconds=seconds, on=on, outlet=outlet, now=now)
        await self._control(current, params)

    async def _control(self, device: Device, params: dict[str, Any]) -> None:
        if not device.online:
            raise errors.RelayOfflineError(f"relay {device.id} ({device.name}) is offline in eWeLink")
        body = {"type": 1, "id": device.id, "params": params}
        try:
            await self._bearer("POST", "/v2/device/thing/status", body=body)
        except errors.DeviceControlError as err:
            # 4002 = offline, or parameters refused: the device list tells which (docs/design.md §5)
            if not (await self.get_device(device.id)).online:
                raise errors.RelayOfflineError(
                    f"relay {device.id} ({device.name}) is offline in eWeLink",
                    code=err.code,
                    vendor_message=err.vendor_message,
                ) from err
            raise

    def _credentials(self) -> tuple[str, str, str]:
        missing = [
            name
            for name, value in (
                ("app_id", self._app_id),
                ("app_secret", self._app_secret),
                ("redirect_url", self._redirect_url),
            )
            if not value
        ]
        if missing:
            names = ", ".join("ewelink." + m for m in missing)
            raise errors.CredentialsError(f"eWeLink settings missing: {names}")
        assert self._app_id and self._app_secret and self._redirect_url
        return self._app_id, self._app_secret, self._redirect_url

    async def _signed_post(
        self, region: str, path: str, payload: Mapping[str, Any], error_map: ErrorMap
    ) -> dict[str, Any]:
        app_id, secret, _ = self._credentials()
        content = encode_body(payload)  # serialized once: the Sign covers exactly these bytes
        headers = {
            "X-CK-Appid": app_id,
            "X-CK-Nonce": nonce(),
            "Authorization": f"Sign {sign(secret, content)}",
            "Content-Type": "application/json",
        }
        url = api_base_url(region, self._api_url) + path
        try:
            return await self._wire.call("POST", url, path, headers=headers, content=content, error_map=error_map)
        except errors.EWeLinkError as err:
            self._diagnosis.diagnose(err)
            raise

    async def _bearer(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> dict[str, Any]:
        tokens = self._keeper.usable()
        if self._keeper.needs_refresh(tokens):
            tokens = await self._keeper.refresh(tokens, self._post_refresh, force=False)
        try:
            return await self._send_bearer(tokens, method, path, body, params)
        except AccessTokenRejected:
            tokens = await self._keeper.refresh(tokens, self._post_refresh, force=True)
        try:
            return await self._send_bearer(tokens, method, path, body, params)
        except AccessTokenRejected as err:
            log.error(MSG_TOKENS_EXPIRED)  # noqa: TRY400 - the seed line alone; the error goes to the caller
            await self._keeper.mark_dead(tokens, "the cloud rejected the access token right after a refresh")
            raise self._diagnosis.revoked(err) from err

    async def _send_bearer(
        self,
        tokens: TokenSet,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str | int] | None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {tokens.access_token}", "X-CK-Nonce": nonce()}
        content = None
        if body is not None:
            content = encode_body(body)
            headers["Content-Type"] = "application/json"
        url = api_base_url(tokens.region, self._api_url) + path
        try:
            data = await self._wire.call(method, url, path, headers=headers, content=content, params=params)
        except errors.EWeLinkError as err:
            self._diagnosis.diagnose(err)
            raise
        self._failures.clear()
        return data

    def field_failure(self) -> field_failures.FieldFailure | None:
        """The last field failure (APPID expired, logged in elsewhere, region mismatch); None when all is
        well. A region differing from ``ewelink.region`` alone is only logged: pbxwatch uses the tokens'
        region, so it counts as a failure once a relay is not visible."""
        return self._failures.read()
