"""The one probe command's output → verdict and reason (pure; the SSH side is in test_probe*.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbxwatch.asterisk import MARKER, ProbeCommandError, build_probe_command, interpret_probe_output
from pbxwatch.asterisk.script import split_sections
from pbxwatch.domain.vocabulary import REASON_VERDICT, Reason, Verdict

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "asterisk"
UNABLE = (FIXTURES / "error_unable_to_connect.txt").read_text(encoding="utf-8")
SIP = (FIXTURES / "sip_show_peers_ast11_mixed.txt").read_text(encoding="utf-8")
PJSIP = (FIXTURES / "pjsip_show_endpoints_trunks_mixed.txt").read_text(encoding="utf-8")
NO_SIP = (FIXTURES / "error_no_such_command_sip_ast20.txt").read_text(encoding="utf-8")
DF = (FIXTURES / "df_P_root.txt").read_text(encoding="utf-8")
UPTIME = (FIXTURES / "core_show_uptime_seconds_ast20.txt").read_text(encoding="utf-8")
NO_PJSIP = (
    "No such command 'pjsip show endpoints' (type 'core show help pjsip show endpoints' for other possible commands)"
)


def output(*sections: tuple[str, str, int | None], end: bool = True) -> str:
    out = ["Welcome to the PBX (motd noise)"]
    for name, text, rc in sections:
        out += [f"{MARKER} {name}", text.rstrip("\n")]
        if rc is not None:
            out.append(f"{MARKER} rc={rc}")
    if end:
        out.append(f"{MARKER} end")
    return "\n".join(out) + "\n"


PGREP_YES, PGREP_NO = ("pgrep", "", 0), ("pgrep", "", 1)
DF_OK = ("df", DF, 0)


def test_a_healthy_chan_sip_pbx_is_up_with_uptime_disk_and_line_stats() -> None:
    result = interpret_probe_output(
        output(PGREP_YES, ("uptime", UPTIME, 0), ("sip", SIP, 0), ("pjsip", NO_PJSIP, 0), DF_OK)
    )
    assert (result.verdict, result.reason) == (Verdict.UP, Reason.OK)
    assert result.uptime_seconds == 65
    assert result.disk_usage_percent == 23
    assert result.line_stats is not None
    assert (result.line_stats["source"], result.line_stats["total"]) == ("sip", 8)
    assert result.sip_peers == 8


def test_a_pjsip_only_pbx_reports_the_pjsip_stack() -> None:
    result = interpret_probe_output(
        output(PGREP_YES, ("uptime", UPTIME, 0), ("sip", NO_SIP, 0), ("pjsip", PJSIP, 0), DF_OK)
    )
    assert result.reason is Reason.OK
    assert result.line_stats is not None
    assert (result.line_stats["source"], result.line_stats["total"]) == ("pjsip", 11)


@pytest.mark.parametrize(
    ("sections", "reason"),
    [
        ((PGREP_NO, ("uptime", UNABLE, 1), DF_OK), Reason.ASTERISK_NOT_RUNNING),
        ((PGREP_YES, ("uptime", UNABLE, 1), DF_OK), Reason.PERMISSION_DENIED),
        ((("pgrep", "", 127), ("uptime", UNABLE, 1), DF_OK), Reason.PROBE_ERROR),
        ((PGREP_YES, ("uptime", "", 124), DF_OK), Reason.CLI_HUNG),
        ((PGREP_YES, ("uptime", "", 137), DF_OK), Reason.CLI_HUNG),
        (
            (PGREP_NO, ("uptime", "timeout: failed to run command 'asterisk': No such file or directory", 127), DF_OK),
            Reason.ASTERISK_MISSING,
        ),
        ((PGREP_NO, ("uptime", "sudo: asterisk: command not found", 1), DF_OK), Reason.ASTERISK_MISSING),
        ((PGREP_YES, ("uptime", "sudo: a password is required", 1), DF_OK), Reason.PERMISSION_DENIED),
        (
            (PGREP_YES, ("uptime", "timeout: failed to run command 'asterisk': Permission denied", 126), DF_OK),
            Reason.PERMISSION_DENIED,
        ),
        ((PGREP_YES, ("uptime", "sh: 1: timeout: not found", 127), DF_OK), Reason.PROBE_ERROR),
        ((PGREP_YES, ("uptime", "Segmentation fault", 139), DF_OK), Reason.PROBE_ERROR),
        ((PGREP_YES, ("uptime", "System uptime: soon", 0), DF_OK), Reason.PROBE_ERROR),
    ],
)
def test_each_failure_maps_to_its_reason(sections: tuple, reason: Reason) -> None:
    result = interpret_probe_output(output(*sections))
    assert result.reason is reason
    assert result.detail  # the operator sees why


def test_permission_and_missing_binary_are_unknown_never_down() -> None:
    for text, rc in (("sudo: a password is required", 1), ("asterisk: not found", 127)):
        assert interpret_probe_output(output(PGREP_YES, ("uptime", text, rc))).verdict is Verdict.UNKNOWN


def test_output_cut_off_inside_the_uptime_call_is_a_hung_cli() -> None:
    result = interpret_probe_output(output(PGREP_YES, ("uptime", "", None), end=False), finished=False)
    assert result.reason is Reason.CLI_HUNG


def test_output_cut_off_before_anything_ran_is_a_command_timeout() -> None:
    assert interpret_probe_output("", finished=False).reason is Reason.COMMAND_TIMEOUT
    assert interpret_probe_output("", finished=True).reason is Reason.PROBE_ERROR
    assert interpret_probe_output("garbage\x00\n", finished=True).verdict is Verdict.UNKNOWN


def test_the_command_refuses_shell_metacharacters_in_the_asterisk_command() -> None:
    assert "sudo -n asterisk -rx 'core show uptime seconds'" in build_probe_command("sudo -n asterisk", 10)
    for bad in ("asterisk; reboot", "$(id)", "a|b", "", "x `y`"):
        with pytest.raises(ProbeCommandError):
            build_probe_command(bad, 10)


def test_the_command_runs_in_a_real_shell_and_reports_a_missing_asterisk(tmp_path: Path) -> None:
    command = build_probe_command("pbxwatch-no-such-asterisk", 2)
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=20, check=False)
    result = interpret_probe_output(done.stdout)
    assert result.reason is Reason.ASTERISK_MISSING
    assert result.detail


def test_after_a_failed_uptime_no_other_asterisk_call_is_made() -> None:
    command = build_probe_command("pbxwatch-no-such-asterisk", 2)
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=20, check=False)
    assert f"{MARKER} sip" not in done.stdout
    assert f"{MARKER} pjsip" not in done.stdout
    assert f"{MARKER} df" in done.stdout


def _fake_pbx(tmp_path: Path, *, cli_answers: bool, daemon_runs: bool) -> dict[str, str]:
    """A PATH with a fake `asterisk` and `pgrep` that note each call in `calls`, for the real /bin/sh."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    answer = f"cat <<'EOF'\n{UPTIME}EOF\nexit 0" if cli_answers else f"cat <<'EOF'\n{UNABLE}EOF\nexit 1"
    scripts = {
        "asterisk": f'echo "asterisk $*" >> {calls}\n{answer}\n',
        "pgrep": f"echo pgrep >> {calls}\nexit {0 if daemon_runs else 1}\n",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}", encoding="utf-8")
        path.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(calls)}


def _run_check(env: dict[str, str]) -> tuple[Reason, list[str]]:
    done = subprocess.run(
        ["/bin/sh", "-c", build_probe_command("asterisk", 5)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
        env=env,
    )
    calls = Path(env["CALLS"]).read_text(encoding="utf-8").splitlines()
    return interpret_probe_output(done.stdout).reason, [call.split(" -rx ")[0] for call in calls]


def test_a_healthy_check_never_scans_the_process_table(tmp_path: Path) -> None:
    reason, calls = _run_check(_fake_pbx(tmp_path, cli_answers=True, daemon_runs=True))
    assert reason is Reason.OK
    assert "pgrep" not in calls


@pytest.mark.parametrize(
    ("daemon_runs", "reason"), [(False, Reason.ASTERISK_NOT_RUNNING), (True, Reason.PERMISSION_DENIED)]
)
def test_when_the_cli_cannot_connect_the_process_table_tells_down_from_no_access(
    tmp_path: Path, daemon_runs: bool, reason: Reason
) -> None:
    found, calls = _run_check(_fake_pbx(tmp_path, cli_answers=False, daemon_runs=daemon_runs))
    assert found is reason
    assert calls == ["asterisk", "pgrep"]


SECTION_LINES = [
    f"{MARKER} {w}"
    for w in ("pgrep", "uptime", "sip", "pjsip", "df", "end", "rc=0", "rc=1", "rc=124", "rc=127", "rc=x", "")
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from([*SECTION_LINES, UPTIME, SIP, PJSIP, NO_SIP, DF, UNABLE]), st.text())),
    st.booleans(),
)
def test_any_output_gives_a_verdict_without_hitting_the_safety_net(lines: list[str], finished: bool) -> None:
    result = interpret_probe_output("\n".join(lines), finished=finished)
    assert result.reason in Reason
    assert result.verdict is REASON_VERDICT[result.reason]  # a verdict always from the vocabulary, matching
    assert not result.detail.startswith("cannot interpret probe output"), result.detail
    if not finished and result.verdict is Verdict.UP:  # cut off, yet up: only once the CLI itself answered
        uptime = split_sections("\n".join(lines)).get("uptime")
        assert uptime is not None and uptime.rc == 0
    if result.verdict is Verdict.UP:
        assert result.uptime_seconds is not None and result.uptime_seconds >= 0
