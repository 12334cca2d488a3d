"""Making the files of one answer's artifacts: run in the render worker processes, never on the event loop.

`render_job` is what the pool calls. It is a plain function of plain data (the answer's table and what to
make of it) that writes each file next to its final name and renames it into place, so a reader never sees
half a file. Each artifact succeeds or fails on its own; a failure carries a sentence for the user and the
technical detail for the log, never the other way round.

This module is preloaded by the forkserver, so that every worker starts with matplotlib and openpyxl imported;
it must not import the app, the metrics or the database.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from maintbot.artifacts.charts import ChartSpec, ChartWords
from maintbot.artifacts.drawing import draw_chart
from maintbot.artifacts.store import PARTIAL_SUFFIX, ArtifactKind, ArtifactStore
from maintbot.artifacts.tasks import RenderJob, RenderOutcome, RenderTask

_CANNOT_MAKE: dict[ArtifactKind, str] = {
    "chart": "The chart could not be drawn from this answer's data.",
    "csv": "The CSV file could not be made from this answer's data.",
    "xlsx": "The spreadsheet could not be made from this answer's data.",
}
_XLSX_SHEET = "MaintBot"
_XLSX_MAX_WIDTH = 60
# Where SCHED_IDLE is missing, the lowest ordinary priority.
_WORKER_NICENESS = 19


def render_job(job: RenderJob) -> list[RenderOutcome]:
    """Make every file of a job; one outcome per task, in order."""
    store = ArtifactStore(job.root)
    return [_render_task(task, job, store) for task in job.tasks]


def _render_task(task: RenderTask, job: RenderJob, store: ArtifactStore) -> RenderOutcome:
    started = time.perf_counter()
    try:
        content = make_content(task, columns=job.columns, rows=job.rows)
    except Exception as exc:
        return RenderOutcome(
            task.artifact_id,
            task.kind,
            ok=False,
            seconds=time.perf_counter() - started,
            error=_CANNOT_MAKE[task.kind],
            detail=repr(exc),
        )
    try:
        size = write_atomically(store.target(task.relative_path), content)
    except OSError as exc:
        reason = exc.strerror or "storage error"
        return RenderOutcome(
            task.artifact_id,
            task.kind,
            ok=False,
            seconds=time.perf_counter() - started,
            error=f"The file could not be saved ({reason}).",
            detail=repr(exc),
        )
    return RenderOutcome(
        task.artifact_id, task.kind, ok=True, seconds=time.perf_counter() - started, size_bytes=size
    )


def make_content(task: RenderTask, *, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """The bytes of one artifact."""
    if task.kind == "chart":
        if task.spec is None:
            raise ValueError("a chart needs its spec")
        return draw_chart(task.spec, columns, rows)
    if task.kind == "csv":
        return csv_bytes(columns, rows)
    return xlsx_bytes(columns, rows)


def write_atomically(path: Path, content: bytes) -> int:
    """Write `content` to `path` through a partial file renamed into place; returns the size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    try:
        with partial.open("wb") as file:
            file.write(content)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    return len(content)


def csv_bytes(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """The table as CSV: UTF-8, a header line, one line per row, empty fields for nulls.

    Text that a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a carriage return:
    a work order title typed by anyone, say) gets a leading apostrophe, as OWASP advises against CSV
    injection; numbers are written as they are.
    """
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([_inert(column) for column in columns])
    writer.writerows([_inert(value) for value in row] for row in rows)
    return text.getvalue().encode("utf-8")


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    """A text cell that no spreadsheet will evaluate."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def xlsx_bytes(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """The table as an Excel workbook: a bold, frozen header row, numbers as numbers with separators."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_XLSX_SHEET)
    sheet.freeze_panes = "A2"
    numeric = [
        all(_is_number(row[i]) for row in rows if row[i] is not None)
        and any(row[i] is not None for row in rows)
        for i in range(len(columns))
    ]
    for i, column in enumerate(columns):
        width = max([len(column), *(len(str(row[i])) for row in rows[:200] if row[i] is not None)]) + 2
        sheet.column_dimensions[_column_letter(i)].width = min(width, _XLSX_MAX_WIDTH)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=_text(column))
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    formats = [_number_format(rows, i) if numeric[i] else None for i in range(len(columns))]
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value, formats[i]) for i, value in enumerate(row)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def lower_priority() -> None:
    """Run only on CPU time the server leaves: SCHED_IDLE (Linux) lets any waking server thread preempt the
    worker at once, where a mere nice value still costs the server milliseconds per wake-up on a busy core."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(_WORKER_NICENESS)


def _xlsx_cell(sheet: Any, value: Any, number_format: str | None) -> Any:
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=_text(value))
        # A text starting with "=" is data, never a formula Excel would run.
        cell.data_type = "s"
        return cell
    if number_format is not None and _is_number(value):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = number_format
        return cell
    return value


def _text(value: str) -> str:
    # Control characters cannot be stored in a workbook.
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def _number_format(rows: Sequence[Sequence[Any]], index: int) -> str:
    whole = all(float(row[index]).is_integer() for row in rows if row[index] is not None)
    return "#,##0" if whole else "#,##0.00"


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def prepare_worker() -> None:
    """Run once in each new worker: draw once so that fonts are loaded before the first real chart (at the
    usual priority, so that starting never waits for an idle CPU), then yield the CPU to the server."""
    _warm_up()
    lower_priority()


def _warm_up() -> None:
    warm_up = ChartSpec(
        kind="bar",
        x=("name",),
        y=("value",),
        title="warm-up",
        x_label="name",
        y_label="value",
        measure_names={"value": "value"},
        units={"value": ""},
        additive={"value": True},
        words=ChartWords(other="Other", no_value="-", months=("Jan",) * 12, top_of="{shown}/{total}"),
    )
    draw_chart(warm_up, ["name", "value"], [["a", 1], ["b", 2]])
