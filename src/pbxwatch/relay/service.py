"""Relay switching and its audit: toggles, the fresh read before an action, one audit row per action.

Every action from any initiator ends in an audit row, success or failure (docs/design.md §2, §6). The
cloud is reached through the gateway (`gateway.py`), the cached devices through the device cache.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pbxwatch.domain.vocabulary import Initiator
from pbxwatch.ewelink import CallPriority, call_priority
from pbxwatch.relay.audit import Auditor, Outcome, Target
from pbxwatch.relay.cloud import Channel, RelayDevice
from pbxwatch.relay.devices import DeviceCache
from pbxwatch.relay.errors import InvalidRequest, NotFound, RelayError, RelayOffline
from pbxwatch.relay.gateway import RelayGateway
from pbxwatch.relay.store import RelayStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwitchResult:
    target: Target
    requested: bool | None
    state_after: bool | None


class RelayService:
    """Switching + audit, on the gateway and the device cache it is given."""

    def __init__(self, gateway: RelayGateway, devices: DeviceCache, store: RelayStore) -> None:
        self.gateway = gateway
        self.devices = devices
        self.store = store
        self.audit = Auditor(store)

    async def target(
        self, device_id: str, outlet: int | None, enterprise_number: str | None
    ) -> tuple[Target, NotFound | None]:
        """The audit target: the enterprise named, else the one fed by the relay. An unknown unit gives a
        target without enterprise (a history row cannot reference it) and the `NotFound` to raise."""
        if enterprise_number is not None:
            if await self.store.unit(enterprise_number) is None:
                return Target(device_id, outlet, None), NotFound(f"unit {enterprise_number} does not exist")
            return Target(device_id, outlet, enterprise_number), None
        unit = await self.store.unit_for_device(device_id, outlet)
        return Target(device_id, outlet, unit.number if unit else None), None

    async def online_device(self, target: Target) -> tuple[RelayDevice, Channel]:
        """The relay, read fresh from the cloud, and the addressed outlet.

        `RelayOffline` fails fast (docs/design.md §5)."""
        device, _ = await self.devices.device(target.device_id, fresh=True)
        channel = device.channel(target.outlet)
        if channel is None:
            raise InvalidRequest(f"outlet: device {device.device_id} has no outlet {target.outlet}")
        if not device.online:
            raise RelayOffline(f"relay {device.device_id} is offline in the eWeLink cloud")
        return device, channel

    async def switch(self, device: RelayDevice, outlet: int | None, on: bool, *, read_back: bool = True) -> bool | None:
        """Set one outlet; the cached device takes the state the cloud accepted. `read_back` reads it
        again (one more call): the state read back, else the state accepted."""
        try:
            await self.gateway.set_switch(device, outlet, on)
        except RelayError:
            self.devices.invalidate()  # the command may have reached the relay
            raise
        self.devices.switched(device, outlet, on)
        if not read_back:
            return on
        after, _ = await self.devices.device(device.device_id, fresh=True)
        channel = after.channel(outlet)
        return channel.on if channel else None

    async def toggle(
        self,
        device_id: str,
        *,
        state: bool | None,
        outlet: int | None,
        enterprise_number: str | None,
        initiator: Initiator,
        cancel: Callable[[Target], Awaitable[None]],
    ) -> SwitchResult:
        """`POST /toggle`: switch (or flip) one outlet; cancels a pending power-cycle of that relay."""
        target, unknown_unit = await self.target(device_id, outlet, enterprise_number)
        try:
            self.gateway.require_token()
            if unknown_unit is not None:
                raise unknown_unit
            wanted, after = await self._toggle(target, state, cancel)
        except RelayError as err:
            await self.audit_switch(target, state, initiator, failure=err)
            raise
        log.info(
            "relay %s outlet %s switched %s by %s (unit %s, state accepted %s)",
            device_id,
            outlet,
            "on" if wanted else "off",
            initiator.value,
            target.enterprise_number,
            after,
        )
        await self.audit_switch(target, state, initiator, state_after=after)
        return SwitchResult(target, state, after)

    async def _toggle(
        self, target: Target, state: bool | None, cancel: Callable[[Target], Awaitable[None]]
    ) -> tuple[bool, bool | None]:
        """Two cloud calls: a fresh read (online? which state?) and the switch, whose error 0 says the cloud
        took it (a power-cycle, not a toggle, reads the relay back). The caller waits `caller_wait` at most."""
        with self.gateway.tally.counting() as spent, self.gateway.caller_budget(CallPriority.READ, calls=2):
            result = "fail"
            try:
                async with self.gateway.caller_lock(target.device_id):
                    device, channel = await self.online_device(target)
                    wanted = state if state is not None else channel.on is False  # unknown state: on is safe
                    with call_priority(CallPriority.SWITCH):
                        after = await self.switch(device, target.outlet, wanted, read_back=False)
                    # only a toggle that happened overrides a pending cycle: after a failed one (relay
                    # offline, cloud down) the reconciler must still switch the relay back on
                    await cancel(target)
                result = "success"
            finally:
                self.gateway.metrics.calls_per_action.labels("toggle", result).observe(spent.calls)
        return wanted, after

    async def audit_switch(
        self,
        target: Target,
        requested: bool | None,
        initiator: Initiator,
        *,
        failure: RelayError | None = None,
        state_after: bool | None = None,
        cycle_id: str | None = None,
    ) -> None:
        outcome = outcome_of(failure, state_after=state_after, cycle_id=cycle_id)
        action = {True: "on", False: "off", None: "toggle"}[requested]
        self.gateway.metrics.actions.labels(action, "success" if outcome.ok else "fail").inc()
        if failure is not None:
            log.error(
                "relay %s outlet %s: %s failed (unit %s): %s",
                target.device_id,
                target.outlet,
                action,
                target.enterprise_number,
                failure.message,
            )
        await self.audit.switched(
            target, at=self.gateway.clock.now(), requested=requested, initiator=initiator, outcome=outcome
        )


def outcome_of(
    failure: RelayError | None, *, state_after: bool | None = None, cycle_id: str | None = None, **more: object
) -> Outcome:
    extra: dict[str, object] = {k: v for k, v in more.items() if v is not None}
    if cycle_id is not None:
        extra["cycle_id"] = cycle_id
    if failure is None:
        if state_after is not None:
            extra["state_after"] = state_after
        return Outcome(True, None, extra)
    extra["reason"] = failure.code
    if failure.cloud_code is not None:
        extra["cloud_error"] = failure.cloud_code
    return Outcome(False, failure.message, extra)
