"""The eWeLink client's exception tree, ordered by what the caller does next.

::

    EWeLinkError                      anything this package raises; `.code` = vendor code, `.vendor_message`
    ├── CloudTransientError           retry later (back off): the cloud is unreachable or struggling
    │   ├── CloudUnreachableError     connection refused / reset / dropped mid-reply
    │   ├── CloudTimeoutError         no answer within the call's timeout
    │   ├── CloudOverloadedError      HTTP 5xx, an HTML "503 Service Temporarily Unavailable", error 500
    │   └── CloudRateLimitedError     the cloud refused a call as too frequent
    ├── CallBudgetExceeded            nothing sent: this client's own budget cannot send it in time
    ├── ReauthorizationRequired       a person must authorize again (auth URL -> code -> exchange)
    │   ├── TokenMissingError         no token file yet
    │   ├── TokenFileError            the token file is corrupt, half-written or unreadable
    │   ├── TokensExpiredError        the refresh token expired or was rejected (405 / 401 after a refresh)
    │   │   └── TokensRevokedError    rejected before its expiry: the account logged in from another place
    │   └── InvalidCodeError          the OAuth code is expired, reused or unknown (405 "invalid code")
    ├── RelayOfflineError             the relay is offline in the cloud (online=false, 4002 while offline)
    ├── QuotaExceededError            the APPID's monthly quota is spent (error 412 or HTTP 403): wait
    └── PermanentError                fix something, retrying will not help
        ├── DeviceNotFoundError       no such device in the account
        ├── DeviceControlError        4002 while the relay is online: the parameters were refused
        ├── CredentialsError          APPID / secret / redirect URL rejected or missing (406, 407)
        ├── InvalidStateError         an OAuth `state` pbxwatch did not issue, or one that expired
        └── UnexpectedResponseError   a reply that does not follow the protocol

Messages never contain a token or the app secret.
"""

from __future__ import annotations


class EWeLinkError(Exception):
    """Base of every error raised by :mod:`pbxwatch.ewelink`.

    ``code`` is the vendor's JSON ``error`` code (``None`` when the failure is not a vendor reply) and
    ``vendor_message`` the vendor's ``msg``; ``http_status`` is the HTTP status of the reply, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        vendor_message: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.vendor_message = vendor_message
        self.http_status = http_status


class CloudTransientError(EWeLinkError):
    """Retry later: the cloud could not be reached or is struggling."""


class CloudUnreachableError(CloudTransientError):
    """The connection failed or was dropped."""


class CloudTimeoutError(CloudTransientError):
    """No answer within the call's timeout."""


class CloudOverloadedError(CloudTransientError):
    """HTTP 5xx, an HTML 503 page, or vendor error 500."""


class CloudRateLimitedError(CloudTransientError):
    """The cloud refused the call as too frequent (per-IP limits of the notes, §7)."""


class CallBudgetExceeded(EWeLinkError):
    """The client-side call budget cannot send this call within the caller's wait bound; nothing was sent.

    ``retry_after``: whole seconds until the budget could serve it (as things stand now)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ReauthorizationRequired(EWeLinkError):
    """A person must authorize pbxwatch again: open the auth URL, then exchange the new code."""


class TokenMissingError(ReauthorizationRequired):
    """There is no token file yet."""


class TokenFileError(ReauthorizationRequired):
    """The token file exists but cannot be used (corrupt, half-written, unreadable)."""


class TokensExpiredError(ReauthorizationRequired):
    """The refresh token expired or the cloud rejected it."""


class TokensRevokedError(TokensExpiredError):
    """The cloud rejected tokens that had not expired: revoked by a login of the same account elsewhere."""


class InvalidCodeError(ReauthorizationRequired):
    """The OAuth code is expired (it lives 30 s), already used or unknown."""


class RelayOfflineError(EWeLinkError):
    """The relay is offline in the cloud; nothing can switch it until it reconnects."""


class QuotaExceededError(EWeLinkError):
    """The APPID's call quota is spent (vendor error 412 or HTTP 403); it resets next month."""


class PermanentError(EWeLinkError):
    """Retrying the same request will not help."""


class DeviceNotFoundError(PermanentError):
    """The device id is not in the authorized account."""


class DeviceControlError(PermanentError):
    """The cloud refused the control parameters (4002 while the relay is online)."""


class CredentialsError(PermanentError):
    """The APPID, app secret or redirect URL is missing or was rejected (406 / 407)."""


class InvalidStateError(PermanentError):
    """An OAuth ``state`` that pbxwatch did not issue, or that expired."""


class UnexpectedResponseError(PermanentError):
    """The cloud answered something that does not follow the protocol."""
