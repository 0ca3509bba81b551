"""chan_sip `sip show peers` → `line_stats` (docs/design.md §3; layouts in fixtures/asterisk/FORMATS.md §1).

Every row is read by one regex: the name, the host, then the port as the last number before the
status token. Name and host never contain blanks (Asterisk prints `(Unspecified)` for no host), so the
regex needs no column offsets; it also holds where the fixed-width cells do not: Dyn/ACL/Description
can be empty, Forcerport can read `Auto (No)`, and `LAGGED (70 ms)` overflows its 11 columns and pushes
the Description right. (Slicing at the header's offsets gave the same rows on every captured layout,
so it was dropped.)
"""

from __future__ import annotations

import re

from pbxwatch.asterisk.stats import LineStats, Peer, Summary, begin_table

_STATUS = re.compile(r"(OK|LAGGED) \((\d+) ms\)|(UNREACHABLE|UNKNOWN|Unmonitored)")
_SUMMARY = re.compile(
    r"^(\d+) sip peers \[Monitored: (\d+) online, (\d+) offline "
    r"Unmonitored: (\d+) online, (\d+) offline\]"
)
# Name, host, port, then a status token (the lazy gap skips Dyn, Forcerport, ACL whatever they hold).
_ROW = re.compile(r"^(\S+)\s+(\S+)\s.*?\s(\d+)\s+(?=(?:OK|LAGGED) \(|UNREACHABLE|UNKNOWN|Unmonitored)")
_HEADER_START = "Name/username"
_UNSPECIFIED = "(Unspecified)"


def _status(match: re.Match[str]) -> tuple[str, int | None]:
    if match.group(1):
        return match.group(1).lower(), int(match.group(2))
    return match.group(3).lower(), None


def _split_name(cell: str) -> tuple[str, str | None]:
    name, _, username = cell.partition("/")
    return name, username or None


def _host(cell: str) -> str | None:
    return None if cell == _UNSPECIFIED else cell  # the regex's host is never empty


def _port(cell: str) -> int | None:
    return int(cell) if cell.isdigit() and int(cell) > 0 else None


def _row(line: str) -> Peer | None:
    row = _ROW.match(line)
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
    announced: int | None = None
    for line in lines:
        if not line.strip() or line.startswith(_HEADER_START):
            continue
        summary = _SUMMARY.match(line.strip())
        if summary:
            announced, stats.summary = _read_summary(summary)
            continue
        peer = _row(line)
        if peer is None:
            stats.unparsed.append(line)
        else:
            stats.peers.append(peer)
    stats.parse_mismatch = announced is not None and _mismatch(stats, announced)
    return stats.as_dict()
