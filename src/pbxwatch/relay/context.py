"""Everything one running relay service holds, built at start-up; the routes get its parts from `deps.py`."""

from __future__ import annotations

from dataclasses import dataclass

from pbxwatch.config import Settings
from pbxwatch.relay.cycles import CycleRunner
from pbxwatch.relay.devices import DeviceCache
from pbxwatch.relay.gateway import RelayGateway
from pbxwatch.relay.reconciler import Reconciler
from pbxwatch.relay.service import RelayService
from pbxwatch.relay.store import RelayStore


@dataclass
class RelayContext:
    settings: Settings
    gateway: RelayGateway
    devices: DeviceCache
    service: RelayService  # switching + audit
    store: RelayStore
    runner: CycleRunner
    reconciler: Reconciler
