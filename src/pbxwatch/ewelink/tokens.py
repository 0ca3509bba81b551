"""The token file (docs/design.md §7): flat JSON, mode 0600, written via temp file + rename, guarded by
``<token file>.lock`` (``fcntl.flock``) so refreshes are single-flight across processes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from pbxwatch.ewelink.errors import TokenFileError
from pbxwatch.ewelink.models import (
    EXPIRING_WITHIN_MS,
    MS_PER_DAY,
    TokenSet,
    TokenState,
    TokenStatus,
    ms_to_datetime,
)

FILE_MODE = 0o600
LOCK_POLL_S = 0.02
LOCK_TIMEOUT_S = 60.0
_REQUIRED_STR = ("accessToken", "refreshToken", "region")
_REQUIRED_INT = ("atExpiredTime", "rtExpiredTime")

Fingerprint = tuple[int, int, int, int]


def _open_private(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)


@contextlib.contextmanager
def flock_blocking(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (for short critical sections)."""
    fd = _open_private(lock_path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.asynccontextmanager
async def flock_async(lock_path: Path, wait_limit: float = LOCK_TIMEOUT_S) -> AsyncIterator[None]:
    """Hold an exclusive ``flock`` without blocking the event loop (polls; cancellation-safe)."""
    fd = _open_private(lock_path)
    try:
        waited = 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited >= wait_limit:
                    raise TokenFileError(
                        f"token lock {lock_path} is held by another process for over {wait_limit:.0f} s"
                    ) from None
                await asyncio.sleep(LOCK_POLL_S)
                waited += LOCK_POLL_S
        yield
    finally:
        os.close(fd)


def write_private_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically: temp file in the same directory, fsync, rename, fsync the directory.
    A crash at any point leaves either the old file or the new one, never a mix.

    `mkstemp` creates the file 0600 whatever the umask (its documented contract), so no chmod follows;
    the rename keeps that mode on the token file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable: after a power loss the file holds the new pair, not the old one."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_tokens(raw: str, path: Path) -> TokenSet:
    """Validate the token file's text; raise :class:`TokenFileError` (without the contents) if unusable."""
    hint = "authorize again (pbxwatch ewelink auth-url, then login)"
    try:
        data = json.loads(raw)
    except ValueError:
        raise TokenFileError(f"token file {path} is corrupt or half-written (not JSON): {hint}") from None
    if not isinstance(data, dict):
        raise TokenFileError(f"token file {path} is not a JSON object: {hint}")
    bad = [k for k in _REQUIRED_STR if not isinstance(data.get(k), str) or not data[k]]
    bad += [k for k in _REQUIRED_INT if not isinstance(data.get(k), int) or isinstance(data[k], bool)]
    if bad:
        raise TokenFileError(f"token file {path} lacks valid {', '.join(bad)}: {hint}")
    obtained = data.get("obtainedAt")
    dead = None
    if data.get("status") == "dead":
        reason = data.get("statusReason")
        dead = reason if isinstance(reason, str) and reason else "the eWeLink cloud refused these tokens"
    return TokenSet(
        access_token=data["accessToken"],
        refresh_token=data["refreshToken"],
        at_expires_ms=data["atExpiredTime"],
        rt_expires_ms=data["rtExpiredTime"],
        region=data["region"],
        obtained_at_ms=obtained if isinstance(obtained, int) else 0,
        dead=dead,
    )


def status_of(tokens: TokenSet | None, now_ms: int, problem: str | None = None) -> TokenStatus:
    """The operator-facing status by the refresh token (docs/design.md §6): valid / expiring / expired / missing."""
    if tokens is None:
        return TokenStatus(state=TokenState.MISSING, problem=problem)
    left_ms = tokens.rt_expires_ms - now_ms
    state: TokenState
    if tokens.dead:
        state, problem = TokenState.EXPIRED, tokens.dead
    elif left_ms <= 0:
        state = TokenState.EXPIRED
    elif left_ms < EXPIRING_WITHIN_MS:
        state = TokenState.EXPIRING
    else:
        state = TokenState.VALID
    return TokenStatus(
        state=state,
        region=tokens.region,
        access_expires_at=ms_to_datetime(tokens.at_expires_ms),
        refresh_expires_at=ms_to_datetime(tokens.rt_expires_ms),
        obtained_at=ms_to_datetime(tokens.obtained_at_ms) if tokens.obtained_at_ms else None,
        access_valid=not tokens.access_expired(now_ms) and left_ms > 0 and not tokens.dead,
        days_left=left_ms / MS_PER_DAY,
        problem=problem,
    )


class TokenFile:
    """The token file and its lock. Reads and writes are synchronous (a tiny file); the lock is async."""

    def __init__(self, path: Path | str, *, lock_timeout: float = LOCK_TIMEOUT_S) -> None:
        self.path = Path(path).expanduser()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_timeout = lock_timeout

    def read(self) -> TokenSet | None:
        """The stored tokens; None when there is no file; :class:`TokenFileError` when it is unusable."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as err:
            raise TokenFileError(
                f"token file {self.path} is unreadable: {type(err).__name__}: "
                f"{getattr(err, 'strerror', None) or 'bad encoding'}"
            ) from None
        return parse_tokens(raw, self.path)

    def write(self, tokens: TokenSet) -> None:
        """Replace the file atomically (0600). Callers that refresh must hold :meth:`locked`."""
        write_private_json(self.path, tokens.to_json())

    def fingerprint(self) -> Fingerprint | None:
        """(inode, mtime ns, size, ctime ns) — changes whenever another process rewrites the file."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns)

    def locked(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold ``<token file>.lock`` (exclusive, across processes). Re-read the file inside it."""
        return flock_async(self.lock_path, self._lock_timeout)
