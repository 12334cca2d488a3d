"""Readiness: can this process answer questions right now? Each dependency is checked on its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from pathlib import Path

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from maintbot.schemas import ComponentHealth, Readiness
from maintbot.sql.executor import ReadOnlyExecutor, sqlite_file_of
from maintbot.state.database import ping_state_database

log = structlog.get_logger(__name__)

# A check slower than this counts as down: a probe must answer before the orchestrator gives up on it.
CHECK_TIMEOUT_S = 2.0
_SQLITE_HEADER = b"SQLite format 3\x00"


async def check_readiness(
    *, executor: ReadOnlyExecutor, maintenance_url: str, state_engine: AsyncEngine, artifact_dir: Path
) -> Readiness:
    """The maintenance DB answers, the state DB answers `SELECT 1`, and artifacts can be written."""
    names = ("maintenance_db", "state_db", "artifact_dir")
    results = await asyncio.gather(
        _check(
            "maintenance_db",
            _probe_maintenance_db(executor, maintenance_url),
            "the maintenance database answers",
        ),
        _check("state_db", ping_state_database(state_engine), "the state database answers"),
        _check("artifact_dir", _probe_writable(artifact_dir), "the artifact folder is writable"),
    )
    components = dict(zip(names, results, strict=True))
    status = "ok" if all(c.status == "ok" for c in components.values()) else "down"
    return Readiness(status=status, components=components)


async def _check(name: str, probe: Awaitable[object], ok_detail: str) -> ComponentHealth:
    try:
        await asyncio.wait_for(probe, timeout=CHECK_TIMEOUT_S)
    except TimeoutError:
        log.warning("readiness_check_failed", component=name, reason="timeout")
        return ComponentHealth(status="down", detail=f"no answer within {CHECK_TIMEOUT_S:g} s")
    except Exception as exc:
        # The exception text can name hosts and files: it goes to the log, not to the probe's caller.
        log.warning("readiness_check_failed", component=name, error=repr(exc))
        return ComponentHealth(status="down", detail=f"{type(exc).__name__}: check the service log")
    return ComponentHealth(status="ok", detail=ok_detail)


async def _probe_maintenance_db(executor: ReadOnlyExecutor, url: str) -> None:
    await executor.ping()
    database_file = sqlite_file_of(url)
    if database_file is not None:
        # An open connection keeps reading a deleted SQLite file: only the file itself shows that it is
        # gone or is no longer a database.
        async with await anyio.open_file(database_file, "rb") as stream:
            if await stream.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                raise ValueError(f"{database_file.name} is not a SQLite database")


async def _probe_writable(folder: Path) -> None:
    """Write and remove a small file: permissions, a full disk or a missing mount all show here."""
    probe = anyio.Path(folder) / f".ready-{uuid.uuid4().hex}"
    await probe.write_bytes(b"ok")
    await probe.unlink()
