"""A PostgreSQL database of the test's own, for state DB tests that need the real server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest


@pytest.fixture
async def postgres_database(postgres_dsn: str) -> AsyncIterator[str]:
    """The URL (postgresql://…) of a new, empty database, dropped after the test whatever it left open."""
    name = f"maintbot_state_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
