"""Making artifacts in the background: a bounded pool of render processes, fed once the answer is committed.

- **Off the event loop.** Files are made in a `ProcessPoolExecutor` of `artifact_workers` processes started
  by a forkserver that has matplotlib and openpyxl imported already, so a worker starts in milliseconds and
  drawing never holds this process's GIL. Workers run at a lower priority than the server. The processes are
  started from a thread when the app starts, never from the event loop.
- **Bounded.** One job per answer (its chart and exports) waits in a queue of `artifact_queue_limit`; one
  consumer task per worker feeds the pool, so at most `artifact_workers` jobs are in it. When the queue is
  full, the new answer's artifacts fail at once ("too busy") and the answer itself is unaffected.
- **After the commit.** `record()` stores the pending artifacts in the answer's own transaction and queues the
  job when that transaction commits (a SQLAlchemy `after_commit` hook on the session), whoever commits it:
  the request's session dependency or the streaming route. A rolled-back answer renders nothing.
- **Never pending forever.** At start every pending artifact is queued again (a crashed process left it), and
  every `artifact_sweep_interval_s` those untouched for `artifact_stale_after_s` are; after `MAX_ATTEMPTS`
  tries, or when their answer is gone, they fail with a reason. A render that fails (bad data, a full disk, a
  crashed worker) marks its artifact failed; the answer was sent already.
- **Retention.** The same sweep deletes records and files older than `artifact_retention_hours`, and files no
  record claims (their conversation was deleted) or that a crashed writer left half-written.

Like every forkserver or spawn process, a render worker imports the program's main module: a script that
runs the app itself must do so under `if __name__ == "__main__":` (uvicorn, `maintbot` and pytest do).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import anyio
import structlog
from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from maintbot.artifacts import repository
from maintbot.artifacts.charts import ChartSpec, ChartSuggestion
from maintbot.artifacts.labels import ColumnNames
from maintbot.artifacts.plan import ArtifactPlan, ArtifactPlanner
from maintbot.artifacts.repository import Finished
from maintbot.artifacts.store import ArtifactStore, artifact_kind
from maintbot.artifacts.tasks import RenderJob, RenderOutcome, RenderTask, prepare_worker, render_in_worker
from maintbot.domain.cmms import CMMS
from maintbot.metrics import count_artifact, set_artifact_queue_length
from maintbot.schemas import ChatAnswer
from maintbot.settings import Settings
from maintbot.state.models import Artifact, ArtifactStatus, utc_now

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 3
BUSY = "The service was too busy to make this file; ask the question again."
ANSWER_GONE = "The answer this file was made from is no longer available."
TOO_MANY_ATTEMPTS = "The file could not be made after several attempts."
WORKER_STOPPED = "The process making this file stopped unexpectedly."
UNEXPECTED = "The file could not be made."
# Pending artifacts read per recovery pass; the next sweep takes the rest.
_RECOVERY_BATCH = 1000
# Files younger than this are never removed as orphans: their record may be on its way.
_ORPHAN_GRACE = timedelta(minutes=10)
_SHUTDOWN_GRACE_S = 10.0
# The session.info key under which a session keeps the jobs to queue when it commits.
_AFTER_COMMIT = "maintbot.artifact_jobs"

Render = Callable[[RenderJob], list[RenderOutcome]]


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did."""

    requeued: int
    records_deleted: int
    files_deleted: int


@dataclass(frozen=True, slots=True)
class ArtifactTimings:
    """How long artifacts live and when a render counts as lost."""

    retention: timedelta
    sweep_interval_s: float
    stale_after: timedelta


# What the forkserver imports once, so that a new worker starts in milliseconds: the render module
# (matplotlib, openpyxl), and what `maintbot`'s main script imports, since each worker runs the program's main
# script again (multiprocessing does, for forkserver and spawn) and would otherwise import the app anew.
_PRELOAD = ["maintbot.artifacts.render", "maintbot.cli"]


def make_render_pool(workers: int) -> ProcessPoolExecutor:
    """Render processes forked by a forkserver that has preloaded the render module and the app."""
    context = multiprocessing.get_context("forkserver")
    # Takes effect when this process first starts its forkserver; the same list every time.
    context.set_forkserver_preload(_PRELOAD)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=prepare_worker)


def _start_processes(pool: Executor, workers: int) -> None:
    # Runs in a thread: spawning a worker waits for the forkserver, which must not stall the event loop.
    for future in [pool.submit(int) for _ in range(workers)]:
        future.result()


class ArtifactJobs:
    """Plans, records and makes the artifacts of answers, in the background, with bounded resources."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        planner: ArtifactPlanner,
        store: ArtifactStore,
        workers: int,
        queue_limit: int,
        timings: ArtifactTimings,
        make_pool: Callable[[int], Executor] = make_render_pool,
        render: Render = render_in_worker,
    ) -> None:
        self.planner = planner
        self.store = store
        self._sessions = sessions
        self._workers = workers
        self._timings = timings
        self._make_pool = make_pool
        self._render_function = render
        self._queue: asyncio.Queue[RenderJob] = asyncio.Queue(maxsize=queue_limit)
        self._pool = make_pool(workers)
        self._pool_ready = asyncio.Event()
        self._pool_starting: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._processing: set[asyncio.Future[None]] = set()
        self._side_tasks: set[asyncio.Task[None]] = set()
        # Artifacts queued or being made by this process: pending, but not lost, however long they wait.
        self._in_hand: set[str] = set()
        self._closing = False

    # -- with each answer ---------------------------------------------------------------------------------

    def plan(
        self, *, answer: ChatAnswer, question: str, suggestion: ChartSuggestion | None = None
    ) -> ArtifactPlan | None:
        """The artifacts an answer gets (see `ArtifactPlanner.plan`)."""
        return self.planner.plan(answer=answer, question=question, suggestion=suggestion)

    async def record(self, *, db: AsyncSession, plan: ArtifactPlan) -> None:
        """Store the plan's pending artifacts in `db`'s transaction; make them once it commits."""
        await repository.add_artifacts(db=db, records=plan.records(created_at=utc_now()))
        self._after_commit(db.sync_session, plan.job(self.store.root))

    def _after_commit(self, session: Session, job: RenderJob) -> None:
        waiting: list[RenderJob] | None = session.info.get(_AFTER_COMMIT)
        if waiting is None:
            waiting = session.info[_AFTER_COMMIT] = []
            event.listen(session, "after_commit", self._committed)
            event.listen(session, "after_rollback", self._rolled_back)
        waiting.append(job)

    def _committed(self, session: Session) -> None:
        waiting: list[RenderJob] = session.info.get(_AFTER_COMMIT, [])
        jobs, waiting[:] = list(waiting), []
        for job in jobs:
            for task in job.tasks:
                count_artifact(kind=task.kind, status=ArtifactStatus.PENDING)
            self.submit(job)

    def _rolled_back(self, session: Session) -> None:
        session.info.get(_AFTER_COMMIT, []).clear()

    def submit(self, job: RenderJob) -> None:
        """Queue a job whose artifacts are stored; when the queue is full they fail at once.

        While the app stops, jobs are left pending: the next start makes them.
        """
        if self._closing:
            return
        try:
            self._queue.put_nowait(job)
            self._in_hand.update(task.artifact_id for task in job.tasks)
        except asyncio.QueueFull:
            log.warning("artifact_queue_full", message_id=job.message_id, queued=self._queue.qsize())
            self._in_background(self._fail(job.tasks, BUSY))
            return
        set_artifact_queue_length(self._queue.qsize())
        if self._pool_starting is None:
            # Processes start with the first job: a process that never makes a file never pays for them.
            self._pool_starting = asyncio.get_running_loop().create_task(self._start_pool(self._pool))

    # -- the workers --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the consumers and redo what a crash left pending; the render processes start (from a
        thread) with the first job. With charts and exports both off, nothing is made: what is pending
        waits for a process that makes them."""
        self._tasks += [asyncio.create_task(self._consume()) for _ in range(self._workers)]
        if self.planner.enabled:
            await self.recover(stale_before=None)
        self._tasks.append(asyncio.create_task(self._sweep_periodically()))

    async def _start_pool(self, pool: Executor) -> None:
        try:
            # Abandoned if the app stops meanwhile: stopping never waits for processes still starting.
            await anyio.to_thread.run_sync(_start_processes, pool, self._workers, abandon_on_cancel=True)
        except Exception:
            # A broken pool is replaced when a render finds it so; the consumers must not wait forever.
            log.exception("artifact_workers_did_not_start")
        self._pool_ready.set()

    async def _consume(self) -> None:
        await self._pool_ready.wait()
        while True:
            job = await self._queue.get()
            set_artifact_queue_length(self._queue.qsize())
            processing = asyncio.ensure_future(self._make(job))
            self._processing.add(processing)
            processing.add_done_callback(self._processing.discard)
            # Shielded: stopping the app waits for a job in progress instead of dropping it half done.
            try:
                await asyncio.shield(processing)
            finally:
                self._queue.task_done()

    async def _make(self, job: RenderJob) -> None:
        try:
            outcomes = await self._render(job)
            finished = [_finished(outcome) for outcome in outcomes]
            async with self._sessions.begin() as db:
                await repository.finish(db=db, finished=finished)
        except Exception:
            # The state DB could not take the result: the artifacts stay pending and a sweep redoes them.
            log.exception("artifact_result_not_stored", message_id=job.message_id)
            return
        finally:
            self._in_hand.difference_update(task.artifact_id for task in job.tasks)
        for outcome in outcomes:
            status = ArtifactStatus.READY if outcome.ok else ArtifactStatus.FAILED
            count_artifact(kind=outcome.kind, status=status, render_seconds=outcome.seconds)
            if not outcome.ok:
                log.warning(
                    "artifact_failed",
                    artifact_id=outcome.artifact_id,
                    kind=outcome.kind,
                    message_id=job.message_id,
                    reason=outcome.error,
                    detail=outcome.detail,
                )

    async def _render(self, job: RenderJob) -> list[RenderOutcome]:
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, self._render_function, job)
        except BrokenProcessPool:
            log.error("artifact_worker_stopped", message_id=job.message_id)
            await self._replace_pool(pool)
            return _failures(job.tasks, WORKER_STOPPED, "BrokenProcessPool")
        except Exception as exc:
            log.exception("artifact_render_failed", message_id=job.message_id)
            return _failures(job.tasks, UNEXPECTED, repr(exc))

    async def _replace_pool(self, broken: Executor) -> None:
        if self._pool is not broken:
            return  # another consumer replaced it already
        self._pool = self._make_pool(self._workers)
        broken.shutdown(wait=False, cancel_futures=True)
        await self._start_pool(self._pool)

    async def _fail(self, tasks: Iterable[RenderTask], reason: str) -> None:
        tasks = list(tasks)
        finished = [Finished(task.artifact_id, ArtifactStatus.FAILED, error=reason) for task in tasks]
        try:
            async with self._sessions.begin() as db:
                await repository.finish(db=db, finished=finished)
        except Exception:
            log.exception("artifact_result_not_stored")
            return
        for task in tasks:
            count_artifact(kind=task.kind, status=ArtifactStatus.FAILED)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    @property
    def queue_length(self) -> int:
        """Jobs waiting for a worker."""
        return self._queue.qsize()

    async def wait_until_idle(self, timeout_s: float = 30.0) -> None:
        """Wait until no job waits or is being made (tests, and an orderly stop)."""
        async with asyncio.timeout(timeout_s):
            await self._queue.join()
            if self._side_tasks:
                await asyncio.wait(set(self._side_tasks))

    # -- recovery and retention ---------------------------------------------------------------------------

    async def recover(self, *, stale_before: datetime | None) -> int:
        """Queue again pending artifacts a process left behind: all of them (at start), or those untouched
        since `stale_before`. Those tried `MAX_ATTEMPTS` times, or whose answer is gone, fail instead.
        Returns how many answers' jobs were queued."""
        room = self._queue.maxsize - self._queue.qsize()
        if room <= 0:
            return 0
        jobs: list[RenderJob] = []
        failed: list[tuple[Finished, str]] = []
        async with self._sessions.begin() as db:
            pending = await repository.pending_work(db=db, updated_before=stale_before, limit=_RECOVERY_BATCH)
            # A job still waiting in this process's queue (a backlog, workers slow to start) is not lost.
            pending = [row for row in pending if row[0].id not in self._in_hand]
            for message_id, rows in _by_message(pending).items():
                if len(jobs) == room:
                    break
                job, failures = self._job_again(message_id, rows)
                failed += failures
                if job is not None:
                    jobs.append(job)
            await repository.retry(
                db=db, artifact_ids=[task.artifact_id for job in jobs for task in job.tasks]
            )
            await repository.finish(db=db, finished=[item for item, _kind in failed])
        for _item, kind in failed:
            count_artifact(kind=kind, status=ArtifactStatus.FAILED)
        if jobs or failed:
            log.info("artifacts_recovered", requeued=sum(len(job.tasks) for job in jobs), failed=len(failed))
        for job in jobs:
            self.submit(job)
        return len(jobs)

    def _job_again(
        self, message_id: str, rows: list[tuple[Artifact, dict[str, Any] | None]]
    ) -> tuple[RenderJob | None, list[tuple[Finished, str]]]:
        """The job that makes one answer's pending artifacts again, and those that cannot be made."""
        answer = rows[0][1]
        columns = answer.get("columns") if isinstance(answer, dict) else None
        table = answer.get("rows") if isinstance(answer, dict) else None
        tasks: list[RenderTask] = []
        failed: list[tuple[Finished, str]] = []
        for artifact, _answer in rows:
            kind = artifact_kind(artifact.kind)
            reason = None
            spec = None
            if kind is None or not isinstance(columns, list) or not isinstance(table, list):
                reason = ANSWER_GONE
            elif artifact.attempts >= MAX_ATTEMPTS:
                reason = TOO_MANY_ATTEMPTS
            elif kind == "chart":
                try:
                    spec = ChartSpec.model_validate(artifact.spec)
                except ValidationError:
                    reason = ANSWER_GONE
            if kind is None or reason is not None:
                failed.append((Finished(artifact.id, ArtifactStatus.FAILED, error=reason), artifact.kind))
            else:
                tasks.append(RenderTask(artifact.id, kind, artifact.path, spec))
        if not tasks or not isinstance(columns, list) or not isinstance(table, list):
            return None, failed
        job = RenderJob(
            message_id=message_id, root=self.store.root, columns=columns, rows=table, tasks=tuple(tasks)
        )
        return job, failed

    async def sweep(self, *, now: datetime | None = None) -> SweepReport:
        """Redo lost renders and delete what is past its retention (see the module's docstring)."""
        now = now or utc_now()
        requeued = (
            await self.recover(stale_before=now - self._timings.stale_after) if self.planner.enabled else 0
        )
        async with self._sessions.begin() as db:
            paths = await repository.delete_created_before(db=db, cutoff=now - self._timings.retention)
        files = await self.store.remove(paths)
        candidates = await self.store.files_older_than((now - _ORPHAN_GRACE).timestamp())
        async with self._sessions() as db:
            known = await repository.known_ids(db=db, artifact_ids=[i for _path, i in candidates if i])
        files += await self.store.remove_paths(
            [path for path, i in candidates if i is None or i not in known]
        )
        report = SweepReport(requeued=requeued, records_deleted=len(paths), files_deleted=files)
        if report.records_deleted or report.files_deleted:
            log.info("artifacts_cleaned_up", records=report.records_deleted, files=report.files_deleted)
        return report

    async def _sweep_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._timings.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("artifact_sweep_failed")

    # -- stopping -----------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop taking jobs, give those being made a few seconds, and stop the processes. Queued jobs stay
        pending in the state DB; the next start makes them."""
        self._closing = True
        starting = [self._pool_starting] if self._pool_starting is not None else []
        for task in [*self._tasks, *starting]:
            task.cancel()
        await asyncio.gather(*self._tasks, *starting, return_exceptions=True)
        if self._processing or self._side_tasks:
            await asyncio.wait({*self._processing, *self._side_tasks}, timeout=_SHUTDOWN_GRACE_S)
        unfinished = {*self._processing, *self._side_tasks}
        for leftover in unfinished:
            leftover.cancel()
        if unfinished:
            # A worker starved of CPU may take long to finish: stop without it; its artifacts stay pending.
            log.warning("artifact_renders_abandoned", jobs=len(unfinished))
        stop = partial(self._pool.shutdown, wait=not unfinished, cancel_futures=True)
        if self._pool_ready.is_set() or self._pool_starting is None:
            await anyio.to_thread.run_sync(stop)
        else:
            # Its processes are still starting, and the pool's lock with them: stop it when it can be.
            threading.Thread(target=stop, name="maintbot-render-pool-stop", daemon=True).start()
        set_artifact_queue_length(0)


def _finished(outcome: RenderOutcome) -> Finished:
    if outcome.ok:
        return Finished(outcome.artifact_id, ArtifactStatus.READY, size_bytes=outcome.size_bytes)
    return Finished(outcome.artifact_id, ArtifactStatus.FAILED, error=outcome.error)


def _failures(tasks: Sequence[RenderTask], reason: str, detail: str) -> list[RenderOutcome]:
    return [
        RenderOutcome(task.artifact_id, task.kind, ok=False, seconds=0.0, error=reason, detail=detail)
        for task in tasks
    ]


def _by_message(
    pending: list[tuple[Artifact, dict[str, Any] | None]],
) -> dict[str, list[tuple[Artifact, dict[str, Any] | None]]]:
    grouped: dict[str, list[tuple[Artifact, dict[str, Any] | None]]] = {}
    for artifact, answer in pending:
        grouped.setdefault(artifact.message_id, []).append((artifact, answer))
    return grouped


@asynccontextmanager
async def open_artifact_jobs(
    *, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[ArtifactJobs]:
    """The artifact jobs of a running app, started (with recovery) and stopped with it."""
    await anyio.Path(settings.artifact_path).mkdir(parents=True, exist_ok=True)
    jobs = ArtifactJobs(
        sessions=sessions,
        planner=ArtifactPlanner(
            names=ColumnNames(CMMS), charts=settings.charts_enabled, exports=settings.exports_enabled
        ),
        store=ArtifactStore(settings.artifact_path),
        workers=settings.artifact_workers,
        queue_limit=settings.artifact_queue_limit,
        timings=ArtifactTimings(
            retention=timedelta(hours=settings.artifact_retention_hours),
            sweep_interval_s=settings.artifact_sweep_interval_s,
            stale_after=timedelta(seconds=settings.artifact_stale_after_s),
        ),
    )
    await jobs.start()
    try:
        yield jobs
    finally:
        await jobs.close()
