"""What every command shares: settings from the global `--config`, one-line errors, the database."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from pbxwatch.config import ConfigError, LoadedSettings, Settings, load
from pbxwatch.db.engine import Database, DatabaseError, describe

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]
console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print one line per problem on stderr (`error: …`) and exit non-zero. Never a traceback."""
    prefix = "config error: " if code == EXIT_CONFIG else "error: "
    for line in message.splitlines() or [message]:
        shown = line if line.startswith(("error:", "config error:")) else f"{prefix}{line}"
        err_console.print(shown, markup=False)
    raise typer.Exit(code)


def loaded_settings(ctx: typer.Context) -> LoadedSettings:
    """The validated configuration for this invocation (cached on the click context)."""
    root = ctx.find_root()
    cached = root.meta.get("pbxwatch.loaded")
    if isinstance(cached, LoadedSettings):
        return cached
    config_file: Path | None = root.meta.get("pbxwatch.config_file")
    try:
        loaded = load(config_file)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)
    root.meta["pbxwatch.loaded"] = loaded
    return loaded


def cli_settings(ctx: typer.Context) -> Settings:
    return loaded_settings(ctx).settings


def run(coro_fn: Callable[[], Awaitable[T]], *, loop_factory: LoopFactory | None = None) -> T:
    """Run an async command body; translate the errors an operator can act on into one line."""
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(_call(coro_fn))
    except DatabaseError as err:
        fail(str(err))
    except SQLAlchemyError as err:
        text = describe(err)
        hint = " (run `pbxwatch db upgrade` first)" if "no such table" in text or "does not exist" in text else ""
        fail(f"database error: {text}{hint}")
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def fast_loop(choice: str = "uvloop") -> LoopFactory | None:
    """uvloop's event loop (libuv, in C) for the long-running monitor, where the loop's own bookkeeping is a
    good part of every check's CPU; None (the standard loop) where uvloop is not installed or `choice` is
    "asyncio" (`monitor.event_loop`, should uvloop ever misbehave on a box)."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _call(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return await coro_fn()


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Connect (one clear line if unreachable), learn the schema's timestamp kinds, dispose at the end."""
    db = Database.from_url(settings.database_url)
    try:
        await db.prepare()
        yield db
    finally:
        await db.dispose()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
