"""Fixtures shared by every test: a demo maintenance DB, settings on temporary folders, the app and a client.

The demo DB is generated once per run and only read; tests that damage a database copy it first.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from maintbot.app import create_app
from maintbot.cmms.demo_data import write_demo_database
from maintbot.inprocess import in_process_client
from maintbot.settings import Settings, load_settings

# Small enough to generate in a few seconds, large enough for every table to have rows of every kind.
DEMO_SCALE = 0.3

SettingsFactory = Callable[..., Settings]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the configuration they set, whatever the machine's environment holds."""
    for name in list(os.environ):
        if name.startswith(("MAINTBOT_", "OPENAI_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
async def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo maintenance DB (SQLite file), written once for the whole run; read it, do not change it."""
    path = tmp_path_factory.mktemp("cmms") / "maintenance_demo.sqlite3"
    await write_demo_database(str(path), seed=42, scale=DEMO_SCALE)
    return path


@pytest.fixture
def make_settings(tmp_path: Path, demo_database: Path) -> SettingsFactory:
    """Settings on this test's temporary folders (state DB, artifacts), reading the shared demo DB, with no
    rate limit in the way of tests that poll (tests of the limit set their own)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": str(demo_database),
            "rate_limit": "100000/minute",
        }
        return load_settings(**(values | overrides))

    return make


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to `app`, with its lifespan running."""
    async with in_process_client(app) as client:
        yield client


POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
async def postgres_dsn() -> str:
    """The local PostgreSQL server's admin DSN; skips when it is unreachable, except in CI where it fails."""
    import asyncpg

    try:
        connection = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        reason = f"PostgreSQL on 127.0.0.1:5432 (user postgres, database test) is unreachable: {error!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    await connection.close()
    return POSTGRES_DSN


REDIS_URL = "redis://127.0.0.1:6379"


@pytest.fixture(scope="session")
async def redis_server_url() -> str:
    """The local Redis server's URL; skips when it is unreachable, except in CI where it fails."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as error:
        reason = f"Redis on 127.0.0.1:6379 is unreachable: {error!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture
async def redis_url(redis_server_url: str) -> AsyncIterator[str]:
    """A Redis URL on a database of its own for this test, emptied before and after."""
    import redis.asyncio

    database = 1 + (os.getpid() % 14)
    url = f"{redis_server_url}/{database}"
    client = redis.asyncio.Redis.from_url(url)
    await client.flushdb()
    yield url
    await client.flushdb()
    await client.aclose()
