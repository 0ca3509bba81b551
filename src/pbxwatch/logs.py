"""Logging shared by both services (docs/design.md §8).

`reboot_service.log` (monitor) and `ewelink_service.log` (relay service) live in `log_dir`, UTF-8, one
line per event, and every line also goes to stderr. Only the owning service rotates its file (by size, the
one rotator: works the same under systemd and the seed's scripts);
every other writer (CLI, seed one-liners) appends through a handler that reopens the file when it was
rotated underneath it. A filter redacts anything that looks like a token or a secret, on every handler.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pbxwatch.config import Settings

Service = Literal["monitor", "relay"]
LOG_FILES: dict[Service, str] = {"monitor": "reboot_service.log", "relay": "ewelink_service.log"}
MONITOR_LOG = LOG_FILES["monitor"]
RELAY_LOG = LOG_FILES["relay"]
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ROTATE_BYTES = 10 * 1024 * 1024
ROTATE_KEEP = 5
REDACTED = "***"

# key=value / "key": "value" pairs whose value is a credential, and the two HTTP auth schemes eWeLink uses.
# A key is a whole word: "oauth/token: error 405" names an endpoint, not a token, and stays readable. The
# eWeLink short names `at` / `rt` count only as a quoted JSON key or a form field (`at=`), never in prose.
_SECRET_PAIR = re.compile(
    r"""(?ix)
    (?P<key>(?<![\w/.-])(?:
        ["']?(?:access_?token|refresh_?token|api_?token|app_?secret|client_?secret|secret|password|passwd|token|
            authorization)["']?\s*[:=]
        |["'](?:at|rt)["']\s*:|(?:at|rt)=
    )\s*)
    (?P<quote>["']?)(?P<value>(?:Bearer\s+|Sign\s+)?[^\s"',;&}]+)"""
)
_AUTH_SCHEME = re.compile(r"(?i)\b(Bearer|Sign)\s+[A-Za-z0-9._~+/=-]{6,}")


class RedactingFilter(logging.Filter):
    """Replaces credentials in the formatted message. Known secret values are replaced wherever they occur."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= 4)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return _SECRET_PAIR.sub(lambda m: f"{m.group('key')}{m.group('quote')}{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redact(message)
        record.args = None
        return True


class OwnerFileHandler(logging.handlers.RotatingFileHandler):
    """The owning service's handler, the only rotator of its file (by size: no logrotate rule is shipped).

    It also reopens a file moved away by hand, rather than keep writing into the moved copy."""

    def emit(self, record: logging.LogRecord) -> None:
        path = Path(self.baseFilename)
        stream = self.stream
        if stream is not None:
            try:
                moved = path.stat().st_ino != Path(f"/proc/self/fd/{stream.fileno()}").stat().st_ino
            except OSError:
                moved = True
            if moved:
                self.close()
        super().emit(record)


def log_path(log_dir: Path, service: Service) -> Path:
    return log_dir / LOG_FILES[service]


def file_handler(path: Path, *, owner: bool) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    if owner:
        return OwnerFileHandler(path, maxBytes=ROTATE_BYTES, backupCount=ROTATE_KEEP, encoding="utf-8")
    return logging.handlers.WatchedFileHandler(path, encoding="utf-8")


def known_secrets(settings: Settings) -> tuple[str, ...]:
    values = (settings.ewelink.app_secret, settings.relay.api_token, settings.ssh.password)
    return tuple(v.get_secret_value() for v in values if v is not None)


def setup_logging(settings: Settings, service: Service | None, *, owner: bool, stderr: bool = True) -> RedactingFilter:
    """Route the root logger to the service's file (if any) and stderr, with secrets redacted.

    Safe to call again (handlers installed by an earlier call are replaced).
    """
    redactor = RedactingFilter(known_secrets(settings))
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_pbxwatch", False)]:
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = []
    if service is not None:
        handlers.append(file_handler(log_path(settings.log_dir, service), owner=owner))
    if stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LINE_FORMAT))
        handler.addFilter(redactor)
        handler._pbxwatch = True  # type: ignore[attr-defined]  # marks handlers this function owns
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Third-party chatter stays out of operator logs unless asked for.
    for noisy in ("asyncssh", "httpx", "httpcore", "uvicorn.access", "sqlalchemy.engine", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return redactor
