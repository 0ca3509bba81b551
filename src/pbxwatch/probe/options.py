"""How the prober connects and what it runs (a frozen value object; built from `Settings.ssh`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
DEFAULT_KEEPALIVE = 30.0


@dataclass(frozen=True)
class ProbeOptions:
    """SSH credentials, host-key policy, timeouts and limits of one `SshProber`.

    `known_hosts` None means `~/.ssh/known_hosts`. `keepalive` is the SSH keepalive interval in seconds
    on kept connections (0 disables it); three unanswered keepalives close the connection.
    """

    username: str | None = None
    key_file: Path | None = None
    password: str | None = field(default=None, repr=False)
    known_hosts: Path | None = None
    accept_new_host_keys: bool = False
    connect_timeout: float = 5.0
    command_timeout: float = 10.0
    concurrency: int = 200
    asterisk_command: str = "asterisk"
    keepalive: float = DEFAULT_KEEPALIVE
    max_kept_connections: int | None = None  # None: as many as the open-file limit leaves room for

    @classmethod
    def from_settings(cls, ssh: Any, **overrides: Any) -> ProbeOptions:
        """From `settings.ssh` (duck-typed: any object with the `SshSettings` attributes)."""
        password: Any = getattr(ssh, "password", None)
        secret = password.get_secret_value() if hasattr(password, "get_secret_value") else password
        values: dict[str, Any] = {
            "username": ssh.username,
            "key_file": ssh.key_file,
            "password": secret,
            "known_hosts": ssh.known_hosts,
            "accept_new_host_keys": ssh.accept_new_host_keys,
            "connect_timeout": float(ssh.connect_timeout),
            "command_timeout": float(ssh.command_timeout),
            "concurrency": int(ssh.concurrency),
            "asterisk_command": ssh.asterisk_command,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def known_hosts_path(self) -> Path:
        return (self.known_hosts or DEFAULT_KNOWN_HOSTS).expanduser()
