"""The maintenance DB on PostgreSQL: `maintbot demo-data` writes it, and questions score there as on SQLite.

`maintbot demo-data` writes the same demo data (seed, as-of date, scale) to a SQLite file and to a
throwaway PostgreSQL database. The service answers from each through its HTTP API; the gold SQL is
SQLite's (as the golden sets are written), so it runs on the SQLite twin, whose rows are the same.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from maintbot.app import create_app
from maintbot.cli import cli
from maintbot.engine.local.engine import today_utc
from maintbot.evaluation import EvalItem, EvalReport, TurnFailed, evaluate, parse_items
from maintbot.inprocess import in_process_client
from maintbot.schemas import ChatAnswer
from maintbot.settings import Settings
from maintbot.sql.maintenance import open_maintenance_database
from maintbot.sql.types import QueryResult

pytestmark = pytest.mark.postgres

DEV_SET = Path(__file__).resolve().parents[3] / "shared" / "eval" / "dev.jsonl"
# As the development set is scored on SQLite (tests/engine/test_golden_sets.py): seed 42, scale 1.
SEED, SCALE = 42, 1.0


@dataclass(frozen=True, slots=True)
class DemoTwins:
    """The same demo data in SQLite and PostgreSQL, and what `maintbot demo-data` printed for each."""

    sqlite_file: Path
    postgres_url: str
    sqlite_output: str
    postgres_output: str


@pytest.fixture(scope="module")
async def postgres_maintenance_url(postgres_dsn: str) -> AsyncIterator[str]:
    name = f"maintbot_cmms_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_dsn.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def demo_data(target: str) -> str:
    options = ["--seed", str(SEED), "--as-of", today_utc().isoformat(), "--scale", str(SCALE)]
    result = CliRunner().invoke(cli, ["demo-data", target, *options])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def twins(postgres_maintenance_url: str, tmp_path_factory: pytest.TempPathFactory) -> DemoTwins:
    sqlite_file = tmp_path_factory.mktemp("cmms-twins") / "maintenance_demo.sqlite3"
    return DemoTwins(
        sqlite_file=sqlite_file,
        postgres_url=postgres_maintenance_url,
        sqlite_output=demo_data(str(sqlite_file)),
        postgres_output=demo_data(postgres_maintenance_url),
    )


async def ask_turns(client: httpx.AsyncClient, item: EvalItem) -> ChatAnswer:
    """An item's turns in one new session, as `maintbot eval` sends them; the last answer is scored."""
    session_id: str | None = None
    answer: ChatAnswer | None = None
    for turn in item.turns:
        response = await client.post("/api/v1/chat", json={"message": turn, "session_id": session_id})
        if response.status_code != 200:
            raise TurnFailed(f"HTTP {response.status_code}: {response.text}")
        answer = ChatAnswer.model_validate(response.json())
        session_id = answer.session_id
    assert answer is not None
    return answer


async def score(
    items: list[EvalItem], *, answers_from: str, twins: DemoTwins, make_settings: Callable[..., Settings]
) -> EvalReport:
    """The items answered by the service on `answers_from`, against gold results from the SQLite twin."""
    # Tables are what is scored: no charts or exports to render.
    service = make_settings(database_url=answers_from, charts_enabled=False, exports_enabled=False)
    gold = make_settings(database_url=str(twins.sqlite_file))
    async with (
        in_process_client(create_app(service)) as client,
        open_maintenance_database(gold) as (executor, guard),
    ):

        async def run_gold(sql: str) -> QueryResult:
            return await executor.run(guard.check(sql))

        return await evaluate(items, ask=partial(ask_turns, client), run_gold=run_gold)


def test_demo_data_writes_postgresql_with_the_same_rows_as_sqlite(twins: DemoTwins) -> None:
    counts = dict(line.split() for line in twins.postgres_output.splitlines())

    assert counts["sites"] == "5"
    assert int(counts["work_orders"].replace(",", "")) > 1000
    assert twins.postgres_output == twins.sqlite_output


async def test_a_total_over_thousands_of_costs_is_the_same_to_the_cent(
    twins: DemoTwins, make_settings: Callable[..., Settings]
) -> None:
    # PostgreSQL's REAL is a 4-byte float: summed as such, this total was off by USD 1.50.
    item = EvalItem(id="total-cost", turns=["total maintenance cost"], sql="SELECT 1")
    totals = {}
    for name, url in (("sqlite", str(twins.sqlite_file)), ("postgresql", twins.postgres_url)):
        service = make_settings(database_url=url, charts_enabled=False, exports_enabled=False)
        async with in_process_client(create_app(service)) as client:
            answer = await ask_turns(client, item)
        assert answer.rows is not None
        totals[name] = round(answer.rows[0][0], 2)

    assert totals["postgresql"] == totals["sqlite"] > 1_000_000


@pytest.mark.skipif(
    not DEV_SET.exists() and os.environ.get("CI") != "true",
    reason="the development set lives in ../shared/eval, which is not beside this checkout",
)
async def test_the_development_set_scores_on_postgresql_as_on_sqlite(
    twins: DemoTwins, make_settings: Callable[..., Settings]
) -> None:
    items = parse_items(DEV_SET.read_text(encoding="utf-8").splitlines())

    on_sqlite = await score(
        items, answers_from=str(twins.sqlite_file), twins=twins, make_settings=make_settings
    )
    on_postgres = await score(
        items, answers_from=twins.postgres_url, twins=twins, make_settings=make_settings
    )

    assert on_postgres.passed == on_sqlite.passed
    assert [o.item.id for o in on_postgres.misses] == [o.item.id for o in on_sqlite.misses]
