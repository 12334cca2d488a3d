"""The artifacts of one answer, decided with the answer and before anything is drawn.

Every data answer gets a CSV and an XLSX export of its table; a chart when the table's shape calls for one.
The plan gives the answer its artifact references (status `pending`), the rows stored beside the answer, and
the render job that makes the files once both are committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from maintbot.artifacts.charts import ChartSpec, ChartSuggestion, chart_spec, shortened
from maintbot.artifacts.labels import ColumnNames
from maintbot.artifacts.store import ArtifactKind, download_name, new_artifact_id, relative_path
from maintbot.artifacts.tasks import RenderJob, RenderTask
from maintbot.engine.base import Intent
from maintbot.schemas import ArtifactRef, ChatAnswer

PENDING = "pending"


@dataclass(frozen=True, slots=True)
class PlannedArtifact:
    """One file an answer will have."""

    artifact_id: str
    kind: ArtifactKind
    relative_path: str
    filename: str
    spec: ChartSpec | None = None


@dataclass(frozen=True, slots=True)
class ArtifactPlan:
    """The artifacts of one answer and the table they are made from."""

    session_id: str
    message_id: str
    columns: list[str]
    rows: list[list[Any]]
    items: tuple[PlannedArtifact, ...]

    @property
    def refs(self) -> list[ArtifactRef]:
        """What the answer says about its artifacts: each one pending."""
        return [ArtifactRef(id=item.artifact_id, kind=item.kind, status=PENDING) for item in self.items]

    def records(self, *, created_at: datetime) -> list[dict[str, Any]]:
        """The rows of the `artifacts` table, stored with the answer."""
        return [
            {
                "id": item.artifact_id,
                "session_id": self.session_id,
                "message_id": self.message_id,
                "kind": item.kind,
                "status": PENDING,
                "error": None,
                "size_bytes": None,
                "created_at": created_at,
                "updated_at": created_at,
                "path": item.relative_path,
                "filename": item.filename,
                "spec": item.spec.model_dump(mode="json") if item.spec is not None else None,
                "attempts": 1,
            }
            for item in self.items
        ]

    def job(self, root: Path) -> RenderJob:
        """What a render worker needs to make the files."""
        tasks = tuple(
            RenderTask(item.artifact_id, item.kind, item.relative_path, item.spec) for item in self.items
        )
        return RenderJob(
            message_id=self.message_id, root=root, columns=self.columns, rows=self.rows, tasks=tasks
        )


@dataclass(frozen=True, slots=True)
class ArtifactPlanner:
    """Decides the artifacts of data answers: exports always (when enabled), a chart when the shape allows."""

    names: ColumnNames
    charts: bool = True
    exports: bool = True

    @property
    def enabled(self) -> bool:
        """Whether any artifact is made at all."""
        return self.charts or self.exports

    def plan(
        self, *, answer: ChatAnswer, question: str, suggestion: ChartSuggestion | None = None
    ) -> ArtifactPlan | None:
        """The artifacts of `answer`, or None for answers without a table (or with artifacts switched off).

        `suggestion` is a chart an LLM proposed; it is used only when it fits one of the allowed shapes.
        """
        if answer.intent is not Intent.DATA or answer.columns is None or answer.rows is None:
            return None
        items: list[PlannedArtifact] = []
        title = shortened(question)
        if self.charts:
            spec = chart_spec(
                columns=answer.columns,
                rows=answer.rows,
                sql=answer.sql,
                question=question,
                language=answer.language,
                names=self.names,
                truncated=answer.truncated,
                suggestion=suggestion,
            )
            if spec is not None:
                items.append(_planned("chart", title, spec))
        if self.exports:
            items += [_planned("csv", title), _planned("xlsx", title)]
        if not items:
            return None
        return ArtifactPlan(
            session_id=answer.session_id,
            message_id=answer.message_id,
            columns=answer.columns,
            rows=answer.rows,
            items=tuple(items),
        )


def _planned(kind: ArtifactKind, title: str, spec: ChartSpec | None = None) -> PlannedArtifact:
    artifact_id = new_artifact_id()
    return PlannedArtifact(
        artifact_id=artifact_id,
        kind=kind,
        relative_path=relative_path(artifact_id, kind),
        filename=download_name(title, kind),
        spec=spec,
    )
