"""The `line_stats` shape shared by the chan_sip and PJSIP parsers (docs/design.md §3, docs/line_stats.md).

Also the text clean-up every parser applies first: CRLF, and console log lines that `-rvx` or some
builds interleave with tables (FORMATS.md §5).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Source = Literal["sip", "pjsip"]
STATUSES = ("ok", "lagged", "unreachable", "unknown", "unmonitored")
# The stored list is capped so a PBX with thousands of peers cannot bloat `line_stats`; totals stay exact.
PEERS_CAP = 500

_LOG_LINE = re.compile(r"^(\[[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\]|  == |    -- )")
_NO_SUCH_COMMAND = re.compile(r"^No such command '([^']*)'")


@dataclass
class Peer:
    name: str
    username: str | None
    host: str | None
    port: int | None
    status: str
    latency_ms: float | int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "username": self.username,
            "host": self.host,
            "port": self.port,
            "status": self.status,
            "latency_ms": self.latency_ms,
        }


@dataclass
class Summary:
    """Asterisk's own counters (chan_sip's summary line); None where the output has none."""

    monitored_online: int | None = None
    monitored_offline: int | None = None
    unmonitored_online: int | None = None
    unmonitored_offline: int | None = None


@dataclass
class LineStats:
    """Mutable accumulator; `as_dict()` gives the stored shape."""

    source: Source
    peers: list[Peer] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)
    stack_absent: bool = False
    parse_mismatch: bool = False
    unparsed: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for peer in self.peers if peer.status == status)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "total": len(self.peers)}
        out.update({status: self.count(status) for status in STATUSES})
        out.update(
            {
                "monitored_online": self.summary.monitored_online,
                "monitored_offline": self.summary.monitored_offline,
                "unmonitored_online": self.summary.unmonitored_online,
                "unmonitored_offline": self.summary.unmonitored_offline,
                "peers": [peer.as_dict() for peer in self.peers[:PEERS_CAP]],
                "stack_absent": self.stack_absent,
                "parse_mismatch": self.parse_mismatch,
                "unparsed": list(self.unparsed),
            }
        )
        return out


def clean_lines(text: object) -> list[str]:
    """Lines without CR and without interleaved console log lines (anything but a str reads as empty)."""
    if not isinstance(text, str):
        return []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines if not _LOG_LINE.match(line)]


def no_such_command(lines: list[str], prefix: str) -> bool:
    """True when Asterisk said `No such command '<prefix>...'`: the module is not loaded (exit status 0)."""
    for line in lines:
        match = _NO_SUCH_COMMAND.match(line.strip())
        if match and match.group(1).startswith(prefix):
            return True
    return False


def begin_table(text: object, source: Source) -> tuple[LineStats, list[str]]:
    """The shared start of the peer parsers: clean lines, and `stack_absent` when the module is not loaded."""
    stats = LineStats(source=source)
    lines = clean_lines(text)
    stats.stack_absent = no_such_command(lines, f"{source} ")
    return stats, lines


def parse_latency(text: str) -> float | None:
    """PJSIP RTT (`0.474`, `204.606`, `0,474` from a daemon started under a decimal-comma locale); None for nan."""
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
