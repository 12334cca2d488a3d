"""Build the engine the settings ask for."""

from __future__ import annotations

from maintbot.engine.base import Engine
from maintbot.engine.local.engine import LocalEngine
from maintbot.settings import Settings
from maintbot.sql.executor import ReadOnlyExecutor
from maintbot.sql.guard import SqlGuard


async def build_engine(*, settings: Settings, guard: SqlGuard, executor: ReadOnlyExecutor) -> Engine:
    """The engine for this process; the local engine reads the data's vocabulary (sites…) first."""
    return await LocalEngine.create(guard=guard, executor=executor)
