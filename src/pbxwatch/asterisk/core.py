"""`core show uptime [seconds]`, `df -P`, and Asterisk's error outputs (FORMATS.md §4-§6). Pure, never raise."""

from __future__ import annotations

import re
from enum import StrEnum

from pbxwatch.asterisk.stats import clean_lines, no_such_command

_UPTIME_SECONDS = re.compile(r"^System uptime: (\d+)\s*$")
_UPTIME_WORDS = re.compile(r"^System uptime: (.+?)\s*$")
_UNIT = re.compile(r"^(\d+) (year|week|day|hour|minute|second)s?$")
# Asterisk's own unit lengths (main/cli.c: a year is 365 days).
_UNIT_SECONDS = {"year": 365 * 86400, "week": 7 * 86400, "day": 86400, "hour": 3600, "minute": 60, "second": 1}
_DF_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(.*)$")


def parse_uptime_seconds(text: str) -> int | None:
    """Seconds since Asterisk started, from `core show uptime seconds` (or the worded `core show uptime`)."""
    lines = [line.strip() for line in clean_lines(text)]
    for line in lines:
        match = _UPTIME_SECONDS.match(line)
        if match:
            return int(match.group(1))
    for line in lines:
        match = _UPTIME_WORDS.match(line)
        if match:
            return _worded(match.group(1))
    return None


def _worded(text: str) -> int | None:
    total = 0
    for part in text.split(", "):
        unit = _UNIT.match(part.strip())
        if unit is None:
            return None
        total += int(unit.group(1)) * _UNIT_SECONDS[unit.group(2)]
    return total


def parse_df(text: str, mount: str = "/") -> int | None:
    """Use% (the Capacity column) of `mount` from `df -P` output; the last row if `mount` is not listed."""
    rows = [_DF_ROW.match(line.strip()) for line in clean_lines(text)]
    found = [row for row in rows if row is not None]
    if not found:
        return None
    chosen = next((row for row in found if row.group(6) == mount), found[-1])
    return int(chosen.group(5))


class CliError(StrEnum):
    """What a failed `asterisk -rx` printed (FORMATS.md §5)."""

    NO_SUCH_COMMAND = "no_such_command"  # module not loaded, exit 0
    UNABLE_TO_CONNECT = "unable_to_connect"  # daemon not running OR control socket not accessible, exit 1
    NOT_FOUND = "not_found"  # binary not in PATH, exit 127
    PERMISSION = "permission"  # sudo refused, or the binary/socket is not accessible


_PATTERNS: tuple[tuple[CliError, re.Pattern[str]], ...] = (
    (CliError.UNABLE_TO_CONNECT, re.compile(r"Unable to connect to remote asterisk")),
    (
        CliError.PERMISSION,
        re.compile(
            r"sudo: .*(password is required|not in the sudoers|not allowed"
            r"|terminal is required)|Permission denied",
            re.IGNORECASE,
        ),
    ),
    (CliError.NOT_FOUND, re.compile(r"(: not found|command not found|No such file or directory)$")),
)


def classify_cli_error(text: str) -> CliError | None:
    """Recognise Asterisk's (and the shell's) error outputs; None when the text is not one of them."""
    lines = [line.strip() for line in clean_lines(text) if line.strip()]
    if no_such_command(lines, ""):
        return CliError.NO_SUCH_COMMAND
    for kind, pattern in _PATTERNS:
        if any(pattern.search(line) for line in lines):
            return kind
    return None
