"""Drawing a `ChartSpec` as a PNG with matplotlib: Agg, the object-oriented API, no pyplot, no global state.

Runs in the render worker processes. Every chart is 1200 × 675 pixels (8 × 4.5 in at 150 dpi) with a
constrained layout, so that long labels shrink the plot instead of being cut off.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MaxNLocator

from maintbot.artifacts.charts import ChartSpec, ChartWords

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.5, 150
PNG_SIZE = (round(WIDTH_IN * DPI), round(HEIGHT_IN * DPI))
MAX_BARS = 20
MAX_LINES = 8
MAX_GROUPS = 12
MAX_GROUP_SERIES = 6
# Labels longer than this lay bars horizontally; labels are cut at _LABEL_CHARS.
_LONG_LABEL = 12
_LABEL_CHARS = 38
_MARKERS_UP_TO = 40
# Several lines with markers on every point blur together.
_MARKERS_UP_TO_WITH_SERIES = 18
_OTHER_COLOR = "#9e9e9e"
_TEXT = "#222222"
_MUTED = "#666666"
_GRID = "#dddddd"

Row = Sequence[Any]
Axis = Literal["x", "y"]


@dataclass(frozen=True, slots=True)
class Selection:
    """Which labels a chart shows, largest first: at most a limit, the rest either summed into one
    "Other (n)" label (when values add up) or left out with a note saying so."""

    labels: list[str]
    shown_as: dict[str, str]
    note: str | None

    def fold(self, values: dict[str, float]) -> dict[str, float]:
        """Values per shown label: kept ones as they are, the rest added into "Other"."""
        folded: dict[str, float] = {}
        for label, value in values.items():
            shown = self.shown_as.get(label)
            if shown is not None:
                folded[shown] = folded.get(shown, 0.0) + value
        return folded


def select(totals: dict[str, float], limit: int, *, additive: bool, words: ChartWords) -> Selection:
    """The labels to show, ranked by `totals` (largest first)."""
    ordered = sorted(totals, key=lambda label: -totals[label])
    if len(ordered) <= limit:
        return Selection(ordered, {label: label for label in ordered}, None)
    if not additive:
        kept = ordered[:limit]
        note = words.top_of.format(shown=limit, total=len(ordered))
        return Selection(kept, {label: label for label in kept}, note)
    kept, rest = ordered[: limit - 1], ordered[limit - 1 :]
    other = f"{words.other} ({len(rest):,})"
    shown_as = {label: label for label in kept} | dict.fromkeys(rest, other)
    return Selection([*kept, other], shown_as, None)


def draw_chart(spec: ChartSpec, columns: Sequence[str], rows: Sequence[Row]) -> bytes:
    """The chart as PNG bytes; raises ValueError when the rows hold nothing to draw."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained", facecolor="white")
    axes = figure.add_subplot()
    index = {column: position for position, column in enumerate(columns)}
    drawers: dict[str, Callable[[Figure, Axes, ChartSpec, dict[str, int], Sequence[Row]], str | None]] = {
        "line": _line_chart,
        "bar": _bar_chart,
        "grouped_bar": _grouped_bar_chart,
    }
    note = drawers[spec.kind](figure, axes, spec, index, rows)
    _decorate(figure, axes, spec, note=" · ".join(part for part in (spec.note, note) if part))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


# -- line charts ----------------------------------------------------------------------------------------


def _line_chart(
    figure: Figure, axes: Axes, spec: ChartSpec, index: dict[str, int], rows: Sequence[Row]
) -> str | None:
    time = index[spec.x[0]]
    grain = spec.time_grain or "month"
    lines: dict[str, dict[int, float]] = {}
    for row in rows:
        position = _time_position(row[time], grain)
        if position is None:
            continue
        if spec.series:
            _add(
                lines, _label(spec, spec.series, index, row), position, row[index[spec.y[0]]], spec, spec.y[0]
            )
        else:
            for column in spec.y:
                _add(lines, spec.measure_names[column], position, row[index[column]], spec, column)
    if not lines:
        raise ValueError("no point to draw")
    additive = all(spec.additive[column] for column in spec.y)
    note = None
    if spec.series:
        totals = {name: sum(abs(v) for v in points.values()) for name, points in lines.items()}
        chosen = select(totals, MAX_LINES, additive=additive, words=spec.words)
        lines = _fold_series(lines, chosen)
        note = chosen.note
    first = min(min(points) for points in lines.values())
    last = max(max(points) for points in lines.values())
    positions = list(range(first, last + 1))
    markers_up_to = _MARKERS_UP_TO if len(lines) == 1 else _MARKERS_UP_TO_WITH_SERIES
    width = 2.0 if len(lines) == 1 else 1.6
    for name, points in lines.items():
        values = [points.get(position, 0.0 if additive else math.nan) for position in positions]
        marker = "o" if len(positions) <= markers_up_to else None
        axes.plot(positions, values, label=name, linewidth=width, marker=marker, markersize=4)
    ticks, labels = _time_ticks(positions, grain, spec.words)
    axes.set_xticks(ticks, labels)
    axes.set_xlim(first - 0.5, last + 0.5)
    values = [v for points in lines.values() for v in points.values()]
    _value_axis(axes, values, axis="y")
    if additive and min(values) >= 0:
        axes.set_ylim(bottom=0)
    axes.grid(axis="y", color=_GRID)
    if len(lines) > 1:
        title = spec.series_label if spec.series else None
        _legend(figure, axes, title)
    return note


def _add(
    lines: dict[str, dict[int, float]], name: str, position: int, value: Any, spec: ChartSpec, column: str
) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return
    points = lines.setdefault(name, {})
    points[position] = points.get(position, 0.0) + value if spec.additive[column] else float(value)


def _fold_series(lines: dict[str, dict[int, float]], chosen: Selection) -> dict[str, dict[int, float]]:
    by_position: dict[int, dict[str, float]] = {}
    for name, points in lines.items():
        for position, value in points.items():
            by_position.setdefault(position, {})[name] = value
    folded: dict[str, dict[int, float]] = {label: {} for label in chosen.labels}
    for position, values in by_position.items():
        for label, value in chosen.fold(values).items():
            folded[label][position] = value
    return folded


def _time_position(value: Any, grain: str) -> int | None:
    """A time value as an integer on its grain's scale (months since year 0, years, days)."""
    try:
        if grain == "year":
            return int(value)
        if grain == "month":
            year, month = str(value).split("-")
            return int(year) * 12 + int(month) - 1
        return date.fromisoformat(str(value)).toordinal()
    except (TypeError, ValueError):
        return None


def _time_ticks(positions: list[int], grain: str, words: ChartWords) -> tuple[list[int], list[str]]:
    """About a dozen readable ticks: "Jan\\n2026" where the year changes or starts, "Feb" otherwise."""
    count = len(positions)
    if grain == "year":
        step = max(1, math.ceil(count / 12))
        ticks = [p for p in positions if (p - positions[0]) % step == 0]
        return ticks, [str(p) for p in ticks]
    if grain == "month":
        step = next(s for s in (1, 2, 3, 4, 6, 12, 24, 60, 120) if count / s <= 13 or s == 120)
        ticks = [p for p in positions if p % step == 0] or positions[:1]
        labels = []
        for number, position in enumerate(ticks):
            year, month = divmod(position, 12)
            show_year = number == 0 or month < step
            labels.append(f"{words.months[month]}\n{year}" if show_year else words.months[month])
        return ticks, labels
    step = max(1, math.ceil(count / 10))
    ticks = positions[::step]
    days = [date.fromordinal(p) for p in ticks]
    labels = [
        f"{d.day} {words.months[d.month - 1]}"
        + (f"\n{d.year}" if n == 0 or d.year != days[n - 1].year else "")
        for n, d in enumerate(days)
    ]
    return ticks, labels


# -- bar charts -----------------------------------------------------------------------------------------


def _bar_chart(
    figure: Figure, axes: Axes, spec: ChartSpec, index: dict[str, int], rows: Sequence[Row]
) -> str | None:
    column = spec.y[0]
    additive = spec.additive[column]
    totals: dict[str, float] = {}
    for row in rows:
        value = row[index[column]]
        if _drawable(value):
            label = _label(spec, spec.x, index, row)
            totals[label] = totals.get(label, 0.0) + value if additive else float(value)
    if not totals:
        raise ValueError("no bar to draw")
    chosen = select(totals, MAX_BARS, additive=additive, words=spec.words)
    shown = chosen.fold(totals)
    values = [shown[label] for label in chosen.labels]
    horizontal = _long_labels(chosen.labels) or len(values) > 10
    colors = [_OTHER_COLOR if label not in totals else "C0" for label in chosen.labels]
    if horizontal:
        positions = list(range(len(values)))[::-1]  # largest at the top
        bars = axes.barh(positions, values, color=colors, height=0.7)
        axes.set_yticks(positions, chosen.labels)
        axes.set_ylim(-0.6, len(values) - 0.4)
    else:
        positions = list(range(len(values)))
        bars = axes.bar(positions, values, color=colors, width=0.7)
        axes.set_xticks(positions, chosen.labels)
    value_axis: Axis = "x" if horizontal else "y"
    _value_axis(axes, values, axis=value_axis)
    axes.grid(axis=value_axis, color=_GRID)
    unit = spec.units[column]
    axes.bar_label(bars, labels=[format_value(v, unit) for v in values], padding=3, fontsize=8, color=_TEXT)
    _headroom(axes, values, axis=value_axis)
    _axis_names(axes, spec, horizontal=horizontal)
    return chosen.note


def _grouped_bar_chart(
    figure: Figure, axes: Axes, spec: ChartSpec, index: dict[str, int], rows: Sequence[Row]
) -> str | None:
    additive = all(spec.additive[column] for column in spec.y)
    table: dict[str, dict[str, float]] = {}  # series name → group label → value
    for row in rows:
        group = _label(spec, spec.x, index, row)
        if spec.series:
            pairs = [(_label(spec, spec.series, index, row), row[index[spec.y[0]]])]
        else:
            pairs = [(spec.measure_names[column], row[index[column]]) for column in spec.y]
        for series, value in pairs:
            if _drawable(value):
                cells = table.setdefault(series, {})
                cells[group] = cells.get(group, 0.0) + value if additive else float(value)
    if not table:
        raise ValueError("no bar to draw")
    group_totals: dict[str, float] = {}
    for cells in table.values():
        for group, value in cells.items():
            group_totals[group] = group_totals.get(group, 0.0) + abs(value)
    groups = select(group_totals, MAX_GROUPS, additive=additive, words=spec.words)
    series_totals = {series: sum(abs(v) for v in cells.values()) for series, cells in table.items()}
    series_limit = MAX_GROUP_SERIES if spec.series else len(series_totals)
    kept_series = select(series_totals, series_limit, additive=additive, words=spec.words)
    if not spec.series:  # measures keep their order
        kept_series = Selection([spec.measure_names[c] for c in spec.y], kept_series.shown_as, None)
    shown: dict[str, dict[str, float]] = {label: {} for label in kept_series.labels}
    for series, cells in table.items():
        target = kept_series.shown_as.get(series)
        if target is not None:
            for group, value in groups.fold(cells).items():
                shown[target][group] = shown[target].get(group, 0.0) + value
    horizontal = _long_labels(groups.labels)
    count, width = len(groups.labels), 0.8 / len(kept_series.labels)
    values: list[float] = []
    for number, series in enumerate(kept_series.labels):
        offset = (number - (len(kept_series.labels) - 1) / 2) * width
        heights = [shown[series].get(group, 0.0) for group in groups.labels]
        values += heights
        if horizontal:
            axes.barh([count - 1 - i - offset for i in range(count)], heights, height=width, label=series)
        else:
            axes.bar([i + offset for i in range(count)], heights, width=width, label=series)
    if horizontal:
        axes.set_yticks([count - 1 - i for i in range(count)], groups.labels)
    else:
        axes.set_xticks(list(range(count)), groups.labels)
    value_axis: Axis = "x" if horizontal else "y"
    _value_axis(axes, values, axis=value_axis)
    axes.grid(axis=value_axis, color=_GRID)
    _axis_names(axes, spec, horizontal=horizontal)
    _legend(figure, axes, spec.series_label if spec.series else None)
    return " · ".join(note for note in (groups.note, kept_series.note) if note) or None


# -- shared -----------------------------------------------------------------------------------------------


def _label(spec: ChartSpec, columns: tuple[str, ...], index: dict[str, int], row: Row) -> str:
    parts = []
    for column in columns:
        value = row[index[column]]
        if value is None:
            parts.append(spec.words.no_value)
        else:
            parts.append(spec.value_labels.get(column, {}).get(str(value), str(value)))
    text = " · ".join(parts)
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1].rstrip() + "…"


def _drawable(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _long_labels(labels: list[str]) -> bool:
    return max((len(label) for label in labels), default=0) > _LONG_LABEL


class ThousandsFormatter(Formatter):
    """Tick labels with thousands separators and as many decimals as the tick step needs (0.25 → 2)."""

    def __init__(self) -> None:
        self.digits = 0

    def set_locs(self, locs: list[float]) -> None:
        super().set_locs(locs)
        steps = [abs(b - a) for a, b in itertools.pairwise(locs) if b != a]
        step = min(steps) if steps else 1.0
        self.digits = next((d for d in range(5) if abs(round(step, d) - step) < step * 1e-6), 4)

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:,.{self.digits}f}"


def _value_axis(axes: Axes, values: list[float], *, axis: Axis) -> None:
    """Thousands separators on the value axis, whole numbers when every value is one."""
    target = axes.xaxis if axis == "x" else axes.yaxis
    target.set_major_formatter(ThousandsFormatter())
    if all(v.is_integer() for v in values if math.isfinite(v)):
        target.set_major_locator(MaxNLocator(integer=True))


def _headroom(axes: Axes, values: list[float], *, axis: Axis) -> None:
    """Room beyond the longest bar for its value label."""
    biggest = max(values, default=0.0)
    if biggest > 0:
        if axis == "x":
            axes.set_xlim(0, biggest * 1.16)
        else:
            axes.set_ylim(0, biggest * 1.12)


def _axis_names(axes: Axes, spec: ChartSpec, *, horizontal: bool) -> None:
    """Bars laid horizontally carry the categories on the y axis and the values on the x axis."""
    axes.set_xlabel(spec.y_label if horizontal else spec.x_label)
    axes.set_ylabel(spec.x_label if horizontal else spec.y_label)


def _legend(figure: Figure, axes: Axes, title: str | None) -> None:
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(
        handles, labels, title=title, loc="outside right upper", frameon=False, fontsize=8, title_fontsize=9
    )


def _decorate(figure: Figure, axes: Axes, spec: ChartSpec, *, note: str) -> None:
    # The title starts at the figure's left edge, not the plot's, which long category labels push right.
    figure.suptitle(spec.title, x=0.01, ha="left", fontsize=12, fontweight="bold", color=_TEXT)
    if note:
        axes.set_title(note, loc="right", fontsize=8, color=_MUTED)
    if spec.kind == "line":
        _axis_names(axes, spec, horizontal=False)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_axisbelow(True)
    axes.tick_params(labelsize=8, colors=_TEXT)
    axes.xaxis.label.set_fontsize(9)
    axes.yaxis.label.set_fontsize(9)


def format_value(value: float, unit: str) -> str:
    """A value with thousands separators and its unit: "USD 258,594", "2,931 h", "2.08 mm/s"."""
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 or float(value).is_integer() else 1 if magnitude >= 10 else 2
    # Half up, as people round (98.25 → 98.3), not half to even as floats format.
    rounded = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{digits}f}"
    if unit == "USD":
        return f"USD {text}"
    if unit == "%":
        return f"{text}%"
    return f"{text} {unit}" if unit else text
