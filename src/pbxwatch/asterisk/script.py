"""The ONE remote command a check runs, and the pure reading of its output into a `CheckResult` (docs/design.md §3).

`build_probe_command()` renders `PROBE_TEMPLATE`: under `LC_ALL=C` it prints a marker line before each
section and the section's exit status after it, so stdout alone tells what ran and how it ended:

    ::pbxwatch:: uptime        <asterisk> -rx 'core show uptime seconds'   (does the CLI answer?)
    ::pbxwatch:: pgrep         pgrep -x asterisk    (only if the CLI did not answer: is a daemon running?)
    ::pbxwatch:: sip           <asterisk> -rx 'sip show peers'             (only if uptime answered)
    ::pbxwatch:: pjsip         <asterisk> -rx 'pjsip show endpoints'       (if sip ran and did not hang)
    ::pbxwatch:: df            df -P /
    ::pbxwatch:: end

Each Asterisk call is wrapped in the remote `timeout` (GNU coreutils) so a hung CLI is killed on the PBX
(exit 124, or 137 after the grace kill) and nothing piles up there; after a hang the remaining Asterisk
calls are skipped. `interpret_probe_output()` maps the sections to a verdict and reason; it never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pbxwatch.asterisk.core import CliError, classify_cli_error, parse_df, parse_uptime_seconds
from pbxwatch.asterisk.pjsip import parse_pjsip_endpoints
from pbxwatch.asterisk.sip import parse_sip_peers
from pbxwatch.domain.verdicts import CheckResult
from pbxwatch.domain.vocabulary import Reason

MARKER = "::pbxwatch::"
TIMEOUT_EXIT = (124, 137)  # GNU timeout: the command timed out / had to be killed
NOT_FOUND_EXIT = 127
NOT_EXECUTABLE_EXIT = 126
# `asterisk`, `/usr/sbin/asterisk`, `sudo -n asterisk`, `sudo -n -u asterisk /usr/sbin/asterisk`:
# words of safe characters only, because the value is pasted into a shell command line.
ASTERISK_COMMAND = re.compile(r"^[\w./=+@-]+( [\w./=+@-]+)*$")

PROBE_TEMPLATE = (
    # stdin is /dev/null on the PBX itself, so the client need not send an EOF packet on every check.
    "exec </dev/null; LC_ALL=C; export LC_ALL; M='{m}'; "
    'echo "$M uptime"; timeout -k 1 {t} {ast} -rx \'core show uptime seconds\' 2>&1; r=$?; echo "$M rc=$r"; '
    # A CLI that answers proves the daemon runs; the process-table scan is paid only when it does not.
    'if [ $r -ne 0 ]; then echo "$M pgrep"; pgrep -x asterisk >/dev/null 2>&1; echo "$M rc=$?"; fi; '
    "if [ $r -eq 0 ]; then echo \"$M sip\"; timeout -k 1 {t} {ast} -rx 'sip show peers' 2>&1; r=$?; "
    'echo "$M rc=$r"; '
    "if [ $r -lt 124 ]; then echo \"$M pjsip\"; timeout -k 1 {t} {ast} -rx 'pjsip show endpoints' 2>&1; "
    'echo "$M rc=$?"; fi; fi; '
    'echo "$M df"; df -P / 2>&1; echo "$M rc=$?"; echo "$M end"'
)


class ProbeCommandError(ValueError):
    """The configured Asterisk command cannot be placed safely in a shell command line."""


def cli_timeout(command_timeout: float) -> float:
    """Remote per-call limit: two hung calls still end before the client gives up on the command."""
    return max(0.5, round(command_timeout * 0.4, 1))


def build_probe_command(asterisk_command: str = "asterisk", command_timeout: float = 10.0) -> str:
    """The shell command line of one check (see the module docstring)."""
    if not ASTERISK_COMMAND.match(asterisk_command):
        raise ProbeCommandError(
            f"asterisk command {asterisk_command!r} may contain only words of letters, digits and ._/=+@- "
            "(e.g. 'asterisk', '/usr/sbin/asterisk', 'sudo -n asterisk')"
        )
    return PROBE_TEMPLATE.format(m=MARKER, t=cli_timeout(command_timeout), ast=asterisk_command)


@dataclass
class Section:
    text: str
    rc: int | None  # None: the section never finished (the client stopped waiting)


def split_sections(stdout: str) -> dict[str, Section]:
    """Sections by name; anything before the first marker (login noise) is ignored."""
    sections: dict[str, Section] = {}
    current: str | None = None
    lines: list[str] = []
    for line in stdout.replace("\r\n", "\n").split("\n"):
        if not line.startswith(MARKER):
            lines.append(line)
            continue
        word = line[len(MARKER) :].strip()
        if word.startswith("rc=") and current is not None:
            sections[current] = Section("\n".join(lines), _int(word[3:]))
            current = None
        elif word and not word.startswith("rc="):
            if current is not None:
                sections[current] = Section("\n".join(lines), None)
            current, lines = word, []
    if current is not None:
        sections[current] = Section("\n".join(lines), None)
    return sections


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "(no output)")[:200]


def interpret_probe_output(stdout: str, *, finished: bool = True) -> CheckResult:
    """Verdict and reason from the probe command's stdout. `finished=False`: the client timed out."""
    try:
        return _interpret(split_sections(stdout if isinstance(stdout, str) else ""), finished)
    except Exception as err:  # noqa: BLE001 - bad output must become a verdict, never a crash
        return CheckResult.of(Reason.PROBE_ERROR, f"cannot interpret probe output: {err!r}")


ASTERISK_SECTIONS = ("uptime", "sip", "pjsip")


def _interpret(sections: dict[str, Section], finished: bool) -> CheckResult:
    unfinished = [name for name, section in sections.items() if section.rc is None]
    if not finished and unfinished and unfinished[-1] in ASTERISK_SECTIONS:
        return CheckResult.of(Reason.CLI_HUNG, f"asterisk -rx did not answer in time (stuck in {unfinished[-1]})")
    uptime = sections.get("uptime")
    if uptime is None or uptime.rc is None:
        if not finished:
            return CheckResult.of(Reason.COMMAND_TIMEOUT, "the probe command did not finish in time")
        return CheckResult.of(Reason.PROBE_ERROR, "unexpected output: the probe command did not run")
    if uptime.rc == 0:
        return _answered(uptime, sections)
    return _failed(uptime, sections.get("pgrep"))


def _answered(uptime: Section, sections: dict[str, Section]) -> CheckResult:
    seconds = parse_uptime_seconds(uptime.text)
    if seconds is None:
        return CheckResult.of(Reason.PROBE_ERROR, f"unexpected uptime output: {_first_line(uptime.text)}")
    df = sections.get("df")
    disk = parse_df(df.text) if df is not None and df.rc == 0 else None
    return CheckResult.of(
        Reason.OK, uptime_seconds=seconds, disk_usage_percent=disk, line_stats=choose_line_stats(sections)
    )


def _failed(uptime: Section, pgrep: Section | None) -> CheckResult:
    said = _first_line(uptime.text)
    if uptime.rc in TIMEOUT_EXIT:
        return CheckResult.of(Reason.CLI_HUNG, "asterisk -rx did not answer before the remote timeout")
    if uptime.rc == NOT_FOUND_EXIT and re.search(r"\btimeout: (not found|command not found)", uptime.text):
        return CheckResult.of(Reason.PROBE_ERROR, f"the PBX has no `timeout` command: {said}")
    error = classify_cli_error(uptime.text)
    if uptime.rc == NOT_FOUND_EXIT or error is CliError.NOT_FOUND:
        return CheckResult.of(Reason.ASTERISK_MISSING, said)
    if uptime.rc == NOT_EXECUTABLE_EXIT or error is CliError.PERMISSION:
        return CheckResult.of(Reason.PERMISSION_DENIED, said)
    if error is CliError.UNABLE_TO_CONNECT:
        return _unable_to_connect(said, pgrep)
    return CheckResult.of(Reason.PROBE_ERROR, f"asterisk -rx exited {uptime.rc}: {said}")


def _unable_to_connect(said: str, pgrep: Section | None) -> CheckResult:
    # The same message covers "no daemon" and "daemon runs, control socket not ours": pgrep decides.
    if pgrep is not None and pgrep.rc == 1:
        return CheckResult.of(Reason.ASTERISK_NOT_RUNNING, said)
    if pgrep is not None and pgrep.rc == 0:
        return CheckResult.of(Reason.PERMISSION_DENIED, f"asterisk runs but its CLI is not reachable: {said}")
    return CheckResult.of(Reason.PROBE_ERROR, f"pgrep is unavailable, cannot tell down from no access: {said}")


def _stack(section: Section | None, parse: Any) -> dict[str, Any] | None:
    if section is None or section.rc != 0:
        return None
    stats: dict[str, Any] = parse(section.text)
    return stats


def choose_line_stats(sections: dict[str, Section]) -> dict[str, Any] | None:
    """The loaded stack's stats: the one present; if both are loaded, the one with more peers (tie: sip)."""
    sip = _stack(sections.get("sip"), parse_sip_peers)
    pjsip = _stack(sections.get("pjsip"), parse_pjsip_endpoints)
    if sip is None or pjsip is None:
        return sip or pjsip
    if sip["stack_absent"] != pjsip["stack_absent"]:
        return pjsip if sip["stack_absent"] else sip
    return pjsip if pjsip["total"] > sip["total"] else sip
