"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from maintbot.app import create_app
from maintbot.inprocess import in_process_client
from maintbot.settings import Settings

SettingsFactory = Callable[..., Settings]


async def test_live_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_each_component(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert set(report["components"]) == {"maintenance_db", "state_db", "artifact_dir"}
    assert all(component["status"] == "ok" for component in report["components"].values())


@pytest.fixture
async def own_maintenance_db(demo_database: Path, tmp_path: Path) -> Path:
    """A copy of the demo DB that a test may damage."""
    copy = tmp_path / "own_maintenance.sqlite3"
    await asyncio.to_thread(shutil.copyfile, demo_database, copy)
    return copy


async def test_ready_is_503_when_the_maintenance_db_is_gone(
    make_settings: SettingsFactory, own_maintenance_db: Path
) -> None:
    app = create_app(make_settings(database_url=str(own_maintenance_db)))
    async with in_process_client(app) as client:
        await asyncio.to_thread(own_maintenance_db.unlink)
        response = await client.get("/health/ready")

    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "down"
    assert report["components"]["maintenance_db"]["status"] == "down"
    assert report["components"]["state_db"]["status"] == "ok"


async def test_ready_is_503_when_the_maintenance_db_is_unreadable(
    make_settings: SettingsFactory, own_maintenance_db: Path
) -> None:
    app = create_app(make_settings(database_url=str(own_maintenance_db)))
    async with in_process_client(app) as client:
        await asyncio.to_thread(own_maintenance_db.write_bytes, b"this is not a database" * 100)
        response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["components"]["maintenance_db"]["status"] == "down"


async def test_ready_is_503_when_artifacts_cannot_be_written(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    async with in_process_client(create_app(settings)) as client:
        # A file where the folder should be: unwritable even for root, who ignores permissions.
        await asyncio.to_thread(shutil.rmtree, settings.artifact_path)
        await asyncio.to_thread(settings.artifact_path.write_text, "not a folder")
        response = await client.get("/health/ready")

    assert response.status_code == 503
    report = response.json()
    assert report["components"]["artifact_dir"]["status"] == "down"
    assert report["components"]["maintenance_db"]["status"] == "ok"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis; skips when it is unreachable, except in CI where it fails."""
    url = "redis://127.0.0.1:6379/0"
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            pass
    except OSError as error:
        reason = f"Redis on 127.0.0.1:6379 is unreachable: {error!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


async def test_ready_reports_a_configured_redis(make_settings: SettingsFactory, redis_url: str) -> None:
    async with in_process_client(create_app(make_settings(redis_url=redis_url))) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["components"]["redis"] == {
        "status": "ok", "detail": "Redis answers PING", "required": False,
    }  # fmt: skip


async def test_a_redis_that_is_down_is_reported_but_the_service_stays_ready(
    make_settings: SettingsFactory,
) -> None:
    # Nothing listens on port 1: the service answers without Redis (local cache), so it stays ready.
    settings = make_settings(redis_url="redis://127.0.0.1:1/0")
    async with in_process_client(create_app(settings)) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["components"]["redis"]["status"] == "down"
    assert response.json()["components"]["redis"]["required"] is False
