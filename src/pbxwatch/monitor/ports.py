"""What the monitor needs from the outside world, as small Protocols, and the relay service's errors.

RelayCallError            the relay service did not do what was asked
├── RelayUnreachable      no answer (refused, timeout): nobody audited it, the monitor writes a `fail` row
└── RelayRefused          an HTTP error answer: the relay service audited it itself (`status`, `code`)
    ├── RelayBusy         409 `cycle_running`: a cycle is already running on that relay
    └── RelayWentOffline  409 `relay_offline`: the relay dropped off the cloud since we looked
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pbxwatch.domain.verdicts import CheckResult, CommandRun


class Prober(Protocol):
    async def check(self, host: str, port: int = 22) -> CheckResult: ...

    async def close(self) -> None: ...


@runtime_checkable
class Restarter(Protocol):
    """Runs the soft restart command on a PBX (the SSH prober is one, on its kept connection)."""

    async def run_restart(self, host: str, port: int, command: str) -> CommandRun: ...


class RelayPort(Protocol):
    async def device_online(self, device_id: str) -> bool:
        """The relay's `online` flag as the cloud reports it (`GET /devices/{id}`)."""
        ...

    async def power_cycle(
        self, *, enterprise_number: str, device_id: str, outlet: int | None, idempotency_key: str
    ) -> str:
        """`POST /power-cycle` with `initiator: auto`; returns the cycle id (202)."""
        ...

    async def close(self) -> None: ...


class RelayCallError(Exception):
    pass


class RelayUnreachable(RelayCallError):
    pass


class RelayRefused(RelayCallError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code


class RelayBusy(RelayRefused):
    pass


class RelayWentOffline(RelayRefused):
    pass
