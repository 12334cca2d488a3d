"""Fixtures for the fault tests: replicas of the real service, PostgreSQL databases behind a failing proxy,
a small disk for artifacts. Every process, database and mount is removed at the end, whatever happened."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from fault_support import DatabaseFactory, ReplicaFactory, TcpProxy, postgres_url, replicas_in

from maintbot.cmms.demo_data import write_demo_database

IN_CI = os.environ.get("CI") == "true"
# Small: these tests need rows of every kind, not volume, and writing them to PostgreSQL takes seconds.
PG_DEMO_SCALE = 0.05


@pytest.fixture
async def new_postgres_database(postgres_dsn: str) -> AsyncIterator[DatabaseFactory]:
    """`name = await new_postgres_database()`: an empty database of this test's, dropped at its end."""
    admin = await asyncpg.connect(postgres_dsn)
    names: list[str] = []

    async def create() -> str:
        name = f"maintbot_fault_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return name

    try:
        yield create
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def postgres_maintenance_database(postgres_dsn: str) -> AsyncIterator[str]:
    """The name of a PostgreSQL database holding the demo maintenance data (small), for this module."""
    name = f"maintbot_fault_cmms_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        target = postgres_url(postgres_dsn, name).replace("postgresql://", "postgresql+asyncpg://")
        await write_demo_database(target, seed=42, scale=PG_DEMO_SCALE)
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def postgres_proxy(postgres_dsn: str) -> Iterator[TcpProxy]:
    """A proxy in front of the PostgreSQL server that the test can cut, stall and restore."""
    with TcpProxy(5432) as proxy:
        yield proxy


@pytest.fixture
async def replica(tmp_path: Path, demo_database: Path) -> AsyncIterator[ReplicaFactory]:
    """`replica(**MAINTBOT_settings)`: a replica on this test's data folder (see `replicas_in`)."""
    async with replicas_in(tmp_path, demo_database) as make:
        yield make


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for this test (unmounted at its end): a disk that can be filled up.

    Skips where mounting is not permitted, except in CI, where it fails.
    """
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        unmounted = subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)
        if unmounted.returncode != 0:  # something still holds a file there: detach it anyway
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)
