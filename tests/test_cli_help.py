"""Every command's `--help` reads cleanly: exit 0, no value type after a flag, no stray " .", no sentence
broken mid-line, no Python type names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from pbxwatch.cli import app
from tests.cli_helpers import pbxwatch

#: wide enough that every paragraph of a description fits on one line
WIDE = "1000"
SENTENCE_END = re.compile(r"[.;:)`]$")
#: a space before a full stop (what an unescaped `[default: x]` tag left behind)
STRAY_STOP = re.compile(r" \.(\s|$)")


def _paths(command: Any, ctx: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            found += _paths(sub, type(ctx)(sub, parent=ctx, info_name=name), (*path, name))
    return found


def _every_command() -> list[tuple[str, ...]]:
    root = typer.main.get_command(app)
    return _paths(root, typer.Context(root, info_name="pbxwatch"))


COMMANDS = _every_command()


def _description(help_text: str) -> list[str]:
    """The lines between the usage line and the first panel."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line.lstrip().startswith("╭")), len(lines))
    return [line.strip() for line in lines[start:end] if line.strip()]


def test_the_walk_finds_every_command_and_subcommand() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"", "sim cloud", "units add", "relay cycle", "ewelink login", "maintenance end"} <= names
    assert len(names) == len(COMMANDS) >= 30


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "pbxwatch")
def test_help_is_clean(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="pbxwatch", env={"COLUMNS": WIDE})
    assert result.exit_code == 0, result.output
    text = result.output
    for odd in ("<bool>", "<list[", "[default: ]"):
        assert odd not in text, (odd, text)
    assert not STRAY_STOP.search(text), text
    broken = [line for line in _description(text) if not SENTENCE_END.search(line)]
    assert broken == [], text


def test_root_help_in_a_real_process(tmp_path: Path) -> None:
    result = pbxwatch("--help", cwd=tmp_path, env={"COLUMNS": WIDE})
    assert result.returncode == 0
    assert "Keeps a fleet of Asterisk PBXes alive" in result.stdout
    assert "<bool>" not in result.stdout
    assert not STRAY_STOP.search(result.stdout)
