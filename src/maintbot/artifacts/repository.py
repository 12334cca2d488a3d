"""Every query on the `artifacts` table. Functions flush but never commit: their caller's session does.

Status moves only from pending: each update says `WHERE status = 'pending'`, so when two processes make the
same artifact (a restarted replica redoing another's work), the first to finish decides and the other's
update changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from maintbot.state.models import Artifact, ArtifactStatus, ChatMessage, ChatSession, utc_now
from maintbot.state.repository import owned_by

_ARTIFACTS = cast(Table, Artifact.__table__)
# Charts first, then the exports, as an answer lists them.
_KIND_ORDER = case({"chart": 0, "csv": 1, "xlsx": 2}, value=Artifact.kind, else_=3)


@dataclass(frozen=True, slots=True)
class Finished:
    """An artifact a worker finished with: its size when ready, the reason when failed."""

    artifact_id: str
    status: ArtifactStatus
    size_bytes: int | None = None
    error: str | None = None


async def add_artifacts(*, db: AsyncSession, records: Sequence[dict[str, Any]]) -> None:
    """Store planned artifacts (pending), in the transaction that stores their answer."""
    if records:
        connection = await db.connection()
        await connection.execute(insert(_ARTIFACTS), list(records))


async def get_artifact(*, db: AsyncSession, artifact_id: str, owner: str | None) -> Artifact | None:
    """The artifact with this id in one of this caller's conversations, or None."""
    return await db.scalar(
        select(Artifact)
        .join(ChatSession, ChatSession.id == Artifact.session_id)
        .where(Artifact.id == artifact_id, owned_by(owner))
    )


async def artifacts_by_message(*, db: AsyncSession, session_id: str) -> dict[str, list[Artifact]]:
    """A conversation's artifacts, per answer (message id), charts before exports."""
    statement = (
        select(Artifact)
        .where(Artifact.session_id == session_id)
        .order_by(Artifact.created_at, _KIND_ORDER, Artifact.id)
    )
    grouped: dict[str, list[Artifact]] = {}
    for artifact in await db.scalars(statement):
        grouped.setdefault(artifact.message_id, []).append(artifact)
    return grouped


async def finish(*, db: AsyncSession, finished: Sequence[Finished]) -> int:
    """Record finished artifacts that are still pending; returns how many changed.

    One statement for them all: on SQLite every statement of a write transaction holds the database's one
    write lock for another trip through the event loop, and answers wait for that lock.
    """
    if not finished:
        return 0
    by_id = {item.artifact_id: item for item in finished}

    def per_artifact(values: dict[str, Any]) -> Any:
        return case(values, value=Artifact.id) if values else None

    result = await db.execute(
        update(Artifact)
        .where(Artifact.id.in_(by_id), Artifact.status == ArtifactStatus.PENDING)
        .values(
            status=case({i: item.status.value for i, item in by_id.items()}, value=Artifact.id),
            size_bytes=per_artifact({i: item.size_bytes for i, item in by_id.items() if item.size_bytes}),
            error=per_artifact({i: item.error for i, item in by_id.items() if item.error}),
            updated_at=utc_now(),
        )
        .returning(Artifact.id)
    )
    return len(result.all())


async def pending_work(
    *, db: AsyncSession, updated_before: datetime | None, limit: int
) -> list[tuple[Artifact, dict[str, Any] | None]]:
    """Pending artifacts (all, or those untouched since `updated_before`), oldest first, each with the
    stored answer it is made from (None when that is gone)."""
    statement = (
        select(Artifact, ChatMessage.answer)
        .outerjoin(ChatMessage, ChatMessage.id == Artifact.message_id)
        .where(Artifact.status == ArtifactStatus.PENDING)
        .order_by(Artifact.created_at, Artifact.id)
        .limit(limit)
    )
    if updated_before is not None:
        statement = statement.where(Artifact.updated_at < updated_before)
    rows = await db.execute(statement)
    return [(artifact, answer) for artifact, answer in rows]


async def retry(*, db: AsyncSession, artifact_ids: Sequence[str]) -> None:
    """Count one more attempt at making these artifacts, from now."""
    if artifact_ids:
        await db.execute(
            update(Artifact)
            .where(Artifact.id.in_(artifact_ids), Artifact.status == ArtifactStatus.PENDING)
            .values(attempts=Artifact.attempts + 1, updated_at=utc_now())
        )


async def delete_created_before(*, db: AsyncSession, cutoff: datetime) -> list[str]:
    """Delete the records of artifacts created before `cutoff`; returns their files' paths."""
    result = await db.execute(delete(Artifact).where(Artifact.created_at < cutoff).returning(Artifact.path))
    return list(result.scalars().all())


async def known_ids(*, db: AsyncSession, artifact_ids: Sequence[str]) -> set[str]:
    """Which of these ids have a record."""
    found: set[str] = set()
    for start in range(0, len(artifact_ids), 500):
        chunk = artifact_ids[start : start + 500]
        found.update(await db.scalars(select(Artifact.id).where(Artifact.id.in_(chunk))))
    return found
