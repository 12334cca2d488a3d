"""A render function that kills its worker process for some jobs: how a crash (out of memory, a segfault in
a native library) looks to the pool. Importable by name in the worker processes."""

from __future__ import annotations

import os

from maintbot.artifacts.render import render_job
from maintbot.artifacts.tasks import RenderJob, RenderOutcome

CRASH_PREFIX = "crash-"


def crash_some(job: RenderJob) -> list[RenderOutcome]:
    """Exit the worker at once for jobs of messages named `crash-…`; render the others."""
    if job.message_id.startswith(CRASH_PREFIX):
        os._exit(1)
    return render_job(job)
