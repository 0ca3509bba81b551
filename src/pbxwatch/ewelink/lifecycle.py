"""Token lifecycle: which tokens to use now, when they changed on disk, and single-flight refresh.

A refresh holds an in-process lock and ``<token file>.lock`` and re-reads the file inside them: when another
task or process refreshed meanwhile, its tokens are adopted instead of spending (and rotating) the refresh
token again — two uncoordinated refreshes would log the account out (docs/design.md §7). The seed's log messages
are written here, verbatim."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from pbxwatch.ewelink import errors
from pbxwatch.ewelink.models import TokenSet, TokenStatus, ms_to_datetime
from pbxwatch.ewelink.tokens import Fingerprint, TokenFile, status_of

log = logging.getLogger(__name__)

# The seed's log messages (docs/design.md §7), verbatim: operators grep for them.
MSG_NO_ACCESS_TOKEN = "Нет access_token для управления устройствами!"  # noqa: S105 - a log message, not a password
MSG_TOKENS_EXPIRED = "Токены истекли, нужна повторная авторизация"
MSG_TOKENS_NOT_LOADED = "Не удалось загрузить токены eWeLink! Авторизация требуется через CLI или callback."

#: sends the refresh request for these tokens at ``now_ms`` and returns the new ones
RefreshCall = Callable[[TokenSet, int], Awaitable[TokenSet]]


class TokenKeeper:
    """The tokens of one token file, as one process sees them."""

    def __init__(self, token_file: TokenFile, clock: Callable[[], float], refresh_margin_ms: int) -> None:
        self.file = token_file
        self._clock = clock
        self._margin_ms = refresh_margin_ms
        self._tokens: TokenSet | None = None
        self._fingerprint: Fingerprint | None = None
        self._lock = asyncio.Lock()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def current(self) -> TokenSet | None:
        """The cached tokens, re-read when the file changed (another process refreshed or logged in)."""
        fingerprint = self.file.fingerprint()
        if fingerprint != self._fingerprint or fingerprint is None:
            self._tokens = self.file.read()
            self._fingerprint = fingerprint
        return self._tokens

    def adopt(self, tokens: TokenSet) -> None:
        self._tokens = tokens
        self._fingerprint = self.file.fingerprint()

    def reload(self) -> bool:
        """Re-read the file if it was rewritten; True when it changed."""
        before = self._fingerprint
        try:
            self.current()
        except errors.TokenFileError:
            return True
        return self._fingerprint != before

    def status(self) -> TokenStatus:
        """valid / expiring / expired / missing (by the refresh token), with expiry times; never a token."""
        try:
            tokens = self.current()
        except errors.TokenFileError as err:
            return status_of(None, self.now_ms(), problem=err.message)
        return status_of(tokens, self.now_ms(), problem=None if tokens else f"no token file {self.file.path}")

    def check_at_start(self) -> TokenStatus:
        status = self.status()
        if status.state == "missing":
            log.error(MSG_TOKENS_NOT_LOADED)
            log.error("eWeLink token file: %s", status.problem)
        elif status.state == "expired":
            log.error(MSG_TOKENS_EXPIRED)
        elif status.state == "expiring":
            log.warning("eWeLink refresh token %s", status.describe())
        return status

    def usable(self) -> TokenSet:
        """Tokens for a device call, or the seed log message and a ReauthorizationRequired error."""
        try:
            tokens = self.current()
        except errors.TokenFileError:
            log.error(MSG_NO_ACCESS_TOKEN)  # noqa: TRY400 - the seed line alone; the error goes to the caller
            raise
        if tokens is None:
            log.error(MSG_NO_ACCESS_TOKEN)
            raise errors.TokenMissingError(f"no eWeLink tokens ({self.file.path} missing): authorize first")
        if tokens.dead or tokens.refresh_expired(self.now_ms()):
            log.error(MSG_TOKENS_EXPIRED)
            why = f" ({tokens.dead})" if tokens.dead else ""
            raise errors.TokensExpiredError(f"eWeLink tokens expired{why}: authorize again")
        return tokens

    def needs_refresh(self, tokens: TokenSet) -> bool:
        return tokens.access_expired(self.now_ms(), self._margin_ms)

    async def save(self, tokens: TokenSet) -> None:
        """Write new tokens (a code exchange) under the lock."""
        async with self.file.locked():
            self.file.write(tokens)
        self.adopt(tokens)

    async def refresh(self, stale: TokenSet, post: RefreshCall, *, force: bool) -> TokenSet:
        """Refresh ``stale`` unless someone else already did; ``force`` after a 401/402."""
        async with self._lock, self.file.locked():
            current = self.file.read()  # inside the lock: another process may have refreshed
            now = self.now_ms()
            if current is None:
                log.error(MSG_NO_ACCESS_TOKEN)
                raise errors.TokenMissingError(f"eWeLink token file {self.file.path} disappeared")
            still_fresh = not current.access_expired(now, self._margin_ms)
            if still_fresh and (current.access_token != stale.access_token or not force):
                self.adopt(current)
                return current
            if current.dead or current.refresh_expired(now):
                log.error(MSG_TOKENS_EXPIRED)
                raise errors.TokensExpiredError("eWeLink refresh token expired: authorize again")
            try:
                fresh = await post(current, now)
            except errors.TokensExpiredError as err:
                log.error(MSG_TOKENS_EXPIRED)  # noqa: TRY400 - the seed line alone; the error goes to the caller
                self._bury(current, f"the cloud refused the refresh token{_cloud_words(err)}")
                raise
            # the cloud has rotated the pair: the new one is on disk (atomically) before anyone uses it
            self.file.write(fresh)
            self.adopt(fresh)
            log.info("eWeLink access token refreshed (region %s)", fresh.region)
            return fresh

    async def mark_dead(self, rejected: TokenSet, reason: str) -> None:
        """Record in the token file that the cloud proved ``rejected`` dead, unless the file meanwhile holds
        other tokens (a new login, another process's refresh)."""
        async with self._lock, self.file.locked():
            current = self.file.read()
            if current is not None and current.refresh_token == rejected.refresh_token:
                self._bury(current, reason)

    def _bury(self, tokens: TokenSet, reason: str) -> None:
        """Write the dead mark (the caller holds the lock); every status reader shows `expired` from now."""
        when = ms_to_datetime(self.now_ms()).strftime("%Y-%m-%d %H:%M UTC")
        dead = replace(tokens, dead=f"{reason}, {when}")
        self.file.write(dead)
        self.adopt(dead)
        log.error("eWeLink tokens are dead: %s; authorize again (GET /ewelink-auth-url)", reason)


def _cloud_words(err: errors.EWeLinkError) -> str:
    """`` (error 405: can't find the account with this rt!)`` — the cloud's own answer."""
    parts = [
        f"HTTP {err.http_status}" if err.http_status not in (None, 200) else "",
        f"error {err.code}" if err.code else "",
    ]
    said = " / ".join(p for p in parts if p)
    if err.vendor_message:
        said = f"{said}: {err.vendor_message}" if said else err.vendor_message
    return f" ({said})" if said else ""
