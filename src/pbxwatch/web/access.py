"""Who may see and change what on the dashboard.

- Changing anything needs a session: the login form takes the relay API token and sets an HttpOnly,
  SameSite=Strict cookie; every form that changes state carries a CSRF token bound to that session.
- Read-only pages are open while the service listens on loopback; on any other address every page
  needs the session too.
- Without `relay.api_token` nobody can log in, so the dashboard changes nothing (it stays read-only).

The cookie is `<issued>.<nonce>.<signature>`, signed with a key derived from the API token: changing the
token ends every session, and nothing is stored server-side.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request

from pbxwatch.config import Settings
from pbxwatch.relay.security import is_loopback

COOKIE = "pbxwatch_session"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    nonce: str
    csrf: str


class Access:
    def __init__(self, settings: Settings) -> None:
        token = settings.relay.api_token
        self._token = token.get_secret_value() if token else None
        secret = (self._token or secrets.token_hex(32)).encode()
        self._key = hmac.new(secret, b"pbxwatch dashboard session v1", hashlib.sha256).digest()
        self._exposed = not is_loopback(settings.relay.host)

    def pages_need_login(self, request: Request) -> bool:
        """True on a non-loopback bind, and for a connection that reached a non-loopback local address."""
        server = request.scope.get("server")
        return self._exposed or (server is not None and not is_loopback(str(server[0])))

    @property
    def can_log_in(self) -> bool:
        return self._token is not None

    def check_token(self, given: str) -> bool:
        if self._token is None:
            return False
        return secrets.compare_digest(given.strip().encode(), self._token.encode())

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def new_cookie(self) -> str:
        body = f"{int(time.time())}.{secrets.token_hex(16)}"
        return f"{body}.{self._sign(body)}"

    def session(self, request: Request) -> Session | None:
        """The valid, unexpired session of this request, or None."""
        if not self.can_log_in:
            return None
        issued, _, rest = request.cookies.get(COOKIE, "").partition(".")
        nonce, _, signature = rest.partition(".")
        if not (issued.isdigit() and nonce and signature):
            return None
        if not secrets.compare_digest(signature.encode(), self._sign(f"{issued}.{nonce}").encode()):
            return None
        if time.time() - int(issued) > SESSION_SECONDS:
            return None
        return Session(nonce, self._sign(f"csrf.{nonce}")[:40])

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode(), session.csrf.encode())


def safe_next(target: str | None) -> str:
    """Only a path on this site (never `//host` or a scheme) may be the place to return to after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
