"""Issued OAuth ``state`` values, verifiable by every pbxwatch process that shares the token file.

The file store keeps ``{state: expires_ms}`` in ``<token file>.states`` (0600, temp file + rename) under
``<token file>.states.lock``; expired entries are pruned on every write."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pbxwatch.ewelink.tokens import flock_blocking, write_private_json

STATE_TTL_S = 900.0
#: live states kept at most (oldest dropped): a flood of auth-URL requests cannot grow the file forever
MAX_STATES = 1000
_STATE_BYTES = 16


class StateStore(Protocol):
    """Where issued OAuth states live until they are used or expire."""

    def issue(self) -> str:
        """Create, remember and return a new random state."""
        ...

    def consume(self, state: str) -> bool:
        """True (and forget it) iff ``state`` was issued and has not expired."""
        ...


def _new_state() -> str:
    return secrets.token_urlsafe(_STATE_BYTES)


class MemoryStateStore:
    """A per-process store (tests, single-process use)."""

    def __init__(self, *, ttl: float = STATE_TTL_S, clock: Callable[[], float] = time.time) -> None:
        self._ttl = ttl
        self._clock = clock
        self._states: dict[str, float] = {}

    def issue(self) -> str:
        state = _new_state()
        self._states[state] = self._clock() + self._ttl
        return state

    def consume(self, state: str) -> bool:
        expires = self._states.pop(state, None)
        return expires is not None and self._clock() < expires


class FileStateStore:
    """States shared by every process using the same token file."""

    def __init__(self, path: Path | str, *, ttl: float = STATE_TTL_S, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path).expanduser()
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._ttl = ttl
        self._clock = clock

    @classmethod
    def beside(
        cls, token_file: Path | str, *, ttl: float = STATE_TTL_S, clock: Callable[[], float] = time.time
    ) -> FileStateStore:
        """The store ``<token file>.states``."""
        token_path = Path(token_file).expanduser()
        return cls(token_path.with_name(token_path.name + ".states"), ttl=ttl, clock=clock)

    def _load(self, now_ms: int) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # missing or damaged: issued states are lost, a new auth URL fixes it
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, int) and v > now_ms}

    def issue(self) -> str:
        state = _new_state()
        now_ms = int(self._clock() * 1000)
        with flock_blocking(self._lock_path):
            states = self._load(now_ms)
            states[state] = now_ms + int(self._ttl * 1000)
            newest = sorted(states.items(), key=lambda item: item[1])[-MAX_STATES:]
            write_private_json(self.path, dict(newest))
        return state

    def consume(self, state: str) -> bool:
        now_ms = int(self._clock() * 1000)
        if not self.path.exists():
            return False
        with flock_blocking(self._lock_path):
            states = self._load(now_ms)
            found = states.pop(state, None) is not None
            write_private_json(self.path, dict(states))
        return found
