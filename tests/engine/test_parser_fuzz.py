"""Whatever people type, the engine answers without crashing, and any SQL it writes is safe and valid.

Questions are drawn from the domain's own words (so that many parse into data questions, with odd
combinations), numbers, time phrases and arbitrary text; two-turn conversations exercise follow-ups.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maintbot.cmms.models import known_columns
from maintbot.engine.base import Intent, Understanding
from maintbot.engine.local.engine import LocalEngine
from maintbot.sql.guard import SqlGuard

WORDS = (
    "how many which list top most least average total by per each por cada cuantos cuales and y only solo "
    "pumps bombas compressors motores equipment equipos work orders ordenes failures fallas plans "
    "mantenimiento technicians tecnicos spare parts repuestos readings vibration temperatura pressure "
    "cost costo downtime paro mttr value inventario open abiertas overdue vencidas critical criticas "
    "high alta low baja priority prioridad status estado type tipo site planta month mes year año "
    "Madrid Houston Bogotá Monterrey Guadalajara Mexico España last último this este next próximos "
    "days días months meses 2025 2024 3 5 10 in en of de the la los delete borra now ahora what qué"
).split()

questions = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join),
    st.text(min_size=1, max_size=80),
)


def understand(engine: LocalEngine, question: str, context: dict[str, Any] | None) -> Understanding:
    return asyncio.run(engine.understand(question=question, language=None, context=context))


@pytest.fixture(scope="module")
def guards() -> dict[str, SqlGuard]:
    return {
        d: SqlGuard(known_columns=known_columns(), dialect=d, row_cap=1000) for d in ("sqlite", "postgres")
    }


@pytest.fixture(scope="module")
def demo(demo_database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{demo_database}?mode=ro", uri=True, check_same_thread=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=questions, second=st.one_of(st.none(), questions))
def test_any_question_gets_an_answer_and_only_guarded_valid_sql(
    engine: LocalEngine,
    pg_engine: LocalEngine,
    guards: dict[str, SqlGuard],
    demo: sqlite3.Connection,
    first: str,
    second: str | None,
) -> None:
    for dialect, chosen in (("sqlite", engine), ("postgres", pg_engine)):
        understanding = understand(chosen, first, None)
        if second is not None:
            understanding = understand(chosen, second, understanding.context)
        assert understanding.intent in set(Intent)
        if understanding.intent is not Intent.DATA:
            assert understanding.message
            continue
        guarded = guards[dialect].check(understanding.sql or "")
        if dialect == "sqlite":
            demo.execute(f"EXPLAIN {guarded.sql}").fetchall()
