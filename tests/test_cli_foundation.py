"""The foundation's commands through the real CLI: units, import, db, config, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import pbxwatch


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def _db_env(url: str) -> dict[str, str]:
    return {"PBXWATCH_DATABASE_URL": url}


def test_quick_start_on_the_sqlite_default(workdir: Path) -> None:
    up = pbxwatch("db", "upgrade", cwd=workdir)
    assert up.returncode == 0, up.stderr
    assert "created the schema" in up.stdout
    assert (workdir / "pbxwatch.db").exists()
    listing = pbxwatch("units", "list", cwd=workdir)
    assert listing.returncode == 0
    assert "no units yet" in listing.stdout


def test_units_lifecycle_on_postgres(pg_url: str, workdir: Path) -> None:
    env = _db_env(pg_url)
    added = pbxwatch(
        "units", "add", "0100", "--host", "10.0.0.5", "--name", "Acme", "--parameter-option-2",
        "--ewelink-device-id", "1000abcdef", "--ewelink-outlet", "1", cwd=workdir, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    again = pbxwatch("units", "add", "0100", "--host", "10.0.0.6", cwd=workdir, env=env)
    assert again.returncode == 1
    assert again.stderr.strip() == "error: unit 0100 already exists (use `pbxwatch units set`)"

    changed = pbxwatch("units", "set", "0100", "--ssh-port", "2222", "--no-parameter-option-2", cwd=workdir, env=env)
    assert changed.returncode == 0, changed.stderr
    shown = json.loads(pbxwatch("units", "show", "0100", "--json", cwd=workdir, env=env).stdout)
    assert shown == {
        "number": "0100",
        "name": "Acme",
        "host": "10.0.0.5",
        "ssh_port": 2222,
        "parameter_option_2": False,
        "ewelink_device_id": "1000abcdef",
        "ewelink_outlet": 1,
        "active": True,
        "cycle_mode": "cloud",
    }
    cleared = pbxwatch("units", "set", "0100", "--clear", "ewelink-outlet", cwd=workdir, env=env)
    assert cleared.returncode == 0, cleared.stderr

    assert pbxwatch("units", "remove", "0100", cwd=workdir, env=env).returncode == 0
    assert json.loads(pbxwatch("units", "list", "--json", cwd=workdir, env=env).stdout) == []
    every = json.loads(pbxwatch("units", "list", "--all", "--json", cwd=workdir, env=env).stdout)
    assert [(u["number"], u["active"], u["ewelink_outlet"]) for u in every] == [("0100", False, None)]

    purged = pbxwatch("units", "remove", "0100", "--purge", cwd=workdir, env=env)
    assert purged.returncode == 0, purged.stderr
    missing = pbxwatch("units", "show", "0100", cwd=workdir, env=env)
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: unit 0100 does not exist")


def test_purge_is_refused_while_history_exists(pg_url: str, workdir: Path) -> None:
    import asyncio
    from datetime import UTC, datetime

    from pbxwatch.db.engine import Database
    from pbxwatch.db.history import HistoryEntry, write_history

    env = _db_env(pg_url)
    assert pbxwatch("units", "add", "7", "--host", "pbx7.example", cwd=workdir, env=env).returncode == 0

    async def add_row() -> None:
        db = Database.from_url(pg_url)
        async with db.begin() as conn:
            await write_history(conn, [HistoryEntry.recovered("7", at=datetime.now(UTC))])
        await db.dispose()

    asyncio.run(add_row())
    refused = pbxwatch("units", "remove", "7", "--purge", cwd=workdir, env=env)
    assert refused.returncode == 1
    assert "has 1 history row(s)" in refused.stderr
    assert pbxwatch("units", "show", "7", cwd=workdir, env=env).returncode == 0


def test_bad_flag_values_are_one_line_errors(workdir: Path) -> None:
    assert pbxwatch("db", "upgrade", cwd=workdir).returncode == 0
    for args, expected in [
        (("units", "add", "1", "--host", "bad host"), "error: host: 'bad host' is neither an IP address nor a DNS name"),
        (("units", "add", "1", "--host", "h", "--ssh-port", "70000"), "error: ssh_port: 70000 is not a TCP port (1-65535)"),
        (("units", "add", "1"), "error: --host is required (the PBX's IP address or DNS name)"),
        (("units", "set", "1"), "error: nothing to change: give at least one option (see `pbxwatch units set --help`)"),
        (("units", "add", "1", "--host", "h", "--cycle-mode", "fast"),
         "error: cycle_mode: 'fast' must be one of cloud, device_timer"),
    ]:  # fmt: skip
        result = pbxwatch(*args, cwd=workdir)
        assert (result.returncode, result.stderr.strip()) == (1, expected), args
    assert json.loads(pbxwatch("units", "list", "--json", cwd=workdir).stdout) == []


def test_csv_import_validates_every_row_first_and_imports_nothing_on_error(pg_url: str, workdir: Path) -> None:
    env = _db_env(pg_url)
    bad = workdir / "bad.csv"
    bad.write_text(
        "number,host,ssh_port,parameter_option_2,ewelink_device_id\n"
        "1,10.0.0.1,22,yes,1000aaaaaa\n"
        "2,not a host,22,no,\n"
        "3,10.0.0.3,abc,no,\n"
        "1,10.0.0.4,22,maybe,\n"
    )
    result = pbxwatch("units", "import", str(bad), cwd=workdir, env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {bad}: line 3: host: 'not a host' is neither an IP address nor a DNS name",
        f"error: {bad}: line 4: ssh_port: 'abc' is not a whole number",
        f"error: {bad}: line 5: parameter_option_2: 'maybe' is not true/false",
        f"error: {bad}: nothing was imported",
    ]
    assert json.loads(pbxwatch("units", "list", "--all", "--json", cwd=workdir, env=env).stdout) == []


def test_csv_import_upserts_by_number_and_keeps_unnamed_columns(pg_url: str, workdir: Path) -> None:
    env = _db_env(pg_url)
    first = workdir / "first.csv"
    first.write_text("number,name,host,parameter_option_2\n1,One,10.0.0.1,true\n2,Two,10.0.0.2,false\n")
    result = pbxwatch("units", "import", str(first), cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    assert "2 added, 0 updated" in result.stdout
    second = workdir / "second.csv"
    second.write_text("number,host\n2,10.0.0.22\n3,pbx3.example\n")
    result = pbxwatch("units", "import", str(second), cwd=workdir, env=env)
    assert "1 added, 1 updated" in result.stdout
    units = json.loads(pbxwatch("units", "list", "--json", cwd=workdir, env=env).stdout)
    assert [(u["number"], u["name"], u["host"], u["parameter_option_2"]) for u in units] == [
        ("1", "One", "10.0.0.1", True),
        ("2", "Two", "10.0.0.22", False),
        ("3", None, "pbx3.example", False),
    ]


def test_csv_header_must_name_enterprises_columns(workdir: Path) -> None:
    assert pbxwatch("db", "upgrade", cwd=workdir).returncode == 0
    csv_file = workdir / "u.csv"
    csv_file.write_text("number,hostname\n1,a\n")
    result = pbxwatch("units", "import", str(csv_file), cwd=workdir)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith(f"error: {csv_file}: line 1: unknown column(s) hostname;")
    missing = pbxwatch("units", "import", str(workdir / "nope.csv"), cwd=workdir)
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        f"error: cannot read {workdir / 'nope.csv'}: No such file or directory",
    )


def test_bad_config_is_one_line_naming_the_setting(workdir: Path) -> None:
    result = pbxwatch("units", "list", cwd=workdir, env={"PBXWATCH_POLL_INTERVAL": "soon"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "config error: monitor.poll_interval (env PBXWATCH_POLL_INTERVAL): "
        "Input should be a valid number, unable to parse string as a number"
    )
    (workdir / "pbxwatch.toml").write_text("[monitor]\npoll_intervall = 5\n")
    result = pbxwatch("config", "show", cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.strip() == "config error: unknown setting monitor.poll_intervall (file pbxwatch.toml)"
    (workdir / "pbxwatch.toml").write_text("[monitor\n")
    result = pbxwatch("config", "show", cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.startswith("config error: config file pbxwatch.toml: invalid TOML")
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line(workdir: Path) -> None:
    result = pbxwatch(
        "units", "list", cwd=workdir, env={"PBXWATCH_DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:1/nope"}
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot reach the database postgresql://postgres:***@127.0.0.1:1/nope:")
    assert "hunter2" not in result.stderr


def test_commands_before_db_upgrade_say_what_to_do(workdir: Path) -> None:
    result = pbxwatch("units", "list", cwd=workdir)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "error: database error: no such table: enterprises (run `pbxwatch db upgrade` first)"
    )


def test_db_upgrade_refusal_exits_non_zero_with_the_reason(pg_empty_url: str, workdir: Path) -> None:
    import asyncio

    import asyncpg

    async def legacy() -> None:
        conn = await asyncpg.connect(pg_empty_url)
        await conn.execute(
            "CREATE TABLE enterprises (number text, host text); INSERT INTO enterprises VALUES ('1','a'),('1','b')"
        )
        await conn.close()

    asyncio.run(legacy())
    result = pbxwatch("db", "upgrade", cwd=workdir, env=_db_env(pg_empty_url))
    assert result.returncode == 1
    assert "upgrade refused, nothing was changed: cannot add the primary key (number) to enterprises" in result.stderr
    check = pbxwatch("db", "check", cwd=workdir, env=_db_env(pg_empty_url))
    assert check.returncode == 1
    assert "error: table unit_live_status is missing (run `pbxwatch db upgrade`)" in check.stdout


def test_config_show_masks_secrets_and_names_sources(workdir: Path) -> None:
    secret_file = workdir / "secret"
    secret_file.write_text("s3cr3t-app-secret\n")
    (workdir / "pbxwatch.toml").write_text('log_level = "debug"\n[relay]\nport = 8099\n')
    result = pbxwatch(
        "config", "show", "--json", cwd=workdir,
        env={"PBXWATCH_EWELINK_APP_SECRET_FILE": str(secret_file), "PBXWATCH_RELAY_API_TOKEN": "tok-1234567890abcdef",
             "PBXWATCH_DATABASE_URL": "postgresql://u:pw@db.example/pbx"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)["settings"]
    assert shown["ewelink.app_secret"] == {"value": "********", "source": "env PBXWATCH_EWELINK_APP_SECRET_FILE"}
    assert shown["relay.api_token"] == {"value": "********", "source": "env PBXWATCH_RELAY_API_TOKEN"}
    assert shown["relay.port"] == {"value": "8099", "source": "file pbxwatch.toml"}
    assert shown["log_level"] == {"value": "DEBUG", "source": "file pbxwatch.toml"}
    assert shown["database_url"]["value"] == "postgresql://u:***@db.example/pbx"
    assert shown["monitor.poll_interval"] == {"value": "60.0", "source": "default"}
    assert "s3cr3t" not in result.stdout and "tok-123456" not in result.stdout


def test_help_explains_every_group(workdir: Path) -> None:
    for group in ("units", "db", "config"):
        result = pbxwatch(group, "--help", cwd=workdir)
        assert result.returncode == 0
        assert "Usage: pbxwatch" in result.stdout
    assert "--parameter-option-2" in pbxwatch("units", "add", "--help", cwd=workdir).stdout
