"""The files: a PNG of the expected size for each chart shape, exports equal to the answer's rows, and a
failure that names its reason without touching the other files of the answer."""

from __future__ import annotations

import csv
import errno
import io
import os
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from PIL import Image

from maintbot.artifacts import render
from maintbot.artifacts.charts import ChartSpec, ChartWords, chart_spec
from maintbot.artifacts.drawing import PNG_SIZE, ThousandsFormatter, draw_chart, format_value, select
from maintbot.artifacts.labels import ColumnNames
from maintbot.artifacts.render import csv_bytes, render_job, xlsx_bytes
from maintbot.artifacts.store import new_artifact_id, relative_path
from maintbot.artifacts.tasks import RenderJob, RenderTask
from maintbot.domain.cmms import CMMS
from maintbot.engine.base import Language

NAMES = ColumnNames(CMMS)
WORDS = ChartWords(other="Other", no_value="(none)", months=("Jan",) * 12, top_of="Top {shown} of {total:,}")

SITES = ["Houston Plant", "Monterrey Plant", "Madrid Plant", "Guadalajara Plant", "Bogotá Plant"]
SHAPES: dict[str, tuple[list[str], list[list[Any]], str]] = {
    "line": (
        ["month", "failure_count"],
        [[f"2025-{m:02d}", 10 + m * 3] for m in range(1, 13)],
        "line",
    ),
    "line-per-site": (
        ["month", "site", "maintenance_cost_usd"],
        [[f"2026-{m:02d}", site, 1000.0 * m + i] for m in range(1, 7) for i, site in enumerate(SITES)],
        "line",
    ),
    "bar": (
        ["priority", "work_order_count"],
        [["low", 83], ["medium", 76], ["high", 34], ["critical", 7]],
        "bar",
    ),
    "horizontal-bar": (
        ["technician", "downtime_hours"],
        [[f"Technician number {i} Martínez Guerrero", 2344.5 - i * 50] for i in range(40)],
        "bar",
    ),
    "grouped-measures": (
        ["site", "labor_cost_usd", "parts_cost_usd"],
        [[site, 10000.0 * (i + 1), 50000.0 * (i + 1)] for i, site in enumerate(SITES)],
        "grouped_bar",
    ),
    "grouped-categories": (
        ["site", "priority", "work_order_count"],
        [
            [site, p, 5 * i + j]
            for i, site in enumerate(SITES)
            for j, p in enumerate(["low", "high", "critical"])
        ],
        "grouped_bar",
    ),
}


def spec_of(shape: str, language: Language = "en") -> tuple[ChartSpec, list[str], list[list[Any]]]:
    columns, rows, kind = SHAPES[shape]
    spec = chart_spec(
        columns=columns,
        rows=rows,
        sql="… GROUP BY …",
        question=f"a {shape} chart",
        language=language,
        names=NAMES,
    )
    assert spec is not None
    assert spec.kind == kind
    return spec, columns, rows


def png_size(content: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(content))
    image.verify()
    assert image.format == "PNG"
    return image.size


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_chart_shape_is_a_valid_png_of_the_expected_size(shape: str) -> None:
    spec, columns, rows = spec_of(shape)

    content = draw_chart(spec, columns, rows)

    assert png_size(content) == PNG_SIZE == (1200, 675)


def test_spanish_charts_draw_too() -> None:
    spec, columns, rows = spec_of("line-per-site", language="es")

    assert png_size(draw_chart(spec, columns, rows)) == PNG_SIZE


def test_a_chart_with_nothing_to_draw_is_an_error() -> None:
    spec, columns, _rows = spec_of("bar")

    with pytest.raises(ValueError, match="no bar"):
        draw_chart(spec, columns, [["low", None], ["high", float("nan")]])


def test_bars_beyond_twenty_are_summed_as_other_when_values_add_up() -> None:
    totals = {f"site {i}": float(100 - i) for i in range(30)}

    chosen = select(totals, 20, additive=True, words=WORDS)

    assert len(chosen.labels) == 20
    assert chosen.labels[:3] == ["site 0", "site 1", "site 2"]
    assert chosen.labels[-1] == "Other (11)"
    assert chosen.fold(totals)["Other (11)"] == sum(100 - i for i in range(19, 30))
    assert chosen.note is None


def test_averages_are_never_summed_the_largest_are_shown_with_a_note() -> None:
    totals = {f"pump {i}": float(i) for i in range(25)}

    chosen = select(totals, 20, additive=False, words=WORDS)

    assert chosen.labels == [f"pump {i}" for i in range(24, 4, -1)]
    assert chosen.note == "Top 20 of 25"


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (258594.375, "USD", "USD 258,594"),
        (2930.75, "h", "2,931 h"),
        (98.25, "h", "98.3 h"),
        (2.075, "mm/s", "2.08 mm/s"),
        (64.0182, "°C", "64.0 °C"),
        (396, "", "396"),
        (12.5, "%", "12.5%"),
    ],
)
def test_values_have_thousands_separators_and_units(value: float, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


@pytest.mark.parametrize(
    ("ticks", "labels"),
    [
        ([0, 50000, 100000], ["0", "50,000", "100,000"]),
        ([63.6, 63.7, 63.8], ["63.6", "63.7", "63.8"]),
        ([0, 0.25, 0.5], ["0.00", "0.25", "0.50"]),
    ],
)
def test_axis_ticks_have_separators_and_the_decimals_their_step_needs(
    ticks: list[float], labels: list[str]
) -> None:
    formatter = ThousandsFormatter()
    formatter.set_locs(ticks)

    assert [formatter(tick) for tick in ticks] == labels


ROWS = [
    ["Bogotá Plant", 156109.25, 7, None, True],
    ['Plant "North", line 2', 0.1, -3, "2026-11-03", False],
    ["=1+1", 1e-7, 12345678901, "multi\nline", None],
]
COLUMNS = ["site", "maintenance_cost_usd", "work_order_count", "due_date", "flag"]


def test_the_csv_export_holds_the_header_and_every_row_in_utf8() -> None:
    content = csv_bytes(COLUMNS, ROWS)

    lines = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    assert lines[0] == COLUMNS
    expected = [["" if value is None else str(value) for value in row] for row in ROWS]
    expected[2][0] = "'=1+1"  # a formula-looking text cell is made inert (see the CSV-injection test)
    assert lines[1:] == expected


def test_the_xlsx_export_holds_the_same_rows_with_numbers_as_numbers_and_no_formulas() -> None:
    content = xlsx_bytes(COLUMNS, ROWS)

    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == COLUMNS
    assert values[1:] == ROWS
    assert sheet["A4"].data_type == "s"  # "=1+1" is text, never a formula
    assert sheet.freeze_panes == "A2"
    assert sheet["B2"].number_format == "#,##0.00"
    assert sheet["C2"].number_format == "#,##0"


def test_an_empty_result_exports_its_header() -> None:
    assert csv_bytes(["site"], []) == b"site\r\n"
    sheet = load_workbook(io.BytesIO(xlsx_bytes(["site"], []))).active
    assert sheet is not None
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [["site"]]


def job_of(
    root: Path, tasks: list[tuple[str, ChartSpec | None]], columns: list[str], rows: list[list[Any]]
) -> RenderJob:
    made = []
    for kind, spec in tasks:
        artifact_id = new_artifact_id()
        made.append(RenderTask(artifact_id, kind, relative_path(artifact_id, kind), spec))  # type: ignore[arg-type]
    return RenderJob(message_id="m", root=root, columns=columns, rows=rows, tasks=tuple(made))


def test_a_job_writes_each_file_in_place_and_reports_its_size(tmp_path: Path) -> None:
    spec, columns, rows = spec_of("bar")
    job = job_of(tmp_path, [("chart", spec), ("csv", None), ("xlsx", None)], columns, rows)

    outcomes = render_job(job)

    assert [outcome.ok for outcome in outcomes] == [True, True, True]
    for task, outcome in zip(job.tasks, outcomes, strict=True):
        path = tmp_path / task.relative_path
        assert outcome.size_bytes == path.stat().st_size > 0
    assert not list(tmp_path.rglob("*.partial"))


def test_bad_data_fails_the_chart_with_a_reason_and_leaves_the_exports(tmp_path: Path) -> None:
    spec, columns, _rows = spec_of("bar")
    job = job_of(
        tmp_path, [("chart", spec), ("csv", None)], columns, [["low", "not a number"], ["high", None]]
    )

    chart, export = render_job(job)

    assert (chart.ok, chart.error) == (False, "The chart could not be drawn from this answer's data.")
    assert chart.detail is not None
    assert "no bar" in chart.detail
    assert export.ok


def test_a_full_disk_fails_the_artifact_naming_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(path: Path, content: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(render, "write_atomically", disk_full)
    job = job_of(tmp_path, [("csv", None)], ["a"], [[1]])

    (outcome,) = render_job(job)

    assert outcome.ok is False
    assert outcome.error == "The file could not be saved (No space left on device)."


def test_a_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cannot_rename(source: Any, target: Any) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(render.os, "replace", cannot_rename)

    with pytest.raises(OSError, match="Input/output error"):
        render.write_atomically(tmp_path / "ab" / "file.csv", b"data")
    assert list((tmp_path / "ab").iterdir()) == []


def test_csv_text_that_a_spreadsheet_would_run_as_a_formula_is_made_inert() -> None:
    rows = [['=HYPERLINK("http://evil")', -3.5], ["+1-555", 2], ["@SUM(A1)", 0], ["pump", -1]]

    lines = csv_bytes(["title", "delta"], rows).decode().splitlines()

    assert lines[1:] == ['"\'=HYPERLINK(""http://evil"")",-3.5', "'+1-555,2", "'@SUM(A1),0", "pump,-1"]
