"""`pbxwatch notify test`: send a test message to every configured channel (or to `--url`)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Annotated

import typer

from pbxwatch.cli.common import cli_settings, fail
from pbxwatch.config import ConfigError

app = typer.Typer(help="Notifications (apprise URLs in [notify] urls and [[notify.routes]]).", no_args_is_help=True)


@app.command("test")
def test(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option("--url", help="Send to this apprise URL only (e.g. json://host/path, tgram://…).")
    ] = None,
) -> None:
    """Send a test message now (not through the outbox) and say, per channel, whether it arrived.

    Exit 0 when every channel accepted it, 1 when one failed, 2 when no channel is configured.
    """
    from pbxwatch.notify.notices import Notice, render
    from pbxwatch.notify.routing import Channel, Routing
    from pbxwatch.notify.sender import apprise_deliver

    settings = cli_settings(ctx)
    try:
        channels = [Channel(url)] if url else list(Routing.from_settings(settings.notify).by_key().values())
    except ConfigError as err:
        fail(str(err), 2)
    if not channels:
        fail("no notification channel configured: set [notify] urls (or PBXWATCH_NOTIFY_URLS), or pass --url", 2)
    notice = Notice("test", "test", datetime.now(UTC), None, {"who": socket.gethostname()})
    title, body = render(notice, settings.notify.language)
    failed = 0
    for channel in channels:
        error = apprise_deliver(channel.url, title, body, settings.notify.send_timeout)
        shown = channel.url if url else channel.label  # configured URLs may carry secrets
        if error is None:
            typer.echo(f"ok: test message sent to {shown}")
        else:
            failed += 1
            typer.echo(f"failed: {shown}: {error}")
    if failed:
        raise typer.Exit(1)
