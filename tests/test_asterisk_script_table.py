"""The probe output's details an operator reads in `last_error_message`, one row per case (pure)."""

from __future__ import annotations

import pytest

from pbxwatch.asterisk import MARKER, ProbeCommandError, build_probe_command, interpret_probe_output
from pbxwatch.asterisk.script import Section, choose_line_stats, cli_timeout, split_sections
from pbxwatch.asterisk.sip import parse_sip_peers
from pbxwatch.asterisk.stats import clean_lines, parse_latency
from pbxwatch.domain.vocabulary import Reason
from tests.test_asterisk_script import DF_OK, NO_SIP, PGREP_NO, PGREP_YES, PJSIP, SIP, UNABLE, UPTIME, output
from tests.test_asterisk_sip import fixture


@pytest.mark.parametrize(("command_timeout", "remote"), [(10, 4.0), (1, 0.5), (7.77, 3.1), (0.1, 0.5), (1.3, 0.5)])
def test_the_remote_limit_is_four_tenths_of_the_command_timeout_rounded_and_at_least_half_a_second(
    command_timeout: float, remote: float
) -> None:
    assert cli_timeout(command_timeout) == remote
    assert f"timeout -k 1 {remote} asterisk -rx" in build_probe_command("asterisk", command_timeout)


def test_an_unsafe_asterisk_command_is_refused_with_examples() -> None:
    with pytest.raises(ProbeCommandError) as caught:
        build_probe_command("asterisk; reboot")
    assert str(caught.value) == (
        "asterisk command 'asterisk; reboot' may contain only words of letters, digits and ._/=+@- "
        "(e.g. 'asterisk', '/usr/sbin/asterisk', 'sudo -n asterisk')"
    )


@pytest.mark.parametrize(
    ("name", "stdout", "expected"),
    [
        (
            "login noise before the first marker is ignored",
            f"motd\n{MARKER} pgrep\n{MARKER} rc=0\n",
            {"pgrep": Section("", 0)},
        ),
        (
            "CRLF lines are read like LF lines",
            f"{MARKER} uptime\r\nSystem uptime: 5\r\n{MARKER} rc=0\r\n",
            {"uptime": Section("System uptime: 5", 0)},
        ),
        (
            "a section cut off by the next marker never finished",
            f"{MARKER} sip\na\nb\n{MARKER} df\nx\n{MARKER} rc=0",
            {"sip": Section("a\nb", None), "df": Section("x", 0)},
        ),
        ("a section cut off at the end never finished", f"{MARKER} sip\na\nb", {"sip": Section("a\nb", None)}),
        (
            "an rc line outside a section is ignored",
            f"{MARKER} rc=0\n{MARKER} df\n{MARKER} rc=1",
            {"df": Section("", 1)},
        ),
        ("an rc that is not a number is unknown", f"{MARKER} df\n{MARKER} rc=x", {"df": Section("", None)}),
        ("an empty marker word is ignored", f"{MARKER} df\nx\n{MARKER}\n{MARKER} rc=0", {"df": Section("x", 0)}),
    ],
)
def test_sections(name: str, stdout: str, expected: dict[str, Section]) -> None:
    assert split_sections(stdout) == expected, name


@pytest.mark.parametrize(
    ("name", "stdout", "finished", "reason", "detail"),
    [
        (
            "a hung uptime call names where it stuck",
            output(PGREP_YES, ("uptime", "", None), end=False),
            False,
            Reason.CLI_HUNG,
            "asterisk -rx did not answer in time (stuck in uptime)",
        ),
        (
            "nothing ran before the client gave up",
            "motd only",
            False,
            Reason.COMMAND_TIMEOUT,
            "the probe command did not finish in time",
        ),
        (
            "the probe did not run at all",
            "motd only",
            True,
            Reason.PROBE_ERROR,
            "unexpected output: the probe command did not run",
        ),
        (
            "an uptime the parser cannot read quotes its first line",
            output(PGREP_YES, ("uptime", "\n  gibberish \n", 0)),
            True,
            Reason.PROBE_ERROR,
            "unexpected uptime output: gibberish",
        ),
        (
            "an empty uptime answer says so",
            output(PGREP_YES, ("uptime", "", 0)),
            True,
            Reason.PROBE_ERROR,
            "unexpected uptime output: (no output)",
        ),
        (
            "the remote timeout killed the uptime call",
            output(PGREP_YES, ("uptime", "", 124)),
            True,
            Reason.CLI_HUNG,
            "asterisk -rx did not answer before the remote timeout",
        ),
        (
            "the grace kill ended the uptime call",
            output(PGREP_YES, ("uptime", "", 137)),
            True,
            Reason.CLI_HUNG,
            "asterisk -rx did not answer before the remote timeout",
        ),
        (
            "a PBX without `timeout` is our problem",
            output(PGREP_YES, ("uptime", "sh: 1: timeout: not found", 127)),
            True,
            Reason.PROBE_ERROR,
            "the PBX has no `timeout` command: sh: 1: timeout: not found",
        ),
        (
            "a missing asterisk binary",
            output(PGREP_NO, ("uptime", "sh: 1: asterisk: not found", 127)),
            True,
            Reason.ASTERISK_MISSING,
            "sh: 1: asterisk: not found",
        ),
        (
            "a binary we may not run",
            output(PGREP_NO, ("uptime", "sh: 1: asterisk: Permission denied", 126)),
            True,
            Reason.PERMISSION_DENIED,
            "sh: 1: asterisk: Permission denied",
        ),
        (
            "no daemon: unable to connect and no process",
            output(PGREP_NO, ("uptime", UNABLE, 1)),
            True,
            Reason.ASTERISK_NOT_RUNNING,
            UNABLE.strip().splitlines()[0],
        ),
        (
            "a daemon whose socket is not ours",
            output(PGREP_YES, ("uptime", UNABLE, 1)),
            True,
            Reason.PERMISSION_DENIED,
            f"asterisk runs but its CLI is not reachable: {UNABLE.strip().splitlines()[0]}",
        ),
        (
            "no pgrep answer: cannot tell down from no access",
            output(("pgrep", "", 2), ("uptime", UNABLE, 1)),
            True,
            Reason.PROBE_ERROR,
            f"pgrep is unavailable, cannot tell down from no access: {UNABLE.strip().splitlines()[0]}",
        ),
        (
            "any other exit code is quoted",
            output(PGREP_YES, ("uptime", "odd", 3)),
            True,
            Reason.PROBE_ERROR,
            "asterisk -rx exited 3: odd",
        ),
        (
            "a long answer is quoted up to 200 characters",
            output(PGREP_YES, ("uptime", "x" * 300, 3)),
            True,
            Reason.PROBE_ERROR,
            "asterisk -rx exited 3: " + "x" * 200,
        ),
    ],
)
def test_what_the_operator_reads(name: str, stdout: str, finished: bool, reason: Reason, detail: str) -> None:
    result = interpret_probe_output(stdout, finished=finished)
    assert (result.reason, result.detail) == (reason, detail), name


def test_output_that_is_not_text_is_an_error_of_ours_not_a_crash() -> None:
    result = interpret_probe_output(b"bytes", finished=True)  # type: ignore[arg-type]
    assert (result.reason, result.detail) == (Reason.PROBE_ERROR, "unexpected output: the probe command did not run")


def test_disk_usage_only_from_a_df_that_succeeded() -> None:
    up = ("uptime", UPTIME, 0)
    assert interpret_probe_output(output(PGREP_YES, up, DF_OK)).disk_usage_percent is not None
    assert interpret_probe_output(output(PGREP_YES, up, ("df", DF_OK[1], 1))).disk_usage_percent is None


@pytest.mark.parametrize(
    ("name", "sections", "source"),
    [
        ("only sip answered", {"sip": Section(SIP, 0)}, "sip"),
        ("only pjsip answered", {"pjsip": Section(PJSIP, 0)}, "pjsip"),
        ("a failed sip call is no stats", {"sip": Section(SIP, 1), "pjsip": Section(PJSIP, 0)}, "pjsip"),
        ("sip absent, pjsip loaded", {"sip": Section(NO_SIP, 0), "pjsip": Section(PJSIP, 0)}, "pjsip"),
        (
            "pjsip absent, sip loaded",
            {"sip": Section(SIP, 0), "pjsip": Section("No such command 'pjsip show endpoints'", 0)},
            "sip",
        ),
        ("both loaded: the one with more peers", {"sip": Section(SIP, 0), "pjsip": Section(PJSIP, 0)}, "pjsip"),
        (
            "both loaded, pjsip with no endpoints: sip",
            {"sip": Section(SIP, 0), "pjsip": Section("No objects found.", 0)},
            "sip",
        ),
        ("nothing answered", {}, None),
        (
            "both loaded with as many peers: sip",
            {
                "sip": Section(fixture("sip_show_peers_ast20_like_empty.txt"), 0),
                "pjsip": Section(fixture("pjsip_show_endpoints_ast20_no_objects.txt"), 0),
            },
            "sip",
        ),
    ],
)
def test_which_stack_the_line_stats_come_from(name: str, sections: dict[str, Section], source: str | None) -> None:
    stats = choose_line_stats(sections)
    assert (stats["source"] if stats else None) == source, name


HEADER = (
    "Name/username             Host                                    Dyn Forcerport Comedia    ACL Port     Status"
)
ROW = "{name:<25} 127.0.0.1                                   Auto (No)  No             5060     OK (3 ms)"


def summary(online: int, offline: int, total: int = 1) -> str:
    return f"{total} sip peers [Monitored: {online} online, {offline} offline Unmonitored: 0 online, 0 offline]"


@pytest.mark.parametrize(
    ("name", "text", "mismatch"),
    [
        ("rows and buckets agree with the summary", "\n".join([HEADER, ROW.format(name="a"), summary(1, 0)]), False),
        ("the row count agrees but the buckets do not", "\n".join([HEADER, ROW.format(name="a"), summary(0, 1)]), True),
        ("the buckets agree but the count does not", "\n".join([HEADER, ROW.format(name="a"), summary(1, 0, 2)]), True),
        ("no summary line: nothing to disagree with", "\n".join([HEADER, ROW.format(name="a")]), False),
    ],
)
def test_the_summary_line_is_checked_against_the_rows(name: str, text: str, mismatch: bool) -> None:
    assert parse_sip_peers(text)["parse_mismatch"] is mismatch, name


def test_rows_after_the_summary_line_still_count() -> None:
    stats = parse_sip_peers("\n".join([HEADER, ROW.format(name="a"), summary(1, 0), ROW.format(name="b")]))
    assert [p["name"] for p in stats["peers"]] == ["a", "b"]
    assert (stats["monitored_online"], stats["monitored_offline"]) == (1, 0)


def test_a_username_with_a_slash_keeps_it() -> None:
    [peer] = parse_sip_peers("\n".join([HEADER, ROW.format(name="trunk/user/x")]))["peers"]
    assert (peer["name"], peer["username"]) == ("trunk", "user/x")


@pytest.mark.parametrize(
    ("text", "latency"),
    [("0", 0.0), ("0,474", 0.474), ("204.606", 204.606), ("nan", None), ("inf", None), ("-1", None), ("x", None)],
)
def test_pjsip_round_trip_times(text: str, latency: float | None) -> None:
    assert parse_latency(text) == latency


def test_bare_carriage_returns_split_lines_too() -> None:
    assert clean_lines("a\rb\r\nc") == ["a", "b", "c"]
    assert clean_lines(b"a") == []


def test_a_cut_off_uptime_call_of_a_finished_command_is_our_error_not_a_hang() -> None:
    result = interpret_probe_output(output(PGREP_YES, ("uptime", "", None), end=False))  # finished by default
    assert result.reason is Reason.PROBE_ERROR


def test_the_default_command_is_plain_asterisk_with_a_ten_second_budget() -> None:
    assert build_probe_command() == build_probe_command("asterisk", 10.0)
    assert "timeout -k 1 4.0 asterisk -rx 'core show uptime seconds'" in build_probe_command()


@pytest.mark.parametrize(
    ("name", "row", "expected"),
    [
        (
            "a peer named like a status keeps its own status",
            ROW.format(name="UNKNOWNpeer"),
            ("UNKNOWNpeer", 5060, "ok"),
        ),
        ("port 1 is a port", ROW.format(name="low").replace(" 5060 ", "    1 "), ("low", 1, "ok")),
    ],
)
def test_peer_rows(name: str, row: str, expected: tuple[str, int, str]) -> None:
    [peer] = parse_sip_peers("\n".join([HEADER, row]))["peers"]
    assert (peer["name"], peer["port"], peer["status"]) == expected, name
