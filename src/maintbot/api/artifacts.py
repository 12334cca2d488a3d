"""Charts and exports of answers: their state, and the files themselves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from maintbot.artifacts.store import MEDIA_TYPES
from maintbot.deps import ArtifactServiceDep
from maintbot.schemas import ARTIFACTS_PATH, ArtifactDetail, ErrorBody

router = APIRouter(prefix=ARTIFACTS_PATH, tags=["artifacts"])

_UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Unknown artifact."}}
_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media_type: {} for media_type in MEDIA_TYPES.values()},
        "description": "The PNG chart (inline), or the CSV or XLSX export (as an attachment).",
    },
    404: {"model": ErrorBody, "description": "Unknown artifact, or its file is gone."},
    409: {
        "model": ErrorBody,
        "description": "`ArtifactNotReady` while it is being made (with `Retry-After`), `ArtifactFailed` "
        "when it could not be made.",
    },
}


@router.get("/{artifact_id}", summary="Read an artifact's state", responses=_UNKNOWN)
async def read_artifact(artifact_id: str, artifacts: ArtifactServiceDep) -> ArtifactDetail:
    """Whether the chart or export is `pending`, `ready` (get `content_url`) or `failed` (see `error`)."""
    return await artifacts.detail(artifact_id=artifact_id)


@router.get(
    "/{artifact_id}/content",
    response_class=FileResponse,
    summary="Download an artifact",
    responses=_FILE_RESPONSES,
)
async def artifact_content(artifact_id: str, artifacts: ArtifactServiceDep) -> FileResponse:
    """The file itself, with its type and a file name named after the question."""
    found = await artifacts.file(artifact_id=artifact_id)
    return FileResponse(
        found.path,
        media_type=found.media_type,
        filename=found.filename,
        content_disposition_type=found.disposition,
        # The file never changes once ready; it is private to whoever holds its id.
        headers={"Cache-Control": "private, max-age=86400, immutable", "X-Content-Type-Options": "nosniff"},
    )
