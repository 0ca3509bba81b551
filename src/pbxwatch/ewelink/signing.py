"""HMAC-SHA256 signatures of the eWeLink API (docs/design.md §7): standard base64 of the raw digest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
from collections.abc import Mapping
from typing import Any

_NONCE_ALPHABET = string.ascii_letters + string.digits
NONCE_LENGTH = 8


def sign(app_secret: str, message: bytes | str) -> str:
    """``base64(HMAC-SHA256(key=app_secret, msg=message))`` — the notes' official vector:
    ``sign("abc", "ABC_123") == "v1+mfNY2ukxswM8sZOTg99srZsVnUVv9DGXeav1096M="``."""
    data = message.encode() if isinstance(message, str) else message
    digest = hmac.new(app_secret.encode(), data, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization_signature(app_secret: str, app_id: str, seq: str) -> str:
    """The authorization page's ``authorization`` parameter: HMAC over ``"<clientId>_<seq>"``."""
    return sign(app_secret, f"{app_id}_{seq}")


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Serialize a JSON body once, compactly; the Sign header is computed over exactly these bytes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def nonce() -> str:
    """8 random alphanumerics (the notes' ``nonce`` / ``X-CK-Nonce``)."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(NONCE_LENGTH))
