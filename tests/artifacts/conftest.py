"""A real state DB (SQLite) with stored answers, and artifact jobs running on a real render pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from artifact_support import COST_BY_SITE, GROUPED_SQL, JobsFactory, Sessions, StoreAnswer

from maintbot.artifacts.jobs import ArtifactJobs, ArtifactTimings
from maintbot.artifacts.labels import ColumnNames
from maintbot.artifacts.plan import ArtifactPlanner
from maintbot.artifacts.store import ArtifactStore
from maintbot.domain.cmms import CMMS
from maintbot.engine.base import Intent
from maintbot.schemas import ChatAnswer
from maintbot.state.database import make_sessionmaker, open_state_database
from maintbot.state.models import ChatMessage, ChatSession, Role, new_message_id, new_session_id


@pytest.fixture
async def state_sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    engine = await open_state_database(f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite3'}")
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def artifact_root(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    root.mkdir()
    return root


@pytest.fixture
def store_answer(state_sessions: Sessions) -> StoreAnswer:
    """Store a data answer (cost by site) as the chat service does, and return it."""

    async def store(*, message_id: str | None = None, with_table: bool = True) -> ChatAnswer:
        columns, rows = COST_BY_SITE
        answer = ChatAnswer(
            session_id=new_session_id(),
            message_id=message_id or new_message_id(),
            answer="Maintenance cost by site: …",
            language="en",
            intent=Intent.DATA,
            sql=GROUPED_SQL,
            columns=columns,
            rows=rows,
            row_count=len(rows),
            truncated=False,
            artifacts=[],
            engine="local",
            cached=False,
            degraded=False,
            timings_ms={},
        )
        stored = answer.model_dump(mode="json") if with_table else None
        async with state_sessions.begin() as db:
            db.add(ChatSession(id=answer.session_id))
            await db.flush()
            db.add(
                ChatMessage(
                    id=answer.message_id,
                    session_id=answer.session_id,
                    role=Role.ASSISTANT,
                    content=answer.answer,
                    answer=stored,
                )
            )
        return answer

    return store


@pytest.fixture
def artifact_jobs(state_sessions: Sessions, artifact_root: Path) -> JobsFactory:
    """`async with artifact_jobs(workers=2) as jobs:` started (with recovery) and closed around the block."""

    @asynccontextmanager
    async def running(*, start: bool = True, **overrides: Any) -> AsyncIterator[ArtifactJobs]:
        options: dict[str, Any] = {
            "sessions": state_sessions,
            "planner": ArtifactPlanner(names=ColumnNames(CMMS)),
            "store": ArtifactStore(artifact_root),
            "workers": 1,
            "queue_limit": 100,
            "timings": ArtifactTimings(
                retention=timedelta(hours=1), sweep_interval_s=3600, stale_after=timedelta(minutes=10)
            ),
        }
        jobs = ArtifactJobs(**(options | overrides))
        if start:
            await jobs.start()
        try:
            yield jobs
        finally:
            await jobs.close()

    return running
