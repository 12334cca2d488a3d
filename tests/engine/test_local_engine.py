"""How the built-in engine reads questions: each test is a behaviour a planner would notice."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from maintbot.cmms.models import known_columns
from maintbot.engine.base import Intent, Understanding
from maintbot.engine.local.engine import LocalEngine
from maintbot.engine.local.timewords import TimeWindow, find_window
from maintbot.sql.guard import SqlGuard


async def ask(engine: LocalEngine, *turns: str) -> Understanding:
    context: dict[str, Any] | None = None
    understanding: Understanding | None = None
    for turn in turns:
        understanding = await engine.understand(question=turn, language=None, context=context)
        context = understanding.context or context
    assert understanding is not None
    return understanding


def one_line(sql: str | None) -> str:
    assert sql is not None
    return " ".join(sql.split())


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("How many pumps are down?", "en"),
        ("¿Cuántas bombas están paradas?", "es"),
        ("cuantas ordenes abiertas hay en bogota", "es"),
        ("Show the open work orders", "en"),
        ("Lista de repuestos con bajo inventario", "es"),
    ],
)
async def test_the_answer_is_in_the_language_of_the_question(
    engine: LocalEngine, question: str, language: str
) -> None:
    understanding = await ask(engine, question)
    assert understanding.language == language


@pytest.mark.parametrize(
    "question",
    [
        "Delete every work order from last year",
        "Please remove the decommissioned pumps",
        "Can you close WO-2025-000123?",
        "Set the priority of every open order to low",
        "Borra todos los técnicos inactivos",
        "¿Puedes cambiar el estado de la bomba PMP-0001?",
        "Quiero eliminar los repuestos sin stock",
        "Dar de baja el compresor CMP-0003",
        "'; DROP TABLE sites; --",
        "UPDATE work_orders SET status = 'completed'",
        "insert into sites values (6, 'X', 'X', 'X', 'X')",
    ],
)
async def test_requests_to_change_data_are_refused_and_nothing_runs(
    engine: LocalEngine, question: str
) -> None:
    understanding = await ask(engine, question)
    assert understanding.intent is Intent.REFUSED
    assert understanding.sql is None
    assert understanding.message


@pytest.mark.parametrize(
    "question",
    [
        "Open work orders in Madrid",
        "How many work orders were completed last month?",
        "Make a list of the critical pumps",
        "¿Cuántos equipos están dados de baja?",
        "Which technicians changed shift?",
    ],
)
async def test_questions_that_merely_sound_like_writes_are_not_refused(
    engine: LocalEngine, question: str
) -> None:
    assert (await ask(engine, question)).intent is not Intent.REFUSED


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("Hello", Intent.HELP),
        ("Hola, ¿en qué me ayudas?", Intent.HELP),
        ("help", Intent.HELP),
        ("Thanks!", Intent.SMALLTALK),
        ("gracias", Intent.SMALLTALK),
        ("bye", Intent.SMALLTALK),
        ("Will it rain in Lisbon tomorrow?", Intent.UNSUPPORTED),
        ("Tell me a joke", Intent.UNSUPPORTED),
        ("What is the MTBF of the pumps?", Intent.UNSUPPORTED),
    ],
)
async def test_conversation_and_unknown_questions_get_a_reply_and_no_sql(
    engine: LocalEngine, question: str, intent: Intent
) -> None:
    understanding = await ask(engine, question)
    assert understanding.intent is intent
    assert understanding.sql is None
    assert understanding.message


async def test_an_unanswerable_question_says_which_words_were_not_understood(engine: LocalEngine) -> None:
    understanding = await ask(engine, "What is the MTBF of the pumps?")
    assert '"mtbf"' in (understanding.message or "")


async def test_critical_means_priority_for_orders_and_criticality_for_equipment(engine: LocalEngine) -> None:
    orders = one_line((await ask(engine, "How many critical work orders are open?")).sql)
    equipment = one_line((await ask(engine, "How many critical machines are there?")).sql)
    assert "w.priority = 'critical'" in orders
    assert "e.criticality = 'high'" in equipment


async def test_type_means_the_equipment_type_for_failures_and_the_order_type_for_orders(
    engine: LocalEngine,
) -> None:
    failures = one_line((await ask(engine, "MTTR by type")).sql)
    orders = one_line((await ask(engine, "Work orders by type")).sql)
    parts = one_line((await ask(engine, "Spare parts by type")).sql)
    assert "GROUP BY e.equipment_type" in failures
    assert "GROUP BY w.type" in orders
    assert "GROUP BY sp.category" in parts


async def test_equipment_lists_leave_out_decommissioned_machines_unless_asked(engine: LocalEngine) -> None:
    assert "e.status <> 'decommissioned'" in one_line((await ask(engine, "List the pumps in Madrid")).sql)
    retired = one_line((await ask(engine, "List the decommissioned pumps")).sql)
    assert "e.status = 'decommissioned'" in retired
    assert "<>" not in retired


async def test_equipment_that_needs_maintenance_is_read_from_active_plans_due_today(
    engine: LocalEngine,
) -> None:
    sql = one_line((await ask(engine, "¿Qué máquinas requieren mantenimiento en Houston?")).sql)
    assert "EXISTS (SELECT 1 FROM maintenance_plans p" in sql
    assert "p.active = 1 AND p.next_due <= date('now')" in sql
    assert "s.name = 'Houston Plant'" in sql


async def test_top_n_orders_by_the_measure_and_cuts_at_n(engine: LocalEngine) -> None:
    sql = one_line((await ask(engine, "top 7 machines by maintenance cost this year")).sql)
    assert "SUM(w.labor_cost + w.parts_cost)" in sql
    assert "ORDER BY maintenance_cost_usd DESC" in sql
    assert sql.endswith("LIMIT 7")


@pytest.mark.parametrize("count", ["9" * 5000, "0" * 9999, "፩", "²"])
async def test_numbers_that_are_not_plain_counts_do_not_break_the_parser(
    engine: LocalEngine, count: str
) -> None:
    # Found by tests/fuzz: int() refuses digit strings past 4,300 characters and non-decimal "digits".
    understanding = await ask(engine, f"top {count} pumps by downtime")

    assert understanding.intent in set(Intent)


async def test_which_with_most_ranks_a_single_winner(engine: LocalEngine) -> None:
    sql = one_line((await ask(engine, "Which site has the most open work orders?")).sql)
    assert "GROUP BY s.name" in sql
    assert "ORDER BY work_order_count DESC" in sql
    assert sql.endswith("LIMIT 1")


async def test_trends_are_grouped_by_month_in_order(engine: LocalEngine) -> None:
    sql = one_line((await ask(engine, "Tendencia del tiempo de paro en los últimos 6 meses")).sql)
    assert "strftime('%Y-%m', w.completed_at) AS month" in sql
    assert "ORDER BY month" in sql


@pytest.mark.parametrize(
    ("turns", "expected", "absent"),
    [
        (
            ("How many open work orders are in Madrid?", "And in Guadalajara?"),
            "s.name = 'Guadalajara Plant'",
            "Madrid",
        ),
        (
            ("¿Cuántas bombas están detenidas?", "¿Y los compresores?"),
            "e.equipment_type = 'compressor'",
            "pump",
        ),
        (("Failures this year", "and last year?"), "'start of year', '-1 years'", None),
        (("How many work orders are still open?", "only the critical ones"), "w.priority = 'critical'", None),
        (
            ("How many machines are there in Madrid?", "only the critical ones"),
            "e.criticality = 'high'",
            None,
        ),
        (("Maintenance cost this year", "and by site?"), "GROUP BY s.name", None),
        (
            ("Downtime of pumps this year", "¿y el costo?"),
            "SUM(w.labor_cost + w.parts_cost)",
            "downtime_hours",
        ),
        (("¿Cuántas bombas hay en Monterrey?", "¿Cuáles son?"), "e.tag AS tag", "COUNT"),
    ],
)
async def test_follow_ups_refine_the_previous_question(
    engine: LocalEngine, turns: tuple[str, ...], expected: str, absent: str | None
) -> None:
    sql = one_line((await ask(engine, *turns)).sql)
    assert expected in sql
    if absent:
        assert absent not in sql


async def test_a_new_full_question_does_not_inherit_the_previous_filters(engine: LocalEngine) -> None:
    sql = one_line(
        (
            await ask(
                engine, "How many open work orders are in Madrid?", "How many pumps are down at the moment?"
            )
        ).sql
    )
    assert "Madrid" not in sql
    assert "FROM equipment e" in sql


TODAY = date(2026, 3, 15)


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("in the last 12 months", TimeWindow("rolling", "month", 12)),
        ("en los ultimos 30 dias", TimeWindow("rolling", "day", 30)),
        ("past two weeks", TimeWindow("rolling", "week", 2)),
        ("in the last year", TimeWindow("rolling", "year", 1)),
        ("en el ultimo año", TimeWindow("rolling", "year", 1)),
        ("last year", TimeWindow("calendar", "year", -1)),
        ("el año pasado", TimeWindow("calendar", "year", -1)),
        ("el mes pasado", TimeWindow("calendar", "month", -1)),
        ("this month", TimeWindow("calendar", "month", 0)),
        ("en lo que va del año", TimeWindow("calendar", "year", 0)),
        ("hoy", TimeWindow("calendar", "day", 0)),
        ("in the next 7 days", TimeWindow("forward", "day", 7)),
        ("en los proximos 14 dias", TimeWindow("forward", "day", 14)),
        ("in 2025", TimeWindow("range", "year", start="2025-01-01", end="2026-01-01")),
        ("en marzo de 2025", TimeWindow("range", "month", start="2025-03-01", end="2025-04-01")),
        ("in december", TimeWindow("range", "month", start="2025-12-01", end="2026-01-01")),
        (
            "between 2026-01-01 and 2026-01-31",
            TimeWindow("range", "day", start="2026-01-01", end="2026-02-01"),
        ),
    ],
)
def test_time_expressions_become_windows(text: str, window: TimeWindow) -> None:
    found, rest = find_window(text, today=TODAY)
    assert found == window
    assert rest == ""


GUARD_QUESTIONS = [
    "How many pumps are down at the moment?",
    "Maintenance cost by month in the last 6 months",
    "Top 5 equipment by downtime this year",
    "¿Qué equipos necesitan mantenimiento en Bogotá?",
    "Average vibration of motors last week",
    "Overdue work orders by priority",
    "Plans due in the next 10 days",
    "Failures last month by failure mode",
    "Inventory value by category",
    "Active technicians per shift",
]


@pytest.mark.parametrize("question", GUARD_QUESTIONS)
@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
async def test_the_sql_guard_accepts_what_the_engine_writes_in_both_dialects(
    engine: LocalEngine, pg_engine: LocalEngine, question: str, dialect: str
) -> None:
    chosen = engine if dialect == "sqlite" else pg_engine
    understanding = await ask(chosen, question)
    assert understanding.intent is Intent.DATA
    guard = SqlGuard(known_columns=known_columns(), dialect=dialect, row_cap=1000)  # type: ignore[arg-type]
    assert guard.check(understanding.sql or "").sql


async def test_postgres_sql_uses_postgres_date_functions(pg_engine: LocalEngine) -> None:
    sql = one_line((await ask(pg_engine, "Failures by month last year")).sql)
    assert "to_char(w.created_at, 'YYYY-MM')" in sql
    assert "date_trunc('year', CURRENT_DATE)" in sql
    assert "date('now'" not in sql
