"""Which chart an answer gets comes from its table's shape, with labels a planner reads in their language."""

from __future__ import annotations

from typing import Any

import pytest

from maintbot.artifacts.charts import ChartSpec, ChartSuggestion, chart_spec, shortened
from maintbot.artifacts.labels import ColumnNames
from maintbot.domain.cmms import CMMS
from maintbot.engine.base import Language

NAMES = ColumnNames(CMMS)
GROUPED = "SELECT … GROUP BY 1"

MONTHLY_FAILURES = (["month", "failure_count"], [["2025-11", 14], ["2025-12", 50], ["2026-01", 73]])
COST_BY_SITE = (
    ["site", "maintenance_cost_usd"],
    [["Houston Plant", 258594.375], ["Monterrey Plant", 218625.3], ["Madrid Plant", 204724.75]],
)


def spec_for(
    columns: list[str],
    rows: list[list[Any]],
    *,
    sql: str | None = GROUPED,
    language: Language = "en",
    question: str = "a question",
    suggestion: ChartSuggestion | None = None,
) -> ChartSpec | None:
    return chart_spec(
        columns=columns,
        rows=rows,
        sql=sql,
        question=question,
        language=language,
        names=NAMES,
        suggestion=suggestion,
    )


def test_a_month_column_with_a_measure_is_a_line_chart_with_human_axis_names() -> None:
    spec = spec_for(*MONTHLY_FAILURES, question="failures per month in the last year")

    assert spec is not None
    assert (spec.kind, spec.x, spec.y, spec.series, spec.time_grain) == (
        "line",
        ("month",),
        ("failure_count",),
        (),
        "month",
    )
    assert spec.title == "Failures per month in the last year"
    assert (spec.x_label, spec.y_label) == ("Month", "Number of failures")
    assert spec.additive == {"failure_count": True}


def test_several_measures_over_months_are_one_line_each_on_a_shared_unit() -> None:
    columns = ["month", "labor_cost_usd", "parts_cost_usd", "maintenance_cost_usd"]
    spec = spec_for(columns, [["2026-01", 1.0, 2.0, 3.0], ["2026-02", 2.0, 3.0, 5.0]])

    assert spec is not None
    assert spec.kind == "line"
    assert spec.y == ("labor_cost_usd", "parts_cost_usd", "maintenance_cost_usd")
    assert spec.y_label == "Value (USD)"
    assert spec.measure_names["parts_cost_usd"] == "Parts cost"


def test_measures_in_other_units_are_left_off_a_shared_axis() -> None:
    spec = spec_for(
        ["month", "downtime_hours", "maintenance_cost_usd"], [["2026-01", 1, 2.5], ["2026-02", 3, 4.5]]
    )

    assert spec is not None
    assert spec.y == ("downtime_hours",)
    assert spec.y_label == "Downtime (h)"


def test_months_by_a_category_draw_one_line_per_category() -> None:
    rows = [["2026-01", "Madrid Plant", 3], ["2026-01", "Houston Plant", 5], ["2026-02", "Madrid Plant", 4]]
    spec = spec_for(["month", "site", "failure_count"], rows)

    assert spec is not None
    assert (spec.kind, spec.x, spec.series, spec.series_label) == ("line", ("month",), ("site",), "Site")


def test_years_are_a_time_axis_only_in_a_column_named_for_them() -> None:
    by_year = spec_for(["year", "maintenance_cost_usd"], [["2024", 10.5], ["2025", 12.5]])
    by_number = spec_for(["priority_level", "work_order_count"], [[2024, 3], [2025, 4]])

    assert by_year is not None
    assert (by_year.kind, by_year.time_grain) == ("line", "year")
    # A numeric column that is not a year is another measure: no category to draw bars over.
    assert by_number is None


def test_a_category_with_a_measure_is_a_bar_chart_with_its_unit() -> None:
    spec = spec_for(*COST_BY_SITE, question="cost by site this year")

    assert spec is not None
    assert (spec.kind, spec.x, spec.y) == ("bar", ("site",), ("maintenance_cost_usd",))
    assert (spec.x_label, spec.y_label) == ("Site", "Maintenance cost (USD)")
    assert spec.units == {"maintenance_cost_usd": "USD"}


def test_a_tag_and_its_name_are_one_category_named_after_the_subject() -> None:
    rows = [["BLR-0004", "Steam boiler 1", 153.75], ["CMP-0002", "Refrigeration compressor 1", 98.25]]
    spec = spec_for(["tag", "name", "downtime_hours"], rows)

    assert spec is not None
    assert (spec.kind, spec.x) == ("bar", ("tag", "name"))
    assert spec.x_label == "Piece of equipment"


def test_a_category_with_several_measures_is_grouped_bars() -> None:
    rows = [["Houston Plant", 10.0, 20.0], ["Madrid Plant", 5.0, 7.5]]
    spec = spec_for(["site", "labor_cost_usd", "parts_cost_usd"], rows)

    assert spec is not None
    assert (spec.kind, spec.x, spec.y, spec.series) == (
        "grouped_bar",
        ("site",),
        ("labor_cost_usd", "parts_cost_usd"),
        (),
    )


def test_two_categories_and_a_measure_are_grouped_bars() -> None:
    rows = [
        ["Houston Plant", "high", 3],
        ["Houston Plant", "low", 5],
        ["Madrid Plant", "high", 2],
        ["Madrid Plant", "critical", 1],
    ]
    spec = spec_for(["site", "priority", "work_order_count"], rows)

    assert spec is not None
    assert (spec.kind, spec.x, spec.series, spec.y) == (
        "grouped_bar",
        ("site",),
        ("priority",),
        ("work_order_count",),
    )
    assert spec.series_label == "Priority"
    spanish = spec_for(["site", "priority", "work_order_count"], rows, language="es")
    assert spanish is not None
    assert spanish.series_label == "Prioridad"
    assert spanish.value_labels["priority"] == {"high": "alta", "low": "baja", "critical": "crítica"}


@pytest.mark.parametrize(
    ("columns", "rows", "sql"),
    [
        pytest.param(
            ["equipment_count"], [[71]], "SELECT COUNT(*) AS equipment_count FROM equipment", id="single"
        ),
        pytest.param(["site", "failure_count"], [["Houston Plant", 4]], GROUPED, id="one-row"),
        pytest.param(
            ["tag", "task", "next_due"],
            [["BLR-0001", "cleaning", "2026-10-03"], ["BLR-0002", "inspection", "2026-10-09"]],
            "SELECT e.tag, p.task, p.next_due FROM maintenance_plans p "
            "JOIN equipment e ON e.id = p.equipment_id ORDER BY e.tag",
            id="plain-list",
        ),
        pytest.param(
            ["part_number", "name", "quantity_on_hand"],
            [["P-1", "Bearing", 4], ["P-2", "Filter", 9]],
            "SELECT sp.part_number, sp.name, sp.quantity_on_hand FROM spare_parts sp",
            id="list-with-numbers",
        ),
        pytest.param(
            ["site", "city"],
            [["Madrid Plant", "Madrid"], ["Houston Plant", "Houston"]],
            GROUPED,
            id="no-measure",
        ),
        pytest.param(
            ["site", "priority", "type", "work_order_count"],
            [
                ["A", "high", "corrective", 1],
                ["A", "low", "preventive", 2],
                ["B", "high", "corrective", 3],
                ["B", "high", "preventive", 4],
            ],
            GROUPED,
            id="three-categories",
        ),
        pytest.param(["month", "failure_count"], [["2026-01", 3], ["2026-02", 4]], None, id="no-sql"),
    ],
)
def test_shapes_that_call_for_no_chart(columns: list[str], rows: list[list[Any]], sql: str | None) -> None:
    assert spec_for(columns, rows, sql=sql) is None


def test_spanish_answers_get_spanish_labels_and_values() -> None:
    rows = [["cnc_machine", 2439.5], ["pump", 2930.75]]
    spec = spec_for(["equipment_type", "downtime_hours"], rows, language="es")
    monthly = spec_for(*MONTHLY_FAILURES, language="es")

    assert spec is not None
    assert monthly is not None
    assert (spec.x_label, spec.y_label) == ("Tipo de equipo", "Tiempo de paro (h)")
    assert spec.value_labels["equipment_type"] == {"cnc_machine": "máquina CNC", "pump": "bomba"}
    assert spec.words.other == "Otros"
    assert (monthly.x_label, monthly.y_label) == ("Mes", "Número de fallas")
    assert monthly.words.months[0] == "ene"


def test_columns_the_domain_does_not_name_get_readable_names_and_units_from_their_suffix() -> None:
    spec = spec_for(["site", "avg_repair_hours"], [["A", 1.5], ["B", 2.5]])

    assert spec is not None
    assert spec.y_label == "Avg repair hours (h)"
    # An average is not added up into "other".
    assert spec.additive == {"avg_repair_hours": False}


def test_a_truncated_result_says_so_on_the_chart() -> None:
    spec = chart_spec(
        columns=MONTHLY_FAILURES[0],
        rows=MONTHLY_FAILURES[1],
        sql=GROUPED,
        question="q",
        language="en",
        names=NAMES,
        truncated=True,
    )

    assert spec is not None
    assert spec.note == "First 3 rows"


def test_long_questions_become_short_titles_cut_at_a_word() -> None:
    question = (
        "what was the total maintenance cost for every single site we have across all countries this year"
    )

    title = shortened(question)

    assert len(title) <= 70
    assert title.startswith("What was the total maintenance cost")
    assert title.endswith("…")
    assert not title[:-1].endswith(" ")


def test_a_suggested_chart_that_fits_the_shape_is_used() -> None:
    rows = [["Houston Plant", "high", 3], ["Houston Plant", "low", 5], ["Madrid Plant", "high", 2]]
    suggestion = ChartSuggestion(kind="grouped_bar", x="priority", series="site", y=["work_order_count"])

    spec = spec_for(["site", "priority", "work_order_count"], rows, suggestion=suggestion)

    assert spec is not None
    assert (spec.kind, spec.x, spec.series) == ("grouped_bar", ("priority",), ("site",))


@pytest.mark.parametrize(
    "suggestion",
    [
        pytest.param(
            ChartSuggestion(kind="line", x="site", y=["maintenance_cost_usd"]), id="line-over-categories"
        ),
        pytest.param(ChartSuggestion(kind="bar", x="site", y=["password"]), id="unknown-column"),
        pytest.param(ChartSuggestion(kind="bar", x="site", y=["site"]), id="category-as-measure"),
        pytest.param(
            ChartSuggestion(kind="grouped_bar", x="site", series="site", y=["maintenance_cost_usd"]),
            id="series-on-the-axis",
        ),
    ],
)
def test_a_suggested_chart_outside_the_allowed_shapes_is_ignored(suggestion: ChartSuggestion) -> None:
    spec = spec_for(*COST_BY_SITE, suggestion=suggestion)

    assert spec is not None
    assert (spec.kind, spec.x, spec.y) == ("bar", ("site",), ("maintenance_cost_usd",))


def test_a_suggestion_cannot_make_a_chart_of_a_shape_that_has_none() -> None:
    suggestion = ChartSuggestion(kind="bar", x="equipment_count", y=["equipment_count"])

    assert spec_for(["equipment_count"], [[71], [72]], suggestion=suggestion) is None
