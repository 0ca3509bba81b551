"""`pbxwatch ewelink auth-url|login|token` — authorize pbxwatch with eWeLink and inspect the tokens.

These talk to the eWeLink cloud directly only to obtain tokens (docs/design.md §1); the token file they write is
picked up by the running relay service at once. Tokens and the app secret are never printed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import httpx
import typer

from pbxwatch.cli.common import EXIT_CONFIG, cli_settings, fail, print_json
from pbxwatch.config import ConfigError, Settings

app = typer.Typer(help="eWeLink authorization: auth URL, code exchange, token status.", no_args_is_help=True)

EXIT_TOKENS_UNUSABLE = 1


def _logging(settings: Settings) -> None:
    from pbxwatch.logs import setup_logging

    setup_logging(settings, "relay", owner=False, stderr=False)


def _require_app(settings: Settings) -> None:
    try:
        settings.require_ewelink_app()
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)


@app.command("auth-url")
def auth_url(
    ctx: typer.Context,
    qr: Annotated[
        bool, typer.Option("--qr", help="Ask the page for a QR-code login (scan in the eWeLink app).")
    ] = False,
) -> None:
    """Print the eWeLink authorization URL (open it, log in, then run `pbxwatch ewelink login CODE`)."""
    from pbxwatch.ewelink import EWeLinkClient, EWeLinkError

    settings = cli_settings(ctx)
    _require_app(settings)
    _logging(settings)

    async def build() -> str:
        async with httpx.AsyncClient() as http:
            return EWeLinkClient.from_settings(settings.ewelink, http=http).auth_url(show_qr_code=qr)

    try:
        typer.echo(asyncio.run(build()))
    except (EWeLinkError, OSError) as err:
        fail(str(err))


@app.command("login")
def login(
    ctx: typer.Context,
    code: Annotated[
        str, typer.Argument(help="The code=... value of the callback URL (valid 30 seconds).", show_default=False)
    ],
    region: Annotated[
        str | None,
        typer.Option(
            "--region", help="The region=... value of the callback URL (cn, as, us, eu) [default: ewelink.region]."
        ),
    ] = None,
    state: Annotated[str | None, typer.Option("--state", help="The state=... value, checked when given.")] = None,
) -> None:
    """Exchange an authorization code for tokens and save the token file."""
    from pbxwatch.ewelink import EWeLinkClient, EWeLinkError, InvalidCodeError, TokenStatus, check_region

    settings = cli_settings(ctx)
    _require_app(settings)
    _logging(settings)
    try:
        chosen = check_region(region or settings.ewelink.region)
    except ValueError as err:
        fail(str(err))

    async def exchange() -> TokenStatus:
        async with httpx.AsyncClient() as http:
            client = EWeLinkClient.from_settings(settings.ewelink, http=http)
            return await client.exchange_code(code, region=chosen, state=state)

    try:
        status = asyncio.run(exchange())
    except InvalidCodeError as err:
        fail(f"{err}: the code lives 30 seconds; run `pbxwatch ewelink auth-url` and log in again")
    except (EWeLinkError, OSError) as err:
        fail(str(err))
    typer.echo(f"tokens saved to {settings.ewelink.token_file} (region {chosen}): {status.describe()}")


@app.command("token")
def token(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Token state by the refresh token: valid / expiring (under 7 days) / expired / missing.

    Never prints a token. Exit status 0 for valid or expiring, 1 for expired or missing, and 1 when the
    cloud refused the APPID (a free developer APPID expires after a year) or revoked the tokens (the account
    logged in from another place); a region mismatch is printed as a problem line."""
    from pbxwatch.ewelink import FailureFile, TokenFile, TokenFileError, status_of

    settings = cli_settings(ctx)
    tokens_file = TokenFile(settings.ewelink.token_file)
    failure = FailureFile(tokens_file.path).read()
    try:
        status = status_of(tokens_file.read(), int(time.time() * 1000))
    except TokenFileError as err:
        status = status_of(None, 0, problem=err.message)
    if status.state == "missing" and status.problem is None:
        status = status_of(None, 0, problem=f"no token file {tokens_file.path}")
    if json_out:
        print_json(
            {
                "state": status.state,
                "region": status.region,
                "days_left": status.days_left,
                "access_expires_at": status.access_expires_at,
                "refresh_expires_at": status.refresh_expires_at,
                "obtained_at": status.obtained_at,
                "token_file": str(tokens_file.path),
                "problem": status.problem,
                "field_failure": failure.kind if failure else None,
                "field_failure_message": failure.message if failure else None,
                "region_note": _region_note(status.region, settings.ewelink.region),
            }
        )
    else:
        typer.echo(f"eWeLink tokens ({tokens_file.path}): {status.describe()}")
        note = _region_note(status.region, settings.ewelink.region)
        for line in (failure.message if failure else None, None if failure else note):
            if line:
                typer.echo(f"problem: {line}")
    if status.state in ("expired", "missing") or (failure and failure.kind != "region_mismatch"):
        raise typer.Exit(EXIT_TOKENS_UNUSABLE)


def _region_note(token_region: str | None, configured: str) -> str | None:
    from pbxwatch.ewelink.field_failures import region_note

    note = region_note(token_region, configured) if token_region else None
    return note.message if note else None
