"""`pbxwatch probe HOST` — one check of one PBX over SSH, exactly as the monitor does it."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import typer
from rich.table import Table

from pbxwatch.cli.common import cli_settings, console, fail, print_json, run
from pbxwatch.config import ConfigError
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import Verdict

EXIT_CODES = {Verdict.UP: 0, Verdict.DOWN: 1, Verdict.UNKNOWN: 3}
_HOST = re.compile(r"^[A-Za-z0-9_.:%\[\]-]+$")

Host = Annotated[str, typer.Argument(help="IP address or DNS name of the PBX.", show_default=False)]
Port = Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="SSH port.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TrustNew = Annotated[
    bool,
    typer.Option(
        "--trust-new-key",
        help="Accept and remember the host key if known_hosts has none for this host (a CHANGED key is still refused).",
    ),
]


def probe(
    ctx: typer.Context, host: Host, port: Port = 22, as_json: AsJson = False, trust_new_key: TrustNew = False
) -> None:
    """Check one PBX: verdict, reason, uptime, disk, SIP totals and the peer table.

    Exit status: 0 up, 1 down, 3 unknown (the reason says why). SSH credentials and host-key policy come
    from the ssh.* settings (PBXWATCH_SSH_USERNAME, PBXWATCH_SSH_KEY_FILE, PBXWATCH_SSH_KNOWN_HOSTS, ...).
    """
    target = host.strip("[]") if host.startswith("[") else host
    if not _HOST.match(host) or host.startswith("-"):
        fail(f"bad host {host!r}: give an IP address or a DNS name")
    settings = cli_settings(ctx)
    try:
        settings.require_ssh_credentials()
    except ConfigError as err:
        fail(str(err), 2)
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    result = run(lambda: _check(settings, target, port, trust_new_key))
    if as_json:
        print_json(_as_json(target, port, result))
    else:
        _show(target, port, result)
    raise typer.Exit(EXIT_CODES[result.verdict])


async def _check(settings: Any, host: str, port: int, trust_new_key: bool) -> CheckResult:
    from pbxwatch.probe import ProbeConfigError, ProbeOptions, SshProber

    options = ProbeOptions.from_settings(
        settings.ssh, accept_new_host_keys=trust_new_key or settings.ssh.accept_new_host_keys
    )
    try:
        prober = SshProber(options)
    except ProbeConfigError as err:
        raise ConfigError(str(err)) from err
    async with prober:
        return await prober.check(host, port)


def _as_json(host: str, port: int, result: CheckResult) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "verdict": result.verdict.value,
        "reason": result.reason.value,
        "detail": result.detail,
        "uptime_seconds": result.uptime_seconds,
        "disk_usage_percent": result.disk_usage_percent,
        "sip_peers": result.sip_peers,
        "line_stats": result.line_stats,
    }


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours:02d}:{rest // 60:02d}:{rest % 60:02d} ({seconds} s)"


def _show(host: str, port: int, result: CheckResult) -> None:
    colour = {Verdict.UP: "green", Verdict.DOWN: "red", Verdict.UNKNOWN: "yellow"}[result.verdict]
    console.print(f"{host}:{port}  [bold {colour}]{result.verdict.value}[/]  reason: {result.reason.value}")
    if result.detail:
        console.print(f"detail:  {result.detail}", markup=False)
    if result.uptime_seconds is not None:
        console.print(f"uptime:  {_duration(result.uptime_seconds)}")
    if result.disk_usage_percent is not None:
        console.print(f"disk:    {result.disk_usage_percent}% used (/)")
    if result.line_stats is not None:
        _show_lines(result.line_stats)


def _show_lines(stats: dict[str, Any]) -> None:
    if stats.get("stack_absent"):
        console.print(f"SIP:     {stats['source']} stack not loaded")
        return
    counts = ", ".join(f"{k} {stats[k]}" for k in ("ok", "lagged", "unreachable", "unknown", "unmonitored"))
    flags = " [yellow](rows disagree with Asterisk's summary)[/]" if stats.get("parse_mismatch") else ""
    console.print(f"SIP:     {stats['source']}: {stats['total']} peers ({counts}){flags}")
    if not stats.get("peers"):
        return
    table = Table("name", "username", "host", "port", "status", "latency ms")
    for peer in stats["peers"]:
        table.add_row(
            *(
                ("" if peer[k] is None else str(peer[k]))
                for k in ("name", "username", "host", "port", "status", "latency_ms")
            )
        )
    console.print(table)
