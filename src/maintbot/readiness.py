"""Readiness: can this process answer questions right now? Each dependency is checked on its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from pathlib import Path

import anyio
import httpx
import redis.asyncio
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from maintbot.schemas import ComponentHealth, Readiness
from maintbot.settings import EngineMode, Settings
from maintbot.sql.executor import ReadOnlyExecutor, sqlite_file_of
from maintbot.state.database import ping_state_database

log = structlog.get_logger(__name__)

# A check slower than this counts as down: a probe must answer before the orchestrator gives up on it.
CHECK_TIMEOUT_S = 2.0
_SQLITE_HEADER = b"SQLite format 3\x00"


async def check_readiness(
    *, settings: Settings, executor: ReadOnlyExecutor, state_engine: AsyncEngine
) -> Readiness:
    """The maintenance DB answers, the state DB answers `SELECT 1`, artifacts can be written; Redis and
    the LLM endpoint are checked when configured, but the service answers without them (local cache,
    local engine), so they do not make it unready."""
    checks: dict[str, Awaitable[ComponentHealth]] = {
        "maintenance_db": _check(
            _probe_maintenance_db(executor, settings.maintenance_url), "the maintenance database answers"
        ),
        "state_db": _check(ping_state_database(state_engine), "the state database answers"),
        "artifact_dir": _check(_probe_writable(settings.artifact_path), "the artifact folder is writable"),
    }
    if settings.redis_url is not None:
        checks["redis"] = _check(_probe_redis(settings.redis_url), "Redis answers PING", required=False)
    if settings.engine_mode is not EngineMode.LOCAL:
        checks["llm"] = _check(_probe_llm(settings), "the LLM endpoint answers", required=False)
    results = await asyncio.gather(*checks.values())
    components = dict(zip(checks, results, strict=True))
    ready = all(c.status == "ok" for c in components.values() if c.required)
    return Readiness(status="ok" if ready else "down", components=components)


async def _check(probe: Awaitable[object], ok_detail: str, *, required: bool = True) -> ComponentHealth:
    try:
        await asyncio.wait_for(probe, timeout=CHECK_TIMEOUT_S)
    except TimeoutError:
        log.warning("readiness_check_failed", check=ok_detail, reason="timeout")
        return ComponentHealth(
            status="down", detail=f"no answer within {CHECK_TIMEOUT_S:g} s", required=required
        )
    except Exception as exc:
        # The exception text can name hosts and files: it goes to the log, not to the probe's caller.
        log.warning("readiness_check_failed", check=ok_detail, error=repr(exc))
        return ComponentHealth(
            status="down", detail=f"{type(exc).__name__}: check the service log", required=required
        )
    return ComponentHealth(status="ok", detail=ok_detail, required=required)


async def _probe_redis(url: str) -> None:
    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_S)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _probe_llm(settings: Settings) -> None:
    """The OpenAI-compatible endpoint lists its models (what every such server answers cheaply)."""
    base = (settings.openai_base_url or "https://api.openai.com/v1").rstrip("/")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
        response = await client.get(f"{base}/models", headers={"Authorization": f"Bearer {key}"})
        response.raise_for_status()


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
