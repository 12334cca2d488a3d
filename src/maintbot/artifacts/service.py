"""What the HTTP API reads about artifacts: their state, their files, and the artifacts of a conversation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from maintbot.artifacts import repository
from maintbot.artifacts.store import MEDIA_TYPES, ArtifactStore, artifact_kind, is_artifact_id
from maintbot.errors import NO_SUCH_ARTIFACT, ArtifactFailed, ArtifactNotReady, NotFound
from maintbot.schemas import ArtifactDetail, ArtifactRef
from maintbot.state.models import Artifact, ArtifactStatus

log = structlog.get_logger(__name__)

# A client polling a pending artifact may ask again this soon.
RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """A ready artifact's file, as it is to be sent."""

    path: Path
    media_type: str
    filename: str
    disposition: Literal["inline", "attachment"]


@dataclass(frozen=True, slots=True)
class ArtifactService:
    """Reads artifacts for one request, on its state-DB session."""

    db: AsyncSession
    store: ArtifactStore
    # The caller: artifacts of other keys' conversations are unknown to it.
    owner: str | None

    async def detail(self, *, artifact_id: str) -> ArtifactDetail:
        """The artifact's state; NotFound for an unknown (or malformed) id."""
        return _detail(await self._artifact(artifact_id))

    async def file(self, *, artifact_id: str) -> ArtifactFile:
        """The artifact's file once it is ready; a 409 while pending or after failing, a 404 when unknown
        or when its file is gone (or was never inside the artifact folder)."""
        artifact = await self._artifact(artifact_id)
        if artifact.status == ArtifactStatus.PENDING:
            raise ArtifactNotReady(
                "The artifact is still being made; ask again in a moment.",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        if artifact.status != ArtifactStatus.READY:
            raise ArtifactFailed(f"The artifact could not be made: {artifact.error or 'unknown reason'}")
        kind = artifact_kind(artifact.kind)
        path = await self.store.existing_file(artifact.path)
        if kind is None or path is None:
            log.warning("artifact_file_missing", artifact_id=artifact.id)
            raise NotFound(NO_SUCH_ARTIFACT)
        disposition: Literal["inline", "attachment"] = "inline" if kind == "chart" else "attachment"
        return ArtifactFile(path, MEDIA_TYPES[kind], artifact.filename, disposition)

    async def _artifact(self, artifact_id: str) -> Artifact:
        # Only well-formed ids reach the database (and, through it, a path).
        artifact = None
        if is_artifact_id(artifact_id):
            artifact = await repository.get_artifact(db=self.db, artifact_id=artifact_id, owner=self.owner)
        if artifact is None:
            raise NotFound(NO_SUCH_ARTIFACT)
        return artifact


async def refs_by_message(*, db: AsyncSession, session_id: str) -> dict[str, list[ArtifactRef]]:
    """Each answer's artifacts in a conversation, with their current status."""
    grouped = await repository.artifacts_by_message(db=db, session_id=session_id)
    return {message_id: [_ref(a) for a in artifacts] for message_id, artifacts in grouped.items()}


def _ref(artifact: Artifact) -> ArtifactRef:
    return ArtifactRef.model_validate({"id": artifact.id, "kind": artifact.kind, "status": artifact.status})


def _detail(artifact: Artifact) -> ArtifactDetail:
    kind = artifact_kind(artifact.kind)
    return ArtifactDetail.model_validate(
        {
            "id": artifact.id,
            "kind": artifact.kind,
            "status": artifact.status,
            "session_id": artifact.session_id,
            "message_id": artifact.message_id,
            "media_type": MEDIA_TYPES[kind] if kind is not None else "application/octet-stream",
            "filename": artifact.filename,
            "size_bytes": artifact.size_bytes,
            "error": artifact.error,
            "created_at": artifact.created_at,
            "updated_at": artifact.updated_at,
        }
    )
