"""What a render worker is given and gives back, and the functions the pool calls in it.

Kept apart from `render` so that the server process never imports matplotlib or openpyxl (seconds of start-up
that a process supervisor may not wait for): the worker-side functions import them when they run, in the
worker, where the forkserver has preloaded them already.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maintbot.artifacts.charts import ChartSpec
from maintbot.artifacts.store import ArtifactKind


@dataclass(frozen=True, slots=True)
class RenderTask:
    """One file to make."""

    artifact_id: str
    kind: ArtifactKind
    relative_path: str
    spec: ChartSpec | None = None


@dataclass(frozen=True, slots=True)
class RenderJob:
    """The artifacts of one answer, with the table they are made from."""

    message_id: str
    root: Path
    columns: list[str]
    rows: list[list[Any]]
    tasks: tuple[RenderTask, ...]


@dataclass(frozen=True, slots=True)
class RenderOutcome:
    """How making one artifact went: its size when it worked, a reason for the user when it did not."""

    artifact_id: str
    kind: ArtifactKind
    ok: bool
    seconds: float
    size_bytes: int | None = None
    error: str | None = None
    detail: str | None = None


def render_in_worker(job: RenderJob) -> list[RenderOutcome]:
    """Make a job's files (runs in a render worker)."""
    from maintbot.artifacts.render import render_job

    return render_job(job)


def prepare_worker() -> None:
    """Ready a new render worker (runs in it once)."""
    from maintbot.artifacts.render import prepare_worker as prepare

    prepare()
