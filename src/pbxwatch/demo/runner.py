"""`pbxwatch demo`: start everything, play the story with a live view, report, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from sqlalchemy import select

from pbxwatch.db.tables import enterprises, unit_live_status, unit_status_history
from pbxwatch.demo.inbox import Message
from pbxwatch.demo.plan import demo_units
from pbxwatch.demo.stack import DemoError, DemoStack
from pbxwatch.demo.story import Story
from pbxwatch.demo.view import checklist, history_table, screen, units_table

REFRESH_S = 1.0


@dataclass(frozen=True)
class DemoOptions:
    workdir: Path
    hosts: int = 12
    duration: float = 240.0  # the story must finish within this many seconds
    keep: bool = False
    log_level: str = "INFO"


async def run_demo(options: DemoOptions, console: Console) -> bool:
    """Play the story; True when every step happened as expected."""
    stack = DemoStack(options.workdir, demo_units(options.hosts), log_level=options.log_level)
    story = Story(stack, say=lambda line: console.print(line, highlight=False))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def show(message: Message) -> None:  # called on the receiver's thread
        loop.call_soon_threadsafe(story.say, _letter(message.title, message.body))

    stack.on_message = show
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    try:
        await stack.start(lambda line: console.print(f"[dim]•[/] {line}", highlight=False))
        # A live screen on a terminal; piped output gets the story's lines and the final table only.
        live = Live(console=console, transient=True, auto_refresh=False) if console.is_terminal else None
        with live or contextlib.nullcontext():
            ok = await _play(story, stack, live, console, started, options.duration, stop)
        await _summary(story, stack, console, time.monotonic() - started)
        if options.keep and not stop.is_set():
            _print_urls(stack, console)
            await stop.wait()
        return ok and story.passed
    except DemoError as err:
        console.print(f"[red]error:[/] {err}", highlight=False)
        return False
    finally:
        console.print("[dim]• stopping the monitor, the relay service and the simulators[/]")
        await stack.stop()
        _print_where(stack, console)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _play(  # noqa: PLR0917 - one private call site
    story: Story,
    stack: DemoStack,
    live: Live | None,
    console: Console,
    started: float,
    duration: float,
    stop: asyncio.Event,
) -> bool:
    task = asyncio.create_task(story.run())
    stopper = asyncio.create_task(stop.wait())
    try:
        while not task.done():
            if live is not None:
                live.update(screen(story, time.monotonic() - started, *await _snapshot(stack)), refresh=True)
            await asyncio.wait({task, stopper}, timeout=REFRESH_S, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                console.print("[yellow]interrupted: stopping everything[/]")
                return False
            if time.monotonic() - started > duration:
                console.print(f"[red]the story did not finish within --duration {duration:.0f} s[/]")
                return False
            for name, service in stack.services.items():
                if not service.running():
                    console.print(f"[red]the {name} exited unexpectedly; see {service.output}[/]")
                    return False
        return True
    finally:
        for pending in (task, stopper):
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending


async def _snapshot(stack: DemoStack) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    e, s = enterprises.c, unit_live_status.c
    async with stack.database.connect() as conn:
        units = (
            await conn.execute(
                select(e.number, e.name, e.parameter_option_2, e.ewelink_device_id, s.last_status,
                       s.failure_counter, s.disk_usage_percent, s.line_stats, s.ewelink_action_done,
                       s.last_error_message)
                .select_from(enterprises.outerjoin(unit_live_status, s.enterprise_number == e.number))
                .order_by(e.number)
            )
        ).mappings().all()  # fmt: skip
        history = (
            (await conn.execute(select(unit_status_history).order_by(unit_status_history.c.id.desc()).limit(200)))
            .mappings()
            .all()
        )
    return [dict(u) for u in units], [dict(h) for h in reversed(history)]


async def _summary(story: Story, stack: DemoStack, console: Console, elapsed: float) -> None:
    units, history = await _snapshot(stack)
    console.print(checklist(story, elapsed))
    console.print(units_table(units))
    console.print(history_table(history, title="unit_status_history at the end of the demo"))


def status_hint(config_file: Path) -> str:
    """A `pbxwatch status` line that works as printed, even in a shell where the venv is not on PATH."""
    script = Path(sys.executable).with_name("pbxwatch")
    command = shlex.quote(str(script)) if script.is_file() else f"{shlex.quote(sys.executable)} -m pbxwatch"
    return f"PBXWATCH_CONFIG={shlex.quote(str(config_file))} {command} status"


def _letter(title: str, body: str) -> str:
    """A notification as the receiver got it: ✉ title, then the body indented."""
    return f"✉ {title}\n" + "\n".join(f"    {line}" for line in body.splitlines())


def _print_urls(stack: DemoStack, console: Console) -> None:
    cloud = stack.cloud.url if stack.cloud else "?"
    console.print(
        "\n[bold]everything keeps running (--keep); Ctrl-C stops it[/]\n"
        f"  dashboard         {stack.relay_url}/  (fleet, unit pages, events, system; read-only in the demo)\n"
        f"  relay service     {stack.relay_url}  (try {stack.relay_url}/docs, /health, /units)\n"
        f"  simulated cloud   {cloud}\n"
        f"  config            {status_hint(stack.config_file)}",
        highlight=False,
        soft_wrap=True,  # no line breaks inside the command: it must paste into a shell as one line
    )


def _print_where(stack: DemoStack, console: Console) -> None:
    console.print(
        f"\ndatabase  {stack.workdir / 'pbxwatch.db'}\n"
        f"logs      {stack.workdir / 'logs'} (reboot_service.log, ewelink_service.log)\n"
        f"config    {stack.config_file}\n"
        f"look around: {status_hint(stack.config_file)}",
        highlight=False,
        soft_wrap=True,  # no line breaks inside the command: it must paste into a shell as one line
    )
