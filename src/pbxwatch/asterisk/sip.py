"""chan_sip `sip show peers` → `line_stats` (SPEC §3; layouts in fixtures/asterisk/FORMATS.md §1).

The table is fixed-width printf output, so cells are sliced at the offsets of the header line actually
received (they moved between Asterisk versions), never split on blanks: Dyn/ACL/Description can be empty
and Forcerport can read `Auto (No)`. The Status cell is found by a regex searching from the Port offset
(the port is digits, so the first status token after it is the Status cell), not sliced, because
`LAGGED (70 ms)` overflows its 11 columns and pushes the Description right.
"""

from __future__ import annotations

import re

from pbxwatch.asterisk.stats import LineStats, Peer, Summary, begin_table

_STATUS = re.compile(r"(OK|LAGGED) \((\d+) ms\)|(UNREACHABLE|UNKNOWN|Unmonitored)")
_SUMMARY = re.compile(
    r"^(\d+) sip peers \[Monitored: (\d+) online, (\d+) offline "
    r"Unmonitored: (\d+) online, (\d+) offline\]"
)
# Used only when the header line is missing: name, host, port, then a status token.
_FALLBACK_ROW = re.compile(r"^(\S+)\s+(\S+)\s.*?\s(\d+)\s+(?=(?:OK|LAGGED) \(|UNREACHABLE|UNKNOWN|Unmonitored)")
_HEADER_START = "Name/username"
_UNSPECIFIED = "(Unspecified)"


class _Columns:
    """Start offsets of the columns named in the header line."""

    def __init__(self, header: str) -> None:
        self.host = header.find("Host")
        self.after_host = _first_found(header, ("Dyn", "Forcerport", "Nat", "ACL", "Port"), self.host)
        self.port = header.find("Port", self.host)
        self.status = header.find("Status", self.port)

    @property
    def usable(self) -> bool:
        return 0 < self.host < self.after_host <= self.port < self.status


def _first_found(header: str, names: tuple[str, ...], start: int) -> int:
    found = [pos for pos in (header.find(name, start + 1) for name in names) if pos > 0]
    return min(found) if found else -1


def _status(match: re.Match[str]) -> tuple[str, int | None]:
    if match.group(1):
        return match.group(1).lower(), int(match.group(2))
    return match.group(3).lower(), None


def _split_name(cell: str) -> tuple[str, str | None]:
    name, slash, username = cell.partition("/")
    return (name, username or None) if slash else (cell, None)


def _host(cell: str) -> str | None:
    return None if cell in ("", _UNSPECIFIED) else cell


def _port(cell: str) -> int | None:
    return int(cell) if cell.isdigit() and int(cell) > 0 else None


def _row_by_columns(line: str, cols: _Columns) -> Peer | None:
    match = _STATUS.search(line, cols.port)
    name_cell = line[: cols.host].strip()
    if match is None or not name_cell:
        return None
    port_cell = line[cols.port : min(cols.status, match.start())].strip()
    status, latency = _status(match)
    name, username = _split_name(name_cell)
    host = _host(line[cols.host : cols.after_host].strip())
    return Peer(name, username, host, _port(port_cell), status, latency)


def _row_by_regex(line: str) -> Peer | None:
    row = _FALLBACK_ROW.match(line)
    match = _STATUS.search(line, row.end()) if row else None
    if row is None or match is None:
        return None
    status, latency = _status(match)
    name, username = _split_name(row.group(1))
    return Peer(name, username, _host(row.group(2)), _port(row.group(3)), status, latency)


def _read_summary(match: re.Match[str]) -> tuple[int, Summary]:
    counters = [int(value) for value in match.groups()]
    return counters[0], Summary(*counters[1:])


def _mismatch(stats: LineStats, announced: int) -> bool:
    summary = stats.summary
    rows = len(stats.peers)
    buckets = (
        (summary.monitored_online, stats.count("ok") + stats.count("lagged")),
        (summary.monitored_offline, stats.count("unreachable") + stats.count("unknown")),
        (
            (summary.unmonitored_online or 0) + (summary.unmonitored_offline or 0),
            stats.count("unmonitored"),
        ),
    )
    return announced != rows or any(expected != found for expected, found in buckets)


def parse_sip_peers(text: str) -> dict[str, object]:
    """Parse `sip show peers`; never raises. Returns the `line_stats` dict (source `sip`)."""
    stats, lines = begin_table(text, "sip")
    if stats.stack_absent:
        return stats.as_dict()
    cols: _Columns | None = None
    announced: int | None = None
    for line in lines:
        if not line.strip():
            continue
        if line.startswith(_HEADER_START):
            cols = _Columns(line)
            cols = cols if cols.usable else None
            continue
        summary = _SUMMARY.match(line.strip())
        if summary:
            announced, stats.summary = _read_summary(summary)
            continue
        peer = _row_by_columns(line, cols) if cols else _row_by_regex(line)
        if peer is None:
            stats.unparsed.append(line)
        else:
            stats.peers.append(peer)
    stats.parse_mismatch = announced is not None and _mismatch(stats, announced)
    return stats.as_dict()
