"""`SshProber`: one check of one PBX over SSH, on kept connections (docs/design.md §3).

One connection per (host, port) is opened on first use and kept (SSH keepalives on); each check opens a
session on it and runs the ONE probe command of `pbxwatch.asterisk.script`. A kept connection found dead
is dropped and the check reconnects once. TCP connect and SSH handshake are timed separately so the
reason says which one failed (`connect_timeout` vs `banner_timeout`). A semaphore bounds concurrent
checks; every phase has a timeout, so a sweep never waits on one slow host. `check()` never raises for a
host problem: every failure is a `CheckResult` with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import resource
import socket
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import asyncssh

from pbxwatch.asterisk import build_probe_command, interpret_probe_output
from pbxwatch.domain.verdicts import CheckResult, CommandRun
from pbxwatch.domain.vocabulary import Reason
from pbxwatch.probe.failures import STALE_CONNECTION_ERRORS, ssh_failure, tcp_failure
from pbxwatch.probe.known_hosts import KnownHosts, host_pattern
from pbxwatch.probe.options import ProbeOptions

logger = logging.getLogger(__name__)
KEEPALIVE_COUNT_MAX = 3
# AES-GCM runs on the CPU's AES instructions; asyncssh's ChaCha20-Poly1305 builds a new cipher object for every
# packet and cost about a third of the prober's CPU in profiles. ChaCha and CTR stay as fallbacks for old servers.
# Descriptors kept free of kept SSH connections: checks in flight beyond them, the database pool, logs, HTTP.
RESERVED_DESCRIPTORS = 256
CLOSE_GRACE_S = 2.0  # at shutdown: a SIGTERM must not wait for thousands of peers to answer the disconnect
PREFERRED_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)
RESTART_TIMEOUT_MIN_S = 60.0  # `systemctl restart asterisk` waits for the old daemon to stop
HostPort = tuple[str, int]


class ProbeConfigError(ValueError):
    """The prober cannot start with these options (bad key file, unsafe asterisk command)."""


class _HandshakeError(Exception):
    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.detail)
        self.result = result


class _Client(asyncssh.SSHClient):
    """Trust-on-first-use when the operator opted in; drops itself from the pool when the link dies."""

    def __init__(self, prober: SshProber, target: HostPort) -> None:
        self._prober = prober
        self._target = target
        self.presented: Any = None
        self._conn: Any = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
        self.presented = key
        store = self._prober.known_hosts
        if self._prober.options.accept_new_host_keys and not store.has_entry(host, port):
            store.remember(host, port, key)
            return True
        return False

    def connection_made(self, conn: Any) -> None:
        self._conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        self._prober.forget(self._target, self._conn)


class _Capture(asyncssh.SSHClientSession[bytes]):
    """One probe command's output, collected as it arrives.

    Lighter than `conn.run()`, whose process object starts stream readers and writer tasks for every
    session; this session only keeps the bytes (docs/benchmarks.md, the prober against a bare loop).
    """

    def __init__(self) -> None:
        self.stdout: list[bytes] = []
        self.stderr: list[bytes] = []
        # The probe command prints each step's exit status itself, so the session's own status is not kept.
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes, datatype: int | None) -> None:
        (self.stderr if datatype == asyncssh.EXTENDED_DATA_STDERR else self.stdout).append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if exc is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(exc)

    @staticmethod
    def text(parts: list[bytes]) -> str:
        return b"".join(parts).decode("utf-8", "replace")


class SshProber:
    """Checks PBXes over kept SSH connections. Use as `async with SshProber(options) as prober:`."""

    def __init__(self, options: ProbeOptions) -> None:
        self.options = options
        _quiet_asyncssh()
        self.known_hosts = KnownHosts(options.known_hosts_path)
        try:
            self.command = build_probe_command(options.asterisk_command, options.command_timeout)
        except ValueError as err:
            raise ProbeConfigError(str(err)) from err
        self._client_keys = self._load_key(options)
        self._conns: dict[HostPort, Any] = {}
        self._locks: dict[HostPort, asyncio.Lock] = {}
        self._semaphore = asyncio.Semaphore(options.concurrency)
        self.keep_limit = options.max_kept_connections
        if self.keep_limit is None:
            self.keep_limit = max(0, raise_open_file_limit() - options.concurrency - RESERVED_DESCRIPTORS)
        self._said_pool_full = False
        _pin_local_username()

    @staticmethod
    def _load_key(options: ProbeOptions) -> Any:
        if options.key_file is None:
            return None if options.password is not None else ()
        try:
            return [asyncssh.read_private_key(str(options.key_file.expanduser()))]
        except (OSError, asyncssh.KeyImportError) as err:
            raise ProbeConfigError(f"ssh.key_file {options.key_file}: cannot load the private key: {err}") from err

    async def __aenter__(self) -> SshProber:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    def forget(self, target: HostPort, conn: Any) -> None:
        """Drop a kept connection that was lost (not a newer one); the next check reconnects."""
        if self._conns.get(target) is conn:
            del self._conns[target]

    async def close(self) -> None:
        """Close every kept connection; those a busy or dead peer has not let close within the grace are aborted."""
        conns = list(self._conns.values())
        self._conns.clear()
        for conn in conns:
            conn.close()
        closing = [asyncio.ensure_future(conn.wait_closed()) for conn in conns]
        if closing:
            _, late = await asyncio.wait(closing, timeout=CLOSE_GRACE_S)
            for task in late:
                task.cancel()
            for conn in conns:
                conn.abort()  # a no-op on a closed connection
            await asyncio.gather(*late, return_exceptions=True)

    async def check_many(self, targets: Iterable[HostPort | str]) -> dict[HostPort, CheckResult]:
        """Check every target concurrently (bounded by `options.concurrency`); results in the given order.

        Hosts without a kept connection start first: they are the ones likely to sit out a timeout
        (down, hung, restarted), so their waits overlap the quick checks instead of trailing them.
        """
        keys = list(dict.fromkeys((t, 22) if isinstance(t, str) else (t[0], int(t[1])) for t in targets))
        ordered = sorted(keys, key=lambda target: target in self._conns)
        results = await asyncio.gather(*(self.check(host, port) for host, port in ordered))
        by_target = dict(zip(ordered, results, strict=True))
        return {target: by_target[target] for target in keys}

    async def check(self, host: str, port: int = 22) -> CheckResult:
        """One check: verdict, reason, uptime, disk and line stats. Never raises for a host problem."""
        async with self._semaphore:
            try:
                return await self._check((host, port))
            except Exception as err:  # one odd host must not kill a sweep
                logger.exception("probe of %s failed unexpectedly", host_pattern(host, port))
                return CheckResult.of(Reason.PROBE_ERROR, f"unexpected probe failure: {err!r}")

    async def _check(self, target: HostPort) -> CheckResult:
        reused = target in self._conns
        try:
            conn = await self._connection(target)
        except _HandshakeError as err:
            return err.result
        try:
            return await self._run(target, conn)
        except STALE_CONNECTION_ERRORS as err:
            self._drop(target, conn)
            if not reused:
                return CheckResult.of(Reason.PROBE_ERROR, f"SSH connection lost during the check: {err}")
            logger.debug("kept connection to %s was stale (%s), reconnecting", host_pattern(*target), err)
            return await self._check(target)
        finally:
            if self._conns.get(target) is not conn:
                conn.close()  # a one-off connection (the pool is full) or one dropped during the check

    async def run_restart(self, host: str, port: int, command: str) -> CommandRun:
        """Run the soft restart command on the kept connection (the remediation ladder's first rung).

        Never raises for a host problem: an SSH failure is a `CommandRun` without an exit status.
        """
        target = (host, port)
        try:
            conn = await self._connection(target)
        except _HandshakeError as err:
            return CommandRun(None, f"SSH: {err.result.error_message()}")
        timeout = max(RESTART_TIMEOUT_MIN_S, self.options.command_timeout)
        try:
            done = await conn.run(command, check=False, timeout=timeout, stdin=asyncssh.DEVNULL)
        except asyncssh.TimeoutError as err:
            self._drop(target, conn)
            return CommandRun(None, f"{_text(err.stdout)}{_text(err.stderr)}\ntimed out after {timeout:g}s")
        except (asyncssh.Error, OSError) as err:  # the STALE_CONNECTION_ERRORS and the rest
            self._drop(target, conn)
            return CommandRun(None, f"SSH connection lost: {err}")
        status = done.exit_status if done.exit_status is not None else -1
        return CommandRun(status, f"{_text(done.stdout)}{_text(done.stderr)}")

    def _drop(self, target: HostPort, conn: Any) -> None:
        if self._conns.get(target) is conn:
            del self._conns[target]
        conn.abort()

    async def _run(self, target: HostPort, conn: Any) -> CheckResult:
        _chan, capture = await conn.create_session(_Capture, self.command, encoding=None)
        try:
            async with asyncio.timeout(self.options.command_timeout):
                await capture.done
        except TimeoutError:
            # The remote `timeout` normally ends a hung CLI first; when it did not, the box is stuck or the
            # link is dead without a FIN (power cut): do not keep this connection, reconnect next time.
            self._drop(target, conn)
            return interpret_probe_output(capture.text(capture.stdout), finished=False)
        result = interpret_probe_output(capture.text(capture.stdout))
        stderr = capture.text(capture.stderr).strip()
        if result.reason is Reason.PROBE_ERROR and stderr:
            return CheckResult.of(Reason.PROBE_ERROR, f"{result.detail}; stderr: {stderr.splitlines()[0][:200]}")
        return result

    async def _connection(self, target: HostPort) -> Any:
        lock = self._locks.setdefault(target, asyncio.Lock())
        async with lock:
            conn = self._conns.get(target)
            if conn is None:
                conn = await self._connect(target)
                if len(self._conns) < (self.keep_limit or 0):
                    self._conns[target] = conn
                else:
                    self._say_pool_full()
            return conn

    def _say_pool_full(self) -> None:
        if not self._said_pool_full:
            self._said_pool_full = True
            logger.warning(
                "keeping %d SSH connections, as many as the open-file limit allows; further hosts "
                "are checked over a new connection each time (raise LimitNOFILE to keep them all)",
                self.keep_limit,
            )

    async def _connect(self, target: HostPort) -> Any:
        sock = await self._tcp(target)
        client = _Client(self, target)
        try:
            return await asyncio.wait_for(self._handshake(target, sock, client), self.options.connect_timeout)
        except (TimeoutError, asyncssh.Error, OSError) as err:
            sock.close()
            result = ssh_failure(err)
            if result.reason is Reason.HOST_KEY_MISMATCH:
                result = self._host_key_refused(target, client.presented, result)
            raise _HandshakeError(result) from err

    async def _tcp(self, target: HostPort) -> socket.socket:
        """A connected socket to the first address that answers, all within `connect_timeout`."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                infos = await loop.getaddrinfo(*target, type=socket.SOCK_STREAM)
                for index, (family, kind, proto, _, address) in enumerate(infos):
                    sock = socket.socket(family, kind, proto)
                    sock.setblocking(False)
                    try:
                        await loop.sock_connect(sock, address)
                    except OSError:
                        sock.close()
                        if index == len(infos) - 1:
                            raise
                    except BaseException:
                        sock.close()
                        raise
                    else:
                        return sock
                raise OSError(f"no address for {target[0]}")
        except (TimeoutError, OSError) as err:
            raise _HandshakeError(tcp_failure(err)) from err

    async def _handshake(self, target: HostPort, sock: socket.socket, client: _Client) -> Any:
        opts = self.options
        return await asyncssh.connect(
            target[0],
            target[1],
            sock=sock,
            client_factory=lambda: client,
            config=None,
            username=opts.username,
            client_keys=self._client_keys,
            password=opts.password,
            agent_path=None if (opts.key_file or opts.password) else (),
            known_hosts=self.known_hosts.match,
            keepalive_interval=opts.keepalive,
            keepalive_count_max=KEEPALIVE_COUNT_MAX,
            encryption_algs=PREFERRED_CIPHERS,
            # No X.509 host certificates: without these asyncssh looks for ~/.ssh/ca-bundle.crt and ~/.ssh/crt
            # on every connect (a fifth of its option set-up, which runs in a worker thread per connection).
            x509_trusted_certs=None,
            x509_trusted_cert_paths=None,
        )

    def _host_key_refused(self, target: HostPort, presented: Any, result: CheckResult) -> CheckResult:
        where, path = host_pattern(*target), self.known_hosts.path
        kind = presented.get_algorithm() if presented is not None else "unknown"
        if self.known_hosts.has_entry(*target):
            logger.error(
                "HOST KEY MISMATCH for %s: the %s key it presented is not the one in %s. Possible "
                "man-in-the-middle or a reinstalled PBX; not connecting (verdict unknown). If the change is "
                "expected: ssh-keygen -R '%s' -f %s",
                where,
                kind,
                path,
                where,
                path,
            )
            return CheckResult.of(Reason.HOST_KEY_MISMATCH, f"host key of {where} changed (not the one in {path})")
        logger.warning(
            "host key of %s is not in %s; not connecting (accept with --trust-new-key or ssh.accept_new_host_keys)",
            where,
            path,
        )
        return CheckResult.of(Reason.HOST_KEY_MISMATCH, f"host {where} is not in {path} (new host key not trusted)")


def _quiet_asyncssh() -> None:
    """asyncssh logs several INFO lines per connection and per session: at 1,000 hosts a minute they would
    bury the monitor's own lines. Keep its warnings unless someone chose a level for it explicitly."""
    library = logging.getLogger("asyncssh")
    if library.level == logging.NOTSET:
        library.setLevel(logging.WARNING)


def _text(data: Any) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data if isinstance(data, str) else ""


def _pin_local_username() -> None:
    """asyncssh asks `getpass.getuser()` on every connect; without LOGNAME/USER in the environment that reads
    the password database each time and, out of descriptors, fails as "Unknown local username". Look it up once."""
    if not any(os.environ.get(name) for name in ("LOGNAME", "USER", "LNAME", "USERNAME")):
        with contextlib.suppress(KeyError, OSError):
            os.environ["LOGNAME"] = getpass.getuser()


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one (systemd's LimitNOFILE); the soft limit now in force.

    A prober keeps one socket per host, so a fleet of 20,000 needs 20,000 descriptors, far over the usual
    soft limit of 1,024.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
        return hard
    return soft
