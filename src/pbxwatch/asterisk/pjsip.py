"""PJSIP `pjsip show endpoints` / `pjsip show contacts` → `line_stats` (docs/design.md §3; FORMATS.md §3).

Endpoint rows are fixed-width (`%9s:  %-51.51s  %-12.12s  %d of %.0f`): the name and the device state
(which may contain blanks: `Not in use`) are sliced at the printf offsets (the legend header's are the
same on every captured version). Contact rows have no blank inside a cell, so they are read right to left.
An endpoint is `ok` if a contact is Avail (latency = smallest RTT), `unreachable` if every contact is
Unavail or the device state is Unavailable, `unmonitored` for NonQual (`Created` on 13/15), else `unknown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pbxwatch.asterisk.stats import LineStats, Peer, begin_table, parse_latency

_ENDPOINT_LABEL = re.compile(r"^ *Endpoint: ")
_CONTACT = re.compile(
    r"^ *Contact:  (?P<aor>[^/\s]+)/(?P<uri>\S*)\s+(?P<hash>\S+)\s+(?P<status>\S+)\s+(?P<rtt>\S+)\s*$"
)
_AUTH = re.compile(r"^ *(?P<kind>InAuth|OutAuth):  (?P<id>[^/\s]+)/(?P<user>\S+)")
_CHILD = re.compile(r"^ *(Aor|Transport|Identify|Match|Channel|Exten|InAuth|OutAuth):")
_OBJECTS = re.compile(r"^Objects found: (\d+)")
_RULE = re.compile(r"^={20,}$")
_STATES = ("Not in use", "In use", "Busy", "Invalid", "Unavailable", "Ringing", "Ring+Inuse", "On Hold", "Unknown")
# printf offsets of the endpoint row: ` Endpoint:  ` is 12 wide, the name 51, then two blanks.
_NAME_AT, _STATE_AT, _CHANNELS_AT = 12, 65, 79
_URI_HOST = re.compile(r"^(?:sips?:)?(?:[^@;]*@)?(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:;]+))(?::(?P<port>\d+))?")
_CONTACT_STATUS = {"Avail": "ok", "Unavail": "unreachable", "NonQual": "unmonitored", "Created": "unmonitored"}


@dataclass
class _Contact:
    aor: str
    uri: str
    key: str
    status: str
    rtt: float | None


@dataclass
class _Endpoint:
    name: str
    state: str
    username: str | None = None
    contacts: list[_Contact] = field(default_factory=list)

    def add(self, contact: _Contact) -> None:
        if all(seen.key != contact.key for seen in self.contacts):  # OpenWrt builds list contacts twice
            self.contacts.append(contact)


def _contact(line: str) -> _Contact | None:
    match = _CONTACT.match(line)
    if match is None:
        return None
    rtt = match["rtt"]
    if rtt != "nan" and parse_latency(rtt) is None:
        return None
    aor, uri = match["aor"], match["uri"]
    return _Contact(aor, uri, f"{aor}/{uri} {match['hash']}", match["status"], parse_latency(rtt))


def _host_port(uri: str) -> tuple[str | None, int | None]:
    match = _URI_HOST.match(uri)
    if match is None:
        return None, None
    host = match["v6"] or match["host"] or None
    port = int(match["port"]) if match["port"] and int(match["port"]) > 0 else None
    return host, port


def _status_of(state: str | None, contacts: list[_Contact]) -> tuple[str, float | None]:
    avail = [c.rtt for c in contacts if c.status == "Avail"]
    if avail:
        rtts = [rtt for rtt in avail if rtt is not None]
        return "ok", min(rtts) if rtts else None
    if state == "Unavailable" or (contacts and all(c.status == "Unavail" for c in contacts)):
        return "unreachable", None
    if any(_CONTACT_STATUS.get(c.status) == "unmonitored" for c in contacts):
        return "unmonitored", None
    return "unknown", None


def _to_peer(name: str, username: str | None, state: str | None, contacts: list[_Contact]) -> Peer:
    status, latency = _status_of(state, contacts)
    best = next((c for c in contacts if c.status == "Avail" and c.rtt == latency), None)
    shown = best or (contacts[0] if contacts else None)
    host, port = _host_port(shown.uri) if shown else (None, None)
    return Peer(name, username, host, port, status, latency)


def _endpoint(line: str) -> _Endpoint | None:
    """Sliced at the printf offsets; a row that does not fit them is read by its blanks instead (the
    slice matters for an endpoint named like a state: `Busy` in the name cell is not the state)."""
    name = line[_NAME_AT:_STATE_AT].strip()
    state = line[_STATE_AT:_CHANNELS_AT].strip()
    if not name or state not in _STATES:
        state = next((s for s in _STATES if f"  {s}  " in line), "")
        name = line[_NAME_AT:].split("  ", maxsplit=1)[0].strip()
    if not name or not state or " of " not in line[_CHANNELS_AT - 2 :]:
        return None
    return _Endpoint(name.split("/")[0], state)


def _frame(lines: list[str]) -> tuple[list[str], int | None]:
    """The object lines between the legend rule and `Objects found: N` (which is returned)."""
    has_rule = any(_RULE.match(line) for line in lines)
    body: list[str] = []
    announced: int | None = None
    in_legend = has_rule
    for line in lines:
        if in_legend:
            in_legend = not _RULE.match(line)
            continue
        objects = _OBJECTS.match(line.strip())
        if objects:
            announced = int(objects.group(1))
        elif line.strip() and line.strip() != "No objects found.":
            body.append(line)
    return body, announced


def _endpoint_blocks(body: list[str], stats: LineStats) -> list[_Endpoint]:
    endpoints: list[_Endpoint] = []
    for line in body:
        if _ENDPOINT_LABEL.match(line):
            endpoint = _endpoint(line)
            if endpoint is None:
                stats.unparsed.append(line)
            else:
                endpoints.append(endpoint)
            continue
        contact, auth = _contact(line), _AUTH.match(line)
        current = endpoints[-1] if endpoints else None
        if current is not None and contact is not None:
            current.add(contact)
        elif current is not None and auth is not None:
            current.username = current.username or auth["user"]
        elif current is None or not _CHILD.match(line):
            stats.unparsed.append(line)
    return endpoints


def parse_pjsip_endpoints(text: str) -> dict[str, object]:
    """Parse `pjsip show endpoints`; never raises. Returns the `line_stats` dict (source `pjsip`)."""
    stats, lines = begin_table(text, "pjsip")
    if stats.stack_absent:
        return stats.as_dict()
    body, announced = _frame(lines)
    for endpoint in _endpoint_blocks(body, stats):
        stats.peers.append(_to_peer(endpoint.name, endpoint.username, endpoint.state, endpoint.contacts))
    stats.parse_mismatch = announced is not None and announced != len(stats.peers)
    return stats.as_dict()


def parse_pjsip_contacts(text: str) -> dict[str, object]:
    """Parse `pjsip show contacts` (one peer per AOR, duplicates dropped); never raises."""
    stats, lines = begin_table(text, "pjsip")
    if stats.stack_absent:
        return stats.as_dict()
    body, announced = _frame(lines)
    by_aor: dict[str, _Endpoint] = {}
    rows = 0
    for line in body:
        contact = _contact(line)
        if contact is None:
            stats.unparsed.append(line)
            continue
        rows += 1
        by_aor.setdefault(contact.aor, _Endpoint(contact.aor, "")).add(contact)
    for aor in by_aor.values():
        stats.peers.append(_to_peer(aor.name, None, None, aor.contacts))
    stats.parse_mismatch = announced is not None and announced != rows
    return stats.as_dict()
