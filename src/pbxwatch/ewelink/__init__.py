"""Library-grade client of the eWeLink (CoolKit) cloud API v2 — imports nothing else from pbxwatch.

Typical use::

    async with httpx.AsyncClient() as http:
        client = EWeLinkClient.from_settings(settings.ewelink, http=http)
        print(client.auth_url())                      # a person logs in; the callback brings code + region
        await client.exchange_code(code, region="eu", state=state)
        for device in await client.list_devices():
            ...
        await client.set_switch("1000abcdef", on=False, outlet=None)

Errors: see :mod:`pbxwatch.ewelink.errors` (a tree ordered by what the caller does next).
Seed log messages (docs/design.md §7) are logged on ``pbxwatch.ewelink.lifecycle`` (under ``pbxwatch.ewelink``).
"""

from pbxwatch.ewelink.client import EWeLinkClient
from pbxwatch.ewelink.errors import (
    CallBudgetExceeded,
    CloudOverloadedError,
    CloudRateLimitedError,
    CloudTimeoutError,
    CloudTransientError,
    CloudUnreachableError,
    CredentialsError,
    DeviceControlError,
    DeviceNotFoundError,
    EWeLinkError,
    InvalidCodeError,
    InvalidStateError,
    PermanentError,
    QuotaExceededError,
    ReauthorizationRequired,
    RelayOfflineError,
    TokenFileError,
    TokenMissingError,
    TokensExpiredError,
    TokensRevokedError,
    UnexpectedResponseError,
)
from pbxwatch.ewelink.field_failures import FailureFile, FieldFailure
from pbxwatch.ewelink.lifecycle import MSG_NO_ACCESS_TOKEN, MSG_TOKENS_EXPIRED, MSG_TOKENS_NOT_LOADED
from pbxwatch.ewelink.models import CallRecord, Device, Home, Outlet, TokenSet, TokenState, TokenStatus
from pbxwatch.ewelink.oauth_states import FileStateStore, MemoryStateStore, StateStore
from pbxwatch.ewelink.ratelimit import (
    CallPriority,
    RateLimiter,
    call_budget,
    call_priority,
    spend_wait,
    wait_left,
)
from pbxwatch.ewelink.regions import DEFAULT_OAUTH_URL, REGION_API_URLS, REGIONS, api_base_url, check_region
from pbxwatch.ewelink.settings import EWeLinkSettingsLike
from pbxwatch.ewelink.signing import authorization_signature, encode_body, sign
from pbxwatch.ewelink.tokens import TokenFile, status_of

__all__ = [
    "DEFAULT_OAUTH_URL",
    "MSG_NO_ACCESS_TOKEN",
    "MSG_TOKENS_EXPIRED",
    "MSG_TOKENS_NOT_LOADED",
    "REGIONS",
    "REGION_API_URLS",
    "CallBudgetExceeded",
    "CallPriority",
    "CallRecord",
    "CloudOverloadedError",
    "CloudRateLimitedError",
    "CloudTimeoutError",
    "CloudTransientError",
    "CloudUnreachableError",
    "CredentialsError",
    "Device",
    "DeviceControlError",
    "DeviceNotFoundError",
    "EWeLinkClient",
    "EWeLinkError",
    "EWeLinkSettingsLike",
    "FailureFile",
    "FieldFailure",
    "FileStateStore",
    "Home",
    "InvalidCodeError",
    "InvalidStateError",
    "MemoryStateStore",
    "Outlet",
    "PermanentError",
    "QuotaExceededError",
    "RateLimiter",
    "ReauthorizationRequired",
    "RelayOfflineError",
    "StateStore",
    "TokenFile",
    "TokenFileError",
    "TokenMissingError",
    "TokenSet",
    "TokenState",
    "TokenStatus",
    "TokensExpiredError",
    "TokensRevokedError",
    "UnexpectedResponseError",
    "api_base_url",
    "authorization_signature",
    "call_budget",
    "call_priority",
    "check_region",
    "encode_body",
    "sign",
    "spend_wait",
    "status_of",
    "wait_left",
]
