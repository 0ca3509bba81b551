"""`core show uptime`, `df -P`, and Asterisk's error outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbxwatch.asterisk import CliError, classify_cli_error, parse_df, parse_uptime_seconds

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "asterisk"


def fixture(name: str) -> str:
    path = FIXTURES / name
    assert path.is_file(), f"fixture {path} is missing"
    return path.read_text(encoding="utf-8")


def test_uptime_in_seconds_and_in_words() -> None:
    assert parse_uptime_seconds(fixture("core_show_uptime_seconds_ast20.txt")) == 65
    # 1 week, 4 days, 22 hours, 29 minutes, 21 seconds
    assert parse_uptime_seconds(fixture("core_show_uptime_weeks.txt")) == 604800 + 4 * 86400 + 22 * 3600 + 29 * 60 + 21
    assert parse_uptime_seconds("System uptime: 1 year, 1 day\n") == 366 * 86400
    assert parse_uptime_seconds(fixture("error_unable_to_connect.txt")) is None
    assert parse_uptime_seconds("System uptime: soon") is None


def test_df_reads_the_capacity_of_the_root_filesystem() -> None:
    assert parse_df(fixture("df_P_root.txt")) == 23
    assert parse_df(fixture("df_P.txt")) == 23
    assert parse_df(fixture("df_P.txt"), mount="/dev/shm") == 0
    assert parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x 10 9 1 91% /my disk") == 91
    assert parse_df(fixture("df_h_root.txt")) is None  # human-readable form is for display only
    assert parse_df("") is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("error_no_such_command_sip_ast20.txt", CliError.NO_SUCH_COMMAND),
        ("error_no_such_command_sip_ast17.txt", CliError.NO_SUCH_COMMAND),
        ("error_no_such_command_pjsip_ast16.txt", CliError.NO_SUCH_COMMAND),
        ("error_unable_to_connect.txt", CliError.UNABLE_TO_CONNECT),
        ("error_asterisk_not_found_sh.txt", CliError.NOT_FOUND),
        ("core_show_version_ast20.txt", None),
        ("core_show_version_ast17.txt", None),
        ("core_show_channels_ast20_active.txt", None),
        ("core_show_channels_ast17_idle.txt", None),
        ("core_show_channels_count_ast20_idle.txt", None),
        ("sip_show_registry_ast20_states.txt", None),
        ("sip_show_registry_ast16_registered.txt", None),
        ("pjsip_show_registrations_ast20_exp_ago.txt", None),
    ],
)
def test_error_outputs_are_recognised_and_tables_are_not_errors(name: str, kind: CliError | None) -> None:
    assert classify_cli_error(fixture(name)) is kind


def test_sudo_and_permission_messages() -> None:
    assert classify_cli_error("sudo: a password is required\n") is CliError.PERMISSION
    assert classify_cli_error("timeout: failed to run command '/usr/sbin/asterisk': Permission denied") is (
        CliError.PERMISSION
    )
    assert classify_cli_error("bash: line 1: asterisk: command not found") is CliError.NOT_FOUND


def test_every_fixture_is_used_by_a_test() -> None:
    tests = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_asterisk_*.py"))
    unused = [p.name for p in FIXTURES.glob("*.txt") if p.name not in tests]
    assert unused == []


def test_the_parsers_import_nothing_of_pbxwatch_but_the_verdict_vocabulary() -> None:
    import ast

    import pbxwatch.asterisk

    package = Path(pbxwatch.asterisk.__file__).parent
    imported = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    ours = {name for name in imported if name.startswith("pbxwatch")}
    assert {name for name in ours if not name.startswith("pbxwatch.asterisk")} == {
        "pbxwatch.domain.verdicts",
        "pbxwatch.domain.vocabulary",
    }
    assert not {name for name in imported if name.split(".")[0] in {"asyncio", "asyncssh", "socket", "subprocess"}}
