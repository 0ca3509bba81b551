"""Connection failures turned into reason codes (docs/design.md §3), once, at this seam; plus which ones mean
"a kept connection went stale, reconnect"."""

from __future__ import annotations

import errno
import socket

import asyncssh

from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import Reason

_NO_ROUTE_ERRNOS = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN})
_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})


def tcp_failure(err: BaseException) -> CheckResult:
    """The TCP connect failed (before any SSH byte)."""
    if isinstance(err, TimeoutError):
        return CheckResult.of(Reason.CONNECT_TIMEOUT, "TCP connect timed out")
    if isinstance(err, ConnectionRefusedError):
        return CheckResult.of(Reason.CONNECT_REFUSED, "connection refused (nothing listens on the SSH port)")
    if isinstance(err, socket.gaierror):
        return CheckResult.of(Reason.PROBE_ERROR, f"cannot resolve the host name: {err.strerror or err}")
    if isinstance(err, OSError) and err.errno in _NO_ROUTE_ERRNOS:
        return CheckResult.of(Reason.NO_ROUTE, err.strerror or str(err))
    if isinstance(err, OSError) and err.errno in _OUT_OF_DESCRIPTORS:
        return CheckResult.of(
            Reason.PROBE_ERROR,
            "the monitor ran out of open files (raise LimitNOFILE or lower ssh.concurrency); the PBX was not reached",
        )
    return CheckResult.of(Reason.PROBE_ERROR, f"cannot open a TCP connection: {err}")


def ssh_failure(err: BaseException) -> CheckResult:
    """The TCP connection is up but the SSH handshake or login failed."""
    if isinstance(err, TimeoutError):
        return CheckResult.of(Reason.BANNER_TIMEOUT, "TCP accepted but the SSH handshake did not complete in time")
    if isinstance(err, asyncssh.PermissionDenied):
        return CheckResult.of(Reason.AUTH_FAILED, f"SSH authentication failed: {err.reason}")
    if isinstance(err, asyncssh.HostKeyNotVerifiable):
        return CheckResult.of(Reason.HOST_KEY_MISMATCH, f"host key not trusted: {err.reason}")
    if isinstance(err, asyncssh.Error):
        return CheckResult.of(Reason.PROBE_ERROR, f"SSH handshake failed: {err.reason}")
    return CheckResult.of(Reason.PROBE_ERROR, f"SSH handshake failed: {err!r}")


# A kept connection that fails like this was closed under us (host restarted, keepalive lost): reconnect.
STALE_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncssh.ConnectionLost,
    asyncssh.ChannelOpenError,
    asyncssh.DisconnectError,
    BrokenPipeError,
    ConnectionResetError,
)
