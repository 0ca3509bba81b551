"""What :meth:`pbxwatch.ewelink.client.EWeLinkClient.from_settings` reads from a settings object."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class EWeLinkSettingsLike(Protocol):
    """What :meth:`EWeLinkClient.from_settings` reads (pbxwatch's ``Settings.ewelink`` fits)."""

    @property
    def app_id(self) -> str | None: ...
    @property
    def app_secret(self) -> Any: ...  # a str, or a pydantic SecretStr
    @property
    def redirect_url(self) -> str | None: ...
    @property
    def region(self) -> str: ...
    @property
    def token_file(self) -> Path: ...
    @property
    def api_url(self) -> str | None: ...
    @property
    def oauth_url(self) -> str | None: ...


def secret_value(value: Any) -> str | None:
    """A plain string from a str or a pydantic ``SecretStr`` (duck-typed: this package imports no pydantic)."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if callable(getter) else str(value)
