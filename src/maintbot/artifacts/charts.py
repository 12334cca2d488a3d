"""Which chart a data answer calls for, decided from the result's shape, never from code a model wrote.

- a time column (month, year, date) with one or more measures → a line chart (one line per measure, or
  per category when there is one category beside the time);
- one category with one measure → bars (the renderer sorts them, keeps about 20, sums the rest as "other",
  and lays them horizontally when labels are long);
- one category with several measures, or two categories with a measure → grouped bars;
- a single value, a plain list (no GROUP BY) or anything else → no chart.

A chart an LLM suggests (`ChartSuggestion`) only names a kind and columns; it is used when it fits one of
these same shapes, and ignored otherwise. Either way the result is a `ChartSpec`: columns, human labels in the
user's language and units, everything the renderer needs and nothing it has to guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from maintbot.artifacts.labels import ColumnNames, no_value_label, value_word, with_unit
from maintbot.engine.base import Language

ChartKind = Literal["line", "bar", "grouped_bar"]
TimeGrain = Literal["year", "month", "day"]

_GROUP_BY = re.compile(r"\bgroup\s+by\b", re.IGNORECASE)
_YEAR = re.compile(r"^\d{4}$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Four-digit numbers are years only in a column named for them.
_YEAR_NAMES = ("year", "yr", "anio", "año")
# More measures than this on one chart is a table, not a picture.
_MAX_MEASURES = 6
_TITLE_CHARS = 70

_MONTHS: dict[Language, tuple[str, ...]] = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
}
_OTHER: dict[Language, str] = {"en": "Other", "es": "Otros"}
_FIRST_ROWS: dict[Language, str] = {"en": "First {:,} rows", "es": "Primeras {:,} filas"}
_TOP_OF: dict[Language, str] = {"en": "Top {shown} of {total:,}", "es": "Los {shown} primeros de {total:,}"}


class ChartWords(BaseModel):
    """The few words a chart writes itself, in the user's language."""

    model_config = ConfigDict(frozen=True)

    other: str
    no_value: str
    months: tuple[str, ...]
    top_of: str = Field(description="A note when only the largest are shown: '{shown}', '{total}'.")


class ChartSpec(BaseModel):
    """Everything the renderer needs to draw one chart from an answer's columns and rows."""

    model_config = ConfigDict(frozen=True)

    kind: ChartKind
    x: tuple[str, ...] = Field(description="The time column, or the category column(s) shown as one label.")
    series: tuple[str, ...] = Field(default=(), description="Category column(s) whose values become series.")
    y: tuple[str, ...] = Field(description="The measure columns.")
    time_grain: TimeGrain | None = None
    title: str
    note: str | None = None
    x_label: str
    y_label: str
    series_label: str | None = None
    measure_names: dict[str, str]
    units: dict[str, str]
    additive: dict[str, bool]
    value_labels: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Per category column, raw value → label in the user's language."
    )
    words: ChartWords


class ChartSuggestion(BaseModel):
    """A chart an LLM proposed for a result: a kind and column names, nothing else."""

    kind: ChartKind
    x: str
    y: list[str] = Field(min_length=1)
    series: str | None = None


@dataclass(frozen=True, slots=True)
class ResultShape:
    """What a result's columns hold: a time column, category groups (tag + name is one), measures."""

    time: str | None
    time_grain: TimeGrain | None
    categories: tuple[tuple[str, ...], ...]
    measures: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChartLayout:
    """Which columns go where; the allowed shapes above are the only ones built."""

    kind: ChartKind
    x: tuple[str, ...]
    y: tuple[str, ...]
    series: tuple[str, ...] = ()


def chart_spec(
    *,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    sql: str | None,
    question: str,
    language: Language,
    names: ColumnNames,
    truncated: bool = False,
    suggestion: ChartSuggestion | None = None,
) -> ChartSpec | None:
    """The chart for a data answer, or None when its shape calls for none (a single value, a list)."""
    shape = read_shape(columns=columns, rows=rows, sql=sql)
    if shape is None:
        return None
    layout = (check_suggestion(suggestion, shape) if suggestion is not None else None) or layout_for(
        shape, names=names, language=language
    )
    if layout is None:
        return None
    return _describe(
        layout,
        shape=shape,
        columns=columns,
        rows=rows,
        question=question,
        language=language,
        names=names,
        truncated=truncated,
    )


def read_shape(
    *, columns: Sequence[str], rows: Sequence[Sequence[Any]], sql: str | None
) -> ResultShape | None:
    """Classify an aggregated result's columns; None for results no chart can show."""
    if len(rows) < 2 or sql is None or not _GROUP_BY.search(sql):
        return None
    time: str | None = None
    grain: TimeGrain | None = None
    measures: list[str] = []
    categorical: list[int] = []
    for index, column in enumerate(columns):
        values = [row[index] for row in rows if row[index] is not None]
        column_grain = _time_grain(column, values)
        if column_grain is not None and time is None:
            time, grain = column, column_grain
        elif values and all(_is_number(value) for value in values):
            measures.append(column)
        else:
            categorical.append(index)
    if not measures:
        return None
    categories = _category_groups(columns, rows, categorical)
    return ResultShape(time=time, time_grain=grain, categories=categories, measures=tuple(measures))


def layout_for(shape: ResultShape, *, names: ColumnNames, language: Language) -> ChartLayout | None:
    """The chart a shape calls for, if any."""
    measures = _same_unit(shape.measures, names=names, language=language)
    if shape.time is not None:
        if not shape.categories:
            return ChartLayout("line", (shape.time,), measures)
        if len(shape.categories) == 1:
            return ChartLayout("line", (shape.time,), measures[:1], series=shape.categories[0])
        return None
    if len(shape.categories) == 1:
        kind: ChartKind = "bar" if len(measures) == 1 else "grouped_bar"
        return ChartLayout(kind, shape.categories[0], measures)
    if len(shape.categories) == 2:
        return ChartLayout("grouped_bar", shape.categories[0], measures[:1], series=shape.categories[1])
    return None


def check_suggestion(suggestion: ChartSuggestion, shape: ResultShape) -> ChartLayout | None:
    """The suggested chart when it is one of the allowed shapes for this result, else None."""
    y = tuple(dict.fromkeys(suggestion.y))
    if not set(y) <= set(shape.measures) or len(y) > _MAX_MEASURES:
        return None
    x = _group_named(suggestion.x, shape)
    series = _group_named(suggestion.series, shape) if suggestion.series is not None else ()
    if suggestion.series is not None and not series:
        return None
    categories = set(shape.categories)
    if suggestion.kind == "line":
        fits = x == (shape.time,) and categories <= {series} and (not series or len(y) == 1)
    elif shape.time is not None or x not in categories:
        fits = False
    elif suggestion.kind == "bar":
        fits = categories == {x} and not series and len(y) == 1
    else:
        fits = (categories == {x} and not series and len(y) >= 2) or (
            bool(series) and series != x and categories == {x, series} and len(y) == 1
        )
    return ChartLayout(suggestion.kind, x, y, series) if fits else None


def shortened(question: str, limit: int = _TITLE_CHARS) -> str:
    """The question as a title: one line, cut at a word boundary, first letter upper case."""
    text = " ".join(question.split())
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"
    return text[:1].upper() + text[1:]


def _describe(
    layout: ChartLayout,
    *,
    shape: ResultShape,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    question: str,
    language: Language,
    names: ColumnNames,
    truncated: bool,
) -> ChartSpec:
    measures = {column: names.measure(column, language) for column in layout.y}
    first = measures[layout.y[0]]
    if len(layout.y) == 1:
        y_label = with_unit(first.name, first.unit)
    else:
        y_label = with_unit(value_word(language), first.unit)
    categories = [column for column in (*layout.x, *layout.series) if column != shape.time]
    return ChartSpec(
        kind=layout.kind,
        x=layout.x,
        series=layout.series,
        y=layout.y,
        time_grain=shape.time_grain if layout.kind == "line" else None,
        title=shortened(question),
        note=_FIRST_ROWS[language].format(len(rows)) if truncated else None,
        x_label=names.dimension(layout.x, language),
        y_label=y_label,
        series_label=names.dimension(layout.series, language) if layout.series else None,
        measure_names={column: name.name for column, name in measures.items()},
        units={column: name.unit for column, name in measures.items()},
        additive={column: name.additive for column, name in measures.items()},
        value_labels=_value_labels(categories, columns, rows, names, language),
        words=ChartWords(
            other=_OTHER[language],
            no_value=no_value_label(language),
            months=_MONTHS[language],
            top_of=_TOP_OF[language],
        ),
    )


def _value_labels(
    categories: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    names: ColumnNames,
    language: Language,
) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for column in categories:
        index = list(columns).index(column)
        found = {}
        for value in {row[index] for row in rows}:
            label = names.value(column, value, language)
            if label is not None:
                found[str(value)] = label
        if found:
            labels[column] = found
    return labels


def _time_grain(column: str, values: Sequence[Any]) -> TimeGrain | None:
    if not values:
        return None
    if all(isinstance(value, str) and _MONTH.match(value) for value in values):
        return "month"
    if all(isinstance(value, str) and _DAY.match(value) and _is_date(value) for value in values):
        return "day"
    named = column.lower() in _YEAR_NAMES or column.lower().endswith("_year")
    if named and all(_is_year(value) for value in values):
        return "year"
    return None


def _is_year(value: Any) -> bool:
    if isinstance(value, str) and _YEAR.match(value):
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and 1900 <= value <= 2200


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _category_groups(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], indexes: Sequence[int]
) -> tuple[tuple[str, ...], ...]:
    """Category columns, a column that only names its left neighbour (tag → name) joined to it."""
    groups: list[list[int]] = []
    for index in indexes:
        if groups and groups[-1][-1] == index - 1 and _determines(rows, groups[-1][0], index):
            groups[-1].append(index)
        else:
            groups.append([index])
    return tuple(tuple(columns[index] for index in group) for group in groups)


def _determines(rows: Sequence[Sequence[Any]], left: int, right: int) -> bool:
    seen: dict[Any, Any] = {}
    return all(seen.setdefault(row[left], row[right]) == row[right] for row in rows)


def _same_unit(measures: Sequence[str], *, names: ColumnNames, language: Language) -> tuple[str, ...]:
    """The measures that can share one axis: those with the first one's unit."""
    unit = names.measure(measures[0], language).unit
    same = [column for column in measures if names.measure(column, language).unit == unit]
    return tuple(same[:_MAX_MEASURES])


def _group_named(column: str | None, shape: ResultShape) -> tuple[str, ...]:
    """The time column or category group a suggestion names by any of its columns; () when none."""
    if column is None:
        return ()
    if column == shape.time:
        return (column,)
    return next((group for group in shape.categories if column in group), ())
