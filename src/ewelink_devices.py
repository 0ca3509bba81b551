"""Seed-compatible facade for the operator one-liners of the runbook (docs/design.md §7), unchanged::

    python3 -c "from ewelink_devices import EWeLinkDevices; print(EWeLinkDevices().generate_oauth_url())"
    python3 -c "from ewelink_devices import EWeLinkDevices; EWeLinkDevices().exchange_oauth_code('CODE', region='eu')"

Settings come from pbxwatch's configuration (``PBXWATCH_CONFIG`` / ``./pbxwatch.toml`` / environment). The
first prints only the URL; the second saves the token file (the running relay service picks it up at once)
or prints one line on stderr and exits 1. Log lines go to ``ewelink_service.log`` (appended, secrets redacted).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

import httpx

from pbxwatch.config import ConfigError, Settings, load_settings
from pbxwatch.ewelink import EWeLinkClient, EWeLinkError, InvalidCodeError, TokenStatus

log = logging.getLogger("pbxwatch.ewelink.oneliner")

__all__ = ["EWeLinkDevices"]


def _die(message: str) -> NoReturn:
    """One clear line on stderr, exit status 1 — never a traceback in an operator's terminal."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(1)


def _settings(config_file: str | Path | None) -> Settings:
    try:
        settings = load_settings(Path(config_file) if config_file else None)
        settings.require_ewelink_app()
    except ConfigError as err:
        _die(" / ".join(str(err).splitlines()))
    return settings


def _log_to_service_file(settings: Settings) -> None:
    from pbxwatch.logs import setup_logging

    try:
        setup_logging(settings, "relay", owner=False, stderr=False)
    except OSError as err:  # an unwritable log dir must not stop an operator from authorizing
        sys.stderr.write(f"warning: cannot write {settings.log_dir}: {err.strerror}\n")


class EWeLinkDevices:
    """The seed's class name and methods, on :class:`pbxwatch.ewelink.EWeLinkClient`."""

    def __init__(self, config_file: str | Path | None = None) -> None:
        self.settings = _settings(config_file)
        _log_to_service_file(self.settings)

    def _client(self, http: httpx.AsyncClient) -> EWeLinkClient:
        return EWeLinkClient.from_settings(self.settings.ewelink, http=http)

    def generate_oauth_url(self) -> str:
        """The authorization-page URL (with a ``state`` the relay service's callback will accept)."""

        async def build() -> str:
            async with httpx.AsyncClient() as http:
                return self._client(http).auth_url()

        try:
            return asyncio.run(build())
        except (EWeLinkError, OSError) as err:
            _die(str(err))

    def exchange_oauth_code(self, code: str, region: str = "eu", state: str | None = None) -> bool:
        """Exchange the ``code`` from the callback URL for tokens and save ``ewelink_token.json``.

        On failure prints one line on stderr and exits 1 (the common case: the code lives 30 seconds)."""
        try:
            status = asyncio.run(self._exchange(code, region, state))
        except InvalidCodeError as err:
            log.error("eWeLink code exchange failed: %s", err)  # noqa: TRY400 - one line, no traceback
            _die(f"{err} — the code lives 30 seconds: open a new authorization URL and paste the new code fast")
        except EWeLinkError as err:
            log.error("eWeLink code exchange failed: %s", err)  # noqa: TRY400 - one line, no traceback
            _die(str(err))
        except (ValueError, OSError) as err:
            _die(str(err))
        sys.stdout.write(f"eWeLink tokens saved to {self.settings.ewelink.token_file}: {status.describe()}\n")
        return True

    async def _exchange(self, code: str, region: str, state: str | None) -> TokenStatus:
        async with httpx.AsyncClient() as http:
            return await self._client(http).exchange_code(code, region=region, state=state)

    def token_status(self) -> dict[str, Any]:
        """valid / expiring / expired / missing, with expiry times (never the tokens)."""

        async def read() -> TokenStatus:
            async with httpx.AsyncClient() as http:
                return self._client(http).token_status()

        status = asyncio.run(read())
        return {
            "state": status.state,
            "detail": status.describe(),
            "region": status.region,
            "refresh_expires_at": status.refresh_expires_at.isoformat() if status.refresh_expires_at else None,
        }
