"""Loopback addresses of the simulated hosts, one set per pytest-xdist worker.

A simulated PBX that goes unreachable closes its listener and later binds the same port again; on an
address shared with another worker, that port could meanwhile be taken, or a probe of the "dead" host
could reach the other worker's live one. Each worker therefore gets /24s of its own: a serial run keeps
127.0.1.x, 127.0.2.x, ...; worker gwN uses 127.0.(10 + 4N).x upwards (127.0.9.x is left to the docs test
runs of other checkouts).
"""

from __future__ import annotations

import os

#: distinct /24s a worker may use (`slot` below)
SLOTS = 4
FIRST_WORKER_NET = 10


def worker_index() -> int | None:
    """The xdist worker number (gw3 -> 3), or None in a serial run."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else None


def address(host: int = 1, slot: int = 0) -> str:
    """The `host`-th address of this worker's `slot`-th /24 (a fleet's base address, or a lone socket's)."""
    if not 0 <= slot < SLOTS:
        raise ValueError(f"slot {slot} outside 0..{SLOTS - 1}")
    index = worker_index()
    net = 1 + slot if index is None else FIRST_WORKER_NET + SLOTS * index + slot
    if net > 255:
        raise ValueError(f"xdist worker {index} has no loopback /24 left")
    return f"127.0.{net}.{host}"
