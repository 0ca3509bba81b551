"""The `pbxwatch` command line.

Every command lives in its own module and is listed once in `COMMANDS` below: its name, where it is and
the one-line help `pbxwatch --help` shows. A module is imported only when its command runs (or its own
`--help` is asked for), so `pbxwatch --help` never pays for SQLAlchemy, FastAPI or asyncssh.

To add a command: write `pbxwatch/cli/<name>.py` holding either a `typer.Typer` group (`app`) or one
command function, then add a `LazyCommand` line to `COMMANDS` (or to `SIM_COMMANDS` for `pbxwatch sim`).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

from pbxwatch import __version__


@dataclass(frozen=True)
class LazyCommand:
    """A command whose module is imported only when the command is used."""

    module: str  # e.g. "pbxwatch.cli.db"
    attribute: str  # a `typer.Typer` (a command group) or a plain function (one command)
    help: str  # shown by the parent's `--help` without importing the module


COMMANDS: dict[str, LazyCommand] = {
    "monitor": LazyCommand(
        "pbxwatch.cli.monitor",
        "monitor",
        "Run the watchdog: probe every active unit, record status and history, power-cycle dead PBXes.",
    ),
    "status": LazyCommand(
        "pbxwatch.cli.status",
        "status",
        "Every unit's state and why, worst first, with a summary line; exit 0 ok, 1 warning, 2 critical.",
    ),
    "probe": LazyCommand(
        "pbxwatch.cli.probe", "probe", "Check one PBX: verdict, reason, uptime, disk, SIP totals and the peer table."
    ),
    "demo": LazyCommand(
        "pbxwatch.cli.demo", "demo", "Run the whole system on simulators and play a story you can watch."
    ),
    "report": LazyCommand(
        "pbxwatch.cli.report",
        "report",
        "Per unit: uptime %, incidents, downtime, time to recovery, automatic power-cycles and how many helped.",
    ),
    "sim": LazyCommand(
        "pbxwatch.cli", "sim_app", "Simulators of the eWeLink cloud and of a PBX fleet (demo, tests, benchmarks)."
    ),
    "db": LazyCommand("pbxwatch.cli.db", "app", "Create, adopt and check the database schema."),
    "units": LazyCommand(
        "pbxwatch.cli.units", "app", "Manage units (enterprises): one PBX and the relay that feeds it."
    ),
    "config": LazyCommand("pbxwatch.cli.config_cmd", "app", "Inspect the configuration."),
    "relay": LazyCommand(
        "pbxwatch.cli.relay", "app", "The relay service (eWeLink relays, port 8010) and commands that go through it."
    ),
    "ewelink": LazyCommand(
        "pbxwatch.cli.ewelink", "app", "eWeLink authorization: auth URL, code exchange, token status."
    ),
    "notify": LazyCommand(
        "pbxwatch.cli.notify", "app", "Notifications: send a test message to the configured channels (apprise URLs)."
    ),
    "maintenance": LazyCommand(
        "pbxwatch.cli.maintenance",
        "app",
        "Maintenance windows: no automatic action on these units meanwhile (add, list, end).",
    ),
}
SIM_COMMANDS: dict[str, LazyCommand] = {
    "cloud": LazyCommand(
        "pbxwatch.cli.sim_cloud", "cloud", "Run a simulated eWeLink cloud until interrupted; prints its URL first."
    ),
    "fleet": LazyCommand(
        "pbxwatch.cli.sim_fleet", "fleet", "Serve N simulated PBXes behind real SSH servers on loopback until Ctrl-C."
    ),
}


class LazyGroup(TyperGroup):
    """A command group that imports a command's module only when that command is used."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        self._loaded: dict[str, Any] = {}
        _tidy_help(self)

    # `Any` for Typer's click types: recent Typer versions ship their own copy of click.
    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.lazy, *(name for name in super().list_commands(ctx) if name not in self.lazy)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = self.lazy.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        if self._listing:  # the group's own --help needs only the one-line help
            return TyperCommand(name=cmd_name, help=entry.help, short_help=entry.help)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = _load(cmd_name, entry)
        return self._loaded[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


class RootGroup(LazyGroup):
    lazy = COMMANDS


class SimGroup(LazyGroup):
    lazy = SIM_COMMANDS


def _load(name: str, entry: LazyCommand) -> Any:
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        command: Any = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    _tidy_help(command)
    return command


_DEFAULT_TAG = re.compile(r"(?<!\\)\[default:")
_LIST_TYPE = re.compile(r"<list\[(.*)\]>")
_LINE_BREAK = re.compile(r"[ \t]*\n(?![ \t]*- )[ \t]*")


def _tidy_help(command: Any) -> None:
    """Help texts are Rich markup: a literal `[default: x]` would vanish as an unknown tag (leaving " ."),
    so it is escaped. Flags take no value, so they show no value type (newer Typer prints `<bool>`); a
    repeatable option shows its item's type, not `<list[str]>`."""
    command.help = _reflow(command.help)
    ctx = typer.Context(command)
    for param in [*command.params, command.get_help_option(ctx)]:
        if param is None:
            continue
        if getattr(param, "help", None):
            param.help = _DEFAULT_TAG.sub(r"\\[default:", param.help)
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif getattr(param, "multiple", False) and hasattr(param, "display_type"):
            param.metavar = _LIST_TYPE.sub(r"<\1>", param.display_type(ctx))
        elif getattr(param, "nargs", 1) != 1 and hasattr(param, "display_type"):
            param.display_type = _item_type(param.display_type)
    for sub in getattr(command, "commands", {}).values():
        _tidy_help(sub)


def _item_type(display_type: Callable[[Any], str]) -> Callable[[Any], str]:
    """An argument taking several values shows the type of one (its usage already ends in `...`)."""
    return lambda ctx: _LIST_TYPE.sub(r"<\1>", display_type(ctx))


def _reflow(text: str | None) -> str | None:
    """Newer Typer keeps a docstring's line breaks inside a paragraph, breaking lines mid-sentence: each
    paragraph (and each "- " item) becomes one line for Rich to wrap to the terminal."""
    if text is None:
        return None
    return "\n\n".join(_LINE_BREAK.sub(" ", p) for p in inspect.cleandoc(text).split("\n\n"))


app = typer.Typer(
    name="pbxwatch",
    cls=RootGroup,
    help="Keeps a fleet of Asterisk PBXes alive: probes them over SSH, records status, power-cycles hung ones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sim_app = typer.Typer(
    cls=SimGroup,
    help="Simulators of the eWeLink cloud and of a PBX fleet (demo, tests, benchmarks).",
    no_args_is_help=True,
)


@sim_app.callback()
def _sim() -> None:
    """Simulators of the eWeLink cloud and of a PBX fleet (demo, tests, benchmarks)."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pbxwatch {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML config file. Default: $PBXWATCH_CONFIG, else ./pbxwatch.toml, else /etc/pbxwatch/pbxwatch.toml.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Keeps a fleet of Asterisk PBXes alive.

    Settings come from the TOML file and PBXWATCH_* environment variables (see `pbxwatch config show`).
    """
    ctx.meta["pbxwatch.config_file"] = config


def main() -> None:
    typer.main.get_command(app)(prog_name="pbxwatch")
