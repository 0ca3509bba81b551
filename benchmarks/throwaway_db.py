"""A throwaway PostgreSQL database for a benchmark run: created beside the one a URL names, dropped at the end."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


async def sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def create_database(url: str, prefix: str) -> str:
    """The URL of a new empty database named `<prefix>_<random>` on the server of `url`."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    await sql(url.rsplit("/", 1)[0] + "/postgres", f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


async def drop_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    await sql(base + "/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
