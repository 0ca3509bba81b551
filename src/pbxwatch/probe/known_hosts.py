"""The known_hosts file the prober verifies host keys against, and remembers new keys in (opt-in)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import asyncssh

logger = logging.getLogger(__name__)
SSH_DEFAULT_PORT = 22
MANY_HASHED_ENTRIES = 1000  # about 3 ms of HMACs on each host's first connection (docs/benchmarks.md)


def host_pattern(host: str, port: int) -> str:
    """OpenSSH's spelling of a host in known_hosts: `host`, or `[host]:port` off port 22."""
    return host if port == SSH_DEFAULT_PORT else f"[{host}]:{port}"


class KnownHosts:
    """A known_hosts file, re-read when it changes on disk (an operator may edit it while we run)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._parsed: Any = asyncssh.import_known_hosts("")
        self._matches: dict[tuple[str, str, int | None], Any] = {}
        self._said_hashed = 0  # said once per count, not again each time a remembered key re-reads the file
        self._lock = threading.Lock()

    def current(self) -> Any:
        """The parsed file (an `asyncssh.SSHKnownHosts`) to pass as `known_hosts=`."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            stamp = None
        except OSError as err:
            logger.error("cannot read known_hosts %s: %s; every host key is untrusted", self.path, err.strerror)  # noqa: TRY400 - one line, no traceback
            return asyncssh.import_known_hosts("")
        else:
            stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            self._parsed = self._read() if stamp is not None else asyncssh.import_known_hosts("")
            self._matches.clear()
        return self._parsed

    def match(self, host: str, addr: str, port: int | None) -> Any:
        """asyncssh's `known_hosts=` matching function: the keys trusted for this host, address and port.

        Remembered while the file is unchanged: asyncssh tests a hashed entry (`|1|…`) by an HMAC per entry,
        so with a large hashed file each new connection would cost milliseconds per thousand entries.
        """
        parsed = self.current()
        key = (host, addr, port)
        found = self._matches.get(key)
        if found is None:
            found = self._matches[key] = asyncssh.match_known_hosts(parsed, host, addr, port)
        return found

    def _read(self) -> Any:
        try:
            text = self.path.read_text(encoding="utf-8")
            parsed = asyncssh.import_known_hosts(text)
        except (OSError, UnicodeDecodeError, ValueError) as err:
            logger.error("cannot parse known_hosts %s: %s; every host key is untrusted", self.path, err)  # noqa: TRY400 - one line, no traceback
            return asyncssh.import_known_hosts("")
        hashed = sum(1 for line in text.splitlines() if line.lstrip().startswith("|1|"))
        if hashed >= MANY_HASHED_ENTRIES and hashed != self._said_hashed:
            self._said_hashed = hashed
            logger.warning(
                "known_hosts %s holds %d hashed entries: the first connection to each host tests every one of "
                "them (about 3 ms a host per 1,000 entries); keep pbxwatch's own file unhashed "
                "(ssh-keyscan without -H writes plain lines)",
                self.path,
                hashed,
            )
        return parsed

    def has_entry(self, host: str, port: int) -> bool:
        """Whether the file lists any key for this host (and port)."""
        return bool(self.match(host, "", port if port != SSH_DEFAULT_PORT else None)[0])

    def remember(self, host: str, port: int, key: Any) -> None:
        """Append the host's key (trust on first use, only when the operator opted in)."""
        line = f"{host_pattern(host, port)} {key.export_public_key('openssh').decode().strip()}\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(line)
        logger.warning(
            "trusting the new host key of %s (%s), remembered in %s",
            host_pattern(host, port),
            key.get_algorithm(),
            self.path,
        )
