"""What a simulated PBX prints: real chan_sip / PJSIP layouts for configurable peers, and the shell
scripts (`asterisk`, `pgrep`, `df`) put first on PATH for the probe command's real `/bin/sh`.

Layouts are the printf formats of Asterisk 11.8-20 (`chan_sip.c`) and 20 (`res_pjsip`), byte-identical
to the captures in tests/fixtures/asterisk (a test checks it). The scripts read the host's run-time
state from the environment the SSH server sets per exec (`PBXSIM_MODE`, `PBXSIM_UPTIME`, `PBXSIM_DISK`),
so switching a mode costs no file write, and use only shell builtins on the hot path.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Literal

Stack = Literal["sip", "pjsip"]
PeerStatus = Literal["ok", "lagged", "unreachable", "unknown", "unmonitored"]

UNABLE_TO_CONNECT = "Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)"
_PJSIP_LEGEND = """
 Endpoint:  <Endpoint/CID.....................................>  <State.....>  <Channels.>
    I/OAuth:  <AuthId/UserName...........................................................>
        Aor:  <Aor............................................>  <MaxContact>
      Contact:  <Aor/ContactUri..........................> <Hash....> <Status> <RTT(ms)..>
  Transport:  <TransportId........>  <Type>  <cos>  <tos>  <BindAddress..................>
   Identify:  <Identify/Endpoint.........................................................>
        Match:  <criteria.........................>
    Channel:  <ChannelId......................................>  <State.....>  <Time.....>
        Exten: <DialedExten...........>  CLCID: <ConnectedLineCID.......>
==========================================================================================
"""


@dataclass(frozen=True)
class SimPeer:
    """One phone or trunk as the simulated Asterisk reports it."""

    name: str
    status: PeerStatus = "ok"
    host: str | None = "192.0.2.10"
    port: int = 5060
    latency_ms: int = 12
    username: str | None = None
    description: str = ""

    @property
    def reachable(self) -> bool:
        return self.host is not None and self.status in ("ok", "lagged", "unmonitored")


def default_peers(count: int = 4) -> list[SimPeer]:
    """A small office: phones 201.., the last one offline and never registered."""
    first = ipaddress.IPv4Address("192.0.2.10")
    peers = [SimPeer(str(201 + i), host=str(first + i), username=str(201 + i)) for i in range(count)]
    if count:
        peers[-1] = SimPeer(peers[-1].name, status="unknown", host=None, port=0, username=peers[-1].name)
    return peers


def _sip_cells(*cells: str) -> str:
    name, host, dyn, fport, comedia, acl, port, status, desc = cells
    # chan_sip.c: "%-25.25s %-39.39s %-3.3s %-10.10s %-10.10s %-3.3s %-8s %-11s %-32.32s %s\n"
    return (
        f"{name[:25]:<25} {host[:39]:<39} {dyn[:3]:<3} {fport[:10]:<10} {comedia[:10]:<10} {acl[:3]:<3} "
        f"{port:<8} {status:<11} {desc[:32]:<32} "
    )


def _sip_status(peer: SimPeer) -> str:
    if peer.status in ("ok", "lagged"):
        return f"{'OK' if peer.status == 'ok' else 'LAGGED'} ({peer.latency_ms} ms)"
    return {"unreachable": "UNREACHABLE", "unknown": "UNKNOWN", "unmonitored": "Unmonitored"}[peer.status]


def sip_show_peers(peers: list[SimPeer]) -> str:
    """`sip show peers` as Asterisk 11.8-20 prints it (rows sorted by name, summary line last)."""
    lines = [
        _sip_cells("Name/username", "Host", "Dyn", "Forcerport", "Comedia", "ACL", "Port", "Status", "Description")
    ]
    for peer in sorted(peers, key=lambda p: p.name):
        cell = f"{peer.name}/{peer.username}" if peer.username else peer.name
        dyn = " D " if peer.host is None else ""
        port = str(peer.port if peer.host else 0)
        lines.append(
            _sip_cells(
                cell,
                peer.host or "(Unspecified)",
                dyn,
                "Auto (No)",
                "No",
                "",
                port,
                _sip_status(peer),
                peer.description,
            )
        )
    mon = [p for p in peers if p.status != "unmonitored"]
    unmon = [p for p in peers if p.status == "unmonitored"]
    mon_on = sum(p.status in ("ok", "lagged") for p in mon)
    unmon_on = sum(p.reachable for p in unmon)
    lines.append(
        f"{len(peers)} sip peers [Monitored: {mon_on} online, {len(mon) - mon_on} offline "
        f"Unmonitored: {unmon_on} online, {len(unmon) - unmon_on} offline]"
    )
    return "\n".join(lines) + "\n"


def _contact(peer: SimPeer) -> tuple[str, str]:
    status = {"ok": "Avail", "lagged": "Avail", "unreachable": "Unavail", "unmonitored": "NonQual"}.get(
        peer.status, "Unknown"
    )
    rtt = f"{peer.latency_ms:11.3f}" if status == "Avail" else f"{'nan':>11}"
    return status, rtt


def _pjsip_block(peer: SimPeer) -> list[str]:
    state = "Unavailable" if peer.status in ("unreachable", "unknown") else "Not in use"
    cell = f"{peer.name}/{peer.username}" if peer.username else peer.name
    block = [f" Endpoint:  {cell[:51]:<51}  {state:<12}  0 of inf"]
    if peer.username:
        block.append(f"     InAuth:  {peer.name}-auth/{peer.username}")
    block.append(f"        Aor:  {peer.name[:51]:<51}1")
    if peer.host is not None:
        status, rtt = _contact(peer)
        uri = f"sip:[{peer.host}]:{peer.port}" if ":" in peer.host else f"sip:{peer.host}:{peer.port}"
        width = max(0, 41 - len(peer.name))
        digest = hashlib.sha256(peer.name.encode()).hexdigest()[:10]
        block.append(f"      Contact:  {peer.name}/{uri[:width]:<{width}} {digest:<10.10} {status:<7.7} {rtt}")
    return [*block, ""]


def pjsip_show_endpoints(peers: list[SimPeer]) -> str:
    """`pjsip show endpoints` as Asterisk 20 prints it (legend, blocks, `Objects found: N`)."""
    if not peers:
        return "No objects found.\n\n"
    lines = [_PJSIP_LEGEND.rstrip("\n"), ""]
    for peer in sorted(peers, key=lambda p: p.name):
        lines += _pjsip_block(peer)
    return "\n".join([*lines, "", f"Objects found: {len(peers)}", ""]) + "\n"


def no_such_command(command: str) -> str:
    words = command.split()
    return f"No such command '{command}' (type 'core show help {' '.join(words[:-1])}' for other possible commands)\n"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def asterisk_script(stack: Stack, peers: list[SimPeer]) -> str:
    """The fake `asterisk` for one host: `asterisk -rx '<command>'` with the host's peers baked in."""
    sip = sip_show_peers(peers) if stack == "sip" else no_such_command("sip show peers")
    pjsip = pjsip_show_endpoints(peers) if stack == "pjsip" else no_such_command("pjsip show endpoints")
    return f"""#!/bin/sh
# pbxwatch simulated Asterisk (stack: {stack}); state comes from the SSH server's environment.
case "$PBXSIM_MODE" in
  asterisk_not_running|permission_denied) echo {_quoted(UNABLE_TO_CONNECT)} >&2; exit 1;;
  cli_hung) exec sleep 3600;;
esac
if [ "$1" != "-rx" ]; then echo "simulated asterisk: only -rx is supported" >&2; exit 1; fi
case "$2" in
  'core show uptime seconds') printf 'System uptime: %s\\nLast reload: %s\\n' "$PBXSIM_UPTIME" "$PBXSIM_UPTIME";;
  'sip show peers') printf '%s' {_quoted(sip)};;
  'pjsip show endpoints') printf '%s' {_quoted(pjsip)};;
  *) printf "No such command '%s' (type 'core show help %s' for other possible commands)\\n" "$2" "$2";;
esac
exit 0
"""


PGREP_SCRIPT = """#!/bin/sh
# pbxwatch simulated pgrep: the host's own process table, not the machine running the simulator.
case "$PBXSIM_MODE" in asterisk_not_running|asterisk_missing) exit 1;; esac
exit 0
"""

DF_SCRIPT = """#!/bin/sh
# pbxwatch simulated df -P /
used=$((PBXSIM_DISK * 1000))
avail=$(((100 - PBXSIM_DISK) * 1000))
echo 'Filesystem     1024-blocks     Used Available Capacity Mounted on'
printf '/dev/vda       %12d %8d %9d %8s%% /\\n' 100000 "$used" "$avail" "$PBXSIM_DISK"
"""

RESTART_MARKER = ".asterisk-restarted"  # in the host's HOME: the SSH server applies the restart after the exec

SUDO_SCRIPT = """#!/bin/sh
# pbxwatch simulated sudo: the SSH user may run anything without a password (-n is accepted and ignored).
[ "$1" = "-n" ] && shift
exec "$@"
"""

SYSTEMCTL_SCRIPT = f"""#!/bin/sh
# pbxwatch simulated systemctl: `restart asterisk` brings a dead or hung Asterisk back, unless the host was
# told that its restart fails (PBXSIM_RESTART=fails), as a broken config or a full disk would.
case "$1 $2" in
  "restart asterisk"|"restart asterisk.service") ;;
  *) echo "simulated systemctl: only 'restart asterisk' is supported" >&2; exit 1;;
esac
case "$PBXSIM_MODE" in
  asterisk_not_running|cli_hung)
    if [ "$PBXSIM_RESTART" = "fails" ]; then
      echo "Job for asterisk.service failed because the control process exited with error code." >&2
      echo 'See "systemctl status asterisk.service" and "journalctl -xeu asterisk.service" for details.' >&2
      exit 1
    fi;;
esac
: > "$HOME/{RESTART_MARKER}"
exit 0
"""
