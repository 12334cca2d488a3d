"""What the artifact tests share besides fixtures: the stored answer's table, and reading artifacts back."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from maintbot.artifacts.jobs import ArtifactJobs
from maintbot.schemas import ChatAnswer
from maintbot.state.models import Artifact

COST_BY_SITE = (
    ["site", "maintenance_cost_usd"],
    [["Houston Plant", 258594.375], ["Monterrey Plant", 218625.31], ["Madrid Plant", 204724.75]],
)
GROUPED_SQL = "SELECT s.name AS site, SUM(w.labor_cost) AS maintenance_cost_usd FROM w GROUP BY s.name"

Sessions = async_sessionmaker[AsyncSession]
JobsFactory = Callable[..., AbstractAsyncContextManager[ArtifactJobs]]


class StoreAnswer(Protocol):
    async def __call__(self, *, message_id: str | None = None, with_table: bool = True) -> ChatAnswer: ...


async def artifacts_of(sessions: Sessions, message_id: str | None = None) -> list[Artifact]:
    """The artifacts stored (of one answer, or all), charts first."""
    async with sessions() as db:
        statement = select(Artifact).order_by(Artifact.created_at, Artifact.kind)
        if message_id is not None:
            statement = statement.where(Artifact.message_id == message_id)
        return list((await db.scalars(statement)).all())
