"""The relay service's error tree, ordered by what the HTTP caller does next (docs/design.md §6).

    RelayError                      every failure the API reports: `code`, `http_status`, `cloud_code`
    ├── NotAuthorized               no eWeLink token, or tokens expired / revoked        → 503
    │   ├── NoToken
    │   ├── TokensExpired
    │   └── NotConfigured           the eWeLink app settings are missing
    ├── Unauthorized                relay API token missing or wrong                     → 401
    ├── InvalidState                OAuth callback `state` not issued by pbxwatch        → 400
    ├── InvalidCode                 OAuth code expired, reused or unknown                → 400
    ├── InvalidRequest              a parameter the schema cannot reject (e.g. unknown unit) → 422
    ├── NotFound                    device not in the account, unknown unit or cycle     → 404
    ├── Conflict                    relay offline, or a cycle already running on it      → 409
    │   ├── RelayOffline
    │   └── CycleRunning
    ├── QuotaExceeded               cloud quota exhausted (412 / HTTP 403)               → 429
    │   └── BudgetExceeded          the call budget cannot serve it in time (Retry-After)
    ├── CloudUnavailable            cloud unreachable, 5xx, overloaded, refused the call → 502
    │   └── CloudRejected           app credentials refused, a reply off the protocol
    └── CloudTimeout                the cloud did not answer in time                     → 504

One FastAPI handler (`app.py`) turns any of these into `{"error", "message", "cloud_code"}`.
"""

from __future__ import annotations


class RelayError(Exception):
    code = "relay_error"
    http_status = 500

    def __init__(self, message: str, *, cloud_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cloud_code = cloud_code


class NotAuthorized(RelayError):
    code = "ewelink_not_authorized"
    http_status = 503


class NoToken(NotAuthorized):
    """There is no eWeLink token at all (or the token file is unusable)."""


class TokensExpired(NotAuthorized):
    """Access and refresh tokens are expired or were rejected by the cloud."""

    code = "ewelink_tokens_expired"


class Unauthorized(RelayError):
    """The relay API token is missing or wrong (only when `relay.api_token` is configured)."""

    code = "unauthorized"
    http_status = 401


class NotConfigured(NotAuthorized):
    """The eWeLink developer app (app_id, app_secret, redirect_url) is not configured."""

    code = "ewelink_not_configured"


class InvalidState(RelayError):
    """An OAuth `state` pbxwatch did not issue, or one that expired."""

    code = "invalid_state"
    http_status = 400


class InvalidCode(RelayError):
    """The OAuth code is expired (it lives 30 s), already used or unknown."""

    code = "invalid_code"
    http_status = 400


class InvalidRequest(RelayError):
    code = "invalid_request"
    http_status = 422


class NotFound(RelayError):
    code = "not_found"
    http_status = 404


class Conflict(RelayError):
    code = "conflict"
    http_status = 409


class RelayOffline(Conflict):
    code = "relay_offline"


class CycleRunning(Conflict):
    code = "cycle_running"


class QuotaExceeded(RelayError):
    code = "cloud_quota_exceeded"
    http_status = 429


class BudgetExceeded(QuotaExceeded):
    """The eWeLink call budget (per-IP rate limits) cannot serve this request within the caller's wait
    bound (`relay.caller_wait`); nothing was sent. `retry_after`: seconds, for the `Retry-After` header."""

    code = "call_budget_exceeded"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CloudUnavailable(RelayError):
    code = "cloud_unavailable"
    http_status = 502


class CloudRejected(CloudUnavailable):
    """The cloud refused the call for a reason retrying will not fix (credentials, protocol)."""

    code = "cloud_rejected"


class CloudTimeout(RelayError):
    code = "cloud_timeout"
    http_status = 504
