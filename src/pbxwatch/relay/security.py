"""The relay API token (docs/design.md §6) and the rule against listening off-loopback without one."""

from __future__ import annotations

import ipaddress
import secrets

from pbxwatch.relay.errors import Unauthorized


class BindRefused(Exception):
    """The service would listen on a non-loopback address without an API token."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a DNS name may resolve anywhere: treat as exposed


def check_bind(host: str, api_token: str | None) -> None:
    if api_token is None and not is_loopback(host):
        raise BindRefused(
            f"refusing to listen on {host} without an API token: set PBXWATCH_RELAY_API_TOKEN "
            "(relay.api_token) or bind to 127.0.0.1"
        )


def check_bearer(authorization: str | None, api_token: str | None) -> None:
    """Raise `Unauthorized` unless no token is configured or `Authorization: Bearer <token>` matches."""
    if api_token is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), api_token.encode()):
        raise Unauthorized("missing or wrong API token (send Authorization: Bearer <token>)")
