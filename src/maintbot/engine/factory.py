"""Build the engine the settings ask for."""

from __future__ import annotations

import structlog

from maintbot.engine.base import Engine
from maintbot.engine.local.engine import LocalEngine
from maintbot.settings import EngineMode, Settings
from maintbot.sql.executor import ReadOnlyExecutor
from maintbot.sql.guard import SqlGuard

log = structlog.get_logger(__name__)


async def build_engine(*, settings: Settings, guard: SqlGuard, executor: ReadOnlyExecutor) -> Engine:
    """The engine for this process; the local engine reads the data's vocabulary (sites…) first.

    The LLM engine is not part of this build: with `llm` or `hybrid` configured, the local engine answers
    and the answers that the LLM should have given say so (`degraded: true`).
    """
    if settings.engine_mode is not EngineMode.LOCAL:
        log.warning(
            "llm_engine_unavailable",
            configured=settings.engine_mode.value,
            detail="this build has no LLM engine; the local engine answers and marks the rest degraded",
        )
    return await LocalEngine.create(guard=guard, executor=executor)
