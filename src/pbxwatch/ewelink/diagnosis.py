"""The field failures of one account: a cloud error that needs a person (APPID expired, logged in
elsewhere, a relay not visible from this region) is logged in its own words and kept in the failure file
(:mod:`pbxwatch.ewelink.field_failures`)."""

from __future__ import annotations

import logging

from pbxwatch.ewelink import errors, field_failures
from pbxwatch.ewelink.lifecycle import TokenKeeper

# The client's logger: an operator reads these lines as the client's, whichever module words them.
log = logging.getLogger("pbxwatch.ewelink.client")


class Diagnosis:
    """Explains errors for :class:`~pbxwatch.ewelink.client.EWeLinkClient`, recording them in ``failures``."""

    def __init__(self, failures: field_failures.FailureFile, keeper: TokenKeeper, region: str) -> None:
        self._failures = failures
        self._keeper = keeper
        self._region = region

    def not_visible(self, device_id: str) -> errors.DeviceNotFoundError:
        region = self.tokens_region()
        message = (
            f"eWeLink device {device_id} is not visible to the authorized account (region {region}): "
            "it is not shared to this account, or it belongs to an account of another region, or "
            "to a home this account is not a member of; share it to this account (eWeLink app: "
            "device settings -> Share) and check the device id"
        )
        log.warning("%s", message)
        note = self.region_note()
        if note is not None:
            log.error("%s", note.message)
            self._failures.record(note)
        return errors.DeviceNotFoundError(message)

    def tokens_region(self) -> str:
        try:
            tokens = self._keeper.current()
        except errors.TokenFileError:
            tokens = None
        return tokens.region if tokens else self._region

    def region_note(self) -> field_failures.FieldFailure | None:
        return field_failures.region_note(self.tokens_region(), self._region)

    def diagnose(self, err: errors.EWeLinkError) -> None:
        failure = field_failures.diagnose(err)
        if failure is not None:
            log.error("%s", failure.message)
            self._failures.record(failure)

    def revoked(self, err: errors.EWeLinkError) -> errors.TokensRevokedError:
        failure = field_failures.logged_in_elsewhere()
        log.error("%s", failure.message)
        self._failures.record(failure)
        return errors.TokensRevokedError(
            failure.message, code=err.code, vendor_message=err.vendor_message, http_status=err.http_status
        )
