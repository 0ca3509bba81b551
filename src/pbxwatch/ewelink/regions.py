"""Regional hosts of the eWeLink cloud and its authorization page (docs/design.md §7)."""

from __future__ import annotations

from typing import Final

REGION_API_URLS: Final[dict[str, str]] = {
    "cn": "https://cn-apia.coolkit.cn",
    "as": "https://as-apia.coolkit.cc",
    "us": "https://us-apia.coolkit.cc",
    "eu": "https://eu-apia.coolkit.cc",
}
DEFAULT_OAUTH_URL: Final = "https://c2ccdn.coolkit.cc/oauth/index.html"
REGIONS: Final = tuple(REGION_API_URLS)


def check_region(region: str) -> str:
    """Return ``region`` normalised (lower case) or raise ValueError naming the allowed ones.

    Country codes (``fr``, ``usa``) are a classic mistake (docs/design.md §7)."""
    value = region.strip().lower()
    if value not in REGION_API_URLS:
        raise ValueError(f"unknown eWeLink region {region!r}: use one of {', '.join(REGIONS)}")
    return value


def api_base_url(region: str, override: str | None = None) -> str:
    """The REST base URL for ``region``, or ``override`` (simulator, proxy) when given."""
    if override:
        return override.rstrip("/")
    return REGION_API_URLS[check_region(region)]
