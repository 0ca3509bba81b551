"""Failures seen in the field, each explained in its own words (log, relay ``/health``, ``pbxwatch ewelink
token``), and remembered in ``<token file>.problem`` until a call succeeds or a new authorization.

- ``appid_rejected``: 406/407 for the APPID — a free developer APPID expires one year after it was issued
  (406/407 from then on), or the app secret does not match it.
- ``logged_in_elsewhere``: the cloud rejected tokens that had not expired yet: the same eWeLink account
  logged in from another place (the eWeLink app, the web, another integration) and that revoked them.
- ``region_mismatch``: the account lives in another region than the one pbxwatch talks to.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pbxwatch.ewelink import errors
from pbxwatch.ewelink.tokens import write_private_json

FailureKind = Literal["appid_rejected", "logged_in_elsewhere", "region_mismatch"]

APPID_REJECTED = (
    "eWeLink refused the APPID (error {code}): a free developer APPID expires one year after it was issued "
    "and gets 406/407 from then on (or ewelink.app_secret does not match the APPID); create a new app at "
    "dev.ewelink.cc, set ewelink.app_id and ewelink.app_secret, then authorize again"
)
LOGGED_IN_ELSEWHERE = (
    'eWeLink revoked the tokens before they expired ("logged in from another place"): the same eWeLink '
    "account was used by the eWeLink app, the web or another integration; give pbxwatch a dedicated "
    "account with the relays shared to it, then authorize again"
)
REGION_MISMATCH = (
    "eWeLink region mismatch: {detail}; the account's region is the region=... of the callback URL "
    "(cn, as, us, eu); authorize again and give that region"
)


@dataclass(frozen=True)
class FieldFailure:
    kind: FailureKind
    message: str


def appid_rejected(err: errors.EWeLinkError) -> FieldFailure | None:
    """406/407 answered by the cloud (not a setting missing before any call)."""
    if isinstance(err, errors.CredentialsError) and err.code in (406, 407):
        return FieldFailure("appid_rejected", APPID_REJECTED.format(code=err.code))
    return None


REGION_REDIRECT_CODE = 10004  # "redirection": the account lives in another region


def diagnose(err: errors.EWeLinkError) -> FieldFailure | None:
    """The field failure behind a cloud error, if it is one of the known ones."""
    failure = appid_rejected(err)
    if failure is None and err.code == REGION_REDIRECT_CODE:
        failure = region_mismatch(f"the cloud answered {err.code} (the account is in another region)")
    return failure


def region_note(token_region: str, configured: str) -> FieldFailure | None:
    """A mismatch between the tokens' region (the callback's) and ``ewelink.region``."""
    if token_region == configured:
        return None
    return region_mismatch(
        f"the tokens are for region {token_region} but ewelink.region is {configured} "
        f"(pbxwatch uses the tokens' region; relays of an account in {configured} are not "
        f"visible from {token_region})"
    )


def region_mismatch(detail: str) -> FieldFailure:
    return FieldFailure("region_mismatch", REGION_MISMATCH.format(detail=detail))


def logged_in_elsewhere() -> FieldFailure:
    return FieldFailure("logged_in_elsewhere", LOGGED_IN_ELSEWHERE)


class FailureFile:
    """``<token file>.problem``: the last field failure (0600 JSON), read by ``pbxwatch ewelink token``."""

    def __init__(self, token_file: Path | str) -> None:
        token_path = Path(token_file).expanduser()
        self.path = token_path.with_name(token_path.name + ".problem")
        self._present: bool | None = None

    def record(self, failure: FieldFailure) -> None:
        write_private_json(
            self.path, {"kind": failure.kind, "message": failure.message, "at_ms": int(time.time() * 1000)}
        )
        self._present = True

    def clear(self) -> None:
        """Forget it (a call succeeded, or a new authorization). Cheap when there is nothing to clear."""
        if self._present is None:
            self._present = self.path.exists()
        if self._present:
            self.path.unlink(missing_ok=True)
            self._present = False

    def read(self) -> FieldFailure | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        kinds = ("appid_rejected", "logged_in_elsewhere", "region_mismatch")
        if not isinstance(data, dict) or data.get("kind") not in kinds or not isinstance(data.get("message"), str):
            return None
        return FieldFailure(data["kind"], data["message"])
