"""Human names for result columns and their values, in English or Spanish, read from the domain description.

Result columns are named by the compiler (`maintenance_cost_usd`, `failure_count`, `equipment_type`, `month`);
a chart's axes say "Maintenance cost (USD)", "Number of failures", "Equipment type", "Month" instead, and its
categories "CNC machine" rather than `cnc_machine`. Columns the domain does not name (an LLM's own aliases)
get a readable form of their name and a unit guessed from its suffix.
"""

from __future__ import annotations

from dataclasses import dataclass

from maintbot.domain.model import Attribute, Domain, Label
from maintbot.engine.base import Language
from maintbot.engine.local.compiler import count_alias, measure_alias

# Aggregates whose values of different rows may be added up ("other" = the sum of the rest).
_ADDITIVE_AGGS = frozenset({"count", "sum"})
_AGGS = ("count", "sum", "avg", "min", "max")

_TIME_NAMES: dict[str, Label] = {
    "year": Label("year", "año"),
    "month": Label("month", "mes"),
    "week": Label("week", "semana"),
    "day": Label("date", "fecha"),
    "date": Label("date", "fecha"),
}
_NUMBER_OF: dict[Language, str] = {"en": "number of {}", "es": "número de {}"}
_OTHER: dict[Language, str] = {"en": "Other", "es": "Otros"}
_NO_VALUE: dict[Language, str] = {"en": "(none)", "es": "(sin valor)"}
_VALUE: dict[Language, str] = {"en": "value", "es": "valor"}

# Units of columns the domain does not describe, from how their names end.
_UNIT_SUFFIXES = (
    ("_usd", "USD"),
    ("_hours", "h"),
    ("_h", "h"),
    ("_mm_s", "mm/s"),
    ("_c", "°C"),
    ("_bar", "bar"),
    ("_pct", "%"),
    ("_percent", "%"),
)
_ADDITIVE_HINTS = ("count", "total", "sum", "number", "cost", "hours", "quantity", "qty", "units", "spend")
_NOT_ADDITIVE_HINTS = ("avg", "average", "mean", "min", "max", "rate", "ratio", "pct", "percent", "mttr")


@dataclass(frozen=True, slots=True)
class MeasureName:
    """How a measure column is shown: its name, its unit, and whether rows may be added up."""

    name: str
    unit: str
    additive: bool


class ColumnNames:
    """Names for result columns and values, built once from a domain description."""

    def __init__(self, domain: Domain) -> None:
        self._measures: dict[str, tuple[Label, str, bool]] = {}
        for measure in domain.measures:
            for agg in _AGGS:
                entry = (measure.label, measure.unit, agg in _ADDITIVE_AGGS)
                self._measures.setdefault(measure_alias(measure, agg), entry)
        self._counts = {count_alias(subject.key): subject.label for subject in domain.subjects}
        self._attributes: dict[str, Attribute] = {attribute.key: attribute for attribute in domain.attributes}
        self._groups: dict[tuple[str, ...], Label] = {}
        for subject in domain.subjects:
            aliases = tuple(alias for _sql, alias in subject.group_columns)
            if aliases:
                self._groups.setdefault(aliases, subject.label)

    def measure(self, column: str, language: Language) -> MeasureName:
        """Name, unit and additivity of a measure column (`maintenance_cost_usd` → Maintenance cost, USD)."""
        if column in self._measures:
            label, unit, additive = self._measures[column]
            return MeasureName(capitalized(label.text(language)), unit, additive)
        if column in self._counts:
            noun = self._counts[column].text(language, plural=True)
            return MeasureName(capitalized(_NUMBER_OF[language].format(noun)), "", True)
        lowered = column.lower()
        unit = next((unit for suffix, unit in _UNIT_SUFFIXES if lowered.endswith(suffix)), "")
        additive = any(hint in lowered for hint in _ADDITIVE_HINTS) and not any(
            hint in lowered for hint in _NOT_ADDITIVE_HINTS
        )
        return MeasureName(readable(column), unit, additive)

    def dimension(self, columns: tuple[str, ...], language: Language) -> str:
        """The axis name of a time column or of category columns shown as one label (tag + name)."""
        if columns in self._groups:
            return capitalized(self._groups[columns].text(language))
        names = []
        for column in columns:
            if column in _TIME_NAMES:
                names.append(capitalized(_TIME_NAMES[column].text(language)))
            elif column in self._attributes:
                names.append(capitalized(self._attributes[column].label.text(language)))
            elif (column,) in self._groups:
                names.append(capitalized(self._groups[(column,)].text(language)))
            else:
                names.append(readable(column))
        return " · ".join(names)

    def value(self, column: str, value: object, language: Language) -> str | None:
        """The label of an enumerated value (`cnc_machine` → "CNC machine"); None when it is the value."""
        attribute = self._attributes.get(column)
        if attribute is None or not isinstance(value, str):
            return None
        known = attribute.value(value)
        if known is None:
            return None
        label = known.label.text(language)
        return label if label != value else None


def other_label(language: Language, count: int) -> str:
    """The bar or series that sums the rest: "Other (29)"."""
    return f"{_OTHER[language]} ({count:,})"


def no_value_label(language: Language) -> str:
    return _NO_VALUE[language]


def value_word(language: Language) -> str:
    return capitalized(_VALUE[language])


def with_unit(name: str, unit: str) -> str:
    """ "Downtime (h)"; a name alone when there is no unit."""
    return f"{name} ({unit})" if unit else name


def capitalized(text: str) -> str:
    """First letter upper case, the rest as written ("MTTR" and "CNC machine" stay as they are)."""
    return text[:1].upper() + text[1:]


def readable(column: str) -> str:
    """`avg_repair_time` → "Avg repair time"."""
    return capitalized(column.replace("_", " ").strip()) or column
