"""Artifacts are made in the background by a bounded pool of processes, only once their answer is committed;
each ends ready or failed with a reason, even across crashes; old ones are cleaned up."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from datetime import timedelta
from pathlib import Path
from typing import Any

from artifact_support import JobsFactory, Sessions, StoreAnswer, artifacts_of
from PIL import Image
from sqlalchemy import update
from worker_faults import CRASH_PREFIX, crash_some

from maintbot.artifacts import repository
from maintbot.artifacts.jobs import ANSWER_GONE, BUSY, TOO_MANY_ATTEMPTS, WORKER_STOPPED, make_render_pool
from maintbot.artifacts.labels import ColumnNames
from maintbot.artifacts.plan import ArtifactPlanner
from maintbot.artifacts.repository import Finished
from maintbot.artifacts.store import ArtifactStore
from maintbot.domain.cmms import CMMS
from maintbot.state.models import Artifact, ArtifactStatus, utc_now


def files_in(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


async def answer_with_artifacts(
    jobs: Any, sessions: Sessions, store_answer: StoreAnswer, *, message_id: str | None = None
) -> str:
    """Store an answer and its planned artifacts in one transaction, as the chat service does."""
    answer = await store_answer(message_id=message_id)
    plan = jobs.plan(answer=answer, question="cost by site this year")
    assert plan is not None
    async with sessions.begin() as db:
        await jobs.record(db=db, plan=plan)
    return answer.message_id


async def test_files_are_made_only_once_the_answer_is_committed(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer, artifact_root: Path
) -> None:
    async with artifact_jobs() as jobs:
        answer = await store_answer()
        plan = jobs.plan(answer=answer, question="cost by site this year")
        assert plan is not None
        assert [item.kind for item in plan.items] == ["chart", "csv", "xlsx"]
        async with state_sessions() as db:
            await jobs.record(db=db, plan=plan)
            await asyncio.sleep(0.2)
            assert jobs.queue_length == 0  # nothing is made from an uncommitted answer
            assert files_in(artifact_root) == []
            await db.commit()
        await jobs.wait_until_idle()

    stored = await artifacts_of(state_sessions, answer.message_id)
    assert [(a.kind, a.status, a.error) for a in stored] == [
        ("chart", "ready", None),
        ("csv", "ready", None),
        ("xlsx", "ready", None),
    ]
    for artifact in stored:
        assert (artifact_root / artifact.path).stat().st_size == artifact.size_bytes
    with Image.open(artifact_root / stored[0].path) as image:
        assert (image.format, image.size) == ("PNG", (1200, 675))


async def test_a_rolled_back_answer_makes_nothing(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer, artifact_root: Path
) -> None:
    async with artifact_jobs() as jobs:
        answer = await store_answer()
        plan = jobs.plan(answer=answer, question="cost by site")
        assert plan is not None
        async with state_sessions() as db:
            await jobs.record(db=db, plan=plan)
            await db.rollback()
        await jobs.wait_until_idle()

    assert await artifacts_of(state_sessions) == []
    assert files_in(artifact_root) == []


class CountingPool(Executor):
    """A real render pool that remembers how many calls it ever had at once."""

    def __init__(self, workers: int) -> None:
        self.pool = make_render_pool(workers)
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        future = self.pool.submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any]) -> None:
        with self.lock:
            self.running -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


async def test_many_answers_at_once_share_a_bounded_pool(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer, artifact_root: Path
) -> None:
    pools: list[CountingPool] = []

    def counting_pool(workers: int) -> CountingPool:
        pools.append(CountingPool(workers))
        return pools[-1]

    async with artifact_jobs(workers=2, make_pool=counting_pool) as jobs:
        message_ids = await asyncio.gather(
            *(answer_with_artifacts(jobs, state_sessions, store_answer) for _ in range(24))
        )
        await jobs.wait_until_idle(timeout_s=120)

    stored = await artifacts_of(state_sessions)
    assert len(stored) == 24 * 3
    assert {a.message_id for a in stored} == set(message_ids)
    assert {a.status for a in stored} == {"ready"}
    assert len(pools) == 1
    assert pools[0].most == 2  # both workers busy, never more than them
    charts = [a for a in stored if a.kind == "chart"]
    for chart in charts:
        with Image.open(artifact_root / chart.path) as image:
            assert image.size == (1200, 675)


async def test_when_the_queue_is_full_new_artifacts_fail_at_once_and_the_rest_are_made(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer
) -> None:
    # Not started yet: the first answer's job fills the queue of one, the second's finds it full.
    async with artifact_jobs(queue_limit=1, start=False) as jobs:
        first = await answer_with_artifacts(jobs, state_sessions, store_answer)
        second = await answer_with_artifacts(jobs, state_sessions, store_answer)
        await jobs.start()
        await jobs.wait_until_idle()

    assert {(a.status, a.error) for a in await artifacts_of(state_sessions, second)} == {("failed", BUSY)}
    assert {a.status for a in await artifacts_of(state_sessions, first)} == {"ready"}


async def test_artifacts_a_crashed_process_left_pending_are_made_on_the_next_start(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer
) -> None:
    # A process that stored answers and died before making their files: records pending, nothing queued.
    async with artifact_jobs(start=False) as crashed:
        crashed.submit = lambda job: None  # type: ignore[method-assign]
        left = [await answer_with_artifacts(crashed, state_sessions, store_answer) for _ in range(3)]
    assert {a.status for a in await artifacts_of(state_sessions)} == {"pending"}

    async with artifact_jobs() as restarted:
        await restarted.wait_until_idle()

    stored = await artifacts_of(state_sessions)
    assert {a.message_id for a in stored} == set(left)
    assert {(a.status, a.attempts) for a in stored} == {("ready", 2)}


async def test_pending_artifacts_that_cannot_be_made_again_fail_with_a_reason(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer
) -> None:
    async with artifact_jobs(start=False) as crashed:
        crashed.submit = lambda job: None  # type: ignore[method-assign]
        tried_often = await answer_with_artifacts(crashed, state_sessions, store_answer)
        answer = await store_answer(with_table=False)
        plan = crashed.plan(
            answer=(await store_answer()).model_copy(update={"message_id": answer.message_id}), question="q"
        )
        assert plan is not None
        async with state_sessions.begin() as db:
            await crashed.record(db=db, plan=plan)
            await db.execute(update(Artifact).where(Artifact.message_id == tried_often).values(attempts=3))

    async with artifact_jobs() as restarted:
        await restarted.wait_until_idle()

    assert {(a.status, a.error) for a in await artifacts_of(state_sessions, tried_often)} == {
        ("failed", TOO_MANY_ATTEMPTS)
    }
    assert {(a.status, a.error) for a in await artifacts_of(state_sessions, answer.message_id)} == {
        ("failed", ANSWER_GONE)
    }


async def test_the_sweep_redoes_renders_lost_long_ago_and_leaves_recent_ones(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer
) -> None:
    async with artifact_jobs() as jobs:
        real_submit = jobs.submit
        jobs.submit = lambda job: None  # type: ignore[method-assign]
        lost = await answer_with_artifacts(jobs, state_sessions, store_answer)
        recent = await answer_with_artifacts(jobs, state_sessions, store_answer)
        async with state_sessions.begin() as db:
            an_hour_ago = utc_now() - timedelta(hours=1)
            await db.execute(
                update(Artifact).where(Artifact.message_id == lost).values(updated_at=an_hour_ago)
            )
        jobs.submit = real_submit  # type: ignore[method-assign]

        report = await jobs.sweep()
        await jobs.wait_until_idle()

    assert report.requeued == 1
    assert {a.status for a in await artifacts_of(state_sessions, lost)} == {"ready"}
    assert {(a.status, a.attempts) for a in await artifacts_of(state_sessions, recent)} == {("pending", 1)}


async def test_a_worker_that_dies_fails_its_answer_s_artifacts_and_the_pool_is_replaced(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer
) -> None:
    async with artifact_jobs(render=crash_some) as jobs:
        crashed = await answer_with_artifacts(
            jobs, state_sessions, store_answer, message_id=CRASH_PREFIX + "1"
        )
        await jobs.wait_until_idle(timeout_s=60)
        fine = await answer_with_artifacts(jobs, state_sessions, store_answer)
        await jobs.wait_until_idle(timeout_s=60)

    assert {(a.status, a.error) for a in await artifacts_of(state_sessions, crashed)} == {
        ("failed", WORKER_STOPPED)
    }
    assert {a.status for a in await artifacts_of(state_sessions, fine)} == {"ready"}


async def test_a_status_moves_only_from_pending(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer
) -> None:
    async with artifact_jobs() as jobs:
        message_id = await answer_with_artifacts(jobs, state_sessions, store_answer)
        await jobs.wait_until_idle()
    chart = (await artifacts_of(state_sessions, message_id))[0]

    # A second process finishing the same artifact later (a redone render) changes nothing.
    async with state_sessions.begin() as db:
        changed = await repository.finish(
            db=db, finished=[Finished(chart.id, ArtifactStatus.FAILED, error="too late")]
        )

    assert changed == 0
    assert (await artifacts_of(state_sessions, message_id))[0].status == "ready"


async def test_the_sweep_deletes_old_records_and_files_and_files_no_record_claims(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer, artifact_root: Path
) -> None:
    async with artifact_jobs() as jobs:
        old = await answer_with_artifacts(jobs, state_sessions, store_answer)
        await jobs.wait_until_idle()
        old_files = [artifact_root / a.path for a in await artifacts_of(state_sessions, old)]
        orphan = artifact_root / "zz" / ("z" * 32 + ".png")
        partial = artifact_root / "zz" / ("y" * 32 + ".png.123.partial")
        unrelated = artifact_root / ".ready-probe"
        for path in (orphan, partial, unrelated):
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"x")

        # Within the retention, and just written: everything stays.
        kept = await jobs.sweep()
        assert (kept.records_deleted, kept.files_deleted) == (0, 0)

        # Two hours later (retention one hour): the records and every file go, but what is not ours.
        later = utc_now() + timedelta(hours=2)
        for path in [*old_files, orphan, partial]:
            os.utime(path, (time.time() - 2 * 3600, time.time() - 2 * 3600))
        report = await jobs.sweep(now=later)

    assert (report.records_deleted, report.files_deleted) == (3, 5)
    assert await artifacts_of(state_sessions) == []
    assert not any(path.exists() for path in [*old_files, orphan, partial])
    assert unrelated.exists()


async def test_the_sweep_spares_files_of_artifacts_still_on_record(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer, artifact_root: Path
) -> None:
    async with artifact_jobs() as jobs:
        message_id = await answer_with_artifacts(jobs, state_sessions, store_answer)
        await jobs.wait_until_idle()
        files = [artifact_root / a.path for a in await artifacts_of(state_sessions, message_id)]
        for path in files:
            os.utime(path, (time.time() - 3600, time.time() - 3600))

        report = await jobs.sweep(now=utc_now() + timedelta(minutes=30))

    assert report.files_deleted == 0
    assert all(path.exists() for path in files)


def test_the_store_never_removes_paths_outside_its_folder(tmp_path: Path) -> None:
    outside = tmp_path / "keep.png"
    outside.write_bytes(b"x")
    store = ArtifactStore(tmp_path / "artifacts")

    assert store._remove(["../keep.png", str(outside), "ke/../../keep.png"]) == 0
    assert outside.exists()


async def test_a_process_with_artifacts_off_leaves_pending_ones_to_one_that_makes_them(
    artifact_jobs: JobsFactory, state_sessions: Sessions, store_answer: StoreAnswer
) -> None:
    async with artifact_jobs(start=False) as crashed:
        crashed.submit = lambda job: None  # type: ignore[method-assign]
        left = await answer_with_artifacts(crashed, state_sessions, store_answer)

    switched_off = ArtifactPlanner(names=ColumnNames(CMMS), charts=False, exports=False)
    async with artifact_jobs(planner=switched_off) as off:
        assert off.plan(answer=await store_answer(), question="cost by site") is None
        report = await off.sweep()
    assert report.requeued == 0
    assert {(a.status, a.attempts) for a in await artifacts_of(state_sessions, left)} == {("pending", 1)}

    async with artifact_jobs() as on:
        await on.wait_until_idle()
    assert {a.status for a in await artifacts_of(state_sessions, left)} == {"ready"}
